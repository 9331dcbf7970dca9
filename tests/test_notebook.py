"""Notebooks: Rollup, Allocation and Reconciliation render as escaped HTML and as exact DataFrames and Arrow tables."""

from __future__ import annotations

import importlib
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

import attribution as at

UTC = timezone.utc
SCRIPT = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"
JUNE = datetime(2026, 6, 8, 12, tzinfo=UTC)


def priced(team, *, inp=1_000_000, out=0, project=None):
    tags = {"team": team} if team is not None else {}
    if project:
        tags["project"] = project
    return at.price(at.UsageRecord(provider="openai", model="gpt-4.1", at=JUNE, usage=at.Usage(input=inp, output=out),
                                   tags=tags))


@pytest.fixture
def records():
    # gpt-4.1: $2 per 1M input, $8 per 1M output
    return [priced("search"), priced("search", out=1_000_000), priced(SCRIPT, inp=500_000), priced(FORMULA),
            priced(None, inp=250_000)]


@pytest.fixture
def rollup(records):
    return at.rollup(records, by=("team",))


@pytest.fixture
def allocation(rollup):
    policy = at.parse_policy({"policy": {"owner": "team", "name": SCRIPT},
                              "pools": [{"id": "gateway", "amount": Decimal("100.00"), "method": "even"}]})
    return at.apply_policy(rollup, policy)


@pytest.fixture
def reconciliation(records):
    line = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                          amount=Decimal("20.00"), currency="USD", model="gpt-4.1", project=SCRIPT)
    other = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                           amount=Decimal("9.00"), currency="USD", model=FORMULA)
    recs = [*records, priced("search", project=SCRIPT)]
    return at.reconcile(recs, [line, other], contract=at.OwnershipContract(required=("team",)))


# --- _repr_html_: always runs, no optional dependency ------------------------------------------


def assert_escaped(html):
    assert "<script>" not in html
    assert "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "=cmd|&#x27; /C calc&#x27;!A0" in html           # quotes escaped too (html.escape(quote=True))
    # nothing but our own markup: every tag is one of the few the renderer writes
    tags = set(re.findall(r"</?([a-zA-Z]+)", html))
    assert tags <= {"div", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "em"}


def test_rollup_html_escapes_every_tag_value(rollup):
    html = rollup._repr_html_()
    assert_escaped(html)
    assert "Rollup by team" in html
    assert "<em>(none)</em>" in html
    assert "12.00" in html
    assert "1.00" in html
    assert html.count("<tr>") == 1 + len(rollup)           # the header, then one row per key


def test_allocation_html_escapes_owner_names_and_the_policy_name(allocation):
    html = allocation._repr_html_()
    assert_escaped(html)
    assert "gateway" in html
    assert str(allocation.total) in html


def test_reconciliation_html_escapes_invoice_fields(reconciliation):
    html = reconciliation._repr_html_()
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "=cmd|&#x27; /C calc&#x27;!A0" in html
    assert "Reconciliation with the invoice" in html


def test_html_shows_the_first_rows_and_says_how_many_more():
    many = [priced(f"team-{i:03d}") for i in range(75)]
    html = at.rollup(many, by=("team",))._repr_html_()
    assert html.count("<tr>") == 1 + 60
    assert "15 more rows" in html


# --- pandas -----------------------------------------------------------------------------------


def test_rollup_to_pandas_keeps_money_as_decimal(rollup):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = rollup.to_pandas()
    assert list(df.columns) == ["team", "records", "requests", "cost", "currency", "tokens_input", "tokens_output"]
    assert df["cost"].dtype == pd.ArrowDtype(pa.decimal128(38, 15))
    assert all(isinstance(v, Decimal) for v in df["cost"])
    assert df["cost"].sum() == rollup.total == Decimal("15.50")
    assert df.loc[df["team"] == "search", "cost"].item() == Decimal("12.00")
    assert df.loc[df["team"] == SCRIPT, "tokens_input"].item() == 500_000     # the value itself, not escaped
    assert df["tokens_output"].tolist() == [1_000_000, 0, 0, 0]


def test_allocation_and_reconciliation_to_pandas(allocation, reconciliation):
    pytest.importorskip("pandas")
    df = allocation.to_pandas()
    assert df["cost"].sum() == allocation.total
    assert all(isinstance(v, Decimal) for v in df["cost"])
    shared = df[df["component"] == "gateway"]
    assert set(shared["AllocatedMethodId"]) == {"even"}
    assert all(isinstance(d, dict) and d["Elements"] for d in shared["AllocatedMethodDetails"])
    rf = reconciliation.to_pandas()
    assert rf["invoiced"].sum() == reconciliation.invoiced == Decimal("29.00")
    assert rf["period_start"].tolist() == [date(2026, 6, 1)] * 2
    assert all(isinstance(c, list) for c in rf["causes"])


def test_an_empty_rollup_is_an_empty_frame_with_its_columns():
    pytest.importorskip("pandas")
    df = at.rollup([], by=("team", "feature")).to_pandas()
    assert len(df) == 0
    assert list(df.columns)[:3] == ["team", "feature", "records"]


# --- arrow -------------------------------------------------------------------------------------


def test_rollup_to_arrow_has_decimal128_money(rollup):
    pa = pytest.importorskip("pyarrow")
    table = rollup.to_arrow()
    assert table.schema.field("cost").type == pa.decimal128(38, 15)
    assert table.schema.field("records").type == pa.int64()
    assert table.schema.field("team").type == pa.string()
    costs = table.column("cost").to_pylist()
    assert sum(costs) == rollup.total
    assert table.column("team").to_pylist()[0] == "search"
    assert None in table.column("team").to_pylist()          # no owner is a real null


def test_allocation_and_reconciliation_to_arrow(allocation, reconciliation):
    pa = pytest.importorskip("pyarrow")
    table = allocation.to_arrow()
    assert table.schema.field("cost").type == pa.decimal128(38, 15)
    assert sum(table.column("cost").to_pylist()) == allocation.total
    assert table.schema.field("AllocatedMethodDetails").type == pa.string()
    rt = reconciliation.to_arrow()
    for name in ("invoiced", "priced", "attributed", "unowned", "variance", "relative_variance"):
        assert rt.schema.field(name).type == pa.decimal128(38, 15)
    assert rt.schema.field("period_start").type == pa.date32()
    assert rt.schema.field("matched").type == pa.bool_()
    assert rt.schema.field("causes").type == pa.list_(pa.string())
    assert sum(rt.column("invoiced").to_pylist()) == Decimal("29.00")


# --- missing extras -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "module", "extra"), [("to_pandas", "pandas", "pandas"),
                                                          ("to_arrow", "pyarrow", "arrow")])
def test_a_missing_extra_is_named_in_the_error(rollup, allocation, reconciliation, monkeypatch, method, module,
                                                extra):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name.split(".")[0] == module:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    for obj in (rollup, allocation, reconciliation):
        with pytest.raises(at.MissingDependency, match=re.escape(f"pip install 'attribution[{extra}]'")):
            getattr(obj, method)()
    assert rollup._repr_html_()                               # HTML never needs an extra


def test_without_pyarrow_money_columns_hold_decimal_objects(rollup, monkeypatch):
    pytest.importorskip("pandas")
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name.split(".")[0] == "pyarrow":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    df = rollup.to_pandas()
    assert df["cost"].dtype == object
    assert df["cost"].sum() == Decimal("15.50")


# --- the audit in a notebook: the example month ---------------------------------------------------

EXAMPLES = "examples"


@pytest.fixture(scope="module")
def month():
    """The README's audit of the example month: invoices, owner map with budgets, allocation policy."""
    from pathlib import Path

    from attribution.invoices import read_invoice
    from attribution.io import read_payloads

    invoices = [line for f in sorted(Path(EXAMPLES, "invoices").iterdir()) for line in read_invoice(f)]
    contract = at.OwnershipContract(required=("team", "project", "environment"),
                                    owner_map=at.load_owner_map(f"{EXAMPLES}/owners.toml"))
    return at.run_audit(read_payloads(f"{EXAMPLES}/gateway-month.jsonl"),
                        registry=at.load_registry(f"{EXAMPLES}/pricecards"), contract=contract, by=("team",),
                        invoices=invoices, policy=at.load_policy(f"{EXAMPLES}/policy.toml"))


def test_the_audit_repr_is_one_short_line(month):
    """What IPython prints for a report: was 1,045,265 characters (every charge line and invoice line)."""
    text = repr(month)
    assert "\n" not in text
    assert len(text) < 300
    assert text.startswith("<AuditReport by=team, 2,502 records read, 2,501 priced, 1 quarantined")
    assert f"{month.total} USD priced" in text
    for part in (month.coverage, month.true_up, month.reconciliation):
        assert len(repr(part)) < 400
        assert "\n" not in repr(part)
    # 883: the billed calls the gateway never logged (examples/README.md) add 4 lines to the 879 the log explains
    assert "883 invoice lines" in repr(month.reconciliation)


def test_the_audit_html_is_compact_and_has_the_kpis(month):
    html = month._repr_html_()
    assert len(html.encode()) < 50_000                      # measured: about 17 KB
    assert month.accounting().replace(",", "") in html.replace(",", "")
    for title in ("Spend by team", "Allocation by team", "Reconciliation: largest variances first",
                  "True-up to the invoice", "Budgets"):
        assert title in html
    assert "report.to_pandas(name)" in html
    assert html.count("<tr>") <= 7 * 11                      # at most 10 rows under each header


def test_the_audit_html_escapes_and_clips_hostile_tag_values():
    huge = "x" * 200_000
    events = [{"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
               "request_id": f"r{i}", "input_tokens": 1000 + (team == huge) * 5000, "output_tokens": 10,
               "team_id": team}
              for i, team in enumerate([SCRIPT, FORMULA, huge, *[f"t{i}" for i in range(40)]])]
    report = at.run_audit(events, by=("team",))
    html = report._repr_html_()
    assert len(html) < 20_000
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert huge not in html
    assert "x" * 100 + "\u2026" in html
    assert "... and 33 more rows" in html
    assert SCRIPT not in repr(report)                         # the repr carries no tag values at all


def test_coverage_true_up_and_reconciliation_have_html_views(month):
    for part in (month.coverage, month.true_up, month.reconciliation):
        html = part._repr_html_()
        assert html.startswith("<div")
        assert len(html) < 50_000
    assert "Coverage:" in month.coverage._repr_html_()
    assert month.true_up._repr_html_().count("<tr>") == 1 + len(month.true_up.rows)


@pytest.mark.parametrize("name", ["charges", "rollup", "allocation", "coverage", "reconciliation", "true_up",
                                  "budgets"])
def test_every_audit_table_is_a_frame_with_exact_arrow_decimal_money(month, name):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    money = pd.ArrowDtype(pa.decimal128(38, 15))
    df = month.to_pandas(name)
    table = month.to_arrow(name)
    assert list(df.columns) == table.column_names
    assert len(df) == table.num_rows > 0
    decimals = [c for c in df.columns if df[c].dtype == money]
    assert decimals, f"{name} has no money column"
    for c in decimals:
        assert table.schema.field(c).type == pa.decimal128(38, 15)
        assert df[c].sum() == sum((v for v in table.column(c).to_pylist() if v is not None), Decimal(0))


def test_charge_lines_frame_sums_to_the_exact_total_and_ranks_by_money(month):
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = month.to_pandas()                                   # charges by default
    assert len(df) == len(month.charges)
    total = df["amount"].sum()
    assert isinstance(total, Decimal)
    assert total == month.total == sum(c.amount for c in month.charges)
    by_team = df.groupby("team", dropna=False)["amount"].sum()
    assert by_team.sum() == month.total
    top = df.sort_values("amount", ascending=False).head(3)   # pandas cannot nlargest decimals (see cookbook)
    assert top["amount"].tolist() == sorted((c.amount for c in month.charges), reverse=True)[:3]
    assert "0.0" in df.head().to_string()                    # display works (decimals print as numbers)


def test_rollup_nlargest_over_the_whole_frame_and_exact_sum(month):
    """``nlargest(n)`` works while n covers the frame; with fewer rows pandas raises (its own decimal gap)."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = month.to_pandas("rollup")
    top = df.nlargest(len(df), "cost")
    assert top["cost"].tolist() == sorted(df["cost"].tolist(), reverse=True)
    assert top["cost"].sum() == month.rollup.total


def test_unknown_or_absent_audit_tables_say_what_is_needed(month):
    pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="tables: charges, rollup"):
        month.to_pandas("nope")
    with pytest.raises(ValueError, match="period="):
        month.to_pandas("periods")
    plain = at.run_audit([], by=("team",))
    with pytest.raises(ValueError, match="with invoices"):
        plain.to_arrow("reconciliation")
    assert plain._repr_html_().startswith("<div")
    assert repr(plain).startswith("<AuditReport by=team, 0 records read")


def test_budget_report_is_a_list_with_a_notebook_view(month):
    from datetime import date

    from attribution.io import read_payloads

    owner_map = at.load_owner_map(f"{EXAMPLES}/owners.toml")
    records = [p for p in at.price_many(at.normalize_many(read_payloads(f"{EXAMPLES}/gateway-month.jsonl")),
                                        at.load_registry(f"{EXAMPLES}/pricecards")) if isinstance(p, at.PricedRecord)]
    budgets = at.budget_report(records, owner_map, date(2026, 6, 30))
    assert isinstance(budgets, list)
    assert budgets
    html = budgets._repr_html_()
    assert html.count("<tr>") == 1 + len(budgets)
    assert "Budgets" in html
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = budgets.to_pandas()
    assert df["actual"].dtype == pd.ArrowDtype(pa.decimal128(38, 15))
    assert df["actual"].sum() == sum(b.actual for b in budgets)
    assert budgets.to_arrow().num_rows == len(budgets)
