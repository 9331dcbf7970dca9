"""The records that flow through the pipeline: usage in, priced records out.

``UsageRecord`` is what every normalizer produces: one provider call (or one
aggregate usage bucket) with its meters, owner tags and trace links.
``PricedRecord`` is what pricing produces: the record, its exact cost, and the
resolved rate that explains every line item. ``Quarantined`` is the diagnostic
that replaces a record that could not be normalized or priced, so that counts
are conserved: ``records in == priced + quarantined``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from ._fastinit import speed_up_init
from ._instant import instant_problem
from ._money import to_decimal
from ._usage import Usage
from .exceptions import InvalidTimestamp

if TYPE_CHECKING:
    from ._registry import LineItem, Rate

__all__ = ["PricedRecord", "Quarantined", "SourceLocation", "UsageRecord"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _freeze_tags(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if not value:
        return _EMPTY
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


def _aware(inst: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise InvalidTimestamp(f"{attribute.name} must be a timezone-aware datetime, got {value!r}")
    if value is not None and not 1 < value.year < 9998 and (problem := instant_problem(value)):
        raise InvalidTimestamp(f"{attribute.name}: {problem}")


@attrs.frozen(kw_only=True, slots=True)
class SourceLocation:
    """Where a record came from: file, 1-based line (or row), and field path.

    >>> str(SourceLocation(file="usage.jsonl", line=42, path="usage.prompt_tokens"))
    'usage.jsonl:42: usage.prompt_tokens'
    """

    file: str | None = None
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        head = self.file or ""
        if self.line is not None:
            head = f"{head}:{self.line}" if head else f"line {self.line}"
        if self.path:
            return f"{head}: {self.path}" if head else self.path
        return head or "<unknown>"

    def with_path(self, path: str | None) -> SourceLocation:
        return attrs.evolve(self, path=path)


@attrs.frozen(kw_only=True, slots=True)
class UsageRecord:
    """One provider call, normalized: who, which model, which meters, when.

    ``model`` is the model the caller asked for, as logged; ``model_billed`` the
    model the provider reports it served and billed (often a dated snapshot, or
    a fallback), when known. Pricing uses ``model_billed`` when set.
    ``requests`` is 1 for a single call and the request count for an aggregate
    bucket from a usage export (0 when the export does not say).
    ``long_context`` says whether the request(s) paid long-context rates when
    that cannot be told from one prompt's size (aggregate buckets, reports with
    a context-window field); ``None`` lets a single request's prompt decide. ``tags`` holds canonical owner dimensions
    (team, project, feature, workflow, tenant, user, environment, cost_center)
    and any free-form tags, read-only. ``flags`` are codes raised on ingest
    (``email_in_tags``: a tag value looks like an e-mail address); pricing
    carries them onto the priced record. ``estimate`` is the caller's own
    logged estimate; ``stated_cost`` is what the provider or gateway itself
    stated the call cost (OpenRouter's ``usage.cost``, LiteLLM's
    ``response_cost``), exact, in ``stated_cost_currency``, with
    ``stated_cost_source`` naming the field it was read from. Pricing compares
    it with the card price (flag ``stated_cost_drift``).

    >>> rec = UsageRecord(provider="openai", model="gpt-4o", usage=Usage(input=10), tags={"team": "search"})
    >>> rec.tags["team"], rec.billed_model
    ('search', 'gpt-4o')
    """

    provider: str
    model: str
    usage: Usage
    model_billed: str | None = None
    at: datetime | None = attrs.field(default=None, validator=_aware)
    request_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_id: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    fallback_from: str | None = None
    outcome: str = "ok"
    service_tier: str | None = None
    region: str | None = None
    requests: int = 1
    long_context: bool | None = None
    tags: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_freeze_tags)
    estimate: Decimal | None = None
    estimate_card: str | None = None
    stated_cost: Decimal | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.instance_of(Decimal)))
    stated_cost_currency: str | None = None
    stated_cost_source: str | None = None
    schema: str | None = None
    source: SourceLocation | None = None
    flags: tuple[str, ...] = ()

    @property
    def billed_model(self) -> str:
        """The model to price: ``model_billed`` when known, else ``model``."""
        return self.model_billed or self.model

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_frozen(self)


# Built for every record normalized: fields stored through their slots (see _fastinit).
speed_up_init(UsageRecord)


def with_tags(record: UsageRecord, tags: Mapping[str, str]) -> UsageRecord:
    """``attrs.evolve(record, tags=tags)`` without re-running every field's validator (hot: ownership, trees).

    The other fields come from a valid record unchanged; only ``tags`` goes
    through its converter, as in ``evolve``.
    """
    copy = object.__new__(UsageRecord)
    for name in _KEPT_ON_RETAG:
        _setattr(copy, name, getattr(record, name))
    _setattr(copy, "tags", _freeze_tags(tags))
    return copy


def reduce_frozen(obj: Any) -> tuple[Any, ...]:
    """``__reduce__`` for a frozen attrs value holding read-only mappings (which do not pickle).

    Each ``MappingProxyType`` field travels as a dict and is re-frozen on arrival;
    the values were validated when the object was made, so they are not again.
    """
    cls = type(obj)
    values = []
    frozen = []
    for f in attrs.fields(cls):
        value = getattr(obj, f.name)
        if type(value) is MappingProxyType:
            value = dict(value)
            frozen.append(f.name)
        values.append((f.name, value))
    return _restore_frozen, (cls, tuple(values), tuple(frozen))


def _restore_frozen(cls: type[Any], values: tuple[tuple[str, Any], ...], frozen: tuple[str, ...]) -> Any:
    obj = object.__new__(cls)
    for name, value in values:
        object.__setattr__(obj, name, MappingProxyType(value) if name in frozen else value)
    return obj


@attrs.frozen(kw_only=True, slots=True)
class Quarantined:
    """A record that could not be normalized or priced, kept with its reason.

    ``code`` is stable and machine-readable (``bad_json``, ``missing_field``,
    ``unknown_model``...); ``message`` is for people; ``raw`` is the original
    payload (or the usage record, when pricing failed).
    """

    code: str
    message: str
    stage: str
    source: SourceLocation | None = None
    raw: Any = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}[{self.code}] {self.message}"


class PricedRecord(NamedTuple):
    """A usage record with its exact cost and the rate that explains it.

    ``cost`` is an exact ``Decimal`` (never rounded); ``lines`` lists each meter
    as quantity x unit price = amount; ``card_version`` and ``source`` say
    which price card and page the unit prices came from; ``flags`` holds codes
    such as ``estimate_drift`` (the caller's logged estimate disagrees with the
    repriced cost) or ``no_timestamp`` (priced at the newest card price).

    An immutable named tuple ``(record, units, rate, flags)``: pricing makes one
    per record, and a tuple is the cheapest immutable value Python builds
    (measured in benchmarks/README.md); ``units`` is the cost in integer
    units of 10^-15 of the currency.
    """

    record: UsageRecord
    units: int
    rate: Rate
    flags: tuple[str, ...] = ()

    @property
    def cost(self) -> Decimal:
        """Exact cost in ``currency``."""
        return to_decimal(self.units)

    @property
    def currency(self) -> str:
        return self.rate.currency

    @property
    def card_version(self) -> str:
        return self.rate.card_version

    @property
    def source(self) -> str:
        """URL (or note) of the page the unit prices were read from."""
        return self.rate.source

    @property
    def lines(self) -> tuple[LineItem, ...]:
        """One line item per non-zero billed meter; amounts sum exactly to ``cost``."""
        rec = self.record
        return self.rate.lines(rec.usage, requests=rec.requests, long_context=rec.long_context)

    def explain(self) -> str:
        """A human-readable breakdown of how the cost was computed."""
        r = self.rate
        rec = self.record
        out = [
            f"{rec.provider}/{rec.billed_model} priced as {r.model} "
            f"(card {r.card_version}, tier {r.service_tier}"
            + (f", region {r.region}" if r.region else "")
            + ")",
            f"  unit prices from {r.source} (read {r.read_on.isoformat()})",
        ]
        above = r.prices_for(rec.usage, requests=rec.requests, long_context=rec.long_context)[1]
        if above is not None:
            out.append(f"  long-context rates: prompt of {rec.usage.prompt_tokens:,} tokens exceeds {above:,}")
        out.extend(f"  {line}" for line in self.lines)
        out.append(f"  total {self.cost} {r.currency}")
        if rec.estimate is not None:
            out.append(f"  caller's estimate {rec.estimate} {r.currency}")
        if rec.stated_cost is not None:
            out.append(f"  stated cost {rec.stated_cost} {rec.stated_cost_currency or r.currency}"
                       + (f" ({rec.stated_cost_source})" if rec.stated_cost_source else ""))
        if r.notes:
            out.extend(f"  note: {n}" for n in r.notes)
        if self.flags:
            out.append(f"  flags: {', '.join(self.flags)}")
        return "\n".join(out)


#: ``_new_tuple(PricedRecord, (record, units, rate, flags))`` builds a priced record without the
#: keyword handling of the named tuple's ``__new__``: the pricing hot path makes one per record.
_new_tuple = tuple.__new__


#: UsageRecord fields with_tags copies as they are (all but ``tags``).
_KEPT_ON_RETAG = tuple(f.name for f in attrs.fields(UsageRecord) if f.name != "tags")
_setattr = object.__setattr__
