"""Notebook faces of the result types: HTML for Jupyter, pandas DataFrames and Arrow tables.

:class:`~attribution.Rollup`, :class:`~attribution.Allocation` and
:class:`~attribution.Reconciliation` each describe themselves as a
:class:`Table` (a title, a one-line summary, typed columns and plain rows);
this module renders any table three ways:

* :func:`html` for ``_repr_html_``: a plain ``<table>`` where every value,
  header and caption is escaped with :func:`html.escape` (tag values come from
  request metadata anyone can set, so ``<script>`` must stay text).
* :func:`to_pandas`: money columns are Arrow-backed decimals
  (``pd.ArrowDtype(pa.decimal128(38, 15))``), never floats, so
  ``df["cost"].sum()`` is the exact ``Decimal`` total, and sorting, grouping
  and display work; without pyarrow they hold ``Decimal`` objects
  (``object`` columns), still exact. (pandas cannot ``nlargest`` any decimal
  column, Arrow or object, as of pandas 3.1: ``sort_values(...).head(n)``
  does the same.)
* :func:`to_arrow`: money columns are ``decimal128(38, 15)``, the engine's
  own precision (10^-15 of the currency), so Parquet files and query engines
  keep every digit.

pandas and pyarrow are optional (extras ``pandas`` and ``arrow``) and are
imported only when a DataFrame or a table is asked for; without them the
error says which extra to install.
"""

from __future__ import annotations

import html as _html
import importlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

import attrs

from ._usage import METERS
from .exceptions import MissingDependency

if TYPE_CHECKING:
    from ._allocate import Allocation
    from ._audit import AuditReport
    from ._coverage import BudgetLine, Coverage
    from ._reconcile import Reconciliation, TrueUp
    from ._rollup import Rollup

__all__ = ["AUDIT_TABLES", "MONEY_TYPE", "Table", "allocation_summary_table", "allocation_table", "audit_html",
           "audit_repr", "audit_table", "budgets_table", "charges_table", "coverage_html", "coverage_table", "html",
           "money_dtype", "reconciliation_table", "rollup_table", "to_arrow", "to_pandas", "true_up_table"]

#: Arrow type of every money column: 38 digits, 15 after the point (the engine's money unit).
MONEY_TYPE = ("decimal128", 38, 15)
#: Rows shown by ``_repr_html_`` before "... more rows".
HTML_ROWS = 60
#: Rows per table in the audit's compact view (the whole table is one ``to_pandas(name)`` away).
SUMMARY_ROWS = 10
#: Characters of one cell shown in HTML: a tag value can be as long as a request's metadata allows.
CELL_CHARS = 120

#: Column kinds a table declares: how pandas and Arrow should hold the values.
KINDS = ("string", "int", "decimal", "bool", "date", "json", "list")


@attrs.frozen(kw_only=True)
class Table:
    """A result as typed columns: what the three renderers share.

    ``kinds`` maps a column to one of :data:`KINDS`; ``decimal`` columns hold
    ``Decimal`` (money, ratios), ``json`` columns hold mappings.
    """

    title: str
    summary: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]
    kinds: Mapping[str, str]


def _import(module: str, feature: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(feature, extra, module) from None


# --- the three result types as tables -----------------------------------------------------


def rollup_table(r: Rollup) -> Table:
    """A rollup: one row per key (most expensive first), token columns for the meters seen."""
    records = r.to_records()
    seen = {k for row in records for k in row if k.startswith("tokens_")}
    tokens = [f"tokens_{m}" for m in METERS if f"tokens_{m}" in seen]
    columns = (*r.dims, "records", "requests", "cost", "currency", *tokens)
    rows = tuple({c: row.get(c, 0 if c in tokens else None) for c in columns} for row in records)
    kinds = {**dict.fromkeys(r.dims, "string"), "records": "int", "requests": "int", "cost": "decimal",
             "currency": "string", **dict.fromkeys(tokens, "int")}
    summary = (f"{len(r)} keys, {r.records:,} priced records, {r.requests:,} requests, total {r.total} "
               f"{r.currency or ''}").rstrip()
    return Table(title=f"Rollup by {', '.join(r.dims) or '(total)'}", summary=summary, columns=columns, rows=rows,
                 kinds=kinds)


def allocation_table(a: Allocation) -> Table:
    """An allocation in long form: one row per owner and component, with the FOCUS 1.3 allocation fields."""
    columns = (a.by, "component", "kind", "method", "cost", "currency", "AllocatedMethodId",
               "AllocatedMethodDetails", "AllocatedTags", "x_AllocationOrigin")
    rows = tuple({c: row.get(c) for c in columns} for row in a.to_records())
    kinds = {**dict.fromkeys(columns, "string"), "cost": "decimal", "AllocatedMethodDetails": "json",
             "AllocatedTags": "json"}
    return Table(title=f"Allocation by {a.by}" + (f" (policy {a.policy})" if a.policy else ""),
                 summary=_allocation_summary(a), columns=columns, rows=rows, kinds=kinds)


def allocation_summary_table(a: Allocation) -> Table:
    """An allocation in wide form, as people read it: owner, direct, one column per pool, total."""
    records = a.summary()
    columns = (a.by, "direct", *(p.id for p in a.pools), "total", "currency")
    rows = tuple({c: row.get(c) for c in columns} for row in records)
    kinds = {**dict.fromkeys(columns, "decimal"), a.by: "string", "currency": "string"}
    return Table(title=f"Allocation by {a.by}" + (f" (policy {a.policy})" if a.policy else ""),
                 summary=_allocation_summary(a), columns=columns, rows=rows, kinds=kinds)


def _allocation_summary(a: Allocation) -> str:
    return (f"direct {a.direct_total} + pools {a.pools_total} = {a.total} {a.currency or ''}, "
            f"{len(a.rows)} owners").replace(" ,", ",")


def reconciliation_table(rec: Reconciliation) -> Table:
    """A reconciliation: one row per invoice line, with its variance and likely causes."""
    columns = ("provider", "period_start", "period_end", "model", "meter", "project", "currency", "invoiced",
               "priced", "attributed", "unowned", "variance", "relative_variance", "matched", "causes")
    rows = []
    for row in rec.to_records():
        out = {c: row.get(c) for c in columns}
        for c in ("period_start", "period_end"):
            value = out[c]
            out[c] = date.fromisoformat(value) if isinstance(value, str) else value
        rows.append(out)
    kinds = {**dict.fromkeys(columns, "string"), "period_start": "date", "period_end": "date",
             **dict.fromkeys(("invoiced", "priced", "attributed", "unowned", "variance", "relative_variance"),
                             "decimal"),
             "matched": "bool", "causes": "list"}
    summary = " ".join(rec.summary().splitlines())
    return Table(title="Reconciliation with the invoice", summary=summary, columns=columns, rows=tuple(rows),
                 kinds=kinds)


def coverage_table(cov: Coverage) -> Table:
    """Where unowned spend comes from: one row per reason, then per source value (``api_key``, ``service``...)."""
    columns = ("breakdown", "dimension", "value", "cost", "records")
    rows = tuple({"breakdown": kind, "dimension": s.dimension, "value": s.value, "cost": s.cost,
                  "records": s.records}
                 for kind, sources in (("reason", cov.by_reason), ("source", cov.by_source)) for s in sources)
    kinds = {**dict.fromkeys(columns, "string"), "cost": "decimal", "records": "int"}
    return Table(title="Coverage: unowned spend by reason and source", summary=" ".join(cov.summary().splitlines()),
                 columns=columns, rows=rows, kinds=kinds)


def true_up_table(t: TrueUp) -> Table:
    """A true-up: each owner's attributed cost, its share of the variance and the total billed."""
    columns = ("owner", "attributed", "true_up", "total", "currency")
    rows = tuple({**r, "currency": t.currency} for r in t.to_records())
    kinds = {**dict.fromkeys(columns, "decimal"), "owner": "string", "currency": "string"}
    cur = f" {t.currency}" if t.currency else ""
    summary = (f"{len(t.rows)} owners; attributed {t.attributed:f}{cur} + variance {t.variance:f}{cur} = invoiced "
               f"{t.invoiced:f}{cur}")
    return Table(title="True-up to the invoice", summary=summary, columns=columns, rows=rows, kinds=kinds)


def budgets_table(lines: Sequence[BudgetLine]) -> Table:
    """Budgets: actual and month-end forecast against each budget line's monthly budget."""
    columns = ("budget_line", "month", "budget", "actual", "forecast", "currency", "days_elapsed", "days_in_month",
               "exceeded", "projected_over")
    rows = tuple({"budget_line": b.name, "month": b.month, "budget": b.budget, "actual": b.actual,
                  "forecast": b.forecast, "currency": b.currency, "days_elapsed": b.days_elapsed,
                  "days_in_month": b.days_in_month, "exceeded": b.exceeded, "projected_over": b.projected_over}
                 for b in lines)
    kinds = {**dict.fromkeys(columns, "string"), **dict.fromkeys(("budget", "actual", "forecast"), "decimal"),
             "days_elapsed": "int", "days_in_month": "int", "exceeded": "bool", "projected_over": "bool"}
    over = sum(1 for b in lines if b.exceeded or b.projected_over)
    return Table(title="Budgets", summary=f"{len(lines)} budget lines, {over} over or projected over budget",
                 columns=columns, rows=rows, kinds=kinds)


def charges_table(report: AuditReport) -> Table:
    """The audit's charge lines (the CSV/FOCUS grain): day, model, meter, quantity x unit price = amount, owner."""
    fixed = ("day", "provider", "model", "meter", "quantity", "unit_price", "per", "amount", "currency",
             "service_tier", "region", "card_version", "records")
    owners = [d if d not in fixed else f"by_{d}" for d in report.by]
    columns = (*fixed, *owners)
    rows = []
    for c in report.charges:
        row: dict[str, Any] = {name: getattr(c, name) for name in fixed}
        row.update(zip(owners, (v for _, v in c.owner), strict=True))
        rows.append(row)
    kinds = {**dict.fromkeys(columns, "string"), "day": "date", "quantity": "int", "unit_price": "decimal",
             "per": "int", "amount": "decimal", "records": "int"}
    summary = f"{len(rows):,} charge lines, {sum(c.records for c in report.charges):,} priced calls"
    return Table(title="Charge lines", summary=summary, columns=columns, rows=tuple(rows), kinds=kinds)


#: Tables an :class:`~attribution.AuditReport` offers to ``to_pandas(name)``/``to_arrow(name)``.
AUDIT_TABLES = ("charges", "rollup", "periods", "allocation", "coverage", "reconciliation", "true_up", "budgets")


def audit_table(report: AuditReport, name: str) -> Table:
    """One of the audit's :data:`AUDIT_TABLES` as a :class:`Table`.

    Raises:
        ValueError: an unknown name, or a table the audit does not have
            (``periods`` without ``period=``, ``allocation`` without a policy,
            ``reconciliation``/``true_up`` without invoices).
    """
    if name not in AUDIT_TABLES:
        raise ValueError(f"unknown table {name!r}; tables: {', '.join(AUDIT_TABLES)}")
    if name == "charges":
        return charges_table(report)
    if name == "rollup":
        return rollup_table(report.rollup)
    if name == "coverage":
        return coverage_table(report.coverage)
    if name == "budgets":
        return budgets_table(report.budgets)
    missing = {"periods": "run the audit with period=", "allocation": "run the audit with a policy",
               "reconciliation": "run the audit with invoices",
               "true_up": "run the audit with invoices (and owners to spread the variance over)"}
    value = getattr(report, name)
    if value is None:
        raise ValueError(f"this audit has no {name} table: {missing[name]}")
    if name == "periods":
        return rollup_table(value)
    if name == "allocation":
        return allocation_table(value)
    if name == "reconciliation":
        return reconciliation_table(value)
    return true_up_table(value)


def audit_repr(report: AuditReport) -> str:
    """One line that says what an audit found (what IPython prints for a report)."""
    money = _money_text(report.total, report.currency)
    parts = [f"by={','.join(report.by) or '(total)'}", f"{report.records_read:,} records read",
             f"{report.priced_records:,} priced", f"{report.quarantined_records:,} quarantined",
             f"{money} priced", f"coverage {_pct(report.coverage.coverage)}"]
    rec = report.reconciliation
    if rec is not None:
        parts.append(f"{len(rec.lines)} invoice lines ({'within' if rec.passed else 'outside'} tolerance)")
    if report.allocation is not None:
        parts.append(f"{len(report.allocation.pools)} shared pools")
    if report.budgets:
        parts.append(f"{len(report.budgets)} budgets")
    return f"<AuditReport {', '.join(parts)}>"


def _money_text(amount: Decimal, currency: str | None) -> str:
    return f"{amount:f} {currency}" if currency else f"{amount:f}"


def _pct(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('0.1'))}%"


def _kpis(lines: Sequence[str]) -> str:
    esc = _html.escape
    return "<p>" + "<br>".join(esc(_clip(line)) for line in lines) + "</p>"


def coverage_html(cov: Coverage) -> str:
    """Jupyter's view of a :class:`~attribution.Coverage`: the summary lines and the largest unowned sources."""
    body = html(coverage_table(cov), limit=SUMMARY_ROWS, summary=False)
    return ('<div class="attribution-coverage">' + _kpis(cov.summary().splitlines()) + body + "</div>")


def audit_html(report: AuditReport) -> str:
    """Jupyter's view of an audit: KPI lines and the first rows of each table, every value escaped.

    The size is bounded whatever the input: at most :data:`SUMMARY_ROWS`
    rows per table and :data:`CELL_CHARS` characters per cell; every table
    is whole in ``report.to_pandas(name)``.
    """
    kpis = [report.accounting(), f"Priced: {_money_text(report.total, report.currency)}"]
    kpis.extend(report.coverage.summary().splitlines())
    if report.quarantined:
        kpis.append("Quarantined: " + ", ".join(f"{k} x{v:,}" for k, v in sorted(report.quarantined.items())))
    if report.reconciliation is not None:
        kpis.extend(report.reconciliation.summary().splitlines())
    out = ['<div class="attribution-audit">', "<p><strong>Audit</strong></p>", _kpis(kpis)]
    top = rollup_table(report.rollup)
    out.append(html(attrs.evolve(top, title=f"Spend by {', '.join(report.by) or '(total)'}"), limit=SUMMARY_ROWS))
    if report.allocation is not None:
        out.append(html(allocation_summary_table(report.allocation), limit=SUMMARY_ROWS))
    if report.reconciliation is not None:
        rec = reconciliation_table(report.reconciliation)
        worst = sorted(rec.rows, key=lambda r: -abs(r["variance"] or 0))
        out.append(html(attrs.evolve(rec, title="Reconciliation: largest variances first", rows=tuple(worst)),
                        limit=SUMMARY_ROWS, summary=False))
    if report.true_up is not None:
        out.append(html(true_up_table(report.true_up), limit=SUMMARY_ROWS))
    if report.budgets:
        out.append(html(budgets_table(report.budgets), limit=SUMMARY_ROWS))
    cov = coverage_table(report.coverage)
    if cov.rows:
        out.append(html(cov, limit=SUMMARY_ROWS, summary=False))
    names = [n for n in AUDIT_TABLES if n not in ("periods", "allocation", "reconciliation", "true_up")
             or getattr(report, n) is not None]
    out.append("<p><em>Whole tables: report.to_pandas(name) or report.to_arrow(name), name one of "
               + _html.escape(", ".join(names)) + "</em></p>")
    out.append("</div>")
    return "\n".join(out)


# --- renderers -------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=False)


def _display(value: Any, kind: str) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if kind == "json":
        return _json_text(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _clip(text: str, limit: int = CELL_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def html(table: Table, *, limit: int = HTML_ROWS, summary: bool = True) -> str:
    """The table as an HTML fragment for Jupyter; every value, header and caption is escaped.

    At most ``limit`` rows and :data:`CELL_CHARS` characters per cell are shown.
    """
    esc = _html.escape
    right = {c for c, k in table.kinds.items() if k in ("int", "decimal")}
    caption = f"<p><strong>{esc(_clip(table.title))}</strong>"
    caption += f": {esc(_clip(table.summary, 4 * CELL_CHARS))}</p>" if summary else "</p>"
    out = ['<div class="attribution-table">', caption, "<table>", "<thead><tr>"]
    out.extend(f'<th style="text-align:{"right" if c in right else "left"}">{esc(_clip(c))}</th>'
               for c in table.columns)
    out.append("</tr></thead><tbody>")
    for row in table.rows[:limit]:
        cells = []
        for c in table.columns:
            value = row.get(c)
            align = "right" if c in right else "left"
            text = ("<em>(none)</em>" if value is None
                    else esc(_clip(_display(value, table.kinds.get(c, "string")))))
            cells.append(f'<td style="text-align:{align}">{text}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if len(table.rows) > limit:
        out.append(f"<p>... and {len(table.rows) - limit:,} more rows (use to_pandas() for all)</p>")
    out.append("</div>")
    return "\n".join(out)


def money_dtype() -> Any:
    """The pandas dtype of money columns: ``pd.ArrowDtype(pa.decimal128(38, 15))``, or ``None`` without pyarrow."""
    try:
        pa = importlib.import_module("pyarrow")
        pd = importlib.import_module("pandas")
    except ImportError:
        return None
    return pd.ArrowDtype(pa.decimal128(MONEY_TYPE[1], MONEY_TYPE[2]))


def to_pandas(table: Table, feature: str) -> Any:
    """The table as a ``pandas.DataFrame``; money is an Arrow decimal column, never ``float64``.

    ``decimal`` columns are ``pd.ArrowDtype(pa.decimal128(38, 15))`` (exact
    sums, sorting, display); without pyarrow they are ``object`` columns of
    ``Decimal``. ``date``, ``json`` and ``list`` columns are ``object``.
    pandas would turn ``Decimal`` into ``float64`` if asked to infer, so no
    money column is ever inferred.
    """
    pd = _import("pandas", feature, "pandas")
    money = money_dtype()
    data = {}
    for c in table.columns:
        values = [row.get(c) for row in table.rows]
        kind = table.kinds.get(c, "string")
        if kind == "decimal" and money is not None:
            data[c] = pd.Series(values, dtype=money)
        elif kind in ("decimal", "date", "json", "list") or not values:
            data[c] = pd.Series(values, dtype="object")
        else:
            data[c] = pd.Series(values)
    frame = pd.DataFrame(data, columns=list(table.columns))
    frame.attrs["title"] = table.title
    return frame


def _arrow_type(pa: Any, kind: str) -> Any:
    if kind == "decimal":
        return pa.decimal128(MONEY_TYPE[1], MONEY_TYPE[2])
    if kind == "int":
        return pa.int64()
    if kind == "bool":
        return pa.bool_()
    if kind == "date":
        return pa.date32()
    if kind == "list":
        return pa.list_(pa.string())
    return pa.string()


def to_arrow(table: Table, feature: str) -> Any:
    """The table as a ``pyarrow.Table``; money columns are ``decimal128(38, 15)``, JSON columns are strings."""
    pa = _import("pyarrow", feature, "arrow")
    arrays = []
    fields = []
    for c in table.columns:
        kind = table.kinds.get(c, "string")
        values: Sequence[Any] = [row.get(c) for row in table.rows]
        if kind == "json":
            values = [None if v is None else _json_text(v) for v in values]
        elif kind == "list":
            values = [None if v is None else [str(x) for x in v] for v in values]
        arrow_type = _arrow_type(pa, kind)
        arrays.append(pa.array(values, type=arrow_type))
        fields.append(pa.field(c, arrow_type))
    schema = pa.schema(fields, metadata={"attribution.title": table.title, "attribution.summary": table.summary})
    return pa.Table.from_arrays(arrays, schema=schema)
