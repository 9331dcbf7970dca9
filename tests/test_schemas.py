"""The bundled JSON Schemas (``attribution.schemas``) against the documents they describe.

The audit schema is checked on reports the CLI writes (the example month with
invoices, owners and a policy; a week comparison on the Python engine; an FX
reconciliation; an empty audit); the card, policy and owner-map schemas on
every bundled card and the examples. Each schema also refuses a document
with a wrong type and one with an unknown key, so drift in either direction
(the writer adds a key, or a schema stops checking) fails here.
"""

from __future__ import annotations

import copy
import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import attribution.schemas
from attribution.cli import main

jsonschema = pytest.importorskip("jsonschema", reason="the schema tests need jsonschema (the 'dev' extra)")

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CARDS = sorted((ROOT / "pricecards").glob("*.toml")) + sorted((EXAMPLES / "pricecards").glob("*.toml"))


def _validator(name: str) -> Any:
    schema = attribution.schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(name: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(doc)]


def _plain(value: Any) -> Any:
    """TOML as JSON would carry it: dates and datetimes as ISO strings."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _toml(path: Path) -> dict[str, Any]:
    return _plain(tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))  # type: ignore[no-any-return]


def _audit_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "audit.json"
    code = main(["audit", *args, "--format", "json", "-o", str(out)])
    assert code in (0, 1)   # 1: the example month misses its coverage target, by design
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


EXAMPLE_MONTH = (str(EXAMPLES / "gateway-month.jsonl"), "--invoice", str(EXAMPLES / "invoices"),
                 "--owners", str(EXAMPLES / "owners.toml"), "--policy", str(EXAMPLES / "policy.toml"),
                 "--pricecards", str(EXAMPLES / "pricecards"))


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _audit_json(tmp_path_factory.mktemp("month"), *EXAMPLE_MONTH)


# -- the accessor ------------------------------------------------------------------------------


def test_every_named_schema_is_bundled_and_valid_draft_2020_12() -> None:
    assert attribution.schemas.NAMES == ("audit", "card", "owner-map", "policy")
    for name in attribution.schemas.NAMES:
        schema = attribution.schemas.load(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{name}.schema.json")
        assert attribution.schemas.path(name).name == f"{name}.schema.json"
        jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(ValueError, match="unknown schema 'cards'"):
        attribution.schemas.load("cards")


def test_load_returns_a_fresh_copy() -> None:
    first = attribution.schemas.load("audit")
    first["properties"].clear()
    assert "totals" in attribution.schemas.load("audit")["properties"]


def test_audit_schema_names_the_writer_version() -> None:
    from attribution.reports import JSON_SCHEMA

    assert attribution.schemas.load("audit")["properties"]["schema"] == {"const": JSON_SCHEMA}


# -- audit JSON --------------------------------------------------------------------------------


def test_example_month_audit_validates(month: dict[str, Any]) -> None:
    assert _errors("audit", month) == []
    # The variant really exercises the optional sections.
    assert month["reconciliation"]["lines"]
    assert month["allocation"]
    assert month["budgets"]
    assert month["true_up"]


def test_week_comparison_validates(tmp_path: Path) -> None:
    # A period comparison runs on the Python engine, and the report says why (engine.note).
    doc = _audit_json(tmp_path, *EXAMPLE_MONTH, "--period", "week", "--by", "team,model")
    assert _errors("audit", doc) == []
    assert doc["engine"]["name"] == "python"
    assert doc["engine"]["note"]
    assert doc["periods"]
    assert doc["changes"]


def test_chunked_audit_validates(tmp_path: Path) -> None:
    doc = _audit_json(tmp_path, *EXAMPLE_MONTH, "--chunk-size", "500", "--engine", "python")
    assert _errors("audit", doc) == []


def test_empty_audit_validates(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    doc = _audit_json(tmp_path, str(empty))
    assert _errors("audit", doc) == []
    assert doc["currency"] is None
    assert doc["rows"] == []
    assert doc["reconciliation"] is None


CARD = """[card]
provider = "acme"
version = "acme-2026-06"
currency = "USD"
read_on = 2026-06-01
source = "test card"

[[models]]
id = "acme-1"

  [[models.prices]]
  from = 2026-01-01
  input = 1.00
  output = 2.00
"""


def test_fx_reconciliation_validates(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(CARD, encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    calls.write_text(json.dumps({"timestamp": "2026-06-03T12:00:00Z", "provider": "acme", "model_actual": "acme-1",
                                 "input_tokens": 2_500_000, "output_tokens": 0, "team_id": "search",
                                 "project": "p", "environment": "prod"}) + "\n", encoding="utf-8")
    invoice = tmp_path / "invoice.csv"
    invoice.write_text("provider,period_start,period_end,amount,currency\nacme,2026-06-01,2026-07-01,2.31,EUR\n",
                       encoding="utf-8")
    fx = tmp_path / "fx.toml"
    fx.write_text('[[rate]]\nfrom = "EUR"\nto = "USD"\nrate = "1.0834"\ndate = 2026-06-30\n', encoding="utf-8")
    doc = _audit_json(tmp_path, str(calls), "--pricecards", str(card), "--invoice", str(invoice), "--fx", str(fx))
    assert _errors("audit", doc) == []
    [line] = doc["reconciliation"]["lines"]
    assert line["billed_currency"] == "EUR"
    assert line["fx_rate"] == "1.0834"


def test_audit_schema_rejects_drift(month: dict[str, Any]) -> None:
    unknown = copy.deepcopy(month)
    unknown["totals"]["cost_usd"] = "1.00"                   # a key the writer does not write
    assert any("cost_usd" in e for e in _errors("audit", unknown))
    as_number = copy.deepcopy(month)
    as_number["totals"]["cost"] = 45.37                      # money as a JSON number, not a string
    assert _errors("audit", as_number)
    exponent = copy.deepcopy(month)
    exponent["coverage"]["attributed"] = "2E-7"              # money must be fixed point
    assert _errors("audit", exponent)
    missing = copy.deepcopy(month)
    del missing["reconciliation"]["by_currency"]
    assert any("by_currency" in e for e in _errors("audit", missing))
    version = copy.deepcopy(month)
    version["schema"] = "attribution.audit/2"
    assert _errors("audit", version)
    bad_line = copy.deepcopy(month)
    bad_line["reconciliation"]["lines"][0]["matched"] = "yes"
    assert _errors("audit", bad_line)


# -- price cards, policies, owner maps -----------------------------------------------------------


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.name)
def test_bundled_and_example_cards_validate(path: Path) -> None:
    assert _errors("card", _toml(path)) == []


def test_card_schema_rejects_a_misspelt_meter_and_a_wrong_type() -> None:
    doc = _toml(ROOT / "pricecards" / "openai.toml")
    misspelt = copy.deepcopy(doc)
    misspelt["models"][0]["prices"][0]["cached_inputs"] = 1
    assert any("cached_inputs" in e for e in _errors("card", misspelt))
    wrong = copy.deepcopy(doc)
    wrong["models"][0]["prices"][0]["input"] = "five dollars"
    assert _errors("card", wrong)
    negative = copy.deepcopy(doc)
    negative["models"][0]["prices"][0]["output"] = Decimal("-1")
    assert _errors("card", negative)
    no_meta = copy.deepcopy(doc)
    del no_meta["card"]["version"]
    assert any("version" in e for e in _errors("card", no_meta))


def test_example_policy_validates() -> None:
    assert _errors("policy", _toml(EXAMPLES / "policy.toml")) == []


def test_policy_schema_rejects_an_unknown_method_and_key() -> None:
    doc = _toml(EXAMPLES / "policy.toml")
    method = copy.deepcopy(doc)
    method["pools"][0]["method"] = "split"
    assert _errors("policy", method)
    unknown = copy.deepcopy(doc)
    unknown["pools"][0]["weights"] = {"search": 1}
    assert any("weights" in e for e in _errors("policy", unknown))
    wrong = copy.deepcopy(doc)
    wrong["policy"]["owner"] = ["team"]
    assert _errors("policy", wrong)


def test_example_owner_map_validates() -> None:
    assert _errors("owner-map", _toml(EXAMPLES / "owners.toml")) == []


def test_owner_map_schema_rejects_two_match_fields_and_unknown_keys() -> None:
    doc = _toml(EXAMPLES / "owners.toml")
    two = copy.deepcopy(doc)
    two["owners"][0]["match"] = {"team": "search", "project": "web"}
    assert _errors("owner-map", two)
    unknown = copy.deepcopy(doc)
    unknown["owners"][0]["budget"] = 25
    assert any("budget" in e for e in _errors("owner-map", unknown))
    wrong = copy.deepcopy(doc)
    wrong["owners"][0]["monthly_budget"] = True
    assert _errors("owner-map", wrong)
