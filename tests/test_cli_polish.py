"""CLI polish (issue 22 part 5): standard input, refused --by fields, help text, progress, width,
and the terminal report's layout (coverage breakdown, budgets header, what the true-up includes)."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution import cli
from attribution._money import present
from attribution.cli import main
from attribution.reports._table import render_table
from attribution.reports._views import true_up_parts

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MONTH = EXAMPLES / "gateway-month.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _Stdin:
    """Standard input as the CLI reads it: bytes through ``.buffer``."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def total_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Total priced"))


# -- standard input ------------------------------------------------------------------------------


def test_dash_reads_usage_from_standard_input_like_the_file(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, from_file, _ = run(capsys, "audit", str(MONTH), "--engine", "python", "--by", "provider")
    assert code == 0
    monkeypatch.setattr(sys, "stdin", _Stdin(MONTH.read_bytes()))
    code, from_stdin, _ = run(capsys, "audit", "-", "--by", "provider")
    assert code == 0
    assert total_line(from_stdin) == total_line(from_file)
    # The bad line of the example month is named by its line on standard input.
    assert "<stdin>:1002" in from_stdin


def test_standard_input_bad_lines_are_quarantined_with_their_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    event = ('{"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini", '
             '"request_id": "r-stdin", "input_tokens": 1000000, "output_tokens": 0}\n')
    monkeypatch.setattr(sys, "stdin", _Stdin((event + "not json\n").encode()))
    code, out, _ = run(capsys, "audit", "-", "--by", "provider", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["totals"]["priced_records"] == 1
    assert report["totals"]["quarantined_records"] == 1
    assert report["totals"]["cost"] == "0.40"           # 1M gpt-4.1-mini input tokens at $0.40
    assert report["quarantined"]["examples"][0]["source"] == "<stdin>:2"


@pytest.mark.parametrize(("argv", "message"), [
    (["audit", "-", "-"], "only once"),
    (["audit", "-", "--engine", "fast"], "--engine fast reads files"),
    (["audit", "-", "--owners", "-"], "usage records"),
])
def test_dash_misuse_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                               argv: list[str], message: str) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


# -- --by ----------------------------------------------------------------------------------------


def test_an_unknown_by_field_is_refused_naming_the_known_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "audit", str(MONTH), "--by", "team,teem")
    assert code == 2
    assert out == ""                     # no report grouped under '(none)'
    assert "'teem'" in err
    for known in ("team", "provider", "model", "service_tier", "month", "tenant"):
        assert re.search(rf"\b{known}\b", err)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("by", ["service", "provider,priced_model", "tenant", "week"])
def test_known_and_carried_by_fields_are_accepted(capsys: pytest.CaptureFixture[str], by: str) -> None:
    """``service`` is a free-form tag the example calls carry; the others are built in or owner fields."""
    code, out, _ = run(capsys, "audit", str(MONTH), "--by", by)
    assert code == 0
    assert out.startswith(f"Spend by {by.replace(',', ', ')}")


def test_an_owner_field_no_call_carries_is_still_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini", '
                    '"input_tokens": 10, "output_tokens": 1}\n', encoding="utf-8")
    code, out, _ = run(capsys, "audit", str(path), "--by", "cost_center")
    assert code == 0
    assert "(none)" in out


# -- help ----------------------------------------------------------------------------------------


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["price", "audit"])
def test_every_flag_has_help_text(command: str) -> None:
    missing = [a.option_strings or a.dest for a in _subparser(command)._actions
               if a.help in (None, "", argparse.SUPPRESS)]
    assert missing == []


def test_price_help_lists_each_meter_with_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "price", "--help")
    assert code == 0
    assert "web search calls (priced per 1,000 calls)" in " ".join(out.split())
    assert "cache (1-hour TTL)" in " ".join(out.split())


# -- cards validate ------------------------------------------------------------------------------


def test_cards_validate_reports_every_problem_of_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = '[card]\nprovider = "acme"\nversion = "{v}"\nread_on = 2026-01-01\nsource = "x"\n'
    broken = tmp_path / "a.toml"
    broken.write_text(head.format(v="a") + textwrap.dedent("""\
        [[models]]
        id = "m"
        [[models.prices]]
        from = 2026-01-01
        input = -1
        output = 0.0000000001
        tiers.batch = { multiplier = 0 }
        """), encoding="utf-8")
    dangling = tmp_path / "b.toml"
    dangling.write_text(head.format(v="b") + '[[aliases]]\nalias = "x"\nmodel = "nowhere"\n', encoding="utf-8")
    code, out, _ = run(capsys, "cards", "validate", str(broken), str(dangling))
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    paths = {p for line in fails for p in re.findall(r"(models\[0\]\S*|aliases\[0\]\S*):", line)}
    assert {"models[0].prices[0].input", "models[0].prices[0].output", "models[0].prices[0].tiers.batch.multiplier",
            "aliases[0].model"} <= paths
    assert "layered without the cards that failed" in next(line for line in fails if "aliases[0]" in line)


# -- progress ------------------------------------------------------------------------------------


def test_the_plain_progress_bar_shows_count_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution import _progress
    from attribution._progress import Progress

    monkeypatch.setattr(_progress.shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((200, 24)))

    stream = io.StringIO()
    p = Progress(enabled=True, total=2048, stream=stream, backend="plain", interval=0.0)
    assert list(p.wrap(range(2048))) == list(range(2048))
    text = stream.getvalue()
    assert "\r" in text
    last = text.rstrip("\n").split("\r")[-1]
    assert "2,048/2,048 records" in last
    assert "records/s" in last
    assert "ETA" in last
    assert "100%" in last


def test_the_plain_progress_line_is_cut_to_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution import _progress
    from attribution._progress import Progress

    monkeypatch.setattr(_progress.shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((40, 24)))
    p = Progress(enabled=True, total=10**9)
    p.count = 123_456_789
    assert len(p.line(1.0)) == 39


def test_the_progress_bar_without_a_total_shows_the_rate_only() -> None:
    from attribution._progress import Progress

    p = Progress(enabled=True, total=None)
    p.count = 1500
    line = p.line(3.0)
    assert "1,500 records read" in line
    assert "500 records/s" in line
    assert "ETA" not in line


def test_a_disabled_progress_bar_writes_nothing() -> None:
    from attribution._progress import Progress

    stream = io.StringIO()
    p = Progress(enabled=False, total=10, stream=stream, backend="plain", interval=0.0)
    assert sum(p.wrap(range(5000))) == sum(range(5000))
    assert stream.getvalue() == ""


@pytest.mark.parametrize("backend", ["rich", "tqdm"])
def test_the_optional_bars_run_when_installed(backend: str) -> None:
    pytest.importorskip("rich.progress" if backend == "rich" else "tqdm")
    from attribution._progress import Progress

    stream = io.StringIO()
    p = Progress(enabled=True, total=3000, stream=stream, backend=backend, interval=0.0)
    assert sum(p.wrap(range(3000))) == sum(range(3000))
    assert p.count == 3000
    assert "3000" in stream.getvalue().replace(",", "")


def test_count_records_counts_lines_of_plain_inputs_only(tmp_path: Path) -> None:
    from attribution._progress import count_records

    jsonl = tmp_path / "a.jsonl"
    jsonl.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}')          # no final newline
    csv = tmp_path / "b.csv"
    csv.write_bytes(b"x,y\n1,2\n3,4\n")
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(b"{}\n"))
    assert count_records([str(jsonl), str(csv)]) == 5
    assert count_records([str(jsonl), str(gz)]) is None
    assert count_records(["-"]) is None


def test_no_progress_and_no_wrote_line_on_a_pipe_or_with_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "audit", str(MONTH), "--engine", "python")   # stderr is not a terminal here
    assert code == 0
    assert "\r" not in err
    assert "records/s" not in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, "audit", str(MONTH), "--engine", "python", "--quiet", "-o", str(tmp_path / "r.txt"))
    assert code == 0
    assert err == ""


# -- width ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def month_report() -> at.AuditReport:
    return at.run_audit([MONTH], registry=at.load_registry(EXAMPLES / "pricecards"),
                        contract=at.OwnershipContract(owner_map=at.load_owner_map(EXAMPLES / "owners.toml")),
                        invoices=[line for f in sorted((EXAMPLES / "invoices").iterdir())
                                  for line in at.read_invoice(f)],
                        policy=at.load_policy(EXAMPLES / "policy.toml"))


def test_prose_lines_fold_at_the_terminal_width_and_tables_stay_whole(month_report: at.AuditReport) -> None:
    whole = render_table(month_report)
    assert max(len(line) for line in whole.splitlines()) > 100
    folded = render_table(month_report, width=72)
    for line in folded.splitlines():
        assert len(line) <= 72 or "  " in line.strip(), line     # only table rows may be wider
    # Folding loses no words.
    assert folded.split() == whole.split()


def test_a_terminal_gets_the_folded_report(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((60, 24)))
    code, out, _ = run(capsys, "audit", str(MONTH))
    assert code == 0
    prose = [line for line in out.splitlines() if "  " not in line.strip()]
    assert prose
    assert max(len(line) for line in prose) <= 60


# -- the table report's layout -------------------------------------------------------------------


def test_the_coverage_breakdown_sits_under_the_coverage_line(month_report: at.AuditReport) -> None:
    lines = render_table(month_report).splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("Coverage:"))
    following = lines[i + 1:i + 4]
    assert all(line.startswith("  ") for line in following), following
    assert "unowned from service=ingest-worker" in following[0]
    assert lines[i + 4].startswith("Retry/fallback overhead")


def test_every_budgets_column_is_named(month_report: at.AuditReport) -> None:
    lines = render_table(month_report).splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("Budgets"))
    header, rule = lines[i + 1], lines[i + 2]
    assert header.split() == ["budget", "line", "actual", "forecast", "budget", "status"]
    assert len(rule.split()) == 5     # five columns, each with a header


def test_the_true_up_line_says_what_it_includes_and_adds_up(month_report: at.AuditReport) -> None:
    text = render_table(month_report)
    line = next(line for line in text.splitlines() if line.startswith("True-up to the invoice"))
    assert "priced usage" in line
    assert "usage variance" in line
    assert "tax" in line
    t = month_report.true_up
    assert t is not None
    parts = true_up_parts(month_report)
    assert parts is not None
    assert sum(parts) == t.invoiced                       # exactly, before rounding
    shown = [f"${present(abs(a)):,}" for a in (t.invoiced, *parts) if present(a)]
    assert all(s in line for s in shown), (shown, line)


def test_no_internal_names_in_the_report_or_the_help(month_report: at.AuditReport,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    texts = [render_table(month_report)]
    for argv in (["--help"], ["audit", "--help"], ["price", "--help"], ["cards", "--help"]):
        _, out, _ = run(capsys, *argv)
        texts.append(out)
    for text in texts:
        assert not re.search(r"(?<![\w.-])_[a-z]\w+", text), re.search(r"(?<![\w.-])_[a-z]\w+", text)
        for name in ("UsageRecord", "PricedRecord", "Quarantined(", "RollupEntry", "AuditReport", "Decimal("):
            assert name not in text




def test_the_variance_is_split_by_cause_and_the_parts_are_the_gap_and_the_price_change(
        month_report: at.AuditReport) -> None:
    """examples/README.md: the unlogged calls are $0.38, the Bedrock price change $0.42."""
    from attribution.reports._views import variance_by_cause

    rep = month_report.reconciliation
    assert rep is not None
    causes = variance_by_cause(rep)
    assert sum(n for _, n in causes.values()) == sum(1 for r in rep.lines if not r.matched) == 35
    assert present(causes["price_card_out_of_date"][0]) == Decimal("0.42")
    assert present(causes["unexplained"][0] + causes["quantity"][0]) == Decimal("0.38")
    line = next(x for x in render_table(month_report).splitlines() if "Variance by likely cause" in x)
    assert "price card out of date $0.42 (9 lines)" in line


def _events(days: list[str]) -> list[dict[str, object]]:
    return [{"timestamp": f"{d}T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
             "request_id": f"r{i}", "input_tokens": 1000, "output_tokens": 10, "team_id": "search"}
            for i, d in enumerate(days)]


def test_a_partial_last_week_is_flagged_in_the_table() -> None:
    """Data from Monday 1 June to Wednesday 10 June: week 24 runs to Sunday 14 June."""
    report = at.run_audit(_events(["2026-06-01", "2026-06-03", "2026-06-08", "2026-06-10"]), period="week")
    note = next(line for line in render_table(report).splitlines() if line.startswith("NOTE"))
    assert note == ("NOTE Partial week: the data for 2026-W24 ends on 2026-06-10, 4 days before the week ends "
                    "(2026-06-14).")


@pytest.mark.parametrize(("days", "period"), [(["2026-06-01", "2026-06-30"], None),
                                               (["2026-06-08", "2026-06-14"], "week"),
                                               (["2026-06-10"], "day")])
def test_a_complete_last_period_is_not_flagged(days: list[str], period: str | None) -> None:
    report = at.run_audit(_events(days), period=period)
    assert "Partial" not in render_table(report)
