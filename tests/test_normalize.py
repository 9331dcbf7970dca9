"""Normalization: real-shaped payloads become disjoint meters; bad input is quarantined, never lost."""

from __future__ import annotations

import copy
import importlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution.normalize import Raw
from strategies import json_values, payload_like

UTC = timezone.utc
D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
NOV_2025 = datetime(2025, 11, 1, tzinfo=UTC)


def fixture(name):
    """A fixture payload, read as the library's JSON readers read files (numbers with a fraction -> Decimal)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def codes(items):
    return [q.code for q in items if isinstance(q, at.Quarantined)]


# --- OpenAI ----------------------------------------------------------------------------------


def test_openai_reasoning_response_subtracts_cached_tokens_from_prompt_and_keeps_reasoning_inside_output():
    rec = at.normalize(fixture("openai/chat_completion_o3_cached_reasoning.json"))
    assert rec.usage == at.Usage(input=1_536, cached_input=12_288, output=1_845, reasoning=1_472)
    assert rec.usage.prompt_tokens == 13_824             # == the payload's prompt_tokens
    assert rec.usage.total_tokens == 15_669              # == the payload's total_tokens
    assert (rec.provider, rec.model, rec.schema) == ("openai", "o3-2025-04-16", "openai.chat")
    assert rec.request_id == "chatcmpl-BfK2pX7Qv9mZrT4nLw8sYc1dEaH3u"
    assert rec.at == datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)   # `created`, Unix seconds
    assert at.price(rec).cost == D("0.023976")
    assert at.price(rec).rate.service_tier == "standard"            # "default" is the standard tier


def test_openai_final_stream_chunk_with_empty_choices_carries_the_whole_requests_usage():
    rec = at.normalize(fixture("openai/chat_completion_chunk_final_usage.json"))
    assert rec.usage == at.Usage(input=1_254, cached_input=1_152, output=312)
    assert rec.model == "gpt-4o-mini-2024-07-18"
    assert at.price(rec).cost == D("0.0004617")


def test_openai_content_chunk_with_null_usage_is_missing_usage_not_zero():
    payload = fixture("openai/chat_completion_chunk_content_no_usage.json")
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert info.value.code == "missing_usage"
    assert info.value.path == "usage"
    assert "include_usage" in str(info.value)      # tells the user how to get usage on streams


def test_openai_response_without_usage_is_missing_usage():
    payload = fixture("openai/chat_completion_o3_cached_reasoning.json")
    del payload["usage"]
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload, provider="openai")
    assert info.value.code == "missing_usage"


def test_openai_audio_tokens_are_split_out_of_prompt_and_completion():
    payload = fixture("openai/chat_completion_o3_cached_reasoning.json")
    payload["usage"]["prompt_tokens_details"]["audio_tokens"] = 300
    payload["usage"]["completion_tokens_details"]["audio_tokens"] = 45
    rec = at.normalize(payload)
    assert rec.usage.input == 13_824 - 12_288 - 300
    assert rec.usage.input_audio == 300
    assert rec.usage.output == 1_845 - 45
    assert rec.usage.output_audio == 45
    assert rec.usage.prompt_tokens == 13_824


def test_openai_cached_tokens_above_prompt_tokens_is_inconsistent_usage():
    payload = fixture("openai/chat_completion_o3_cached_reasoning.json")
    payload["usage"]["prompt_tokens_details"]["cached_tokens"] = 13_825
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert info.value.code == "inconsistent_usage"
    assert info.value.path.startswith("usage.")


def test_openai_reasoning_tokens_above_completion_tokens_is_inconsistent_usage():
    payload = fixture("openai/chat_completion_o3_cached_reasoning.json")
    payload["usage"]["completion_tokens_details"]["reasoning_tokens"] = 1_846
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert info.value.code == "inconsistent_usage"


@pytest.mark.parametrize(("value", "code"), [
    (-5, "negative_count"),
    ("lots", "bad_type"),
    ("12abc", "bad_type"),
    (12.5, "bad_type"),
    (True, "bad_type"),
    ([1], "bad_type"),
    ({"n": 1}, "bad_type"),
])
def test_a_bad_token_count_is_rejected_with_a_code_and_the_field_path(value, code):
    payload = fixture("openai/chat_completion_o3_cached_reasoning.json")
    payload["usage"]["completion_tokens"] = value
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert info.value.code == code
    assert info.value.path == "usage.completion_tokens"
    assert "usage.completion_tokens" in str(info.value)


def test_an_integral_float_or_digit_string_count_is_accepted_as_that_integer():
    payload = fixture("openai/chat_completion_chunk_final_usage.json")
    payload["usage"]["completion_tokens"] = 312.0
    payload["usage"]["prompt_tokens"] = "2406"
    assert at.normalize(payload).usage == at.Usage(input=1_254, cached_input=1_152, output=312)


def test_owner_tags_from_the_callers_hint_win_over_the_payload():
    payload = fixture("openai/chat_completion_chunk_final_usage.json")
    payload["metadata"] = {"team": "growth", "feature": "answer"}
    rec = at.normalize(payload, tags={"team": "search"})
    assert rec.tags == {"team": "search", "feature": "answer"}


# --- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_message_keeps_cache_reads_5m_and_1h_writes_and_web_searches_apart():
    rec = at.normalize(fixture("anthropic/message_cache_ttl_web_search.json"), at=NOV_2025)
    assert rec.usage == at.Usage(input=2_095, cached_input=12_500, cache_write=4_000, cache_write_1h=2_000,
                                 output=1_024, web_search=2)
    assert rec.usage.prompt_tokens == 2_095 + 12_500 + 6_000
    assert (rec.provider, rec.model, rec.schema) == ("anthropic", "claude-sonnet-4-5-20250929", "anthropic.messages")
    assert rec.request_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert rec.at == NOV_2025                     # responses carry no timestamp: the hint fills it
    p = at.price(rec)
    assert p.cost == D("0.072395")
    assert {li.meter: li.amount for li in p.lines} == {
        "input": D("0.006285"), "cached_input": D("0.00375"), "cache_write": D("0.015"),
        "cache_write_1h": D("0.012"), "output": D("0.01536"), "web_search": D("0.02")}


def test_anthropic_cache_writes_without_a_ttl_breakdown_are_5_minute_writes():
    payload = fixture("anthropic/message_cache_ttl_web_search.json")
    del payload["usage"]["cache_creation"]
    rec = at.normalize(payload, at=NOV_2025)
    assert (rec.usage.cache_write, rec.usage.cache_write_1h) == (6_000, 0)


def test_anthropic_ttl_breakdown_larger_than_the_total_is_inconsistent_usage():
    payload = fixture("anthropic/message_cache_ttl_web_search.json")
    payload["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] = 2_001
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert info.value.code == "inconsistent_usage"
    assert info.value.path == "usage.cache_creation"


def test_anthropic_negative_input_tokens_is_negative_count():
    payload = fixture("anthropic/message_cache_ttl_web_search.json")
    payload["usage"]["input_tokens"] = -1
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload)
    assert (info.value.code, info.value.path) == ("negative_count", "usage.input_tokens")


def test_anthropic_message_without_usage_is_missing_usage():
    """Same reason code as OpenAI's: the payload is plainly a message, it only lacks usage."""
    payload = fixture("anthropic/message_cache_ttl_web_search.json")
    del payload["usage"]
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(payload, provider="anthropic")
    assert info.value.code == "missing_usage"


# --- gateway events and traces ----------------------------------------------------------------------


def test_seed_002_gateway_event_maps_owner_fields_and_the_logged_estimate():
    rec = at.normalize(fixture("gateway/seed_002_event.json"))
    assert rec.usage == at.Usage(input=18_240, output=1_642)
    assert (rec.provider, rec.model, rec.model_billed) == ("openai", "gpt-4.1-mini", None)
    assert rec.tags == {"tenant": "tenant_acme", "team": "support_automation", "cost_center": "CC-4821"}
    assert rec.request_id == "req_8f7c"
    assert rec.at == datetime(2026, 6, 8, 12, 15, 44, tzinfo=UTC)
    assert rec.estimate == D("0.0335")               # exact: read as Decimal, never a float
    assert rec.estimate_card == "openai-2025-04-14"
    assert (rec.attempt, rec.fallback_from, rec.outcome) == (1, None, "ok")
    p = at.price(rec)
    assert p.cost == D("0.0099232")
    assert "estimate_drift" in p.flags


def test_an_openai_gateway_event_counts_cached_tokens_inside_input():
    event = {**fixture("gateway/seed_002_event.json"), "cached_input_tokens": 10_240}
    assert at.normalize(event).usage == at.Usage(input=8_000, cached_input=10_240, output=1_642)


def test_a_gateway_event_with_more_cached_than_input_tokens_is_inconsistent_usage():
    event = {**fixture("gateway/seed_002_event.json"), "cached_input_tokens": 18_241}
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(event)
    assert (info.value.code, info.value.path) == ("inconsistent_usage", "cached_input_tokens")


def test_a_fallback_is_priced_as_the_model_actually_served():
    event = {**fixture("gateway/seed_002_event.json"), "model_actual": "gpt-4.1-nano", "fallback_from": "gpt-4.1-mini"}
    rec = at.normalize(event)
    assert (rec.model, rec.billed_model, rec.fallback_from) == ("gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1-mini")
    assert at.price(rec).rate.model == "gpt-4.1-nano"


def test_seed_004_trace_yields_one_record_per_provider_call_owned_by_the_root():
    recs = list(at.normalize_many([fixture("gateway/seed_004_trace.json")]))
    assert [type(r) for r in recs] == [at.UsageRecord, at.UsageRecord]
    bedrock, openai = recs
    assert (bedrock.provider, bedrock.model, bedrock.request_id) == (
        "bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "br_441")
    assert bedrock.usage == at.Usage(input=18_400, output=2_100)
    assert (openai.provider, openai.model, openai.request_id) == ("openai", "gpt-4.1-mini", "oa_882")
    assert openai.usage == at.Usage(input=3_200, output=480)
    for r in recs:
        assert r.trace_id == "tr_9f4c"
        assert r.at == datetime(2026, 6, 8, 12, 15, 44, tzinfo=UTC)
        assert r.tags["team"] == "support"
        assert r.tags["workflow"] == "ticket-triage-v4"
        assert r.tags["feature"] == "auto-classify"
        assert r.tags["tenant"] == "t_71b2"
    assert bedrock.estimate == D("0.091")
    assert sum((at.price(r).cost for r in recs), D(0)) == D("0.088748")


def test_a_call_in_a_trace_keeps_its_own_owner_over_the_roots():
    trace = fixture("gateway/seed_004_trace.json")
    trace["provider_calls"][1]["team"] = "search"
    recs = list(at.normalize_many([trace]))
    assert [r.tags["team"] for r in recs] == ["support", "search"]
    assert recs[1].tags["workflow"] == "ticket-triage-v4"


def test_seed_004_verbatim_trace_quarantines_the_unknown_bedrock_model_at_pricing_not_at_zero():
    out = list(at.price_many(at.normalize_many([fixture("gateway/seed_004_trace_verbatim.json")])))
    assert len(out) == 2
    assert isinstance(out[0], at.Quarantined)
    assert out[0].code == "unknown_model"
    assert "anthropic.claude-sonnet" in out[0].message
    assert isinstance(out[1], at.PricedRecord)
    assert out[1].cost == D("0.002048")
    assert "no_timestamp" in out[1].flags


def test_a_trace_with_a_non_object_call_is_bad_type_at_that_call():
    trace = fixture("gateway/seed_004_trace.json")
    trace["provider_calls"].append("oops")
    (q,) = list(at.normalize_many([trace]))
    assert q.code == "bad_type"
    assert "provider_calls[2]" in q.source.path


def test_a_trace_without_provider_calls_is_still_accounted_for():
    """Every input yields at least one item: an empty trace may cost nothing, but it must not vanish."""
    trace = {**fixture("gateway/seed_004_trace.json"), "provider_calls": []}
    out = list(at.normalize_many([trace]))
    assert len(out) >= 1


# --- errors and detection -------------------------------------------------------------------------


def test_an_unknown_schema_names_what_was_looked_for():
    with pytest.raises(at.NormalizeError) as info:
        at.normalize({"foo": 1, "bar": {"baz": 2}})
    err = info.value
    assert err.code == "unknown_schema"
    message = str(err)
    assert "bar" in message                                     # the keys it saw
    assert "foo" in message
    for schema in ("openai.chat", "anthropic.messages", "gateway", "trace"):
        assert schema in message                                # what it looked for


def test_provider_narrows_detection_to_that_providers_schemas():
    msg = fixture("anthropic/message_cache_ttl_web_search.json")
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(msg, provider="openai")
    assert info.value.code == "unknown_schema"
    assert "anthropic.messages" not in str(info.value)


@pytest.mark.parametrize("junk", ["junk", 42, None, [1, 2], Decimal("1.5")])
def test_a_payload_that_is_not_an_object_is_bad_type(junk):
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(junk)
    assert info.value.code == "bad_type"


def test_normalize_error_is_an_attribution_error_and_a_value_error():
    with pytest.raises(at.AttributionError):
        at.normalize("junk")
    with pytest.raises(ValueError, match="JSON object"):
        at.normalize("junk")


def test_an_absurd_count_is_rejected_by_the_sanity_limit():
    event = {**fixture("gateway/seed_002_event.json"), "input_tokens": 10**14}
    with pytest.raises(at.NormalizeError) as info:
        at.normalize(event)
    assert (info.value.code, info.value.path) == ("absurd_count", "input_tokens")


def test_a_count_with_a_huge_exponent_is_absurd_not_unreadable():
    """``1e100000`` in a JSONL line parses to a Decimal; the bound must be checked before
    turning it into a 100,001-digit int (which breaks the message and, for larger
    exponents, stalls the whole stream)."""
    event = {**fixture("gateway/seed_002_event.json"), "input_tokens": Decimal("1e100000")}
    (q,) = list(at.normalize_many([event]))
    assert isinstance(q, at.Quarantined)
    assert q.code == "absurd_count"


def test_a_bad_timestamp_is_quarantined_with_its_path():
    event = {**fixture("gateway/seed_002_event.json"), "timestamp": "yesterday"}
    (q,) = list(at.normalize_many([event]))
    assert (q.code, q.source.path) == ("bad_timestamp", "timestamp")


def test_a_naive_at_hint_is_refused():
    with pytest.raises(at.InvalidTimestamp, match="timezone-aware"):
        at.normalize(fixture("anthropic/message_cache_ttl_web_search.json"), at=datetime(2025, 11, 1))


# --- normalize_many: nothing is dropped ---------------------------------------------------------------


def test_normalize_many_quarantines_bad_payloads_with_their_source_location():
    where = at.SourceLocation(file="usage.jsonl", line=7)
    good = Raw(fixture("gateway/seed_002_event.json"), at.SourceLocation(file="usage.jsonl", line=6))
    bad = Raw({**fixture("gateway/seed_002_event.json"), "output_tokens": -3}, where)
    upstream = at.Quarantined(code="bad_json", message="invalid JSON", stage="read",
                              source=at.SourceLocation(file="usage.jsonl", line=8))
    out = list(at.normalize_many([good, bad, upstream, "junk"]))
    assert len(out) == 4
    assert isinstance(out[0], at.UsageRecord)
    assert out[0].source == at.SourceLocation(file="usage.jsonl", line=6)
    assert out[1].code == "negative_count"
    assert out[1].stage == "normalize"
    assert (out[1].source.file, out[1].source.line, out[1].source.path) == ("usage.jsonl", 7, "output_tokens")
    assert "usage.jsonl:7" in str(out[1])
    assert out[2] is upstream
    assert out[3].code == "bad_type"
    assert out[3].raw == "junk"


def test_normalize_many_is_lazy():
    def stream():
        yield fixture("gateway/seed_002_event.json")
        raise AssertionError("read past the first item")

    it = at.normalize_many(stream())
    assert isinstance(next(it), at.UsageRecord)


def test_normalize_many_does_not_mutate_its_input():
    trace = fixture("gateway/seed_004_trace.json")
    before = copy.deepcopy(trace)
    list(at.normalize_many([trace], tags={"environment": "prod"}))
    assert trace == before


def check_conserved(items, out):
    assert len(out) >= len(items)
    assert all(isinstance(o, (at.UsageRecord, at.Quarantined)) for o in out)
    if all(not (isinstance(i, dict) and isinstance(i.get("provider_calls"), list)) for i in items):
        assert len(out) == len(items)    # only traces fan out


@given(st.lists(json_values(), max_size=8))
def test_normalize_many_never_raises_and_never_loses_a_record_on_any_json(items):
    check_conserved(items, list(at.normalize_many(items)))


@given(st.lists(payload_like(), max_size=8))
def test_normalize_many_never_raises_and_never_loses_a_record_on_payload_like_json(items):
    check_conserved(items, list(at.normalize_many(items)))


@given(st.lists(st.builds(
    lambda base, patch: {**base, **patch},
    st.sampled_from(["openai/chat_completion_o3_cached_reasoning.json",
                     "openai/chat_completion_chunk_final_usage.json",
                     "anthropic/message_cache_ttl_web_search.json",
                     "gateway/seed_002_event.json",
                     "gateway/seed_004_trace.json"]).map(fixture),
    st.dictionaries(st.sampled_from(["usage", "model", "provider", "provider_calls", "input_tokens", "created",
                                     "timestamp", "metadata", "team_id", "usd_estimate", "type", "object"]),
                    json_values(max_leaves=6), max_size=2),
), max_size=6))
def test_normalize_many_never_loses_a_mutated_real_payload(items):
    check_conserved(items, list(at.normalize_many(items)))


# --- personal data in tags: keyed hashing on ingest, e-mail flag -------------------------------

GATEWAY_EVENT = {"timestamp": "2026-06-08T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1",
                 "input_tokens": 1_000, "output_tokens": 100, "team_id": "search", "tenant_id": "acme-corp",
                 "user_id": "u-829"}


def test_hash_tags_replace_ids_with_a_keyed_hash_that_still_groups() -> None:
    from attribution.normalize import keyed_hash

    recs = [at.normalize({**GATEWAY_EVENT, "tenant_id": t}, hash_tags=("tenant", "user"), hash_key=b"k1")
            for t in ("acme-corp", "acme-corp", "globex")]
    tenants = [r.tags["tenant"] for r in recs]
    assert tenants[0] == tenants[1] != tenants[2]                 # equal ids still group
    assert tenants[0] == keyed_hash("acme-corp", b"k1")
    assert tenants[0].startswith("h:")
    assert len(tenants[0]) == 34
    assert "acme-corp" not in repr(recs[0])
    assert recs[0].tags["team"] == "search"                       # other tags untouched
    assert recs[0].tags["user"] == keyed_hash("u-829", b"k1")
    # another key, another id: a hash cannot be matched across organisations without the key
    assert at.normalize(GATEWAY_EVENT, hash_tags="tenant", hash_key="k2").tags["tenant"] != tenants[0]
    rolled = at.rollup([at.price(r) for r in recs], by=("tenant",))
    assert rolled[(tenants[0],)].requests == 2


def test_hash_tags_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="needs hash_key"):
        at.normalize(GATEWAY_EVENT, hash_tags=("tenant",))


@pytest.mark.parametrize(("value", "flagged"), [
    ("bob@example.com", True), ("first.last+tag@mail.example.co.uk", True),
    ("team@search", False), ("@handle", False), ("search", False), ("a@b.c", False),
])
def test_tag_values_that_look_like_email_addresses_are_flagged(value: str, flagged: bool) -> None:
    rec = at.normalize({**GATEWAY_EVENT, "user_id": value})
    assert ("email_in_tags" in rec.flags) is flagged
    # the flag travels to the priced record and into the audit's flag counts
    assert ("email_in_tags" in at.price(rec).flags) is flagged


def test_hashing_an_email_tag_clears_the_flag() -> None:
    rec = at.normalize({**GATEWAY_EVENT, "user_id": "bob@example.com"}, hash_tags=("user",), hash_key=b"k")
    assert rec.flags == ()
    report = at.run_audit([{**GATEWAY_EVENT, "user_id": "bob@example.com"}])
    assert report.flags["email_in_tags"] == 1


# --- detection's key prefilter keeps every promise ----------------------------------------------


def _fixture_payloads():
    """Every JSON object in the provider fixtures (whole files, list items, JSONL lines, nested calls)."""
    out = []

    def walk(value):
        if isinstance(value, dict):
            out.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(FIXTURES.rglob("*.json*")):
        if "invoices" in path.parts or path.name == "price_snapshot.json":
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            for line in text.splitlines():
                if line.strip():
                    walk(json.loads(line, parse_float=Decimal))
        else:
            walk(json.loads(text, parse_float=Decimal))
    return out


FIXTURE_PAYLOADS = _fixture_payloads()
NORMALIZE = importlib.import_module("attribution.normalize")   # the subpackage; at.normalize is the function
PROVIDERS = [None, *sorted({s.provider for s in NORMALIZE.SCHEMAS if s.provider})]


def _outcome(payload, prov, prefilter):
    try:
        return NORMALIZE._detect(payload, prov, prefilter=prefilter).id
    except at.NormalizeError as exc:
        return exc.code


def test_every_schema_promise_holds_for_every_fixture_object():
    # Schema.keys promises that any payload the detector accepts has one of those keys.
    assert len(FIXTURE_PAYLOADS) > 200
    for payload in FIXTURE_PAYLOADS:
        for schema in NORMALIZE.SCHEMAS:
            if schema.keys is not None and schema.detect(payload):
                assert not schema.keys.isdisjoint(payload), (schema.id, sorted(payload))


@pytest.mark.parametrize("prov", PROVIDERS)
def test_detection_with_the_key_prefilter_finds_what_running_every_detector_finds(prov):
    for payload in FIXTURE_PAYLOADS:
        assert _outcome(payload, prov, True) == _outcome(payload, prov, False), sorted(payload)


@given(st.one_of(payload_like(), st.dictionaries(st.text(max_size=12), json_values(), max_size=8)),
       st.sampled_from(PROVIDERS))
def test_the_key_prefilter_agrees_on_generated_payloads(payload, prov):
    if isinstance(payload, dict):
        assert _outcome(payload, prov, True) == _outcome(payload, prov, False)


def test_a_schema_without_a_key_promise_is_always_asked(monkeypatch):
    # A user's own schema (keys=None) must be consulted whatever keys the payload has.
    n = NORMALIZE
    mine = n.Schema("acme.usage", None, lambda p: p.get("acme") == 1,
                    lambda p, h: [at.UsageRecord(provider="openai", model="gpt-4o", usage=at.Usage(input=1))],
                    "ACME usage line", specificity=40)
    monkeypatch.setattr(n, "SCHEMAS", (*n.SCHEMAS, mine))
    assert n.detect_schema({"acme": 1, "object": "chat.completion"}).id == "acme.usage"


def test_the_memo_of_payload_shapes_stays_bounded(monkeypatch):
    n = NORMALIZE
    monkeypatch.setattr(n, "_CANDIDATES_MAX", 2)
    n._CANDIDATES.clear()
    shapes = [fixture("openai/chat_completion_reference.json"), {"provider": "openai", "model": "gpt-4o",
              "input_tokens": 1, "output_tokens": 1}, {"schemaType": "nothing we know"}]
    found = []
    for payload in shapes * 2:
        try:
            found.append(n.detect_schema(payload).id)
        except at.NormalizeError as exc:
            found.append(exc.code)
        assert len(n._CANDIDATES) <= 2
    assert found == ["openai.chat", "gateway", "unknown_schema"] * 2
