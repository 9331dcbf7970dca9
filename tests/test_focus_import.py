"""FOCUS 1.0-1.3 cost exports as invoice input: the AI services are read, everything else is counted as out of scope.

Fixtures (sources in tests/fixtures/focus/SOURCES.md): the FOCUS specification's AI prompt-caching sample,
unchanged, and a multi-cloud month in the shape of the AWS, Microsoft, Google Cloud and Oracle exports.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution.cli import main
from attribution.invoices import detect_format, read_invoice
from attribution.reports import report_to_json, write_report

FIXTURES = Path(__file__).parent / "fixtures" / "focus"
MULTI = FIXTURES / "multicloud-2026-06.csv"
SPEC = FIXTURES / "spec-ai-prompt-caching-a.csv"


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_focus_csv_is_detected_and_read_by_read_invoice():
    assert detect_format(MULTI) == "focus"
    assert read_invoice(MULTI) == read_invoice(MULTI, format="focus") == at.read_invoice(MULTI, "focus-csv")


def test_the_ai_services_of_each_cloud_become_invoice_lines():
    lines = read_invoice(MULTI)
    usage = [(x.provider, x.model, x.meter, x.amount) for x in lines if x.charge_category == "usage"]
    assert usage == [
        ("bedrock", "amazon.nova-2.0-lite", "input", Decimal("0.6600000000")),
        ("bedrock", "amazon.nova-2.0-lite", "output", Decimal("1.9800000000")),
        ("bedrock", "anthropic.claude-sonnet-4-5", "input", Decimal("12.0000000000")),   # Marketplace, global
        ("azure", "gpt-4o-0806", "input", Decimal("2.50")),
        ("vertex", "gemini-2.5-pro", "input", Decimal("2.500000")),
        ("vertex", "gemini-2.5-pro", "output", Decimal("10.000000")),
    ]
    nova = lines[0]
    assert nova.account == "111122223333"
    assert nova.project == "444455556666"
    assert nova.region == "us-east-1"
    assert dict(nova.tags) == {"team": "search", "env": "prod"}          # AWS's user: prefix removed
    assert nova.quantity == Decimal(11000)
    assert nova.unit == "1K tokens"
    assert nova.source.file == str(MULTI)
    assert nova.source.line == 2
    claude = lines[2]
    assert claude.region == "global"
    assert claude.sku == "Claude Sonnet 4.5 (Amazon Bedrock Edition)"
    others = {(x.provider, x.charge_category, x.amount) for x in lines if x.charge_category not in ("usage",
                                                                                                   "out_of_scope")}
    assert others == {("bedrock", "tax", Decimal("0.1300000000")), ("vertex", "credit", Decimal("-1.000000"))}


def test_every_other_row_is_counted_as_out_of_scope_and_nothing_is_lost():
    rows = rows_of(MULTI)
    lines = read_invoice(MULTI)
    scoped = [x for x in lines if x.charge_category != "out_of_scope"]
    rest = [x for x in lines if x.charge_category == "out_of_scope"]
    assert len(scoped) + sum(int(x.quantity) for x in rest) == len(rows) == 16
    assert sum(x.amount for x in lines) == sum(Decimal(r["BilledCost"]) for r in rows)       # every cent
    by_service = {(x.provider, x.sku): (int(x.quantity), x.amount) for x in rest}
    assert by_service == {
        ("AWS", "Amazon Elastic Compute Cloud"): (3, Decimal("240.0000000000")),
        ("AWS", "Amazon Simple Storage Service"): (1, Decimal("2.3000000000")),
        ("Microsoft", "Virtual Machines"): (1, Decimal("33.60")),
        ("Microsoft", "Azure AI Services"): (1, Decimal("1.00")),     # speech to text: AI, but not an LLM meter
        ("Google Cloud", "Compute Engine"): (1, Decimal("17.520000")),
        ("Oracle", "Object Storage"): (1, Decimal("0.51")),
    }
    assert all(x.unit == "rows" for x in rest)


def test_focus_1_3_sku_price_details_give_model_and_token_class():
    """The FOCUS spec's own sample: ModelId, TokenDirection and TokenCacheAction in SkuPriceDetails."""
    lines = read_invoice(SPEC)
    assert [(x.provider, x.model, x.meter, x.amount, x.quantity) for x in lines] == [
        ("solora-ai", "solora-reasoning-pro", "input", Decimal("1.5"), Decimal("0.5")),
        ("solora-ai", "solora-reasoning-pro", "cache_write", Decimal("7.5"), Decimal("2.0")),
        ("solora-ai", "solora-reasoning-pro", "cached_input", Decimal("2.4"), Decimal("8.0")),
        ("solora-ai", "solora-reasoning-pro", "output", Decimal("22.5"), Decimal("1.5")),
    ]
    assert {(x.period_start.isoformat(), x.period_end.isoformat()) for x in lines} == {("2025-01-01", "2025-02-01")}
    assert {x.account for x in lines} == {"acct-1001"}


def test_effective_cost_is_read_on_request(tmp_path):
    rows = rows_of(MULTI)
    rows[0]["EffectiveCost"] = "0.5000000000"         # a negotiated discount, amortized
    path = tmp_path / "focus.csv"
    write_rows(path, rows)
    assert read_invoice(path)[0].amount == Decimal("0.6600000000")
    assert read_invoice(path, cost="effective")[0].amount == Decimal("0.5000000000")
    with pytest.raises(ValueError, match="billed"):
        read_invoice(path, cost="list")


def test_a_focus_parquet_export_reads_like_the_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = rows_of(MULTI)
    columns = {c: [r[c] or None for r in rows] for c in rows[0]}
    # Costs as doubles, the way some exports store them: read at their shortest decimal text.
    for c in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        columns[c] = pa.array([float(v) for v in columns[c]], type=pa.float64())
    path = tmp_path / "focus.parquet"
    pq.write_table(pa.table(columns), path)
    assert detect_format(path) == "focus"
    from_parquet = read_invoice(path)
    from_csv = read_invoice(MULTI)
    assert [(x.provider, x.model, x.meter, x.charge_category) for x in from_parquet] == \
        [(x.provider, x.model, x.meter, x.charge_category) for x in from_csv]
    assert [x.amount for x in from_parquet] == [Decimal(repr(float(x.amount))) for x in from_csv]
    assert sum(x.amount for x in from_parquet) == sum(x.amount for x in from_csv)
    assert from_parquet[0].source.line == 1                     # Parquet rows count from 1


@pytest.mark.parametrize(("column", "value", "message"), [
    ("BillingCurrency", "", "currency is missing"),
    ("BilledCost", "1,50", "not a decimal number"),
    ("ChargeCategory", "Refund", "Usage, Purchase, Tax, Credit, Adjustment"),
    ("ChargePeriodStart", "June 3", "not a date"),
    ("Tags", "{team: search", "not valid JSON"),
])
def test_a_malformed_ai_row_names_file_line_and_column(tmp_path, column, value, message):
    rows = rows_of(MULTI)
    rows[1][column] = value
    path = tmp_path / "focus.csv"
    write_rows(path, rows)
    with pytest.raises(at.InvoiceError, match=message) as info:
        read_invoice(path)
    assert info.value.file == str(path)
    assert info.value.line == 3
    assert info.value.column == column


def test_a_file_without_the_mandatory_focus_columns_is_refused(tmp_path):
    path = tmp_path / "focus.csv"
    path.write_text("BilledCost,BillingCurrency,ServiceName\n1,USD,Amazon Bedrock\n")
    with pytest.raises(at.InvoiceError, match=r"missing column.*ChargePeriodStart"):
        read_invoice(path, format="focus")


def test_the_audit_shows_out_of_scope_rows_and_never_reconciles_them(tmp_path):
    lines = read_invoice(MULTI)
    event = {"timestamp": "2026-06-03T12:00:00Z", "provider": "vertex", "model_actual": "gemini-2.5-pro",
             "request_id": "r1", "input_tokens": 2_000_000, "output_tokens": 1_000_000, "team_id": "growth"}
    report = at.run_audit([event], by=("team",), invoices=lines)
    rec = report.reconciliation
    assert len(rec.out_of_scope) == 6
    assert all(x.charge_category != "out_of_scope" for x in rec.other_charges)
    invoiced = {cur: t.invoiced for cur, t in rec.totals.items()}
    assert invoiced == {"USD": sum((x.amount for x in lines if x.charge_category == "usage"), Decimal(0))}
    summary = rec.summary()
    assert ("Out of scope (not AI services, not reconciled): 8 export rows, 294.93 USD (Amazon Elastic Compute "
            "Cloud, Virtual Machines, Compute Engine, Amazon Simple Storage Service, Azure AI Services and 1 more)"
            in summary)
    text = io.StringIO()
    write_report(report, "table", text)
    assert "Out of scope" in text.getvalue()
    doc = report_to_json(report)
    assert {(x["service"], x["rows"]) for x in doc["reconciliation"]["out_of_scope"]} >= {
        ("Amazon Elastic Compute Cloud", 3), ("Object Storage", 1)}
    html = io.StringIO()
    write_report(report, "html", html)
    assert "Out of scope: not AI services" in html.getvalue()


def test_the_cli_reads_a_focus_invoice(capsys):
    code = main(["audit", "examples/gateway-month.jsonl", "--invoice", str(MULTI), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 1)                                      # 1: the example month's lines are not on this bill
    assert sum(x["rows"] for x in doc["reconciliation"]["out_of_scope"]) == 8


def test_a_malformed_out_of_scope_row_is_refused_too(tmp_path):
    """Rows that are not AI services are still summed exactly, so a bad amount there is an error, not a skip."""
    rows = rows_of(MULTI)
    ec2 = next(i for i, r in enumerate(rows) if r["ServiceName"] == "Amazon Elastic Compute Cloud")
    rows[ec2]["BilledCost"] = "96,00"
    path = tmp_path / "focus.csv"
    write_rows(path, rows)
    with pytest.raises(at.InvoiceError, match="not a decimal number") as info:
        read_invoice(path)
    assert (info.value.line, info.value.column) == (ec2 + 2, "BilledCost")


def test_without_billing_period_columns_out_of_scope_rows_are_summed_by_calendar_month(tmp_path):
    path = tmp_path / "focus.csv"
    path.write_text("BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ServiceName\n"
                    "1.00,USD,2026-06-01T00:00:00Z,2026-06-02T00:00:00Z,Usage,Amazon S3\n"
                    "2.00,USD,2026-06-30T00:00:00Z,2026-07-01T00:00:00Z,Usage,Amazon S3\n"
                    "4.00,USD,2026-07-01T00:00:00Z,2026-07-02T00:00:00Z,Usage,Amazon S3\n")
    lines = read_invoice(path)
    assert sorted((x.period_start.isoformat(), x.amount, x.quantity) for x in lines) == [
        ("2026-06-01", Decimal("3.00"), Decimal(2)), ("2026-07-01", Decimal("4.00"), Decimal(1))]


def test_focus_both_ways_our_export_reads_back_as_the_invoice_of_the_same_usage(tmp_path):
    """Export the example month as FOCUS, read it back as an invoice: every priced cent is invoiced,
    model and meter come back from the FOCUS 1.3 SkuPriceDetails, and the internal pool is out of scope."""
    from attribution.io import read_payloads

    policy = at.parse_policy({"policy": {"owner": "team", "name": "june"},
                              "pools": [{"id": "gateway", "amount": Decimal("400.00"), "method": "even"}]})
    report = at.run_audit(read_payloads("examples/gateway-month.jsonl"), by=("team",), policy=policy)
    path = tmp_path / "focus.csv"
    with open(path, "w", newline="") as fh:
        write_report(report, "focus", fh)
    lines = read_invoice(path)
    usage = [x for x in lines if x.charge_category == "usage"]
    rest = [x for x in lines if x.charge_category == "out_of_scope"]
    assert sum(x.amount for x in usage) == report.total
    assert {x.provider for x in usage} == {c.provider for c in report.charges}
    assert {(x.model, x.meter) for x in usage} == {(c.model, c.meter) for c in report.charges}
    assert [(x.provider, x.sku) for x in rest] == [("Internal", "Shared pool gateway")]   # BilledCost 0
    again = at.run_audit(read_payloads("examples/gateway-month.jsonl"), by=("team",), invoices=lines)
    totals = again.reconciliation.totals["USD"]
    assert totals.invoiced == totals.priced == report.total
    assert totals.variance == 0
    assert not again.reconciliation.unmatched
