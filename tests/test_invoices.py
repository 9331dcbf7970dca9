"""Invoice readers: each provider's cost export becomes exact, well-labelled invoice lines.

Fixtures are transcribed from the providers' documented formats (see
``tests/fixtures/invoices/README.md``). The tests check the traps each export
sets: dollars vs cents, lowercase currencies, free-text line items, cache
writes split by TTL, credits kept apart, 1K-token quantities, mixed currencies,
and that a malformed row is rejected with its file, line and column.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import types
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution.invoices import (
    FORMATS,
    READERS,
    detect_format,
    parse_line_item,
    parse_meter_name,
    parse_sku,
    parse_usage_type,
    read_anthropic_cost_report,
    read_azure_costs,
    read_cur_csv,
    read_cur_parquet,
    read_gcp_billing,
    read_invoice,
    read_invoice_csv,
    read_openai_costs,
    total_by_currency,
)
from attribution.invoices.aws import model_from_billing_name

FIXTURES = Path(__file__).parent / "fixtures" / "invoices"
D = Decimal


def fx(name: str) -> str:
    return str(FIXTURES / name)


def by(lines, **match):
    """The one line whose fields equal ``match``."""
    found = [ln for ln in lines if all(getattr(ln, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} lines match {match}"
    return found[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- OpenAI Costs API ---------------------------------------------------------------------

def test_openai_docs_example_is_six_cents_on_its_bucket_day():
    [line] = read_openai_costs(fx("openai_costs_docs.json"))
    assert line.provider == "openai"
    assert line.amount == D("0.06")
    assert str(line.amount) == "0.06"  # parsed from the JSON text, never through float
    assert line.currency == "USD"  # "usd" upper-cased
    assert (line.period_start, line.period_end) == (date(2024, 11, 1), date(2024, 11, 2))
    assert line.model is None
    assert line.meter is None
    assert line.sku is None
    assert line.charge_category == "usage"
    assert line.source == at.SourceLocation(file=fx("openai_costs_docs.json"), path="data[0].results[0]")


def test_openai_line_items_map_to_model_meter_and_tier_and_keep_their_text():
    lines = read_openai_costs(fx("openai_costs_grouped.json"))
    assert len(lines) == 13
    cached = by(lines, sku="gpt-4o-2024-08-06, cached input")
    assert (cached.model, cached.meter, cached.project) == ("gpt-4o-2024-08-06", "cached_input", "proj_search")
    batch = by(lines, sku="gpt-4o-mini-2024-07-18, batch input")
    assert (batch.meter, batch.service_tier, batch.amount) == ("input", "batch", D("0.075"))
    priority = by(lines, project="proj_search", service_tier="priority")
    assert (priority.model, priority.meter) == ("gpt-5-2025-08-07", "output")
    assert priority.tags["context_window"] == "long"
    ft = by(lines, project="proj_support", meter="output")
    assert ft.model == "ft:gpt-4o-mini-2024-07-18:acme::A1b2C3d4"
    audio = by(lines, project="proj_voice", meter="input_audio")
    assert audio.model == "gpt-audio-mini-2025-10-06"
    search = by(lines, meter="web_search")
    assert (search.model, search.amount, search.description) == (None, D("2.5"), "web search tool calls")
    # Tool fees and storage the library has no meter for stay lines, with their text.
    for text in ("file search tool calls", "Vector storage", "dall-e 3, standard, 1024x1792, 1792x1024"):
        line = by(lines, sku=text)
        assert line.meter is None
        assert line.description == text


def test_openai_amounts_are_exact_decimals_not_floats():
    lines = read_openai_costs(fx("openai_costs_grouped.json"))
    day2_input = [ln.amount for ln in lines if ln.period_start == date(2024, 11, 2) and ln.meter == "input"]
    assert sum(day2_input) == D("0.3")  # 0.1 + 0.2 as floats would be 0.30000000000000004
    assert total_by_currency(lines) == {"USD": D("52.745")}


def test_openai_jsonl_pages_are_read_in_order_with_their_line_numbers():
    lines = read_openai_costs(fx("openai_costs_pages.jsonl"))
    assert [(ln.period_start, ln.meter, ln.amount) for ln in lines] == [
        (date(2024, 11, 1), "input", D("7.25")), (date(2024, 11, 2), "output", D("3.5"))]
    assert [ln.source.line for ln in lines] == [1, 2]


def test_openai_reader_takes_parsed_pages_and_lists_of_pages():
    page = json.loads(Path(fx("openai_costs_docs.json")).read_text(), parse_float=Decimal)
    [line] = read_openai_costs(page)
    assert line.amount == D("0.06")
    assert len(read_openai_costs([page, page])) == 2


@pytest.mark.parametrize(("text", "model", "meter", "tier"), [
    ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06", "input", None),
    ("gpt-4o-2024-08-06, output", "gpt-4o-2024-08-06", "output", None),
    ("gpt-4o-mini-2024-07-18, cached input", "gpt-4o-mini-2024-07-18", "cached_input", None),
    ("gpt-4o-2024-08-06, batch output", "gpt-4o-2024-08-06", "output", "batch"),
    ("flex | o3-2025-04-16, input", "o3-2025-04-16", "input", "flex"),
    ("gpt-5.5-2026-04-23, cache writes", "gpt-5.5-2026-04-23", "cache_write", None),
    ("gpt-image-1 image, output", "gpt-image-1", "output_image", None),
    ("gpt-image-1 text, cached input", "gpt-image-1", "cached_input", None),
    ("whisper-1, audio", "whisper-1", None, None),
    ("Web search", None, "web_search", None),
    ("Code interpreter sessions", None, None, None),
    ("gpt-4o", "gpt-4o", None, None),
    (None, None, None, None),
])
def test_openai_line_item_parsing(text, model, meter, tier):
    parsed = parse_line_item(text)
    assert (parsed.model, parsed.meter, parsed.service_tier) == (model, meter, tier)


def test_openai_float_amount_from_a_careless_parse_is_rejected():
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
            "results": [{"amount": {"value": 0.06, "currency": "usd"}}]}]}
    with pytest.raises(at.InvoiceError, match=r"data\[0\]\.results\[0\]\.amount\.value: expected an exact decimal"):
        read_openai_costs(page)


def test_openai_bad_amount_names_file_and_json_path(tmp_path):
    page = json.loads(Path(fx("openai_costs_grouped.json")).read_text())
    page["data"][1]["results"][2]["amount"]["value"] = "4,40"
    path = write(tmp_path, "costs.json", json.dumps(page))
    with pytest.raises(at.InvoiceError) as err:
        read_openai_costs(path)
    assert str(err.value) == f"{path}: data[1].results[2].amount.value: not a decimal number: '4,40'"
    assert err.value.column == "data[1].results[2].amount.value"


def test_openai_missing_currency_is_an_error_never_usd(tmp_path):
    path = write(tmp_path, "costs.jsonl", json.dumps({"object": "page", "data": [{
        "object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
        "results": [{"amount": {"value": 1}}]}]}) + "\n")
    with pytest.raises(at.InvoiceError, match=r"costs\.jsonl:1: data\[0\]\.results\[0\]\.amount\.currency: "
                                              r"not an ISO 4217 currency code: None"):
        read_openai_costs(path)


def test_openai_invalid_json_names_the_line(tmp_path):
    path = write(tmp_path, "costs.json", '{"object": "page",\n "data": [}\n')
    with pytest.raises(at.InvoiceError) as err:
        read_openai_costs(path)
    assert err.value.line == 2
    assert err.value.file == path


# --- Anthropic cost report ----------------------------------------------------------------

def test_anthropic_docs_example_cents_become_exact_dollars():
    [line] = read_anthropic_cost_report(fx("anthropic_cost_report_docs.json"))
    assert line.amount == D("1.2378912")  # "123.78912" cents
    assert (line.currency, line.model, line.meter) == ("USD", "claude-sonnet-4-20250514", "input")
    assert (line.project, line.service_tier) == ("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "standard")
    assert (line.sku, line.description) == ("Claude Sonnet 4 Usage - Input Tokens",) * 2
    assert (line.period_start, line.period_end) == (date(2025, 8, 1), date(2025, 8, 2))
    assert line.tags == {"context_window": "0-200k"}


def test_anthropic_cache_writes_split_5m_and_1h_and_every_token_type_has_a_meter():
    lines = read_anthropic_cost_report(fx("anthropic_cost_report_grouped.json"))
    sonnet = {ln.meter: ln.amount for ln in lines
              if ln.model == "claude-sonnet-4-5-20250929" and ln.tags.get("context_window") == "0-200k"}
    assert sonnet == {"input": D("55.20"), "output": D("31.50"), "cached_input": D("3.75"),
                      "cache_write": D("15.00"), "cache_write_1h": D("24.00")}
    long_context = by(lines, sku="Claude Sonnet 4.5 Usage - Input Tokens (Long Context)")
    assert (long_context.meter, long_context.tags["context_window"]) == ("input", "200k-1M")
    batch = by(lines, service_tier="batch")
    assert (batch.model, batch.meter, batch.project) == ("claude-haiku-4-5-20251001", "output", None)
    assert by(lines, meter="web_search").amount == D("2.00")
    code = by(lines, sku="Code Execution")
    assert (code.meter, code.model, code.amount) == (None, None, D("0.05"))
    assert total_by_currency(lines) == {"USD": D("144.25")}


def test_anthropic_numeric_amount_is_rejected_not_guessed(tmp_path):
    page = json.loads(Path(fx("anthropic_cost_report_docs.json")).read_text())
    page["data"][0]["results"][0]["amount"] = 1.23
    path = write(tmp_path, "cost.json", json.dumps(page))
    with pytest.raises(at.InvoiceError) as err:
        read_anthropic_cost_report(path)
    assert str(err.value) == (f"{path}: data[0].results[0].amount: amount must be a decimal string in cents "
                              "(lowest currency unit), got Decimal Decimal('1.23')")


def test_anthropic_bad_bucket_timestamp_names_it():
    page = {"data": [{"starting_at": "yesterday", "ending_at": "2025-08-02T00:00:00Z", "results": []}]}
    with pytest.raises(at.InvoiceError, match=r"data\[0\]\.starting_at: not a date or timestamp: 'yesterday'"):
        read_anthropic_cost_report(page, file="report.json")


# --- AWS CUR for Bedrock ------------------------------------------------------------------

def test_cur_bedrock_usage_types_map_to_region_model_and_all_four_token_meters():
    lines = read_cur_csv(fx("cur2_bedrock.csv"))
    sonnet = {ln.meter: ln.amount for ln in lines if ln.sku == "Claude4.6Sonnet" and ln.charge_category == "usage"}
    assert sonnet == {"input": D("3.6"), "output": D("3.15"), "cached_input": D("1.5"), "cache_write": D("1.5")}
    line = by(lines, sku="Claude4.6Sonnet", meter="cached_input")
    assert (line.provider, line.model, line.region) == ("bedrock", "anthropic.claude-sonnet-4-6", "us-east-1")
    assert (line.project, line.account, line.line_id) == ("111122223333", "999988887777", "li-0003")
    assert (line.quantity, line.unit) == (D("5000.0000000000"), "1K tokens")
    assert line.tags == {"team": "search", "cost_center": "CC-1001", "resource_id":
                         "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6"}
    assert line.source == at.SourceLocation(file=fx("cur2_bedrock.csv"), line=4)


def test_cur_cross_region_tiers_mantle_and_marketplace_rows():
    lines = read_cur_csv(fx("cur2_bedrock.csv"))
    global_haiku = by(lines, sku="Claude4.5Haiku")
    assert (global_haiku.region, global_haiku.model, global_haiku.tags["cross_region"]) == (
        "global", "anthropic.claude-haiku-4-5", "global")
    assert by(lines, sku="Claude3.5Haiku").model == "anthropic.claude-3-5-haiku"
    flex = by(lines, sku="Nova2.0Lite")
    assert (flex.meter, flex.service_tier) == ("input", "flex")
    mantle = by(lines, sku="openai.gpt-oss-120b")
    assert (mantle.model, mantle.meter, mantle.service_tier) == ("openai.gpt-oss-120b", "input", "standard")
    market = by(lines, sku="Claude Sonnet 4.5 (Amazon Bedrock Edition)")
    assert (market.model, market.meter, market.region) == ("anthropic.claude-sonnet-4-5", "cache_write_1h", "global")


def test_cur_line_item_types_become_charge_categories_and_other_services_are_skipped():
    lines = read_cur_csv(fx("cur2_bedrock.csv"))
    assert len(lines) == 12  # the EC2 row is not Bedrock
    totals = {cat: total_by_currency(lines, charge_category=cat)["USD"] for cat in ("usage", "discount", "credit", "tax")}
    assert totals == {"usage": D("12.28"), "discount": D("-0.36"), "credit": D("-5"), "tax": D("1.02")}
    tax = by(lines, charge_category="tax")
    assert (tax.period_start, tax.period_end) == (date(2026, 6, 1), date(2026, 7, 1))
    everything = read_cur_csv(fx("cur2_bedrock.csv"), bedrock_only=False)
    ec2 = by(everything, line_id="li-0013")
    assert (ec2.amount, ec2.meter, ec2.sku) == (D("2.3040000000"), None, "BoxUsage:m5.large")


def test_cur_billing_names_can_be_mapped_to_exact_model_ids():
    """The CUR's billing names carry no model id date; whoever knows both writes the mapping down."""
    models = {"Claude Sonnet 4.5 (Amazon Bedrock Edition)": "anthropic.claude-sonnet-4-5-20250929-v1:0"}
    lines = read_invoice(fx("cur2_bedrock.csv"), models=models)
    assert by(lines, line_id="li-0009").model == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert by(lines, line_id="li-0001").model == "anthropic.claude-sonnet-4-6"  # unmapped: best effort
    assert at.default_registry().canonical_model("bedrock", by(lines, line_id="li-0001").model)[1] == (
        "anthropic.claude-sonnet-4-6")


def test_cur_net_cost_reads_the_net_unblended_column():
    lines = read_cur_csv(fx("cur2_bedrock.csv"), cost="net")
    assert by(lines, line_id="li-0001").amount == D("3.24")
    assert by(lines, line_id="li-0010").amount == D("0")  # the discount is already inside the net usage cost


def test_cur_unknown_line_item_type_is_kept_as_a_visible_adjustment(tmp_path):
    text = Path(fx("cur2_bedrock.csv")).read_text().replace("li-0011,2026-06-08T00:00:00Z/2026-06-09T00:00:00Z,"
                                                             "Anniversary,AWS,999988887777,111122223333,Credit",
                                                             "li-0011,2026-06-08T00:00:00Z/2026-06-09T00:00:00Z,"
                                                             "Anniversary,AWS,999988887777,111122223333,SppDiscount")
    line = by(read_cur_csv(write(tmp_path, "cur.csv", text)), line_id="li-0011")
    assert (line.charge_category, line.description) == ("adjustment", "SppDiscount: AWS Activate Credits")


def test_legacy_cur_headers_and_tag_columns_are_understood():
    lines = read_cur_csv(fx("cur_legacy_bedrock.csv"))
    first = by(lines, line_id="lg-0001")
    assert (first.model, first.meter, first.region, first.amount) == (
        "anthropic.claude-3-5-sonnet", "input", "us-west-2", D("0.45"))
    assert (first.period_start, first.period_end) == (date(2024, 9, 3), date(2024, 9, 4))  # an hour -> its day
    assert first.tags == {"team": "search", "CostCenter": "CC-1001"}
    assert first.unit == "1K tokens"


def test_cur_gzipped_csv_reads_the_same(tmp_path):
    gz = tmp_path / "cur-00001.csv.gz"
    with open(fx("cur2_bedrock.csv"), "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain = read_cur_csv(fx("cur2_bedrock.csv"))
    zipped = read_cur_csv(gz)
    assert [(ln.amount, ln.meter, ln.source.line) for ln in zipped] == [
        (ln.amount, ln.meter, ln.source.line) for ln in plain]


def test_zipped_exports_with_one_file_are_read_and_others_refused(tmp_path):
    import zipfile

    one = tmp_path / "azure.csv.zip"
    with zipfile.ZipFile(one, "w") as archive:
        archive.write(fx("azure_cost_details_mca.csv"), "part_0_0001.csv")
    assert detect_format(one) == "azure"
    assert total_by_currency(read_azure_costs(one), charge_category="usage") == {"USD": D("4.08")}
    two = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.write(fx("azure_cost_details_mca.csv"), "a.csv")
        archive.write(fx("azure_cost_details_mca.csv"), "b.csv")
    with pytest.raises(at.InvoiceError, match="must hold exactly one file, found 2"):
        read_azure_costs(two)


def test_cur_bad_cost_names_file_line_and_column(tmp_path):
    text = Path(fx("cur2_bedrock.csv")).read_text().replace(",3.1500000000,", ",3.15 USD,")
    path = write(tmp_path, "cur.csv", text)
    with pytest.raises(at.InvoiceError) as err:
        read_cur_csv(path)
    assert str(err.value) == f"{path}:3: line_item_unblended_cost: not a decimal number: '3.15 USD'"
    assert (err.value.file, err.value.line, err.value.column) == (path, 3, "line_item_unblended_cost")


def test_cur_missing_currency_is_an_error(tmp_path):
    text = Path(fx("cur_legacy_bedrock.csv")).read_text().replace(",USD,0.3,", ",,0.3,")
    path = write(tmp_path, "cur.csv", text)
    with pytest.raises(at.InvoiceError, match=r"cur\.csv:3: lineItem/CurrencyCode: currency is missing"):
        read_cur_csv(path)


@pytest.mark.parametrize(("usage_type", "region", "token", "meter", "tier", "cross"), [
    ("USE1-Claude4.6Sonnet-cache-read-input-token-count", "us-east-1", "Claude4.6Sonnet", "cached_input", None, None),
    ("USE1-Claude3.5Haiku-output-tokens", "us-east-1", "Claude3.5Haiku", "output", None, None),
    ("USW2-Claude4Sonnet-cache-write-input-token-count", "us-west-2", "Claude4Sonnet", "cache_write", None, None),
    ("EUC1-Claude4.5Sonnet-input-tokens-cross-region-global", "global", "Claude4.5Sonnet", "input", None, "global"),
    ("USE1-Claude4.5Sonnet-input-tokens-cross-region-geo", "us-east-1", "Claude4.5Sonnet", "input", None, "geo"),
    ("USE1-Nova2.0Lite-input-tokens-flex", "us-east-1", "Nova2.0Lite", "input", "flex", None),
    ("USE1-NovaPro-output-tokens-batch", "us-east-1", "NovaPro", "output", "batch", None),
    ("APN1-Llama3.1-70B-input-token-count", "ap-northeast-1", "Llama3.1-70B", "input", None, None),
    ("Claude3Haiku-input-tokens", None, "Claude3Haiku", "input", None, None),
    ("USE1-MP:USE1_InputTokenCount-Units", "us-east-1", None, "input", None, None),
    ("USE1-MP:USE1_OutputTokenCount_Global_Batch-Units", "global", None, "output", "batch", "global"),
    ("USE1-MP:USE1_CacheReadInputTokenCount-Units", "us-east-1", None, "cached_input", None, None),
    ("USE1_input_tokens_global_standard-Units", "global", None, "input", "standard", "global"),
    ("USE1-TitanImageGenerator-Images", "us-east-1", None, None, None, None),
])
def test_bedrock_usage_type_parsing(usage_type, region, token, meter, tier, cross):
    u = parse_usage_type(usage_type)
    assert (u.region, u.model_token, u.meter, u.service_tier, u.cross_region) == (region, token, meter, tier, cross)


@pytest.mark.parametrize(("name", "model"), [
    ("Claude4.6Sonnet", "anthropic.claude-sonnet-4-6"), ("Claude4Opus", "anthropic.claude-opus-4"),
    ("Claude3.7Sonnet", "anthropic.claude-3-7-sonnet"), ("Claude3Haiku", "anthropic.claude-3-haiku"),
    ("Claude Haiku 4.5 (Amazon Bedrock Edition)", "anthropic.claude-haiku-4-5"),
    ("NovaPro", "amazon.nova-pro"), ("openai.gpt-oss-120b", "openai.gpt-oss-120b"), (None, None),
])
def test_bedrock_billing_names_give_best_effort_model_ids(name, model):
    assert model_from_billing_name(name) == model


# --- CUR Parquet (optional arrow extra) ---------------------------------------------------

def test_cur_parquet_without_pyarrow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install 'attribution\[arrow\]'"):
        read_cur_parquet("cur.parquet")


class _Batch:
    def __init__(self, rows):
        self.rows = rows

    def to_pylist(self):
        return self.rows


def test_cur_parquet_rows_go_through_the_same_mapping(monkeypatch):
    """Parquet gives typed values: doubles, datetimes and maps as key/value pairs."""
    from datetime import datetime, timezone

    rows = [{"identity_line_item_id": "pq-1", "line_item_line_item_type": "Usage",
             "line_item_usage_start_date": datetime(2026, 6, 8, 5, tzinfo=timezone.utc),
             "line_item_usage_end_date": datetime(2026, 6, 8, 6, tzinfo=timezone.utc),
             "line_item_product_code": "AmazonBedrock",
             "line_item_usage_type": "USE1-Claude4.6Sonnet-cache-write-input-token-count",
             "line_item_unblended_cost": 0.1 + 0.2, "line_item_currency_code": "USD",
             "line_item_usage_amount": 80.0, "resource_tags": [("user_team", "search")],
             "product": [("product_name", "Amazon Bedrock")]},
            {"identity_line_item_id": "pq-2", "line_item_product_code": "AmazonS3",
             "line_item_usage_start_date": datetime(2026, 6, 8), "line_item_unblended_cost": 1.0,
             "line_item_currency_code": "USD"}]
    fake = types.ModuleType("pyarrow.parquet")

    class ParquetFile:
        def __init__(self, path):
            self.path = path

        def iter_batches(self, batch_size):
            return iter([_Batch(rows)])

    fake.ParquetFile = ParquetFile  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", fake)
    [line] = read_cur_parquet("cur.parquet")
    assert line.amount == D("0.30000000000000004")  # the double as stored, at its shortest repr
    assert (line.meter, line.model, line.tags, line.source.line) == ("cache_write", "anthropic.claude-sonnet-4-6",
                                                                   {"team": "search"}, 1)
    assert (line.period_start, line.period_end) == (date(2026, 6, 8), date(2026, 6, 9))


def test_cur_parquet_round_trip_with_pyarrow(tmp_path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pytest.skip("pyarrow (the 'arrow' extra) is not installed")
    import csv

    with open(fx("cur2_bedrock.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    path = tmp_path / "cur.parquet"
    pq.write_table(table, path)
    from_parquet = read_cur_parquet(path)
    from_csv = read_cur_csv(fx("cur2_bedrock.csv"))
    assert [(ln.amount, ln.meter, ln.charge_category, dict(ln.tags)) for ln in from_parquet] == [
        (ln.amount, ln.meter, ln.charge_category, dict(ln.tags)) for ln in from_csv]
    assert read_invoice(path)[0].line_id == "li-0001"


# --- GCP billing export -------------------------------------------------------------------

def test_gcp_credits_are_separate_lines_and_net_is_cost_plus_credits():
    lines = read_gcp_billing(fx("gcp_billing_export.jsonl"))
    usd = [ln for ln in lines if ln.currency == "USD"]
    gross = total_by_currency(usd, charge_category="usage")["USD"]
    credits = total_by_currency(usd, charge_category="credit")["USD"]
    assert (gross, credits, gross + credits) == (D("44.785"), D("-16.85"), D("27.935"))
    free = by(lines, charge_category="credit", line_id="FreeTrial:2026-03-01")
    assert (free.amount, free.model, free.meter) == (D("-12.5"), "gemini-2.5-pro", "input")
    assert free.description == "FREE_TIER: Free trial credit"
    assert free.source.path == "credits[0]"
    assert free.source.line == 1


def test_gcp_skus_map_to_provider_model_meter_and_tier():
    lines = read_gcp_billing(fx("gcp_billing_export.jsonl"))
    usage = [ln for ln in lines if ln.charge_category == "usage"]
    got = {(ln.provider, ln.sku): (ln.model, ln.meter, ln.service_tier) for ln in usage}
    assert got[("vertex", "Gemini 2.5 Pro Text Input - Predictions")] == ("gemini-2.5-pro", "input", None)
    assert got[("vertex", "Gemini 2.5 Pro Thinking Text Output - Predictions")] == ("gemini-2.5-pro", "output", None)
    assert got[("vertex", "Gemini 2.5 Pro Input Text Caching (Long)")] == ("gemini-2.5-pro", "cached_input", None)
    assert got[("vertex", "Gemini 2.5 Flash Text Output (Thinking On) - Batch Predictions")] == (
        "gemini-2.5-flash", "output", "batch")
    assert got[("google", "Generate content input token count gemini 2.5 flash text")] == (
        "gemini-2.5-flash", "input", None)
    assert got[("google", "Grounding with Google Search")] == (None, "web_search", None)
    pro = by(usage, sku="Gemini 2.5 Pro Text Input - Predictions", currency="USD")
    assert (pro.project, pro.account, pro.region) == ("ml-prod-4711", "012345-6789AB-CDEF01", "us-central1")
    assert (pro.quantity, pro.unit, pro.tags) == (D("10000000"), "count", {"team": "search", "env": "prod"})
    assert (pro.period_start, pro.period_end) == (date(2026, 6, 8), date(2026, 6, 9))
    assert by(lines, charge_category="tax").amount == D("0.44")


def test_gcp_mixed_currencies_in_one_file_are_kept_apart():
    lines = read_gcp_billing(fx("gcp_billing_export.jsonl"))
    assert total_by_currency(lines) == {"USD": D("28.375"), "EUR": D("4.05")}
    eur = [ln for ln in lines if ln.currency == "EUR"]
    assert {(ln.charge_category, ln.amount) for ln in eur} == {("usage", D("4.5")), ("credit", D("-0.45"))}


def test_gcp_other_services_are_skipped_unless_asked_for():
    assert not [ln for ln in read_gcp_billing(fx("gcp_billing_export.jsonl")) if ln.provider == "gcp"]
    everything = read_gcp_billing(fx("gcp_billing_export.jsonl"), services=None)
    compute = [ln for ln in everything if ln.provider == "gcp"]
    assert sorted(ln.amount for ln in compute) == [D("-0.009483"), D("0.031611")]


def test_gcp_flattened_csv_reads_like_the_json_export():
    from_csv = read_gcp_billing(fx("gcp_billing_export.csv"))
    from_json = read_gcp_billing(fx("gcp_billing_export.jsonl"))
    def key(ln):
        return (ln.provider, ln.sku, ln.charge_category, ln.amount, ln.currency, ln.meter, tuple(ln.tags.items()))
    assert {key(ln) for ln in from_csv} <= {key(ln) for ln in from_json}
    assert len(from_csv) == 7
    assert by(from_csv, line_id="promo-123").source == at.SourceLocation(
        file=fx("gcp_billing_export.csv"), line=3, path="credits[0]")


def test_gcp_malformed_credits_cell_names_line_and_column(tmp_path):
    text = Path(fx("gcp_billing_export.csv")).read_text().replace('"[{""name"":""Promo-ML-2026""', '"[{name:""Promo')
    path = write(tmp_path, "billing.csv", text)
    with pytest.raises(at.InvoiceError) as err:
        read_gcp_billing(path)
    assert (err.value.line, err.value.column) == (3, "credits")
    assert str(err.value).startswith(f"{path}:3: credits: not valid JSON")


def test_gcp_credit_without_amount_names_the_credit(tmp_path):
    row = json.loads(Path(fx("gcp_billing_export.jsonl")).read_text().splitlines()[1])
    del row["credits"][0]["amount"]
    path = write(tmp_path, "billing.jsonl", json.dumps(row) + "\n")
    with pytest.raises(at.InvoiceError, match=r"billing\.jsonl:1: credits\[0\]\.amount: credit amount is missing"):
        read_gcp_billing(path)


@pytest.mark.parametrize(("sku", "model", "meter", "tier"), [
    ("Gemini 2.5 Flash Text Input - Predictions", "gemini-2.5-flash", "input", None),
    ("Gemini 2.5 Flash GA Video Input Priority - Predictions", "gemini-2.5-flash", "input", "priority"),
    ("Gemini 2.5 Flash Lite Text Output - Predictions", "gemini-2.5-flash-lite", "output", None),
    ("Generate content output token count Gemini 2.5 Pro short output text", "gemini-2.5-pro", "output", None),
    ("Generate content cached input token count gemini 2.5 flash input image", "gemini-2.5-flash", "cached_input", None),
    ("Generate content input token count gemini 3.7 flash image flex caching", "gemini-3.7-flash", "cached_input", "flex"),
    ("Gemini 2.5 Flash Audio Input - Predictions", "gemini-2.5-flash", "input_audio", None),
    ("Cached content storage token hours", None, None, None),
    ("EmbedContent input token count for gemini-embedding-2 text", "gemini-embedding-2", "input", None),
])
def test_gcp_sku_parsing(sku, model, meter, tier):
    parsed = parse_sku(sku)
    assert (parsed.model, parsed.meter, parsed.service_tier) == (model, meter, tier)


# --- Azure cost export --------------------------------------------------------------------

def test_azure_ea_export_reads_eur_1k_token_quantities_and_braceless_tags():
    lines = read_azure_costs(fx("azure_cost_details_ea.csv"))
    assert len(lines) == 9  # the Storage row is not an AI service
    first = by(lines, sku="gpt-4o-0806-Inp-glbl 1K Tokens")
    assert (first.provider, first.model, first.meter, first.region) == ("azure", "gpt-4o-0806", "input", "global")
    assert (first.amount, first.currency, first.quantity, first.unit) == (D("9.16"), "EUR", D("4000"), "1K")
    assert (first.period_start, first.period_end) == (date(2026, 6, 8), date(2026, 6, 9))  # 06/08/2026 is June 8
    assert first.project == "5c1e2f3a-0000-4b5c-9d8e-1234567890ab"
    assert first.account == "12345678"
    assert first.tags["team"] == "search"
    assert first.tags["cost-center"] == "CC-1001"
    assert first.tags["resource_id"].endswith("/accounts/aoai-search-prod")
    assert first.source.line == 2  # the byte-order mark does not hide the header


def test_azure_inconsistent_meter_names_still_give_model_meter_and_deployment():
    lines = read_azure_costs(fx("azure_cost_details_ea.csv"))
    got = {ln.sku: (ln.model, ln.meter, ln.region, ln.service_tier) for ln in lines}
    assert got["gpt 4o 0513 Input global Tokens"] == ("gpt-4o-0513", "input", "global", None)
    assert got["gpt 4.1 mini cached Inp glbl"] == ("gpt-4.1-mini", "cached_input", "global", None)
    assert got["GPT 5 outpt Glbl 1M Tokens"] == ("gpt-5", "output", "global", None)
    assert got["gpt-4-8K-Batch-Inp-glbl Tokens"] == ("gpt-4-8k", "input", "global", "batch")
    assert got["gpt 4.5 0227 cached Inp DZone"] == ("gpt-4.5-0227", "cached_input", "datazone", None)
    assert got["S1 Speech To Text"] == (None, None, "swedencentral", None)
    ptu = by(lines, charge_category="commitment")
    assert (ptu.amount, ptu.service_tier, ptu.model) == (D("2500"), "provisioned", "gpt-4o")
    assert total_by_currency(lines, charge_category="usage") == {"EUR": D("34.9304")}


def test_azure_mca_camel_case_export_with_json_tags_and_refund():
    lines = read_azure_costs(fx("azure_cost_details_mca.csv"))
    assert total_by_currency(lines, charge_category="usage") == {"USD": D("4.08")}
    refund = by(lines, charge_category="refund")
    assert (refund.amount, refund.quantity, refund.meter) == (D("-0.165"), D("-1000"), "input")
    tts = by(lines, meter="output_audio")
    assert (tts.model, tts.tags["team"], tts.tags["env"]) == ("gpt-4o-mini-tts", "support", "prod")


def test_azure_meter_category_filter_can_be_widened():
    lines = read_azure_costs(fx("azure_cost_details_ea.csv"), meter_categories=None)
    assert by(lines, sku="Hot LRS Data Stored").amount == D("0.184")


def test_azure_bad_date_names_line_and_column(tmp_path):
    text = Path(fx("azure_cost_details_mca.csv")).read_text().replace("2026-06-08,AI", "June 8,AI", 1)
    path = write(tmp_path, "azure.csv", text)
    with pytest.raises(at.InvoiceError) as err:
        read_azure_costs(path)
    assert str(err.value) == f"{path}:2: date: not a date or timestamp: 'June 8'"


def test_azure_bad_tags_name_the_column(tmp_path):
    text = Path(fx("azure_cost_details_mca.csv")).read_text().replace('"{""team"":""support"",""env"":""prod""}"',
                                                                      "team=support", 1)
    path = write(tmp_path, "azure.csv", text)
    with pytest.raises(at.InvoiceError, match=r"azure\.csv:2: tags: tags are not a JSON object"):
        read_azure_costs(path)


@pytest.mark.parametrize(("name", "model", "meter", "deployment", "unit"), [
    ("gpt-4o-0806-Inp-glbl 1K Tokens", "gpt-4o-0806", "input", "global", "1K tokens"),
    ("gpt-4o-mini-0718-Outp-glbl", "gpt-4o-mini-0718", "output", "global", None),
    ("gpt-35-turbo-4k-Input-regional", "gpt-35-turbo-4k", "input", "regional", None),
    ("o3 0416 cached Inp glbl", "o3-0416", "cached_input", "global", None),
    ("R1 Outp glbl Tokens", "r1", "output", "global", None),
    ("gpt-4o-transcribe-aud-inp-glbl Tokens", "gpt-4o-transcribe", "input_audio", "global", None),
    ("5.4 mini Inp Gl", "5.4-mini", "input", "global", None),
    ("S1 Speech To Text", None, None, None, None),
])
def test_azure_meter_name_parsing(name, model, meter, deployment, unit):
    m = parse_meter_name(name)
    assert (m.model, m.meter, m.deployment, m.unit) == (model, meter, deployment, unit)


# --- plain CSV ----------------------------------------------------------------------------

def test_plain_csv_reads_seed_004_invoice_and_keeps_currencies_apart():
    lines = read_invoice_csv(fx("plain_invoice.csv"))
    seed = lines[0]
    assert (seed.provider, seed.amount, seed.currency) == ("acme-llm", D("22000.00"), "USD")
    assert (seed.period_start, seed.period_end) == (date(2026, 6, 1), date(2026, 7, 1))
    assert seed.description == "June 2026 invoice, all usage"
    mistral = by(lines, meter="input")
    assert (mistral.model, mistral.project, mistral.service_tier) == ("mistral-large-2411", "proj-eu", "standard")
    assert (mistral.quantity, mistral.unit) == (D("617283900"), "tokens")
    assert total_by_currency(lines) == {"USD": D("22000.00"), "EUR": D("1381.5778")}
    assert [ln.charge_category for ln in lines] == ["usage", "usage", "credit", "tax"]


HEADER = "provider,period_start,period_end,amount,currency,charge_category,meter\n"


@pytest.mark.parametrize(("row", "message"), [
    ("openai,2026-06-01,2026-07-01,12,50,USD,usage,input", "row has 8 fields but the header has 7"),
    ("openai,2026-06-01,2026-07-01,1 200.00,USD,usage,input", "amount: not a decimal number: '1 200.00'"),
    ("openai,2026-06-01,2026-07-01,NaN,USD,usage,input", "amount: not a finite number: 'NaN'"),
    ("openai,2026-06-01,2026-07-01,12.50,US$,usage,input", "currency: not an ISO 4217 currency code: 'US$'"),
    ("openai,2026-06-01,2026-07-01,12.50,,usage,input",
     "currency: currency is missing (amounts are never assumed to be USD)"),
    ("openai,2026-06-01,2026-07-01,12.50,USD,rebate,input",
     ("charge_category: must be one of usage, tax, credit, discount, fee, commitment, refund, adjustment, "
     "out_of_scope, got 'rebate'")),
    ("openai,2026-06-01,2026-07-01,12.50,USD,usage,cache_read", "meter: unknown meter 'cache_read'"),
    ("openai,2026-07-01,2026-06-01,12.50,USD,usage,input", "period_end: period_end 2026-06-01 must be after"),
    ("openai,2026-06-01,2026-06-01,12.50,USD,usage,input", "period_end: period_end 2026-06-01 must be after"),
    ("openai,June,2026-07-01,12.50,USD,usage,input", "period_start: not a date or timestamp: 'June'"),
    (",2026-06-01,2026-07-01,12.50,USD,usage,input", "provider: required value is missing"),
])
def test_plain_csv_rejects_malformed_rows_with_file_line_and_column(tmp_path, row, message):
    good = "openai,2026-06-01,2026-07-01,1.00,USD,usage,output\n"
    path = write(tmp_path, "invoice.csv", HEADER + good + row + "\n")
    with pytest.raises(at.InvoiceError) as err:
        read_invoice_csv(path)
    assert str(err.value).startswith(f"{path}:3: {message}")
    assert err.value.line == 3


def test_plain_csv_line_numbers_count_the_header_and_multiline_fields(tmp_path):
    text = (HEADER.replace(",meter", ",meter,description")
            + 'openai,2026-06-01,2026-07-01,1.00,USD,usage,input,"two\nlines"\n'
            + "\n"
            + "openai,2026-06-01,2026-07-01,oops,USD,usage,input,x\n")
    path = write(tmp_path, "invoice.csv", text)
    with pytest.raises(at.InvoiceError) as err:
        read_invoice_csv(path)
    assert (err.value.line, err.value.column) == (5, "amount")


def test_plain_csv_missing_header_column_is_reported_on_line_1(tmp_path):
    path = write(tmp_path, "invoice.csv", "provider,period_start,period_end,amount\nopenai,2026-06-01,2026-07-01,1\n")
    with pytest.raises(at.InvoiceError) as err:
        read_invoice_csv(path)
    assert (err.value.line, err.value.column) == (1, "currency")
    assert "lacks required column(s) currency" in str(err.value)


def test_unreadable_file_is_an_invoice_error(tmp_path):
    with pytest.raises(at.InvoiceError, match=r"missing\.csv: cannot read"):
        read_invoice_csv(tmp_path / "missing.csv")


# --- read_invoice and format sniffing -----------------------------------------------------

@pytest.mark.parametrize(("name", "fmt"), [
    ("openai_costs_docs.json", "openai"),
    ("openai_costs_grouped.json", "openai"),
    ("openai_costs_pages.jsonl", "openai"),
    ("anthropic_cost_report_docs.json", "anthropic"),
    ("anthropic_cost_report_grouped.json", "anthropic"),
    ("cur2_bedrock.csv", "aws-cur"),
    ("cur_legacy_bedrock.csv", "aws-cur"),
    ("gcp_billing_export.jsonl", "gcp"),
    ("gcp_billing_export.csv", "gcp"),
    ("azure_cost_details_ea.csv", "azure"),
    ("azure_cost_details_mca.csv", "azure"),
    ("plain_invoice.csv", "csv"),
])
def test_read_invoice_sniffs_each_fixture(name, fmt):
    assert detect_format(fx(name)) == fmt
    assert read_invoice(fx(name)) == READERS[fmt](fx(name))


def test_read_invoice_with_an_explicit_format_and_options():
    lines = read_invoice(fx("cur2_bedrock.csv"), format="bedrock", bedrock_only=False)
    assert len(lines) == 13
    assert read_invoice(fx("plain_invoice.csv"), format="CSV")[0].amount == D("22000.00")
    assert set(FORMATS) == set(READERS)


def test_read_invoice_refuses_what_it_cannot_recognise(tmp_path):
    with pytest.raises(at.InvoiceError, match="unknown invoice format 'quickbooks'; formats: openai, anthropic"):
        read_invoice(fx("plain_invoice.csv"), format="quickbooks")
    path = write(tmp_path, "notes.csv", "date,what,how much\n2026-06-01,lunch,12\n")
    with pytest.raises(at.InvoiceError, match=r"notes\.csv: cannot tell which cost export this is; pass format="):
        read_invoice(path)
    usage = write(tmp_path, "usage.json", json.dumps({"object": "page", "data": [{"object": "bucket",
                  "start_time": 1, "end_time": 2, "results": [{"object": "organization.usage.completions.result",
                                                               "input_tokens": 5}]}]}))
    with pytest.raises(at.InvoiceError, match="cannot tell"):
        read_invoice(usage)  # the Usage API is not the invoice


def test_invoice_errors_are_attribution_errors_and_value_errors(tmp_path):
    path = write(tmp_path, "invoice.csv", HEADER + "openai,2026-06-01,2026-07-01,x,USD,usage,input\n")
    with pytest.raises(at.AttributionError):
        read_invoice(path)
    with pytest.raises(ValueError, match="amount"):
        read_invoice(path)
