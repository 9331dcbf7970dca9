"""Reconciliation: every invoice cent matched, explained, or flagged.

Attribution that does not tie back to the provider bill is a guess (seed 000).
:func:`reconcile` compares attributed usage with the provider's invoice lines
and puts every invoice cent in exactly one bucket:

* **usage lines** split into ``attributed`` (priced usage with a valid owner),
  ``unowned`` (priced usage that matched the line but has no valid owner) and
  ``variance`` (invoiced minus priced: what the usage data does not explain;
  negative when the usage data prices *more* than was billed);
* **other charges** (tax, credits, discounts, fees, commitments) are kept
  apart by category and never netted into usage silently.

Each priced call is split by meter and matched to the **most specific**
invoice line that covers it (same provider, the call's UTC day inside the
line's period, and the line's model, meter, project and service tier when the
line names them), so overlapping lines never count a call twice. Usage that
matches no line is reported as ``unmatched``.

For each line outside the tolerance, :func:`reconcile` lists the likely
causes it can see in the evidence: records that could not be priced, meters
the invoice bills but the usage never reports (missing cache token types are
the most common gap), a unit price that matches another meter, tier or
price period (cache writes billed at the 1-hour rate, batch vs standard, a
stale card), currencies that differ (FX), usage data that stops before the
period ends (late data), and duplicate request ids in the input.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

import attrs

from . import _notebook
from ._allocate import Allocation, allocate
from ._cards import per_unit
from ._fx import FxRate, FxTable
from ._invoice import InvoiceLine
from ._money import exact, from_decimal, present, ratio, to_decimal
from ._ownership import OwnershipContract, apply_ownership
from ._records import PricedRecord, Quarantined, UsageRecord
from ._registry import Rate, Registry, canonical_provider, canonical_tier, default_registry
from ._rollup import Rollup
from ._tree import RequestTree, attempt_key
from ._usage import ALL_BILLED, BILLED_METERS, COMMON_BILLED
from .exceptions import AttributionError, CurrencyMismatch, PolicyError

__all__ = ["DEFAULT_TOLERANCE", "Cause", "CurrencyTotals", "ReconciledLine", "Reconciliation", "UnmatchedUsage", "reconcile"]

UTC = timezone.utc
#: A line matches when |variance| <= 2% of its invoiced amount.
DEFAULT_TOLERANCE = Decimal("0.02")
#: Variances smaller than half a cent are export rounding, not evidence of anything.
_MATERIAL = Decimal("0.005")
_PRICING_CODES = frozenset({"unknown_model", "price_not_in_force", "unknown_service_tier", "unpriced_meter",
                            "pricing_error", "unknown_provider"})
_CACHE_TTL = {"cache_write": "cache_write_1h", "cache_write_1h": "cache_write"}


@attrs.frozen(kw_only=True)
class Cause:
    """A likely cause of a variance, with the evidence behind it."""

    code: str
    message: str
    amount: Decimal | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@attrs.frozen(kw_only=True)
class ReconciledLine:
    """One invoice line against the usage matched to it. ``attributed + unowned + variance == invoiced``.

    Every amount is in :attr:`currency`: the line's own currency, or, when the
    line was converted with an FX table to the currency of the usage it covers,
    that currency (``fx`` is the rate used, ``line.amount`` the amount as billed).
    ``unconverted`` is priced usage this line covers in other currencies that
    no rate converts: it is never compared with, or added to, the line.
    """

    line: InvoiceLine
    priced: Decimal
    attributed: Decimal
    records: int
    tolerance: Decimal
    causes: tuple[Cause, ...] = ()
    fx: FxRate | None = None
    unconverted: Mapping[str, Decimal] = attrs.field(factory=dict)

    @property
    def currency(self) -> str:
        """The currency every amount of this row is in."""
        return self.fx.target if self.fx is not None else self.line.currency

    @property
    @exact
    def invoiced(self) -> Decimal:
        """The line's amount, in :attr:`currency` (converted at ``fx`` when there is one)."""
        return self.fx.convert(self.line.amount) if self.fx is not None else self.line.amount

    @property
    @exact
    def unowned(self) -> Decimal:
        """Priced usage matched to this line that has no valid owner."""
        return self.priced - self.attributed

    @property
    @exact
    def variance(self) -> Decimal:
        """Invoiced minus priced: what the usage data does not explain."""
        return self.invoiced - self.priced

    @property
    def relative_variance(self) -> Decimal | None:
        if not self.invoiced:
            return None
        return ratio(self.variance, self.invoiced)

    @property
    def matched(self) -> bool:
        """Within tolerance: ``|variance| <= tolerance x |invoiced|`` (an empty line must have no usage)."""
        return abs(self.variance) <= self.tolerance * abs(self.invoiced)


@attrs.frozen(kw_only=True)
class UnmatchedUsage:
    """Priced usage that no invoice line covers."""

    provider: str
    model: str
    meter: str
    day: date | None
    cost: Decimal
    records: int
    currency: str | None = None


@attrs.frozen(kw_only=True)
class CurrencyTotals:
    """The reconciliation totals of one currency: nothing in here was ever added to another currency."""

    currency: str
    lines: tuple[ReconciledLine, ...] = ()
    other_charges: tuple[InvoiceLine, ...] = ()
    unmatched: tuple[UnmatchedUsage, ...] = ()

    @property
    @exact
    def invoiced(self) -> Decimal:
        """Usage invoiced (tax, credits and fees are in ``other_charges``)."""
        return sum((r.invoiced for r in self.lines), Decimal(0))

    @property
    @exact
    def priced(self) -> Decimal:
        """Priced usage matched to invoice lines."""
        return sum((r.priced for r in self.lines), Decimal(0))

    @property
    @exact
    def attributed(self) -> Decimal:
        """Priced usage with a valid owner, matched to invoice lines."""
        return sum((r.attributed for r in self.lines), Decimal(0))

    @property
    @exact
    def unattributed(self) -> Decimal:
        """Invoiced usage without a valid owner: ``invoiced - attributed``."""
        return self.invoiced - self.attributed

    @property
    @exact
    def variance(self) -> Decimal:
        """``invoiced - priced``: what the usage data does not explain."""
        return self.invoiced - self.priced

    @property
    @exact
    def coverage(self) -> Decimal:
        """``attributed / invoiced`` (0 to 1, six decimals)."""
        if not self.invoiced:
            return Decimal(1) if not self.attributed else Decimal(0)
        return ratio(self.attributed, self.invoiced)

    @property
    @exact
    def unmatched_cost(self) -> Decimal:
        return sum((u.cost for u in self.unmatched), Decimal(0))

    @property
    @exact
    def other_total(self) -> dict[str, Decimal]:
        """Non-usage charges by category (credits and discounts are negative)."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for line in self.other_charges:
            out[line.charge_category] += line.amount
        return dict(out)


def _what(line: InvoiceLine) -> str:
    """A short name for an invoice line in messages."""
    name = line.line_id or " ".join(v for v in (line.provider, line.model or line.sku, line.meter,
                                                 line.charge_category if line.charge_category != "usage" else None)
                                    if v)
    where = f" ({line.source.file}:{line.source.line})" if line.source is not None and line.source.file else ""
    return f"invoice line {name!r}{where}"


@attrs.frozen(kw_only=True)
class Reconciliation:
    """The result of :func:`reconcile`; see the module docstring for the buckets.

    Totals are kept **per currency** (:attr:`totals`); the scalar totals
    (``invoiced``, ``variance``...) exist only when there is one currency and
    raise :class:`~attribution.exceptions.CurrencyMismatch` otherwise.
    """

    currency: str | None
    lines: tuple[ReconciledLine, ...]
    other_charges: tuple[InvoiceLine, ...]
    unmatched: tuple[UnmatchedUsage, ...]
    quarantined: Mapping[str, int]
    tolerance: Decimal
    #: Lines of a whole-cloud export that are not AI services (``charge_category == "out_of_scope"``):
    #: shown with their row counts and amounts, never part of any total above.
    out_of_scope: tuple[InvoiceLine, ...] = ()

    @property
    def totals(self) -> dict[str, CurrencyTotals]:
        """One :class:`CurrencyTotals` per currency, in code order (usage lines, other charges, unmatched usage)."""
        found: dict[str, tuple[list[ReconciledLine], list[InvoiceLine], list[UnmatchedUsage]]] = {}
        for r in self.lines:
            found.setdefault(r.currency, ([], [], []))[0].append(r)
        for line in self.other_charges:
            found.setdefault(line.currency, ([], [], []))[1].append(line)
        for u in self.unmatched:
            found.setdefault(u.currency or self.currency or "", ([], [], []))[2].append(u)
        return {c: CurrencyTotals(currency=c, lines=tuple(a), other_charges=tuple(b), unmatched=tuple(u))
                for c, (a, b, u) in sorted(found.items())}

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(self.totals)

    def by_currency(self) -> dict[str, Reconciliation]:
        """One single-currency :class:`Reconciliation` per currency (what a report shows side by side)."""
        return {cur: attrs.evolve(self, currency=cur, lines=t.lines, other_charges=t.other_charges,
                                  unmatched=t.unmatched) for cur, t in self.totals.items()}

    @property
    def unconverted(self) -> dict[str, Decimal]:
        """Priced usage covered by lines of another currency that no FX rate converted, per currency."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for r in self.lines:
            for cur, amount in r.unconverted.items():
                out[cur] += amount
        return dict(out)

    def _only(self, what: str) -> CurrencyTotals:
        totals = self.totals
        if len(totals) > 1:
            a, b = list(totals)[:2]
            raise CurrencyMismatch(a, b, f"the reconciliation's {what} ({self._source(a)} is in {a}, "
                                         f"{self._source(b)} in {b}); read .totals for one sum per currency")
        return next(iter(totals.values()), CurrencyTotals(currency=self.currency or ""))

    def _source(self, currency: str) -> str:
        for r in self.lines:
            if r.currency == currency:
                return _what(r.line)
        for line in self.other_charges:
            if line.currency == currency:
                return _what(line)
        return f"usage priced in {currency}"

    @property
    def invoiced(self) -> Decimal:
        """Usage invoiced (tax, credits and fees are in ``other_charges``); one currency only."""
        return self._only("invoiced usage").invoiced

    @property
    def priced(self) -> Decimal:
        """Priced usage matched to invoice lines; one currency only."""
        return self._only("priced usage").priced

    @property
    def attributed(self) -> Decimal:
        """Priced usage with a valid owner, matched to invoice lines; one currency only."""
        return self._only("attributed usage").attributed

    @property
    def unattributed(self) -> Decimal:
        """Invoiced usage without a valid owner: ``invoiced - attributed``; one currency only."""
        return self._only("unattributed usage").unattributed

    @property
    def variance(self) -> Decimal:
        """``invoiced - priced``: what the usage data does not explain; one currency only."""
        return self._only("variance").variance

    @property
    def coverage(self) -> Decimal:
        """``attributed / invoiced`` (0 to 1, six decimals); one currency only."""
        return self._only("coverage").coverage

    @property
    def unmatched_cost(self) -> Decimal:
        return self._only("unmatched usage").unmatched_cost

    @property
    def other_total(self) -> dict[str, Decimal]:
        """Non-usage charges by category (credits and discounts are negative); one currency only."""
        return self._only("other charges").other_total

    @property
    def passed(self) -> bool:
        """Every usage line within tolerance, no priced usage left unmatched, nothing left unconverted."""
        return all(r.matched and not r.unconverted for r in self.lines) and not self.unmatched

    def summary(self) -> str:
        lines = []
        for cur, t in self.totals.items():
            if t.lines:
                outside = sum(1 for r in t.lines if not r.matched)
                lines.append(
                    f"Invoiced usage {present(t.invoiced)} {cur}: attributed {present(t.attributed)} {cur} "
                    f"(coverage {present(t.coverage * 100, Decimal('0.1'))}%), unattributed "
                    f"{present(t.unattributed)} {cur}")
                lines.append(
                    f"Priced usage matched {present(t.priced)} {cur}; variance {present(t.variance)} {cur} "
                    f"({outside} of {len(t.lines)} lines outside {present(self.tolerance * 100, Decimal('0.1'))}%)")
            if t.unmatched:
                lines.append(f"Priced usage with no invoice line: {present(t.unmatched_cost)} {cur}")
            for category, amount in sorted(t.other_total.items()):
                lines.append(f"Other charges, {category}: {present(amount)} {cur}")
        lines.extend(f"Converted {_what(r.line)}: {r.line.amount:f} {r.line.currency} at {r.fx} "
                     f"= {present(r.invoiced)} {r.currency}" for r in self.lines if r.fx is not None)
        for cur, amount in sorted(self.unconverted.items()):
            lines.append(f"Priced usage in {cur} covered by invoice lines in another currency, not compared "
                         f"(no FX rate): {present(amount)} {cur}")
        if len(self.totals) > 1:
            lines.append("Currencies are reported separately and never summed; pass an FX table to convert")
        lines.extend(out_of_scope_summary(self.out_of_scope))
        unreadable = {k: v for k, v in self.quarantined.items() if k not in _PRICING_CODES}
        if unreadable:
            lines.append("Records that could not be read or normalized (provider unknown, so not on any line): "
                         + ", ".join(f"{k} x{v}" for k, v in sorted(unreadable.items())))
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        """One plain row per invoice line, for JSON or CSV; amounts are in the row's ``currency``."""
        rows = []
        for r in self.lines:
            line = r.line
            rows.append({
                "provider": line.provider, "period_start": line.period_start.isoformat(),
                "period_end": line.period_end.isoformat(), "model": line.model, "meter": line.meter,
                "project": line.project, "currency": r.currency, "invoiced": r.invoiced, "priced": r.priced,
                "attributed": r.attributed, "unowned": r.unowned, "variance": r.variance,
                "relative_variance": r.relative_variance, "matched": r.matched,
                "causes": [str(c) for c in r.causes],
                **({"billed_amount": line.amount, "billed_currency": line.currency, "fx_rate": r.fx.rate,
                    "fx_date": r.fx.date.isoformat()} if r.fx is not None else {}),
                **({"unconverted": dict(r.unconverted)} if r.unconverted else {}),
            })
        return rows

    def __repr__(self) -> str:
        """One line per reconciliation (the lines themselves are in :meth:`to_records`)."""
        totals = "; ".join(f"{cur} invoiced {t.invoiced:f} priced {t.priced:f} variance {t.variance:f}"
                           for cur, t in self.totals.items())
        return (f"<Reconciliation {len(self.lines)} invoice lines, {len(self.other_charges)} other charges, "
                f"{len(self.unmatched)} unmatched usage groups; {totals or 'nothing invoiced'}; "
                f"{'passed' if self.passed else 'not passed'}>")

    def _repr_html_(self) -> str:
        """Jupyter's view: the summary and one row per invoice line, every value escaped."""
        return _notebook.html(_notebook.reconciliation_table(self))

    def to_pandas(self) -> Any:
        """:meth:`to_records` as a ``pandas.DataFrame``; money holds exact ``Decimal`` objects (extra ``pandas``)."""
        return _notebook.to_pandas(_notebook.reconciliation_table(self), "Reconciliation.to_pandas()")

    def to_arrow(self) -> Any:
        """:meth:`to_records` as a ``pyarrow.Table``; money is ``decimal128(38, 15)`` (extra ``arrow``)."""
        return _notebook.to_arrow(_notebook.reconciliation_table(self), "Reconciliation.to_arrow()")


# -- matching ----------------------------------------------------------------------------


class _Cell(NamedTuple):
    """Usage aggregated to the finest grain an invoice line can name (a tuple: built per call and meter)."""

    provider: str
    day: date | None
    model: str          # the card id that priced it
    names: frozenset[str]  # lowercase names of the billed model (as logged, card id, family)
    meter: str
    projects: frozenset[str]  # the call's project-like tag values (project, workspace, account...)
    tier: str
    region: str | None
    currency: str
    owned: bool


class RecentIds:
    """The provider attempts seen lately, to spot one logged twice; memory stays flat.

    Keys are :func:`~attribution._tree.attempt_key` values (canonical
    provider, request id, attempt, outcome: a retry sharing its request id
    with the first attempt is not a repeat, ``azure_openai`` and ``azure`` are
    one provider). Two generations of at most ``limit`` ids each (as hashes): when the current
    one fills up it becomes the previous one and the oldest generation is
    dropped. A repeat is therefore always found when the two copies are fewer
    than ``limit`` calls apart (a gateway and an SDK logging the same call, a
    retried upload), and the memory is about ``2 * limit`` ids however long the
    stream. The audit removes exact repeats of a call over the whole stream
    before it builds cells (:class:`~attribution.DuplicateFilter`), so what is
    left here are copies of one attempt that disagree on what was billed.
    """

    __slots__ = ("_current", "_previous", "limit")

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def seen(self, key: Hashable) -> bool:
        """Whether ``key`` (an attempt key or a request id) was seen lately; remembers it either way."""
        h = hash(key)  # in-process only, so the per-process salt does not matter
        if h in self._current or h in self._previous:
            return True
        if len(self._current) >= self.limit:
            self._previous, self._current = self._current, set()
        self._current.add(h)
        return False


class _Acc:
    __slots__ = ("rate", "records", "repeats", "tokens", "units")

    def __init__(self, rate: Rate) -> None:
        self.units = 0
        self.tokens = 0
        self.records = 0
        self.repeats = 0   # calls whose provider attempt was seen shortly before (see RecentIds)
        self.rate = rate


def _day(at: datetime | None) -> date | None:
    return at.astimezone(UTC).date() if at is not None else None


def add_cells(cells: dict[_Cell, _Acc], calls: Iterable[PricedRecord], contract: OwnershipContract,
              recent: RecentIds | None = None) -> None:
    """Aggregate priced calls into reconciliation cells (day, model, meter, project, tier...), in place.

    Cells from chunks of a stream add up to the cells of the whole stream; pass
    the same ``recent`` to every chunk so repeats across chunks are seen.
    """
    recent = recent if recent is not None else RecentIds()
    known_names: dict[tuple[str, str], frozenset[str]] = {}
    for p in calls:
        rec, rate = p.record, p.rate
        prices, _ = rate.prices_for(rec.usage, requests=rec.requests, long_context=rec.long_context)
        # The invoice bills the model that served the call: never the requested one (fallbacks differ).
        names = known_names.get((rate.model, rec.billed_model))
        if names is None:
            names = known_names[(rate.model, rec.billed_model)] = frozenset(
                {rate.model.lower(), rec.billed_model.lower(), "~" + _family(rate.model)})
        owned = contract.is_owned(p)
        day = _day(rec.at)
        projects = frozenset(v for k in _PROJECT_TAGS if (v := rec.tags.get(k)))
        attempt = attempt_key(p)
        repeat = recent.seen(attempt) if attempt is not None else False
        usage = rec.usage
        for i, meter in ALL_BILLED if usage._rare else COMMON_BILLED:   # the others are 0 unless _rare
            n = getattr(usage, meter)
            if not n:
                continue
            # A plain tuple equals (and hashes as) the _Cell of the same fields: the NamedTuple is built once per cell.
            key = (rate.provider, day, rate.model, names, meter, projects, rate.service_tier, rec.region,
                   rate.currency, owned)
            acc = cells.get(key)  # type: ignore[call-overload]
            if acc is None:
                acc = cells[_Cell(*key)] = _Acc(rate)
            acc.units += n * prices[i]
            acc.tokens += n
            acc.records += 1
            if repeat:
                acc.repeats += 1


_VENDOR = re.compile(r"^(?:[a-z-]+\.)?(?:anthropic|meta|amazon|mistral|cohere|deepseek|openai|ai21)\.")
_VERSION = re.compile(r"(?:-\d{8})?(?:-v\d+(?::\d+)?)?$")


def _family(model: str) -> str:
    """A model id without vendor prefix, snapshot date or version: billing exports name models that way.

    >>> _family("us.anthropic.claude-sonnet-4-20250514-v1:0"), _family("claude-sonnet-4-6")
    ('claude-sonnet-4', 'claude-sonnet-4-6')
    """
    return _VERSION.sub("", _VENDOR.sub("", model.lower()))


def _line_model(line: InvoiceLine, registry: Registry) -> str | None:
    """The card id an invoice line's model resolves to; ``~family`` when no card knows the id as written."""
    if not line.model:
        return None
    try:
        return registry.canonical_model(line.provider, line.model)[1].lower()
    except AttributionError:
        return "~" + _family(line.model)


#: Tags that hold the provider-side grouping an invoice line may name.
_PROJECT_TAGS = ("project", "workspace", "account", "aws_account_id", "subscription", "api_key")


def _covers(line: InvoiceLine, model: str | None, cell: _Cell, known_projects: frozenset[str]) -> bool:
    if canonical_provider(line.provider) != cell.provider or cell.day is None:
        return False
    if not (line.period_start <= cell.day < line.period_end):
        return False
    if model is not None and model not in cell.names:
        return False
    if line.meter is not None and line.meter != cell.meter:
        return False
    # A line's project (OpenAI project, Anthropic workspace, AWS account...) constrains the match only
    # when the usage data knows that id at all; an id the logs never carry cannot be matched on.
    if line.project is not None and line.project in known_projects and line.project not in cell.projects:
        return False
    return line.service_tier is None or canonical_tier(line.service_tier) == cell.tier


def _best(candidates: Sequence[int], lines: Sequence[InvoiceLine], cell: _Cell,
          known_projects: frozenset[str]) -> int | None:
    """The line a cell belongs to: its own project's line first; usage that names no project goes to the
    line whose project the usage data never names (the catch-all project of untagged keys); then the most
    specific line (``candidates`` are already in specificity order)."""
    def fit(i: int) -> int:
        project = lines[i].project
        if project is not None and project in cell.projects:
            return 2
        return 1 if project is None or project not in known_projects else 0
    return max(candidates, key=lambda i: (fit(i), -candidates.index(i)), default=None)


def _specificity(line: InvoiceLine) -> tuple[int, int]:
    named = sum(1 for v in (line.model, line.meter, line.project, line.service_tier) if v)
    return (named, -(line.period_end - line.period_start).days)


@exact
def reconcile(attributed: Iterable[PricedRecord | Quarantined | RequestTree], invoice_lines: Iterable[InvoiceLine], *,
              tolerance: Decimal = DEFAULT_TOLERANCE, contract: OwnershipContract | None = None,
              registry: Registry | None = None, fx: FxTable | None = None) -> Reconciliation:
    """Reconcile priced usage against invoice lines; every invoice cent lands in one bucket.

    ``attributed`` is the priced usage for the invoice's period(s): priced
    records, request trees (duplicates already removed) and the
    ``Quarantined`` items from the same run (they become evidence for likely
    causes). A call counts as *attributed* when it satisfies ``contract``
    (default: team, project and environment present). ``tolerance`` is
    relative to each line's amount.

    Currencies never meet in one sum: usage is matched to lines of its own
    currency, totals are kept per currency (:attr:`Reconciliation.totals`),
    and a line in another currency than the usage it covers is compared only
    when ``fx`` (an :class:`~attribution.FxTable`) has a dated rate from the
    line's currency to the usage's; the row then carries the rate it used.

    >>> import attribution as at
    >>> from datetime import date, datetime, timezone
    >>> from decimal import Decimal
    >>> rec = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=9_790_000_000),
    ...                      at=datetime(2026, 6, 3, tzinfo=timezone.utc), tags={"team": "search"})
    >>> line = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
    ...                       amount=Decimal("22000.00"), currency="USD")
    >>> rep = reconcile([at.price(rec)], [line], contract=at.OwnershipContract(required=("team",)))
    >>> rep.attributed, rep.unattributed, rep.coverage
    (Decimal('19580.00'), Decimal('2420.00'), Decimal('0.89'))
    """
    c = contract or OwnershipContract()
    quarantined: list[Quarantined] = []
    owned = apply_ownership(_keep_quarantined(attributed, quarantined), attrs.evolve(c, on_missing="flag"))
    cells: dict[_Cell, _Acc] = {}
    add_cells(cells, (item for item in owned if isinstance(item, PricedRecord)), c)
    return reconcile_cells(cells, quarantined, invoice_lines, tolerance=tolerance, registry=registry, fx=fx)


@exact
def reconcile_cells(cells: Mapping[_Cell, _Acc], quarantined: Sequence[Quarantined],
                    invoice_lines: Iterable[InvoiceLine], *, tolerance: Decimal = DEFAULT_TOLERANCE,
                    registry: Registry | None = None, fx: FxTable | None = None) -> Reconciliation:
    """:func:`reconcile` from cells built with :func:`add_cells` (for streams processed in chunks)."""
    reg = registry or default_registry()
    known_projects = frozenset(v for cell in cells for v in cell.projects)

    usage_lines: list[InvoiceLine] = []
    other: list[InvoiceLine] = []
    out_of_scope: list[InvoiceLine] = []
    for line in invoice_lines:
        if line.charge_category == "out_of_scope":
            out_of_scope.append(line)
        else:
            (usage_lines if line.charge_category == "usage" else other).append(line)
    models = [_line_model(line, reg) for line in usage_lines]
    order = sorted(range(len(usage_lines)), key=lambda i: _specificity(usage_lines[i]), reverse=True)

    def rate(i: int, currency: str) -> FxRate | None:
        """The rate that converts line ``i`` into ``currency``: dated on or before the line's last day."""
        if fx is None:
            return None
        line = usage_lines[i]
        return fx.rate(line.currency, currency, line.period_end - timedelta(days=1))

    matched: dict[int, dict[_Cell, _Acc]] = defaultdict(dict)
    unmatched: dict[tuple[str, str, str, date | None, str], list[int]] = defaultdict(lambda: [0, 0])
    for cell, acc in cells.items():
        covering = [i for i in order if _covers(usage_lines[i], models[i], cell, known_projects)]
        same = [i for i in covering if usage_lines[i].currency == cell.currency]
        target = _best(same, usage_lines, cell, known_projects)
        if target is None and fx is not None and covering:
            target = _best([i for i in covering if rate(i, cell.currency) is not None], usage_lines, cell,
                           known_projects)
        if target is None:
            if covering:  # the line covers it but in another currency and no rate: never add across currencies
                matched[covering[0]][cell] = acc
                continue
            u = unmatched[(cell.provider, cell.model, cell.meter, cell.day, cell.currency)]
            u[0] += acc.units
            u[1] += acc.records
        else:
            matched[target][cell] = acc

    evidence = _Evidence(quarantined, cells, usage_lines)
    results = []
    for i, line in enumerate(usage_lines):
        mine = matched.get(i, {})
        by_currency: dict[str, int] = defaultdict(int)
        for k, a in mine.items():
            by_currency[k.currency] += a.units
        currency, line_fx = line.currency, None
        if by_currency and line.currency not in by_currency:
            # Compare in the currency of the usage the line covers, converting the line at the user's rate.
            for cur in sorted(by_currency, key=lambda c: (-by_currency[c], c)):
                line_fx = rate(i, cur)
                if line_fx is not None:
                    currency = cur
                    break
        same_currency = {k: v for k, v in mine.items() if k.currency == currency}
        priced_units = sum(a.units for a in same_currency.values())
        owned_units = sum(a.units for k, a in same_currency.items() if k.owned)
        records = sum(a.records for a in same_currency.values())
        unconverted = {cur: to_decimal(units) for cur, units in sorted(by_currency.items()) if cur != currency}
        result = ReconciledLine(line=line, priced=to_decimal(priced_units), attributed=to_decimal(owned_units),
                                records=records, tolerance=tolerance, fx=line_fx, unconverted=unconverted)
        # Explain every material variance, even within tolerance; sub-cent differences are rounding in the export.
        if abs(result.variance) >= _MATERIAL or not result.matched or unconverted or line_fx is not None:
            result = attrs.evolve(result, causes=tuple(evidence.causes(line, models[i], same_currency, result, reg,
                                                                       fx)))
        results.append(result)

    currencies = {r.currency for r in results} | {line.currency for line in other}
    return Reconciliation(
        currency=next(iter(currencies)) if len(currencies) == 1 else None,
        lines=tuple(results),
        other_charges=tuple(other),
        unmatched=tuple(UnmatchedUsage(provider=k[0], model=k[1], meter=k[2], day=k[3], cost=to_decimal(v[0]),
                                       records=v[1], currency=k[4])
                        for k, v in sorted(unmatched.items(), key=lambda kv: -kv[1][0])),
        quarantined=dict(Counter(q.code for q in quarantined)),
        tolerance=tolerance,
        out_of_scope=tuple(out_of_scope),
    )


def out_of_scope_summary(lines: Sequence[InvoiceLine]) -> list[str]:
    """One line per currency: how many export rows were not AI services, and what they cost.

    >>> from datetime import date
    >>> line = InvoiceLine(provider="aws", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
    ...                    amount=Decimal("1200.50"), currency="USD", charge_category="out_of_scope",
    ...                    sku="Amazon EC2", quantity=Decimal(340))
    >>> out_of_scope_summary([line])
    ['Out of scope (not AI services, not reconciled): 340 export rows, 1,200.50 USD (Amazon EC2)']
    """
    by_currency: dict[str, list[InvoiceLine]] = defaultdict(list)
    for line in lines:
        by_currency[line.currency].append(line)
    out = []
    for cur, group in sorted(by_currency.items()):
        rows = sum(int(line.quantity or 1) for line in group)
        amount = sum((line.amount for line in group), Decimal(0))
        ranked = sorted(group, key=lambda line: -abs(line.amount))
        names = list(dict.fromkeys(line.sku or line.description or line.provider for line in ranked))
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        out.append(f"Out of scope (not AI services, not reconciled): {rows:,} export rows, {present(amount):,} {cur} "
                   f"({shown})")
    return out


def _keep_quarantined(items: Iterable[PricedRecord | Quarantined | RequestTree],
                      sink: list[Quarantined]) -> Iterable[PricedRecord | Quarantined | RequestTree]:
    for item in items:
        if isinstance(item, Quarantined):
            sink.append(item)
        else:
            yield item


# -- likely causes -------------------------------------------------------------------------


class _Evidence:
    """What the inputs show, indexed for explaining a line's variance."""

    def __init__(self, quarantined: Sequence[Quarantined], cells: Mapping[_Cell, _Acc],
                 lines: Sequence[InvoiceLine]) -> None:
        self.quarantined = quarantined
        self.cells = cells
        self.lines = lines
        self.last_day: dict[str, date] = {}
        for cell in cells:
            if cell.day is not None and cell.day > self.last_day.get(cell.provider, date.min):
                self.last_day[cell.provider] = cell.day

    def causes(self, line: InvoiceLine, model: str | None, mine: Mapping[_Cell, _Acc], result: ReconciledLine,
               registry: Registry, fx: FxTable | None = None) -> list[Cause]:
        """Likely causes; ``mine`` holds only the matched usage in ``result.currency``."""
        out: list[Cause] = []
        provider = canonical_provider(line.provider)
        if result.fx is not None:
            out.append(Cause(code="fx", message=f"billed {line.amount:f} {line.currency}, compared as "
                             f"{result.invoiced:f} {result.currency} at {result.fx}"
                             + (f" ({result.fx.origin})" if result.fx.origin else "")))
        if result.unconverted:
            day = line.period_end - timedelta(days=1)
            why = "; ".join(fx.missing(line.currency, cur, day) for cur in result.unconverted) if fx is not None \
                else "pass an FX table (--fx) to convert"
            out.append(Cause(code="currency", message="usage priced in "
                             + ", ".join(f"{present(v)} {cur}" for cur, v in result.unconverted.items())
                             + f" is covered by this line in {line.currency} and was not compared with it: {why}"))
            if not mine:
                return out
        ttl = self._cache_ttl(line, provider, model, mine) if line.meter in _CACHE_TTL else []
        out.extend(ttl)
        tokens = sum(a.tokens for a in mine.values())
        same_quantity = line.quantity is not None and line.meter is not None and Decimal(tokens) == line.quantity
        if result.variance > 0:
            if not same_quantity:  # unpriced or late records only explain tokens we did not see
                out.extend(self._unpriced(line, provider, model))
                out.extend(self._late(line, provider))
            if not ttl:
                out.extend(self._missing_meter(line, provider, model, mine))
        if result.variance < 0 and not out:
            out.extend(self._duplicates(mine))
        out.extend(self._unit_price(line, mine, result, registry))
        if not out:
            out.append(Cause(code="unexplained", message="no evidence in the usage data explains this variance; "
                             "check for usage that was never logged (untracked services or keys)",
                             amount=result.variance))
        return out

    def _unpriced(self, line: InvoiceLine, provider: str, model: str | None) -> list[Cause]:
        found: Counter[str] = Counter()
        tokens = 0
        for q in self.quarantined:
            rec = q.raw if isinstance(q.raw, UsageRecord) else None
            if rec is not None:
                if canonical_provider(rec.provider) != provider:
                    continue
                day = _day(rec.at)
                if day is not None and not (line.period_start <= day < line.period_end):
                    continue
                # An unknown model could be any billed model (an alias drifted), so it is evidence for
                # every line of its provider; other failures only for lines of their own model.
                if (model is not None and q.code != "unknown_model"
                        and model not in (rec.model.lower(), rec.billed_model.lower())):
                    continue
                tokens += rec.usage.total_tokens
                found[f"{q.code} ({rec.billed_model})"] += 1
            # Unreadable lines have no provider or time: they are reported once, not on every line.
        if not found:
            return []
        detail = ", ".join(f"{n} x {what}" for what, n in found.most_common(4))
        extra = f" carrying {tokens:,} tokens" if tokens else ""
        return [Cause(code="unpriced_records", message=f"{sum(found.values())} records in this period could not be "
                      f"priced or read{extra}: {detail}")]

    def _missing_meter(self, line: InvoiceLine, provider: str, model: str | None,
                       mine: Mapping[_Cell, _Acc]) -> list[Cause]:
        if line.meter is None or mine:
            return []
        # The invoice bills a meter the usage never reports for this model: a normalizer or logger drops it.
        other = [c for c in self.cells if c.provider == provider and (model is None or model in c.names)
                 and c.day is not None and line.period_start <= c.day < line.period_end]
        if not other:
            return []
        return [Cause(code="missing_meter", message=f"the invoice bills {line.meter} for "
                      f"{line.model or provider} but no attributed call reports {line.meter} tokens; the usage "
                      "logging or normalizer drops that token type", amount=line.amount)]

    def _cache_ttl(self, line: InvoiceLine, provider: str, model: str | None,
                   mine: Mapping[_Cell, _Acc]) -> list[Cause]:
        """5-minute vs 1-hour cache writes: the usage reports one TTL, the invoice bills the other."""
        sibling = _CACHE_TTL[line.meter or ""]
        in_period = [c for c in self.cells if c.provider == provider and c.meter == sibling
                     and (model is None or model in c.names) and c.day is not None
                     and line.period_start <= c.day < line.period_end]
        billed_sibling = any(other.meter == sibling and canonical_provider(other.provider) == provider
                             and other.period_start < line.period_end and line.period_start < other.period_end
                             and (model is None or (other.model or "").lower() in ("", model))
                             for other in self.lines)
        if mine and not billed_sibling:
            return []
        if (not mine and in_period) or (mine and billed_sibling and not in_period):
            names = {"cache_write": "5-minute", "cache_write_1h": "1-hour"}
            return [Cause(code="cache_ttl_mismatch", message=f"the invoice bills {names[line.meter or '']} cache "
                          f"writes ({line.meter}) where the usage data reports {names[sibling]} writes "
                          f"({sibling}): the cache TTL is logged or normalized wrongly, so those writes are priced "
                          "at the other rate")]
        return []

    def _late(self, line: InvoiceLine, provider: str) -> list[Cause]:
        last = self.last_day.get(provider)
        final_day = line.period_end - timedelta(days=1)
        if last is None or last >= final_day or last < line.period_start:
            return []
        return [Cause(code="late_data", message=f"attributed usage for {provider} stops on {last.isoformat()} but "
                      f"the line runs to {final_day.isoformat()}: data arriving after the close is missing")]

    def _duplicates(self, mine: Mapping[_Cell, _Acc]) -> list[Cause]:
        dupes = sum(acc.repeats for acc in mine.values())
        if not dupes:
            return [Cause(code="over_priced", message="the usage data prices more than was billed: retries or "
                          "replays counted that the provider did not bill, or a card price above the list price")]
        return [Cause(code="duplicates", message=f"{dupes} repeated request ids among the matched calls (the same "
                      "provider, request id, attempt and outcome): run dedupe() or build_forest() first so the "
                      "same provider call is counted once; copies that disagree on the tokens billed are kept")]

    def _unit_price(self, line: InvoiceLine, mine: Mapping[_Cell, _Acc], result: ReconciledLine,
                    registry: Registry) -> list[Cause]:
        """Compare the invoice's implied unit price with the card's, and name what it matches."""
        if line.meter is None or not line.quantity or not mine:
            return []
        tokens = sum(a.tokens for a in mine.values())
        rate = next(iter(mine.values())).rate
        per = per_unit(line.meter)
        quantity = line.quantity
        if line.unit and "1k" in line.unit.lower().replace(" ", "") and per == 1_000_000:
            quantity = quantity * 1000
        if quantity <= 0:
            return []
        ours = rate.unit_prices().get(line.meter)
        out = []
        if tokens and Decimal(tokens) != quantity:
            out.append(Cause(code="quantity", message=f"the invoice bills {_quantity(quantity)} {line.meter} units; the "
                             f"usage data reports {tokens:,}"))
        raw = result.invoiced / quantity * per
        if raw and raw.adjusted() > _PRICE_DIGITS:
            return out  # a unit price beyond any card's (a sliver of a unit billed): nothing to compare
        implied = raw.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        if ours is not None and implied == ours.quantize(Decimal("0.000001")):
            return out
        matches = self._price_matches(implied, rate, registry, line.meter)
        label = f"{implied.normalize():f} per {'1K calls' if per == 1000 else '1M tokens'}"
        if matches:
            out.append(Cause(code=matches[0][0], message=f"the invoice implies {label} for {line.meter}, which is "
                             f"{matches[0][1]}; the card prices it at {ours.normalize() if ours else 'nothing'}"))
        else:
            out.append(Cause(code="price_card_out_of_date", message=f"the invoice implies {label} for {line.meter}; "
                             f"card {rate.card_version} has {ours.normalize() if ours else 'no price'}: no loaded "
                             "card matches, update the card"))
        return out

    def _price_matches(self, implied: Decimal, rate: Rate, registry: Registry, meter: str) -> list[tuple[str, str]]:
        units = from_decimal(implied / per_unit(meter)) if implied else 0
        found: list[tuple[str, str]] = []
        for i, other in enumerate(BILLED_METERS):
            if other != meter and rate.prices[i] == units:
                found.append(("meter_mismatch", f"this model's {other} price (priced as {meter}, billed as {other}?)"))
        for above, prices in rate.context:
            if prices[BILLED_METERS.index(meter)] == units:
                found.append(("context_tier", f"the long-context rate for prompts over {above:,} tokens"))
        for info in registry.models(rate.provider):
            if info.id != rate.model:
                continue
            for period in info.periods:
                value = period.meter_prices().get(meter)
                if value is not None and value == implied and period.from_ != rate.effective_from:
                    found.append(("price_card_out_of_date", (f"the price in force from {period.from_.date()} on card "
                                  f"{info.card_version} (the records were priced with the period from "
                                  f"{rate.effective_from.date()})")))
                for name, tier in period.tiers.items():
                    tier_price = (tier.meter_prices().get(meter) if tier.multiplier is None
                                  else (value * tier.multiplier if value is not None else None))
                    if tier_price is not None and tier_price == implied and name != rate.service_tier:
                        found.append(("service_tier", (f"the {name} tier price (records priced as "
                                      f"{rate.service_tier})")))
        return found


# -- true-up ---------------------------------------------------------------------------------

_PRICE_DIGITS = 30   # an implied unit price above 10^30 per unit says nothing about any card
_NO_OWNER = "\x00unattributed"   # stands in for the None owner inside allocate(), never shown


@attrs.frozen(kw_only=True)
class TrueUpRow:
    """One owner's chargeback: attributed cost, its share of the variance, and the total billed."""

    owner: str | None
    attributed: Decimal
    true_up: Decimal
    total: Decimal


@attrs.frozen(kw_only=True)
class TrueUp:
    """Chargeback totals that equal the invoice exactly; see :func:`true_up`."""

    rows: tuple[TrueUpRow, ...]
    invoiced: Decimal
    attributed: Decimal
    currency: str | None = None

    @property
    @exact
    def variance(self) -> Decimal:
        """What the true-up spread: invoiced minus attributed."""
        return self.invoiced - self.attributed

    def __getitem__(self, owner: str | None) -> TrueUpRow:
        for row in self.rows:
            if row.owner == owner:
                return row
        raise KeyError(owner)

    def to_records(self) -> list[dict[str, Any]]:
        return [{"owner": r.owner, "attributed": r.attributed, "true_up": r.true_up, "total": r.total}
                for r in self.rows]

    def __repr__(self) -> str:
        cur = f" {self.currency}" if self.currency else ""
        return (f"<TrueUp {len(self.rows)} owners, attributed {self.attributed:f}{cur} + variance "
                f"{self.variance:f}{cur} = invoiced {self.invoiced:f}{cur}>")

    def _repr_html_(self) -> str:
        """Jupyter's view: one row per owner, every value escaped."""
        return _notebook.html(_notebook.true_up_table(self))

    def to_pandas(self) -> Any:
        """:meth:`to_records` as a ``pandas.DataFrame``; money is an exact Arrow decimal (extra ``pandas``)."""
        return _notebook.to_pandas(_notebook.true_up_table(self), "TrueUp.to_pandas()")

    def to_arrow(self) -> Any:
        """:meth:`to_records` as a ``pyarrow.Table``; money is ``decimal128(38, 15)`` (extra ``arrow``)."""
        return _notebook.to_arrow(_notebook.true_up_table(self), "TrueUp.to_arrow()")


@exact
def true_up(charges: Mapping[str | None, Decimal] | Any, invoiced: Decimal | Reconciliation, *,
            quantum: Decimal = Decimal("0.01")) -> TrueUp:
    """Spread the remaining variance over owners in proportion to their attributed cost.

    ``charges`` is what each owner is charged before the true-up: a one-
    dimension :class:`~attribution.Rollup` (by team, cost center...), an
    :class:`~attribution.Allocation` (after shared pools), or a mapping of
    owner to exact amount. ``invoiced`` is the total to reach; with a
    :class:`Reconciliation`, the total is the charges plus the usage variance
    (invoiced usage minus all priced usage), so pools that are not on the
    provider's invoice (a platform fee) are kept as they are. Each owner's total is
    its proportional share of the invoice, rounded to ``quantum`` by largest
    remainder so the totals sum to the invoice **exactly** (when the invoice
    itself carries sub-cent amounts, at the invoice's own precision);
    ``true_up`` is that total minus the attributed cost, shown as its own column.

    >>> t = true_up({"search": Decimal("600.004"), "support": Decimal("300")}, Decimal("1000.00"))
    >>> [(r.owner, r.true_up, r.total) for r in t.rows]
    [('search', Decimal('66.666'), Decimal('666.67')), ('support', Decimal('33.33'), Decimal('333.33'))]
    """
    amounts = _owner_amounts(charges)
    currency = charges.currency if isinstance(charges, (Rollup, Allocation)) else None
    if isinstance(invoiced, Reconciliation):
        currency = _true_up_currency(currency, invoiced)
        # Spread only what the usage does not explain: charges may also carry pools that are not on
        # the provider's invoice (a platform fee), and those must stay as they are.
        t = invoiced.totals.get(currency or "") if currency is not None else None
        spread = (t.invoiced - t.priced - t.unmatched_cost) if t is not None else Decimal(0)
        target = sum(amounts.values(), Decimal(0)) + spread
    else:
        target = invoiced
    exponent = target.normalize().as_tuple().exponent
    if isinstance(exponent, int) and target and exponent < quantum.as_tuple().exponent:  # type: ignore[operator]
        quantum = Decimal(1).scaleb(exponent)  # the invoice itself carries sub-cent amounts
    weights = {(_NO_OWNER if owner is None else owner): amount for owner, amount in amounts.items()}
    totals = _spread(target, weights, quantum)
    rows = tuple(TrueUpRow(owner=owner, attributed=amount, true_up=totals[key] - amount, total=totals[key])
                 for (owner, amount), key in zip(amounts.items(), weights, strict=True))
    return TrueUp(rows=rows, invoiced=target, attributed=sum(amounts.values(), Decimal(0)), currency=currency)


def _quantity(q: Decimal) -> str:
    """A billed quantity as a reader writes it: ``218,220`` (not ``218,220.00``), ``1,234.5``."""
    return f"{int(q):,}" if q == q.to_integral_value() else f"{q.normalize():,f}"


def _spread(target: Decimal, weights: Mapping[str, Decimal], quantum: Decimal) -> dict[str, Decimal]:
    """Each owner's total: its proportional share of ``target``; a credit (a negative charge) stays as it is.

    A negative charge (an owner credited by a pool with a negative amount)
    cannot be a proportion of anything, so it keeps its amount, rounded to
    ``quantum``, and the rest of ``target`` is spread over the other owners in
    proportion to their charges. The totals still sum to ``target`` exactly.
    """
    credits = {k: v.quantize(quantum, rounding=ROUND_HALF_EVEN) for k, v in weights.items() if v < 0}
    if not credits:
        return allocate(target, weights, method="proportional", quantum=quantum)
    rest = {k: v for k, v in weights.items() if v >= 0}
    remaining = target - sum(credits.values(), Decimal(0))
    if not rest:
        names = ", ".join(sorted("(unattributed)" if k == _NO_OWNER else k for k in credits))
        raise PolicyError(f"cannot true up: every owner is credited ({names}), so there is no charge to spread "
                          "the invoice over", path="charges")
    if not any(rest.values()):
        raise PolicyError("cannot true up: the owners that are not credited are charged nothing, so there is "
                          "nothing to be proportional to", path="charges")
    return {**allocate(remaining, rest, method="proportional", quantum=quantum), **credits}


def _true_up_currency(charges: str | None, rep: Reconciliation) -> str | None:
    """The one currency a true-up against ``rep`` can be in; ``CurrencyMismatch`` naming both sides otherwise."""
    for r in rep.lines:
        cur = next(iter(r.unconverted), None)
        if cur is not None:
            raise CurrencyMismatch(r.line.currency, cur, f"a true-up: {_what(r.line)} is in {r.line.currency} but "
                                   f"the usage it covers is priced in {cur}, and no FX rate converts it")
        if charges is None:
            charges = r.currency
        elif r.currency != charges:
            raise CurrencyMismatch(r.currency, charges, f"a true-up: {_what(r.line)} is in {r.currency} but the "
                                   f"charges are in {charges}; pass an FX table to convert the invoice")
    for u in rep.unmatched:
        if u.currency is not None and charges is not None and u.currency != charges:
            raise CurrencyMismatch(u.currency, charges, f"a true-up: unmatched usage of {u.provider}/{u.model} is "
                                   f"priced in {u.currency} but the charges are in {charges}")
    return charges


def _owner_amounts(charges: Any) -> dict[str | None, Decimal]:
    if isinstance(charges, Rollup):
        if len(charges.dims) != 1:
            raise ValueError(f"true_up() needs a rollup by one owner dimension, got {charges.dims}")
        return {key[0]: charges[key].cost for key in charges}
    if isinstance(charges, Allocation):
        return {row.owner: row.total for row in charges.rows}
    return {owner: Decimal(amount) for owner, amount in charges.items()}
