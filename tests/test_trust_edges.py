"""Issue 17, class 7: the smaller leaks an adversarial user found.

Model ids with an arbitrary ``/`` prefix, discount multipliers that pricing
cannot apply exactly, tag values equal to an internal sentinel, tag names
whose case dodges hashing, terminal escape sequences from card text, and a
caller's decimal context leaking into exact sums. Each test fails on the code
before the fix.
"""

from __future__ import annotations

import decimal
import io
import re
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution.exceptions import PriceCardError, UnknownModel
from attribution.normalize import keyed_hash
from attribution.reports import write_report

UTC = timezone.utc
MISSING = "__missing__"   # the policy file's selector for "no value" (docs/allocation.md)
JUNE = datetime(2026, 6, 8, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


# -- only documented routing prefixes are stripped from a model id --------------------------------------


@pytest.mark.parametrize("model", ["evil/gpt-4o", "junk/gpt-4o", "anthropic/gpt-4o", "a/b/gpt-4o", "/gpt-4o",
                                   "models/gpt-4o", "arn:aws:bedrock:us-east-1::foundation-model/gpt-4o"])
def test_an_unknown_prefix_is_part_of_the_name_so_the_model_stays_unknown(model: str) -> None:
    reg = at.default_registry()
    with pytest.raises(UnknownModel) as caught:
        reg.resolve("openai", model, JUNE)
    assert model in str(caught.value)
    # through the pipeline: quarantined with a reason, never priced as gpt-4o
    [q] = list(at.price_many([at.UsageRecord(provider="openai", model=model, usage=at.Usage(input=1000), at=JUNE)]))
    assert isinstance(q, at.Quarantined)
    assert q.code == "unknown_model"


@pytest.mark.parametrize(("provider", "model", "canonical", "region"), [
    ("openai", "openai/gpt-4o", "gpt-4o", None),                                # a gateway's provider prefix
    ("openai", "OpenAI/GPT-4o", "gpt-4o", None),
    ("azure", "azure_openai/gpt-4o", "gpt-4o", None),                           # a synonym of the provider
    ("bedrock", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
     "anthropic.claude-sonnet-4-5-20250929-v1:0", "us"),                        # prefix, then a geo profile
    ("bedrock", "bedrock/converse/anthropic.claude-sonnet-4-5-20250929-v1:0",
     "anthropic.claude-sonnet-4-5-20250929-v1:0", None),                        # LiteLLM's converse route
    ("bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
     "anthropic.claude-sonnet-4-5-20250929-v1:0", "eu"),
    ("google", "models/gemini-2.5-flash", "gemini-2.5-flash", None),            # Gemini API resource name
    ("vertex", "projects/p-1/locations/us-central1/publishers/google/models/gemini-2.5-flash",
     "gemini-2.5-flash", None),                                                 # Vertex resource name
    ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", "llama-v3p1-8b-instruct", None),
    ("together", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
     None),                                                                     # an id that itself has a slash
])
def test_documented_routing_forms_resolve(provider: str, model: str, canonical: str, region: str | None) -> None:
    assert at.default_registry().canonical_model(provider, model) == (provider, canonical, region)


def test_a_routing_form_of_another_provider_is_not_unwrapped() -> None:
    # a Vertex resource name logged under openai, an ARN under anthropic: neither is a form that provider uses
    reg = at.default_registry()
    with pytest.raises(UnknownModel):
        reg.canonical_model("openai", "publishers/openai/models/gpt-4o")
    with pytest.raises(UnknownModel):
        reg.canonical_model("anthropic", "arn:aws:bedrock:us-east-1::foundation-model/claude-sonnet-4-5-20250929")


# -- a discount that pricing cannot apply exactly is refused when the card loads -------------------------

INEXACT_DISCOUNT = """\
[card]
version = "acme-2026"
provider = "openai"
currency = "USD"
source = "acme order form"
read_on = 2026-01-01

[[discounts]]
models = ["gpt-4o-mini"]
multiplier = 0.123456789123456789
from = 2025-01-01
source = "order form 7"
"""


def test_an_inexact_discount_fails_at_load_naming_card_field_and_model(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(INEXACT_DISCOUNT, encoding="utf-8")
    with pytest.raises(PriceCardError) as caught:
        at.load_registry(card)
    err = caught.value
    assert err.file == str(card)
    assert err.path == "discounts[0].multiplier"
    assert "openai/gpt-4o-mini" in str(err)
    assert "not exact" in str(err)


def test_cards_validate_reports_the_inexact_discount_and_fails(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(INEXACT_DISCOUNT, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "attribution", "cards", "validate", str(card)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stdout
    assert "FAIL" in out.stdout
    assert "discounts[0].multiplier" in out.stdout
    assert "gpt-4o-mini" in out.stdout


def test_the_audit_refuses_the_card_with_one_line_instead_of_quarantining_every_call(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(INEXACT_DISCOUNT, encoding="utf-8")
    log = tmp_path / "log.jsonl"
    log.write_text('{"timestamp": "2026-06-08T12:00:00Z", "provider": "openai", "model": "gpt-4o-mini", '
                   '"input_tokens": 1000, "output_tokens": 10, "team_id": "search"}\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "attribution", "audit", str(log), "--pricecards", str(card)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
    assert "discounts[0].multiplier" in out.stderr


def test_an_exact_discount_still_loads_and_applies(tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(INEXACT_DISCOUNT.replace("0.123456789123456789", "0.85"), encoding="utf-8")
    reg = at.load_registry(card)
    assert reg.check() == []
    rate = reg.resolve("openai", "gpt-4o-mini", JUNE)
    assert rate.unit_prices()["input"] == Decimal("0.15") * Decimal("0.85")


def test_every_bundled_rate_can_be_built() -> None:
    assert at.default_registry().check() == []


# -- a tag value equal to an internal sentinel is a real value ------------------------------------------


def _spend(team: str | None, tokens: int) -> at.PricedRecord:
    tags = {"team": team} if team is not None else {}
    return at.price(at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE, usage=at.Usage(input=tokens),
                                   tags=tags))


def test_a_literal_missing_sentinel_value_is_not_untagged_spend() -> None:
    rollup = at.rollup([_spend("search", 400_000), _spend(MISSING, 200_000), _spend(None, 100_000)], by=("team",))
    alloc = at.apply_policy(rollup, at.parse_policy({
        "policy": {"owner": "team", "central_owner": "platform"},
        "pools": [{"id": "untagged", "where": {"team": MISSING}, "method": "retain"}]}))
    # only the record with no team is pooled; the record whose team is the string "__missing__" stays direct
    assert alloc.pool("untagged").origin == ((None,),)
    assert alloc.pool("untagged").amount == Decimal("0.25")   # 100k tokens at $2.50/M
    assert alloc[MISSING].direct == Decimal("0.50")


def test_a_team_named_like_the_no_owner_bucket_is_charted_apart_from_it() -> None:
    def event(team: str | None, tokens: int) -> dict[str, object]:
        return {"timestamp": "2026-06-08T12:00:00Z", "provider": "openai", "model_actual": "gpt-4o",
                "input_tokens": tokens, "output_tokens": 0, **({"team_id": team} if team else {})}

    events = [event("(none)", 400_000), event(None, 800_000), event("other owners", 4_000_000)]
    events += [event(f"team-{i}", 10_000 * (20 - i)) for i in range(12)]   # more owners than colours
    report = at.run_audit(events, by=("team",))
    assert report.priced_records == len(events)
    out = io.StringIO()
    write_report(report, "html", out)
    tips = re.findall(r"<title>\d{4}-\d\d-\d\d · ([^<:]+): \$([\d.,]+)", out.getvalue())
    per_owner: dict[str, list[str]] = {}
    for owner, amount in tips:
        per_owner.setdefault(owner, []).append(amount)
    # the real "(none)" team ($1.00) and the untagged spend ($2.00) are two segments, never one of $3.00
    assert sorted(per_owner["(none)"]) == ["1.00", "2.00"]
    # and a real team named like the tail bucket keeps its own segment beside the tail
    assert len(per_owner["other owners"]) == 2
    assert "10.00" in per_owner["other owners"]


# -- tag names are matched without regard to case -------------------------------------------------------

EVENT = {"timestamp": "2026-06-08T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1",
         "input_tokens": 1_000, "output_tokens": 100}


@pytest.mark.parametrize("payload", [
    {**EVENT, "tags": {"Tenant": "acme-corp"}},
    {**EVENT, "tags": {"TENANT": "acme-corp"}},
    {**EVENT, "metadata": {"Tenant_Id": "acme-corp"}},
    {**EVENT, "Tenant_ID": "acme-corp"},
    {**EVENT, "TENANT_ID": "acme-corp"},
])
@pytest.mark.parametrize("names", [("tenant",), ("Tenant",), ("TENANT_ID",)])
def test_hashing_cannot_be_bypassed_by_the_case_of_a_tag_name(payload: dict[str, object],
                                                               names: tuple[str, ...]) -> None:
    rec = at.normalize(payload, hash_tags=names, hash_key=b"k1")
    assert rec.tags == {"tenant": keyed_hash("acme-corp", b"k1")}
    assert "acme-corp" not in repr(rec)


def test_tag_names_are_canonical_on_ingest_and_group_together() -> None:
    recs = [at.normalize({**EVENT, "tags": {key: "search"}}) for key in ("team", "Team", "TEAM", "Team_Id")]
    assert [r.tags for r in recs] == [{"team": "search"}] * 4
    assert at.normalize(EVENT, tags={"Feature": "chat"}).tags == {"feature": "chat"}
    rollup = at.rollup([at.price(r) for r in recs], by=("team",))
    assert [e.key for e in rollup.entries()] == [("search",)]


# -- terminal output cannot carry escape sequences from card text -----------------------------------------

HOSTILE_CARD = """\
[card]
version = "evil-1\\u001b]0;pwned\\u0007"
provider = "acme"
currency = "USD"
source = "https://example.com/\\u001b[2J\\u001b[31mred"
read_on = 2026-01-01

[[models]]
id = "m-1"
name = "Model \\u001b[5mblink\\u001b[0m"
aliases = ["m-one\\u001b[8m"]

[[models.prices]]
from = 2026-01-01
input = 1.00
output = 2.00
"""


def test_cards_show_and_price_escape_control_characters_from_card_text(tmp_path: Path) -> None:
    card = tmp_path / "evil.toml"
    card.write_text(HOSTILE_CARD, encoding="utf-8")
    for argv in (["cards", "show", "m-1", "--pricecards", str(card)],
                 ["price", "--provider", "acme", "--model", "m-1", "--input", "1000", "--pricecards", str(card)],
                 ["cards", "list", "--pricecards", str(card)]):
        out = subprocess.run([sys.executable, "-m", "attribution", *argv], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout, argv
        assert "\x07" not in out.stdout, argv
        assert "m-1" in out.stdout
    assert "\\x1b[5mblink" in subprocess.run(
        [sys.executable, "-m", "attribution", "cards", "show", "m-1", "--pricecards", str(card)],
        capture_output=True, text=True, check=False).stdout   # shown escaped, not dropped


# -- exact sums never follow the caller's decimal context ---------------------------------------------------


def _invoice(amount: str) -> at.InvoiceLine:
    return at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                          model="gpt-4o", meter="input",
                          amount=Decimal(amount), currency="USD")


def test_reconcile_is_exact_under_a_notebooks_low_precision_context() -> None:
    priced = [_spend("search", 4_000_000)]   # $10.00
    lines = [_invoice("22000.007"), _invoice("0.001")]
    expected = at.reconcile(priced, lines)
    with decimal.localcontext(decimal.Context(prec=6)):
        rep = at.reconcile(priced, lines)
        assert rep.invoiced == Decimal("22000.008")
        assert rep.variance == Decimal("21990.008")
    assert rep.invoiced == expected.invoiced
    assert rep.variance == expected.variance


def _example_report() -> at.AuditReport:
    from attribution.io import read_payloads

    ex = ROOT / "examples"
    invoices = [line for f in sorted((ex / "invoices").iterdir()) for line in at.read_invoice(f)]
    contract = at.OwnershipContract(owner_map=at.load_owner_map(ex / "owners.toml"))
    return at.run_audit(read_payloads(ex / "gateway-month.jsonl"), registry=at.load_registry(ex / "pricecards"),
                        contract=contract, by=("team",), period="week", invoices=invoices,
                        policy=at.load_policy(ex / "policy.toml"))


@pytest.mark.parametrize("fmt", ["json", "table", "csv", "html", "focus"])
def test_every_writer_gives_the_same_bytes_under_a_low_precision_context(fmt: str) -> None:
    def render() -> str:
        out = io.StringIO()
        write_report(_example_report(), fmt, out)
        return out.getvalue()

    expected = render()
    for context in (decimal.Context(prec=6), decimal.Context(prec=3, rounding=decimal.ROUND_DOWN)):
        with decimal.localcontext(context):
            assert render() == expected


# -- true-up with credits, and invoices billing a sliver of a unit -------------------------------------------


def test_true_up_keeps_a_credited_owner_and_spreads_the_rest_exactly() -> None:
    # A pool with a negative amount (a credit) leaves an owner below zero; a credit is no proportion of anything.
    t = at.true_up({"a": Decimal("75"), "b": Decimal("25"), "c": Decimal("-10.005")}, Decimal("100.00"))
    assert t["c"].total == Decimal("-10.00")                 # kept (rounded to the cent), not scaled
    assert t["a"].total == Decimal("82.50")                  # 110.00 spread 3:1 over the charged owners
    assert t["b"].total == Decimal("27.50")
    assert sum((r.total for r in t.rows), Decimal(0)) == Decimal("100.00")
    for row in t.rows:
        assert row.attributed + row.true_up == row.total


@pytest.mark.parametrize("charges", [{"a": Decimal("-1"), "b": Decimal("-2")}, {"a": Decimal("-1"), "b": Decimal(0)}])
def test_true_up_with_nothing_to_spread_over_is_a_policy_error_not_a_weights_error(charges: dict[str, Decimal]) -> None:
    with pytest.raises(at.PolicyError, match="cannot true up") as caught:
        at.true_up(charges, Decimal("10.00"))
    assert "weights" not in str(caught.value)


def test_an_audit_with_a_credit_pool_and_invoices_trues_up(tmp_path: Path) -> None:
    ex = ROOT / "examples"
    policy = tmp_path / "credit.toml"
    policy.write_text((ex / "policy.toml").read_text(encoding="utf-8").replace("amount = 12.00", "amount = -300.00"),
                      encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "attribution", "audit", str(ex / "gateway-month.jsonl"),
                          "--invoice", str(ex / "invoices"), "--owners", str(ex / "owners.toml"),
                          "--policy", str(policy), "--pricecards", str(ex / "pricecards"), "--format", "json"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr   # variance is reported; only --fail-on-variance makes it exit 1
    import json

    report = json.loads(out.stdout)
    rows = report["true_up"]
    assert any(Decimal(r["attributed"]) < 0 for r in rows)   # the credit pool left owners below zero
    for r in rows:
        assert Decimal(r["attributed"]) + Decimal(r["true_up"]) == Decimal(r["total"])
        assert "E" not in r["true_up"]                        # money in the JSON document is fixed point


def test_an_invoice_billing_a_sliver_of_a_token_names_the_quantity_without_crashing() -> None:
    rec = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000),
                                  at=datetime(2026, 6, 2, tzinfo=timezone.utc), tags={"team": "search"}))
    line = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                          model="gpt-4.1", meter="input", amount=Decimal("5.00"), quantity=Decimal("1e-90"),
                          currency="USD")
    [r] = at.reconcile([rec], [line]).lines
    assert "quantity" in {c.code for c in r.causes}
    assert r.variance == Decimal("5.00") - rec.cost


def test_audits_in_threads_restore_the_callers_gc_thresholds() -> None:
    import gc
    import threading

    def events(inside: threading.Event, go: threading.Event):  # type: ignore[no-untyped-def]
        inside.set()          # the audit is running (its GC window is open)
        go.wait(10)
        for i in range(50):
            yield {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 2,
                   "timestamp": "2026-06-01T12:00:00Z", "request_id": f"r{i}", "team": "search"}

    before = gc.get_threshold()
    a_in, a_go, b_in, b_go = (threading.Event() for _ in range(4))
    a = threading.Thread(target=lambda: at.run_audit(events(a_in, a_go)))
    b = threading.Thread(target=lambda: at.run_audit(events(b_in, b_go)))
    a.start()
    assert a_in.wait(10)
    b.start()
    assert b_in.wait(10)
    a_go.set()            # the first audit ends while the second still runs...
    a.join(10)
    b_go.set()            # ...and the second ends last: the caller's thresholds must come back
    b.join(10)
    assert gc.get_threshold() == before


@pytest.mark.parametrize(("flags", "code"), [([], 0), (["--fail-on-variance"], 1)])
def test_invoice_variance_fails_the_audit_only_when_asked(flags: list[str], code: int) -> None:
    # The example month's invoices do not reconcile (a usage gap and a price change, examples/README.md).
    ex = ROOT / "examples"
    out = subprocess.run([sys.executable, "-m", "attribution", "audit", str(ex / "gateway-month.jsonl"),
                          "--invoice", str(ex / "invoices"), "--pricecards", str(ex / "pricecards"), *flags],
                         capture_output=True, text=True, check=False)
    assert out.returncode == code, out.stderr
    assert "Reconciliation with the invoice" in out.stdout   # the report is written either way
    assert ("invoice line(s) differ from priced usage by more than 2.0%" in out.stderr) == bool(code)
