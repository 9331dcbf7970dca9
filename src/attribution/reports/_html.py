"""HTML showback report: one self-contained page a finance reader can open, print or mail.

The page is a single file: inline CSS, inline SVG charts drawn here in
Python, no JavaScript, no fonts, images or stylesheets fetched from anywhere.
A ``Content-Security-Policy`` meta tag forbids scripts and every external
load, so even a page edited by hand cannot phone home.

Every value that comes from data (tag values, model names, invoice fields,
quarantine messages, request ids) is escaped with :func:`html.escape`, in
text and in attributes alike: tags are written by whoever calls the gateway
and must be treated as hostile (``<script>``, ``"><img onerror=...>``).

Money is shown rounded half up to the cent (:func:`~attribution._money.present`);
the exact amount is in the ``title`` attribute, so hovering a number shows
every digit. Chart geometry uses floats (pixels are not money); every amount
printed on a chart is formatted from the exact ``Decimal``.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import IO

from .._audit import AuditReport
from .._invoice import InvoiceLine
from .._money import exact, present
from .._reconcile import ReconciledLine, Reconciliation
from ._table import safe
from ._views import (
    PER_REQUEST,
    model_entries,
    partial_period,
    per_1k,
    per_request,
    pool_source,
    true_up_parts,
)

__all__ = ["render_html", "write_html"]

_PCT = Decimal("0.1")
#: Colours for owners (colour-blind friendly, in order of spend); the no-owner
#: bucket is grey and owners past the palette share "other".
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f")
_NONE_COLOUR = "#9aa0a6"
_OTHER_COLOUR = "#cfd3d8"
_NONE = "(none)"
_OTHER = "other owners"
#: Bars drawn in the spend-by-owner chart before the rest are summed into one.
_MAX_BARS = 12

_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #ffffff;
  --good: #2f855a; --warn: #b7791f; --bad: #c53030; --accent: #2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
header.top { display: flex; justify-content: space-between; align-items: flex-end; flex-wrap: wrap; gap: 8px;
  border-bottom: 3px solid var(--ink); padding-bottom: 12px; margin-bottom: 18px; }
h1 { font-size: 26px; margin: 0; letter-spacing: -0.01em; }
.sub { color: var(--muted); }
h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px;
  margin: 0 0 18px; break-inside: avoid; }
section > p.lead { margin: 0 0 12px; color: var(--muted); }
nav.toc { margin: 0 0 18px; font-size: 13px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 0 0 18px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-left: 5px solid var(--accent);
  border-radius: 8px; padding: 12px 14px; }
.kpi .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 24px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
.kpi .note { font-size: 12px; color: var(--muted); }
.kpi.good { border-left-color: var(--good); } .kpi.warn { border-left-color: var(--warn); }
.kpi.bad { border-left-color: var(--bad); }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 11px; font-weight: 700;
  letter-spacing: .03em; vertical-align: 1px; }
.badge.good { background: #e6f4ea; color: var(--good); } .badge.bad { background: #fde8e8; color: var(--bad); }
.badge.warn { background: #fdf3e1; color: var(--warn); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
td.wrap { max-width: 520px; overflow-wrap: anywhere; }
.none { color: var(--muted); font-style: italic; }
.nw { white-space: nowrap; }
.small { color: var(--muted); font-size: 11px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px;
  vertical-align: 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; color: var(--muted); margin: 4px 0 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
@media (max-width: 820px) { .cols { grid-template-columns: 1fr; } }
svg { display: block; width: 100%; height: auto; margin: 6px 0; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 12px;
  fill: var(--ink); }
svg text.muted { fill: var(--muted); font-size: 11px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: #9aa5b1; stroke-width: 1; }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 8px; }
.tw { overflow-x: auto; }
p.partial { margin: 0 0 14px; color: var(--warn); }
/* A narrow window (700 px, a phone held sideways): tighter boxes, tables scroll inside their box,
   and chart text drawn larger in the chart's own units, so it stays about 11 px on screen. */
@media (max-width: 760px) {
  main { padding: 14px 10px 32px; }
  section { padding: 12px 10px; }
  h1 { font-size: 22px; }
  table { font-size: 12px; }
  th, td { padding: 4px 5px; }
  td.wrap { max-width: 260px; }
  .kpis { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; }
  .kpi .value { font-size: 20px; }
  nav.toc a { display: inline-block; margin: 0 10px 4px 0; }
  svg text { font-size: 19px; }
  svg text.muted { font-size: 17px; }
}
@media print { body { background: #fff; } nav.toc { display: none; } section, .kpi { border-color: #ccc; } }
"""

#: No scripts, no external loads of any kind: the page is its own world.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# -- text -------------------------------------------------------------------------


def _e(value: object) -> str:
    """Escape text for HTML, in element content and in quoted attributes alike.

    Control and bidirectional-override characters are shown escaped (``\\u202e``), as in the
    terminal report, so a tag value cannot reorder or hide the text around it.
    """
    return html.escape(safe(value), quote=True)


def _money_text(amount: Decimal, currency: str | None) -> str:
    symbol = "$" if currency in (None, "USD") else f"{currency} "
    shown = present(abs(amount))
    sign = "-" if amount < 0 and shown else ""  # never "-$0.00": the exact sign is in the tooltip
    return f"{sign}{symbol}{shown:,}"


def _exact(amount: Decimal, currency: str | None) -> str:
    return f"{amount:f} {currency or 'USD'} (exact)"


def _m(amount: Decimal, currency: str | None) -> str:
    """Money rounded to the cent, with the exact amount as a tooltip."""
    return f'<span title="{_e(_exact(amount, currency))}">{_e(_money_text(amount, currency))}</span>'


def _unit(amount: Decimal | None, currency: str | None, quantum: Decimal | None = None) -> str:
    """A unit cost (per request to $0.0001, per 1,000 requests to the cent), exact quotient in the tooltip."""
    if amount is None:
        return '<span class="none">-</span>'
    symbol = "$" if currency in (None, "USD") else f"{currency} "
    shown = present(abs(amount), quantum) if quantum is not None else present(abs(amount))
    sign = "-" if amount < 0 and shown else ""
    return f'<span title="{_e(_exact(amount, currency))}">{_e(f"{sign}{symbol}{shown:,}")}</span>'


def _pct_text(part: Decimal, whole: Decimal) -> str:
    return f"{present(part / whole * 100, _PCT) if whole else Decimal(0)}%"


def _share_text(share: Decimal) -> str:
    return f"{present(share * 100, _PCT)}%"


def _label(value: object) -> str:
    return _NONE if value is None or value == "" else str(value)


def _cell(value: object) -> str:
    """A table cell's content for a key value: escaped, with the no-owner bucket in grey."""
    if value is None or value == "":
        return f'<span class="none">{_NONE}</span>'
    return _e(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
           total: Sequence[str] | None = None) -> str:
    """A table from pre-escaped cell HTML; ``numeric`` columns are right-aligned."""
    nums = set(numeric)

    def cls(i: int) -> str:
        return ' class="n"' if i in nums else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    if total is not None:
        body += '<tr class="total">' + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(total)) + "</tr>"
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _section(anchor: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{_e(anchor)}"><h2>{_e(title)}</h2>{lead_html}{body}</section>'


# -- chart helpers ----------------------------------------------------------------


def _f(value: Decimal) -> float:
    # Pixel geometry only: never summed, never shown.
    return float(value)


def _nice_step(top: Decimal, steps: int = 4) -> Decimal:
    """A 1/2/2.5/5 x 10^k step that divides ``[0, top]`` into about ``steps`` parts."""
    if top <= 0:
        return Decimal(1)
    raw = top / steps
    exp = raw.adjusted()
    mantissa = raw.scaleb(-exp)
    for nice in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if mantissa <= nice:
            return nice.scaleb(exp)
    return Decimal(10).scaleb(exp)  # pragma: no cover - mantissa is always <= 10


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of ``step`` at or above ``value``."""
    return step * (value / step).to_integral_value(rounding=ROUND_CEILING)


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` at or below ``value``."""
    return step * (value / step).to_integral_value(rounding=ROUND_FLOOR)


def _axis_label(value: Decimal, step: Decimal, currency: str | None) -> str:
    symbol = "$" if currency in (None, "USD") else f"{currency} "
    sign = "-" if value < 0 else ""
    places = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{sign}{symbol}{abs(value):,.{min(places, 4)}f}"


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}" '
            f'preserveAspectRatio="xMinYMin meet">{body}</svg>')


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str, extra: str = "") -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{max(h, 0.0):.1f}" '
            f'fill="{_e(fill)}"{extra}><title>{_e(title)}</title></rect>')


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{_e(text)}</text>'


def _hbars(rows: Sequence[tuple[str, Decimal, str, str]], currency: str | None, label: str) -> str:
    """Horizontal bars: ``(label, amount, colour, tooltip)`` per row, largest first."""
    if not rows:
        return '<p class="empty">No priced usage.</p>'
    width, label_w, value_w, bar_h, gap = 1100, 300, 110, 20, 7
    top = max((r[1] for r in rows), default=Decimal(0))
    plot = width - label_w - value_w
    height = len(rows) * (bar_h + gap) + gap
    parts = []
    for i, (name, amount, colour, tip) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = plot * _f(amount / top) if top > 0 else 0.0
        # 24 characters fit the label column at the larger text a narrow window draws; the tooltip has all.
        parts.append(_text(label_w - 10, y + bar_h * 0.72, _short(name, 24), "end"))
        parts.append(_rect(label_w, y, max(w, 1.0), bar_h, colour, tip, ' rx="3"'))
        parts.append(_text(label_w + max(w, 1.0) + 6, y + bar_h * 0.72, _money_text(amount, currency)))
    return _svg(width, height, label, "".join(parts))


def _legend(items: Iterable[tuple[str, str]]) -> str:
    chips = "".join(f'<span><span class="swatch" style="background:{_e(colour)}"></span>{_e(name)}</span>'
                    for name, colour in items)
    return f'<div class="legend">{chips}</div>'


def _period_label(label: str) -> str:
    """``2026-06-03`` -> ``Jun 3``; ``2026-W23`` -> ``W23 · Jun 1``; ``2026-06`` -> ``Jun 2026``."""
    try:
        if len(label) == 10:
            d = date.fromisoformat(label)
            return f"{d:%b} {d.day}"
        if len(label) == 8 and label[4:6] == "-W":
            d = date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
            return f"{label[5:]} · {d:%b} {d.day}"
        if len(label) == 7:
            return f"{date.fromisoformat(label + '-01'):%b %Y}"
    except ValueError:
        pass
    return label


def _stacked(columns: Sequence[tuple[str, Mapping[str, Decimal]]], owners: Sequence[tuple[str, str]],
             currency: str | None, label: str) -> str:
    """Vertical stacked bars: one column per period, one segment per owner (in ``owners`` order)."""
    if not columns:
        return '<p class="empty">No dated usage.</p>'
    width, height, left, right, top_pad, bottom = 1100, 300, 70, 12, 18, 42
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    totals = [sum(col.values(), Decimal(0)) for _, col in columns]
    peak = max(totals)
    step = _nice_step(peak)
    ymax = _ceil_to(peak, step) if peak > 0 else step
    ticks = int(ymax / step)
    parts = []
    for t in range(ticks + 1):
        v = step * t
        y = top_pad + plot_h - plot_h * _f(v / ymax)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(left - 8, y + 4, _axis_label(v, step, currency), "end", "muted"))
    n = len(columns)
    slot = plot_w / n
    bar_w = max(min(slot * 0.72, 64.0), 2.0)
    every = max(1, -(-n // 16))
    for i, ((name, col), total) in enumerate(zip(columns, totals, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y = top_pad + plot_h
        for owner, _ in owners:
            amount = col.get(owner)
            if not amount:
                continue
            h = plot_h * _f(amount / ymax)
            y -= h
            colour = dict(owners)[owner]
            tip = f"{name} · {_key_label(owner)}: {_money_text(amount, currency)} ({_exact(amount, currency)})"
            parts.append(_rect(x, y, bar_w, h, colour, tip))
        if n <= 16 and total > 0:
            parts.append(_text(x + bar_w / 2, y - 5, _money_text(total, currency), "middle", "muted"))
        if i % every == 0:
            parts.append(_text(x + bar_w / 2, top_pad + plot_h + 18, _period_label(name), "middle", "muted"))
    base = top_pad + plot_h
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>')
    return _svg(width, height, label, "".join(parts))


# -- owners and colours -----------------------------------------------------------


# Chart buckets are keyed so that no tag value can pose as "no owner" or as the tail: a real
# value is "=" + value; the two buckets of our own are keys no real value can produce.
_NONE_KEY, _OTHER_KEY = "none", "other"


def _owner_key(value: object) -> str:
    return _NONE_KEY if value is None or value == "" else f"={value}"


def _key_label(key: str) -> str:
    return _NONE if key == _NONE_KEY else _OTHER if key == _OTHER_KEY else key[1:]


def _owner_colours(report: AuditReport) -> list[tuple[str, str]]:
    """First-dimension owner keys (:func:`_owner_key`) in order of spend with their colours; the tail shares "other"."""
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for e in report.rollup.entries():
        spend[_owner_key(e.key[0] if e.key else None)] += e.cost
    ranked = sorted(spend.items(), key=lambda kv: (kv[0] == _NONE_KEY, -kv[1], kv[0]))
    out: list[tuple[str, str]] = []
    colour_i = 0
    for key, _ in ranked:
        if key == _NONE_KEY:
            out.append((key, _NONE_COLOUR))
        elif colour_i < len(_PALETTE):
            out.append((key, _PALETTE[colour_i]))
            colour_i += 1
    if len(out) < len(ranked):
        out.append((_OTHER_KEY, _OTHER_COLOUR))
    return out


def _colour_of(owners: Sequence[tuple[str, str]], name: str) -> str:
    return dict(owners).get(name, _OTHER_COLOUR)


def _bucket(owners: Sequence[tuple[str, str]], key: str) -> str:
    return key if key in dict(owners) else _OTHER_KEY


# -- sections ---------------------------------------------------------------------


def _days(report: AuditReport) -> tuple[date | None, date | None]:
    days = [c.day for c in report.charges if c.day is not None]
    first = report.since or (min(days) if days else None)
    last = report.until or (max(days) if days else None)
    return first, last


def _header(report: AuditReport) -> str:
    first, last = _days(report)
    window = f"{first} to {last}" if first and last else "undated usage"
    dims = ", ".join(report.by) or "total"
    return (f'<header class="top"><div><h1>LLM spend showback</h1>'
            f'<div class="sub">{_e(window)} · by {_e(dims)} · {_e(report.currency or "USD")}</div></div>'
            f'<div class="sub">{report.records_read:,} records read · {report.priced_records:,} priced calls · '
            f'{report.trees:,} request trees</div></header>')


def _partial(report: AuditReport) -> str:
    """The partial-period warning, when the data stops before its last week or month ends."""
    note = partial_period(report)
    return f'<p class="partial"><span class="badge warn">PARTIAL</span> {_e(note)}</p>' if note else ""


def _kpi(label: str, value: str, note: str = "", tone: str = "") -> str:
    cls = f"kpi {tone}" if tone else "kpi"
    return (f'<div class="{cls}"><div class="label">{_e(label)}</div><div class="value">{value}</div>'
            f'<div class="note">{note}</div></div>')


def _kpis(report: AuditReport) -> str:
    cur = report.currency
    cov = report.coverage
    total = report.total
    cards = [
        _kpi("Total priced", _m(total, cur), f"{report.rollup.requests:,} requests, exact to the cent"),
        _kpi("Owner coverage", _e(_share_text(cov.coverage)),
             f"target: unattributed under {_e(_share_text(cov.target))} "
             + ('<span class="badge good">PASS</span>' if cov.passed else '<span class="badge bad">FAIL</span>'),
             "good" if cov.passed else "bad"),
        _kpi("Unattributed", _m(cov.unattributed, cur),
             f"{_e(_pct_text(cov.unattributed, total))} of spend · {cov.unowned_records:,} calls",
             "good" if not cov.unattributed else "warn"),
        _kpi("Retry & fallback overhead", _m(cov.overhead, cur),
             f"{_e(_pct_text(cov.overhead, total))} of spend · retries {_m(cov.retry_cost, cur)}, "
             f"fallbacks {_m(cov.fallback_cost, cur)}"),
        _kpi("Quarantined", f"{report.quarantined_records:,}",
             "records not priced, each with a reason" if report.quarantined_records else "every record priced",
             "warn" if report.quarantined_records else "good"),
    ]
    # One card pair per invoice currency: amounts of two currencies never meet in one number.
    for rep in (report.reconciliation.by_currency().values() if report.reconciliation is not None else ()):
        cards.append(_kpi("Invoiced usage", _m(rep.invoiced, rep.currency or cur),
                          f"reconciliation coverage {_e(_share_text(rep.coverage))} attributed"))
        outside = sum(1 for r in rep.lines if not r.matched)
        cards.append(_kpi("Invoice variance", _m(rep.variance, rep.currency or cur),
                          f"{_e(_pct_text(rep.variance, rep.invoiced))} of invoiced · {outside} of "
                          f"{len(rep.lines)} lines outside {_e(_share_text(rep.tolerance))}",
                          "good" if rep.passed else "bad"))
    if report.allocation is not None:
        alloc = report.allocation
        cards.append(_kpi("Charged after shared pools", _m(alloc.total, alloc.currency or cur),
                          f"direct {_m(alloc.direct_total, alloc.currency or cur)} + pools "
                          f"{_m(alloc.pools_total, alloc.currency or cur)}"))
    return f'<div class="kpis">{"".join(cards)}</div>'


def _owners(report: AuditReport, owners: Sequence[tuple[str, str]]) -> str:
    cur = report.currency
    total = report.total
    entries = report.rollup.entries()
    dims = report.by
    shown = entries[:_MAX_BARS]
    bars = []
    for e in shown:
        name = " / ".join(_label(v) for v in e.key) or "total"
        colour = _colour_of(owners, _bucket(owners, _owner_key(e.key[0] if e.key else None)))
        bars.append((name, e.cost, colour, f"{name}: {_exact(e.cost, cur)}, {e.requests:,} requests"))
    rest = entries[_MAX_BARS:]
    if rest:
        amount = sum((e.cost for e in rest), Decimal(0))
        bars.append((f"{len(rest)} more", amount, _OTHER_COLOUR, f"{len(rest)} more keys: {_exact(amount, cur)}"))
    chart = _hbars(bars, cur, f"Spend by {', '.join(dims) or 'total'}")
    key_headers = list(dims) or ["scope"]
    n = len(key_headers)
    rows = [[*(_cell(v) for v in e.key or ("all usage",)), f"{e.requests:,}", f"{e.usage.prompt_tokens:,}",
             f"{e.usage.output:,}", _m(e.cost, cur), _unit(per_request(e.cost, e.requests), cur, PER_REQUEST),
             _unit(per_1k(e.cost, e.requests), cur), _e(_pct_text(e.cost, total))] for e in entries]
    requests = report.rollup.requests
    tot = ["Total", *([""] * (n - 1)), f"{requests:,}",
           f"{sum(e.usage.prompt_tokens for e in entries):,}", f"{sum(e.usage.output for e in entries):,}",
           _m(total, cur), _unit(per_request(total, requests), cur, PER_REQUEST), _unit(per_1k(total, requests), cur),
           "100.0%" if total else "0.0%"]
    table = _table([*key_headers, "requests", "input tokens", "output tokens", "cost", "per request",
                    "per 1K requests", "share"], rows, numeric=range(n, n + 7), total=tot)
    return _section("owners", f"Spend by {', '.join(dims) or 'total'}", chart + table,
                    "Priced usage per owner key, most expensive first. Input tokens include cached input. "
                    "Unit costs are the exact cost over the requests, shown rounded half up.")


def _models(report: AuditReport) -> str:
    entries = model_entries(report)
    if not entries:
        return ""
    cur = report.currency
    total = report.total
    rows = [[_cell(e.key[0]), _cell(e.key[1]), f"{e.requests:,}", f"{e.usage.prompt_tokens:,}", f"{e.usage.output:,}",
             _m(e.cost, cur), _unit(per_request(e.cost, e.requests), cur, PER_REQUEST),
             _unit(per_1k(e.cost, e.requests), cur), _e(_pct_text(e.cost, total))] for e in entries]
    bars = [(_label(e.key[1]), e.cost, _PALETTE[i % len(_PALETTE)],
             f"{_label(e.key[0])} / {_label(e.key[1])}: {_exact(e.cost, cur)}, {e.requests:,} requests")
            for i, e in enumerate(entries[:_MAX_BARS])]
    table = _table(["provider", "model", "requests", "input tokens", "output tokens", "cost", "per request",
                    "per 1K requests", "share"], rows, numeric=range(2, 9))
    return _section("models", "Spend by provider and model", _hbars(bars, cur, "Spend by provider and model") + table,
                    "Priced usage per model as priced (a fallback counts as the model that served it), most "
                    "expensive first, with the cost per request and per 1,000 requests.")


def _over_time(report: AuditReport, owners: Sequence[tuple[str, str]]) -> str:
    cur = report.currency
    cols: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if report.periods is not None:
        unit = report.period or "period"
        for e in report.periods.entries():
            if e.key[0] is None:
                continue
            owner = _bucket(owners, _owner_key(e.key[1] if len(e.key) > 1 else None))
            cols[str(e.key[0])][owner] += e.cost
    else:
        unit = "day"
        for c in report.charges:
            if c.day is None:
                continue
            owner = _bucket(owners, _owner_key(c.owner[0][1] if c.owner else None))
            cols[c.day.isoformat()][owner] += c.amount
    columns = sorted(cols.items())
    first_dim = report.by[0] if report.by else "owner"
    chart = _stacked(columns, owners, cur, f"Spend per {unit} by {first_dim}")
    present_owners = {o for _, col in columns for o in col}
    legend = _legend((_key_label(key), colour) for key, colour in owners if key in present_owners)
    return _section("time", f"Spend per {unit} by {first_dim}", chart + legend,
                    "Each bar stacks the owners' spend in that "
                    f"{_e(unit)} (UTC). Hover a segment for the exact amount.")


def _coverage(report: AuditReport) -> str:
    cov = report.coverage
    cur = report.currency
    width, height, left, right = 1100, 64, 0, 0
    plot = width - left - right
    parts = []
    if cov.total > 0:
        owned_w = plot * _f(cov.attributed / cov.total)
        parts.append(_rect(left, 8, owned_w, 28, "#59a14f",
                           f"attributed: {_exact(cov.attributed, cur)}"))
        parts.append(_rect(left + owned_w, 8, plot - owned_w, 28, "#e8a33d",
                           f"unattributed: {_exact(cov.unattributed, cur)}"))
        mark = left + plot * _f(1 - cov.target)
        parts.append(f'<line x1="{mark:.1f}" x2="{mark:.1f}" y1="2" y2="42" stroke="#1f2933" '
                     'stroke-width="2" stroke-dasharray="4 3"/>')
        parts.append(_text(mark - 6, 56, f"target: {_share_text(1 - cov.target)} owned", "end", "muted"))
        parts.append(_text(left + 8, 27, f"attributed {_share_text(cov.coverage)}", extra=' fill="#fff"'))
    bar = _svg(width, height, "Owner coverage", "".join(parts)) if parts else '<p class="empty">No priced usage.</p>'
    legend = _legend([("attributed (valid owner)", "#59a14f"), ("unattributed", "#e8a33d")])
    reasons = _table(["reason", "calls", "cost"],
                     [[_e(s.value), f"{s.records:,}", _m(s.cost, cur)] for s in cov.by_reason], numeric=(1, 2)) \
        if cov.by_reason else '<p class="empty">Every priced call has a valid owner.</p>'
    sources = _table(["where from", "calls", "cost"],
                     [[f"{_e(s.dimension)} = {_cell(s.value)}", f"{s.records:,}", _m(s.cost, cur)]
                      for s in cov.by_source], numeric=(1, 2)) \
        if cov.by_source else '<p class="empty">No unowned spend.</p>'
    quality = [
        ["Retries", _m(cov.retry_cost, cur)],
        ["Fallbacks", _m(cov.fallback_cost, cur)],
        ["Duplicate log lines removed", f"{cov.duplicates:,} ({_m(cov.duplicate_cost, cur)} not double counted)"],
        ["Caller estimates that drift", f"{cov.estimate_drift:,} ({_m(cov.estimate_drift_amount, cur)} apart)"],
    ]
    if report.excluded:
        quality.append(["Outside the date window", f"{report.excluded:,} calls"])
    required = ", ".join(report.required) or "none"
    body = (bar + legend + '<div class="cols"><div><h3>Unattributed by reason</h3>' + reasons
            + '</div><div><h3>Unattributed by source</h3>' + sources + "</div></div>"
            + "<h3>Overhead and data quality</h3>" + _table(["measure", "amount"], quality, numeric=(1,)))
    return _section("coverage", "Owner coverage", body,
                    f"A call is attributed when it carries every required owner field ({_e(required)}) "
                    f"and maps to an owner. {_m(cov.unattributed, cur)} of {_m(cov.total, cur)} has no valid "
                    "owner.")


def _waterfall(steps: Sequence[tuple[str, Decimal, str, bool]], currency: str | None, label: str) -> str:
    """A waterfall: ``(label, amount, colour, is_total)``; totals are drawn from zero."""
    width, height, left, right, top_pad, bottom = 1100, 340, 70, 12, 24, 74
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    running = Decimal(0)
    spans: list[tuple[Decimal, Decimal]] = []
    for _, amount, _, is_total in steps:
        if is_total:
            spans.append((Decimal(0), amount))
            running = amount
        else:
            spans.append((running, running + amount))
            running += amount
    lo = min(Decimal(0), *(min(a, b) for a, b in spans))
    hi = max(Decimal(0), *(max(a, b) for a, b in spans))
    step = _nice_step(hi - lo)
    lo = _floor_to(lo, step)
    hi = _ceil_to(hi, step) if hi > 0 else step
    span = hi - lo

    def y(v: Decimal) -> float:
        return top_pad + plot_h - plot_h * _f((v - lo) / span)

    parts = []
    v = lo
    while v <= hi:
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(_text(left - 8, y(v) + 4, _axis_label(v, step, currency), "end", "muted"))
        v += step
    n = len(steps)
    slot = plot_w / n
    bar_w = min(slot * 0.62, 90.0)
    prev_end: float | None = None
    for i, ((name, amount, colour, is_total), (a, b)) in enumerate(zip(steps, spans, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y_top, y_bot = y(max(a, b)), y(min(a, b))
        if prev_end is not None:
            parts.append(f'<line x1="{x - (slot - bar_w):.1f}" x2="{x:.1f}" y1="{y(a if not is_total else b):.1f}" '
                         f'y2="{y(a if not is_total else b):.1f}" stroke="#9aa5b1" stroke-dasharray="3 3"/>')
        parts.append(_rect(x, y_top, bar_w, max(y_bot - y_top, 1.0), colour,
                           f"{name}: {_money_text(amount, currency)} ({_exact(amount, currency)})"))
        shown = _money_text(amount, currency)
        if not is_total and amount > 0 and present(amount):
            shown = "+" + shown
        parts.append(_text(x + bar_w / 2, y_top - 6, shown, "middle", extra=' font-weight="600"' if is_total else ""))
        # Up to three lines of as many characters as the slot holds at the larger text of a narrow window.
        for k, text in enumerate(_wrap_label(name, max(6, int(slot / 10)))):
            parts.append(_text(x + bar_w / 2, top_pad + plot_h + 18 + 18 * k, text, "middle", "muted"))
        prev_end = y(b)
    base = y(Decimal(0))
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base:.1f}" y2="{base:.1f}"/>')
    return _svg(width, height, label, "".join(parts))


def _wrap_label(name: str, limit: int, lines: int = 3) -> list[str]:
    """``name`` folded at spaces into at most ``lines`` lines of ``limit`` characters (the last one cut with …).

    >>> _wrap_label("Variance: price card out of date", 10)
    ['Variance:', 'price card', 'out of da…']
    """
    out: list[str] = []
    for word in name.split():
        if out and len(out[-1]) + 1 + len(word) <= limit:
            out[-1] += " " + word
        else:
            out.append(word)
    if len(out) > lines:
        out = [*out[: lines - 1], " ".join(out[lines - 1:])]
    return [_short(line, limit) for line in out]


def _reconciliation(report: AuditReport) -> str:
    if report.reconciliation is None:
        return ""
    views = report.reconciliation.by_currency()
    if len(views) <= 1:
        return _reconciliation_in(report, next(iter(views.values()), report.reconciliation), "", "reconciliation")
    # Several currencies: one section each, side by side, never summed.
    return "".join(_reconciliation_in(report, rep, f" ({cur})", "reconciliation" + (f"-{cur.lower()}" if i else ""))
                   for i, (cur, rep) in enumerate(views.items()))


def _reconciliation_in(report: AuditReport, rep: Reconciliation, suffix: str, anchor: str) -> str:
    cur = rep.currency or report.currency
    unowned = sum((r.unowned for r in rep.lines), Decimal(0))
    by_cause: dict[str, Decimal] = defaultdict(Decimal)
    for r in rep.lines:
        if not r.variance:
            continue
        cause = "within tolerance" if r.matched else (r.causes[0].code if r.causes else "unexplained")
        by_cause[cause.replace("_", " ")] += r.variance
    steps: list[tuple[str, Decimal, str, bool]] = [("Attributed", rep.attributed, "#59a14f", False),
                                                   ("Unowned usage", unowned, "#e8a33d", False)]
    for cause, amount in sorted(by_cause.items(), key=lambda kv: -abs(kv[1])):
        steps.append((f"Variance: {cause}", amount, "#e15759" if amount > 0 else "#8e6fb5", False))
    steps.append(("Invoiced usage", rep.invoiced, "#34495e", True))
    other = rep.other_total
    for category, amount in sorted(other.items()):
        steps.append((category.capitalize(), amount, "#a0aab4", False))
    if other:
        steps.append(("Invoice total", rep.invoiced + sum(other.values(), Decimal(0)), "#1f2933", True))
    chart = _waterfall(steps, cur, "Reconciliation waterfall")
    legend = _legend([("attributed", "#59a14f"), ("unowned usage", "#e8a33d"), ("variance: billed, not in usage",
                                                                                "#e15759"),
                      ("variance: priced above the bill", "#8e6fb5"), ("other charges", "#a0aab4"),
                      ("totals", "#34495e")])
    # Cost exports have a line per day, model, meter and project (hundreds a month): group them
    # for reading, and list only the lines outside the tolerance one by one.
    groups: dict[tuple[str, str], list[ReconciledLine]] = defaultdict(list)
    for r in rep.lines:
        groups[r.line.provider, r.line.model or r.line.sku or "all usage"].append(r)
    rows = []
    for (provider, what), rs in sorted(groups.items(), key=lambda kv: (-sum(r.invoiced for r in kv[1]), kv[0])):
        off = sum(1 for r in rs if not r.matched)
        status = ('<span class="badge good">OK</span>' if not off
                  else f'<span class="badge bad">{off} OFF</span>')
        start = min(r.line.period_start for r in rs)
        stop = max(r.line.period_end for r in rs)
        rows.append([_e(provider), _e(what), f'<span class="nw">{_e(start)} to {_e(stop)}</span>', f"{len(rs):,}",
                     *(_m(sum((getattr(r, f) for r in rs), Decimal(0)), cur)
                       for f in ("invoiced", "priced", "attributed", "unowned", "variance")), status])
    total = ["Total", "", "", f"{len(rep.lines):,}", _m(rep.invoiced, cur), _m(rep.priced, cur),
             _m(rep.attributed, cur), _m(unowned, cur), _m(rep.variance, cur), ""]
    lines = _table(["provider", "model or SKU", "period", "lines", "invoiced", "priced", "attributed", "unowned",
                    "variance", "status"], rows, numeric=range(3, 9), total=total)
    outside = sorted((r for r in rep.lines if not r.matched), key=lambda r: -abs(r.variance))
    if outside:
        off_rows = []
        for r in outside[:20]:
            line = r.line
            what = " ".join(x for x in (line.model or line.sku or "", line.meter or "", line.project or "") if x)
            off_rows.append([_e(line.provider), _e(what or "all usage"),
                             f'<span class="nw">{_e(line.period_start)} to {_e(line.period_end)}</span>',
                                            _m(r.invoiced, cur), _m(r.priced, cur), _m(r.variance, cur),
                             "<br>".join(_e(c) for c in r.causes[:3])])
        lines += f"<h3>Lines outside the {_e(_share_text(rep.tolerance))} tolerance, largest first</h3>" + _table(
            ["provider", "line", "period", "invoiced", "priced", "variance", "likely causes"], off_rows,
            numeric=(3, 4, 5))
        if len(outside) > 20:
            lines += f'<p class="empty">and {len(outside) - 20:,} more lines outside the tolerance.</p>'
    else:
        lines += (f'<p class="empty">All {len(rep.lines):,} invoice lines are within '
                  f'{_e(_share_text(rep.tolerance))} of the priced usage.</p>')
    extra = ""
    if rep.unmatched:
        extra += "<h3>Priced usage with no invoice line</h3>" + _table(
            ["provider", "model", "meter", "day", "calls", "cost"],
            [[_e(u.provider), _e(u.model), _e(u.meter), _e(u.day or ""), f"{u.records:,}", _m(u.cost, cur)]
             for u in rep.unmatched[:20]], numeric=(4, 5))
        if len(rep.unmatched) > 20:
            extra += (f'<p class="empty">and {len(rep.unmatched) - 20:,} more groups, '
                      f'{_m(rep.unmatched_cost, cur)} in all.</p>')
    if rep.other_charges:
        charges: dict[tuple[str, str, str], list[InvoiceLine]] = defaultdict(list)
        for c in rep.other_charges:
            charges[c.provider, c.charge_category, c.currency].append(c)
        extra += "<h3>Other charges (never netted into usage)</h3>" + _table(
            ["provider", "category", "description", "lines", "amount"],
            [[_e(provider), _e(category), _e("; ".join(dict.fromkeys(c.description or c.sku or "" for c in cs))),
              f"{len(cs):,}", _m(sum((c.amount for c in cs), Decimal(0)), currency)]
             for (provider, category, currency), cs in sorted(charges.items())],
            numeric=(3, 4))
    if rep.out_of_scope:
        extra += "<h3>Out of scope: not AI services, never reconciled</h3>" + _table(
            ["provider", "service", "rows", "amount"],
            [[_e(x.provider), _e(x.sku or ""), f"{int(x.quantity or 0):,}", _m(x.amount, x.currency)]
             for x in rep.out_of_scope[:20]], numeric=(2, 3))
        if len(rep.out_of_scope) > 20:
            extra += f'<p class="empty">and {len(rep.out_of_scope) - 20:,} more services.</p>'
    lead = (f"Invoiced usage {_m(rep.invoiced, cur)} splits into attributed {_m(rep.attributed, cur)}, unowned "
            f"{_m(unowned, cur)} and variance {_m(rep.variance, cur)} (invoiced minus priced); coverage "
            f"{_e(_share_text(rep.coverage))}. "
            + ('<span class="badge good">WITHIN TOLERANCE</span>' if rep.passed
               else '<span class="badge bad">OUTSIDE TOLERANCE</span>'))
    converted = [f"<li>{_e(r.line.line_id or r.line.model or r.line.provider)}: {_e(f'{r.line.amount:f}')} "
                 f"{_e(r.line.currency)} at {_e(str(r.fx))} = {_m(r.invoiced, cur)}</li>" for r in rep.lines if r.fx]
    if converted:
        extra += "<h3>Invoice lines converted with the FX table</h3><ul>" + "".join(converted) + "</ul>"
    return _section(anchor, "Reconciliation with the invoice" + suffix,
                    chart + legend + "<h3>Invoice lines by provider and model</h3>" + lines + extra, lead)


def _allocation(report: AuditReport) -> str:
    alloc = report.allocation
    if alloc is None:
        return ""
    cur = alloc.currency or report.currency
    pools = [p.id for p in alloc.pools]
    rows = [[_cell(r.owner), _m(r.direct, cur), *(_m(r.share(p), cur) for p in pools), _m(r.total, cur)]
            for r in alloc.rows]
    total = ["Total", _m(alloc.direct_total, cur),
             *(_m(sum((r.share(p) for r in alloc.rows), Decimal(0)), cur) for p in pools), _m(alloc.total, cur)]
    table = _table([alloc.by, "direct", *pools, "total"], rows, numeric=range(1, len(pools) + 3), total=total)
    pool_rows = [[_e(p.id), _e(p.kind), _e(p.method + (f" by {p.basis}" if p.basis else "")),
                  _e(pool_source(p.source) + "".join(f", converted at {rate}" for rate in p.fx)),
                  _m(p.amount, cur), _e(", ".join(p.flags))] for p in alloc.pools]
    pool_table = _table(["pool", "kind", "method", "source", "amount", "flags"], pool_rows, numeric=(4,))
    return _section("allocation", f"Allocation by {alloc.by}", table + "<h3>Shared pools</h3>" + pool_table,
                    f"Direct cost plus each owner's share of the shared pools (policy {_e(alloc.policy or '-')}). "
                    "Shares sum to each pool exactly (largest remainder, to the cent).")


def _true_up(report: AuditReport) -> str:
    t = report.true_up
    if t is None:
        return ""
    cur = t.currency or report.currency
    rows = [[_cell(r.owner), _m(r.attributed, cur), _m(r.true_up, cur), _m(r.total, cur)] for r in t.rows]
    total = ["Total", _m(t.attributed, cur), _m(t.variance, cur), _m(t.invoiced, cur)]
    parts = true_up_parts(report)
    made_of = ""
    if parts is not None:
        usage, shared, variance = parts
        made_of = (f"What owners are charged, {_m(t.invoiced, cur)}, is priced usage {_m(usage, cur)}"
                   + (f" plus shared costs not on the provider's invoice {_m(shared, cur)}" if shared else "")
                   + f" plus the usage variance {_m(variance, cur)} (invoiced usage minus priced usage). ")
    return _section("true-up", "True-up to the invoice",
                    _table(["owner", "before true-up", "true-up", "charged"], rows, numeric=(1, 2, 3), total=total),
                    made_of + "The variance is spread over owners in proportion to what they were charged; shared "
                    "pools that are not on the provider's invoice are kept as they are; tax and other charges "
                    "are not spread.")


def _budgets(report: AuditReport) -> str:
    if not report.budgets:
        return ""
    width, label_w, value_w, bar_h, gap = 1100, 200, 250, 18, 14
    plot = width - label_w - value_w
    top = max(max(b.budget, b.forecast, b.actual) for b in report.budgets) or Decimal(1)
    parts = []
    for i, b in enumerate(report.budgets):
        y = gap + i * (bar_h + gap)
        parts.append(_text(label_w - 10, y + bar_h * 0.75, _short(b.name, 28), "end"))
        parts.append(_rect(label_w, y, plot, bar_h, "#eef1f4", f"{b.name}"))
        parts.append(_rect(label_w, y, plot * _f(b.forecast / top), bar_h, "#f6c88f" if b.projected_over
                           else "#b9d7b0", f"forecast {_exact(b.forecast, b.currency)}"))
        parts.append(_rect(label_w, y + 4, plot * _f(b.actual / top), bar_h - 8, "#c05621" if b.projected_over
                           else "#2f855a", f"actual {_exact(b.actual, b.currency)}"))
        mark = label_w + plot * _f(b.budget / top)
        parts.append(f'<line x1="{mark:.1f}" x2="{mark:.1f}" y1="{y - 3}" y2="{y + bar_h + 3}" stroke="#1f2933" '
                     'stroke-width="2"/>')
        parts.append(_text(label_w + plot + 10, y + bar_h * 0.75,
                           f"{_money_text(b.actual, b.currency)} of {_money_text(b.budget, b.currency)}", cls="muted"))
    chart = _svg(width, len(report.budgets) * (bar_h + gap) + gap, "Budgets", "".join(parts))
    legend = _legend([("actual to date", "#2f855a"), ("month-end forecast", "#b9d7b0"),
                      ("projected over budget", "#c05621"), ("budget", "#1f2933")])
    rows = [[_e(b.name), _e(b.month), _m(b.actual, b.currency), _m(b.forecast, b.currency), _m(b.budget, b.currency),
             f"{b.days_elapsed} of {b.days_in_month}",
             '<span class="badge bad">OVER</span>' if b.projected_over else '<span class="badge good">OK</span>']
            for b in report.budgets]
    table = _table(["budget line", "month", "actual", "forecast", "budget", "days", "status"], rows,
                   numeric=(2, 3, 4, 5))
    converted = [f"<li>{_e(b.name)}: spend converted to {_e(b.currency)} at {_e(str(rate))}</li>"
                 for b in report.budgets for rate in b.fx]
    if converted:
        table += "<h3>Spend converted with the FX table</h3><ul>" + "".join(converted) + "</ul>"
    return _section("budgets", "Budgets", chart + legend + table,
                    "Month to date against each budget line, with a run-rate forecast to the month end.")


def _changes(report: AuditReport) -> str:
    if not report.changes and not report.anomalies:
        return ""
    cur = report.currency
    dims = report.by
    n = len(dims)
    parts = ("volume", "tokens_per_request", "model_mix", "price", "retries")
    rows = []
    for c in report.changes[:15]:
        pct = f"{c.change_pct}%" if c.change_pct is not None else "new"
        rows.append([*(_cell(v) for v in c.key), _m(c.before, cur), _m(c.after, cur), _m(c.change, cur), _e(pct),
                     *(_m(c.parts[p], cur) for p in parts), _e(c.driver().replace("_", " "))])
    body = _table([*dims, "before", "after", "change", "%", "volume", "tokens/request", "model mix", "price",
                   "retries", "driver"], rows, numeric=range(n, n + 9)) if rows else ""
    if len(report.changes) > 15:
        body += f'<p class="empty">and {len(report.changes) - 15:,} more keys.</p>'
    if report.anomalies:
        body += "<h3>Anomalies</h3>" + _table(
            ["key", "latest", "trailing baseline", "why"],
            [[_e(" / ".join(_label(v) for v in a.key)), _m(a.latest, cur), _m(a.baseline, cur), _e(a.reason)]
             for a in report.anomalies[:15]], numeric=(1, 2))
    partial = partial_period(report)
    return _section("changes", f"Change vs the previous {report.period or 'period'}", body,
                    "Each owner's change split into its drivers; the parts add up to the change exactly. "
                    + (f'<span class="badge warn">PARTIAL</span> {_e(partial)}' if partial
                       else "" if report.period == "day" else f"The latest {_e(report.period or 'period')} is complete."))


def _trees(report: AuditReport) -> str:
    if not report.top_trees:
        return ""
    cur = report.currency
    rows = []
    for t in report.top_trees:
        over = t.overhead()
        main = ", ".join(f"{k}={v}" for k, v in t.owner.items() if k in report.by)
        rest = ", ".join(f"{k}={v}" for k, v in t.owner.items() if k not in report.by)
        owner = f'<span class="{"" if main else "none"}">{_e(main or "no owner")}</span>'
        if rest:
            owner += f'<br><span class="small">{_e(rest)}</span>'
        models = ", ".join(dict.fromkeys(c.record.billed_model for c in t.calls))
        rows.append([_e(t.id), owner, _e(models), f"{len(t.calls):,}", _m(over["retry"], cur), _m(over["fallback"], cur),
                     _m(t.cost, cur), _e(", ".join(t.flags))])
    return _section("trees", "Most expensive request trees",
                    _table(["tree", "owner", "models", "calls", "retries", "fallbacks", "cost", "flags"], rows,
                           numeric=(3, 4, 5, 6)),
                    "A tree is one user action: every provider call it made, retries and fallbacks included.")


def _quarantine(report: AuditReport) -> str:
    accounting = report.accounting() + ". " + report.engine_line() + "."
    body = ""
    if report.quarantined:
        examples: dict[str, list[str]] = defaultdict(list)
        for q in report.quarantine_examples:
            where = f"{q.source}: " if q.source else ""
            examples[q.code].append(f"{where}{q.message}")
        rows = [[_e(code), f"{k:,}", "<br>".join(_e(x) for x in examples.get(code, []))]
                for code, k in sorted(report.quarantined.items(), key=lambda kv: (-kv[1], kv[0]))]
        body += _table(["reason", "records", "examples (source: message)"], rows, numeric=(1,))
    else:
        body += '<p class="empty">No quarantined records: every record was priced.</p>'
    if report.flags:
        body += "<h3>Flags on priced calls</h3>" + _table(
            ["flag", "calls"], [[_e(code), f"{k:,}"] for code, k in sorted(report.flags.items(),
                                                                             key=lambda kv: (-kv[1], kv[0]))],
            numeric=(1,))
    return _section("quarantine", "Quarantined records by reason", body, _e(accounting)
                    + " Nothing is dropped or priced at $0 silently.")


def _toc(sections: Sequence[tuple[str, str]]) -> str:
    links = "".join(f'<a href="#{_e(anchor)}">{_e(title)}</a>' for anchor, title in sections)
    return f'<nav class="toc">{links}</nav>'


def render_html(report: AuditReport) -> str:
    """The whole report as one self-contained HTML document.

    >>> import attribution as at
    >>> event = {"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
    ...          "input_tokens": 18240, "output_tokens": 1642, "team_id": "<script>alert(1)</script>"}
    >>> page = render_html(at.run_audit([event]))
    >>> "<script>" in page, "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    (False, True)
    """
    owners = _owner_colours(report)
    blocks = [
        ("owners", "Spend by owner", _owners(report, owners)),
        ("models", "Models", _models(report)),
        ("time", "Over time", _over_time(report, owners)),
        ("coverage", "Coverage", _coverage(report)),
        ("reconciliation", "Reconciliation", _reconciliation(report)),
        ("allocation", "Allocation", _allocation(report)),
        ("true-up", "True-up", _true_up(report)),
        ("budgets", "Budgets", _budgets(report)),
        ("changes", "Changes", _changes(report)),
        ("trees", "Request trees", _trees(report)),
        ("quarantine", "Quarantined", _quarantine(report)),
    ]
    present_blocks = [(a, t, b) for a, t, b in blocks if b]
    # Imported here: the package imports nothing from the writers, and must not start to by accident.
    from .. import __version__

    first, last = _days(report)
    title = f"LLM spend showback {first} to {last}" if first and last else "LLM spend showback"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="attribution {_e(__version__)}">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        _header(report),
        _partial(report),
        _kpis(report),
        _toc([(a, t) for a, t, _ in present_blocks]),
        *(b for _, _, b in present_blocks),
        ("<footer>Amounts are kept exact and shown rounded half up to the cent; hover any amount for every "
         "digit. Totals are summed from the exact amounts, so a column of rounded figures can differ from "
         f"its total by a cent. Generated by attribution {_e(__version__)}.</footer>"),
        "</main></body></html>\n",
    ])


@exact
def write_html(report: AuditReport, out: IO[str]) -> None:
    """Write the self-contained HTML showback report (inline CSS and SVG, no scripts, no external assets)."""
    out.write(render_html(report))
