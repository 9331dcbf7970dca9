"""Pricing: exact cost, explainable line items, tiers, and the seeds' worked examples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution._usage import BILLED_METERS, METERS
from strategies import priced_records, usage_records, usages

UTC = timezone.utc
D = Decimal
JUNE_2025 = datetime(2025, 6, 1, tzinfo=UTC)
JUNE_2026 = datetime(2026, 6, 7, tzinfo=UTC)
JUNE_1_2025 = 1748779200   # 2025-06-01T12:00:00Z
JUNE_7_2026 = 1780833600   # 2026-06-07T12:00:00Z


def chat(i, model, created, prompt, cached, out, **tags):
    """An OpenAI Chat Completions response; prompt_tokens includes the cached tokens."""
    return at.normalize({
        "id": f"chatcmpl-{i}", "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
                  "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
    }, provider="openai", tags=tags)


def gateway(i, model, timestamp, inp, out, **owner):
    """Seed 002's flat gateway event."""
    return at.normalize({
        "timestamp": timestamp, "request_id": f"req_{i}", "provider": "openai",
        "model_requested": model, "model_actual": model, "input_tokens": inp, "output_tokens": out,
        "cached_input_tokens": 0, "retry_count": 0, "fallback_from": None, **owner})


def exact(amount, expected):
    assert isinstance(amount, Decimal), f"{amount!r} is not a Decimal"
    assert amount == Decimal(expected), f"got {amount}, want {expected}"


# --- seed 000: GPT-4o, prompt_tokens includes cached tokens ----------------------------


def test_seed_000_one_gpt_4o_request_costs_0_01925():
    rec = chat(1, "gpt-4o-2024-08-06", JUNE_1_2025, 5_000, 1_000, 800, team="search")
    p = at.price(rec)
    exact(p.cost, "0.01925")     # 4,000 x $2.50 + 1,000 x $1.25 + 800 x $10, per 1M
    assert [(li.meter, li.quantity, li.unit_price, li.amount) for li in p.lines] == [
        ("input", 4_000, D("2.5"), D("0.01")),
        ("cached_input", 1_000, D("1.25"), D("0.00125")),
        ("output", 800, D("10"), D("0.008")),
    ]


def test_seed_000_a_month_of_gpt_4o_by_team_is_192_50_and_232_50_totalling_425():
    priced = ([at.price(chat(i, "gpt-4o", JUNE_1_2025, 5_000, 1_000, 800, team="search")) for i in range(10_000)]
              + [at.price(chat(10_000 + i, "gpt-4o", JUNE_1_2025, 1_400, 200, 2_000, team="support"))
                 for i in range(10_000)])
    r = at.rollup(priced, by=("team",))
    exact(r[("search",)].cost, "192.50")
    exact(r[("support",)].cost, "232.50")
    exact(r.total, "425.00")
    assert r[("search",)].usage == at.Usage(input=40_000_000, cached_input=10_000_000, output=8_000_000)
    assert r[("support",)].usage == at.Usage(input=12_000_000, cached_input=2_000_000, output=20_000_000)


def test_seed_000_the_monthly_usage_priced_at_once_gives_the_same_totals():
    exact(at.cost("openai", "gpt-4o", at.Usage(input=40_000_000, cached_input=10_000_000, output=8_000_000),
                  at=JUNE_2025), "192.50")
    exact(at.cost("openai", "gpt-4o", at.Usage(input=12_000_000, cached_input=2_000_000, output=20_000_000),
                  at=JUNE_2025), "232.50")


# --- seed 001: GPT-5.4 -------------------------------------------------------------------


def test_seed_001_gpt_5_4_month_is_7_50_for_search_and_6_75_for_support():
    priced = ([at.price(chat(i, "gpt-5.4", JUNE_7_2026, 3_000, 0, 750, team="search")) for i in range(400)]
              + [at.price(chat(400 + i, "gpt-5.4", JUNE_7_2026, 3_000, 0, 1_000, team="support"))
                 for i in range(300)])
    r = at.rollup(priced, by=("team",))
    exact(r[("search",)].cost, "7.50")      # 1.2M in x $2.50 + 300k out x $15
    exact(r[("support",)].cost, "6.75")     # 900k in x $2.50 + 300k out x $15
    exact(r.total, "14.25")


# --- seed 002: GPT-4.1 through a gateway --------------------------------------------------


def test_seed_002_gpt_4_1_is_72_a_day_and_2160_over_30_days():
    # 20M input / 4M output a day, as 100 gateway events a day
    month = [at.price(gateway(i, "gpt-4.1", f"2025-06-{1 + i // 100:02d}T12:00:00Z", 200_000, 40_000))
             for i in range(3_000)]
    by_day = at.rollup(month, by=("day",))
    assert len(by_day) == 30
    for key in by_day:
        exact(by_day[key].cost, "72.00")
    exact(at.rollup(month, by=()).total, "2160.00")


def test_seed_002_tenant_a_120m_in_15m_out_is_360():
    priced = [at.price(gateway(i, "gpt-4.1", "2025-06-15T12:00:00Z", 1_000_000, 125_000, tenant_id="tenant_a"))
              for i in range(120)]
    r = at.rollup(priced, by=("tenant",))
    exact(r[("tenant_a",)].cost, "360.00")


SEED_002_EVENT = {
    "timestamp": "2026-06-08T12:15:44Z", "request_id": "req_8f7c", "tenant_id": "tenant_acme",
    "team_id": "support_automation", "cost_center": "CC-4821", "provider": "openai",
    "model_requested": "gpt-4.1-mini", "model_actual": "gpt-4.1-mini",
    "input_tokens": 18240, "output_tokens": 1642, "cached_input_tokens": 0,
    "price_card_version": "openai-2025-04-14", "usd_estimate": 0.0335,
    "retry_count": 0, "fallback_from": None,
}


def test_seed_002_gateway_event_is_repriced_exactly_and_its_wrong_estimate_is_flagged():
    p = at.price(at.normalize(SEED_002_EVENT))
    exact(p.cost, "0.0099232")               # 18,240 x $0.40 + 1,642 x $1.60, per 1M
    assert "estimate_drift" in p.flags
    assert p.record.estimate == D("0.0335")
    assert p.record.estimate_card == "openai-2025-04-14"
    assert p.card_version != "openai-2025-04-14"   # repriced from our card, not the logged one


def test_an_estimate_within_tolerance_is_not_flagged():
    p = at.price(at.normalize({**SEED_002_EVENT, "usd_estimate": 0.0099232}))
    assert "estimate_drift" not in p.flags
    p = at.price(at.normalize({**SEED_002_EVENT, "usd_estimate": 0.0101}))       # +1.8%
    assert "estimate_drift" not in p.flags
    p = at.price(at.normalize({**SEED_002_EVENT, "usd_estimate": 0.0110}))       # +10.9%
    assert "estimate_drift" in p.flags


@pytest.mark.parametrize("logged", [0.0020480000000000003, D("0.0020480000000000003")])
def test_a_float_noise_estimate_is_not_drift(logged):
    """A gateway that computes 3,200 x 0.40e-6 + 480 x 1.60e-6 in floats logs 0.0020480000000000003.

    That is $0.002048 to 19 decimals; the pricing module says differences below a
    millionth are float noise, never drift, however many decimals were logged.
    """
    event = {"timestamp": "2026-06-08T12:15:44Z", "provider": "openai", "model": "gpt-4.1-mini",
             "input_tokens": 3200, "output_tokens": 480, "usd_estimate": logged}
    p = at.price(at.normalize(event))
    exact(p.cost, "0.002048")
    assert "estimate_drift" not in p.flags


# --- Anthropic cache meters and seed 004 ------------------------------------------------


def test_anthropic_cache_writes_and_reads_are_separate_meters_costing_0_0189():
    msg = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1000, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 3000,
                  "output_tokens": 500},
    }
    p = at.price(at.normalize(msg, provider="anthropic", at=JUNE_2025))
    # $3/M input, $3.75/M 5-minute cache write, $0.30/M cache read, $15/M output
    exact(p.cost, "0.0189")
    assert {li.meter: li.amount for li in p.lines} == {
        "input": D("0.003"), "cached_input": D("0.0009"), "cache_write": D("0.0075"), "output": D("0.0075")}


SEED_004_TRACE = {
    "trace_id": "tr_9f4c", "timestamp": "2026-06-08T12:15:44Z", "owner_team": "support",
    "workflow_id": "ticket-triage-v4", "feature": "auto-classify", "tenant_id_hash": "t_71b2",
    "user_id_hash": "u_19ac",
    "provider_calls": [
        {"provider": "bedrock", "model": "anthropic.claude-sonnet-4-20250514-v1:0", "request_id": "br_441",
         "input_tokens": 18400, "output_tokens": 2100, "service_tier": "standard", "estimated_cost_usd": 0.091},
        {"provider": "openai", "model": "gpt-4.1-mini", "request_id": "oa_882",
         "input_tokens": 3200, "output_tokens": 480, "service_tier": "standard", "estimated_cost_usd": 0.002}],
    "total_estimated_cost_usd": 0.093,
}


def test_seed_004_trace_prices_its_bedrock_and_openai_calls_to_0_088748():
    recs = list(at.normalize_many([SEED_004_TRACE]))
    assert all(isinstance(r, at.UsageRecord) for r in recs)
    priced = [at.price(r) for r in recs]
    assert [p.cost for p in priced] == [D("0.0867"), D("0.002048")]
    exact(sum((p.cost for p in priced), D(0)), "0.088748")
    r = at.rollup(priced, by=("team", "workflow"))
    assert list(r) == [("support", "ticket-triage-v4")]   # owner inherited from the trace root
    exact(r.total, "0.088748")


# --- context and service tiers --------------------------------------------------------------


def test_a_200_000_token_prompt_pays_the_base_rate_and_200_001_pays_the_long_context_rate_on_all_tokens():
    at_limit = at.cost("anthropic", "claude-sonnet-4", at.Usage(input=200_000, output=1_000), at=JUNE_2025)
    over = at.cost("anthropic", "claude-sonnet-4", at.Usage(input=200_001, output=1_000), at=JUNE_2025)
    exact(at_limit, "0.615")       # 200,000 x $3 + 1,000 x $15
    exact(over, "1.222506")        # 200,001 x $6 + 1,000 x $22.50: every token, output included


def test_cache_reads_and_writes_count_toward_the_context_threshold():
    u = at.Usage(input=100_000, cached_input=60_000, cache_write=40_001, output=1_000)
    assert u.prompt_tokens == 200_001
    # $6 + $0.60 + $7.50 per 1M and $22.50 output: the long-context table
    exact(at.cost("anthropic", "claude-sonnet-4", u, at=JUNE_2025), "0.9585075")


def test_the_line_items_say_which_context_tier_priced_them():
    rec = at.UsageRecord(provider="anthropic", model="claude-sonnet-4", at=JUNE_2025,
                         usage=at.Usage(input=200_001, output=1_000))
    p = at.price(rec)
    assert [li.unit_price for li in p.lines] == [D("6"), D("22.5")]
    assert "200,000" in p.explain()


def test_batch_tier_is_half_of_standard():
    u = at.Usage(input=4_000, cached_input=1_000, output=800)
    standard = at.cost("openai", "gpt-4o", u, at=JUNE_2025)
    batch = at.cost("openai", "gpt-4o", u, at=JUNE_2025, service_tier="batch")
    exact(batch, "0.009625")
    assert batch * 2 == standard


def test_priority_tier_uses_its_explicit_prices():
    u = at.Usage(input=4_000, cached_input=1_000, output=800)
    # gpt-4.1 priority: $3.50 in, $0.875 cached, $14 out per 1M
    exact(at.cost("openai", "gpt-4.1", u, at=JUNE_2025, service_tier="priority"), "0.026075")


def test_a_tier_priced_only_in_the_current_period_prices_current_requests():
    """gpt-4o's 2024 period had no priority tier; a June 2025 priority request must not care.

    The card prices priority for the period in force (from 2024-10-02: $4.25 in,
    $2.125 cached, $17 out per 1M); an older period without that tier is irrelevant.
    """
    u = at.Usage(input=4_000, cached_input=1_000, output=800)
    exact(at.cost("openai", "gpt-4o", u, at=JUNE_2025, service_tier="priority"), "0.032725")


@pytest.mark.parametrize("name", ["default", "auto", "standard", "Standard", None])
def test_default_and_auto_tier_names_mean_standard(name):
    u = at.Usage(input=4_000, cached_input=1_000, output=800)
    exact(at.cost("openai", "gpt-4o", u, at=JUNE_2025, service_tier=name), "0.01925")


def test_a_tier_the_card_does_not_price_raises_unknown_service_tier():
    with pytest.raises(at.UnknownServiceTier) as info:
        at.cost("openai", "gpt-4.1", at.Usage(input=1), at=JUNE_2025, service_tier="flex")
    err = info.value
    assert isinstance(err, at.AttributionError)
    assert err.tier == "flex"
    assert {"standard", "batch", "priority"} <= set(err.known)


def test_a_service_tier_on_the_record_is_used_for_pricing():
    rec = at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE_2025, service_tier="batch",
                         usage=at.Usage(input=1_000_000))
    p = at.price(rec)
    exact(p.cost, "1.25")
    assert p.rate.service_tier == "batch"


def test_audio_tokens_on_a_text_only_model_raise_unpriced_meter_instead_of_costing_nothing():
    with pytest.raises(at.UnpricedMeter) as info:
        at.cost("openai", "gpt-4o", at.Usage(input=1_000, input_audio=500), at=JUNE_2025)
    assert info.value.meters == ("input_audio",)
    assert "input_audio" in str(info.value)


def test_cached_tokens_before_a_model_had_cache_pricing_raise_unpriced_meter():
    with pytest.raises(at.UnpricedMeter):
        at.cost("openai", "gpt-4o", at.Usage(input=1_000, cached_input=500), at=datetime(2024, 9, 1, tzinfo=UTC))


def test_web_searches_are_priced_per_thousand_calls():
    p = at.price(at.UsageRecord(provider="anthropic", model="claude-sonnet-4", at=JUNE_2025,
                                usage=at.Usage(input=1_000, output=100, web_search=3)))
    (search,) = [li for li in p.lines if li.meter == "web_search"]
    assert (search.quantity, search.per, search.unit_price, search.amount) == (3, 1_000, D("10"), D("0.03"))
    exact(p.cost, "0.0345")


def test_reasoning_tokens_are_billed_once_inside_output():
    july = datetime(2025, 7, 1, tzinfo=UTC)
    with_reasoning = at.cost("openai", "o3", at.Usage(input=1_000, output=5_000, reasoning=4_000), at=july)
    without = at.cost("openai", "o3", at.Usage(input=1_000, output=5_000), at=july)
    assert with_reasoning == without == D("0.042")


# --- the priced record -------------------------------------------------------------------


def test_a_record_without_a_timestamp_is_priced_at_the_newest_price_and_flagged():
    p = at.price(at.UsageRecord(provider="openai", model="o3", usage=at.Usage(input=1_000_000)))
    assert "no_timestamp" in p.flags
    exact(p.cost, "2.00")
    dated = at.price(at.UsageRecord(provider="openai", model="o3", at=JUNE_2025, usage=at.Usage(input=1_000_000)))
    assert "no_timestamp" not in dated.flags
    exact(dated.cost, "10.00")


def test_the_billed_model_is_priced_not_the_requested_one():
    rec = at.UsageRecord(provider="openai", model="gpt-4o", model_billed="gpt-4o-mini", at=JUNE_2025,
                         usage=at.Usage(input=1_000_000))
    p = at.price(rec)
    exact(p.cost, "0.15")
    assert p.rate.model == "gpt-4o-mini"


def test_explain_names_card_source_line_items_and_total():
    p = at.price(at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE_2025,
                                usage=at.Usage(input=4_000, cached_input=1_000, output=800)))
    text = p.explain()
    assert p.card_version in text
    assert p.source in text
    assert "0.01925" in text
    assert "cached_input" in text


@given(priced_records())
def test_line_items_sum_exactly_to_the_cost_and_every_amount_is_a_decimal(p):
    assert isinstance(p.cost, Decimal)
    assert all(isinstance(li.amount, Decimal) and isinstance(li.unit_price, Decimal) for li in p.lines)
    assert sum((li.amount for li in p.lines), D(0)) == p.cost
    assert [li.meter for li in p.lines] == [m for m in BILLED_METERS if getattr(p.record.usage, m)]
    for li in p.lines:
        assert li.amount == li.quantity * li.unit_price / li.per
    assert p.cost >= 0


# --- properties: additive and linear -------------------------------------------------------

# Below every bundled context threshold (the lowest is 200,000 prompt tokens), so
# that scaling a request does not move it into a long-context tier.
SMALL = 10_000
small_records = usage_records(max_count=SMALL)


def scaled(u, k):
    return at.Usage(**{m: getattr(u, m) * k for m in METERS})


@given(small_records, st.integers(min_value=0, max_value=3))
def test_cost_is_linear_in_the_usage(rec, k):
    one = at.price(rec).cost
    many = at.price(attrs.evolve(rec, usage=scaled(rec.usage, k))).cost
    assert many == k * one


@given(small_records, st.data())
def test_cost_is_additive_over_meters_and_requests(rec, data):
    meters = [m for m, n in rec.usage.items() if m != "reasoning"]
    other = data.draw(usages(meters=meters, max_count=SMALL))
    whole = at.price(attrs.evolve(rec, usage=rec.usage + other)).cost
    parts = at.price(rec).cost + at.price(attrs.evolve(rec, usage=other)).cost
    assert whole == parts


@given(st.lists(priced_records(), max_size=25))
def test_the_rollup_total_is_exactly_the_sum_of_the_records(priced):
    exact(at.rollup(priced).total, sum((p.cost for p in priced), D("0.00")))


# --- batch pricing never drops a record ------------------------------------------------------


def test_price_many_quarantines_unknown_models_and_keeps_every_record():
    good = at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE_2025, usage=at.Usage(input=1_000))
    unknown = at.UsageRecord(provider="openai", model="gpt-nope", at=JUNE_2025, usage=at.Usage(input=1_000))
    too_early = at.UsageRecord(provider="openai", model="gpt-4o", at=datetime(2020, 1, 1, tzinfo=UTC),
                               usage=at.Usage(input=1_000))
    no_provider = at.UsageRecord(provider="acme", model="x", usage=at.Usage(input=1))
    bad_tier = attrs.evolve(good, service_tier="flex")
    audio = attrs.evolve(good, usage=at.Usage(input_audio=10))
    upstream = at.Quarantined(code="bad_json", message="invalid JSON", stage="read")
    items = [good, unknown, too_early, no_provider, bad_tier, audio, upstream, good]
    out = list(at.price_many(items))
    assert len(out) == len(items)
    priced = [o for o in out if isinstance(o, at.PricedRecord)]
    quarantined = [o for o in out if isinstance(o, at.Quarantined)]
    assert len(items) == len(priced) + len(quarantined)
    assert len(priced) == 2
    assert [q.code for q in quarantined] == ["unknown_model", "price_not_in_force", "unknown_model",
                                             "unknown_service_tier", "unpriced_meter", "bad_json"]
    assert quarantined[0].raw is unknown
    assert quarantined[0].stage == "price"
    assert quarantined[-1] is upstream


@given(st.lists(st.one_of(
    usage_records(max_count=SMALL),
    usage_records(max_count=SMALL).map(lambda r: attrs.evolve(r, model=r.model + "-nope")),
), max_size=20))
def test_price_many_conserves_the_count(records):
    out = list(at.price_many(records))
    assert len(out) == len(records)
    for rec, item in zip(records, out, strict=True):
        if rec.model.endswith("-nope"):
            assert isinstance(item, at.Quarantined)
            assert item.code == "unknown_model"
        else:
            assert isinstance(item, at.PricedRecord)
            assert item.record is rec


# --- the generated fast path agrees with the general one ------------------------------------


def _every_newest_rate():
    reg = at.default_registry()
    rates = []
    for info in reg.models():
        try:
            rates.append(reg.resolve(info.provider, info.id))
        except at.AttributionError:   # a model whose newest period is withdrawn
            continue
    return rates


RATES = _every_newest_rate()


@given(st.sampled_from(RATES), usages(max_count=400_000))
def test_the_compiled_units_function_agrees_with_the_general_path_for_every_bundled_rate(rate, usage):
    # The compiled function has a fast branch for usage on the common meters only and
    # a full one for the rest (Usage._rare); both must price, or refuse, exactly as the
    # slow meter-by-meter loop does, across context tiers (up to 400k prompt tokens).
    prices, _ = rate.prices_for(usage)
    try:
        expected = rate.units_with(usage, prices)
    except at.UnpricedMeter:
        with pytest.raises(at.UnpricedMeter):
            rate.units(usage)
    else:
        assert rate.units(usage) == expected


@given(usages())
def test_the_rare_flag_is_set_exactly_when_a_meter_outside_the_common_ones_counts(usage):
    from attribution._usage import COMMON_METERS
    assert usage._rare == any(getattr(usage, m) for m in METERS if m not in COMMON_METERS)
    assert at.Usage.total({m: getattr(usage, m) for m in METERS})._rare == usage._rare


def test_a_price_change_applies_from_its_first_instant_on_the_fast_path():
    # The hot path compares the timestamp with the newest period's start; one microsecond
    # before it the previous price must still apply (GPT-4o's 2024-10-01 cut... any model
    # with history will do: take the first bundled one with two periods).
    reg = at.default_registry()
    info = next(i for i in reg.models() if len(i.periods) >= 2 and i.periods[-1].until is None)
    start = info.periods[-1].from_
    assert start is not None
    usage = at.Usage(input=1_000_000, output=1_000_000)
    when = datetime.combine(start, datetime.min.time(), tzinfo=UTC) if not isinstance(start, datetime) else start
    before = at.UsageRecord(provider=info.provider, model=info.id, usage=usage, at=when - timedelta(microseconds=1))
    after = at.UsageRecord(provider=info.provider, model=info.id, usage=usage, at=when)
    for rec in (after, before, after):   # warm the memo both ways
        p = at.price(rec, reg)
        expected = reg.resolve(info.provider, info.id, rec.at)
        assert p.rate is expected
    assert at.price(before, reg).rate is not at.price(after, reg).rate


MODELS = [(i.provider, i.id) for i in at.default_registry().models()]
OFFSETS = st.sampled_from([timezone.utc, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))])


@given(st.sampled_from(MODELS), st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31)),
       OFFSETS, st.sampled_from([None, "batch", "priority", "flex"]))
def test_price_picks_the_same_rate_as_resolve_at_any_instant_and_offset(model, when, tz, tier):
    # price() answers most records with one comparison against the newest period's start;
    # whatever the instant, offset or tier, it must agree with the general look-up, errors included.
    provider, model_id = model
    reg = at.default_registry()
    rec = at.UsageRecord(provider=provider, model=model_id, usage=at.Usage(input=1_000), at=when.replace(tzinfo=tz),
                         service_tier=tier)
    try:
        expected = reg.resolve(provider, model_id, rec.at, service_tier=tier)
    except at.AttributionError as exc:
        with pytest.raises(type(exc)):
            at.price(rec, reg)
        return
    for _ in range(2):   # the second call takes the memoised fast path
        assert at.price(rec, reg).rate is expected
