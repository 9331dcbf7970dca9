"""Figures the table and HTML reports both show: unit costs, the model view, the partial-period flag.

Computed from the :class:`~attribution.AuditReport` alone (no records), so
either engine's report reads the same. Unit costs are exact quotients rounded
only for presentation: per request to a hundredth of a cent, per 1,000
requests to the cent, both half up (:func:`~attribution._money.present`).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .._audit import AuditReport
from .._money import present
from .._reconcile import Reconciliation
from .._rollup import RollupEntry

__all__ = ["PER_REQUEST", "data_days", "model_entries", "partial_period", "per_1k", "per_request", "pool_source",
           "true_up_parts", "variance_by_cause"]

#: Presentation quantum of the cost per request: a hundredth of a cent.
PER_REQUEST = Decimal("0.0001")


def per_request(cost: Decimal, requests: int) -> Decimal | None:
    """Cost per request, rounded half up to :data:`PER_REQUEST`; ``None`` without requests.

    >>> per_request(Decimal("27.02"), 588), per_1k(Decimal("27.02"), 588)
    (Decimal('0.0460'), Decimal('45.95'))
    """
    return present(cost / requests, PER_REQUEST) if requests else None


def per_1k(cost: Decimal, requests: int) -> Decimal | None:
    """Cost per 1,000 requests, rounded half up to the cent; ``None`` without requests."""
    return present(cost * 1000 / requests) if requests else None


def model_entries(report: AuditReport) -> list[RollupEntry]:
    """The model view's rows (provider, model as priced), most expensive first."""
    return report.models.entries() if report.models is not None else []


def data_days(report: AuditReport) -> tuple[date | None, date | None]:
    """The first and last UTC day with priced usage (from the charge lines)."""
    days = [c.day for c in report.charges if c.day is not None]
    return (min(days), max(days)) if days else (None, None)


def _period_of(day: date, unit: str) -> tuple[str, date]:
    """The label of the week or month ``day`` is in, and that period's last day."""
    if unit == "week":
        year, week, weekday = day.isocalendar()
        return f"{year}-W{week:02d}", day + timedelta(days=7 - weekday)
    return f"{day:%Y-%m}", day.replace(day=calendar.monthrange(day.year, day.month)[1])


def partial_period(report: AuditReport) -> str | None:
    """A warning when the data stops before the end of its last week or month; ``None`` when it is complete.

    The period is the report's ``--period`` when it is a week or a month, else
    the calendar month (invoices and budgets run by month). A period whose
    data ends early has smaller totals by construction: compare it with full
    periods by rate, not by total.

    >>> import attribution as at
    >>> event = {"timestamp": "2026-06-18T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
    ...          "input_tokens": 1000, "output_tokens": 10}
    >>> partial_period(at.run_audit([event]))
    'Partial month: the data for 2026-06 ends on 2026-06-18, 12 days before the month ends (2026-06-30).'
    """
    if report.period == "day":
        return None
    unit = report.period if report.period in ("week", "month") else "month"
    _, last = data_days(report)
    if last is None:
        return None
    label, end = _period_of(last, unit)
    if last >= end:
        return None
    left = (end - last).days
    return (f"Partial {unit}: the data for {label} ends on {last}, {left} day{'s' if left != 1 else ''} before "
            f"the {unit} ends ({end}).")


def pool_source(source: str) -> str:
    """A pool's source as a reader says it: the policy's ``"__missing__"`` value is "has no value".

    >>> pool_source("where team=__missing__")
    'where team has no value'
    """
    from .._allocate import MISSING

    return source.replace(f"={MISSING}", " has no value")


def true_up_parts(report: AuditReport) -> tuple[Decimal, Decimal, Decimal] | None:
    """What the true-up's total is made of: ``(priced usage, shared costs off the invoice, usage variance)``.

    The three add up to ``report.true_up.invoiced`` exactly: the owners'
    charges before the true-up (priced usage, plus any shared pools the policy
    adds that are not on the provider's invoice) plus the usage variance
    (invoiced usage minus priced usage) that the true-up spreads. Other charges
    on the invoice (tax, support) are not in it.
    """
    t = report.true_up
    if t is None:
        return None
    usage = report.total if t.currency in (None, report.currency) else t.attributed
    return usage, t.attributed - usage, t.invoiced - t.attributed


def variance_by_cause(rep: Reconciliation) -> dict[str, tuple[Decimal, int]]:
    """The variance of the lines outside the tolerance, summed by each line's first likely cause, largest first.

    Each line counts once, under the cause the reconciler ranks first, so the
    amounts add up to those lines' variance (lines within the tolerance are
    left out: their differences are rounding-sized).
    """
    sums: dict[str, list[Any]] = {}
    for r in rep.lines:
        if r.matched:
            continue
        code = r.causes[0].code if r.causes else "unexplained"
        entry = sums.setdefault(code, [Decimal(0), 0])
        entry[0] += r.variance
        entry[1] += 1
    return {code: (amount, n) for code, (amount, n) in sorted(sums.items(), key=lambda kv: -abs(kv[1][0]))}
