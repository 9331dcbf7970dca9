"""pytest fixtures for unit-testing your pricing: your own cards, layered over the bundled ones.

Installed with the package (entry point ``pytest11``), so the fixtures are
there in any test suite; or list ``"attribution.integrations.pytest_plugin"``
in ``pytest_plugins``. Where your cards come from, most specific first:

* ``@pytest.mark.attribution_cards("cards/acme.toml", ...)`` on a test;
* ``pytest --attribution-cards PATH`` (repeatable; a file or a directory of ``*.toml``);
* ``attribution_cards = cards/`` in the ``[pytest]`` ini section (paths relative to the ini file).

Fixtures:

``attribution_registry``
    A :class:`~attribution.Registry`: the bundled cards plus yours (loaded
    and validated once per set of paths).
``attribution_card``
    A factory: ``attribution_card(toml_text)`` writes a card to a temporary
    file and returns the registry with it layered over ``attribution_registry``'s
    layers (for a negotiated discount, an alias or a private model written in the test).
``attribution_price``
    A factory: ``attribution_price(payload, registry=None, **hints)`` normalizes
    a provider payload (or takes a ``UsageRecord``) and prices it with
    ``attribution_registry``; unknown models raise, as in production.

A test, with a card of your own::

    CARD = '''
    [card]
    provider = "openai"
    version = "acme-2026"
    read_on = 2026-01-05
    source = "Order form OF-2291"
    [[discounts]]
    models = ["gpt-4.1*"]
    multiplier = 0.8
    from = 2026-01-01
    '''

    def test_our_discount_applies(attribution_card, attribution_price):
        reg = attribution_card(CARD)
        chat = {"object": "chat.completion", "model": "gpt-4.1-mini", "created": 1780000000,
                "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}
        assert attribution_price(chat, registry=reg).cost == Decimal("0.32")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from .._records import PricedRecord, UsageRecord
from .._registry import Registry, load_registry

__all__ = ["attribution_card", "attribution_price", "attribution_registry"]

_CACHE: dict[tuple[str, ...], Registry] = {}
_COUNTER = itertools.count(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("attribution", "attribution price cards")
    group.addoption("--attribution-cards", action="append", default=[], metavar="PATH",
                    help="price card file or directory layered over the bundled cards for the attribution_registry "
                    "fixture (repeatable)")
    parser.addini("attribution_cards", type="paths", default=[],
                  help="price card files or directories layered over the bundled cards (attribution_registry)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "attribution_cards(*paths): price cards layered over the bundled ones for "
                                       "this test's attribution_registry")


def _paths(request: pytest.FixtureRequest) -> tuple[str, ...]:
    marker = request.node.get_closest_marker("attribution_cards")
    if marker is not None:
        return tuple(str(Path(str(request.config.rootpath), p)) if not Path(p).is_absolute() else str(p)
                     for p in marker.args)
    option = request.config.getoption("attribution_cards") or []
    if option:
        return tuple(str(Path(p).resolve()) for p in option)
    return tuple(str(p) for p in request.config.getini("attribution_cards"))


def _registry(paths: Sequence[str]) -> Registry:
    key = tuple(paths)
    reg = _CACHE.get(key)
    if reg is None:
        reg = _CACHE[key] = load_registry(*paths)
    return reg


@pytest.fixture
def attribution_registry(request: pytest.FixtureRequest) -> Registry:
    """The bundled price cards plus the ones this test is configured with (marker, option or ini)."""
    return _registry(_paths(request))


@pytest.fixture
def attribution_card(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Registry]:
    """``attribution_card(toml_text)``: a registry with that card layered over this test's cards."""
    base = _paths(request)

    def make(text: str, *more: str) -> Registry:
        files = []
        for body in (text, *more):
            path = tmp_path / f"attribution-card-{next(_COUNTER)}.toml"
            path.write_text(body, encoding="utf-8")
            files.append(str(path))
        return load_registry(*base, *files)

    return make


@pytest.fixture
def attribution_price(attribution_registry: Registry) -> Callable[..., PricedRecord]:
    """``attribution_price(payload_or_record, registry=None, **hints)``: the priced record (errors raise)."""
    from .. import normalize, price

    def priced(payload: Any, registry: Registry | None = None, **hints: Any) -> PricedRecord:
        rec = payload if isinstance(payload, UsageRecord) else normalize(payload, **hints)
        return price(rec, registry=registry or attribution_registry)

    return priced
