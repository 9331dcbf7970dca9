"""Types for extending the pipeline: the callables each stage registers.

A normalizer is a pure function from one provider payload (and the caller's
hints) to the usage records it holds, usually one; a detector says whether a
payload has its schema. Register both as a
:class:`~attribution.normalize.Schema` in ``attribution.normalize.SCHEMAS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._records import UsageRecord
    from .normalize._common import Hints

__all__ = ["Detector", "Normalizer"]

#: ``(payload) -> bool``: does this payload have the schema?
Detector = Callable[[Mapping[str, Any]], bool]
#: ``(payload, hints) -> list[UsageRecord]``; raises ``NormalizeError`` on bad input.
Normalizer = Callable[[Mapping[str, Any], "Hints"], "list[UsageRecord]"]
