"""The CSV report: one exact row per charge line, and nothing a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal, localcontext

import pytest

from attribution._audit import ChargeLine, run_audit
from attribution.cli import main
from attribution.io import read_payloads
from attribution.reports import WRITERS, write_report
from attribution.reports._csv import CHARGE_COLUMNS, FORMULA_TRIGGERS, charge_row, guard_cell, number_text

EXAMPLE = "examples/gateway-month.jsonl"
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "\uff1dcmd", "\uff0b1",
           "\uff0d1", "\uff20x", "<script>alert(1)</script>"]
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def event(team, feature="f", *, day="2026-06-08", model="gpt-4.1-mini", inp=18_240, out=1_642, **extra):
    return {"timestamp": f"{day}T12:15:44Z", "provider": "openai", "model_actual": model, "input_tokens": inp,
            "output_tokens": out, "team_id": team, "feature": feature, **extra}


def to_csv(report):
    buf = io.StringIO(newline="")
    write_report(report, "csv", buf)
    return buf.getvalue()


def parse(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.fixture(scope="module")
def month():
    return run_audit(read_payloads(EXAMPLE), by=("team", "feature"))


def test_csv_is_registered_as_a_text_format():
    from attribution.reports import BINARY_FORMATS

    assert WRITERS["csv"].__name__ == "write_csv"
    assert "csv" not in BINARY_FORMATS


def test_one_row_per_charge_line_with_the_owner_dimensions_as_columns(month):
    header, rows = parse(to_csv(month))
    assert header == [*CHARGE_COLUMNS, "team", "feature"]
    assert len(rows) == len(month.charges)
    assert sum(Decimal(r["amount"]) for r in rows) == month.total
    by_team: dict[str | None, Decimal] = {}
    for r in rows:
        by_team[r["team"] or None] = by_team.get(r["team"] or None, Decimal(0)) + Decimal(r["amount"])
    for key in {(r["team"] or None, r["feature"] or None) for r in rows}:
        assert key in month.rollup
    assert by_team == {k: sum((month.rollup[k2].cost for k2 in month.rollup if k2[0] == k), Decimal(0))
                       for k in by_team}


def test_quantity_times_unit_price_over_per_is_the_amount_exactly_on_every_row(month):
    _, rows = parse(to_csv(month))
    with localcontext() as ctx:
        ctx.prec = 80
        for r in rows:
            assert Decimal(r["quantity"]) * Decimal(r["unit_price"]) / Decimal(r["per"]) == Decimal(r["amount"]), r


def test_numbers_are_plain_decimal_text_never_scientific_notation():
    # 3 output tokens of gpt-4.1-nano cost $0.0000012: a float would print 1.2e-06
    report = run_audit([event("search", model="gpt-4.1-nano", inp=0, out=3)], by=("team",))
    _, rows = parse(to_csv(report))
    (row,) = rows
    assert row["amount"] == "0.0000012"
    for name in ("quantity", "unit_price", "per", "amount", "records"):
        assert NUMBER.match(row[name]), (name, row[name])
    assert row["day"] == "2026-06-08"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_tag_values_are_made_inert(value):
    report = run_audit([event(value, feature=value)], by=("team", "feature"))
    text = to_csv(report)
    _, rows = parse(text)
    assert rows
    for r in rows:
        for name in ("team", "feature"):
            cell = r[name]
            if value[0] in FORMULA_TRIGGERS:
                assert cell == "'" + value
            else:
                assert cell == value
            assert cell[0] not in FORMULA_TRIGGERS


def test_no_text_cell_of_a_hostile_report_starts_a_formula():
    report = run_audit([event(v, feature=v, day=f"2026-06-{i + 1:02d}") for i, v in enumerate(HOSTILE)],
                       by=("team", "feature"))
    _, rows = parse(to_csv(report))
    numeric = {"quantity", "unit_price", "per", "amount", "records"}
    assert len(rows) == 2 * len(HOSTILE)
    for r in rows:
        for name, cell in r.items():
            if cell and name not in numeric:
                assert cell[0] not in FORMULA_TRIGGERS, (name, cell)


def test_negative_amounts_stay_numbers_but_a_negative_looking_tag_is_text():
    line = ChargeLine(day=date(2026, 6, 1), provider="openai", model="gpt-4.1", meter="input", quantity=-1_000_000,
                      unit_price=Decimal("2"), per=1_000_000, amount=Decimal("-2.00"), currency="USD",
                      service_tier="standard", region=None, card_version="openai-x", source="https://example",
                      owner=(("team", "-1"),), records=1)
    row = dict(zip([*CHARGE_COLUMNS, "team"], charge_row(line), strict=True))
    assert row["amount"] == "-2.00"            # a number column: a real negative number
    assert row["quantity"] == "-1000000"
    assert row["team"] == "'-1"                # a text column: never a formula or a number
    assert row["region"] == ""                 # absent is an empty cell


def test_guard_and_number_helpers():
    assert guard_cell("") == ""
    assert guard_cell("team=a") == "team=a"    # only the first character matters
    assert guard_cell("\uff1d1") == "'\uff1d1"
    assert number_text(Decimal("1E-15")) == "0.000000000000001"
    assert number_text(Decimal("1.5E+3")) == "1500"


def test_a_dimension_named_like_a_fixed_column_gets_a_prefix():
    report = run_audit([event("search")], by=("model", "team"))
    header, _ = parse(to_csv(report))
    assert header[-2:] == ["by_model", "team"]


def test_undated_calls_have_an_empty_day():
    e = event("search")
    del e["timestamp"]
    report = run_audit([e], by=("team",))
    _, rows = parse(to_csv(report))
    assert rows
    assert all(r["day"] == "" for r in rows)


def test_cli_writes_csv_to_stdout_and_to_a_file(capsys, tmp_path):
    assert main(["audit", EXAMPLE, "--by", "team", "--format", "csv"]) == 0
    out, _ = capsys.readouterr()
    header, rows = parse(out)
    assert header[-1] == "team"
    assert len(rows) > 100
    target = tmp_path / "charges.csv"
    assert main(["audit", EXAMPLE, "--by", "team", "--format", "csv", "-o", str(target)]) == 0
    data = target.read_bytes()
    assert data.startswith(b"day,provider,model,meter,")
    assert b"\r\n" in data
    assert data.decode("utf-8") == out
