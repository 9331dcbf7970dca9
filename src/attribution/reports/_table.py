"""The terminal report: what a FinOps reader needs on one screen, most important first."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import IO

from .._audit import AuditReport
from .._money import exact, present
from .._text import safe, table
from ._views import (
    PER_REQUEST,
    model_entries,
    partial_period,
    per_1k,
    per_request,
    pool_source,
    true_up_parts,
    variance_by_cause,
)

__all__ = ["render_table", "safe", "table", "write_table"]

_PCT = Decimal("0.1")


def money(amount: Decimal, currency: str | None = "USD", quantum: Decimal | None = None) -> str:
    symbol = "$" if currency in (None, "USD") else f"{currency} "
    sign = "-" if amount < 0 else ""
    shown = present(abs(amount)) if quantum is None else present(abs(amount), quantum)
    return f"{sign if shown else ''}{symbol}{shown:,}"   # never "-$0.00"


def _signed(amount: Decimal) -> str:
    """A change as shown: ``+0.12``, ``-0.12``, or ``0.00`` when it rounds to nothing."""
    shown = present(amount)
    return f"+{shown}" if shown > 0 else f"{shown}"


def _unit(value: Decimal | None, currency: str | None, quantum: Decimal | None = None) -> str:
    return "-" if value is None else money(value, currency, quantum)


def _pct(part: Decimal, whole: Decimal) -> str:
    return f"{present(part / whole * 100, _PCT) if whole else Decimal(0)}%"


def _wrap(lines: list[str], width: int | None) -> list[str]:
    """Prose lines folded at ``width`` (a continuation indented under its line); table lines kept whole."""
    if width is None:
        return lines
    out: list[str] = []
    for block in lines:
        for line in block.split("\n"):
            if len(line) <= width or "  " in line.strip():   # two spaces inside: a table row, never folded
                out.append(line)
                continue
            indent = " " * (len(line) - len(line.lstrip()))
            out.extend(textwrap.wrap(line, width=width, initial_indent="", subsequent_indent=indent + "    ",
                                     break_long_words=False, break_on_hyphens=False) or [line])
    return out


def render_table(report: AuditReport, *, width: int | None = None) -> str:
    """The whole terminal report as one string; ``width`` folds long prose lines (tables stay whole).

    Unit costs are the exact cost divided by the requests, shown rounded half
    up: per request to $0.0001, per 1,000 requests to the cent.
    """
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
                     f"{e.usage.prompt_tokens:,}", f"{e.usage.output:,}", money(e.cost, cur),
                     _unit(per_request(e.cost, e.requests), cur, PER_REQUEST), _pct(e.cost, total)])
    n = len(dims)
    out.append(table([*dims, "requests", "input tok", "output tok", "cost", "per request", "share"], rows,
                     right=range(n, n + 6)))
    out.append("")
    out.append(f"Total priced: {money(total, cur)} over {report.rollup.requests:,} requests "
               f"({_unit(per_request(total, report.rollup.requests), cur, PER_REQUEST)} per request, "
               f"{_unit(per_1k(total, report.rollup.requests), cur)} per 1,000)")
    partial = partial_period(report)
    if partial:
        out.append(f"NOTE {partial}")

    models = model_entries(report)
    if models:
        out.append("")
        out.append("Spend by provider and model (as priced; unit costs per request and per 1,000 requests):")
        mrows = [[safe(e.key[0] or "(none)"), safe(e.key[1] or "(none)"), f"{e.requests:,}",
                  f"{e.usage.prompt_tokens:,}", f"{e.usage.output:,}", money(e.cost, cur),
                  _unit(per_request(e.cost, e.requests), cur, PER_REQUEST), _unit(per_1k(e.cost, e.requests), cur),
                  _pct(e.cost, total)] for e in models]
        out.append(table(["provider", "model", "requests", "input tok", "output tok", "cost", "per request",
                          "per 1K req", "share"], mrows, right=range(2, 9)))

    cov = report.coverage
    out.append("")
    summary = cov.summary().splitlines()
    out.append(summary[0])
    # The breakdown of the unattributed spend belongs under the coverage line it explains.
    for src in cov.by_source[:3]:
        out.append(f"  unowned from {src.dimension}={safe(src.value)}: {money(src.cost, cur)} ({src.records} calls)")
    for reason in cov.by_reason[:3]:
        out.append(f"  {safe(reason.value)}: {money(reason.cost, cur)} ({reason.records} calls)")
    out.extend(summary[1:])

    if report.changes:
        out.append("")
        out.append(f"Change vs the previous {report.period} (parts add up to the change):")
        crow = []
        for c in report.changes[:8]:
            pct = f"{c.change_pct}%" if c.change_pct is not None else "new"
            crow.append([*("(none)" if v is None else v for v in c.key), money(c.before, cur), money(c.after, cur),
                         pct, *(money(c.parts[p], cur) for p in ("volume", "tokens_per_request", "model_mix",
                                                                  "price", "retries")),
                         c.driver().replace("_", " ")])
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
        out.extend(f"  pool {safe(p.id)}: {safe(pool_source(p.source))} converted at {rate} ({safe(rate.origin or '')})"
                   for p in alloc.pools for rate in p.fx)

    rep = report.reconciliation
    if rep is not None:
        out.append("")
        out.append("Reconciliation with the invoice:")
        out.extend(f"  {line}" for line in rep.summary().splitlines())
        by_cause = variance_by_cause(rep)
        if by_cause:
            out.append("  Variance by likely cause (lines outside the tolerance, by their first cause): " + ", ".join(
                f"{cause.replace('_', ' ')} {money(amount, rep.currency or cur)} ({n} lines)"
                for cause, (amount, n) in by_cause.items()))
        off = sorted((r for r in rep.lines if r.causes), key=lambda r: (r.matched, -abs(r.variance)))
        for r in off[:5]:
            line = r.line
            what = " ".join(x for x in (line.provider, line.model or line.sku or "", line.meter or "") if x)
            flag = "ok" if r.matched else "OUTSIDE TOLERANCE"
            lc = r.currency  # every amount of a row is in its own currency, never the report's by assumption
            out.append(f"  {safe(what)} {line.period_start}..{line.period_end}: invoiced {money(r.invoiced, lc)}, "
                       f"priced {money(r.priced, lc)}, variance {money(r.variance, lc)} [{flag}]")
            out.extend(f"      - {safe(cause)}" for cause in r.causes[:3])
    parts = true_up_parts(report)
    if report.true_up is not None and parts is not None:
        t = report.true_up
        tc = t.currency or cur
        usage, shared, variance = parts
        out.append(f"True-up to the invoice: {money(t.invoiced, tc)} = priced usage {money(usage, tc)}"
                   + (f" + shared costs not on the invoice {money(shared, tc)}" if shared else "")
                   + f" + usage variance {money(variance, tc)} (invoiced usage minus priced, spread in proportion "
                   "to each owner's charge; tax and other charges are not spread). Owner total (change):")
        out.append("  " + ", ".join(f"{'(none)' if r.owner is None else safe(r.owner)} {money(r.total, tc)} "
                                    f"({_signed(r.true_up)})" for r in t.rows[:6]))

    if report.budgets:
        out.append("")
        out.append("Budgets (month to date, run-rate forecast):")
        brows = [[b.name, money(b.actual, b.currency), money(b.forecast, b.currency), money(b.budget, b.currency),
                  "OVER" if b.projected_over else "ok"] for b in report.budgets]
        out.append(table(["budget line", "actual", "forecast", "budget", "status"], brows, right=(1, 2, 3)))
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
    return "\n".join(_wrap(out, width))


@exact
def write_table(report: AuditReport, out: IO[str], *, width: int | None = None) -> None:
    """Write the terminal report; ``width`` (the terminal's columns) folds long prose lines."""
    out.write(render_table(report, width=width))
    out.write("\n")
