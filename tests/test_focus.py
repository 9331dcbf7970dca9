"""The FOCUS 1.3 export, checked column rule by column rule.

The FinOps Foundation's ``focus-validator`` needs Python 3.12+, so these tests
check the rules themselves. Each cites where the rule is in the FOCUS 1.3
specification (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec): column pages under
``specification/datasets/cost_and_usage/columns/``, attributes under
``specification/attributes/``, and the presence rules ``CAU-CostAndUsage-D-0xx``
of the 1.3 requirements model
(``specification/requirements_model/model_rules/datasets/cost_and_usage/costandusage.json``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext

import pytest

from attribution._allocate import parse_policy
from attribution._audit import run_audit
from attribution.cli import main
from attribution.exceptions import AttributionError
from attribution.io import read_payloads
from attribution.reports import WRITERS, write_report
from attribution.reports._csv import FORMULA_TRIGGERS
from attribution.reports._focus import (
    ALLOCATION_COLUMNS,
    CONDITIONAL_COLUMNS,
    FOCUS_COLUMNS,
    MANDATORY_COLUMNS,
    RECOMMENDED_COLUMNS,
)

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

UTC = timezone.utc
EXAMPLE = "examples/gateway-month.jsonl"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
PLACEHOLDERS = {"N/A", "NA", "n/a", "null", "NULL", "None", "none", "NaN", "nan", "-", "Not Applicable", "{}", "[]",
                '""', "undefined"}

#: CAU-CostAndUsage-D-005..076 with keyword MUST and no applicability criteria: present in every dataset.
SPEC_MANDATORY = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "HostProviderName", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
    "ServiceProviderName",
}
#: Columns whose page says "MUST NOT be null" (nullability "Allows nulls: False").
NEVER_NULL = {
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory",
    "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost", "EffectiveCost",
    "HostProviderName", "InvoiceIssuerName", "ListCost", "ProviderName", "PublisherName", "ServiceCategory",
    "ServiceName", "ServiceProviderName", "ServiceSubcategory", "ChargeFrequency",
}
NUMERIC = {"BilledCost", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost", "ListUnitPrice",
           "PricingQuantity", "ConsumedQuantity", "x_Records"}
DATETIMES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
JSON_COLUMNS = ("AllocatedMethodDetails", "AllocatedTags", "SkuPriceDetails", "Tags")
SERVICE_CATEGORIES = {"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
                      "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
                      "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
                      "Storage", "Web", "Other"}
AI_SUBCATEGORIES = {"AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
                    "Other (AI and Machine Learning)"}

POLICY = textwrap.dedent("""
    [policy]
    name = "june-close"
    owner = "team"
    central_owner = "platform"

    [[pools]]
    id = "gateway"
    description = "Gateway and tracing bill"
    amount = 400.00
    method = "proportional"
    by = "requests"
    exclude = ["platform"]

    [[pools]]
    id = "untagged"
    where = { team = "__missing__" }
    method = "proportional"
    by = "direct_cost"
""")


def event(team, feature="f", *, day="2026-06-08", model="gpt-4.1-mini", inp=18_240, out=1_642, **extra):
    e = {"provider": "openai", "model_actual": model, "input_tokens": inp, "output_tokens": out, "feature": feature,
         **extra}
    if team is not None:
        e["team_id"] = team
    if day is not None:
        e["timestamp"] = f"{day}T12:15:44Z"
    return e


def focus(report):
    buf = io.StringIO(newline="")
    write_report(report, "focus", buf)
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    header = rows[0]
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]]


def stamp(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def dec(text):
    return Decimal(text) if text else None


@pytest.fixture(scope="module")
def plain():
    report = run_audit(read_payloads(EXAMPLE), by=("team", "feature"))
    return report, *focus(report)


@pytest.fixture(scope="module")
def allocated():
    policy = parse_policy(tomllib.loads(POLICY, parse_float=Decimal))
    report = run_audit(read_payloads(EXAMPLE), by=("team", "feature"), policy=policy)
    return report, *focus(report)


@pytest.fixture(params=["plain", "allocated"])
def dataset(request, plain, allocated):
    return plain if request.param == "plain" else allocated


# --- columns --------------------------------------------------------------------------------


def test_focus_is_registered_as_a_text_format():
    from attribution.reports import BINARY_FORMATS

    assert WRITERS["focus"].__name__ == "write_focus"
    assert "focus" not in BINARY_FORMATS


def test_every_mandatory_column_of_focus_1_3_is_present(dataset):
    """CAU-CostAndUsage-D-005..D-076 (keyword MUST, no applicability criteria), including the 1.3
    HostProviderName (D-075) and ServiceProviderName (D-076) and the deprecated-but-required
    ProviderName (D-038) and PublisherName (D-021)."""
    _, header, _ = dataset
    assert set(MANDATORY_COLUMNS) == SPEC_MANDATORY
    assert set(header) >= SPEC_MANDATORY


def test_the_conditional_columns_that_apply_are_present(dataset):
    """D-004 ListUnitPrice, D-011/D-066 ConsumedQuantity/Unit, D-034 ContractedUnitPrice, D-022
    PricingCategory, D-058..061 Sku*, D-062/063 Region*, D-064 Tags, D-069..073 the 1.3 allocation
    columns (the data generator supports split cost allocation)."""
    _, header, _ = dataset
    assert set(CONDITIONAL_COLUMNS) <= set(header)
    assert {"AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedResourceName",
            "AllocatedTags"} == set(ALLOCATION_COLUMNS)
    assert set(RECOMMENDED_COLUMNS) <= set(header)   # D-027 ChargeFrequency, D-042 ServiceSubcategory


def test_custom_columns_carry_the_x_prefix_and_come_after_the_focus_columns(dataset):
    """attributes/column_naming_and_ordering.md: custom columns MUST be prefixed with ``x_`` and SHOULD
    be listed after all FOCUS columns; FOCUS column IDs are Pascal case and alphanumeric."""
    _, header, _ = dataset
    assert len(set(header)) == len(header)
    focus_part = header[:len(FOCUS_COLUMNS)]
    assert focus_part == list(FOCUS_COLUMNS) == sorted(FOCUS_COLUMNS)
    for name in focus_part:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
    custom = header[len(FOCUS_COLUMNS):]
    assert {"x_Model", "x_Meter", "x_CardVersion", "x_OwnerTeam", "x_OwnerFeature"} <= set(custom)
    for name in custom:
        assert re.fullmatch(r"x_[A-Z][A-Za-z0-9]*", name), name


# --- values ---------------------------------------------------------------------------------


def test_datetimes_are_utc_iso_8601_with_z(dataset):
    """attributes/datetime_format.md: UTC, extended ISO 8601 ``YYYY-MM-DDTHH:mm:ssZ``."""
    _, _, rows = dataset
    for row in rows:
        for col in DATETIMES:
            assert STAMP.match(row[col]), (col, row[col])


def test_a_day_is_charged_as_a_half_open_period(plain):
    """columns/chargeperiodstart.md, chargeperiodend.md: inclusive start, exclusive end;
    a day D is ``[D 00:00Z, D+1 00:00Z)``."""
    report, _, rows = plain
    assert len(rows) == len(report.tagged_charges)
    for row, line in zip(rows, report.tagged_charges, strict=True):
        start, end = stamp(row["ChargePeriodStart"]), stamp(row["ChargePeriodEnd"])
        assert start.date() == line.day
        assert start.time() == datetime.min.time()
        assert end - start == timedelta(days=1)


def test_the_billing_period_is_the_calendar_month_around_the_charge(dataset):
    """columns/billingperiodstart.md, billingperiodend.md: inclusive start, exclusive end of the month."""
    _, _, rows = dataset
    for row in rows:
        bstart, bend = stamp(row["BillingPeriodStart"]), stamp(row["BillingPeriodEnd"])
        assert bstart.day == 1
        assert bend.day == 1
        assert bstart < bend
        assert (bend.year * 12 + bend.month) - (bstart.year * 12 + bstart.month) >= 1
        assert bstart <= stamp(row["ChargePeriodStart"]) < stamp(row["ChargePeriodEnd"]) <= bend


def test_nulls_are_empty_cells_and_never_placeholders(dataset):
    """attributes/null_handling.md: NULL for absent values, no empty strings or placeholder strings
    (e.g. "Not Applicable") and no placeholder numbers."""
    _, header, rows = dataset
    for row in rows:
        for col in header:
            assert row[col] not in PLACEHOLDERS, (col, row[col])
        for col in NEVER_NULL:
            assert row[col] != "", col
        for col in JSON_COLUMNS:
            if row[col]:
                assert json.loads(row[col]) not in ({}, [], None), col
        assert row["ChargeClass"] == ""          # not a correction: null (chargeclass.md)
        assert row["BillingAccountName"] == ""   # unknown to usage data: null, not a made-up name


def test_numbers_follow_the_numeric_format(dataset):
    """attributes/numeric_format.md: plain integer or decimal, no exponent, sign only when negative,
    no commas, units or currency symbols."""
    _, _, rows = dataset
    for row in rows:
        for col in NUMERIC & row.keys():
            if row[col]:
                assert NUMBER.match(row[col]), (col, row[col])


def test_list_unit_price_times_pricing_quantity_is_list_cost_exactly(dataset):
    """columns/listcost.md and contractedcost.md: ListCost MUST equal ListUnitPrice x PricingQuantity
    (ContractedCost likewise) when both are not null. Checked in Decimal with 80 digits: exact."""
    _, _, rows = dataset
    checked = 0
    with localcontext() as ctx:
        ctx.prec = 80
        for row in rows:
            if row["ListUnitPrice"] and row["PricingQuantity"]:
                assert dec(row["ListUnitPrice"]) * dec(row["PricingQuantity"]) == dec(row["ListCost"]), row
                checked += 1
            if row["ContractedUnitPrice"] and row["PricingQuantity"]:
                assert dec(row["ContractedUnitPrice"]) * dec(row["PricingQuantity"]) == dec(row["ContractedCost"])
    assert checked > 100


def test_pricing_unit_and_quantity_are_in_blocks_of_tokens_or_requests(dataset):
    """columns/pricingunit.md + attributes/unit_format.md: ``<unit-quantity> <plural-units>`` such as
    ``1000000 Tokens``; PricingQuantity is the ConsumedQuantity in those units, exactly; PricingUnit is
    null exactly when PricingQuantity is."""
    _, _, rows = dataset
    for row in rows:
        assert bool(row["PricingUnit"]) == bool(row["PricingQuantity"])
        if not row["PricingUnit"]:
            continue
        assert row["PricingUnit"] in ("1000000 Tokens", "1000 Requests")
        per, unit = row["PricingUnit"].split(" ")
        assert row["ConsumedUnit"] == unit
        assert dec(row["PricingQuantity"]) * int(per) == dec(row["ConsumedQuantity"])


def test_a_meters_charge_is_its_card_price_for_its_usage(plain):
    report, _, rows = plain
    for row, line in zip(rows, report.tagged_charges, strict=True):
        assert dec(row["BilledCost"]) == dec(row["ListCost"]) == dec(row["EffectiveCost"]) == line.amount
        assert dec(row["ListUnitPrice"]) == line.unit_price
        assert int(row["ConsumedQuantity"]) == line.quantity
        assert row["x_Model"] == line.model
        assert row["x_Meter"] == line.meter
        assert row["RegionId"] == row["RegionName"] == (line.region or "")   # null where not regional


def test_allowed_values(dataset):
    """chargecategory.md, pricingcategory.md, servicecategory.md, servicesubcategory.md,
    chargefrequency.md: values from the allowed lists only."""
    _, _, rows = dataset
    for row in rows:
        assert row["ChargeCategory"] in ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
        assert row["PricingCategory"] in ("", "Standard", "Dynamic", "Committed", "Other")
        assert row["ServiceCategory"] in SERVICE_CATEGORIES
        assert row["ServiceSubcategory"] in AI_SUBCATEGORIES
        assert row["ChargeFrequency"] in ("One-Time", "Recurring", "Usage-Based")
        assert row["ConsumedUnit"] in ("", "Tokens", "Requests")


def test_usage_rows_name_their_sku_price_and_other_rows_do_not_pretend_to(dataset):
    """skupriceid.md, listunitprice.md, pricingquantity.md, pricingcategory.md: not null when
    ChargeCategory is Usage or Purchase; ListUnitPrice, PricingQuantity and PricingCategory null when
    SkuPriceId is null."""
    _, _, rows = dataset
    for row in rows:
        if row["ChargeCategory"] in ("Usage", "Purchase"):
            for col in ("SkuId", "SkuPriceId", "ListUnitPrice", "PricingQuantity", "PricingUnit", "PricingCategory"):
                assert row[col], col
        if not row["SkuPriceId"]:
            for col in ("ListUnitPrice", "PricingQuantity", "PricingCategory", "PricingUnit"):
                assert row[col] == "", col
        if row["ChargeCategory"] != "Usage" and not row["ListUnitPrice"]:
            assert row["ListCost"] == row["BilledCost"]       # listcost.md: unrelated charges match BilledCost


def test_json_columns_are_key_value_objects(dataset):
    """attributes/key_value_format.md: Tags, AllocatedTags, SkuPriceDetails are JSON objects with
    unique keys whose values are numbers, strings, booleans or null, never objects or arrays."""
    _, _, rows = dataset
    for row in rows:
        for col in ("Tags", "AllocatedTags", "SkuPriceDetails"):
            if not row[col]:
                continue
            obj = json.loads(row[col], object_pairs_hook=lambda pairs: (dict(pairs), len(pairs)))
            obj, n = obj
            assert isinstance(obj, dict)
            assert len(obj) == n
            assert all(isinstance(v, (str, int, float, bool)) or v is None for v in obj.values())


def test_tags_are_every_owner_tag_and_owners_have_their_own_columns(plain):
    """Tags carry every owner tag of the calls (team, project, environment, workflow...), not only --by."""
    report, _, rows = plain
    for row, line in zip(rows, report.tagged_charges, strict=True):
        owner = {k: v for k, v in line.owner if v is not None}
        tags = json.loads(row["Tags"]) if row["Tags"] else {}
        assert tags == {**dict(line.tags), **owner}
        assert list(tags) == sorted(tags)
        assert row["x_OwnerTeam"] == (dict(line.owner)["team"] or "")
    seen = {k for row in rows if row["Tags"] for k in json.loads(row["Tags"])}
    assert {"team", "feature", "project", "environment", "workflow", "tenant"} <= seen   # --by team,feature
    # the rows split by those tags still add up to the report's charge lines
    assert sum(dec(r["BilledCost"]) for r in rows) == sum(c.amount for c in report.charges) == report.total


def test_provider_columns():
    """serviceprovidername.md, hostprovidername.md (1.3): who sells the service and who hosts it;
    ProviderName and PublisherName (deprecated) repeat the service provider."""
    report = run_audit([event("a"), event("b", provider="anthropic", model="claude-sonnet-4-5"),
                        event("c", provider="bedrock", model="anthropic.claude-sonnet-4-20250514-v1:0")],
                       by=("team",))
    _, rows = focus(report)
    seen = {(r["x_OwnerTeam"], r["ServiceProviderName"], r["HostProviderName"], r["ServiceName"],
             r["InvoiceIssuerName"]) for r in rows}
    assert seen == {("a", "OpenAI", "OpenAI", "OpenAI API", "OpenAI"),
                    ("b", "Anthropic", "Anthropic", "Claude API", "Anthropic"),
                    ("c", "Amazon Web Services", "Amazon Web Services", "Amazon Bedrock", "Amazon Web Services")}
    for row in rows:
        assert row["ProviderName"] == row["PublisherName"] == row["ServiceProviderName"]
        assert row["BillingAccountId"] == row["SkuId"].split(":")[0]   # no account in usage data: the provider id


def test_the_export_adds_up_to_the_report(plain):
    report, _, rows = plain
    assert sum(dec(r["BilledCost"]) for r in rows) == report.total
    assert sum(dec(r["ListCost"]) for r in rows) == report.total
    totals: dict[tuple[str | None, ...], Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[(r["x_OwnerTeam"] or None, r["x_OwnerFeature"] or None)] += dec(r["BilledCost"])
    assert totals == {key: report.rollup[key].cost for key in report.rollup}


# --- allocation -----------------------------------------------------------------------------


def test_unallocated_rows_have_null_allocation_columns(dataset):
    """allocatedmethodid.md etc.: MUST be null when a charge is not related to a split cost allocation."""
    _, _, rows = dataset
    direct = [r for r in rows if not r.get("x_AllocationOrigin")]
    assert direct
    for row in direct:
        for col in ALLOCATION_COLUMNS:
            assert row[col] == "", col


def test_allocated_rows_fill_the_allocation_columns(allocated):
    """allocatedmethodid.md: not null on allocated charges; allocatedresourceid.md: not null on the
    allocated portion, null on the unallocated portion; allocatedresourcename.md: null exactly when
    AllocatedResourceId is; allocatedtags.md: the recipient's tags, not repeating Tags;
    allocatedmethoddetails.md: an object with an Elements array of numeric AllocatedRatio values."""
    report, _, rows = allocated
    alloc = report.allocation
    rows = [r for r in rows if r["x_AllocationOrigin"]]
    assert {r["x_AllocationOrigin"] for r in rows} == {"gateway", "untagged"}
    unallocated = 0
    for row in rows:
        assert row["AllocatedMethodId"] in ("proportional:requests", "proportional:direct_cost")
        details = json.loads(row["AllocatedMethodDetails"], parse_float=Decimal)
        assert isinstance(details["Elements"], list)
        assert details["Elements"]
        for element in details["Elements"]:
            assert isinstance(element["AllocatedRatio"], Decimal)
            assert 0 <= element["AllocatedRatio"] <= 1
            if "UsageQuantity" in element:
                assert element["UsageUnit"]
                assert not isinstance(element["UsageQuantity"], str)
        assert all(k == "Elements" or k.startswith("x_") for k in details)
        assert bool(row["AllocatedResourceName"]) == bool(row["AllocatedResourceId"])
        if row["AllocatedResourceId"]:
            owner = row["AllocatedResourceName"]
            assert row["AllocatedResourceId"] == f"team={owner}"
            assert row["x_ChargebackOwner"] == owner
            assert json.loads(row["AllocatedTags"]) == {"team": owner}
            assert owner in alloc
        else:
            unallocated += 1
            assert details.get("x_Unallocated") is True
            assert row["AllocatedTags"] == ""
    assert unallocated >= 1                      # the untagged pool leaves a sub-cent residue


def test_allocated_charges_add_up_to_their_origin_charge(allocated):
    """attributes/data_generator_calculated_split_cost_allocation_handling.md: allocated charges keep the
    origin's dimensions and their summable metrics add up to the origin's; allocatedmethoddetails.md:
    the AllocatedRatio values of one origin charge sum to exactly 1 (100%)."""
    report, _, rows = allocated
    untagged = [line for line in report.tagged_charges if dict(line.owner)["team"] is None]
    assert untagged
    groups = defaultdict(list)
    for r in rows:
        if r["x_AllocationOrigin"] == "untagged":
            groups[(r["SkuPriceId"], r["ChargePeriodStart"], r["Tags"], r["x_OwnerFeature"],
                    r["x_CardVersion"], r["ListUnitPrice"])].append(r)
    assert len(groups) == len(untagged)
    for line in untagged:
        merged = dict(sorted({**dict(line.tags), **{k: v for k, v in line.owner if v is not None}}.items()))
        tags = json.dumps(merged, separators=(",", ":")) if merged else ""
        key = (f"{line.provider}:{line.model}:{line.meter}:{line.service_tier}",
               f"{line.day.isoformat()}T00:00:00Z", tags, dict(line.owner)["feature"] or "", line.card_version,
               format(line.unit_price, "f"))
        parts = groups[key]
        for metric in ("BilledCost", "EffectiveCost"):
            assert sum(dec(p[metric]) for p in parts) == line.amount
        assert sum(dec(p["ListCost"]) for p in parts) == line.amount
        assert sum(dec(p["ContractedCost"]) for p in parts) == line.amount
        assert sum(int(p["ConsumedQuantity"]) for p in parts) == line.quantity
        assert sum(json.loads(p["AllocatedMethodDetails"], parse_float=Decimal)["Elements"][0]["AllocatedRatio"]
                   for p in parts) == 1
        for p in parts:
            for dim in ("ServiceName", "SkuId", "SkuPriceId", "ChargePeriodEnd", "BillingPeriodStart", "RegionId",
                        "ListUnitPrice", "ContractedUnitPrice", "PricingUnit", "ChargeCategory", "Tags"):
                assert p[dim] == parts[0][dim], dim


def test_allocated_export_adds_up_to_the_allocation_by_owner_to_the_cent(allocated):
    report, _, rows = allocated
    alloc = report.allocation
    # The gateway pool is internal (a fixed amount no provider bills): chargeback, not BilledCost.
    assert sum(dec(r["x_ChargebackCost"]) for r in rows) == alloc.total == report.total + Decimal("400.00")
    assert sum(dec(r["BilledCost"]) for r in rows) == report.total
    assert sum(dec(r["EffectiveCost"]) for r in rows) == report.total
    by_owner: dict[str | None, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_owner[r["x_ChargebackOwner"] or None] += dec(r["x_ChargebackCost"])
    assert dict(by_owner) == {row.owner: row.total for row in alloc.rows}
    for pool in alloc.pools:
        got: dict[str, Decimal] = defaultdict(Decimal)
        for r in rows:
            if r["x_AllocationOrigin"] == pool.id and r["AllocatedResourceName"]:
                got[r["AllocatedResourceName"]] += dec(r["x_ChargebackCost"])
        assert dict(got) == {o: v for o, v in pool.shares.items() if v}


OTHER_POLICIES = {
    "retain-and-even": """
        [policy]
        owner = "team"
        central_owner = "platform"
        [[pools]]
        id = "platform-own"
        where = { team = "platform" }
        method = "retain"
        [[pools]]
        id = "untagged"
        where = { team = "__missing__" }
        method = "even"
    """,
    "fixed-and-invoice": """
        [policy]
        owner = "team"
        quantum = 0.0001
        [[pools]]
        id = "untagged"
        where = { team = "__missing__" }
        method = "fixed"
        shares = { search = 50, support = 30, growth = 20 }
        [[pools]]
        id = "pt-idle"
        kind = "idle"
        invoice_line = "bedrock-pt-june"
        method = "proportional"
        by = "tokens"
    """,
}


@pytest.mark.parametrize("name", sorted(OTHER_POLICIES))
def test_every_policy_shape_conserves_exactly(name):
    """Retained and evenly, fixed- and token-split pools, slices and invoice-line amounts, a sub-cent
    quantum: the export always adds up to the allocation owner by owner, and every origin's ratios to 1."""
    from attribution import InvoiceLine

    policy = parse_policy(tomllib.loads(textwrap.dedent(OTHER_POLICIES[name]), parse_float=Decimal))
    invoice = InvoiceLine(provider="bedrock", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                          amount=Decimal("123.4567"), currency="USD", line_id="bedrock-pt-june",
                          charge_category="usage")
    report = run_audit(read_payloads(EXAMPLE), by=("team", "feature"), policy=policy,
                       invoices=[invoice] if "invoice" in name else ())
    alloc = report.allocation
    _, rows = focus(report)
    by_owner: dict[str | None, Decimal] = defaultdict(Decimal)
    ratios: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    with localcontext() as ctx:
        ctx.prec = 80
        for r in rows:
            by_owner[r["x_ChargebackOwner"] or None] += dec(r["x_ChargebackCost"])
            if r["ListUnitPrice"]:
                assert dec(r["ListUnitPrice"]) * dec(r["PricingQuantity"]) == dec(r["ListCost"])
            if r["AllocatedMethodDetails"]:
                origin = (r["x_AllocationOrigin"], r["SkuPriceId"], r["ChargePeriodStart"], r["Tags"],
                          r["x_OwnerFeature"], r["x_CardVersion"], r["ListUnitPrice"])
                ratios[origin] += json.loads(r["AllocatedMethodDetails"], parse_float=Decimal)["Elements"][0][
                    "AllocatedRatio"]
    assert dict(by_owner) == {row.owner: row.total for row in alloc.rows if row.total or row.shares}
    assert sum(by_owner.values()) == alloc.total
    assert ratios
    assert set(ratios.values()) == {Decimal(1)}
    if name == "retain-and-even":
        kept = [r for r in rows if r["x_AllocationOrigin"] == "platform-own"]
        assert kept
        assert all(r["AllocatedTags"] == "" for r in kept)   # the origin's Tags already say team=platform


def test_a_fixed_pool_is_an_adjustment_over_the_reports_window(allocated):
    report, _, rows = allocated
    first = min(c.day for c in report.tagged_charges if c.day)
    last = max(c.day for c in report.tagged_charges if c.day)
    gateway = [r for r in rows if r["x_AllocationOrigin"] == "gateway"]
    assert gateway
    ratios = Decimal(0)
    for r in gateway:
        assert r["ChargeCategory"] == "Adjustment"
        assert r["ServiceProviderName"] == "Internal"
        assert stamp(r["ChargePeriodStart"]).date() == first
        assert stamp(r["ChargePeriodEnd"]).date() == last + timedelta(days=1)
        assert {dec(r[c]) for c in ("ListCost", "BilledCost", "EffectiveCost", "ContractedCost")} == {0}  # internal
        assert dec(r["x_ChargebackCost"]) > 0
        assert r["SkuPriceId"] == ""
        ratios += json.loads(r["AllocatedMethodDetails"], parse_float=Decimal)["Elements"][0]["AllocatedRatio"]
    assert ratios == 1


def test_an_allocation_by_a_dimension_the_report_does_not_group_by_is_refused():
    policy = parse_policy(tomllib.loads(POLICY, parse_float=Decimal))
    report = run_audit([event("search"), event(None)], by=("feature",), policy=policy)
    with pytest.raises(AttributionError, match="add it to --by"):
        focus(report)


# --- hostile values, undated calls, the CLI ------------------------------------------------------


HOSTILE = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1", "<script>alert(1)</script>"]


def test_no_text_cell_can_start_a_spreadsheet_formula():
    policy = parse_policy(tomllib.loads(POLICY.replace('exclude = ["platform"]', ""), parse_float=Decimal))
    events = [event(v, feature=v, day=f"2026-06-{i + 1:02d}") for i, v in enumerate(HOSTILE)] + [event(None)]
    report = run_audit(events, by=("team", "feature"), policy=policy)
    _, rows = focus(report)
    numeric = NUMERIC
    seen = set()
    for row in rows:
        for col, cell in row.items():
            if cell and col not in numeric:
                assert cell[0] not in FORMULA_TRIGGERS, (col, cell)
        seen.add(row["x_OwnerTeam"])
    assert "'=cmd|' /C calc'!A0" in seen
    assert "<script>alert(1)</script>" in seen
    assert any(json.loads(r["Tags"] or "{}").get("team") == "=cmd|' /C calc'!A0" for r in rows)


def test_undated_calls_are_charged_over_the_reports_window():
    report = run_audit([event("search", day="2026-06-03"), event("search", day="2026-06-20"),
                        event("support", day=None)], by=("team",))
    _, rows = focus(report)
    undated = [r for r in rows if r["x_OwnerTeam"] == "support"]
    assert undated
    for r in undated:
        assert (r["ChargePeriodStart"], r["ChargePeriodEnd"]) == ("2026-06-03T00:00:00Z", "2026-06-21T00:00:00Z")
        assert "without a timestamp" in r["ChargeDescription"]
    windowed = run_audit([event("support", day=None)], by=("team",), since=date(2026, 6, 1), until=date(2026, 6, 30))
    _, rows = focus(windowed)
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in rows} == {
        ("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")}
    with pytest.raises(AttributionError, match="--since and --until"):
        focus(run_audit([event("support", day=None)], by=("team",)))


def test_cli_writes_the_focus_export(capsys, tmp_path):
    target = tmp_path / "focus.csv"
    assert main(["audit", EXAMPLE, "--by", "team,feature", "--format", "focus", "-o", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith(",".join(FOCUS_COLUMNS[:3]))
    assert len(text.splitlines()) > 100
    capsys.readouterr()


# --- negotiated prices, Parquet ---------------------------------------------------------------

DISCOUNT_CARD = """
[card]
provider = "openai"
version = "acme-openai-2026-discount"
read_on = 2026-01-05
source = "Order form OF-2291"

[[discounts]]
models = ["gpt-4.1*"]
multiplier = 0.8
from = 2026-01-01

[[models]]
id = "ft:gpt-4.1-mini:acme:support:abc123"

  [[models.prices]]
  from = 2025-09-01
  input = 0.80
  output = 3.20
"""


@pytest.fixture
def discounted(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text(DISCOUNT_CARD)
    from attribution import load_registry

    reg = load_registry(path)
    events = [event("search", inp=1_000_000, out=100_000), event("support", model="ft:gpt-4.1-mini:acme:support:abc123",
                                                                 inp=1_000_000, out=0)]
    return run_audit(events, by=("team",), registry=reg)


def test_a_discount_card_shows_list_price_and_the_negotiated_price(discounted):
    """listcost.md / contractedcost.md: ListCost at the list (bundled card) price, ContractedCost and
    EffectiveCost at the negotiated one; the billed cost is what the audit priced."""
    _, rows = focus(discounted)
    by_meter = {(r["x_OwnerTeam"], r["x_Meter"]): r for r in rows}
    row = by_meter[("search", "input")]           # gpt-4.1-mini input: list $0.40 / 1M, 20% off = $0.32
    assert dec(row["ListUnitPrice"]) == Decimal("0.4")
    assert dec(row["ContractedUnitPrice"]) == Decimal("0.32")
    assert dec(row["ListCost"]) == Decimal("0.4")
    assert dec(row["ContractedCost"]) == dec(row["EffectiveCost"]) == dec(row["BilledCost"]) == Decimal("0.32")
    out = by_meter[("search", "output")]          # $1.60 list, $1.28 negotiated, 100k tokens
    assert (dec(out["ListCost"]), dec(out["ContractedCost"])) == (Decimal("0.16"), Decimal("0.128"))
    private = by_meter[("support", "input")]      # a model only the user's card knows: no other price
    assert dec(private["ListUnitPrice"]) == dec(private["ContractedUnitPrice"]) == Decimal("0.8")
    assert sum(dec(r["BilledCost"]) for r in rows) == discounted.total
    for r in rows:
        assert dec(r["ListUnitPrice"]) * dec(r["PricingQuantity"]) == dec(r["ListCost"])
        assert dec(r["ContractedUnitPrice"]) * dec(r["PricingQuantity"]) == dec(r["ContractedCost"])
        assert dec(r["ListCost"]) >= dec(r["ContractedCost"])


def test_the_list_price_of_bundled_pricing_is_its_own_price(plain):
    report, _, rows = plain
    assert all(c.list_unit_price is None for c in report.charges)
    assert all(r["ListUnitPrice"] == r["ContractedUnitPrice"] for r in rows)


def test_focus_parquet_has_the_csv_rows_with_typed_columns(tmp_path, allocated):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    report, header, rows = allocated
    out = tmp_path / "focus.parquet"
    assert main(["audit", EXAMPLE, "--by", "team,feature", "--format", "focus-parquet", "-o", str(out)]) == 0
    plain_table = pq.read_table(out)
    assert plain_table.schema.field("BilledCost").type == pa.decimal128(38, 15)
    assert plain_table.schema.field("ChargePeriodStart").type == pa.timestamp("ms", tz="UTC")
    assert plain_table.schema.field("ConsumedQuantity").type == pa.int64()
    assert plain_table.schema.field("Tags").type == pa.string()
    buf = io.BytesIO()
    write_report(report, "focus-parquet", buf)
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    assert table.column_names == header
    assert table.num_rows == len(rows)
    assert sum(table.column("BilledCost").to_pylist()) == sum(dec(r["BilledCost"]) for r in rows)
    assert sum(table.column("x_ChargebackCost").to_pylist()) == report.allocation.total
    first = table.slice(0, 1).to_pylist()[0]
    assert first["ChargePeriodStart"].strftime("%Y-%m-%dT%H:%M:%SZ") == rows[0]["ChargePeriodStart"]
    assert first["Tags"] == rows[0]["Tags"]
    assert [r["InvoiceId"] for r in table.select(["InvoiceId"]).to_pylist()] == [None] * table.num_rows
