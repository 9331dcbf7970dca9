"""Gemini API and Vertex AI generateContent responses -> disjoint meters."""

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

FIXTURES = Path(__file__).parent / "fixtures" / "google"
UTC = timezone.utc


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


# --- the fixtures, meter by meter -------------------------------------------------


def test_thoughts_are_billed_as_output_beside_candidates() -> None:
    rec = at.normalize(load("gemini_thinking.json"))
    assert rec.provider == "google"
    assert rec.schema == "google.generate_content"
    assert rec.model == "gemini-2.5-flash"
    assert rec.model_billed is None
    assert rec.request_id == "mOYxaPrSJvuYz7IP4oeLkQ4"
    assert meters(rec) == {"input": 12, "output": 240 + 1021, "reasoning": 1021}
    assert rec.usage.total_tokens == 1273  # the response's totalTokenCount
    assert rec.at is None
    assert rec.outcome == "ok"
    assert rec.service_tier is None


def test_cached_content_is_inside_the_prompt_count() -> None:
    rec = at.normalize(load("gemini_cached.json"))
    assert meters(rec) == {"input": 250, "cached_input": 30000, "output": 180}
    assert rec.usage.prompt_tokens == 30250


def test_last_stream_chunk_carries_cumulative_usage() -> None:
    last = at.normalize(load("gemini_stream_last_chunk.json"))
    assert meters(last) == {"input": 9, "output": 412}
    assert last.request_id == "n0fraLX5BtSv1PIP2JLZ0Ak"


def test_earlier_stream_chunks_are_not_counted_again() -> None:
    """Every chunk reports the prompt; only the one with a finishReason is a call."""
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("gemini_stream_first_chunk.json"))
    assert (err.value.code, err.value.path) == ("partial_stream_chunk", "candidates")
    stream = [load("gemini_stream_first_chunk.json"), load("gemini_stream_last_chunk.json")]
    out = list(normalize_many(stream))
    assert [type(x).__name__ for x in out] == ["Quarantined", "UsageRecord"]
    assert sum(x.usage.input for x in out if isinstance(x, at.UsageRecord)) == 9


def test_chunk_without_usage_is_missing_usage_not_zero() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("gemini_chunk_no_usage.json"))
    assert err.value.code == "missing_usage"
    assert err.value.path == "usageMetadata"


def test_grounding_on_gemini_2_bills_one_grounded_prompt() -> None:
    rec = at.normalize(load("gemini_grounded_2_5.json"))
    # toolUsePromptTokenCount (search results fed back to the model) is billed as input.
    assert meters(rec) == {"input": 8 + 310, "output": 14 + 130, "reasoning": 130, "web_search": 1}
    assert rec.usage.total_tokens == 462


def test_grounding_on_gemini_3_bills_each_distinct_non_empty_query() -> None:
    rec = at.normalize(load("gemini_grounded_3.json"))
    assert rec.usage.web_search == 2  # "", duplicate and empty queries are not billed
    assert meters(rec) == {"input": 8 + 620, "output": 14 + 400, "reasoning": 400, "web_search": 2}


def test_audio_and_image_parts_get_their_own_meters() -> None:
    rec = at.normalize(load("gemini_multimodal.json"))
    assert meters(rec) == {
        "input": 50 + 40,  # text prompt + tool-use prompt
        "input_image": 258,
        "input_audio": 800,
        "output": 12,
        "output_image": 1290,
    }
    assert rec.usage.total_tokens == 2450


def test_blocked_prompt_keeps_its_usage_and_is_an_error() -> None:
    rec = at.normalize(load("gemini_blocked_prompt.json"))
    assert rec.outcome == "error"
    assert meters(rec) == {"input": 7}


def test_sdk_model_dump_snake_case_is_read() -> None:
    rec = at.normalize(load("gemini_sdk_dump.json"))
    assert rec.provider == "google"  # create_time: null is not a Vertex marker
    assert rec.model == "gemini-2.5-flash-lite"
    assert rec.request_id == "c2RrLWR1bXAtc25ha2UtY2FzZQ"
    assert meters(rec) == {"input": 20, "cached_input": 100, "output": 30}


def test_vertex_response_is_detected_by_create_time() -> None:
    rec = at.normalize(load("vertex_response.json"), tags={"team": "growth", "env": "prod"})
    assert rec.provider == "vertex"
    assert rec.schema == "vertex.generate_content"
    assert rec.at == datetime(2025, 6, 2, 14, 3, 11, 518409, tzinfo=UTC)
    assert rec.request_id == "f-s9aOWjH7eP2PgPqofJgQE"
    assert rec.service_tier == "standard"  # trafficType ON_DEMAND
    assert meters(rec) == {"input": 31, "output": 311 + 799, "reasoning": 799}
    assert dict(rec.tags) == {"team": "growth", "environment": "prod"}  # Vertex labels passed as tags


def test_vertex_cache_with_audio_subtracts_cached_parts_per_modality() -> None:
    rec = at.normalize(load("vertex_priority_cached.json"))
    assert rec.service_tier == "priority"
    assert meters(rec) == {"input": 41000 - 32768 - 1000, "cached_input": 32768, "input_audio": 1000,
                           "output": 520}


def test_vertex_batch_line_is_batch_tier_with_request_labels_as_tags() -> None:
    rec = at.normalize(load("vertex_batch_line.json"))
    assert rec.provider == "vertex"
    assert rec.service_tier == "batch"
    assert rec.model == "gemini-2.0-flash-001"  # the "@default" version alias is dropped
    assert rec.at == datetime(2025, 7, 1, 18, 13, 16, 826000, tzinfo=UTC)
    assert dict(rec.tags) == {"team": "support", "cost_center": "CC-4821"}
    assert meters(rec) == {"input": 425, "output": 2}


def test_failed_vertex_batch_line_is_missing_usage() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("vertex_batch_error_line.json"))
    assert err.value.code == "missing_usage"
    assert "INVALID_ARGUMENT" in err.value.message


def test_failed_gemini_api_batch_line_is_missing_usage() -> None:
    line = {"key": "request-2", "error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(line)
    assert (err.value.code, err.value.path) == ("missing_usage", "response")


def test_gemini_api_batch_line() -> None:
    rec = at.normalize(load("gemini_batch_line.json"))
    assert (rec.provider, rec.service_tier, rec.request_id) == ("google", "batch", "request-1")
    assert meters(rec) == {"input": 6, "output": 58}


# --- provider and schema selection ------------------------------------------------


def test_provider_vertex_is_reachable_without_vertex_markers() -> None:
    payload = load("gemini_thinking.json")
    assert detect_schema(payload).id == "google.generate_content"
    assert detect_schema(payload, "vertex").id == "vertex.generate_content"
    rec = at.normalize(payload, provider="vertex", tags={"team": "search"})
    assert (rec.provider, rec.schema) == ("vertex", "vertex.generate_content")
    assert rec.tags["team"] == "search"


def test_provider_hint_wins_over_detection() -> None:
    rec = at.normalize(load("vertex_response.json"), provider="google")
    assert rec.provider == "google"


def test_hints_fill_what_the_response_lacks() -> None:
    when = datetime(2025, 6, 1, 12, tzinfo=UTC)
    rec = at.normalize(load("gemini_thinking.json"), model="gemini-2.5-flash-preview", at=when,
                       service_tier="flex", region="europe-west4")
    assert rec.model == "gemini-2.5-flash-preview"
    assert rec.model_billed == "gemini-2.5-flash"
    assert (rec.at, rec.service_tier, rec.region) == (when, "flex", "europe-west4")


def test_labels_logged_beside_the_response_become_tags() -> None:
    payload = {**load("vertex_response.json"), "labels": {"team_id": "ads", "feature": "summaries"}}
    assert dict(at.normalize(payload).tags) == {"team": "ads", "feature": "summaries"}


def test_gemini_api_service_tier_field() -> None:
    payload = load("gemini_thinking.json")
    payload["usageMetadata"]["serviceTier"] = "SERVICE_TIER_FLEX"
    assert at.normalize(payload).service_tier == "flex"


def test_openai_payloads_are_not_taken() -> None:
    chat = {"object": "chat.completion", "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    assert detect_schema(chat).id == "openai.chat"


@pytest.mark.parametrize(("mutate", "code", "path"), [
    (lambda u: u.update(cachedContentTokenCount=32), "inconsistent_usage", "usageMetadata.cachedContentTokenCount"),
    (lambda u: u.update(promptTokenCount=-1), "negative_count", "usageMetadata.promptTokenCount"),
    (lambda u: u.update(candidatesTokenCount=1.5), "bad_type", "usageMetadata.candidatesTokenCount"),
    (lambda u: u.pop("promptTokenCount"), "missing_field", "usageMetadata.promptTokenCount"),
    (lambda u: u.update(promptTokensDetails=[{"modality": "AUDIO", "tokenCount": 32}]), "inconsistent_usage",
     "usageMetadata.promptTokensDetails"),
    (lambda u: u.update(candidatesTokensDetails=[{"modality": "IMAGE", "tokenCount": 312}]), "inconsistent_usage",
     "usageMetadata.candidatesTokensDetails"),
    (lambda u: u.update(promptTokensDetails="TEXT"), "bad_type", "usageMetadata.promptTokensDetails"),
])
def test_bad_usage_is_rejected_with_its_path(mutate: Any, code: str, path: str) -> None:
    payload = load("vertex_response.json")
    mutate(payload["usageMetadata"])
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == (code, path)


def test_normalize_many_quarantines_with_the_field_path() -> None:
    out = list(normalize_many([load("gemini_thinking.json"), load("gemini_chunk_no_usage.json")]))
    assert isinstance(out[0], at.UsageRecord)
    assert isinstance(out[1], at.Quarantined)
    assert out[1].code == "missing_usage"
    assert out[1].source is not None
    assert out[1].source.path == "usageMetadata"


def test_unknown_extra_fields_are_ignored() -> None:
    payload = load("gemini_thinking.json")
    payload["usageMetadata"]["someFutureCount"] = 99
    payload["sdkHttpResponse"] = {"headers": {}}
    assert meters(at.normalize(payload)) == {"input": 12, "output": 1261, "reasoning": 1021}


# --- properties -------------------------------------------------------------------

_COUNT = st.integers(min_value=0, max_value=10**7)
_MODALITIES = st.lists(st.fixed_dictionaries({"modality": st.sampled_from(["TEXT", "IMAGE", "AUDIO", "VIDEO"]),
                                              "tokenCount": _COUNT}), max_size=3)
_JUNK = st.one_of(st.integers(min_value=-3, max_value=10**14), st.floats(allow_nan=False),
                  # ASCII only: count() lets "¹" (isdigit, not int-able) through; reported upstream.
                  st.text(alphabet="0123456789 x-.", max_size=3), st.none())


@st.composite
def usage_metadata(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed usageMetadata, sometimes with a junk value."""
    out: dict[str, Any] = {}
    for key in ("promptTokenCount", "cachedContentTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
                "toolUsePromptTokenCount"):
        if draw(st.booleans()) or key == "promptTokenCount":
            out[key] = draw(st.integers(0, 19).flatmap(lambda n: _JUNK if n == 0 else _COUNT))
    for key in ("promptTokensDetails", "cacheTokensDetails", "candidatesTokensDetails", "toolUsePromptTokensDetails"):
        if draw(st.booleans()):
            out[key] = draw(_MODALITIES)
    return out


def _ints(usage: dict[str, Any], key: str) -> int:
    """A count as the normalizer reads it (digit strings and integral floats included)."""
    value = usage.get(key)
    return 0 if value is None else int(value)


@given(usage=usage_metadata(), model=st.sampled_from(["gemini-2.5-flash", "gemini-3-pro-preview"]),
       queries=st.lists(st.text(max_size=4), max_size=3), vertex=st.booleans())
def test_meters_add_up_to_the_reported_totals_or_a_coded_error(usage: dict[str, Any], model: str,
                                                               queries: list[str], vertex: bool) -> None:
    payload: dict[str, Any] = {"usageMetadata": usage, "modelVersion": model,
                               "candidates": [{"finishReason": "STOP",
                                               "groundingMetadata": {"webSearchQueries": queries}}]}
    if vertex:
        payload["createTime"] = "2025-06-02T14:03:11Z"
    rec = attempt(payload)
    if isinstance(rec, str):
        assert rec  # a stable reason code
        return
    u = rec.usage
    assert all(type(getattr(u, m)) is int for m in METERS)
    assert u.prompt_tokens == _ints(usage, "promptTokenCount") + _ints(usage, "toolUsePromptTokenCount")
    assert u.output + u.output_audio + u.output_image == (_ints(usage, "candidatesTokenCount")
                                                          + _ints(usage, "thoughtsTokenCount"))
    assert u.cached_input == _ints(usage, "cachedContentTokenCount")
    assert u.reasoning == _ints(usage, "thoughtsTokenCount")
    assert u.web_search <= max(1, len(queries))
    assert rec.provider == ("vertex" if vertex else "google")


@given(payload=json_values(max_leaves=30))
def test_arbitrary_json_gives_a_record_or_a_coded_error(payload: object) -> None:
    for schema in ("google.generate_content", "vertex.generate_content"):
        wrapped = {"usageMetadata": payload, "candidates": payload, "response": payload}
        for candidate in (payload, wrapped):
            if not isinstance(candidate, dict):
                continue
            rec = attempt(candidate, provider=schema, model="gemini-2.5-flash")
            if isinstance(rec, str):
                assert rec
            else:
                assert all(type(getattr(rec.usage, m)) is int for m in METERS)
