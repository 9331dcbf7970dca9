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
    pytest.importorskip("pandas")
    df = rollup.to_pandas()
    assert list(df.columns) == ["team", "records", "requests", "cost", "currency", "tokens_input", "tokens_output"]
    assert df["cost"].dtype == object
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
