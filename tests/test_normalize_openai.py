"""OpenAI normalizers: Chat Completions, Responses, Embeddings, Batch output lines, Usage API buckets.

Fixtures are transcribed from OpenAI's API reference and guides (see
fixtures/openai/README.md). Every test states the meters it expects: OpenAI's
counts are inclusive (cached inside input, reasoning inside output) and the
records' meters must be disjoint.
"""

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
from attribution.normalize import Raw, detect_schema
from attribution.normalize.openai import is_usage_report, split_output
from strategies import payload_like

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "openai"
METER_NAMES = at.METERS


def load(name: str) -> Any:
    """A fixture as the library's JSON readers parse it (numbers with a fraction as Decimal)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def lines(name: str) -> list[Any]:
    return [json.loads(line, parse_float=Decimal) for line in (FIXTURES / name).read_text().splitlines() if line]


def meters(rec: at.UsageRecord) -> dict[str, int]:
    return rec.usage.as_dict()


def code_of(excinfo: pytest.ExceptionInfo[at.NormalizeError]) -> tuple[str, str | None]:
    return excinfo.value.code, excinfo.value.path


# --- detection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "schema"), [
    ("chat_completion_reference.json", "openai.chat"),
    ("chat_completion_o3_cached_reasoning.json", "openai.chat"),
    ("chat_completion_chunk_final_usage.json", "openai.chat"),
    ("responses_text.json", "openai.responses"),
    ("responses_web_search.json", "openai.responses"),
    ("responses_reasoning.json", "openai.responses"),
    ("responses_stream_completed.json", "openai.responses"),
    ("responses_stream_failed.json", "openai.responses"),
    ("embeddings.json", "openai.embeddings"),
    ("embeddings_guide.json", "openai.embeddings"),
    ("usage_completions_page.json", "openai.usage"),
    ("usage_completions_bucket.json", "openai.usage"),
])
def test_each_documented_shape_is_detected_as_its_openai_schema_without_a_provider(name, schema):
    assert detect_schema(load(name)).id == schema


def test_batch_output_and_error_lines_are_detected_as_batch_lines():
    for line in lines("batch_output.jsonl") + lines("batch_error_lines.jsonl"):
        assert detect_schema(line).id == "openai.batch"


def test_a_costs_page_is_not_mistaken_for_a_usage_report():
    costs = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
                                         "results": [{"object": "organization.costs.result",
                                                      "amount": {"value": 0.06, "currency": "usd"},
                                                      "line_item": None, "project_id": None}]}]}
    assert not is_usage_report(costs)


# --- Chat Completions --------------------------------------------------------------------------------


def test_chat_completion_reference_example():
    rec = at.normalize(load("chat_completion_reference.json"))
    assert meters(rec) == {"input": 1117, "output": 46}
    assert (rec.provider, rec.model, rec.model_billed) == ("openai", "gpt-4o-2024-08-06", None)
    assert rec.request_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert rec.at == datetime(2025, 3, 10, 1, 31, 23, tzinfo=UTC)
    assert (rec.service_tier, rec.schema, rec.requests, rec.outcome) == ("default", "openai.chat", 1, "ok")


def test_chat_prompt_tokens_include_cached_and_completion_includes_reasoning():
    rec = at.normalize(load("chat_completion_o3_cached_reasoning.json"))
    assert meters(rec) == {"input": 13824 - 12288, "cached_input": 12288, "output": 1845, "reasoning": 1472}
    assert rec.usage.prompt_tokens == 13824


def test_chat_stream_final_chunk_carries_the_whole_usage_and_model_hint_keeps_the_snapshot_as_billed():
    rec = at.normalize(load("chat_completion_chunk_final_usage.json"), model="gpt-4o-mini")
    assert meters(rec) == {"input": 2406 - 1152, "cached_input": 1152, "output": 312}
    assert (rec.model, rec.model_billed) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")


def test_chat_chunk_without_usage_is_missing_usage_not_zero():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("chat_completion_chunk_content_no_usage.json"))
    assert code_of(err) == ("missing_usage", "usage")


# --- Responses ---------------------------------------------------------------------------------------


def test_responses_reference_example():
    rec = at.normalize(load("responses_text.json"))
    assert meters(rec) == {"input": 36, "output": 87}
    assert (rec.model, rec.request_id) == ("gpt-4.1-2025-04-14", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b")
    assert rec.at == datetime(2025, 3, 8, 23, 29, 2, tzinfo=UTC)
    assert (rec.schema, rec.outcome, rec.service_tier) == ("openai.responses", "ok", None)
    assert dict(rec.tags) == {}


def test_responses_web_search_call_items_count_as_web_search_calls():
    rec = at.normalize(load("responses_web_search.json"))
    assert meters(rec) == {"input": 328, "output": 356, "web_search": 1}


def test_responses_reasoning_tokens_are_inside_output_tokens():
    rec = at.normalize(load("responses_reasoning.json"))
    assert meters(rec) == {"input": 81, "output": 1035, "reasoning": 832}
    assert rec.model == "o1-2024-12-17"


def test_responses_cached_tokens_are_inside_input_tokens_and_metadata_becomes_tags():
    payload = load("responses_text.json")
    payload["usage"]["input_tokens_details"]["cached_tokens"] = 20
    payload["metadata"] = {"team": "search", "feature_id": "autocomplete"}
    payload["user"] = "user_8675309"
    payload["service_tier"] = "flex"
    rec = at.normalize(payload, tags={"tenant": "t_acme"})
    assert meters(rec) == {"input": 16, "cached_input": 20, "output": 87}
    assert dict(rec.tags) == {"team": "search", "feature": "autocomplete", "user": "user_8675309",
                              "tenant": "t_acme"}
    assert rec.service_tier == "flex"


def test_responses_stream_completed_event_carries_the_final_response():
    rec = at.normalize(load("responses_stream_completed.json"))
    assert meters(rec) == {"input": 37, "output": 11}
    assert rec.request_id == "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
    assert rec.at == datetime(2025, 3, 6, 19, 55, 58, tzinfo=UTC)


def test_responses_failed_event_without_usage_is_missing_usage():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("responses_stream_failed.json"))
    assert code_of(err) == ("missing_usage", "response.usage")


def test_responses_failed_or_cancelled_with_usage_is_billed_with_its_outcome():
    failed = load("responses_text.json") | {"status": "failed"}
    cancelled = load("responses_text.json") | {"status": "cancelled"}
    incomplete = load("responses_text.json") | {"status": "incomplete",
                                                  "incomplete_details": {"reason": "max_output_tokens"}}
    assert [at.normalize(p).outcome for p in (failed, cancelled, incomplete)] == ["error", "cancelled", "ok"]
    assert meters(at.normalize(failed)) == {"input": 36, "output": 87}


def test_responses_cached_above_input_is_inconsistent():
    payload = load("responses_text.json")
    payload["usage"]["input_tokens_details"]["cached_tokens"] = 37
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert code_of(err) == ("inconsistent_usage", "usage.input_tokens")


# --- Embeddings --------------------------------------------------------------------------------------


def test_embeddings_prompt_tokens_are_uncached_input_and_hints_fill_id_and_time():
    at_ = datetime(2025, 6, 1, 12, tzinfo=UTC)
    rec = at.normalize(load("embeddings.json"), provider="openai", at=at_, request_id="req_abc",
                       tags={"team": "search"})
    assert meters(rec) == {"input": 8}
    assert (rec.model, rec.at, rec.request_id, rec.schema) == ("text-embedding-ada-002", at_, "req_abc",
                                                               "openai.embeddings")
    assert dict(rec.tags) == {"team": "search"}


def test_embeddings_need_a_provider_hint_since_openai_and_azure_bodies_are_identical():
    with pytest.raises(at.NormalizeError) as err:   # issue 18: never claim OpenAI without evidence
        at.normalize(load("embeddings.json"))
    assert code_of(err) == ("unknown_provider", "model")
    assert at.normalize(load("embeddings.json"), provider="azure").provider == "azure"


def test_embeddings_guide_example():
    rec = at.normalize(load("embeddings_guide.json"), provider="openai")
    assert meters(rec) == {"input": 5}
    assert (rec.at, rec.request_id) == (None, None)


def test_embeddings_without_usage_or_with_output_tokens_are_rejected():
    payload = load("embeddings.json")
    with pytest.raises(at.NormalizeError) as err:
        at.normalize({k: v for k, v in payload.items() if k != "usage"}, provider="openai.embeddings")
    assert code_of(err) == ("missing_usage", "usage")
    payload["usage"]["total_tokens"] = 9
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload, provider="openai")
    assert code_of(err) == ("inconsistent_usage", "usage.total_tokens")


# --- Batch API output lines --------------------------------------------------------------------------


def test_batch_output_lines_are_their_bodies_at_the_batch_tier():
    recs = [at.normalize(line) for line in lines("batch_output.jsonl")]
    assert [meters(r) for r in recs] == [{"input": 22, "output": 2}, {"input": 20, "output": 9},
                                         {"input": 24, "output": 15}]
    assert [r.service_tier for r in recs] == ["batch"] * 3
    assert [r.request_id for r in recs] == ["chatcmpl-123", "chatcmpl-abc", "chatcmpl-9758Iw"]
    assert [r.tags["custom_id"] for r in recs] == ["request-2", "request-1", "request-2"]
    assert recs[0].at == datetime(2024, 3, 28, 19, 6, 35, tzinfo=UTC)
    assert {(r.provider, r.schema, r.outcome) for r in recs} == {("openai", "openai.chat", "ok")}


def test_batch_error_lines_carry_no_usage_and_are_quarantined_with_the_error():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(lines("batch_error_lines.jsonl")[0])
    assert code_of(err) == ("missing_usage", "error")
    assert "batch_expired" in err.value.message
    out = list(at.normalize_many(Raw(line, at.SourceLocation(file="batch_errors.jsonl", line=i + 1))
                                 for i, line in enumerate(lines("batch_error_lines.jsonl"))))
    assert [(q.code, str(q.source)) for q in out] == [("missing_usage", "batch_errors.jsonl:1: error"),
                                                      ("missing_usage", "batch_errors.jsonl:2: error")]


def test_batch_line_with_a_responses_body():
    line = {"id": "batch_req_r1", "custom_id": "eval-17",
            "response": {"status_code": 200, "request_id": "req_r1", "body": load("responses_reasoning.json")},
            "error": None}
    rec = at.normalize(line)
    assert meters(rec) == {"input": 81, "output": 1035, "reasoning": 832}
    assert (rec.schema, rec.service_tier, rec.request_id) == ("openai.responses", "batch",
                                                              "resp_67ccd7eca01881908ff0b5146584e408072912b2993db808")


def test_batch_line_with_an_embeddings_body_takes_the_request_id_of_the_line():
    line = {"id": "batch_req_e1", "custom_id": "doc-42",
            "response": {"status_code": 200, "request_id": "req_e1", "body": load("embeddings.json")}, "error": None}
    rec = at.normalize(line, at=datetime(2024, 3, 28, tzinfo=UTC))
    assert meters(rec) == {"input": 8}
    assert (rec.schema, rec.service_tier, rec.request_id) == ("openai.embeddings", "batch", "req_e1")


def test_batch_line_with_an_http_error_body_and_no_usage_is_missing_usage():
    line = {"id": "batch_req_x", "custom_id": "request-9",
            "response": {"status_code": 400, "request_id": "req_x",
                         "body": {"error": {"message": "Invalid model", "type": "invalid_request_error",
                                            "code": "model_not_found"}}},
            "error": None}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(line)
    assert code_of(err) == ("missing_usage", "response.body.usage")
    assert "model_not_found" in err.value.message


def test_batch_line_with_an_error_status_but_usage_is_billed_as_an_error_outcome():
    line = lines("batch_output.jsonl")[0]
    line["response"]["status_code"] = 500
    rec = at.normalize(line)
    assert (rec.outcome, meters(rec)) == ("error", {"input": 22, "output": 2})


def test_batch_line_with_an_unknown_body_is_rejected():
    line = {"id": "batch_req_m", "custom_id": "mod-1",
            "response": {"status_code": 200, "request_id": "req_m",
                         "body": {"id": "modr-1", "model": "omni-moderation-latest", "results": [],
                                  "usage": {"prompt_tokens": 3}}}, "error": None}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(line)
    assert code_of(err) == ("unknown_schema", "response.body.object")


# --- Usage API buckets -------------------------------------------------------------------------------


def test_usage_result_object_example_splits_text_cached_and_audio():
    (rec,) = list(at.normalize_many([load("usage_completions_bucket.json")]))
    assert isinstance(rec, at.UsageRecord)
    assert meters(rec) == {"input": 1000, "cached_input": 4000, "input_audio": 300, "output": 1000,
                           "output_audio": 200}
    assert (rec.model, rec.requests, rec.service_tier, rec.schema) == ("gpt-4o-mini-2024-07-18", 5, None,
                                                                       "openai.usage")
    assert rec.at == datetime(2024, 11, 1, tzinfo=UTC)
    assert dict(rec.tags) == {"project": "proj_abc", "user": "user-abc", "api_key": "key_abc"}
    assert rec.request_id is None


def test_usage_page_without_group_by_model_needs_a_model_hint():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("usage_completions_page.json"))
    assert code_of(err) == ("missing_field", "data[0].results[0].model")
    rec = at.normalize(load("usage_completions_page.json"), model="gpt-4o-mini")
    assert meters(rec) == {"input": 200, "cached_input": 800, "output": 500}
    assert (rec.requests, rec.at, rec.service_tier) == (5, datetime(2024, 11, 1, tzinfo=UTC), None)
    assert dict(rec.tags) == {}


def test_usage_batch_results_are_the_batch_tier_and_every_bucket_of_a_page_is_read():
    bucket = load("usage_completions_bucket.json")
    batch = bucket["results"][0] | {"batch": True, "num_model_requests": 2}
    day2 = bucket | {"start_time": 1730505600, "end_time": 1730592000, "results": [batch]}
    page = {"object": "page", "data": [bucket, day2], "has_more": False, "next_page": None}
    recs = list(at.normalize_many([page]))
    assert [(r.service_tier, r.requests, r.at.day) for r in recs] == [(None, 5, 1), ("batch", 2, 2)]


def test_usage_newer_per_modality_result_counts_every_modality_in_input_tokens():
    # Fields and semantics from the Usage API "Completions usage object" (per-modality breakdown):
    # input_tokens and input_cached_tokens span text, audio and image; output_tokens spans all outputs.
    result = {"object": "organization.usage.completions.result", "input_tokens": 5300,
              "input_cached_tokens": 4100, "input_uncached_tokens": 1200, "input_text_tokens": 5000,
              "input_cached_text_tokens": 4000, "input_audio_tokens": 300, "input_cached_audio_tokens": 100,
              "input_image_tokens": 0, "input_cached_image_tokens": 0, "output_tokens": 1200,
              "output_text_tokens": 1000, "output_audio_tokens": 200, "output_image_tokens": 0,
              "num_model_requests": 7, "model": "gpt-realtime-2025-08-28", "batch": None,
              "service_tier": "default", "project_id": "proj_voice"}
    rec = at.normalize({"object": "bucket", "start_time": 1730419200, "end_time": 1730505600, "results": [result]})
    assert meters(rec) == {"input": 1000, "cached_input": 4100, "input_audio": 200, "output": 1000,
                           "output_audio": 200}
    assert rec.usage.prompt_tokens == 5300
    assert (rec.service_tier, rec.tags["project"]) == ("default", "proj_voice")


def test_usage_newer_result_whose_modalities_do_not_add_up_is_rejected():
    result = {"object": "organization.usage.completions.result", "input_tokens": 5000, "input_text_tokens": 4000,
              "input_audio_tokens": 300, "output_tokens": 10, "num_model_requests": 1, "model": "gpt-4o"}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize({"object": "bucket", "start_time": 1730419200, "results": [result]})
    assert code_of(err) == ("inconsistent_usage", "results[0].input_tokens")


def test_usage_embeddings_results_are_read_and_other_result_kinds_are_refused():
    emb = {"object": "organization.usage.embeddings.result", "input_tokens": 16000, "num_model_requests": 2,
           "model": "text-embedding-3-small", "project_id": "proj_rag", "user_id": None, "api_key_id": None}
    rec = at.normalize({"object": "bucket", "start_time": 1730419200, "end_time": 1730505600, "results": [emb]})
    assert (meters(rec), rec.requests, dict(rec.tags)) == ({"input": 16000}, 2, {"project": "proj_rag"})
    images = {"object": "organization.usage.images.result", "images": 2, "num_model_requests": 2,
              "model": "dall-e-3"}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize({"object": "bucket", "start_time": 1730419200, "results": [images]})
    assert code_of(err) == ("unsupported_result", "results[0].object")


def test_an_empty_usage_report_is_reported_not_dropped():
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
                                        "results": []}], "has_more": False, "next_page": None}
    out = list(at.normalize_many([page]))
    assert [(q.code, q.source.path if q.source else None) for q in out] == [("empty_usage", "data")]


# --- split_output ------------------------------------------------------------------------------------


def test_split_output_rejects_a_total_that_fits_neither_convention():
    with pytest.raises(at.NormalizeError) as err:
        split_output(10, 5, prompt=3, total=99, reasoning_inside=True, path="usage")
    assert code_of(err) == ("inconsistent_usage", "usage.total_tokens")


# --- properties --------------------------------------------------------------------------------------

#: Counts as providers send them, plus the junk a log may hold.
raw_counts = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-5, max_value=10**14),
                       st.none(), st.just("12"), st.just(1.5), st.booleans())


def _assert_ints(rec: at.UsageRecord) -> None:
    for m in METER_NAMES:
        assert type(getattr(rec.usage, m)) is int


def _plain(value: Any) -> int | None:
    """What a count field means when it is well-formed (absent is 0), else None."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return int(value)


def record_or_none(payload: Any, **hints: Any) -> at.UsageRecord | None:
    """The record, or None when normalization failed the allowed way (a NormalizeError with a code)."""
    try:
        return at.normalize(payload, **hints)
    except at.NormalizeError as exc:
        if not exc.code:
            pytest.fail(f"NormalizeError without a code: {exc}")
        return None


@given(prompt=raw_counts, completion=raw_counts, cached=raw_counts, audio_in=raw_counts, reasoning=raw_counts,
       audio_out=raw_counts)
def test_chat_meters_add_up_to_the_reported_totals_or_fail_with_a_code(prompt, completion, cached, audio_in,
                                                                      reasoning, audio_out):
    payload = {"id": "chatcmpl-p", "object": "chat.completion", "created": 1741570283, "model": "gpt-4o",
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                         "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio_in},
                         "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio_out}}}
    rec = record_or_none(payload)
    if rec is None:
        return
    _assert_ints(rec)
    u = rec.usage
    assert u.input + u.cached_input + u.input_audio == int(prompt)
    assert u.output + u.output_audio == int(completion)


@given(inp=raw_counts, out=raw_counts, cached=raw_counts, reasoning=raw_counts,
       items=st.lists(st.sampled_from(["web_search_call", "message", "reasoning", "file_search_call"]), max_size=5),
       event=st.booleans())
def test_responses_meters_add_up_to_the_reported_totals_or_fail_with_a_code(inp, out, cached, reasoning, items,
                                                                           event):
    response = {"id": "resp_p", "object": "response", "created_at": 1741476542, "model": "gpt-4.1",
                "status": "completed", "output": [{"type": t, "id": f"x{i}"} for i, t in enumerate(items)],
                "usage": {"input_tokens": inp, "output_tokens": out,
                          "input_tokens_details": {"cached_tokens": cached},
                          "output_tokens_details": {"reasoning_tokens": reasoning}}}
    payload = {"type": "response.completed", "response": response, "sequence_number": 9} if event else response
    rec = record_or_none(payload)
    if rec is None:
        return
    _assert_ints(rec)
    assert rec.usage.input + rec.usage.cached_input == int(inp)
    assert rec.usage.output == int(out)
    assert rec.usage.web_search == items.count("web_search_call")


@given(prompt=raw_counts, total=raw_counts, items=st.integers(0, 3))
def test_embeddings_meters_add_up_to_the_reported_totals_or_fail_with_a_code(prompt, total, items):
    payload = {"object": "list", "model": "text-embedding-3-small",
               "data": [{"object": "embedding", "index": i, "embedding": [0.1, -0.2]} for i in range(items)],
               "usage": {"prompt_tokens": prompt, "total_tokens": total}}
    rec = record_or_none(payload, provider="openai")
    if rec is None:
        return
    _assert_ints(rec)
    assert rec.usage.as_dict() == ({"input": int(prompt)} if int(prompt) else {})
    assert total is None or int(total) == int(prompt)


@given(prompt=raw_counts, completion=raw_counts, status=st.sampled_from([200, 200, 400, 500, None]),
       error=st.sampled_from([None, {"code": "request_timeout", "message": "timed out"}]),
       body_kind=st.sampled_from(["chat.completion", "list", "response", "thing"]))
def test_batch_lines_are_batch_tier_records_adding_up_or_fail_with_a_code(prompt, completion, status, error,
                                                                         body_kind):
    if body_kind == "response":
        body: dict[str, Any] = {"id": "resp_b", "object": "response", "created_at": 1, "model": "gpt-4.1",
                                "output": [], "usage": {"input_tokens": prompt, "output_tokens": completion}}
    else:
        body = {"id": "b", "object": body_kind, "created": 1711652795, "model": "gpt-4o-mini", "data": [],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt}}
    line = {"id": "batch_req_p", "custom_id": "c", "response": {"status_code": status, "request_id": "req_p",
                                                                "body": body}, "error": error}
    rec = record_or_none(line)
    if rec is None:
        return
    _assert_ints(rec)
    assert rec.service_tier == "batch"
    assert rec.usage.prompt_tokens == int(prompt)
    assert rec.outcome == ("ok" if error is None and status in (200, None) else "error")


@given(inp=raw_counts, out=raw_counts, cached=raw_counts, audio_in=raw_counts, audio_out=raw_counts,
       requests=raw_counts, newer=st.booleans(), batch=st.sampled_from([None, True, False, "yes"]))
def test_usage_buckets_add_up_to_the_reported_totals_or_fail_with_a_code(inp, out, cached, audio_in, audio_out,
                                                                        requests, newer, batch):
    result: dict[str, Any] = {"object": "organization.usage.completions.result", "input_tokens": inp,
                              "output_tokens": out, "input_cached_tokens": cached, "input_audio_tokens": audio_in,
                              "output_audio_tokens": audio_out, "num_model_requests": requests,
                              "model": "gpt-4o", "batch": batch}
    newer = newer and _plain(inp) is not None and _plain(cached) is not None
    if newer:
        result["input_uncached_tokens"] = _plain(inp) - _plain(cached)  # type: ignore[operator]
    rec = record_or_none({"object": "bucket", "start_time": 1730419200, "results": [result]})
    if rec is None:
        return
    _assert_ints(rec)
    prompt_total = int(inp) if newer else int(inp) + int(audio_in or 0)
    assert rec.usage.prompt_tokens == prompt_total
    assert rec.usage.output + rec.usage.output_audio + rec.usage.output_image == (
        int(out) if newer else int(out) + int(audio_out or 0))
    assert rec.requests == int(requests)
    assert rec.service_tier == ("batch" if batch else None)


@given(payload=payload_like(), schema=st.sampled_from(["openai.chat", "openai.responses", "openai.embeddings",
                                                        "openai.batch", "openai.usage"]))
def test_any_payload_given_to_an_openai_schema_normalizes_or_fails_with_a_code(payload, schema):
    try:
        recs = list(at.normalize_many([payload], provider=schema))
    except at.AttributionError as exc:  # pragma: no cover - normalize_many must not raise
        pytest.fail(f"normalize_many raised {exc!r}")
    assert recs
    for item in recs:
        if isinstance(item, at.Quarantined):
            assert item.code, item
            assert item.code != "unreadable", item
        else:
            _assert_ints(item)
