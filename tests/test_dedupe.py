"""Duplicate detection (issue 17, class 2): the same provider call once, two attempts twice, streaming exact.

A duplicate is a copy of one provider attempt (canonical provider, request
id, attempt number, outcome) billing the same thing. Provider synonyms fold;
retries and error-then-success attempts that share a request id are separate
calls; a streaming audit finds copies in different chunks; every report's
accounting line adds up.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import attribution as at
from attribution.reports import report_to_json, write_report

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)


def _event(rid: str, *, provider: str = "openai", model: str = "gpt-4.1-mini", tokens: int = 1_000,
           day: int = 8, second: int = 0, team: str = "search", **extra: Any) -> dict[str, Any]:
    return {"timestamp": f"2026-06-{day:02d}T12:00:{second:02d}Z", "provider": provider, "model_actual": model,
            "request_id": rid, "input_tokens": tokens, "output_tokens": 100, "team_id": team, **extra}


def _cost(event: dict[str, Any]) -> Decimal:
    rec = at.normalize(event)
    return at.price(rec).cost


def _both(events: list[Any], **kw: Any) -> list[at.AuditReport]:
    """The in-memory audit and streaming audits at a few chunk sizes."""
    return [at.run_audit(events, chunk_size=size, **kw) for size in (None, 1, 2, 3)]


def _adds_up(report: at.AuditReport) -> None:
    assert report.records_read == (report.priced_records + report.quarantined_records + report.coverage.duplicates
                                   + report.excluded)


# --- what is a duplicate ------------------------------------------------------------------------


def test_one_request_logged_under_two_spellings_of_the_provider_is_billed_once():
    first = _event("req-1", provider="azure", model="gpt-4o")
    for synonym in ("azure_openai", "Azure-OpenAI", "azure_ai"):
        events = [first, {**first, "provider": synonym, "team_id": "other", "timestamp": "2026-06-08T12:00:01Z"}]
        for report in _both(events):
            assert report.total == _cost(first), synonym
            assert report.coverage.duplicates == 1
            _adds_up(report)
        [tree] = at.build_forest(at.price(at.normalize(e)) for e in events)
        assert len(tree.calls) == 1
        assert len(tree.duplicates) == 1


def test_attempts_that_share_a_request_id_are_two_calls():
    retry = [_event("req-1", retry_count=0, status="error"), _event("req-1", retry_count=1, second=2)]
    same_attempt = [_event("req-1", status="error"), _event("req-1", status="success", second=2)]
    for events in (retry, same_attempt):
        for report in _both(events):
            assert report.total == sum(_cost(e) for e in events)
            assert report.coverage.duplicates == 0
            assert report.priced_records == 2
        trees = at.build_forest(at.price(at.normalize(e)) for e in events)
        assert sum(len(t.calls) for t in trees) == 2
        assert not any(t.duplicates for t in trees)


def test_an_exact_repeat_is_one_duplicate_in_any_chunk():
    events = [_event(f"req-{i}") for i in range(5)]
    logged = [*events, events[0], events[3]]       # replayed at the end: in another chunk when streaming
    for report in _both(logged):
        assert report.total == sum(_cost(e) for e in events)
        assert report.coverage.duplicates == 2
        assert report.coverage.duplicate_cost == _cost(events[0]) + _cost(events[3])
        assert report.duplicates_unchecked == 0
        _adds_up(report)


def test_copies_of_one_attempt_that_bill_differently_are_both_kept():
    """Not a byte-for-byte repeat: which copy is right cannot be told, so neither is silently dropped."""
    events = [_event("req-1", tokens=1_000), _event("req-1", tokens=2_000)]
    for report in _both(events):
        assert report.coverage.duplicates == 0
        assert report.total == sum(_cost(e) for e in events)


def test_dedupe_helper_for_rollups():
    """Two instrumentations logging the same calls: rollup(dedupe(...)) counts each call once."""
    recs = [at.price(at.normalize(_event(f"req-{i}"))) for i in range(3)]
    copies = [at.price(attrs.evolve(p.record, tags={"team": "gateway"})) for p in recs]
    seen = at.DuplicateFilter()
    rolled = at.rollup(at.dedupe([*recs, *copies], seen), by=("team",))
    assert rolled.total == sum(p.cost for p in recs)
    assert rolled.records == 3
    assert seen.duplicates == 3
    assert seen.duplicate_cost == sum(p.cost for p in copies)


def test_reconciliation_repeats_are_keyed_by_attempt_and_canonical_provider():
    base = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
                          at=datetime(2026, 6, 3, tzinfo=timezone.utc), request_id="r1",
                          tags={"team": "search"})
    line = at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("2.00"),
                          currency="USD", model="gpt-4.1")
    contract = at.OwnershipContract(required=("team",))

    def causes(records: list[at.UsageRecord]) -> set[str]:
        rep = at.reconcile([at.price(r) for r in records], [line], contract=contract)
        return {c.code for ln in rep.lines for c in ln.causes}

    assert "duplicates" not in causes([base, attrs.evolve(base, attempt=2)])             # a retry: two calls
    assert "duplicates" not in causes([base, attrs.evolve(base, outcome="error")])       # error, then success
    assert "duplicates" in causes([base, base])


# --- streaming is exact -----------------------------------------------------------------------


@st.composite
def _logs(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """(distinct events, the log as read): copies, retries, fallbacks, synonyms, junk, shuffled."""
    distinct: list[Any] = []
    n = draw(st.integers(1, 14))
    for i in range(n):
        rid = f"req-{i}"
        azure = draw(st.booleans())
        prov, model = ("azure", "gpt-4o") if azure else ("openai", "gpt-4.1-mini")
        day = draw(st.integers(1, 6))
        kind = draw(st.sampled_from(["one", "retry", "error_then_ok", "fallback"]))
        tokens = draw(st.integers(1, 50_000))
        first = _event(rid, provider=prov, model=model, tokens=tokens, day=day, team=f"t{i % 3}")
        distinct.append(first)
        if kind == "retry":
            distinct.append({**first, "retry_count": 1, "output_tokens": 7})
        elif kind == "error_then_ok":
            first["status"] = "error"
            distinct.append({**first, "status": "ok", "timestamp": first["timestamp"].replace(":00Z", ":05Z")})
        elif kind == "fallback":
            distinct.append(_event(f"{rid}-fb", provider="openai", model="gpt-4.1", tokens=tokens, day=day,
                                   fallback_from=model, team=first["team_id"]))
    copies = []
    for e in distinct:
        for _ in range(draw(st.integers(0, 2))):
            copy = dict(e)
            if draw(st.booleans()) and copy["provider"] == "azure":
                copy["provider"] = draw(st.sampled_from(["azure_openai", "Azure", "azure-openai"]))
            if draw(st.booleans()):                    # the other logger stamps it a moment later
                copy["timestamp"] = copy["timestamp"].replace(":00Z", ":09Z")
            copies.append(copy)
    junk = ["junk"] * draw(st.integers(0, 2))
    unknown = [_event("req-x", model="no-such-model")] * draw(st.integers(0, 2))
    log = draw(st.permutations([*distinct, *copies, *junk, *unknown]))
    return distinct, list(log)


def _summary(report: at.AuditReport) -> tuple[Any, ...]:
    by_owner = {e.key: e.cost for e in report.rollup.entries()}
    return (report.total, report.records_read, report.priced_records, report.quarantined_records,
            report.coverage.duplicates, report.coverage.duplicate_cost, report.excluded, by_owner)


@settings(max_examples=60)
@given(_logs(), st.integers(1, 6), st.booleans())
def test_streaming_audit_equals_the_in_memory_audit(logs: tuple[list[Any], list[Any]], chunk_size: int,
                                                    window: bool) -> None:
    distinct, log = logs
    kw: dict[str, Any] = {"since": date(2026, 6, 2), "until": date(2026, 6, 5)} if window else {}
    whole = at.run_audit(log, **kw)
    streamed = at.run_audit(log, chunk_size=chunk_size, **kw)
    assert _summary(streamed) == _summary(whole)
    # The oracle: the distinct calls, each billed once.
    oracle = at.run_audit(distinct, **kw)
    assert whole.total == oracle.total
    assert whole.priced_records == oracle.priced_records
    valid = [x for x in log if isinstance(x, dict) and x["model_actual"] != "no-such-model"]
    assert whole.coverage.duplicates == len(valid) - len(distinct) - (whole.excluded - oracle.excluded)
    for report in (whole, streamed):
        _adds_up(report)
        assert report.duplicates_unchecked == 0
        assert report.accounting() in _render(report, "table")


# --- the bounded window ---------------------------------------------------------------------


def test_past_the_limit_calls_are_counted_as_unchecked_and_memory_stays_bounded():
    events = [_event(f"req-{i}") for i in range(10)]
    logged = [*events, events[1], events[8]]          # req-1 was remembered, req-8 came after the limit
    report = at.run_audit(logged, chunk_size=2, dedupe_limit=5)
    assert report.coverage.duplicates == 1                     # req-1's copy is caught, req-8's cannot be
    assert report.duplicates_unchecked == 6           # req-5..9 and the copy of req-8 were not remembered
    assert report.total == sum(_cost(e) for e in events) + _cost(events[8])
    _adds_up(report)
    for fmt in ("table", "html"):
        assert "6 priced records arrived after the duplicate check was full at 5 calls" in _render(report, fmt)
    assert report_to_json(report)["totals"]["duplicates_unchecked"] == 6
    # The in-memory audit holds every call anyway: no limit.
    assert at.run_audit(logged, dedupe_limit=5).duplicates == 2

    f = at.DuplicateFilter(limit=1_000)
    recs = [at.price(at.normalize(_event(f"r{i}", tokens=i + 1))) for i in range(5_000)]
    assert not any(f.is_repeat(p) for p in recs)
    assert f.held == 1_000
    assert f.unchecked == 4_000
    assert len(f._table) <= 1_000 / 0.75 + 2          # 8 bytes a slot, never more slots than the limit needs
    assert all(f.is_repeat(p) for p in recs[:1_000])


# --- every report's accounting adds up ---------------------------------------------------------


def _render(report: at.AuditReport, fmt: str) -> str:
    buf = io.StringIO()
    write_report(report, fmt, buf)
    return buf.getvalue()


def _numbers(line: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line.split("(")[0])]


def test_accounting_line_adds_up_in_table_html_and_json():
    events = [_event(f"req-{i}", day=1 + i % 4) for i in range(6)]
    logged = [*events, events[0], events[2], "junk", _event("req-x", model="no-such-model")]
    report = at.run_audit(logged, chunk_size=3, since=date(2026, 6, 2))
    assert report.coverage.duplicates == 1
    assert report.excluded == 3
    assert report.quarantined_records == 2
    for fmt in ("table", "html"):
        [line] = [ln for ln in _render(report, fmt).splitlines() if "Records read:" in ln]
        line = re.sub(r"<[^>]+>", "", line)
        read, *parts = _numbers(line[line.index("Records read:"):])
        assert read == report.records_read == 10
        assert sum(parts) == read, line
    totals = json.loads(_render(report, "json"))["totals"]
    assert totals["records_read"] == (totals["priced_records"] + totals["quarantined_records"]
                                      + totals["duplicates"] + totals["excluded_by_date"])


def test_cli_dedupe_limit_and_accounting(tmp_path: Any, capsys: Any) -> None:
    from attribution import cli

    events = [_event(f"req-{i}") for i in range(6)]
    path = tmp_path / "usage.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [*events, events[0], events[5]]))
    code = cli.main(["audit", str(path), "--chunk-size", "2", "--dedupe-limit", "3", "--format", "json"])
    assert code in (0, 1)
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["duplicates"] == 1                  # req-0's copy; req-5 came after the limit
    assert totals["duplicates_unchecked"] == 4        # req-3, req-4, req-5 and req-5's copy
    assert totals["records_read"] == totals["priced_records"] + totals["duplicates"]
    assert cli.main(["audit", str(path), "--chunk-size", "2"]) in (0, 1)
    assert "Records read: 8 = 6 priced + 0 quarantined + 2 duplicates" in capsys.readouterr().out  # default limit
