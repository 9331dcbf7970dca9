"""Values at the edge of the domain: every CLI option is checked at parse time, absurd amounts and
dates are typed errors naming file, line and field, and the largest accepted amount prints in every writer."""

from __future__ import annotations

import io
import json
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution import cli
from attribution._instant import instant_problem
from attribution._money import MAX_AMOUNT, check_amount, from_decimal, present, ratio, round_to_units
from attribution.cli import main
from attribution.exceptions import InvalidTimestamp, InvoiceError, PolicyError
from attribution.invoices import read_invoice
from attribution.io import read_payloads
from attribution.reports import BINARY_FORMATS, WRITERS, write_report

HOSTILE = ["abc", "NaN", "nan", "Infinity", "-inf", "-1", "1e999", "", " ", "٣", "1" * 400, "0x10", "1,5e3",
           "\x1b[31m", "2025-13-45", "9999-12-31T23:00:00-05:00"]


def event(i: int, when: str = "2025-06-01T12:00:00Z", team: str = "search") -> str:
    return json.dumps({"timestamp": when, "request_id": f"r{i}", "provider": "openai", "model_requested": "gpt-4.1",
                       "input_tokens": 10_000, "output_tokens": 2_000, "team_id": team})


@pytest.fixture
def usage_file(tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text(event(1) + "\n" + event(2, team="support") + "\n", encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_usage_error(code, err, option):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert option in lines[0]
    assert "\x1b" not in err                          # the hostile value is shown escaped


# --- every numeric and date option, at parse time -------------------------------------------------

AUDIT_OPTIONS = ["--tolerance", "--fail-under-coverage", "--chunk-size", "--since", "--until",
                 "--max-line-bytes", "--max-file-bytes", "--max-depth"]
PRICE_OPTIONS = ["--at", "--input", "--cached-input", "--output", "--web-search", "--reasoning"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", AUDIT_OPTIONS)
def test_every_audit_option_rejects_hostile_values_with_exit_2_and_one_line(usage_file, capsys, option, value):
    code, out, err = run(capsys, "audit", usage_file, f"{option}={value}")
    assert_one_line_usage_error(code, err, option)
    assert out == ""


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", PRICE_OPTIONS)
def test_every_price_option_rejects_hostile_values_with_exit_2_and_one_line(capsys, option, value):
    code, out, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", f"{option}={value}")
    assert_one_line_usage_error(code, err, option)
    assert out == ""


@pytest.mark.parametrize(("option", "value"), [
    ("--tolerance", "1.5"),                          # a ratio: at most 1
    ("--tolerance", "-0.01"),
    ("--fail-under-coverage", "100.5"),              # a percentage: at most 100
    ("--fail-under-coverage", "NaN"),
    ("--chunk-size", "0"),
    ("--input", "99999999999999999999"),             # above the count limit
    ("--since", "0001-01-01"),                       # outside the timestamp domain
    ("--until", "9999-12-31"),
])
def test_out_of_range_values_are_refused_at_parse_time(usage_file, capsys, option, value):
    argv = (["price", "--provider", "openai", "--model", "gpt-4o"] if option == "--input"
            else ["audit", str(usage_file)])
    code, _, err = run(capsys, *argv, f"{option}={value}")
    assert_one_line_usage_error(code, err, option)


def test_since_after_until_is_a_one_line_error(usage_file, capsys):
    code, _, err = run(capsys, "audit", usage_file, "--since", "2025-06-02", "--until", "2025-06-01")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--since" in err


def test_good_option_values_still_work(usage_file, capsys):
    code, _, err = run(capsys, "audit", usage_file, "--tolerance", "0.05", "--fail-under-coverage", "0",
                       "--chunk-size", "1_000", "--since", "2025-06-01", "--until", "2025-06-01")
    assert code == 0, err
    code, out, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--at",
                         "2025-06-01T10:00:00+02:00", "--input", "1,000")
    assert code == 0, err
    assert "1,000" in out


def test_a_help_request_still_exits_0(capsys):
    assert main(["audit", "--help"]) == 0
    assert "--tolerance" in capsys.readouterr().out


@given(st.text(max_size=30))
def test_tolerance_is_a_finite_ratio_from_0_to_1_or_a_usage_error(text):
    try:
        value = cli._tolerance(text)
    except cli.argparse.ArgumentTypeError as exc:
        message = str(exc)
        assert "\n" not in message
    else:
        assert value.is_finite()
        assert 0 <= value <= 1


@given(st.text(max_size=30))
def test_counts_are_ascii_whole_numbers_in_range_or_a_usage_error(text):
    try:
        value = cli._count(text)
    except cli.argparse.ArgumentTypeError as exc:
        message = str(exc)
        assert "\n" not in message
    else:
        assert isinstance(value, int)
        assert 0 <= value <= 10**13
        assert text.strip().replace("_", "").replace(",", "").isascii()


# --- timestamps at the edge of the domain ---------------------------------------------------------

EDGE_TIMESTAMPS = ["9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999999-23:59", "0001-01-01T00:30:00+01:00",
                   "9999-06-01T00:00:00Z", "0001-01-01T00:00:00Z"]


@pytest.mark.parametrize("when", EDGE_TIMESTAMPS)
def test_a_timestamp_past_the_domain_is_quarantined_with_a_reason_not_a_crash(when):
    report = at.run_audit([json.loads(event(1)), json.loads(event(2, when))])
    assert report.priced_records == 1
    assert dict(report.quarantined) == {"bad_timestamp": 1}
    assert "9998-12-31" in report.quarantine_examples[0].message
    for fmt in ("focus", "table", "json", "csv", "html"):
        write_report(report, fmt, io.StringIO())


@pytest.mark.parametrize("fmt", ["focus", "table", "csv", "html", "json"])
def test_the_cli_quarantines_a_year_9999_timestamp_in_every_format(tmp_path, capsys, fmt):
    path = tmp_path / "usage.jsonl"
    path.write_text(event(1) + "\n" + event(2, "9999-12-31T23:00:00-05:00") + "\n", encoding="utf-8")
    code, out, err = run(capsys, "audit", path, "--format", fmt)
    assert code == 0, err
    assert "Traceback" not in err
    if fmt in ("table", "json"):
        assert "bad_timestamp" in out
        assert f"{path}:2" in out


def test_the_edges_of_the_domain_themselves_are_accepted_and_written():
    utc = timezone.utc
    first = datetime(1, 1, 2, tzinfo=utc)
    last = datetime(9998, 12, 31, 23, 59, 59, tzinfo=utc)
    items = [json.loads(event(1, first.isoformat())), json.loads(event(2, last.isoformat()))]
    report = at.run_audit(items)
    assert "bad_timestamp" not in report.quarantined   # year 1 has no price in force, but it is a valid instant
    assert report.priced_records == 1
    out = io.StringIO()
    write_report(report, "focus", out)
    assert "9999-01-01" in out.getvalue()            # December 9998's billing period ends on 9999-01-01
    for fmt in ("table", "json", "csv", "html"):
        write_report(report, fmt, io.StringIO())


def test_a_record_built_in_python_with_such_a_timestamp_is_a_typed_error():
    minus5 = timezone(timedelta(hours=-5))
    with pytest.raises(InvalidTimestamp, match="9999-12-31T23:00:00-05:00"):
        at.UsageRecord(provider="openai", model="gpt-4o", usage=at.Usage(input=1),
                       at=datetime(9999, 12, 31, 23, tzinfo=minus5))


def test_the_domain_check_agrees_with_datetime_arithmetic():
    for day in (date(1, 1, 1), date(1, 1, 2), date(9998, 12, 31), date(9999, 1, 1)):
        for hours in (-23, 0, 23):
            value = datetime(day.year, day.month, day.day, 12, tzinfo=timezone(timedelta(hours=hours)))
            if instant_problem(value) is None:           # everything the writers do must work
                utc = value.astimezone(timezone.utc)
                _ = utc.date() + timedelta(days=1), utc.date() - timedelta(days=1), utc.isocalendar()
                _ = date(utc.year + 1, 1, 1) if utc.month == 12 else date(utc.year, utc.month + 1, 1)


def test_an_invoice_period_past_the_domain_names_file_line_and_column(tmp_path):
    path = tmp_path / "invoice.csv"
    path.write_text("provider,period_start,period_end,amount,currency,charge_category\n"
                    "openai,2025-06-01,9999-12-31,10.00,USD,usage\n", encoding="utf-8")
    with pytest.raises(InvoiceError) as info:
        read_invoice(path)
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 2, "period_end")


# --- amounts at the edge of the domain ------------------------------------------------------------

def invoice_csv(tmp_path, amount):
    path = tmp_path / "invoice.csv"
    path.write_text("provider,period_start,period_end,amount,currency,charge_category\n"
                    f"openai,2025-06-01,2025-07-01,{amount},USD,usage\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("amount", ["1e26", "-1e26", "1000000000000000.01", "1e999999999"])
def test_an_absurd_invoice_amount_is_an_invoice_error_naming_file_line_and_column(tmp_path, capsys, amount,
                                                                                usage_file):
    path = invoice_csv(tmp_path, amount)
    with pytest.raises(InvoiceError) as info:
        read_invoice(path)
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 2, "amount")
    assert "out of range" in str(info.value)
    code, _, err = run(capsys, "audit", usage_file, "--invoice", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{path}:2: amount" in err


def policy_toml(tmp_path, amount):
    path = tmp_path / "policy.toml"
    path.write_text('[policy]\nowner = "team"\ncentral_owner = "platform"\n\n'
                    f'[[pools]]\nid = "fees"\namount = {amount}\nmethod = "even"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("amount", ["1e40", "-1e16", "1e-99999999"])
def test_an_absurd_policy_amount_is_a_policy_error_naming_file_line_and_key(tmp_path, capsys, amount, usage_file):
    path = policy_toml(tmp_path, amount)
    started = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        at.load_policy(path)
    assert time.perf_counter() - started < 2          # no hundred-million-digit fraction
    assert (info.value.file, info.value.path) == (str(path), "pools[0].amount")
    assert info.value.line == 6                       # the pool's own line (its id)
    assert "out of range" in str(info.value)
    code, _, err = run(capsys, "audit", usage_file, "--policy", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "pools[0].amount" in err


def test_allocate_refuses_an_absurd_amount_with_a_policy_error():
    with pytest.raises(PolicyError, match="out of range") as info:
        at.allocate(Decimal("1e40"), {"a": 1, "b": 1})
    assert info.value.path == "amount"


def test_check_amount_is_the_documented_bound():
    assert check_amount(MAX_AMOUNT) == MAX_AMOUNT
    assert check_amount(-MAX_AMOUNT) == -MAX_AMOUNT
    for bad in ("1000000000000000.000000000000001", "NaN", "Infinity", "-Infinity", "1e400", "sNaN"):
        with pytest.raises(ValueError, match=r"out of range|not a finite number"):
            check_amount(Decimal(bad))


def test_tiny_exponents_convert_at_once():
    started = time.perf_counter()
    assert round_to_units(Decimal("1e-99999999")) == 0
    assert round_to_units(Decimal("-1e-99999999")) == 0
    with pytest.raises(ValueError, match="more than 15 decimals"):
        from_decimal(Decimal("1e-99999999"))
    assert time.perf_counter() - started < 1


def test_presentation_never_raises_past_the_context_precision():
    assert present(Decimal("1e26")) == Decimal("1e26")
    assert str(present(Decimal("-1e26"))) == "-100000000000000000000000000.00"
    assert ratio(Decimal("1e15"), Decimal("1e-15")) == Decimal("1e30")
    assert present(Decimal("1e15") / Decimal("1e-15") * 100, Decimal("0.1")) == Decimal("1e32")


def max_amount_report(tmp_path, case):
    usage = tmp_path / "usage.jsonl"
    usage.write_text(event(1) + "\n" + event(2, team="support") + "\n", encoding="utf-8")
    if case == "credit pool":    # no invoice: a negative pool with a true-up is another defect
        return at.run_audit(read_payloads(usage), policy=at.load_policy(policy_toml(tmp_path, "-1000000000000000")))
    invoice = invoice_csv(tmp_path, "-1000000000000000" if case == "negative invoice" else "1000000000000000")
    policy = policy_toml(tmp_path, "1000000000000000.00")
    return at.run_audit(read_payloads(usage), invoices=read_invoice(invoice), policy=at.load_policy(policy))


@pytest.mark.parametrize("case", ["positive", "negative invoice", "credit pool"])
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_the_largest_allowed_amount_renders_in_every_writer(tmp_path, fmt, case):
    if fmt in BINARY_FORMATS:
        pytest.importorskip("pyarrow")
    report = max_amount_report(tmp_path, case)
    out = io.BytesIO() if fmt in BINARY_FORMATS else io.StringIO(newline="")
    write_report(report, fmt, out)
    if fmt in BINARY_FORMATS:
        import pyarrow.parquet as pq

        out.seek(0)
        amounts = pq.read_table(out).column("amount" if fmt == "parquet" else "BilledCost").to_pylist()
        assert amounts
        assert all(a.is_finite() for a in amounts)
    elif fmt != "csv":                               # the CSV holds priced usage only
        text = out.getvalue().replace(",", "")
        assert "1000000000000000" in text or "500000000000000" in text


def test_the_largest_allowed_amount_through_the_cli(tmp_path, capsys):
    usage = tmp_path / "usage.jsonl"
    usage.write_text(event(1) + "\n", encoding="utf-8")
    invoice = invoice_csv(tmp_path, "1000000000000000")
    policy = policy_toml(tmp_path, "1000000000000000")
    for fmt in ("table", "html", "json", "csv", "focus"):
        code, out, err = run(capsys, "audit", usage, "--invoice", invoice, "--policy", policy, "--format", fmt)
        assert code in (0, 1), err                   # 1: the invoice line is far from the priced usage
        assert "Traceback" not in err
        if fmt != "csv":                             # the CSV holds priced usage only
            assert "1000000000000000" in out.replace(",", "")
