"""Rollups: exact group-by sums that merge, so any split of a stream adds up to the whole."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution._usage import MAX_COUNT, METERS
from strategies import priced_records

UTC = timezone.utc
D = Decimal
JUNE_8_2026 = datetime(2026, 6, 8, 12, 15, 44, tzinfo=UTC)   # a Monday, ISO week 24


def rec(team=None, feature=None, *, model="gpt-4.1", inp=1_000_000, out=0, when=JUNE_8_2026, requests=1, **kw):
    tags = {k: v for k, v in (("team", team), ("feature", feature)) if v is not None}
    return at.price(at.UsageRecord(provider="openai", model=model, at=when, requests=requests, tags=tags,
                                   usage=at.Usage(input=inp, output=out), **kw))


@pytest.fixture
def month():
    # gpt-4.1: $2.00 per 1M input, $8.00 per 1M output
    return [
        rec("search", "autocomplete"),                       # 2.00
        rec("search", "autocomplete", out=1_000_000),        # 10.00
        rec("search", "answer", requests=40),                # 2.00, an aggregate bucket of 40 requests
        rec("support", "triage", inp=500_000),               # 1.00
        rec(None, "triage", inp=250_000),                    # 0.50, no owner team
    ]


def test_rollup_by_team_sums_cost_records_requests_and_tokens(month):
    r = at.rollup(month, by=("team",))
    assert r.dims == ("team",)
    assert set(r) == {("search",), ("support",), (None,)}
    search = r[("search",)]
    assert (search.cost, search.records, search.requests) == (D("14.00"), 3, 42)
    assert search.usage == at.Usage(input=3_000_000, output=1_000_000)
    assert r["support"].cost == D("1.00")          # a single dimension also takes a bare key
    assert r.total == D("15.50")
    assert (r.records, r.requests) == (5, 44)
    assert r.currency == "USD"


def test_rollup_by_team_and_feature_keys_by_both(month):
    r = at.rollup(month, by=("team", "feature"))
    assert r[("search", "autocomplete")].cost == D("12.00")
    assert r[("search", "answer")].cost == D("2.00")
    assert r[("support", "triage")].cost == D("1.00")
    assert ("search", "autocomplete") in r
    assert ("support", "answer") not in r
    with pytest.raises(KeyError):
        r[("support", "answer")]
    with pytest.raises(KeyError):
        r["search"]                                 # a two-dimension rollup needs the whole key


def test_rollup_by_nothing_is_the_grand_total(month):
    r = at.rollup(month, by=())
    assert list(r) == [()]
    assert r[()].cost == r.total == D("15.50")


def test_a_missing_tag_is_its_own_none_key_never_merged_into_an_owner(month):
    r = at.rollup(month, by=("team",))
    assert r[(None,)].cost == D("0.50")
    assert (None,) in r
    assert r[("support",)].cost == D("1.00")        # not padded with the unowned triage spend


def test_entries_are_most_expensive_first_and_rows_carry_every_dimension(month):
    r = at.rollup(month, by=("team", "feature"))
    costs = [e.cost for e in r.entries()]
    assert costs == sorted(costs, reverse=True)
    rows = r.to_records()
    assert (rows[0]["team"], rows[0]["feature"]) == ("search", "autocomplete")
    assert rows[0]["cost"] == D("12.00")
    assert sum((row["cost"] for row in rows), D(0)) == r.total


def test_an_empty_rollup_totals_zero():
    r = at.rollup([], by=("team",))
    assert (len(r), r.total, r.records, r.currency) == (0, D("0.00"), 0, None)


def test_built_in_dimensions_group_by_model_provider_and_tier():
    priced = [rec("a", model="gpt-4.1"), rec("a", model="gpt-4.1-2025-04-14"), rec("a", model="gpt-4.1-mini"),
              rec("a", model="gpt-4.1", service_tier="batch")]
    by_model = at.rollup(priced, by=("priced_model",))
    assert by_model[("gpt-4.1",)].records == 3       # the snapshot alias prices as gpt-4.1
    assert at.rollup(priced, by=("model",))[("gpt-4.1-2025-04-14",)].records == 1
    assert at.rollup(priced, by=("provider",))[("openai",)].cost == D("5.40")
    tiers = at.rollup(priced, by=("service_tier",))
    assert tiers[("batch",)].cost == D("1.00")
    assert tiers[("standard",)].cost == D("4.40")


# --- time buckets ---------------------------------------------------------------------------


def test_day_week_and_month_buckets_are_utc_by_default():
    late_sunday = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)
    priced = [rec("a", when=JUNE_8_2026), rec("a", when=late_sunday), rec("a", when=datetime(2026, 7, 1, tzinfo=UTC))]
    by_day = at.rollup(priced, by=("day",))
    assert set(by_day) == {("2026-06-08",), ("2026-06-07",), ("2026-07-01",)}
    by_week = at.rollup(priced, by=("week",))
    assert set(by_week) == {("2026-W24",), ("2026-W23",), ("2026-W27",)}
    by_month = at.rollup(priced, by=("month",))
    assert by_month[("2026-06",)].cost == D("4.00")
    assert by_month[("2026-07",)].cost == D("2.00")


def test_a_records_own_utc_offset_does_not_move_its_default_bucket():
    # 01:30 on 8 June in Berlin is still 7 June in UTC: the default buckets are UTC, whatever
    # offset the source logged (gateways log local time), so two logs of one month agree.
    berlin_early = datetime(2026, 6, 8, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert list(at.rollup([rec("a", when=berlin_early)], by=("day",))) == [("2026-06-07",)]


def test_time_buckets_follow_the_given_timezone():
    late_sunday = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)
    berlin_summer = timezone(timedelta(hours=2))
    r = at.rollup([rec("a", when=late_sunday)], by=("day", "week"), tz=berlin_summer)
    assert list(r) == [("2026-06-08", "2026-W24")]


def test_a_record_without_a_timestamp_has_a_none_time_bucket():
    p = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1)))
    assert list(at.rollup([p], by=("day",))) == [(None,)]


# --- merging --------------------------------------------------------------------------------

DIMS = st.sampled_from([(), ("team",), ("team", "feature"), ("feature", "tenant"), ("month", "team"),
                        ("priced_model",)])


@given(st.lists(priced_records(), max_size=30), st.data(), DIMS)
def test_the_rollup_of_any_split_merges_to_the_rollup_of_the_whole(priced, data, dims):
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(priced)), max_size=4)))
    parts = [priced[a:b] for a, b in zip([0, *cuts], [*cuts, len(priced)], strict=True)]
    whole = at.rollup(priced, by=dims)
    merged = at.rollup([], by=dims)
    for part in parts:
        merged = merged + at.rollup(part, by=dims)
    assert merged == whole
    assert merged.total == whole.total == sum((p.cost for p in priced), D("0.00"))
    assert sum(at.rollup(part, by=dims) for part in parts) == whole
    for key in whole:
        assert merged[key].usage == whole[key].usage
        assert merged[key].cost == whole[key].cost


@given(st.lists(priced_records(), max_size=30), DIMS)
def test_every_meter_of_every_record_is_summed(priced, dims):
    r = at.rollup(priced, by=dims)
    for m in METERS:
        assert getattr(r.usage, m) == sum(getattr(p.record.usage, m) for p in priced), m
    assert r.records == len(priced)
    assert sum((e.cost for e in r.entries()), D("0.00")) == r.total


@given(st.lists(priced_records(), max_size=20), st.lists(priced_records(), max_size=20))
def test_merging_is_commutative(a, b):
    ra, rb = at.rollup(a, by=("team",)), at.rollup(b, by=("team",))
    assert ra + rb == rb + ra


def test_sum_of_rollups_merges_them(month):
    parts = [at.rollup([p], by=("team",)) for p in month]
    total = sum(parts)
    assert total == at.rollup(month, by=("team",))
    assert total.total == D("15.50")


def test_rollups_by_different_dimensions_do_not_merge(month):
    with pytest.raises(ValueError, match="cannot merge"):
        at.rollup(month, by=("team",)) + at.rollup(month, by=("feature",))


def test_merging_does_not_change_either_operand(month):
    a = at.rollup(month[:2], by=("team",))
    b = at.rollup(month[2:], by=("team",))
    before_a, before_b = a.total, b.total
    _ = a + b
    assert (a.total, b.total) == (before_a, before_b)


def test_rollup_totals_of_more_than_the_per_record_sanity_limit_stay_readable():
    """Ten trillion tokens is the limit for one record, not for a month of them.

    A rollup that accepted two such aggregate buckets must report their sum,
    not raise InvalidUsage when its entries or usage are read.
    """
    bucket = at.UsageRecord(provider="openai", model="text-embedding-3-small", at=JUNE_8_2026,
                            usage=at.Usage(input=MAX_COUNT), tags={"team": "search"})
    p = at.price(bucket)
    r = at.rollup([p, p], by=("team",))
    assert r.total == 2 * p.cost
    assert r[("search",)].usage.input == 2 * MAX_COUNT
    assert r.usage.input == 2 * MAX_COUNT


# --- currency and quarantine ------------------------------------------------------------------


@pytest.fixture
def eur_registry(tmp_path):
    path = tmp_path / "eur.toml"
    path.write_text(textwrap.dedent("""\
        [card]
        provider = "mistral-eu"
        version = "mistral-eu-2026-01"
        currency = "EUR"
        read_on = 2026-01-15
        source = "https://acme.example/mistral-contract"

        [[models]]
        id = "mistral-large"
          [[models.prices]]
          from = 2025-01-01
          input = 2.00
          output = 6.00
        """), encoding="utf-8")
    return at.load_registry(path)


def test_records_in_different_currencies_raise_currency_mismatch(eur_registry):
    usd = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", at=JUNE_8_2026,
                                  usage=at.Usage(input=1_000)), eur_registry)
    eur = at.price(at.UsageRecord(provider="mistral-eu", model="mistral-large", at=JUNE_8_2026,
                                  usage=at.Usage(input=1_000)), eur_registry)
    assert eur.currency == "EUR"
    with pytest.raises(at.CurrencyMismatch) as info:
        at.rollup([usd, eur], by=("team",))
    assert isinstance(info.value, at.AttributionError)
    assert {info.value.left, info.value.right} == {"USD", "EUR"}
    with pytest.raises(at.CurrencyMismatch):
        at.rollup([usd]) + at.rollup([eur])
    assert at.rollup([eur]).currency == "EUR"


def test_quarantined_items_are_counted_by_reason_and_conserve_the_input_count(month):
    items = [*month,
             at.Quarantined(code="unknown_model", message="gpt-nope", stage="price"),
             at.Quarantined(code="bad_json", message="invalid JSON", stage="read"),
             at.Quarantined(code="unknown_model", message="gpt-nope-2", stage="price")]
    r = at.rollup(items, by=("team",))
    assert r.quarantined == {"unknown_model": 2, "bad_json": 1}
    assert r.records + sum(r.quarantined.values()) == len(items)
    assert r.total == D("15.50")                      # quarantined records are never priced at $0 into a key
    merged = r + at.rollup([at.Quarantined(code="bad_json", message="x", stage="read")], by=("team",))
    assert merged.quarantined == {"unknown_model": 2, "bad_json": 2}


def test_a_price_many_stream_rolls_up_with_its_quarantine():
    recs = [at.UsageRecord(provider="openai", model=m, at=JUNE_8_2026, usage=at.Usage(input=1_000_000),
                           tags={"team": "search"}) for m in ("gpt-4.1", "gpt-nope", "gpt-4.1")]
    r = at.rollup(at.price_many(recs), by=("team",))
    assert r[("search",)].cost == D("4.00")
    assert r.quarantined == {"unknown_model": 1}


def test_rollup_refuses_items_that_are_not_priced_records():
    rec_ = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1))
    with pytest.raises(TypeError):
        at.rollup([rec_], by=("team",))


@pytest.mark.parametrize("dims", [(), ("team",), ("team", "feature"), ("model",), ("role",)])
def test_request_trees_roll_up_exactly_like_their_calls_mixed_with_loose_records(month, dims):
    # Trees (their calls, owners inherited from the root) and loose records and quarantined
    # items in one stream: the same totals per key as the calls listed one by one.
    calls = [
        at.price(at.UsageRecord(provider="openai", model=m, at=JUNE_8_2026, trace_id=f"t{i % 2}",
                                request_id=f"r{i}", parent_id=None if i < 2 else f"r{i % 2}",
                                usage=at.Usage(input=1_000 * (i + 1), output=10 * i),
                                tags={"team": "search", "feature": "answer"} if i < 2 else {}))
        for i, m in enumerate(["gpt-4.1", "gpt-4o", "gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1"])
    ]
    trees = at.build_forest(calls)
    assert len(trees) == 2
    q = at.Quarantined(code="bad_json", message="x", stage="normalize")
    mixed = at.rollup([month[0], *trees, q, month[3]], by=dims)
    flat = at.rollup([month[0], *(c for t in trees for c in t.calls), q, month[3]], by=dims)
    assert mixed == flat
    assert mixed.records == 2 + 5
    assert mixed.quarantined == {"bad_json": 1}
    if dims == ("team",):
        assert mixed["search"].records == 1 + 5   # the children inherited the root's team
