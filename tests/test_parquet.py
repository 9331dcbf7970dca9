"""The Parquet report: exact decimal columns that a real query engine (DuckDB) sums to the report's totals."""

from __future__ import annotations

import importlib
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution._audit import run_audit
from attribution.cli import main
from attribution.io import read_payloads
from attribution.reports import BINARY_FORMATS, WRITERS, write_report

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "gateway-month.jsonl")
COOKBOOK = ROOT / "docs" / "cookbook.md"


def write(report, path):
    with open(path, "wb") as out:
        write_report(report, "parquet", out)
    return path


@pytest.fixture(scope="module")
def month():
    return run_audit(read_payloads(EXAMPLE), by=("team", "feature", "tenant"))


@pytest.fixture(scope="module")
def month_file(month, tmp_path_factory):
    return write(month, tmp_path_factory.mktemp("parquet") / "charges.parquet")


def test_parquet_is_a_registered_binary_format():
    assert WRITERS["parquet"].__name__ == "write_parquet"
    assert "parquet" in BINARY_FORMATS


def test_money_columns_are_exact_decimals(month, month_file):
    table = pq.read_table(month_file)
    schema = table.schema
    assert schema.field("amount").type == pa.decimal128(38, 15)
    assert schema.field("unit_price").type == pa.decimal128(38, 15)
    assert schema.field("day").type == pa.date32()
    assert schema.field("quantity").type == pa.int64()
    assert schema.names[-3:] == ["team", "feature", "tenant"]
    assert table.num_rows == len(month.charges)
    amounts = table.column("amount").to_pylist()
    assert all(isinstance(a, Decimal) for a in amounts)
    assert sum(amounts) == month.total
    for line, got in zip(month.charges, amounts, strict=True):
        assert got == line.amount
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items() if k.startswith(b"attribution.")}
    assert meta == {"attribution.schema": "attribution.charges/1", "attribution.by": '["team", "feature", "tenant"]',
                    "attribution.currency": "USD", "attribution.total": format(month.total, "f")}


def test_duckdb_gets_the_reports_totals_by_team_exactly(month_file):
    duckdb = pytest.importorskip("duckdb")
    by_team = run_audit(read_payloads(EXAMPLE), by=("team",)).rollup
    con = duckdb.connect()
    rows = con.execute("SELECT team, sum(amount), typeof(sum(amount)) FROM read_parquet(?) GROUP BY team",
                       [str(month_file)]).fetchall()
    assert {t for *_, t in rows} == {"DECIMAL(38,15)"}      # exact all the way through the engine
    got = {team: total for team, total, _ in rows}
    assert got == {key[0]: by_team[key].cost for key in by_team}
    (total,) = con.execute("SELECT sum(amount) FROM read_parquet(?)", [str(month_file)]).fetchone()
    assert total == by_team.total


def test_duckdb_totals_by_team_and_feature_match_the_rollup(month, month_file):
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.connect().execute(
        "SELECT team, feature, tenant, sum(amount) FROM read_parquet(?) GROUP BY ALL", [str(month_file)]).fetchall()
    assert {(t, f, n): v for t, f, n, v in rows} == {key: month.rollup[key].cost for key in month.rollup}


def test_a_sub_micro_dollar_charge_survives_the_round_trip(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    e = {"timestamp": "2026-06-08T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1-nano",
         "input_tokens": 1, "output_tokens": 0, "team_id": "search"}
    report = run_audit([e], by=("team",))
    path = write(report, tmp_path / "one.parquet")
    (value,) = duckdb.connect().execute("SELECT sum(amount) FROM read_parquet(?)", [str(path)]).fetchone()
    assert value == report.total == Decimal("0.0000001")
    row = pq.read_table(path).to_pylist()[0]
    assert row["day"] == date(2026, 6, 8)
    assert row["quantity"] == 1
    assert row["per"] == 1_000_000


def test_without_pyarrow_the_error_names_the_extra(month, monkeypatch):
    real = importlib.import_module

    def missing(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(at.MissingDependency, match=re.escape("pip install 'attribution[arrow]'")) as info:
        write_report(month, "parquet", io.BytesIO())
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, at.AttributionError)


def test_cli_writes_parquet_only_to_a_file(capsys, tmp_path):
    assert main(["audit", EXAMPLE, "--format", "parquet"]) == 2
    assert "-o OUT" in capsys.readouterr().err
    target = tmp_path / "charges.parquet"
    assert main(["audit", EXAMPLE, "--by", "team", "--format", "parquet", "-o", str(target)]) == 0
    assert target.read_bytes()[:4] == b"PAR1"
    assert pq.read_table(target).schema.names[-1] == "team"


# --- the cookbook's month-close queries run as written --------------------------------------------


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", COOKBOOK.read_text(encoding="utf-8"), flags=re.S)


def test_the_cookbooks_queries_run_and_tie_out(tmp_path, monkeypatch, capsys):
    duckdb = pytest.importorskip("duckdb")
    monkeypatch.chdir(tmp_path)
    commands = [c.strip().removeprefix("$ ").split() for block in _blocks("console") for c in block.splitlines()
                if c.startswith("$ attribution ")]
    (policy,) = _blocks("toml")
    (tmp_path / "policy.toml").write_text(policy, encoding="utf-8")
    assert len(commands) == 2
    for argv in commands:
        argv = [EXAMPLE if a == "examples/gateway-month.jsonl" else a for a in argv[1:]]
        assert main(argv) == 0, argv
    capsys.readouterr()
    queries = _blocks("sql")
    assert len(queries) >= 7
    con = duckdb.connect()
    results = [con.execute(q).fetchall() for q in queries]
    assert all(results)

    month = run_audit(read_payloads(EXAMPLE), by=("team",))
    by_team = {row[0]: row[1] for row in results[0]}
    assert by_team == {(k[0] or "(no team)"): month.rollup[k].cost for k in month.rollup}
    assert results[1] == [(month.total, True)]
    # the output shown under the first query is its real result
    shown = COOKBOOK.read_text(encoding="utf-8").split("```text\n", 1)[1].split("```", 1)[0]
    for team, cost in by_team.items():
        exact = format(cost.quantize(Decimal("1e-15")), "f")      # DuckDB prints all 15 decimals
        assert any(team in line and exact in line for line in shown.splitlines()), (team, exact)
    # chargeback after allocation (the FOCUS query) equals the allocation, owner by owner
    policy = at.load_policy(tmp_path / "policy.toml")
    allocation = run_audit(read_payloads(EXAMPLE), by=("team", "feature"), policy=policy).allocation
    chargeback = {row[0]: row[3] for row in results[-1]}
    assert chargeback == {(row.owner or "(no team)"): row.total for row in allocation.rows}
    assert sum(chargeback.values()) == month.total + Decimal("400.00")
