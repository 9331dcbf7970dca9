"""A LiteLLM callback that prices every call as it finishes: ``CostLogger``, a ``CustomLogger``.

LiteLLM calls its callbacks with ``kwargs`` that hold the
``standard_logging_object`` (the StandardLoggingPayload: model, provider,
usage with cache and reasoning details, ``response_cost``, the key's team and
user metadata, request tags). ``CostLogger`` hands that payload to
:func:`attribution.normalize` (schema ``litellm.standard_logging``; without
it, the ``response_obj`` with ``custom_llm_provider`` as the provider),
prices the record with your registry, and puts the result, a
:class:`~attribution.PricedRecord` or a :class:`~attribution.Quarantined`
with its reason (an unknown model is never $0), in a JSON Lines file and/or
your function. LiteLLM's own ``response_cost`` is kept as the record's
``stated_cost`` and compared with the card price (flag ``stated_cost_drift``).

Nothing here can break the call being logged: every error becomes a
quarantined record or a counted sink error.

>>> import litellm                                            # doctest: +SKIP
>>> from attribution.integrations.litellm import CostLogger   # doctest: +SKIP
>>> litellm.callbacks = [CostLogger("calls.jsonl", tags={"team": "search"})]   # doctest: +SKIP

The file holds priced records, one JSON object per call (``cost`` is exact
decimal text), ready for DuckDB, pandas or ``jq``.

Needs the ``litellm`` extra (``pip install 'attribution[litellm]'``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._records import PricedRecord, Quarantined
from .._registry import Registry
from ..exceptions import MissingDependency
from ._sink import OnRecord, RecordSink

__all__ = ["CostLogger"]


def __getattr__(name: str) -> Any:
    # LiteLLM is imported when CostLogger is first asked for, not when this module is: the class is
    # built then, as a subclass of LiteLLM's CustomLogger.
    if name == "CostLogger":
        try:
            base = importlib.import_module("litellm.integrations.custom_logger").CustomLogger
        except ImportError:
            raise MissingDependency("attribution.integrations.litellm.CostLogger", "litellm", "litellm") from None
        cls = type("CostLogger", (_CostLogger, base), {"__module__": __name__, "__doc__": _CostLogger.__doc__})
        globals()["CostLogger"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CostLogger:
    """Prices each LiteLLM call on success and failure (sync and async), into ``path`` and/or ``on_record``.

    ``CostLogger`` is this class with LiteLLM's ``CustomLogger`` as its base
    (``isinstance(logger, CustomLogger)`` holds), built on first use.

    Args:
        path: a JSON Lines file to append one object per call to (see
            :func:`~attribution.integrations.record_json`).
        on_record: a function called with each ``PricedRecord`` or ``Quarantined``.
        registry: the price cards (default: the bundled ones; pass
            ``attribution.load_registry("my-cards/")`` for negotiated prices).
        tags: owner tags added to every call (a call's own tags win).
        **kwargs: passed to LiteLLM's ``CustomLogger`` (``turn_off_message_logging``...).

    ``sink.counts`` says how many calls were priced and quarantined.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, on_record: OnRecord | None = None,
                 registry: Registry | None = None, tags: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # LiteLLM's CustomLogger, next in CostLogger's MRO
        self.sink = RecordSink(path, on_record)
        self.registry = registry
        self.tags = dict(tags or {})

    # -- LiteLLM's hooks -------------------------------------------------------------

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs, response_obj)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs, response_obj)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs, response_obj)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs, response_obj)

    # -- the work ----------------------------------------------------------------------

    def price_call(self, kwargs: Any, response_obj: Any = None) -> list[PricedRecord | Quarantined]:
        """The priced (or quarantined) records of one call, from LiteLLM's callback arguments."""
        from .. import normalize_many, price_many

        payload = kwargs.get("standard_logging_object") if isinstance(kwargs, Mapping) else None
        if payload is not None:
            items = normalize_many([payload], provider="litellm.standard_logging", tags=self.tags)
        else:
            provider = None
            if isinstance(kwargs, Mapping):
                params = kwargs.get("litellm_params")
                provider = kwargs.get("custom_llm_provider") or (
                    params.get("custom_llm_provider") if isinstance(params, Mapping) else None)
            items = normalize_many([response_obj], provider=provider, tags=self.tags)
        return list(price_many(items, self.registry))

    def record(self, kwargs: Any, response_obj: Any = None) -> list[PricedRecord | Quarantined]:
        """Price one call and put its records in the sink; never raises."""
        try:
            out = self.price_call(kwargs, response_obj)
        except Exception as exc:  # the call being logged must never fail because of us
            out = [Quarantined(code="integration_error", message=f"{type(exc).__name__}: {exc}", stage="normalize")]
        for item in out:
            self.sink.put(item)
        return out


if TYPE_CHECKING:
    CostLogger = _CostLogger
