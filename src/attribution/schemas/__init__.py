"""JSON Schemas (draft 2020-12) for the documents attribution reads and writes.

Four contracts ship inside the package, next to this module:

* ``audit``: the JSON report, ``attribution audit --format json`` and
  :func:`attribution.reports.report_to_json` (``"schema": "attribution.audit/1"``);
* ``card``: a price card (TOML, as :mod:`tomllib` parses it);
* ``policy``: an allocation policy (TOML);
* ``owner-map``: an owner map (TOML).

They describe shape (keys, types, fixed-point money strings), not every
rule: the loaders also check what a schema cannot (a model listed twice,
windows that overlap, weights that sum to zero). Validate with any JSON
Schema validator, e.g. the ``jsonschema`` package::

    jsonschema.validate(doc, attribution.schemas.load("audit"))

See ``docs/json-report.md``.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["NAMES", "load", "path"]

#: The bundled schemas, by name.
NAMES = ("audit", "card", "owner-map", "policy")


def path(name: str) -> Traversable:
    """Where the bundled schema ``name`` is (a file inside the installed package).

    >>> import attribution.schemas
    >>> attribution.schemas.path("audit").name
    'audit.schema.json'
    >>> attribution.schemas.path("audit-v0")
    Traceback (most recent call last):
    ...
    ValueError: unknown schema 'audit-v0'; the bundled schemas are audit, card, owner-map, policy
    """
    if name not in NAMES:
        raise ValueError(f"unknown schema {name!r}; the bundled schemas are {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.schema.json")


def load(name: str) -> dict[str, Any]:
    """The bundled schema ``name`` as a dict (a fresh copy on every call).

    >>> import attribution.schemas
    >>> schema = attribution.schemas.load("audit")
    >>> schema["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    >>> schema["properties"]["schema"]
    {'const': 'attribution.audit/1'}
    """
    doc: dict[str, Any] = json.loads(path(name).read_text(encoding="utf-8"))
    return doc
