"""The terminal report: what a FinOps reader needs on one screen, most important first."""

from __future__ import annotations

from decimal import Decimal
from typing import IO

from .._audit import AuditReport
from .._money import exact, present
from .._text import safe, table

__all__ = ["render_table", "safe", "table", "write_table"]

_PCT = Decimal("0.1")


def money(amount: Decimal, currency: str | None = "USD") -> str:
    symbol = "$" if currency in (None, "USD") else f"{currency} "
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{present(abs(amount)):,}"


def _pct(part: Decimal, whole: Decimal) -> str:
    return f"{present(part / whole * 100, _PCT) if whole else Decimal(0)}%"


def render_table(report: AuditReport) -> str:
    """The whole terminal report as one string."""
    cur = report.currency
    total = report.total
    out: list[str] = []
    dims = report.by
    window = ""
    if report.since or report.until:
        window = f", {report.since or '...'} to {report.until or '...'}"
    out.append(f"Spend by {', '.join(dims) or 'total'} ({report.priced_records:,} priced calls in "
               f"{report.trees:,} request trees{window}, {cur or 'USD'})")
    out.append("")
    rows = []
    for e in report.rollup.entries():
        rows.append([*("(none)" if v is None else v for v in e.key), f"{e.requests:,}",
                     f"{e.usage.prompt_tokens:,}", f"{e.usage.output:,}", money(e.cost, cur), _pct(e.cost, total)])
    n = len(dims)
    out.append(table([*dims, "requests", "input tok", "output tok", "cost", "share"], rows, right=range(n, n + 5)))
    out.append("")
    out.append(f"Total priced: {money(total, cur)} over {report.rollup.requests:,} requests")

    cov = report.coverage
    out.append("")
    out.append(cov.summary())
    for src in cov.by_source[:3]:
        out.append(f"  unowned from {src.dimension}={safe(src.value)}: {money(src.cost, cur)} ({src.records} calls)")
    for reason in cov.by_reason[:3]:
        out.append(f"  {safe(reason.value)}: {money(reason.cost, cur)} ({reason.records} calls)")

    if report.changes:
        out.append("")
        out.append(f"Change vs the previous {report.period} (parts add up to the change):")
        crow = []
        for c in report.changes[:8]:
            pct = f"{c.change_pct}%" if c.change_pct is not None else "new"
            crow.append([*("(none)" if v is None else v for v in c.key), money(c.before, cur), money(c.after, cur),
                         pct, *(money(c.parts[p], cur) for p in ("volume", "tokens_per_request", "model_mix",
                                                                  "price", "retries")), c.driver()])
        out.append(table([*dims, "before", "after", "change", "volume", "tokens/req", "mix", "price", "retries",
                          "driver"], crow, right=range(n, n + 8)))
    for a in report.anomalies[:5]:
        out.append(f"  ANOMALY {'/'.join('(none)' if v is None else safe(v) for v in a.key)}: "
                   f"{money(a.latest, cur)} vs trailing {money(a.baseline, cur)} ({a.reason})")

    if report.allocation is not None:
        alloc = report.allocation
        out.append("")
        out.append(f"Allocation by {alloc.by} (policy {safe(alloc.policy or '')}): direct "
                   f"{money(alloc.direct_total, cur)} + pools {money(alloc.pools_total, cur)} = "
                   f"{money(alloc.total, cur)}")
        arows = [["(none)" if r.owner is None else r.owner, money(r.direct, cur), money(r.shared, cur),
                  money(r.total, cur)] for r in alloc.rows]
        out.append(table([alloc.by, "direct", "shared", "total"], arows, right=(1, 2, 3)))
        out.extend(f"  pool {safe(p.id)}: {safe(p.source)} converted at {rate} ({safe(rate.origin or '')})"
                   for p in alloc.pools for rate in p.fx)

    rep = report.reconciliation
    if rep is not None:
        out.append("")
        out.append("Reconciliation with the invoice:")
        out.extend(f"  {line}" for line in rep.summary().splitlines())
        off = sorted((r for r in rep.lines if r.causes), key=lambda r: (r.matched, -abs(r.variance)))
        for r in off[:5]:
            line = r.line
            what = " ".join(x for x in (line.provider, line.model or line.sku or "", line.meter or "") if x)
            flag = "ok" if r.matched else "OUTSIDE TOLERANCE"
            lc = r.currency  # every amount of a row is in its own currency, never the report's by assumption
            out.append(f"  {safe(what)} {line.period_start}..{line.period_end}: invoiced {money(r.invoiced, lc)}, "
                       f"priced {money(r.priced, lc)}, variance {money(r.variance, lc)} [{flag}]")
            out.extend(f"      - {safe(cause)}" for cause in r.causes[:3])
    if report.true_up is not None:
        t = report.true_up
        tc = t.currency or cur
        out.append(f"True-up to the invoice ({money(t.invoiced, tc)}): "
                   + ", ".join(f"{'(none)' if r.owner is None else safe(r.owner)} {money(r.total, tc)} "
                               f"({'+' if r.true_up >= 0 else ''}{present(r.true_up)})" for r in t.rows[:6]))

    if report.budgets:
        out.append("")
        out.append("Budgets (month to date, run-rate forecast):")
        brows = [[b.name, money(b.actual, b.currency), money(b.forecast, b.currency), money(b.budget, b.currency),
                  "OVER" if b.projected_over else "ok"] for b in report.budgets]
        out.append(table(["budget line", "actual", "forecast", "budget", ""], brows, right=(1, 2, 3)))
        out.extend(f"  {safe(b.name)}: spend converted to {b.currency} at {rate}" for b in report.budgets
                   for rate in b.fx)

    if report.top_trees:
        out.append("")
        out.append("Most expensive request trees:")
        for tree in report.top_trees[:5]:
            owner = ", ".join(f"{k}={safe(v)}" for k, v in tree.owner.items()) or "no owner"
            over = tree.overhead()
            extra = "".join(f", {role} {money(v, cur)}" for role, v in over.items() if role != "first" and v)
            out.append(f"  {safe(tree.id)}: {money(tree.cost, cur)} in {len(tree.calls)} calls ({owner}{extra})")

    out.append("")
    out.append(report.accounting())
    out.append(report.engine_line())
    if report.flags:
        out.append("Flags: " + ", ".join(f"{code} x{k}" for code, k in sorted(report.flags.items(),
                                                                              key=lambda kv: -kv[1])))
    if report.quarantined:
        out.append("Quarantined by reason (first example of each):")
        first: dict[str, object] = {}
        for q in report.quarantine_examples:
            first.setdefault(q.code, q)
        for code, k in sorted(report.quarantined.items(), key=lambda kv: -kv[1]):
            example = f": {safe(first[code])}" if code in first else ""
            out.append(f"  {code} x{k}{example}")
    return "\n".join(out)


@exact
def write_table(report: AuditReport, out: IO[str]) -> None:
    """Write the terminal report."""
    out.write(render_table(report))
    out.write("\n")
