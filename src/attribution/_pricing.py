"""Pricing: a usage record and a registry in, an exact priced record out.

Pricing knows nothing of provider payload shapes: it reads the normalized
meters, resolves the rate in force at the record's timestamp (model billed,
service tier, region) and multiplies. Batch pricing never raises for a bad
record; it yields a :class:`~attribution.Quarantined` with a reason instead,
so every record is accounted for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from ._cost import cost
from ._money import from_decimal, round_to_units
from ._records import PricedRecord, Quarantined, UsageRecord, _new_tuple
from ._registry import Registry, default_registry
from .exceptions import (
    AttributionError,
    PriceNotInForce,
    UnknownModel,
    UnknownServiceTier,
    UnpricedMeter,
)

__all__ = ["DEFAULT_ESTIMATE_TOLERANCE", "DEFAULT_STATED_COST_TOLERANCE", "cost", "price", "price_many"]

#: A caller's logged estimate within 5% of the repriced cost is not flagged.
DEFAULT_ESTIMATE_TOLERANCE = Decimal("0.05")
#: A provider- or gateway-stated cost (OpenRouter ``usage.cost``, LiteLLM ``response_cost``) within 1% of the
#: card price is not flagged: both price the same meters from list prices, so a larger gap means the card,
#: the meters or the gateway's price table is wrong (or a discount / BYOK fee applies).
DEFAULT_STATED_COST_TOLERANCE = Decimal("0.01")
#: Differences below a millionth of the currency are never drift (float noise in logs).
_DRIFT_FLOOR = from_decimal(Decimal("0.000001"))


def price(record: UsageRecord, registry: Registry | None = None, *,
          estimate_tolerance: Decimal = DEFAULT_ESTIMATE_TOLERANCE,
          stated_cost_tolerance: Decimal = DEFAULT_STATED_COST_TOLERANCE) -> PricedRecord:
    """Price one usage record exactly.

    The rate is the one in force at ``record.at`` for ``record.billed_model``,
    its service tier and region. Flags raised on the result:

    - ``estimate_drift``: the record carries the caller's own cost estimate and
      it differs from the repriced cost by more than ``estimate_tolerance``
      (relative; 5% by default).
    - ``stated_cost_drift``: the payload stated its own cost (``stated_cost``,
      e.g. a gateway's logged charge) and it differs from the card price by
      more than ``stated_cost_tolerance`` (relative; 1% by default). A stated
      cost in another currency than the card's is not compared and raises
      ``stated_cost_other_currency`` instead.
    - ``no_timestamp``: the record has no timestamp, so the newest card price
      was used.
    - ``context_tier_unknown``: an aggregate record (``requests != 1``) on a
      model with long-context rates, with no ``long_context`` hint: priced at
      the base rates, since a bucket's total prompt says nothing about any
      single request's size.

    Raises:
        UnknownModel: no card prices the model (it is never priced at $0).
        PriceNotInForce, UnknownServiceTier, UnpricedMeter: see their docs.

    >>> from attribution import Usage, UsageRecord
    >>> from datetime import datetime, timezone
    >>> rec = UsageRecord(provider="openai", model="gpt-4o", at=datetime(2025, 6, 1, tzinfo=timezone.utc),
    ...                   usage=Usage(input=4_000, cached_input=1_000, output=800))
    >>> price(rec).cost
    Decimal('0.01925')
    """
    reg = registry if registry is not None else default_registry()
    at = record.at
    # The common case inline: the model's newest price, open-ended, in force at ``at``.
    line = reg._memo.get((record.provider, record.model_billed or record.model, record.service_tier, record.region))
    rate = line.open_rate if line is not None else None
    if rate is None or at is None or not at >= line.open_from:  # type: ignore[union-attr]
        # UsageRecord guarantees an aware timestamp, so the validating resolve() is skipped.
        rate = reg._rate_at(record.provider, record.model_billed or record.model, record.service_tier,
                            record.region, at)
    flags = record.flags            # ingest flags (email_in_tags) travel with the record
    if rate.context and (record.requests != 1 or record.long_context is not None):
        # Aggregates: one bucket's total prompt says nothing about any single request's size.
        prices, _ = rate.prices_for(record.usage, requests=record.requests, long_context=record.long_context)
        units = rate.units_with(record.usage, prices)
        if record.long_context is None:
            flags = (*flags, "context_tier_unknown")
    else:
        units = rate._units(record.usage)
    if at is None:
        flags = (*flags, "no_timestamp")
    if record.estimate is not None and _drifts(record.estimate, units, estimate_tolerance):
        flags = (*flags, "estimate_drift")
    if record.stated_cost is not None:
        if (record.stated_cost_currency or rate.currency) != rate.currency:
            flags = (*flags, "stated_cost_other_currency")
        elif _drifts(record.stated_cost, units, stated_cost_tolerance):
            flags = (*flags, "stated_cost_drift")
    return _new_tuple(PricedRecord, (record, units, rate, flags))


def _drifts(estimate: Decimal, units: int, tolerance: Decimal) -> bool:
    try:
        est = round_to_units(estimate, what="estimate")  # float noise in logged estimates is not drift
    except ValueError:
        return True
    diff = abs(est - units)
    return diff > _DRIFT_FLOOR and Decimal(diff) > tolerance * abs(Decimal(units))


_REASONS: tuple[tuple[type[AttributionError], str], ...] = (
    (PriceNotInForce, "price_not_in_force"),
    (UnknownModel, "unknown_model"),
    (UnknownServiceTier, "unknown_service_tier"),
    (UnpricedMeter, "unpriced_meter"),
)


def price_many(records: Iterable[UsageRecord | Quarantined], registry: Registry | None = None, *,
               estimate_tolerance: Decimal = DEFAULT_ESTIMATE_TOLERANCE,
               stated_cost_tolerance: Decimal = DEFAULT_STATED_COST_TOLERANCE,
               ) -> Iterator[PricedRecord | Quarantined]:
    """Price a stream lazily; records that cannot be priced become ``Quarantined``.

    Quarantined inputs (from normalization) pass through unchanged, so the
    output has exactly one item per input item.

    >>> from attribution import Usage, UsageRecord
    >>> out = list(price_many([UsageRecord(provider="openai", model="gpt-nope", usage=Usage(input=1))]))
    >>> out[0].code
    'unknown_model'
    """
    reg = registry if registry is not None else default_registry()
    for rec in records:
        if isinstance(rec, Quarantined):
            yield rec
            continue
        try:
            yield price(rec, reg, estimate_tolerance=estimate_tolerance, stated_cost_tolerance=stated_cost_tolerance)
        except AttributionError as exc:
            code = next((c for cls, c in _REASONS if isinstance(exc, cls)), "pricing_error")
            message = str(exc)
            if rec.stated_cost is not None:   # what the payload itself said it cost, so the pile is not a blank
                message += (f" (the payload states its cost: {rec.stated_cost} {rec.stated_cost_currency or ''}"
                            .rstrip() + (f", {rec.stated_cost_source}" if rec.stated_cost_source else "") + ")")
            yield Quarantined(code=code, message=message, stage="price", source=rec.source, raw=rec)
