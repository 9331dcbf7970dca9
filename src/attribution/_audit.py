"""The audit: the whole flow in one pure function, for the CLI and for notebooks.

``run_audit`` normalizes, prices, builds request trees, applies the ownership
contract, rolls up, allocates shared pools, reconciles against invoices and
trues up, and returns one immutable :class:`AuditReport` that every report
writer (table, JSON, CSV, FOCUS, HTML, Parquet) renders. Nothing here prints
or writes files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timezone
from decimal import Decimal
from typing import Any

import attrs

from ._allocate import Allocation, Policy, apply_policy
from ._change import Anomaly, ChangeRow, explain_change, find_anomalies
from ._coverage import BudgetLine, Coverage, budget_report, coverage
from ._invoice import InvoiceLine
from ._money import to_decimal
from ._ownership import OwnershipContract, apply_ownership
from ._pricing import price_many
from ._reconcile import Reconciliation, TrueUp, reconcile, true_up
from ._records import PricedRecord, Quarantined, UsageRecord
from ._registry import Registry, default_registry
from ._rollup import Rollup, _getter, rollup
from ._tree import RequestTree, build_forest
from ._usage import BILLED_METERS
from .normalize import normalize_many

__all__ = ["PERIODS", "AuditReport", "ChargeLine", "charge_lines", "run_audit"]

UTC = timezone.utc
#: Periods an audit can compare: each is also a rollup time dimension.
PERIODS = ("day", "week", "month")
#: How many quarantined examples a report keeps per reason code.
EXAMPLES_PER_REASON = 3


@attrs.frozen(kw_only=True, slots=True)
class ChargeLine:
    """Priced usage at the grain of a bill line: one day, model, meter, unit price and owner.

    ``quantity x unit_price / per == amount`` exactly, because every record in
    a line was priced at the same unit price. These rows feed the FOCUS, CSV
    and Parquet exports.
    """

    day: date | None
    provider: str
    model: str
    meter: str
    quantity: int
    unit_price: Decimal
    per: int
    amount: Decimal
    currency: str
    service_tier: str
    region: str | None
    card_version: str
    source: str
    owner: tuple[tuple[str, str | None], ...]
    records: int


def charge_lines(priced: Iterable[PricedRecord], dims: Sequence[str]) -> list[ChargeLine]:
    """Aggregate priced calls into :class:`ChargeLine` rows (one pass, memory per distinct line).

    >>> import attribution as at
    >>> recs = [at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=500_000, output=10),
    ...                                 tags={"team": "search"})) for _ in range(2)]
    >>> [(c.meter, c.quantity, c.unit_price, c.amount) for c in charge_lines(recs, ("team",))]
    [('input', 1000000, Decimal('2'), Decimal('2.00')), ('output', 20, Decimal('8'), Decimal('0.00016'))]
    """
    acc: dict[tuple[Any, ...], list[Any]] = {}
    for p in priced:
        rec, rate = p.record, p.rate
        prices, _ = rate.prices_for(rec.usage, requests=rec.requests, long_context=rec.long_context)
        day = rec.at.astimezone(UTC).date() if rec.at is not None else None
        owner = tuple((d, rec.tags.get(d)) for d in dims)
        for i, meter in enumerate(BILLED_METERS):
            n = getattr(rec.usage, meter)
            if not n:
                continue
            key = (day, rate.provider, rate.model, meter, prices[i], rate.service_tier, rec.region,
                   rate.card_version, owner)
            a = acc.get(key)
            if a is None:
                a = acc[key] = [0, 0, p]
            a[0] += n
            a[1] += 1
    out = []
    for (day, provider, model, meter, unit, tier, region, card, owner), (qty, records, sample) in acc.items():
        per = 1_000 if meter == "web_search" else 1_000_000
        out.append(ChargeLine(day=day, provider=provider, model=model, meter=meter, quantity=qty,
                              unit_price=to_decimal(unit * per).normalize(), per=per,
                              amount=to_decimal(qty * unit), currency=sample.rate.currency, service_tier=tier,
                              region=region, card_version=card, source=sample.rate.source, owner=owner,
                              records=records))
    out.sort(key=lambda c: (c.day or date.min, c.provider, c.model, c.meter, [str(v) for _, v in c.owner]))
    return out


@attrs.frozen(kw_only=True)
class AuditReport:
    """Everything an audit found; every writer renders this one object.

    ``rollup`` is by ``by``; ``periods`` (when a period is set) by
    ``(period, *by)``; ``changes`` compare the last period with the one
    before it. ``allocation``, ``reconciliation``, ``true_up`` and ``budgets``
    are present when a policy, invoices or an owner map with budgets were
    given.
    """

    by: tuple[str, ...]
    required: tuple[str, ...]
    period: str | None
    since: date | None
    until: date | None
    currency: str | None
    records_read: int
    trees: int
    rollup: Rollup
    periods: Rollup | None
    coverage: Coverage
    quarantined: Mapping[str, int]
    quarantine_examples: tuple[Quarantined, ...]
    flags: Mapping[str, int]
    charges: tuple[ChargeLine, ...]
    top_trees: tuple[RequestTree, ...]
    changes: tuple[ChangeRow, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    allocation: Allocation | None = None
    reconciliation: Reconciliation | None = None
    true_up: TrueUp | None = None
    budgets: tuple[BudgetLine, ...] = ()
    excluded: int = 0

    @property
    def total(self) -> Decimal:
        return self.rollup.total

    @property
    def priced_records(self) -> int:
        return self.rollup.records

    @property
    def quarantined_records(self) -> int:
        return sum(self.quarantined.values())


def _day(p: PricedRecord | UsageRecord) -> date | None:
    rec = p.record if isinstance(p, PricedRecord) else p
    return rec.at.astimezone(UTC).date() if rec.at is not None else None


def run_audit(items: Iterable[Any], *, registry: Registry | None = None, contract: OwnershipContract | None = None,
              by: Sequence[str] = ("team",), period: str | None = None, since: date | None = None,
              until: date | None = None, invoices: Sequence[InvoiceLine] = (), policy: Policy | None = None,
              top: int = 10) -> AuditReport:
    """Run the whole flow over raw payloads (or ``Raw``/``Quarantined`` items from the readers).

    ``since``/``until`` keep calls whose UTC day is in ``[since, until]``
    (both inclusive); calls outside are counted in ``excluded``, and calls
    without a timestamp are kept. With a ``period``, the last two periods are
    compared (:func:`explain_change`) and anomalies flagged.

    >>> import attribution as at
    >>> event = {"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
    ...          "input_tokens": 18240, "output_tokens": 1642, "team_id": "support"}
    >>> report = run_audit([event, "junk"], by=("team",))
    >>> report.total, report.records_read, dict(report.quarantined)
    (Decimal('0.0099232'), 2, {'bad_type': 1})
    """
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    reg = registry or default_registry()
    c = contract or OwnershipContract()
    dims = tuple(by)
    quarantined: Counter[str] = Counter()
    examples: dict[str, list[Quarantined]] = {}
    priced: list[PricedRecord] = []
    unpriced: list[Quarantined] = []  # every pricing failure: evidence for reconciliation
    excluded = 0
    read = 0
    for item in price_many(normalize_many(items), reg):
        read += 1
        if isinstance(item, Quarantined):
            quarantined[item.code] += 1
            bucket = examples.setdefault(item.code, [])
            if len(bucket) < EXAMPLES_PER_REASON:
                bucket.append(item)
            if item.stage == "price":
                unpriced.append(item)
            continue
        day = _day(item)
        if day is not None and ((since and day < since) or (until and day > until)):
            excluded += 1
            continue
        priced.append(item)
    trees = build_forest(priced)
    calls = [p for p in apply_ownership(trees, attrs.evolve(c, on_missing="flag")) if isinstance(p, PricedRecord)]
    flags: Counter[str] = Counter(f for p in calls for f in p.flags)
    cov = coverage(trees, c)
    q_items = [q for qs in examples.values() for q in qs]
    main = rollup(calls, by=dims)
    periods = rollup(calls, by=(period, *dims)) if period else None
    changes: tuple[ChangeRow, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    if period and periods is not None:
        label = _getter(period, None)
        labels = sorted({k[0] for k in periods if k[0] is not None})
        if len(labels) >= 2:
            by_label: dict[str | None, list[PricedRecord]] = {}
            for p in calls:
                by_label.setdefault(label(p), []).append(p)
            changes = tuple(explain_change(by_label[labels[-2]], by_label[labels[-1]], by=dims))
            anomalies = tuple(find_anomalies([rollup(by_label[lab], by=dims) for lab in labels]))
    allocation = None
    if policy is not None:
        where_dims = [d for pool in policy.pools for d in (pool.where or {})]
        alloc_dims = tuple(dict.fromkeys((policy.owner, *where_dims)))
        used = {pool.invoice_line for pool in policy.pools if pool.invoice_line}
        amounts: dict[str, Decimal] = {}
        for line in invoices:  # a line id may repeat (a daily provisioned-capacity charge): add them up
            if line.line_id in used:
                amounts[line.line_id] = amounts.get(line.line_id, Decimal(0)) + line.amount
        allocation = apply_policy(rollup(calls, by=alloc_dims), policy, amounts=amounts)
    reconciliation = trued = None
    if invoices:
        usage_invoices = [line for line in invoices if not (policy and line.line_id and any(
            pool.invoice_line == line.line_id for pool in policy.pools))]
        evidence = [*unpriced, *(q for q in q_items if q.stage != "price")]
        reconciliation = reconcile([*trees, *evidence], usage_invoices, contract=c, registry=reg)
        if reconciliation.invoiced and (allocation is not None or dims):
            owner_view: Any = allocation if allocation is not None else rollup(calls, by=dims[:1])
            trued = true_up(owner_view, reconciliation)
    budgets: tuple[BudgetLine, ...] = ()
    if c.owner_map is not None and c.owner_map.budgets():
        days = [d for d in (_day(p) for p in calls) if d is not None]
        if days:
            budgets = tuple(budget_report(calls, c.owner_map, until or max(days)))
    top_trees = tuple(sorted(trees, key=lambda t: -t.units)[:top])
    return AuditReport(by=dims, required=c.required, period=period, since=since, until=until, currency=main.currency, records_read=read,
                       trees=len(trees), rollup=main, periods=periods, coverage=cov, quarantined=dict(quarantined),
                       quarantine_examples=tuple(q_items), flags=dict(flags), charges=tuple(charge_lines(calls, dims)),
                       top_trees=top_trees, changes=changes, anomalies=anomalies, allocation=allocation,
                       reconciliation=reconciliation, true_up=trued, budgets=budgets, excluded=excluded)
