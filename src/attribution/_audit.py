"""The audit: the whole flow in one pure function, for the CLI and for notebooks.

``run_audit`` normalizes, prices, builds request trees, applies the ownership
contract, rolls up, allocates shared pools, reconciles against invoices and
trues up, and returns one immutable :class:`AuditReport` that every report
writer (table, JSON, CSV, FOCUS, HTML, Parquet) renders. Nothing here prints
or writes files.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from . import _notebook
from ._allocate import Allocation, Policy, apply_policy, invoice_pool_amounts
from ._change import Anomaly, ChangeRow, explain_change, find_anomalies
from ._coverage import BudgetLine, Coverage, CoverageCounter, budget_lines, budget_spend
from ._fx import FxTable
from ._invoice import InvoiceLine
from ._money import exact, to_decimal
from ._names import PERIODS
from ._ownership import OwnershipContract, apply_ownership
from ._pricing import price_many
from ._reconcile import RecentIds, Reconciliation, TrueUp, add_cells, reconcile_cells, true_up
from ._records import PricedRecord, Quarantined, UsageRecord
from ._registry import Registry, default_registry
from ._rollup import Rollup, _getter, rollup
from ._tree import DEDUPE_LIMIT, DuplicateFilter, RequestTree, build_forest
from ._usage import ALL_BILLED, COMMON_BILLED
from .exceptions import AttributionError, CurrencyMismatch
from .normalize import normalize_many

__all__ = ["ENGINES", "PERIODS", "AuditReport", "ChargeCounter", "ChargeLine", "assemble_report", "charge_lines",
           "run_audit"]

UTC = timezone.utc
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
    #: The bundled card's (list) unit price when the line was priced by a user's card or a negotiated
    #: discount at another price; ``None`` when the list price is ``unit_price`` (or no bundled card knows it).
    list_unit_price: Decimal | None = None
    #: Owner tags of the calls beyond ``owner`` (:data:`OWNER_TAGS` and the contract's required fields), in
    #: :attr:`AuditReport.tagged_charges` only: the FOCUS export's ``Tags``. Empty in :attr:`AuditReport.charges`.
    tags: tuple[tuple[str, str], ...] = ()


#: The model view's dimensions: the provider and the model as priced (a fallback counts as the model that served it).
MODEL_DIMENSIONS = ("provider", "priced_model")

#: Tags that say who owns a call, carried into the FOCUS export's ``Tags`` whatever the report is grouped by.
OWNER_TAGS = ("team", "project", "feature", "workflow", "tenant", "environment", "application", "service",
              "cost_center", "budget_line", "owner")


def _list_prices(rec: UsageRecord, rate: Any) -> Any:
    """The bundled cards' price vector for a call a user's layer priced differently; ``None`` when the same.

    Only calls priced by a discount or by a card that is not bundled are
    looked up again (in :func:`~attribution.default_registry`), so plain
    bundled pricing pays nothing. A model no bundled card knows has no list
    price but its own.
    """
    if not any(n.startswith("discount ") for n in rate.notes) and rate.card_version in _bundled_versions():
        return None
    try:
        listed = default_registry()._rate_at(rate.provider, rate.model, rate.service_tier, rec.region, rec.at)
    except AttributionError:
        return None
    if rec.at is not None and listed.windows:
        listed = listed.at_time(rec.at)
    prices, _ = listed.prices_for(rec.usage, requests=rec.requests, long_context=rec.long_context)
    return prices


_BUNDLED: list[frozenset[str]] = []


def _bundled_versions() -> frozenset[str]:
    if not _BUNDLED:
        _BUNDLED.append(frozenset(c.card.version for c in default_registry().cards))
    return _BUNDLED[0]


class ChargeCounter:
    """Accumulates priced calls into :class:`ChargeLine` rows; memory grows with distinct lines, not calls."""

    def __init__(self, dims: Sequence[str], tag_dims: Sequence[str] = ()) -> None:
        self.dims = tuple(dims)
        self.tag_dims = tuple(dict.fromkeys(tag_dims))
        self._acc: dict[tuple[Any, ...], list[Any]] = {}

    def add(self, p: PricedRecord) -> None:
        rec, rate = p.record, p.rate
        prices, _ = rate.prices_for(rec.usage, requests=rec.requests, long_context=rec.long_context)
        day = rec.at.astimezone(UTC).date() if rec.at is not None else None
        rtags = rec.tags
        owner = tuple([(d, rtags.get(d)) for d in self.dims])
        listed = _list_prices(rec, rate)
        tags = tuple([(d, v) for d in self.tag_dims if (v := rtags.get(d)) is not None])
        usage = rec.usage
        for i, meter in ALL_BILLED if usage._rare else COMMON_BILLED:   # the others are 0 unless _rare
            n = getattr(usage, meter)
            if not n:
                continue
            list_price = listed[i] if listed is not None and listed[i] >= 0 and listed[i] != prices[i] else None
            key = (day, rate.provider, rate.model, meter, prices[i], rate.service_tier, rec.region,
                   rate.card_version, owner, list_price, tags)
            a = self._acc.get(key)
            if a is None:
                a = self._acc[key] = [0, 0, rate]
            a[0] += n
            a[1] += 1

    def lines(self) -> list[ChargeLine]:
        """The charge lines at the report's grain (owner = the ``by`` dimensions)."""
        merged: dict[tuple[Any, ...], list[Any]] = {}
        for key, (qty, records, rate) in self._acc.items():
            a = merged.get(key[:-1])
            if a is None:
                merged[key[:-1]] = [qty, records, rate]
            else:
                a[0] += qty
                a[1] += records
        return self._lines(((*k, ()), v) for k, v in merged.items())

    def tagged_lines(self) -> list[ChargeLine]:
        """The charge lines split by every owner tag too (``ChargeLine.tags``): the FOCUS export's grain."""
        return self._lines((k, v) for k, v in self._acc.items())

    @staticmethod
    def _lines(items: Iterable[tuple[tuple[Any, ...], list[Any]]]) -> list[ChargeLine]:
        out = []
        for (day, provider, model, meter, unit, tier, region, card, owner, listed, tags), (qty, records, rate) in \
                items:
            per = 1_000 if meter == "web_search" else 1_000_000
            out.append(ChargeLine(day=day, provider=provider, model=model, meter=meter, quantity=qty,
                                  unit_price=to_decimal(unit * per).normalize(), per=per,
                                  amount=to_decimal(qty * unit), currency=rate.currency, service_tier=tier,
                                  region=region, card_version=card, source=rate.source, owner=owner,
                                  records=records, tags=tags,
                                  list_unit_price=None if listed is None else to_decimal(listed * per).normalize()))
        out.sort(key=lambda c: (c.day or date.min, c.provider, c.model, c.meter, [str(v) for _, v in c.owner],
                                [f"{k}={v}" for k, v in c.tags]))
        return out


def charge_lines(priced: Iterable[PricedRecord], dims: Sequence[str]) -> list[ChargeLine]:
    """Aggregate priced calls into :class:`ChargeLine` rows (one pass, memory per distinct line).

    >>> import attribution as at
    >>> recs = [at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=500_000, output=10),
    ...                                 tags={"team": "search"})) for _ in range(2)]
    >>> [(c.meter, c.quantity, c.unit_price, c.amount) for c in charge_lines(recs, ("team",))]
    [('input', 1000000, Decimal('2'), Decimal('2.00')), ('output', 20, Decimal('8'), Decimal('0.00016'))]
    """
    counter = ChargeCounter(dims)
    for p in priced:
        counter.add(p)
    return counter.lines()


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
    duplicates_unchecked: int = 0
    dedupe_limit: int | None = None
    #: The charge lines split by every owner tag too (``ChargeLine.tags``); the FOCUS export's rows.
    tagged_charges: tuple[ChargeLine, ...] = ()
    #: Which engine computed the report: ``python`` or ``fast`` (the columnar engine, extra ``fast``).
    engine: str = "python"
    #: Why the fast engine was not used (``None`` when it was, or was not asked for).
    engine_note: str | None = None
    #: The priced calls by :data:`MODEL_DIMENSIONS` (provider, model as priced): the reports' model view.
    models: Rollup | None = None

    @property
    def total(self) -> Decimal:
        return self.rollup.total

    @property
    def duplicates(self) -> int:
        """Calls dropped as repeats of one provider call (the same as ``coverage.duplicates``).

        The records read always add up:
        ``records_read == priced_records + quarantined_records + duplicates + excluded``.
        ``duplicates_unchecked`` of the priced calls arrived after the duplicate
        check was full (``dedupe_limit`` calls remembered, streaming audits
        only): a later copy of one of them would have been counted twice.
        """
        return self.coverage.duplicates

    def accounting(self) -> str:
        """Where every record read went, as the reports print it; the parts add up to ``records_read``.

        >>> import attribution as at
        >>> event = {"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
        ...          "request_id": "r1", "input_tokens": 18240, "output_tokens": 1642}
        >>> at.run_audit([event, event, "junk"]).accounting()
        'Records read: 3 = 1 priced + 1 quarantined + 1 duplicates'
        """
        text = (f"Records read: {self.records_read:,} = {self.priced_records:,} priced + "
                f"{self.quarantined_records:,} quarantined"
                + (f" + {self.duplicates:,} duplicates" if self.duplicates else "")
                + (f" + {self.excluded:,} outside the date window" if self.excluded else ""))
        if self.duplicates_unchecked:
            text += (f" ({self.duplicates_unchecked:,} priced records arrived after the duplicate check was full "
                     f"at {self.dedupe_limit:,} calls and were not checked against later ones)")
        return text

    def engine_line(self) -> str:
        """Which engine computed the report, as the writers print it.

        >>> import attribution as at
        >>> at.run_audit([]).engine_line()
        'Engine: python'
        """
        name = "fast (columnar, DuckDB)" if self.engine == "fast" else self.engine
        return f"Engine: {name}" + (f" (fast engine not used: {self.engine_note})" if self.engine_note else "")

    @property
    def priced_records(self) -> int:
        return self.rollup.records

    @property
    def quarantined_records(self) -> int:
        return sum(self.quarantined.values())

    # -- notebooks ---------------------------------------------------------------

    def __repr__(self) -> str:
        """One line (the whole report is in its tables): records, total, coverage, invoice lines."""
        return _notebook.audit_repr(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: KPI lines and the first rows of each table, every value escaped, size bounded."""
        return _notebook.audit_html(self)

    def to_pandas(self, table: str = "charges") -> Any:
        """One table of the audit as a ``pandas.DataFrame`` (extra ``pandas``); money is an exact Arrow decimal.

        ``table`` is one of ``charges`` (the charge lines), ``rollup``,
        ``periods``, ``allocation``, ``coverage`` (unowned spend by reason and
        source), ``reconciliation``, ``true_up`` or ``budgets``.
        """
        return _notebook.to_pandas(_notebook.audit_table(self, table), f"AuditReport.to_pandas({table!r})")

    def to_arrow(self, table: str = "charges") -> Any:
        """One table of the audit as a ``pyarrow.Table`` (extra ``arrow``); money is ``decimal128(38, 15)``."""
        return _notebook.to_arrow(_notebook.audit_table(self, table), f"AuditReport.to_arrow({table!r})")


def _day(p: PricedRecord | UsageRecord) -> date | None:
    rec = p.record if isinstance(p, PricedRecord) else p
    return rec.at.astimezone(UTC).date() if rec.at is not None else None


def _chunks(items: Iterable[PricedRecord | Quarantined], size: int | None) -> Iterator[list[Any]]:
    if size is None:
        yield list(items)
        return
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _merge(total: Rollup | None, part: Rollup) -> Rollup:
    return part if total is None else total + part


@contextmanager
def _rare_gc() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while the audit holds many small objects.

    The audit allocates millions of records, rates and tags that live until it
    ends; each collection walks all of them, so with the default thresholds
    (700, 10, 10) collecting was about a third of an audit's time. They form
    no reference cycles to speak of (a 200k-call audit peaks at the same RSS
    with the collector off), so collecting less often keeps memory flat. The thresholds are restored
    afterwards (also on errors), by the last of several audits running at once in threads.
    """
    with _GC_LOCK:
        _GC_STATE[0] += 1
        if _GC_STATE[0] == 1:   # the first audit running saves the caller's thresholds, the last restores them
            old = gc.get_threshold()
            _GC_SAVED[:] = old
            gc.set_threshold(max(old[0], 100_000), max(old[1], 50), max(old[2], 1_000))
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_STATE[0] -= 1
            if _GC_STATE[0] == 0:
                gc.set_threshold(*_GC_SAVED)


#: Audits running now (threads) and the thresholds to restore when the last one ends.
_GC_LOCK = threading.Lock()
_GC_STATE = [0]
_GC_SAVED: list[int] = []


#: Pricing failures kept as reconciliation evidence (counts are always exact; this bounds memory).
MAX_EVIDENCE = 10_000


@exact
def run_audit(items: Iterable[Any], *, registry: Registry | None = None, contract: OwnershipContract | None = None,
              by: Sequence[str] = ("team",), period: str | None = None, since: date | None = None,
              until: date | None = None, invoices: Sequence[InvoiceLine] = (), policy: Policy | None = None,
              top: int = 10, chunk_size: int | None = None,
              dedupe_limit: int | None = DEDUPE_LIMIT, fx: FxTable | None = None, engine: str = "auto") -> AuditReport:
    """Run the whole flow over raw payloads (or ``Raw``/``Quarantined`` items from the readers).

    ``since``/``until`` keep calls whose UTC day is in ``[since, until]``
    (both inclusive); calls outside are counted in ``excluded``, and calls
    without a timestamp are kept. With a ``period``, anomalies are flagged
    and the last two periods are compared (:func:`explain_change`).

    ``chunk_size=None`` (the default) holds every priced call in memory, so
    request trees, duplicates and owner inheritance are exact across the
    whole input. ``chunk_size=N`` streams: calls are processed N at a time
    and only aggregates are kept (rollups, coverage counters, charge lines,
    reconciliation cells), so memory does not grow with the input; trees are
    then resolved within each chunk (a trace split across two chunks becomes
    two trees), and the period-over-period decomposition, which needs every
    call, is skipped.

    Duplicates (the same provider call logged twice, see
    :func:`~attribution.duplicate_key`) are found across the whole stream
    before chunking, so a streaming audit has the in-memory totals. It
    remembers up to ``dedupe_limit`` distinct calls (8 bytes each; ``None``:
    no limit; the in-memory audit never limits); calls past the limit are
    counted in ``duplicates_unchecked`` and every report says so.

    Money of two currencies is never summed: invoice totals are kept per
    currency, and an invoice line, pool or budget in another currency than
    the priced usage is converted only with ``fx`` (an
    :class:`~attribution.FxTable` of dated rates, see :func:`~attribution.load_fx`),
    showing the rate used; without a rate a pool or budget raises
    :class:`~attribution.exceptions.CurrencyMismatch` and the true-up is left out.

    >>> import attribution as at
    >>> event = {"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
    ...          "input_tokens": 18240, "output_tokens": 1642, "team_id": "support"}
    >>> report = run_audit([event, "junk"], by=("team",))
    >>> report.total, report.records_read, dict(report.quarantined)
    (Decimal('0.0099232'), 2, {'bad_type': 1})

    ``items`` may also be input files (a path, or a list of ``pathlib.Path``):
    ``.jsonl``/``.ndjson``, ``.json``, ``.csv`` or ``.parquet``. ``engine``
    picks who reads them: ``python`` (this function, record by record),
    ``fast`` (the columnar engine of the ``fast`` extra, see
    :mod:`attribution._fast`; it raises :class:`~attribution.exceptions.MissingDependency`
    without DuckDB) or ``auto`` (the default: the fast engine when it is
    installed and the input is files, else Python). The fast engine hands
    every record it cannot read exactly as this function would to this
    function, or the whole input when such a record could change the rest,
    so the report is the same whichever engine ran; ``report.engine`` says
    which one did, and ``report.engine_note`` why the fast engine was not used.
    """
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    reg = registry or default_registry()
    c = contract or OwnershipContract()
    engine_note: str | None = None
    paths = _input_paths(items)
    if paths is not None:
        if engine != "python":
            from ._fast import try_fast_audit

            fast = try_fast_audit(paths, registry=reg, contract=c, by=by, period=period, since=since, until=until,
                                  invoices=invoices, policy=policy, top=top, chunk_size=chunk_size, fx=fx,
                                  required=engine == "fast")
            if isinstance(fast, AuditReport):
                return fast
            engine_note = fast
        items = _read_paths(paths)
    elif engine == "fast":
        raise ValueError("engine='fast' reads input files: pass a path or a list of pathlib.Path")
    flag_only = attrs.evolve(c, on_missing="flag")
    dims = tuple(by)
    alloc_dims: tuple[str, ...] = ()
    if policy is not None:
        where_dims = [d for pool in policy.pools for d in (pool.where or {})]
        alloc_dims = tuple(dict.fromkeys((policy.owner, *where_dims)))

    quarantined: Counter[str] = Counter()
    examples: dict[str, list[Quarantined]] = {}
    unpriced: list[Quarantined] = []  # pricing failures: evidence for reconciliation
    flags: Counter[str] = Counter()
    cov = CoverageCounter(c)
    charges = ChargeCounter(dims, tag_dims=(*dims, *OWNER_TAGS, *c.required))
    cells: dict[Any, Any] = {}
    recent = RecentIds()
    seen = DuplicateFilter(limit=dedupe_limit if chunk_size is not None else None)
    spend: Counter[tuple[str, date, str]] = Counter()
    main = periods = alloc_rollup = owner_rollup = models = None
    top_trees: list[RequestTree] = []
    all_calls: list[PricedRecord] = []
    excluded = read = trees_count = 0
    last_day: date | None = None

    with _rare_gc():   # every call is held until the report is built: collecting walks them all
        for chunk in _chunks(price_many(normalize_many(items), reg), chunk_size):
            priced: list[PricedRecord] = []
            for item in chunk:
                read += 1
                if isinstance(item, Quarantined):
                    quarantined[item.code] += 1
                    bucket = examples.setdefault(item.code, [])
                    if len(bucket) < EXAMPLES_PER_REASON:
                        bucket.append(item)
                    if item.stage == "price" and len(unpriced) < MAX_EVIDENCE:
                        unpriced.append(item)
                    continue
                day = _day(item)
                if day is not None and ((since and day < since) or (until and day > until)):
                    excluded += 1
                    continue
                if seen.is_repeat(item):
                    continue
                priced.append(item)
            del chunk
            trees = build_forest(priced)
            del priced
            trees_count += len(trees)
            for tree in trees:
                cov.add_tree(tree)
            top_trees = sorted([*top_trees, *trees], key=lambda t: -t.units)[:top]
            calls = [p for p in apply_ownership(trees, flag_only) if isinstance(p, PricedRecord)]
            del trees
            for p in calls:
                if p.flags:
                    flags.update(p.flags)
                cov.add(p)
                charges.add(p)
                budget_spend(spend, p)
                day = _day(p)
                if day is not None and (last_day is None or day > last_day):
                    last_day = day
            add_cells(cells, calls, c, recent)
            main = _merge(main, rollup(calls, by=dims))
            if period:
                periods = _merge(periods, rollup(calls, by=(period, *dims)))
            if policy is not None:
                alloc_rollup = _merge(alloc_rollup, rollup(calls, by=alloc_dims))
            if dims:
                owner_rollup = _merge(owner_rollup, rollup(calls, by=dims[:1]))
            models = _merge(models, rollup(calls, by=MODEL_DIMENSIONS))
            if chunk_size is None:
                all_calls = calls

        cov.duplicates += seen.duplicates  # found before the trees were built, so not in tree.duplicates
        cov.dup_units += seen.duplicate_units
        return assemble_report(
            dims=dims, contract=c, registry=reg, period=period, since=since, until=until, invoices=invoices,
            policy=policy, fx=fx, main=main, periods=periods, alloc_rollup=alloc_rollup, alloc_dims=alloc_dims,
            owner_rollup=owner_rollup, coverage=cov, charges=charges, cells=cells, spend=spend, flags=flags,
            quarantined=quarantined, examples=examples, unpriced=unpriced, last_day=last_day, records_read=read,
            trees=trees_count, top_trees=top_trees, excluded=excluded, duplicates_unchecked=seen.unchecked,
            dedupe_limit=seen.limit, all_calls=all_calls if chunk_size is None else None, engine="python",
            engine_note=engine_note, models=models)


def assemble_report(*, dims: tuple[str, ...], contract: OwnershipContract, registry: Registry, period: str | None,
                    since: date | None, until: date | None, invoices: Sequence[InvoiceLine], policy: Policy | None,
                    fx: FxTable | None, main: Rollup | None, periods: Rollup | None, alloc_rollup: Rollup | None,
                    alloc_dims: tuple[str, ...], owner_rollup: Rollup | None, coverage: CoverageCounter,
                    charges: ChargeCounter, cells: dict[Any, Any], spend: Counter[tuple[str, date, str]],
                    flags: Mapping[str, int], quarantined: Mapping[str, int],
                    examples: Mapping[str, list[Quarantined]], unpriced: Sequence[Quarantined],
                    last_day: date | None, records_read: int, trees: int, top_trees: Sequence[RequestTree],
                    excluded: int, duplicates_unchecked: int, dedupe_limit: int | None,
                    all_calls: Sequence[PricedRecord] | None, engine: str, engine_note: str | None = None,
                    changes: tuple[ChangeRow, ...] | None = None, models: Rollup | None = None) -> AuditReport:
    """The report from the audit's aggregates: what either engine (Python or the fast one) hands over.

    Allocation, reconciliation, true-up, budgets and the period comparison are
    computed here from the rollups, coverage counter, charge lines and
    reconciliation cells, so both engines share them. ``all_calls`` (every
    priced call, for :func:`explain_change`) may be ``None`` when ``changes``
    is given or not wanted. ``models`` is the rollup by :data:`MODEL_DIMENSIONS`.
    """
    c, reg, cov = contract, registry, coverage
    read, trees_count = records_read, trees
    main = main if main is not None else Rollup(dims)
    q_items = [q for qs in examples.values() for q in qs]
    given_changes = changes
    changes = ()
    anomalies: tuple[Anomaly, ...] = ()
    if period and periods is not None:
        per_label = periods.split()
        labels = sorted(k for k in per_label if k is not None)
        if len(labels) >= 2:
            anomalies = tuple(find_anomalies([per_label[lab] for lab in labels]))
            if given_changes is not None:
                changes = given_changes
            elif all_calls is not None:
                label = _getter(period, None)
                by_label: dict[str | None, list[PricedRecord]] = {}
                for p in all_calls:
                    by_label.setdefault(label(p), []).append(p)
                changes = tuple(explain_change(by_label[labels[-2]], by_label[labels[-1]], by=dims))
    allocation = None
    if policy is not None:
        pooled = alloc_rollup if alloc_rollup is not None else Rollup(alloc_dims)
        # A line id may repeat (a daily provisioned-capacity charge): its lines are added, in the spend's currency.
        amounts, pool_fx = invoice_pool_amounts(invoices, policy, currency=pooled.currency or policy.currency, fx=fx)
        allocation = apply_policy(pooled, policy, amounts=amounts, fx=pool_fx)
    reconciliation = trued = None
    if invoices:
        usage_invoices = [line for line in invoices if not (policy and line.line_id and any(
            pool.invoice_line == line.line_id for pool in policy.pools))]
        evidence = [*unpriced, *(q for q in q_items if q.stage != "price")]
        reconciliation = reconcile_cells(cells, evidence, usage_invoices, registry=reg, fx=fx)
        if allocation is not None or owner_rollup is not None:
            owner_view: Any = allocation if allocation is not None else owner_rollup
            in_currency = reconciliation.totals.get(owner_view.currency or reconciliation.currency or "")
            if in_currency is not None and in_currency.invoiced:
                try:
                    trued = true_up(owner_view, reconciliation)
                except CurrencyMismatch:  # lines in other currencies, no rate: shown per currency, never spread
                    trued = None
    budgets: tuple[BudgetLine, ...] = ()
    if c.owner_map is not None and c.owner_map.budgets() and last_day is not None:
        budgets = tuple(budget_lines(spend, c.owner_map, until or last_day, fx=fx))
    return AuditReport(by=dims, required=c.required, period=period, since=since, until=until, currency=main.currency,
                       records_read=read, trees=trees_count, rollup=main, periods=periods,
                       coverage=cov.result(), quarantined=dict(quarantined), quarantine_examples=tuple(q_items),
                       flags=dict(flags), charges=tuple(charges.lines()),
                       tagged_charges=tuple(charges.tagged_lines()), top_trees=tuple(top_trees), changes=changes,
                       anomalies=anomalies, allocation=allocation, reconciliation=reconciliation, true_up=trued,
                       budgets=budgets, excluded=excluded, duplicates_unchecked=duplicates_unchecked,
                       dedupe_limit=dedupe_limit, engine=engine, engine_note=engine_note,
                       models=models if models is not None else Rollup(MODEL_DIMENSIONS))


#: The engines ``run_audit(engine=...)`` and ``attribution audit --engine`` accept.
ENGINES = ("auto", "python", "fast")


def _input_paths(items: Any) -> list[Path] | None:
    """``items`` as input files (a ``str``/``PathLike``, or a list/tuple of ``PathLike``), else ``None``."""
    if isinstance(items, (str, os.PathLike)):
        return [Path(items)]
    if isinstance(items, (list, tuple)) and items and all(isinstance(i, os.PathLike) for i in items):
        return [Path(i) for i in items]
    return None


def _read_paths(paths: Sequence[Path]) -> Iterator[Any]:
    from .io import read_payloads

    for p in paths:
        yield from read_payloads(p)
