"""Change explanation: why did an owner's spend move between two periods?

"Team A's spend jumped 37% week over week" is only actionable once it is
split into its drivers (seed 004): more traffic, bigger prompts or answers,
a different model mix, a price change, or more retries and fallbacks.
:func:`explain_change` decomposes each owner's change into exactly those
parts, and the parts add up to the change to the last money unit.

The decomposition, per owner, with first attempts separated from retries and
fallbacks (whose whole change is their own part):

- ``price``: this period's first attempts at this period's rates minus the
  same calls repriced at the previous period's rate for the same model, tier
  and region (zero for models the previous period did not use);
- ``volume``: ``(N1 - N0) x C0 / N0``, the previous cost per request applied
  to the change in request count;
- ``model_mix``: ``N1 x sum_m (s1_m - s0_m) x a_m``, the shift in request
  shares between models, at each model's previous cost per request ``a_m``;
- ``tokens_per_request``: ``N1 x sum_m s1_m x (b_m - a_m)``, the change in
  each model's cost per request at the previous prices (``b_m`` is this
  period's cost per request repriced at previous rates);
- ``retries``: the change in retry and fallback cost.

``volume + model_mix + tokens_per_request`` equals the repriced change
exactly as fractions; each part is rounded to a money unit and the rounding
residue (at most a few units of 10^-15) goes to the largest part, so the
parts always sum exactly to the total change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction

import attrs

from ._money import exact, to_decimal
from ._records import PricedRecord, Quarantined
from ._registry import Rate
from ._rollup import Key, Rollup, _getter
from ._tree import RequestTree, call_role

__all__ = ["PARTS", "Anomaly", "ChangeRow", "explain_change", "find_anomalies"]

#: The named parts of a change, in presentation order.
PARTS = ("volume", "tokens_per_request", "model_mix", "price", "retries")

_RateKey = tuple[str, str, str, "str | None"]


@attrs.frozen(kw_only=True)
class ChangeRow:
    """One owner's change between two periods, decomposed; ``parts`` sum exactly to ``change``."""

    key: Key
    before: Decimal
    after: Decimal
    requests_before: int
    requests_after: int
    parts: dict[str, Decimal]

    @property
    @exact
    def change(self) -> Decimal:
        return self.after - self.before

    @property
    def change_pct(self) -> Decimal | None:
        """Relative change in percent, or ``None`` when there was no spend before."""
        if not self.before:
            return None
        return (self.change / self.before * 100).quantize(Decimal("0.1"))

    def driver(self) -> str:
        """The part with the largest absolute contribution."""
        return max(PARTS, key=lambda p: (abs(self.parts[p]), -PARTS.index(p)))


class _Side:
    """Per-owner accumulators for one period."""

    __slots__ = ("models", "requests", "retry_units", "units")

    def __init__(self) -> None:
        self.requests = 0
        self.units = 0
        self.retry_units = 0
        # model key -> [requests, units, units repriced at the other period's rates]
        self.models: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])


def _flat(items: Iterable[PricedRecord | Quarantined | RequestTree]) -> Iterable[PricedRecord]:
    for item in items:
        if isinstance(item, RequestTree):
            yield from item.calls
        elif isinstance(item, PricedRecord):
            yield item


def _rate_key(r: Rate) -> _RateKey:
    return (r.provider, r.model, r.service_tier, r.region)


@exact
def explain_change(before: Iterable[PricedRecord | Quarantined | RequestTree],
                   after: Iterable[PricedRecord | Quarantined | RequestTree],
                   by: Sequence[str] = ("team",)) -> list[ChangeRow]:
    """Decompose each owner's cost change from ``before`` to ``after`` into named parts.

    Rows are sorted by absolute change, largest first. See the module
    docstring for the exact formulas.

    >>> import attribution as at
    >>> from datetime import datetime, timezone
    >>> def calls(n, model, tokens):
    ...     return [at.price(at.UsageRecord(provider="openai", model=model, usage=at.Usage(input=tokens),
    ...             at=datetime(2025, 6, 1, tzinfo=timezone.utc), tags={"team": "search"})) for _ in range(n)]
    >>> [row] = explain_change(calls(10, "gpt-4.1", 1000), calls(15, "gpt-4.1", 1000))
    >>> row.change, row.parts["volume"], row.driver()
    (Decimal('0.01'), Decimal('0.01'), 'volume')
    """
    getters = [_getter(d, None) for d in by]
    sides: tuple[dict[Key, _Side], dict[Key, _Side]] = (defaultdict(_Side), defaultdict(_Side))
    rates_before: dict[_RateKey, Rate] = {}
    after_calls: list[tuple[Key, PricedRecord]] = []
    for index, items in enumerate((before, after)):
        for p in _flat(items):
            key = tuple(g(p) for g in getters)
            side = sides[index][key]
            if call_role(p) != "first":
                side.retry_units += p.units
                continue
            side.requests += p.record.requests
            side.units += p.units
            model = side.models[(p.rate.provider, p.rate.model)]
            model[0] += p.record.requests
            model[1] += p.units
            if index == 0:
                rates_before[_rate_key(p.rate)] = p.rate
            else:
                after_calls.append((key, p))
    # Reprice this period's first attempts at the previous period's rate for the same model/tier/region.
    for key, p in after_calls:
        old = rates_before.get(_rate_key(p.rate))
        sides[1][key].models[(p.rate.provider, p.rate.model)][2] += old.units(p.record.usage) if old else p.units
    rows = []
    for key in dict.fromkeys([*sides[0], *sides[1]]):
        b, a = sides[0].get(key, _Side()), sides[1].get(key, _Side())
        parts = _decompose(b, a)
        rows.append(ChangeRow(key=key, before=to_decimal(b.units + b.retry_units),
                              after=to_decimal(a.units + a.retry_units), requests_before=b.requests,
                              requests_after=a.requests, parts={k: to_decimal(v) for k, v in parts.items()}))
    return sorted(rows, key=lambda r: (-abs(r.change), [str(k) for k in r.key]))


def _decompose(b: _Side, a: _Side) -> dict[str, int]:
    repriced_after = sum(m[2] for m in a.models.values())
    price = a.units - repriced_after
    retries = a.retry_units - b.retry_units
    target = repriced_after - b.units  # what volume + mix + tokens must sum to, exactly
    n0, n1 = b.requests, a.requests
    if n0 == 0:
        exact = {"volume": Fraction(target), "model_mix": Fraction(0), "tokens_per_request": Fraction(0)}
    elif n1 == 0:
        exact = {"volume": Fraction(-b.units), "model_mix": Fraction(0), "tokens_per_request": Fraction(0)}
    else:
        c0 = Fraction(b.units, n0)
        mix = Fraction(0)
        tokens = Fraction(0)
        for model in set(b.models) | set(a.models):
            r0, u0, _ = b.models.get(model, (0, 0, 0))
            r1, _, u1_at0 = a.models.get(model, (0, 0, 0))
            b_m = Fraction(u1_at0, r1) if r1 else None
            a_m = Fraction(u0, r0) if r0 else (b_m if b_m is not None else Fraction(0))
            s0 = Fraction(r0, n0)
            s1 = Fraction(r1, n1)
            mix += n1 * (s1 - s0) * a_m
            if b_m is not None:
                tokens += n1 * s1 * (b_m - a_m)
        exact = {"volume": (n1 - n0) * c0, "model_mix": mix, "tokens_per_request": tokens}
    rounded = {k: round(v) for k, v in exact.items()}
    residue = target - sum(rounded.values())
    if residue:
        largest = max(rounded, key=lambda k: (abs(exact[k]), k))
        rounded[largest] += residue
    return {"volume": rounded["volume"], "tokens_per_request": rounded["tokens_per_request"],
            "model_mix": rounded["model_mix"], "price": price, "retries": retries}


@attrs.frozen(kw_only=True)
class Anomaly:
    """An owner whose latest spend jumped beyond the threshold against its trailing periods."""

    key: Key
    latest: Decimal
    baseline: Decimal
    change_pct: Decimal | None
    reason: str


@exact
def find_anomalies(periods: Sequence[Rollup], *, threshold: Decimal = Decimal("0.5"),
                   min_cost: Decimal = Decimal("1.00")) -> list[Anomaly]:
    """Flag keys of the last rollup whose cost exceeds the trailing mean by more than ``threshold``.

    ``periods`` are rollups over the same dimensions, oldest first (e.g. one
    per week); the last is compared with the mean of the others. Keys that
    are new in the last period are flagged when they cost at least
    ``min_cost``; smaller jumps below ``min_cost`` are ignored as noise.
    """
    if len(periods) < 2:
        return []
    *trailing, latest = periods
    out = []
    for key in latest:
        now = latest[key].cost
        if now < min_cost:
            continue
        history = [r[key].cost if key in r else Decimal(0) for r in trailing]
        base = sum(history, Decimal(0)) / len(history)
        if base == 0:
            out.append(Anomaly(key=key, latest=now, baseline=Decimal(0), change_pct=None, reason="new spend"))
            continue
        jump = (now - base) / base
        if jump > threshold:
            out.append(Anomaly(key=key, latest=now, baseline=base.quantize(Decimal("0.01")),
                               change_pct=(jump * 100).quantize(Decimal("0.1")),
                               reason=f"up {(jump * 100).quantize(Decimal('0.1'))}% on the trailing mean"))
    return sorted(out, key=lambda a: -(a.latest - a.baseline))
