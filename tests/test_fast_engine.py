"""The fast engine (extra ``fast``) gives the Python engine's report, to the last unit and example.

Every test runs both engines over the same files and compares the JSON
reports (``attribution.reports.report_to_json``) with the ``engine`` entry
left out; they skip, saying why, when DuckDB is not installed.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attribution as at
from attribution.invoices import read_invoice
from attribution.reports import report_to_json

duckdb = pytest.importorskip("duckdb", reason="the fast engine needs the 'fast' extra (duckdb)")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _doc(report: at.AuditReport) -> str:
    doc = report_to_json(report)
    doc.pop("engine")
    return json.dumps(doc, sort_keys=True, indent=1)


def _both(inputs: Any, **kw: Any) -> tuple[at.AuditReport, at.AuditReport]:
    py = at.run_audit(inputs, engine="python", **kw)
    fast = at.run_audit(inputs, engine="fast", **kw)
    assert py.engine == "python"
    return py, fast


def _same(inputs: Any, *, expect_fast: bool = True, **kw: Any) -> at.AuditReport:
    py, fast = _both(inputs, **kw)
    if expect_fast:
        assert fast.engine == "fast", fast.engine_note
    assert _doc(fast) == _doc(py)
    return fast


def test_example_month_is_identical() -> None:
    """The README's month: a bad line and unknown aliases quarantined by the Python engine, the rest in SQL."""
    report = _same(EXAMPLES / "gateway-month.jsonl")
    assert report.quarantined == {"bad_json": 1, "unknown_model": 36}


def test_example_month_with_invoices_owners_policy_and_cards_is_identical() -> None:
    from attribution._allocate import load_policy
    from attribution._ownership import load_owner_map

    invoices = [line for f in sorted((EXAMPLES / "invoices").iterdir()) for line in read_invoice(f)]
    report = _same(EXAMPLES / "gateway-month.jsonl", registry=at.load_registry(EXAMPLES / "pricecards"),
                   invoices=invoices, contract=at.OwnershipContract(owner_map=load_owner_map(EXAMPLES / "owners.toml")),
                   policy=load_policy(EXAMPLES / "policy.toml"))
    assert report.reconciliation is not None
    assert report.allocation is not None
    assert report.budgets


def test_benchmark_data_is_identical(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    import generate_month

    path = tmp_path / "month.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in generate_month.events(3_000, seed=11)))
    _same(path, by=("team", "feature"))
    _same(path, by=("provider", "model_billed", "day", "role"))


def test_csv_and_parquet_inputs_match_the_python_engine(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="Parquet input needs the 'arrow' extra")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"timestamp": f"2026-06-0{1 + i % 9}T10:00:00Z", "provider": "openai", "model": "gpt-4.1-mini",
             "request_id": f"r{i}", "input_tokens": 1000 + i, "output_tokens": 10 * i,
             "team_id": ["search", "growth", None][i % 3]} for i in range(60)]
    rows.append(dict(rows[0]))   # a duplicate
    rows.append({**rows[1], "request_id": "x", "model": "gpt-nope"})   # unknown model
    csv = tmp_path / "events.csv"
    cols = list(rows[0])
    csv.write_text(",".join(cols) + "\n" + "".join(
        ",".join("" if r[c] is None else str(r[c]) for c in cols) + "\n" for r in rows) + "openai,short\n")
    _same(csv)
    parquet = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    report = _same(parquet)
    assert report.duplicates == 1
    assert report.quarantined == {"unknown_model": 1}


def test_the_report_says_which_engine_ran(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1,
                                "timestamp": "2025-06-01T00:00:00Z"}) + "\n")
    assert at.run_audit(path).engine == "fast"
    assert "Engine: fast" in at.run_audit(path).engine_line()
    declined = at.run_audit(path, period="day")
    assert declined.engine == "python"
    assert declined.engine_note
    assert report_to_json(declined)["engine"] == {"name": "python", "note": declined.engine_note}
    with pytest.raises(ValueError, match="reads input files"):
        at.run_audit([{"provider": "openai"}], engine="fast")


def test_a_valid_record_the_sql_cannot_read_hands_the_input_to_python(tmp_path: Path) -> None:
    """A float token count (12.0) is read by the Python normalizer: the whole input then goes to Python."""
    path = tmp_path / "e.jsonl"
    base = {"provider": "openai", "model": "gpt-4o", "request_id": "a", "input_tokens": 10, "output_tokens": 1,
            "timestamp": "2025-06-01T00:00:00Z"}
    path.write_text(json.dumps(base) + "\n" + json.dumps({**base, "request_id": "b", "input_tokens": 12.0}) + "\n")
    py, fast = _both(path)
    assert fast.engine == "python"
    assert "does not read itself" in (fast.engine_note or "")
    assert _doc(fast) == _doc(py)


# -- property: random gateway logs ------------------------------------------------------------------

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-20250514"),
          ("openai", "gpt-5"), ("anthropic", "claude-haiku-4-5-20251001"), ("openai", "gpt-nope")]
TEAMS = ["search", "growth", "", None]
DAYS = ["2024-05-13T10:00:00Z", "2024-08-06T23:59:59Z", "2025-06-01T12:00:00.123456Z", "2026-06-08 08:00:00+02:00",
        "2026-06-30T23:30:00-01:00", None, 1748779200, "2026-02-30T00:00:00Z"]


@st.composite
def events(draw: Any) -> dict[str, Any]:
    provider, model = draw(st.sampled_from(MODELS))
    e: dict[str, Any] = {"provider": provider, draw(st.sampled_from(["model", "model_requested", "model_actual"])):
                         model}
    e["input_tokens"] = draw(st.one_of(st.integers(0, 300_000), st.just("1200"), st.just(-3), st.just(12.0)))
    e["output_tokens"] = draw(st.integers(0, 5_000))
    if draw(st.booleans()):
        e["cached_input_tokens" if provider == "openai" else "cache_read_input_tokens"] = draw(st.integers(0, 500))
    ts = draw(st.sampled_from(DAYS))
    if ts is not None:
        e["timestamp"] = ts
    team = draw(st.sampled_from(TEAMS))
    if team is not None:
        e[draw(st.sampled_from(["team", "team_id"]))] = team
    if draw(st.booleans()):
        e["metadata"] = {"service": draw(st.sampled_from(["ingest", "cron"])), "project": "p1"}
    e["request_id"] = f"r{draw(st.integers(0, 6))}"
    if draw(st.booleans()):
        e["trace_id"] = f"t{draw(st.integers(0, 3))}"
    if draw(st.integers(0, 4)) == 0:
        e["retry_count"] = 1
        e["retry_of"] = f"r{draw(st.integers(0, 6))}"
    if draw(st.integers(0, 5)) == 0:
        e["fallback_from"] = "gpt-4o"
    if draw(st.integers(0, 5)) == 0:
        e["status"] = draw(st.sampled_from(["error", "ok", "cancelled"]))
    if draw(st.integers(0, 4)) == 0:
        e["usd_estimate"] = draw(st.sampled_from([Decimal("0.0335"), Decimal("1"), "0.5"]))
    if draw(st.integers(0, 6)) == 0:
        e["service_tier"] = draw(st.sampled_from(["batch", "priority", "flex"]))
    return e


def _line(e: Any) -> str:
    if isinstance(e, str):
        return e
    return json.dumps(e, default=str)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(events(), st.sampled_from(["junk", "{\"a\": 1,}", "", "[1, 2]"])), max_size=25),
       st.lists(st.integers(0, 24), max_size=4))
def test_random_gateway_logs_give_the_same_report(tmp_path: Path, items: list[Any], copies: list[int]) -> None:
    """Random logs (providers, tiers, price changes, retries, duplicates, missing owners, bad lines): one report."""
    lines = [_line(e) for e in items]
    lines += [lines[i] for i in copies if i < len(lines)]   # exact duplicates, later in the file
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    py, fast = _both(path, by=("team", "provider"), contract=at.OwnershipContract(required=("team",)))
    assert _doc(fast) == _doc(py), fast.engine_note
