"""Amazon Bedrock Converse, InvokeModel (Anthropic) and invocation logs -> disjoint meters."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution._usage import METERS
from attribution.normalize import detect_schema, normalize_many
from strategies import json_values

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
UTC = timezone.utc
PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def load(name: str) -> Any:
    """A fixture, read as the library's readers do (numbers with a fraction as Decimal)."""
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def meters(rec: at.UsageRecord) -> dict[str, int]:
    return rec.usage.as_dict()


def attempt(payload: dict[str, Any], **hints: Any) -> at.UsageRecord | str:
    """The record, or the NormalizeError's code: nothing else may come out."""
    try:
        return at.normalize(payload, **hints)
    except at.NormalizeError as exc:
        return exc.code


# --- Converse / ConverseStream ----------------------------------------------------


def test_converse_needs_a_model_hint() -> None:
    payload = load("converse_basic.json")
    assert detect_schema(payload).id == "bedrock.converse"
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == ("missing_field", "model")
    rec = at.normalize(payload, model="amazon.nova-lite-v1:0", region="us-east-1", tags={"team": "search"})
    assert (rec.provider, rec.model, rec.schema) == ("bedrock", "amazon.nova-lite-v1:0", "bedrock.converse")
    assert meters(rec) == {"input": 4, "output": 38}
    assert (rec.region, dict(rec.tags)) == ("us-east-1", {"team": "search"})
    assert rec.request_id is None
    assert rec.at is None
    assert rec.service_tier is None


def test_cache_writes_are_split_by_ttl_and_sit_beside_input() -> None:
    rec = at.normalize(load("converse_cache_mixed_ttl.json"), model=PROFILE)
    assert meters(rec) == {"input": 31, "cache_write": 1279, "cache_write_1h": 1749, "output": 254}
    assert rec.usage.total_tokens == 3313  # the response's totalTokens
    assert rec.model == PROFILE  # a cross-region profile id is kept as given


def test_boto3_dict_gives_request_id_timestamp_and_tier() -> None:
    rec = at.normalize(load("converse_boto3_cache_read.json"), model="anthropic.claude-3-5-haiku-20241022-v1:0")
    assert rec.request_id == "6f2b4f5e-8d1c-4a47-9b8e-2f6f0a1c9d21"
    assert rec.at == datetime(2025, 3, 11, 0, 38, 2, tzinfo=UTC)
    assert rec.service_tier == "flex"
    assert meters(rec) == {"input": 22, "cached_input": 3028, "output": 180}


def test_latency_optimized_inference_is_its_own_tier() -> None:
    rec = at.normalize(load("converse_latency_optimized.json"), model="us.anthropic.claude-3-5-haiku-20241022-v1:0")
    assert rec.service_tier == "latency_optimized"


def test_conversestream_metadata_event_carries_the_usage() -> None:
    event = load("converse_stream_metadata.json")
    for payload in (event, event["metadata"]):  # with or without the event wrapper
        rec = at.normalize(payload, model=PROFILE)
        assert meters(rec) == {"input": 1034, "cached_input": 2044, "output": 512}
        assert rec.usage.total_tokens == 3590


def test_converse_without_usage_is_missing_usage() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("converse_no_usage.json"), model=PROFILE)
    assert (err.value.code, err.value.path) == ("missing_usage", "usage")


def test_unsplit_writes_are_five_minute() -> None:
    usage = {"inputTokens": 10, "outputTokens": 5, "cacheWriteInputTokens": 300,
             "cacheDetails": [{"ttl": "1h", "inputTokens": 100}]}
    rec = at.normalize({"usage": usage, "stopReason": "end_turn", "output": {}}, model=PROFILE)
    assert meters(rec) == {"input": 10, "cache_write": 200, "cache_write_1h": 100, "output": 5}


@pytest.mark.parametrize(("usage", "code", "path"), [
    ({"inputTokens": 1, "outputTokens": 1, "cacheWriteInputTokens": 5,
      "cacheDetails": [{"ttl": "1h", "inputTokens": 6}]}, "inconsistent_usage", "usage.cacheWriteInputTokens"),
    ({"inputTokens": 1, "outputTokens": 1, "cacheDetails": [{"ttl": "24h", "inputTokens": 6}]},
     "unsupported_usage", "usage.cacheDetails[0].ttl"),
    ({"inputTokens": 1, "outputTokens": -1}, "negative_count", "usage.outputTokens"),
    ({"inputTokens": "many", "outputTokens": 1}, "bad_type", "usage.inputTokens"),
])
def test_bad_converse_usage_is_rejected_with_its_path(usage: dict[str, Any], code: str, path: str) -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize({"usage": usage, "stopReason": "end_turn", "output": {}}, model=PROFILE)
    assert (err.value.code, err.value.path) == (code, path)


def test_nova_invoke_model_cache_field_spelling() -> None:
    body = {"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 6, "outputTokens": 54, "totalTokens": 1060,
                      "cacheReadInputTokenCount": 1000, "cacheWriteInputTokenCount": 0}}
    assert meters(at.normalize(body, model="amazon.nova-pro-v1:0")) == {"input": 6, "cached_input": 1000,
                                                                        "output": 54}


# --- InvokeModel with an Anthropic body ---------------------------------------------


def test_bedrock_message_id_routes_to_bedrock_not_anthropic() -> None:
    payload = load("invoke_model_anthropic.json")
    assert detect_schema(payload).id == "bedrock.invoke_model"
    rec = at.normalize(payload, model=PROFILE)
    assert (rec.provider, rec.model, rec.model_billed) == ("bedrock", PROFILE, None)
    assert rec.request_id == "msg_bdrk_01Jz4nX8ZzZ7ckq5wD9ZgT1u"
    assert meters(rec) == {"input": 18, "cache_write_1h": 4096, "output": 393}


def test_invoke_model_without_hint_uses_the_body_model() -> None:
    rec = at.normalize(load("invoke_model_anthropic.json"))
    assert rec.model == "claude-sonnet-4-5-20250929"
    # The vendor's name resolves to Bedrock's id; with no profile it is an in-region call.
    priced = at.price(rec)
    assert priced.rate.model == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert priced.cost == at.cost("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", rec.usage, at=rec.at)


def test_any_messages_body_is_bedrock_when_told() -> None:
    body = load("invoke_model_anthropic.json")
    body["id"] = "msg_01XFDUDYJgAACzvnptvVoYEL"
    del body["model"]
    assert detect_schema(body).id == "anthropic.messages"
    rec = at.normalize(body, provider="bedrock", model="anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert (rec.provider, rec.schema) == ("bedrock", "bedrock.invoke_model")
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(body, provider="bedrock")
    assert (err.value.code, err.value.path) == ("missing_field", "model")


# --- model invocation logs --------------------------------------------------------


def test_invocation_log_with_request_metadata_tags() -> None:
    rec = at.normalize(load("invocation_log_converse.json"))
    assert rec.schema == "bedrock.invocation_log"
    assert (rec.provider, rec.model, rec.region) == ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0",
                                                     "us-east-1")
    assert rec.request_id == "915a6a04-3f83-4c70-a277-7fbf7ea546b3"
    assert rec.at == datetime(2025, 3, 11, 0, 38, 2, tzinfo=UTC)
    assert meters(rec) == {"input": 35, "output": 446}
    # requestMetadata's traceId is a trace link, not an owner tag: log records join their trees
    assert rec.trace_id == "b956002a-fd01-47ba-9da7-07e4c9b1a6b6"
    assert dict(rec.tags) == {
        "team": "support",
        "tenant": "t_acme",
        "aws_account_id": "123456789012",
        "aws_identity_arn": "arn:aws:sts::123456789012:assumed-role/support-bot/i-0abc123",
    }
    assert rec.outcome == "ok"


def test_invocation_log_cache_counts_and_profile_arn() -> None:
    rec = at.normalize(load("invocation_log_profile_cached.json"), tags={"team": "finance"})
    assert rec.model.startswith("arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.")
    assert meters(rec) == {"input": 31, "cache_write": 1279, "cache_write_1h": 1749, "output": 254}
    assert rec.region == "us-west-2"
    assert rec.service_tier is None  # performanceConfig.latency "standard"
    # the us. profile sets the price (US geography, +10%), whatever region the log names
    assert at.price(rec).rate.region == "us"
    assert (rec.tags["team"], rec.tags["project"], rec.tags["environment"]) == ("finance", "quarterly-report",
                                                                                 "prod")


def test_invocation_log_error_with_usage() -> None:
    rec = at.normalize(load("invocation_log_stream_error.json"))
    assert rec.outcome == "error"
    assert meters(rec) == {"input": 1200}
    assert rec.model == "us.amazon.nova-pro-v1:0"


def test_invocation_log_without_counts_is_missing_usage() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("invocation_log_image_no_tokens.json"))
    assert (err.value.code, err.value.path) == ("missing_usage", "input.inputTokenCount")


def test_successful_log_without_output_count_is_rejected() -> None:
    payload = load("invocation_log_converse.json")
    del payload["output"]["outputTokenCount"]
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == ("missing_field", "output.outputTokenCount")


def test_anthropic_log_body_splits_writes_and_counts_searches() -> None:
    payload = load("invocation_log_converse.json")
    payload["input"]["cacheWriteInputTokenCount"] = 500
    payload["output"]["outputBodyJson"] = {
        "type": "message", "usage": {"input_tokens": 35, "output_tokens": 446, "cache_creation_input_tokens": 500,
                                     "cache_creation": {"ephemeral_5m_input_tokens": 200,
                                                        "ephemeral_1h_input_tokens": 300},
                                     "server_tool_use": {"web_search_requests": 2}}}
    assert meters(at.normalize(payload)) == {"input": 35, "cache_write": 200, "cache_write_1h": 300, "output": 446,
                                             "web_search": 2}


def test_logged_cache_writes_price_exactly_with_the_ttl_split() -> None:
    """Golden: the 1-hour writes pay 2x input, the 5-minute ones 1.25x; us. profile pays the 10% premium."""
    priced = at.price(at.normalize(load("invocation_log_profile_cached.json")))
    assert priced.cost == Decimal("0.021112575")
    assert [line.meter for line in priced.lines] == ["input", "cache_write", "cache_write_1h", "output"]


def test_converse_with_the_global_profile_prices_without_premium() -> None:
    rec = at.normalize(load("converse_cache_mixed_ttl.json"), model="global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                       at=datetime(2025, 10, 2, 9, tzinfo=UTC))
    assert at.price(rec).cost == Decimal("0.01919325")


def test_a_callers_own_metadata_key_does_not_hide_the_response() -> None:
    payload = {**load("converse_basic.json"), "metadata": {"team": "search"}}
    del payload["output"]
    rec = at.normalize(payload, model="amazon.nova-lite-v1:0")
    assert meters(rec) == {"input": 4, "output": 38}


def test_normalize_many_quarantines_with_the_field_path() -> None:
    items = [load("invocation_log_converse.json"), load("invocation_log_image_no_tokens.json")]
    out = list(normalize_many(items))
    assert isinstance(out[0], at.UsageRecord)
    assert isinstance(out[1], at.Quarantined)
    assert out[1].code == "missing_usage"
    assert out[1].source is not None
    assert out[1].source.path == "input.inputTokenCount"


# --- properties -------------------------------------------------------------------

_COUNT = st.integers(min_value=0, max_value=10**7)
_JUNK = st.one_of(st.integers(min_value=-3, max_value=10**14), st.floats(allow_nan=False),
                  # ASCII only: count() lets "¹" (isdigit, not int-able) through; reported upstream.
                  st.text(alphabet="0123456789 x-.", max_size=3), st.none())
_VALUE = st.integers(0, 19).flatmap(lambda n: _JUNK if n == 0 else _COUNT)


@st.composite
def token_usage(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"inputTokens": draw(_VALUE), "outputTokens": draw(_VALUE)}
    for key in ("cacheReadInputTokens", "cacheWriteInputTokens"):
        if draw(st.booleans()):
            out[key] = draw(_VALUE)
    if draw(st.booleans()):
        out["cacheDetails"] = draw(st.lists(st.fixed_dictionaries(
            {"ttl": st.sampled_from(["5m", "1h", "1h", "5m", "2h"]), "inputTokens": _COUNT}), max_size=2))
    return out


def _int(value: Any) -> int:
    """A count as the normalizer reads it (digit strings and integral floats included)."""
    return 0 if value is None else int(value)


def _n(obj: dict[str, Any], key: str) -> int:
    return _int(obj.get(key))


@given(usage=token_usage(), stream=st.booleans())
def test_converse_meters_add_up_or_a_coded_error(usage: dict[str, Any], stream: bool) -> None:
    payload = {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}} if stream else \
        {"usage": usage, "output": {}, "stopReason": "end_turn"}
    rec = attempt(payload, model=PROFILE)
    if isinstance(rec, str):
        assert rec  # a stable reason code
        return
    u = rec.usage
    assert all(type(getattr(u, m)) is int for m in METERS)
    writes = _n(usage, "cacheWriteInputTokens") if usage.get("cacheWriteInputTokens") is not None else \
        sum(d["inputTokens"] for d in usage.get("cacheDetails") or [])
    assert u.prompt_tokens == _n(usage, "inputTokens") + _n(usage, "cacheReadInputTokens") + writes
    assert u.cache_write + u.cache_write_1h == writes
    assert u.output == _n(usage, "outputTokens")


@st.composite
def invocation_logs(draw: st.DrawFn) -> dict[str, Any]:
    inp: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for obj, key in ((inp, "inputTokenCount"), (out, "outputTokenCount"), (inp, "cacheReadInputTokenCount"),
                     (inp, "cacheWriteInputTokenCount")):
        if draw(st.integers(0, 4)):
            obj[key] = draw(_VALUE)
    log: dict[str, Any] = {"schemaType": "ModelInvocationLog", "modelId": PROFILE, "input": inp, "output": out,
                           "timestamp": "2025-10-02T09:15:41Z", "requestMetadata": {"team": "search"}}
    if draw(st.booleans()):
        log["errorCode"] = "ThrottlingException"
    return log


@given(log=invocation_logs())
def test_invocation_log_meters_add_up_or_a_coded_error(log: dict[str, Any]) -> None:
    rec = attempt(log)
    if isinstance(rec, str):
        assert rec  # a stable reason code
        return
    u, inp, out = rec.usage, log["input"], log["output"]
    assert all(type(getattr(u, m)) is int for m in METERS)
    assert u.input == _n(inp, "inputTokenCount")
    assert u.output == _n(out, "outputTokenCount")
    assert u.cached_input == _n(inp, "cacheReadInputTokenCount")
    assert u.cache_write == _n(inp, "cacheWriteInputTokenCount")
    assert rec.outcome == ("error" if "errorCode" in log else "ok")
    assert rec.tags["team"] == "search"


@given(input_tokens=_VALUE, output_tokens=_VALUE, read=_VALUE, created=_VALUE)
def test_invoke_model_meters_add_up_or_a_coded_error(input_tokens: Any, output_tokens: Any, read: Any,
                                                     created: Any) -> None:
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_read_input_tokens": read,
             "cache_creation_input_tokens": created}
    rec = attempt({"id": "msg_bdrk_01", "type": "message", "usage": usage}, model=PROFILE)
    if isinstance(rec, str):
        assert rec  # a stable reason code
        return
    assert rec.usage.prompt_tokens == _int(input_tokens) + _int(read) + _int(created)
    assert rec.usage.output == _int(output_tokens)


@given(payload=json_values(max_leaves=30))
def test_arbitrary_json_gives_a_record_or_a_coded_error(payload: object) -> None:
    wrapped = {"usage": payload, "metadata": payload, "output": payload, "input": payload, "stopReason": "x",
               "schemaType": "ModelInvocationLog", "type": "message", "id": "msg_bdrk_1"}
    for schema in ("bedrock.converse", "bedrock.invoke_model", "bedrock.invocation_log"):
        for candidate in (payload, wrapped):
            if not isinstance(candidate, dict):
                continue
            rec = attempt(candidate, provider=schema, model=PROFILE)
            if isinstance(rec, str):
                assert rec
            else:
                assert all(type(getattr(rec.usage, m)) is int for m in METERS)


def test_invocation_logs_sharing_a_trace_id_form_one_request_tree() -> None:
    first = load("invocation_log_converse.json")
    second = {**first, "requestId": "second-call",
              "requestMetadata": {"traceId": first["requestMetadata"]["traceId"], "parentId": "915a6a04-3f83-4c70-a277-7fbf7ea546b3"}}
    recs = [at.normalize(first), at.normalize(second)]
    assert recs[1].parent_id == "915a6a04-3f83-4c70-a277-7fbf7ea546b3"
    trees = at.build_forest([at.price(r) for r in recs])
    assert len(trees) == 1
    assert len(trees[0].calls) == 2
    assert trees[0].owner["team"] == "support"      # the second call inherits the root's owner
