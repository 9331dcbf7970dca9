"""Coverage and budgets: can finance trust the attribution yet?

:func:`coverage` answers the seeds' audit questions in one pass: what share
of spend has a valid owner, how many dollars do not and where they come from
(which key, service or workflow lacks owners), what retries and fallbacks
cost, how many duplicate log lines were removed, how many callers' own
estimates drift from the repriced cost, and whether unattributed spend is
under the target (2% by default, seed 004).

:func:`budget_report` compares spend per budget line with the owner map's
monthly budgets and projects the month end from the run rate, so runaway
spend is caught before the month closes (seed 001).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from ._fx import FxRate, FxTable
from ._money import CENT, exact, from_decimal, present, ratio, round_to_units, to_decimal
from ._ownership import OwnerMap, OwnershipContract, apply_ownership
from ._records import PricedRecord, Quarantined
from ._tree import RequestTree, call_role
from .exceptions import CurrencyMismatch

__all__ = ["BudgetLine", "BudgetReport", "Coverage", "CoverageCounter", "UnattributedSource", "budget_lines", "budget_report", "budget_spend",
           "coverage"]

#: Default target: unattributed spend below 2% of the total (seed 004).
DEFAULT_TARGET = Decimal("0.02")
#: Dimensions searched, in order, to say where unowned spend comes from.
SOURCE_DIMENSIONS = ("api_key", "service", "workflow", "feature", "project", "team", "tenant")


@attrs.frozen(kw_only=True)
class UnattributedSource:
    """Unowned spend that shares one reason or one source value."""

    dimension: str
    value: str
    cost: Decimal
    records: int


@attrs.frozen(kw_only=True)
class Coverage:
    """The ownership coverage of a set of priced calls; see :func:`coverage`."""

    currency: str | None
    total: Decimal
    attributed: Decimal
    unattributed: Decimal
    records: int
    unowned_records: int
    target: Decimal
    by_reason: tuple[UnattributedSource, ...]
    by_source: tuple[UnattributedSource, ...]
    retry_cost: Decimal
    fallback_cost: Decimal
    duplicates: int
    duplicate_cost: Decimal
    estimate_drift: int
    estimate_drift_amount: Decimal
    quarantined: Mapping[str, int]

    @property
    @exact
    def coverage(self) -> Decimal:
        """Attributed share of spend (0 to 1, six decimals)."""
        return ratio(from_decimal(self.attributed), from_decimal(self.total)) if self.total else Decimal(1)

    @property
    @exact
    def unattributed_share(self) -> Decimal:
        return ratio(from_decimal(self.unattributed), from_decimal(self.total))

    @property
    def passed(self) -> bool:
        """True when unattributed spend is below the target share."""
        return self.unattributed_share < self.target

    @property
    @exact
    def overhead(self) -> Decimal:
        """Retry plus fallback cost."""
        return self.retry_cost + self.fallback_cost

    def __repr__(self) -> str:
        return (f"<Coverage {present(self.coverage * 100, Decimal('0.1'))}% of {self.total:f} {self.currency or ''}"
                f" owned, unattributed {self.unattributed:f} ({'PASS' if self.passed else 'FAIL'}), "
                f"{len(self.by_reason)} reasons, {len(self.by_source)} sources>").replace(" , ", ", ")

    def _repr_html_(self) -> str:
        """Jupyter's view: the summary lines and the largest unowned sources, every value escaped."""
        from ._notebook import coverage_html

        return coverage_html(self)

    def to_pandas(self) -> Any:
        """Unowned spend by reason and source as a ``pandas.DataFrame`` (extra ``pandas``)."""
        from . import _notebook

        return _notebook.to_pandas(_notebook.coverage_table(self), "Coverage.to_pandas()")

    def to_arrow(self) -> Any:
        """Unowned spend by reason and source as a ``pyarrow.Table`` (extra ``arrow``)."""
        from . import _notebook

        return _notebook.to_arrow(_notebook.coverage_table(self), "Coverage.to_arrow()")

    def summary(self) -> str:
        """A few lines for a terminal or a weekly report."""
        pct = present(self.coverage * 100, Decimal("0.1"))
        lines = [
            (f"Coverage: {pct}% of {present(self.total)}{' ' + self.currency if self.currency else ''} has a valid "
             "owner; "
            f"unattributed {present(self.unattributed)} ({present(self.unattributed_share * 100, Decimal('0.1'))}%, "
            f"target < {present(self.target * 100, Decimal('0.1'))}%: {'PASS' if self.passed else 'FAIL'})"),
        ]
        if self.overhead:
            share = present(ratio(from_decimal(self.overhead), from_decimal(self.total)) * 100, Decimal("0.1"))
            lines.append(f"Retry/fallback overhead: retries {present(self.retry_cost)}, fallbacks "
                         f"{present(self.fallback_cost)} ({share}% of spend)")
        if self.duplicates:
            lines.append(f"Duplicates removed: {self.duplicates} ({present(self.duplicate_cost)} not double counted)")
        if self.estimate_drift:
            lines.append(f"Caller estimates off by more than the tolerance: {self.estimate_drift} records "
                         f"({present(self.estimate_drift_amount)} total difference)")
        return "\n".join(lines)


class CoverageCounter:
    """Running coverage totals: add calls (already through :func:`apply_ownership`), read a :class:`Coverage`.

    Counters merge exactly, so a stream can be measured chunk by chunk.
    """

    def __init__(self, contract: OwnershipContract | None = None) -> None:
        self.contract = contract or OwnershipContract()
        self.units = self.owned = self.retry = self.fallback = self.dup_units = self.drift_units = 0
        self.records = self.unowned_records = self.duplicates = self.drift = 0
        self.currency: str | None = None
        self.reasons: Counter[str] = Counter()
        self.reason_units: Counter[str] = Counter()
        self.sources: Counter[tuple[str, str]] = Counter()
        self.source_units: Counter[tuple[str, str]] = Counter()
        self.quarantined: Counter[str] = Counter()

    def add_tree(self, tree: RequestTree) -> None:
        """Count a tree's dropped duplicates (its calls are added one by one)."""
        self.duplicates += len(tree.duplicates)
        self.dup_units += sum(d.units for d in tree.duplicates)

    def add(self, p: PricedRecord | Quarantined) -> None:
        if isinstance(p, Quarantined):
            self.quarantined[p.code] += 1
            return
        c = self.contract
        if self.currency != p.currency:
            if self.currency is not None:
                raise CurrencyMismatch(self.currency, p.currency, f"coverage: card {p.rate.card_version} prices "
                                       f"{p.record.provider}/{p.record.billed_model} in {p.currency}, earlier "
                                       f"records were priced in {self.currency}")
            self.currency = p.currency
        self.records += 1
        self.units += p.units
        role = call_role(p)
        if role == "retry":
            self.retry += p.units
        elif role == "fallback":
            self.fallback += p.units
        if "estimate_drift" in p.flags and p.record.estimate is not None:
            self.drift += 1
            self.drift_units += abs(round_to_units(p.record.estimate) - p.units)
        tags = p.record.tags
        missing = c.missing(tags)
        unmapped = "unmapped_owner" in p.flags or (
            c.owner_map is not None and bool(c.owner_map.entries) and c.owner_map.lookup(tags) is None)
        if not missing and not unmapped:
            self.owned += p.units
            return
        self.unowned_records += 1
        if missing:
            reason = f"missing {', '.join(missing)}"
        else:
            keys = [f"{f}={tags[f]}" for f in (c.owner_map.fields if c.owner_map else ()) if tags.get(f)]
            reason = f"unmapped {', '.join(keys)}" if keys else "no owner map entry"
        self.reasons[reason] += 1
        self.reason_units[reason] += p.units
        for dim in SOURCE_DIMENSIONS:
            value = tags.get(dim)
            if value:
                self.sources[dim, value] += 1
                self.source_units[dim, value] += p.units
                return
        key = ("model", f"{p.record.provider}/{p.record.billed_model}")
        self.sources[key] += 1
        self.source_units[key] += p.units

    def result(self, target: Decimal = DEFAULT_TARGET) -> Coverage:
        return Coverage(
            currency=self.currency,
            total=to_decimal(self.units), attributed=to_decimal(self.owned),
            unattributed=to_decimal(self.units - self.owned),
            records=self.records, unowned_records=self.unowned_records, target=target,
            by_reason=tuple(UnattributedSource(dimension="reason", value=r, cost=to_decimal(self.reason_units[r]),
                                               records=n) for r, n in _by_cost(self.reasons, self.reason_units)),
            by_source=tuple(UnattributedSource(dimension=d, value=v, cost=to_decimal(self.source_units[d, v]),
                                               records=n)
                            for (d, v), n in _by_cost(self.sources, self.source_units)),
            retry_cost=to_decimal(self.retry), fallback_cost=to_decimal(self.fallback),
            duplicates=self.duplicates, duplicate_cost=to_decimal(self.dup_units),
            estimate_drift=self.drift, estimate_drift_amount=to_decimal(self.drift_units),
            quarantined=dict(self.quarantined),
        )


def coverage(items: Iterable[PricedRecord | Quarantined | RequestTree], contract: OwnershipContract | None = None,
             *, target: Decimal = DEFAULT_TARGET) -> Coverage:
    """Measure ownership coverage, overhead and data-quality signals in one pass.

    A call is *attributed* when it carries every owner field the contract
    requires and, if the contract has an owner map, maps to an entry. Pass
    request trees (from :func:`build_forest`) to count duplicates removed and
    to let calls inherit their root's owner first.

    >>> import attribution as at
    >>> recs = [at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
    ...                        tags={"team": t} if t else {}) for t in ("search", "search", None)]
    >>> cov = coverage((at.price(r) for r in recs), at.OwnershipContract(required=("team",)))
    >>> cov.unattributed, cov.coverage, cov.passed
    (Decimal('2.00'), Decimal('0.666667'), False)
    """
    counter = CoverageCounter(contract)

    def counted() -> Iterable[PricedRecord | Quarantined | RequestTree]:
        for item in items:
            if isinstance(item, RequestTree):
                counter.add_tree(item)
            yield item

    for p in apply_ownership(counted(), attrs.evolve(counter.contract, on_missing="flag")):
        counter.add(p)
    return counter.result(target)


def _by_cost(counts: Counter[Any], units: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda kv: (-units[kv[0]], str(kv[0])))


@attrs.frozen(kw_only=True)
class BudgetLine:
    """Actual vs budget for one budget line in one month, with a run-rate forecast."""

    name: str
    month: str
    budget: Decimal
    actual: Decimal
    forecast: Decimal
    currency: str
    days_elapsed: int
    days_in_month: int
    #: The FX rates that converted spend priced in another currency into the budget's (none: no conversion).
    fx: tuple[FxRate, ...] = ()

    @property
    def exceeded(self) -> bool:
        return self.actual > self.budget

    @property
    def projected_over(self) -> bool:
        """The month-end forecast is above the budget."""
        return self.forecast > self.budget


def budget_report(items: Iterable[PricedRecord | Quarantined | RequestTree], owner_map: OwnerMap, as_of: date, *,
                  tz: tzinfo | None = None, fx: FxTable | None = None) -> BudgetReport:
    """Actual spend to date vs monthly budget per budget line, with a month-end forecast.

    Counts calls in the month of ``as_of`` up to and including that day (in
    ``tz``, UTC by default); the forecast extrapolates the run rate:
    ``actual x days_in_month / days_elapsed``, rounded half up to the cent.
    Budget lines are the owner map's ``budget_line`` (or ``cost_center``)
    values that carry a ``monthly_budget``; lines with no spend are listed
    with zero actual. Most over-budget first.

    A budget is compared only with spend in its own currency (the owner map's
    ``currency``, USD when not given): spend priced in another currency is
    converted with ``fx`` at the rate dated on or before ``as_of`` (the line
    keeps the rate), and refused with ``CurrencyMismatch`` without one.
    """
    zone = tz or timezone.utc
    spend: Counter[tuple[str, date, str]] = Counter()
    contract = OwnershipContract(required=(), owner_map=owner_map)
    for p in apply_ownership(items, contract):
        if not isinstance(p, Quarantined):
            budget_spend(spend, p, zone)
    return BudgetReport(budget_lines(spend, owner_map, as_of, fx=fx))


class BudgetReport(list[BudgetLine]):
    """The budget lines :func:`budget_report` returns: a plain list, with a notebook view and frames."""

    def _repr_html_(self) -> str:
        """Jupyter's view: one row per budget line, every value escaped."""
        from . import _notebook

        return _notebook.html(_notebook.budgets_table(self))

    def to_pandas(self) -> Any:
        """The budget lines as a ``pandas.DataFrame``; money is an exact Arrow decimal (extra ``pandas``)."""
        from . import _notebook

        return _notebook.to_pandas(_notebook.budgets_table(self), "budget_report().to_pandas()")

    def to_arrow(self) -> Any:
        """The budget lines as a ``pyarrow.Table``; money is ``decimal128(38, 15)`` (extra ``arrow``)."""
        from . import _notebook

        return _notebook.to_arrow(_notebook.budgets_table(self), "budget_report().to_arrow()")


def budget_spend(spend: Counter[tuple[str, date, str]], p: PricedRecord, zone: tzinfo = timezone.utc) -> None:
    """Add one call (with owner fields stamped) to ``{(budget line, day, currency): money units}``."""
    if p.record.at is None:
        return
    name = p.record.tags.get("budget_line") or p.record.tags.get("cost_center")
    if name:
        spend[name, p.record.at.astimezone(zone).date(), p.rate.currency] += p.units


@exact
def budget_lines(spend: Mapping[tuple[str, date, str], int], owner_map: OwnerMap, as_of: date, *,
                 fx: FxTable | None = None) -> list[BudgetLine]:
    """Budget lines from spend per (budget line, day, currency): see :func:`budget_report`."""
    budgets = owner_map.budgets()
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    month: Counter[tuple[str, str]] = Counter()
    for (name, day, cur), units in spend.items():
        if (day.year, day.month) == (as_of.year, as_of.month) and day <= as_of and name in budgets:
            month[name, cur] += units
    out = []
    for name, (budget, currency) in budgets.items():
        actual = 0
        rates: list[FxRate] = []
        for (spent_on, cur), units in sorted(month.items()):
            if spent_on != name:
                continue
            if cur == currency:
                actual += units
                continue
            rate = fx.rate(cur, currency, as_of) if fx is not None else None
            if rate is None:
                why = fx.missing(cur, currency, as_of) if fx is not None else "pass an FX table to convert it"
                where = f" in {owner_map.path}" if owner_map.path else ""
                raise CurrencyMismatch(currency, cur, f"budget line {name!r}: its budget{where} is in {currency} "
                                       f"but its spend is priced in {cur}; {why}")
            actual += from_decimal(rate.convert(to_decimal(units)))
            rates.append(rate)
        forecast = Fraction(actual * days_in_month, as_of.day)
        out.append(BudgetLine(name=name, month=f"{as_of.year}-{as_of.month:02d}", budget=budget,
                              actual=to_decimal(actual), currency=currency, days_elapsed=as_of.day,
                              days_in_month=days_in_month, fx=tuple(rates),
                              forecast=present(to_decimal(round(forecast)), CENT)))
    return sorted(out, key=lambda b: (-(b.forecast - b.budget), b.name))
