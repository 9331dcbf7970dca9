"""DeepSeek chat completions: cache hits and misses are DeepSeek's own fields; reasoning is inside completion.

Fixtures are transcribed from DeepSeek's API reference (see fixtures/deepseek/README.md).
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
from attribution.normalize import detect_schema

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "deepseek"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_cache_hit_and_miss_fields_identify_a_deepseek_payload():
    for name in ("chat_cache_hit_miss.json", "reasoner_cached_schema.json", "stream_final_chunk.json"):
        assert detect_schema(load(name)).id == "deepseek.chat"


def test_misses_are_input_and_hits_are_cached_input():
    rec = at.normalize(load("chat_cache_hit_miss.json"))
    assert rec.usage.as_dict() == {"input": 10, "output": 11}
    assert (rec.provider, rec.model, rec.schema) == ("deepseek", "deepseek-chat", "deepseek.chat")
    assert rec.request_id == "48ad6b6e-b2f7-4059-b9cf-aa5d966f8f22"
    assert rec.at == datetime(2025, 12, 29, 3, 4, 41, tzinfo=UTC)


def test_reasoner_reasoning_tokens_are_inside_completion_tokens():
    rec = at.normalize(load("reasoner_cached_schema.json"))
    assert rec.usage.as_dict() == {"input": 220, "cached_input": 1280, "output": 612, "reasoning": 480}
    assert rec.usage.total_tokens == 2112


def test_openai_style_cached_tokens_beside_hit_and_miss_are_not_counted_twice():
    rec = at.normalize(load("stream_final_chunk.json"), tags={"team": "search"})
    assert rec.usage.as_dict() == {"input": 128, "cached_input": 1920, "output": 256}
    assert dict(rec.tags) == {"team": "search"}


def test_reference_example_without_cache_fields_is_deepseek_by_its_model_and_id_and_is_all_misses():
    payload = load("chat_reference_example.json")
    assert detect_schema(payload).id == "deepseek.chat"   # DeepSeek's own model id and a UUID id (issue 18)
    assert at.normalize(payload).provider == "deepseek"
    rec = at.normalize(payload, provider="deepseek")
    assert rec.usage.as_dict() == {"input": 16, "output": 10}
    assert (rec.provider, rec.model, rec.schema) == ("deepseek", "deepseek-v4-pro", "deepseek.chat")


def test_only_one_cache_field_derives_the_other_from_prompt_tokens():
    payload = load("chat_cache_hit_miss.json")
    payload["usage"] = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64}
    assert at.normalize(payload).usage.as_dict() == {"input": 36, "cached_input": 64, "output": 5}


def test_hit_plus_miss_must_equal_prompt_tokens():
    payload = load("chat_cache_hit_miss.json")
    payload["usage"]["prompt_cache_hit_tokens"] = 5
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == ("inconsistent_usage", "usage.prompt_tokens")


def test_missing_usage_in_a_stream_chunk_is_reported():
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1767225700, "model": "deepseek-chat",
             "choices": [{"index": 0, "delta": {"content": "Hi"}}], "usage": None}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(chunk, provider="deepseek")
    assert (err.value.code, err.value.path) == ("missing_usage", "usage")


counts = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-3, max_value=10**14),
                   st.none(), st.just("7"), st.just(2.5))


@given(hit=counts, miss=counts, completion=counts, reasoning=counts, extra=st.integers(0, 3),
       with_total=st.booleans(), drop=st.sampled_from([(), ("prompt_cache_hit_tokens",),
                                                       ("prompt_cache_hit_tokens", "prompt_cache_miss_tokens")]))
def test_deepseek_meters_add_up_to_the_reported_totals_or_fail_with_a_code(hit, miss, completion, reasoning,
                                                                          extra, with_total, drop):
    try:
        prompt: Any = int(hit or 0) + int(miss or 0) + (extra if extra == 3 else 0)
    except (TypeError, ValueError):
        prompt = hit
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": miss,
                             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    if with_total and isinstance(prompt, int) and isinstance(completion, int) and not isinstance(completion, bool):
        usage["total_tokens"] = prompt + completion
    for key in drop:   # without both cache fields the payload is reachable only with provider="deepseek"
        del usage[key]
    payload = {"id": "d", "object": "chat.completion", "created": 1767225600, "model": "deepseek-reasoner",
               "usage": usage}
    try:
        rec = at.normalize(payload, provider="deepseek" if len(drop) == 2 else None)
    except at.NormalizeError as exc:
        if not exc.code:
            pytest.fail(f"NormalizeError without a code: {exc}")
        return
    assert (rec.provider, rec.schema) == ("deepseek", "deepseek.chat")
    assert all(type(n) is int for _, n in rec.usage.items())
    assert rec.usage.input + rec.usage.cached_input == int(prompt)
    assert rec.usage.output == int(completion)
    assert rec.usage.reasoning <= rec.usage.output
