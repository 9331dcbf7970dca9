"""An OpenTelemetry span processor that prices GenAI spans as they end: ``CostSpanProcessor``.

Add it to your ``TracerProvider``; each span that carries ``gen_ai.usage.*``
attributes (what the OpenAI, Anthropic, Bedrock, Vertex... instrumentations
write) is read by the OpenTelemetry normalizer (:func:`attribution.normalize`,
schema ``otel.span``: the GenAI semantic conventions, cache reads and writes
taken out of the input count, owner tags from resource and span attributes),
priced with your registry, and put in a JSON Lines file and/or your function.
Spans without GenAI usage (HTTP, database, tool spans) are not provider calls
and are passed over; a GenAI span that cannot be priced becomes a
:class:`~attribution.Quarantined` with its reason, never $0.

Roll-ups are not counted twice: an agent or workflow span whose descendants
carried usage (children end before their parent, so they were seen first), or
a second span reporting a ``gen_ai.response.id`` already priced (two
instrumentations of one call), is passed over and counted in ``skipped``.

An ended span is read-only in OpenTelemetry, so the cost cannot be written on
the span itself; with ``downstream=`` (your exporting processor, e.g.
``BatchSpanProcessor(OTLPSpanExporter())``) every span is forwarded to it,
GenAI spans as a copy carrying ``attribution.cost`` (exact decimal text),
``attribution.currency``, ``attribution.card_version`` and
``attribution.model`` (or ``attribution.quarantined``, the reason code), so
the exported span says what the call cost.

Needs the ``otel`` extra (``pip install 'attribution[otel]'``: opentelemetry-sdk).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._records import PricedRecord, Quarantined
from .._registry import Registry
from ..exceptions import MissingDependency
from ._sink import OnRecord, RecordSink

__all__ = ["COST_ATTRIBUTES", "CostSpanProcessor"]

ReadableSpan = Any


def _sdk() -> Any:
    try:
        return importlib.import_module("opentelemetry.sdk.trace")
    except ImportError:
        raise MissingDependency("attribution.integrations.otel.CostSpanProcessor", "otel",
                                "opentelemetry-sdk") from None


def __getattr__(name: str) -> Any:
    # The SDK is imported when CostSpanProcessor is first asked for, not when this module is: the class
    # is built then, as a subclass of the SDK's SpanProcessor.
    if name == "CostSpanProcessor":
        base = _sdk().SpanProcessor
        cls = type("CostSpanProcessor", (_CostSpanProcessor, base),
                   {"__module__": __name__, "__doc__": _CostSpanProcessor.__doc__})
        globals()["CostSpanProcessor"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: The attributes a forwarded span carries.
COST_ATTRIBUTES = ("attribution.cost", "attribution.currency", "attribution.card_version", "attribution.model",
                   "attribution.quarantined")
#: Span ids and response ids remembered to spot roll-ups and duplicates (memory stays flat).
REMEMBER = 100_000


class _Recent:
    """A bounded set: the oldest entries are forgotten first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[Any, None] = OrderedDict()

    def add(self, key: Any) -> None:
        self._items[key] = None
        self._items.move_to_end(key)
        if len(self._items) > self.limit:
            self._items.popitem(last=False)

    def __contains__(self, key: Any) -> bool:
        return key in self._items


def _has_usage(attributes: Mapping[str, Any]) -> bool:
    return any(str(k).startswith("gen_ai.usage.") for k in attributes)


class _CostSpanProcessor:
    """Prices GenAI spans in ``on_end``; forwards every span to ``downstream`` (GenAI ones with their cost).

    ``CostSpanProcessor`` is this class with the SDK's ``SpanProcessor`` as
    its base, built on first use.

    Args:
        path: a JSON Lines file to append one object per priced call to.
        on_record: a function called with each ``PricedRecord`` or ``Quarantined``.
        registry: the price cards (default: the bundled ones).
        tags: owner tags added to every call (a span's own owner attributes win).
        downstream: a span processor to forward spans to, with the cost attributes.

    ``sink.counts`` says how many spans were priced and quarantined; ``skipped``
    how many GenAI spans were roll-ups or duplicates of a call already priced.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, on_record: OnRecord | None = None,
                 registry: Registry | None = None, tags: Mapping[str, str] | None = None,
                 downstream: Any = None) -> None:
        self.sink = RecordSink(path, on_record) if (path is not None or on_record is not None) else None
        self.registry = registry
        self.tags = dict(tags or {})
        self.downstream = downstream
        self.skipped = 0
        self._lock = threading.Lock()
        self._parents_of_usage = _Recent(REMEMBER)
        self._responses = _Recent(REMEMBER)

    # -- SpanProcessor ------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.downstream is not None:
            self.downstream.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attributes = self.price_span(span)
        except Exception as exc:  # a processor must never raise into the application
            attributes = {"attribution.quarantined": "integration_error"}
            if self.sink is not None:
                self.sink.put(Quarantined(code="integration_error", message=f"{type(exc).__name__}: {exc}",
                                          stage="normalize"))
        if self.downstream is not None:
            self.downstream.on_end(_with_attributes(span, attributes) if attributes else span)

    def shutdown(self) -> None:
        if self.downstream is not None:
            self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self.downstream is not None:
            return bool(self.downstream.force_flush(timeout_millis))
        return True

    # -- the work ------------------------------------------------------------------------

    def price_span(self, span: ReadableSpan) -> dict[str, str]:
        """Price one ended span; the cost attributes for it (empty: not a GenAI call, or a roll-up)."""
        attributes = dict(span.attributes or {})
        if not _has_usage(attributes):
            return {}
        ctx = span.get_span_context()
        parent = getattr(span, "parent", None)
        response = attributes.get("gen_ai.response.id")
        with self._lock:
            rollup = ctx.span_id in self._parents_of_usage
            duplicate = response is not None and (ctx.trace_id, response) in self._responses
            if parent is not None:
                self._parents_of_usage.add(parent.span_id)
            if rollup or duplicate:
                self.skipped += 1
                return {}
            if response is not None:
                self._responses.add((ctx.trace_id, response))
        from .. import normalize_many, price_many

        items = list(price_many(normalize_many([span], provider="otel.span", tags=self.tags), self.registry))
        for item in items:
            if self.sink is not None:
                self.sink.put(item)
        return _cost_attributes(items)


def _cost_attributes(items: list[PricedRecord | Quarantined]) -> dict[str, str]:
    priced = [i for i in items if isinstance(i, PricedRecord)]
    if not priced:
        codes = sorted({i.code for i in items if isinstance(i, Quarantined)})
        return {"attribution.quarantined": ",".join(codes)} if codes else {}
    currencies = {p.currency for p in priced}
    if len(currencies) > 1:   # never one sum across currencies
        return {"attribution.quarantined": "several_currencies"}
    total = sum((p.cost for p in priced), priced[0].cost * 0)
    return {"attribution.cost": format(total, "f"), "attribution.currency": priced[0].currency,
            "attribution.card_version": ",".join(dict.fromkeys(p.card_version for p in priced)),
            "attribution.model": ",".join(dict.fromkeys(p.rate.model for p in priced))}


def _with_attributes(span: ReadableSpan, extra: Mapping[str, str]) -> ReadableSpan:
    """A copy of an ended span with ``extra`` attributes (the SDK's ``ReadableSpan`` is read-only)."""
    return _sdk().ReadableSpan(
        name=span.name, context=span.get_span_context(), parent=span.parent, resource=span.resource,
        attributes={**dict(span.attributes or {}), **extra}, events=span.events, links=span.links, kind=span.kind,
        status=span.status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


if TYPE_CHECKING:
    CostSpanProcessor = _CostSpanProcessor
