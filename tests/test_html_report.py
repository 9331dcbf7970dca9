"""The HTML showback report: self-contained, every data value escaped, totals a reader can trust.

The unit tests read the page as a parser would; the browser tests open the example month's
report in a real headless Chromium (Debian's ``chromium``, which ``.ci/run`` installs), check it
renders with the totals and without a single console message, and keep a screenshot and the
page under ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

import attribution as at
from attribution import cli
from attribution._money import present
from attribution.io import read_payloads
from attribution.reports import WRITERS, write_report
from attribution.reports._html import render_html

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MONTH = EXAMPLES / "gateway-month.jsonl"
#: Kept by CI (gitignored): the rendered pages, screenshots and browser logs.
ARTIFACTS = ROOT / "test-artifacts"

HOSTILE_TEAM = "<script>alert('team')</script>"
HOSTILE_FEATURE = '"><img src=x onerror=alert(1)>'
HOSTILE_TENANT = "=cmd|' /C calc'!A0"
HOSTILE_MODEL = "<svg onload=alert(2)>"
HOSTILE_SERVICE = "</td></tr></table><iframe src=//evil.example>"
BIDI = "pay\u202eroll"

#: Every element the report may contain; anything else came from data.
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "nav", "a", "div", "section",
                "h1", "h2", "h3", "p", "span", "br", "table", "thead", "tbody", "tr", "th", "td", "footer",
                "svg", "rect", "line", "text"}


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attrs(self, name: str) -> list[str]:
        return [v or "" for _, attrs in self.tags for k, v in attrs if k == name]


def money(amount: Decimal) -> str:
    return f"${present(amount):,}"


def event(day: int, team: str | None, feature: str = "answer", model: str = "gpt-4.1-mini", **extra: object,
          ) -> dict[str, object]:
    e: dict[str, object] = {"timestamp": f"2026-06-{day:02d}T12:00:00Z", "request_id": f"r{uuid.uuid4().hex[:8]}",
                            "provider": "openai", "model_actual": model, "input_tokens": 120_000,
                            "output_tokens": 9_000, **extra}
    if team is not None:
        e.update(team_id=team, feature=feature, project_id="p1", environment="production")
    return e


def hostile_report(**kwargs: object) -> at.AuditReport:
    """A report whose every data-driven corner carries a hostile value."""
    events = [
        event(1, HOSTILE_TEAM, HOSTILE_FEATURE, tenant_id=HOSTILE_TENANT),
        event(2, HOSTILE_TEAM, HOSTILE_FEATURE, tenant_id=HOSTILE_TENANT),
        event(2, "search", BIDI),
        event(3, None, metadata={"service": HOSTILE_SERVICE}),
        event(3, "search", model=HOSTILE_MODEL),
    ]
    return at.run_audit(events, by=("team", "feature"), period="day", **kwargs)  # type: ignore[arg-type]


def test_html_is_registered_as_a_report_format() -> None:
    assert "html" in WRITERS
    out = io.StringIO()
    write_report(hostile_report(), "html", out)
    assert out.getvalue().startswith("<!DOCTYPE html>")


def test_hostile_tag_values_are_shown_as_text_never_as_markup() -> None:
    page = render_html(hostile_report())
    parsed = Page(page)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    assert not [k for _, attrs in parsed.tags for k, _ in attrs if k.startswith("on")]
    # The reader sees each value exactly as the gateway logged it...
    text = "".join(parsed.text)
    for value in (HOSTILE_TEAM, HOSTILE_FEATURE, HOSTILE_TENANT.split("|")[0], HOSTILE_SERVICE, HOSTILE_MODEL):
        assert value in text, value
    # ...because the markup carries it escaped.
    assert "&lt;script&gt;alert(&#x27;team&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    for tag in ("<script", "<img", "<iframe", "<svg onload"):
        assert tag not in page.lower()


def test_a_bidirectional_override_in_a_tag_is_shown_escaped() -> None:
    page = render_html(hostile_report())
    assert "\u202e" not in page
    assert "pay\\u202eroll" in page


def test_hostile_invoice_and_policy_fields_are_escaped_too(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[policy]\nname = "<b>june</b>"\nowner = "team"\n\n[[pools]]\nid = "fee"\n'
                      'description = "<script>x</script>"\namount = 1.00\nmethod = "even"\n', encoding="utf-8")
    invoice = [
        at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                       amount=Decimal("2.00"), currency="USD", model="<marquee>gpt</marquee>"),
        at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                       amount=Decimal("0.10"), currency="USD", charge_category="tax", description='"><script>tax</script>'),
    ]
    page = render_html(hostile_report(invoices=invoice, policy=at.load_policy(policy)))
    assert {tag for tag, _ in Page(page).tags} <= ALLOWED_TAGS
    for raw in ("<b>june</b>", "<marquee>gpt</marquee>", '"><script>tax</script>'):
        assert raw not in page
    assert "&lt;b&gt;june&lt;/b&gt;" in page
    assert "&lt;marquee&gt;gpt&lt;/marquee&gt;" in page


def test_the_page_loads_nothing_from_anywhere_and_runs_no_script() -> None:
    page = render_html(hostile_report())
    parsed = Page(page)
    for value in parsed.attrs("src") + parsed.attrs("href"):
        assert not re.search(r"http|//", value), value
    assert all(h.startswith("#") for h in parsed.attrs("href"))
    assert not re.search(r"url\(|@import|<link|<script|xlink:href", page, re.IGNORECASE)
    (csp,) = [v for tag, attrs in parsed.tags if tag == "meta"
              for k, v in attrs if k == "content" and "default-src" in (v or "")]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp


@pytest.fixture(scope="module")
def month() -> at.AuditReport:
    return at.run_audit(read_payloads(str(MONTH)), by=("team", "feature"))


def test_the_headline_totals_are_on_the_page_with_their_exact_values(month: at.AuditReport) -> None:
    page = render_html(month)
    text = " ".join(Page(page).text)
    cov = month.coverage
    assert money(month.total) in text
    assert f'title="{month.total:f} USD (exact)"' in page
    assert f"{present(cov.coverage * 100, Decimal('0.1'))}%" in text
    assert money(cov.unattributed) in text
    assert money(cov.retry_cost + cov.fallback_cost) in text
    assert f"{month.quarantined_records:,}" in text
    for entry in month.rollup.entries():
        assert f'title="{entry.cost:f} USD (exact)"' in page


def test_money_is_rounded_to_the_cent_with_the_exact_amount_in_the_title() -> None:
    report = at.run_audit([event(1, "search")], by=("team",))
    page = render_html(report)
    # 120,000 input tokens at $0.40/M plus 9,000 output tokens at $1.60/M.
    assert report.total == Decimal("0.0624")
    assert '<span title="0.0624 USD (exact)">$0.06</span>' in page


def test_spend_over_time_is_per_day_from_the_charges_without_a_period(month: at.AuditReport) -> None:
    page = render_html(month)
    assert "Spend per day by team" in page
    days = {c.day for c in month.charges}
    assert len(days) == 30
    # One stacked segment tooltip per (day, team) with spend; June 1 is labelled on the axis.
    assert ">Jun 1</text>" in page


def test_spend_over_time_uses_the_period_rollup_when_a_period_is_set() -> None:
    report = at.run_audit(read_payloads(str(MONTH)), by=("team",), period="week")
    page = render_html(report)
    assert "Spend per week by team" in page
    assert "W23 · Jun 1" in page
    assert "Change vs the previous week" in page


def test_reconciliation_waterfall_steps_add_up_to_the_invoice(month: at.AuditReport) -> None:
    by_provider: dict[str, Decimal] = {}
    for c in month.charges:
        by_provider[c.provider] = by_provider.get(c.provider, Decimal(0)) + c.amount
    june = {"period_start": date(2026, 6, 1), "period_end": date(2026, 7, 1), "currency": "USD"}
    lines = [at.InvoiceLine(provider=p, amount=(v * Decimal("1.05")).quantize(Decimal("0.01")), **june)
             for p, v in by_provider.items()]
    lines.append(at.InvoiceLine(provider="openai", amount=Decimal("-1.50"), charge_category="credit", **june))
    report = at.run_audit(read_payloads(str(MONTH)), by=("team", "feature"), invoices=lines)
    rep = report.reconciliation
    assert rep is not None
    page = render_html(report)
    assert "Reconciliation waterfall" in page
    assert f"Invoiced usage: {money(rep.invoiced)} ({rep.invoiced:f} USD (exact))" in page
    total = rep.invoiced - Decimal("1.50")
    assert f"Invoice total: {money(total)} ({total:f} USD (exact))" in page
    assert "Credit: -$1.50" in page
    assert "OUTSIDE TOLERANCE" in page


def test_an_empty_audit_renders_a_page_that_says_so() -> None:
    page = render_html(at.run_audit([]))
    assert "No priced usage" in page
    assert "$0.00" in page
    assert {tag for tag, _ in Page(page).tags} <= ALLOWED_TAGS


def test_the_cli_writes_the_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "showback.html"
    assert cli.main(["audit", str(MONTH), "--by", "team,feature", "--format", "html", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "wrote html report" in capsys.readouterr().err


# -- in a real browser ---------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)")
#: Chromium logs every console message (errors, CSP violations, failed loads) on stderr like
#: ``[pid:tid:date:INFO:CONSOLE:12] "message", source: file:///... (12)``. The report runs no
#: script, so any console message at all is a fault.
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium(url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


def example_audit_args() -> list[str]:
    """The example month's audit, with its invoices, owner map, policy and cards when the folder has them."""
    args = [str(MONTH), "--by", "team,feature", "--period", "week"]
    for invoice in sorted((EXAMPLES / "invoices").glob("*")) if (EXAMPLES / "invoices").is_dir() else []:
        args += ["--invoice", str(invoice)]
    for flag, path in (("--owners", EXAMPLES / "owners.toml"), ("--policy", EXAMPLES / "policy.toml"),
                       ("--pricecards", EXAMPLES / "pricecards")):
        if path.exists():
            args += [flag, str(path)]
    return args


def keep(path: Path) -> None:
    """Copy a file into ``test-artifacts/``, atomically (other test runs may share the folder)."""
    ARTIFACTS.mkdir(exist_ok=True)
    partial = ARTIFACTS / f".{path.name}.{uuid.uuid4().hex}"
    shutil.copyfile(path, partial)
    os.replace(partial, ARTIFACTS / path.name)


def render_example(folder: Path, name: str, args: Sequence[str]) -> Path:
    """Write the audit as HTML (the page under test) and as JSON (the totals it must show)."""
    out = folder / f"{name}.html"
    # Exit 1 only says a check failed (coverage or reconciliation tolerance); the report is written.
    for fmt, path in (("html", out), ("json", out.with_suffix(".json"))):
        assert cli.main(["audit", *args, "--format", fmt, "-o", str(path)]) in (0, 1)
    keep(out)
    return out


@pytest.fixture(scope="module")
def example_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("showback")
    return {
        "showback-example-month": render_example(folder, "showback-example-month", example_audit_args()),
        "showback-example-month-daily": render_example(folder, "showback-example-month-daily",
                                                       [str(MONTH), "--by", "team,feature"]),
    }


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@needs_chromium
def test_the_console_check_catches_a_page_with_a_console_error(tmp_path: Path) -> None:
    """The check below is only worth something if it can fail: a broken page must be caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>console.error('deliberate')</script>"
                    "</body></html>", encoding="utf-8")
    result = chromium(page.as_uri(), "--dump-dom", profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert any("deliberate" in m for m in console_messages(result.stderr))


@needs_chromium
@pytest.mark.parametrize("name", ["showback-example-month", "showback-example-month-daily"])
def test_the_example_month_renders_in_chromium_with_its_totals_and_no_console_errors(
        name: str, example_pages: dict[str, Path], tmp_path: Path) -> None:
    page = example_pages[name]
    result = chromium(page.as_uri(), "--dump-dom", profile=tmp_path / "profile")
    log = tmp_path / f"{name}.dom.log"
    log.write_text(result.stderr, encoding="utf-8")
    keep(log)
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    dom = result.stdout
    assert "LLM spend showback" in dom
    totals = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert money(Decimal(totals["totals"]["cost"])) in dom
    assert money(Decimal(totals["coverage"]["unattributed"])) in dom
    if totals["reconciliation"] is not None:
        assert money(Decimal(totals["reconciliation"]["invoiced"])) in dom
    assert dom.count("<svg") >= 3
    for heading in ("Total priced", "Owner coverage", "Spend by team, feature", "Quarantined records by reason"):
        assert heading in dom
    if name == "showback-example-month" and (EXAMPLES / "invoices").is_dir():
        assert "Reconciliation waterfall" in dom


@needs_chromium
@pytest.mark.parametrize("name", ["showback-example-month", "showback-example-month-daily"])
def test_a_screenshot_of_the_example_month_is_kept_as_a_test_artifact(
        name: str, example_pages: dict[str, Path], tmp_path: Path) -> None:
    shot = tmp_path / f"{name}.png"
    result = chromium(example_pages[name].as_uri(), f"--screenshot={shot}", "--window-size=1280,2000",
                      "--hide-scrollbars", profile=tmp_path / "profile")
    log = tmp_path / f"{name}.screenshot.log"
    log.write_text(result.stderr, encoding="utf-8")
    keep(log)
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    assert png_size(shot) == (1280, 2000)
    # A blank page compresses to a few kilobytes; charts, tables and text do not.
    assert shot.stat().st_size > 50_000
    keep(shot)
