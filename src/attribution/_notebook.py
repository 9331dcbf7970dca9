"""Notebook faces of the result types: HTML for Jupyter, pandas DataFrames and Arrow tables.

:class:`~attribution.Rollup`, :class:`~attribution.Allocation` and
:class:`~attribution.Reconciliation` each describe themselves as a
:class:`Table` (a title, a one-line summary, typed columns and plain rows);
this module renders any table three ways:

* :func:`html` for ``_repr_html_``: a plain ``<table>`` where every value,
  header and caption is escaped with :func:`html.escape` (tag values come from
  request metadata anyone can set, so ``<script>`` must stay text).
* :func:`to_pandas`: money columns hold ``Decimal`` objects (an ``object``
  column), never floats, so ``df["cost"].sum()`` is exact.
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
    from ._reconcile import Reconciliation
    from ._rollup import Rollup

__all__ = ["MONEY_TYPE", "Table", "allocation_summary_table", "allocation_table", "html", "reconciliation_table",
           "rollup_table", "to_arrow", "to_pandas"]

#: Arrow type of every money column: 38 digits, 15 after the point (the engine's money unit).
MONEY_TYPE = ("decimal128", 38, 15)
#: Rows shown by ``_repr_html_`` before "... more rows".
HTML_ROWS = 60

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


def html(table: Table, *, limit: int = HTML_ROWS) -> str:
    """The table as an HTML fragment for Jupyter; every value, header and caption is escaped."""
    esc = _html.escape
    right = {c for c, k in table.kinds.items() if k in ("int", "decimal")}
    out = ['<div class="attribution-table">',
           f"<p><strong>{esc(table.title)}</strong>: {esc(table.summary)}</p>",
           "<table>", "<thead><tr>"]
    out.extend(f'<th style="text-align:{"right" if c in right else "left"}">{esc(c)}</th>' for c in table.columns)
    out.append("</tr></thead><tbody>")
    for row in table.rows[:limit]:
        cells = []
        for c in table.columns:
            value = row.get(c)
            align = "right" if c in right else "left"
            text = "<em>(none)</em>" if value is None else esc(_display(value, table.kinds.get(c, "string")))
            cells.append(f'<td style="text-align:{align}">{text}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if len(table.rows) > limit:
        out.append(f"<p>... and {len(table.rows) - limit:,} more rows (use to_pandas() for all)</p>")
    out.append("</div>")
    return "\n".join(out)


def to_pandas(table: Table, feature: str) -> Any:
    """The table as a ``pandas.DataFrame``; ``decimal``, ``date``, ``json`` and ``list`` columns are ``object``.

    Money stays ``Decimal``: pandas would turn it into ``float64`` if asked to
    infer, so those columns are built as ``object`` explicitly.
    """
    pd = _import("pandas", feature, "pandas")
    data = {}
    for c in table.columns:
        values = [row.get(c) for row in table.rows]
        kind = table.kinds.get(c, "string")
        if kind in ("decimal", "date", "json", "list") or not values:
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
