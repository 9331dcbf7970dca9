"""Money of two currencies never meets in one sum (issue 17, class 1).

Invoice totals, tax lines, pools, budgets and the true-up either keep one
bucket per currency or refuse with a typed ``CurrencyMismatch`` naming both
sides; conversion happens only with an explicit, dated FX table and every
converted amount shows its rate; currency codes are ISO 4217, never free text.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attribution as at

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from attribution._money import ISO_4217, check_currency
from attribution.reports import write_report

JUNE = {"period_start": date(2026, 6, 1), "period_end": date(2026, 7, 1)}

CARD = """[card]
provider = "acme"
version = "acme-2026-06"
currency = "{currency}"
read_on = 2026-06-01
source = "test card"

[[models]]
id = "acme-1"

  [[models.prices]]
  from = 2026-01-01
  input = 1.00
  output = 2.00
"""

FX = """# rates published by the treasury
[[rate]]
from = "EUR"
to = "USD"
rate = "1.0834"
date = 2026-06-30
"""


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> at.Registry:
    path = tmp_path_factory.mktemp("cards") / "acme.toml"
    path.write_text(CARD.format(currency="USD"), encoding="utf-8")
    return at.load_registry(path, bundled=False)


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> at.FxTable:
    path = tmp_path_factory.mktemp("fx") / "fx.toml"
    path.write_text(FX, encoding="utf-8")
    return at.load_fx(path)


def _event(team: str = "search", tokens: int = 2_500_000, day: int = 3) -> dict[str, Any]:
    """One call priced at 1.00 USD per 1M input tokens: 2.50 USD by default."""
    return {"timestamp": f"2026-06-{day:02d}T12:00:00Z", "provider": "acme", "model_actual": "acme-1",
            "input_tokens": tokens, "output_tokens": 0, "team_id": team, "project": "p", "environment": "prod"}


def _line(amount: str, currency: str, **kw: Any) -> at.InvoiceLine:
    return at.InvoiceLine(provider="acme", amount=Decimal(amount), currency=currency, **{**JUNE, **kw})


def _render(report: at.AuditReport, fmt: str) -> str:
    out = io.StringIO()
    write_report(report, fmt, out)
    return out.getvalue()


_INVOICED = re.compile(r"Invoiced usage \$?([\d,]+\.\d\d) ?([A-Z]{3})?")


# -- the four examples of the issue -------------------------------------------------------------


def test_invoice_usage_in_two_currencies_is_never_one_total(reg: at.Registry) -> None:
    report = at.run_audit([_event()], registry=reg,
                          invoices=[_line("2.50", "USD"), _line("2.00", "EUR", project="eu")])
    rep = report.reconciliation
    assert rep is not None
    assert {c: t.invoiced for c, t in rep.totals.items()} == {"EUR": Decimal("2.00"), "USD": Decimal("2.50")}
    with pytest.raises(at.CurrencyMismatch, match=r"EUR.*USD"):
        _ = rep.invoiced
    table = _render(report, "table")
    assert "4.50" not in table
    assert sorted(_INVOICED.findall(table)) == [("2.00", "EUR"), ("2.50", "USD")]
    doc = json.loads(_render(report, "json"))["reconciliation"]
    assert doc["invoiced"] is None
    assert doc["currency"] is None
    assert {c: t["invoiced"] for c, t in doc["by_currency"].items()} == {"EUR": "2.00", "USD": "2.50"}
    html = _render(report, "html")
    assert "4.50" not in html
    assert "EUR 2.00" in html
    assert "$2.50" in html


def test_tax_lines_in_two_currencies_are_kept_apart(reg: at.Registry) -> None:
    rep = at.reconcile([at.price(at.normalize(_event()), reg)],
                       [_line("2.50", "USD"), _line("1.10", "USD", charge_category="tax"),
                        _line("0.90", "EUR", charge_category="tax")], registry=reg)
    assert rep.totals["USD"].other_total == {"tax": Decimal("1.10")}
    assert rep.totals["EUR"].other_total == {"tax": Decimal("0.90")}
    with pytest.raises(at.CurrencyMismatch):
        _ = rep.other_total
    summary = rep.summary()
    assert "Other charges, tax: 1.10 USD" in summary
    assert "Other charges, tax: 0.90 EUR" in summary
    assert "2.00" not in summary


POLICY = """[policy]
owner = "team"

[[pools]]
id = "platform"
kind = "shared"
method = "even"
invoice_line = "L-EUR"
"""


def _policy(text: str) -> at.Policy:
    return at.parse_policy(tomllib.loads(text), text=text)


def test_an_eur_invoice_line_never_funds_a_usd_pool_as_usd(reg: at.Registry, tmp_path: Path) -> None:
    policy = _policy(POLICY)
    invoices = [_line("2.50", "USD"), _line("2.00", "EUR", line_id="L-EUR")]
    with pytest.raises(at.CurrencyMismatch, match=r"pool 'platform'.*'L-EUR' in EUR.*spend is in USD"):
        at.run_audit([_event("search"), _event("ads")], registry=reg, invoices=invoices, policy=policy)


def test_an_eur_budget_is_not_a_relabelled_usd_spend(reg: at.Registry, tmp_path: Path) -> None:
    owners = tmp_path / "owners.toml"
    owners.write_text('[[owners]]\nmatch = { team = "search" }\nbudget_line = "search-ai"\n'
                      'monthly_budget = 100\ncurrency = "EUR"\n', encoding="utf-8")
    contract = at.OwnershipContract(required=("team",), owner_map=at.load_owner_map(owners))
    with pytest.raises(at.CurrencyMismatch, match=r"budget line 'search-ai'.*in EUR.*priced in USD"):
        at.run_audit([_event()], registry=reg, contract=contract)


# -- true-up, coverage ----------------------------------------------------------------------------


def test_true_up_refuses_an_invoice_in_another_currency(reg: at.Registry) -> None:
    priced = [at.price(at.normalize(_event()), reg)]
    rep = at.reconcile(priced, [_line("3.00", "EUR")], registry=reg)
    with pytest.raises(at.CurrencyMismatch, match="true-up"):
        at.true_up(at.rollup(priced, by=("team",)), rep)
    report = at.run_audit([_event()], registry=reg, invoices=[_line("3.00", "EUR")])
    assert report.true_up is None  # nothing EUR is ever spread over USD charges
    assert report.reconciliation is not None
    assert report.reconciliation.unconverted == {"USD": Decimal("2.50")}
    assert not report.reconciliation.passed


def test_coverage_refuses_records_priced_in_two_currencies(reg: at.Registry, tmp_path: Path) -> None:
    (tmp_path / "euro.toml").write_text(CARD.format(currency="EUR").replace('"acme"', '"euro"')
                                        .replace("acme-2026-06", "euro-2026-06"), encoding="utf-8")
    both = at.load_registry(tmp_path / "euro.toml", bundled=False)
    eur = at.price(at.normalize({**_event(), "provider": "euro"}), both)
    usd = at.price(at.normalize(_event()), reg)
    with pytest.raises(at.CurrencyMismatch, match=r"USD.*EUR"):
        at.coverage([usd, eur])
    (tmp_path / "acme.toml").write_text(CARD.format(currency="USD"), encoding="utf-8")
    mixed = at.load_registry(tmp_path / "acme.toml", tmp_path / "euro.toml", bundled=False)
    # The whole audit (rollups, coverage, charge lines, every writer) refuses records priced in two currencies.
    with pytest.raises(at.CurrencyMismatch, match=r"card euro-2026-06 prices euro/acme-1 in EUR"):
        at.run_audit([_event(), {**_event(), "provider": "euro"}], registry=mixed)


# -- FX: only with a dated table, always shown ---------------------------------------------------------


def test_fx_converts_an_invoice_line_and_shows_the_rate(reg: at.Registry, fx: at.FxTable) -> None:
    report = at.run_audit([_event()], registry=reg, invoices=[_line("2.31", "EUR")], fx=fx)
    rep = report.reconciliation
    assert rep is not None
    [row] = rep.lines
    assert row.currency == "USD"
    assert row.invoiced == Decimal("2.502654")
    assert row.fx is not None
    assert row.fx.rate == Decimal("1.0834")
    assert row.fx.date == date(2026, 6, 30)
    assert rep.totals["USD"].priced == Decimal("2.50")
    assert not row.unconverted
    table = _render(report, "table")
    assert "1 EUR = 1.0834 USD on 2026-06-30" in table
    assert "1 EUR = 1.0834 USD on 2026-06-30" in _render(report, "html")
    [line] = json.loads(_render(report, "json"))["reconciliation"]["lines"]
    assert (line["fx_rate"], line["fx_date"], line["billed_amount"], line["billed_currency"]) == \
        ("1.0834", "2026-06-30", "2.31", "EUR")
    assert report.true_up is not None
    assert report.true_up.invoiced == Decimal("2.502654")


def test_fx_funds_a_pool_and_converts_a_budget(reg: at.Registry, fx: at.FxTable, tmp_path: Path) -> None:
    policy = _policy(POLICY)
    report = at.run_audit([_event("search"), _event("ads")], registry=reg, policy=policy, fx=fx,
                          invoices=[_line("5.00", "USD"), _line("2.00", "EUR", line_id="L-EUR")])
    assert report.allocation is not None
    [pool] = report.allocation.pools
    assert pool.amount == Decimal("2.17")  # 2.00 x 1.0834 = 2.1668, to the cent and [str(r) for r in pool.fx] == ["1 EUR = 1.0834 USD on 2026-06-30"]
    assert "converted at 1 EUR = 1.0834 USD on 2026-06-30" in _render(report, "table")
    owners = tmp_path / "owners.csv"
    owners.write_text("field,value,budget_line,monthly_budget,currency\nteam,search,search-ai,100,EUR\n",
                      encoding="utf-8")
    usd_spend = at.run_audit([_event()], registry=reg,
                             contract=at.OwnershipContract(required=("team",), owner_map=at.load_owner_map(owners)),
                             fx=at.FxTable(rates=(at.FxRate(source="USD", target="EUR", rate=Decimal("0.9"),
                                                            date=date(2026, 6, 1)),)))
    [budget] = usd_spend.budgets
    assert (budget.actual, budget.currency) == (Decimal("2.25"), "EUR")   # 2.50 USD x 0.9
    assert [str(r) for r in budget.fx] == ["1 USD = 0.9 EUR on 2026-06-01"]
    for fmt in ("table", "html"):
        assert "search-ai: spend converted to EUR at 1 USD = 0.9 EUR on 2026-06-01" in _render(usd_spend, fmt)
    [shown] = json.loads(_render(usd_spend, "json"))["budgets"]
    assert (shown["currency"], shown["fx"][0]["rate"], shown["fx"][0]["date"]) == ("EUR", "0.9", "2026-06-01")


def test_a_rate_dated_after_the_invoice_is_not_used(reg: at.Registry) -> None:
    late = at.FxTable(rates=(at.FxRate(source="EUR", target="USD", rate=Decimal("1.1"), date=date(2026, 7, 2)),))
    rep = at.reconcile([at.price(at.normalize(_event()), reg)], [_line("2.31", "EUR")], registry=reg, fx=late)
    [row] = rep.lines
    assert row.fx is None
    assert row.unconverted == {"USD": Decimal("2.50")}
    assert any("no EUR -> USD rate dated on or before 2026-06-30" in str(c) for c in row.causes)


# -- ISO 4217 codes --------------------------------------------------------------------------------

BAD_CODES = ["usd ", "XXY", "€", "US$", "usd", "XXX"]


@pytest.mark.parametrize("code", BAD_CODES)
def test_bad_codes_are_refused_everywhere(code: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        check_currency(code)
    with pytest.raises(ValueError, match="ISO 4217"):
        _line("1.00", code)
    if code == "usd":
        return  # cost exports write codes in lower case: their readers upper-case them (below)
    invoice = tmp_path / "invoice.csv"
    invoice.write_text(f"provider,period_start,period_end,amount,currency\nacme,2026-06-01,2026-07-01,1.00,{code}\n",
                       encoding="utf-8")
    with pytest.raises(at.InvoiceError, match="ISO 4217") as inv:
        list(at.read_invoice(invoice))
    assert inv.value.line == 2
    assert inv.value.column == "currency"
    card = tmp_path / "card.toml"
    card.write_text(CARD.format(currency=code), encoding="utf-8")
    with pytest.raises(at.PriceCardError, match="ISO 4217") as pc:
        at.load_card(card)
    assert pc.value.path == "card.currency"
    with pytest.raises(at.PolicyError, match="ISO 4217") as pe:
        _policy(f'[policy]\nowner = "team"\ncurrency = "{code}"\n')
    assert pe.value.path == "policy.currency"
    owners = tmp_path / "owners.csv"
    owners.write_text(f"field,value,budget_line,monthly_budget,currency\nteam,search,ai,100,{code}\n",
                      encoding="utf-8")
    with pytest.raises(at.OwnershipError, match="ISO 4217") as oe:
        at.load_owner_map(owners)
    assert oe.value.line == 2
    assert oe.value.path == "currency"
    fx_file = tmp_path / "fx.toml"
    fx_file.write_text(FX.replace('"EUR"', f'"{code}"'), encoding="utf-8")
    with pytest.raises(at.FxTableError, match="ISO 4217") as fe:
        at.load_fx(fx_file)
    assert (fe.value.line, fe.value.path) == (2, "rate[0].from")


def test_openai_lower_case_codes_are_still_read_but_padding_is_not() -> None:
    from attribution.invoices._common import currency_code
    assert currency_code("usd") == "USD"
    for bad in ("usd ", "xxy", "€"):
        with pytest.raises(ValueError, match="ISO 4217"):
            currency_code(bad)


def test_the_code_list_is_iso_4217_alphabetic() -> None:
    assert {"USD", "EUR", "JPY", "GBP", "CHF", "XCG"} <= ISO_4217
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in ISO_4217)
    assert "XXX" not in ISO_4217
    assert "XTS" not in ISO_4217


@pytest.mark.parametrize(("text", "where"), [
    ('[[rate]]\nfrom = "EUR"\nto = "USD"\nrate = 1.08\n', (1, "rate[0].date")),
    ('[[rate]]\nfrom = "EUR"\nto = "USD"\nrate = "-1"\ndate = 2026-06-30\n', (1, "rate[0].rate")),
    ('[[rate]]\nfrom = "EUR"\nto = "EUR"\nrate = "1"\ndate = 2026-06-30\n', (1, "rate[0].to")),
    (FX + FX, (8, "rate[1].date")),
])
def test_fx_table_errors_name_the_line_and_field(text: str, where: tuple[int, str], tmp_path: Path) -> None:
    path = tmp_path / "fx.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(at.FxTableError) as exc:
        at.load_fx(path)
    assert (exc.value.line, exc.value.path) == where
    assert str(path) in str(exc.value)


def test_fx_csv_is_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "fx.csv"
    path.write_text("from,to,rate,date\nEUR,USD,1.083412345678,2026-06-30\nEUR,USD,1.07,2026-05-31\n",
                    encoding="utf-8")
    table = at.load_fx(path)
    assert table.rate("EUR", "USD", date(2026, 6, 30)).rate == Decimal("1.083412345678")  # type: ignore[union-attr]
    assert table.rate("EUR", "USD", date(2026, 6, 15)).rate == Decimal("1.07")  # type: ignore[union-attr]
    assert table.rate("USD", "EUR", date(2026, 6, 30)) is None   # never inverted


# -- properties: whatever the amounts, no output shows a cross-currency sum ------------------------------

_AMOUNT = st.decimals(min_value=Decimal("100.00"), max_value=Decimal("99999.99"), places=2)
_CURRENCIES = st.sampled_from(["EUR", "GBP", "JPY", "CHF"])


@settings(max_examples=10, deadline=None, database=None)
@given(usd=_AMOUNT, other=_AMOUNT, tax_usd=_AMOUNT, tax_other=_AMOUNT, code=_CURRENCIES)
def test_no_report_sums_across_currencies(reg: at.Registry, usd: Decimal, other: Decimal, tax_usd: Decimal,
                                          tax_other: Decimal, code: str) -> None:
    invoices = [_line(str(usd), "USD"), _line(str(other), code, project="eu"),
                _line(str(tax_usd), "USD", charge_category="tax"), _line(str(tax_other), code, charge_category="tax")]
    report = at.run_audit([_event("search"), _event("ads", day=4)], registry=reg, invoices=invoices)
    rep = report.reconciliation
    assert rep is not None
    assert rep.totals["USD"].invoiced == usd
    assert rep.totals[code].invoiced == other
    assert rep.totals["USD"].other_total == {"tax": tax_usd}
    assert rep.totals[code].other_total == {"tax": tax_other}
    mixed = {f"{v:,}" for v in (usd + other, tax_usd + tax_other, usd + other + tax_usd + tax_other)}
    mixed |= {f"{v}" for v in (usd + other, tax_usd + tax_other)}
    legit = (usd, other, tax_usd, tax_other, usd + tax_usd, other + tax_other)   # sums within one currency
    shown = {f"{v:,}" for v in legit} | {str(v) for v in legit}
    for fmt in ("table", "json", "html"):
        text = _render(report, fmt)
        for total in mixed - shown:
            assert total not in text, (fmt, total)
    doc = json.loads(_render(report, "json"))["reconciliation"]
    assert doc["invoiced"] is None
    assert doc["other_charges"] is None
    assert doc["by_currency"]["USD"]["invoiced"] == str(usd)
    assert doc["by_currency"][code]["invoiced"] == str(other)
    assert report.true_up is None or report.true_up.invoiced == usd   # only USD is ever spread over USD charges
    table = _render(report, "table")
    assert sorted(_INVOICED.findall(table)) == sorted([(str(usd), "USD"), (str(other), code)])


@settings(max_examples=25, deadline=None, database=None)
@given(amount=_AMOUNT, rate=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("2"), places=4))
def test_converted_amounts_are_exact_and_carry_their_rate(reg: at.Registry, amount: Decimal, rate: Decimal) -> None:
    table = at.FxTable(rates=(at.FxRate(source="EUR", target="USD", rate=rate, date=date(2026, 6, 30)),))
    rep = at.reconcile([at.price(at.normalize(_event()), reg)], [_line(str(amount), "EUR")], registry=reg, fx=table)
    [row] = rep.lines
    assert row.invoiced == amount * rate
    assert row.fx is not None
    assert row.fx.rate == rate
    assert rep.invoiced == amount * rate
    assert rep.currency == "USD"
    assert any(c.code == "fx" and f"{rate.normalize():f}" in c.message for c in row.causes)


# -- CLI ----------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attribution", *args], capture_output=True, text=True, check=False)


def test_cli_fx_flag(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(CARD.format(currency="USD"), encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    calls.write_text(json.dumps(_event()) + "\n", encoding="utf-8")
    invoice = tmp_path / "invoice.csv"
    invoice.write_text("provider,period_start,period_end,amount,currency\nacme,2026-06-01,2026-07-01,2.31,EUR\n",
                       encoding="utf-8")
    good = tmp_path / "fx.toml"
    good.write_text(FX, encoding="utf-8")
    ok = _cli("audit", str(calls), "--pricecards", str(card), "--invoice", str(invoice), "--fx", str(good))
    assert ok.returncode in (0, 1), ok.stderr
    assert "1 EUR = 1.0834 USD on 2026-06-30" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(FX.replace('"EUR"', '"€"'), encoding="utf-8")
    err = _cli("audit", str(calls), "--pricecards", str(card), "--invoice", str(invoice), "--fx", str(bad))
    assert err.returncode == 2
    assert "Traceback" not in err.stderr
    assert len(err.stderr.strip().splitlines()) == 1
    assert "rate[0].from" in err.stderr
    assert "ISO 4217" in err.stderr
