"""xAI chat completions: reasoning beside completion tokens, Live Search sources as web_search.

Fixtures are transcribed from xAI's docs (see fixtures/xai/README.md).
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
FIXTURES = Path(__file__).parent / "fixtures" / "xai"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_num_sources_used_identifies_an_xai_payload():
    assert detect_schema(load("deferred_completion_reasoning.json")).id == "xai.chat"
    assert detect_schema(load("chat_live_search.json")).id == "xai.chat"
    # Without an xAI-only field the shape is OpenAI's: provider="xai" is needed.
    assert detect_schema(load("chat_prompt_caching.json")).id == "openai.chat"


def test_reasoning_tokens_are_billed_as_output_beside_completion_tokens():
    rec = at.normalize(load("deferred_completion_reasoning.json"))
    # prompt 26 (4 cached) + completion 168 + reasoning 304 = total 498
    assert rec.usage.as_dict() == {"input": 22, "cached_input": 4, "output": 472, "reasoning": 304}
    assert rec.usage.total_tokens == 498
    assert (rec.provider, rec.model, rec.schema) == ("xai", "grok-4-1-fast-reasoning", "xai.chat")
    assert rec.request_id == "3f4ddfca-b997-3bd4-80d4-8112278a1508"
    assert rec.at == datetime(2025, 7, 9, 16, 10, tzinfo=UTC)
    assert rec.estimate is None


def test_prompt_caching_example_with_provider_xai():
    rec = at.normalize(load("chat_prompt_caching.json"), provider="xai", tags={"team": "growth"})
    assert rec.usage.as_dict() == {"input": 27, "cached_input": 98, "output": 48}
    assert (rec.provider, rec.schema, dict(rec.tags)) == ("xai", "xai.chat", {"team": "growth"})


def test_live_search_sources_are_the_web_search_meter():
    rec = at.normalize(load("chat_live_search.json"))
    assert rec.usage.as_dict() == {"input": 3812, "output": 412, "web_search": 3}


def test_a_payload_following_openais_convention_is_read_by_its_total():
    payload = load("deferred_completion_reasoning.json")
    payload["usage"]["completion_tokens"] = 472   # reasoning inside, total = prompt + completion
    rec = at.normalize(payload)
    assert rec.usage.as_dict() == {"input": 22, "cached_input": 4, "output": 472, "reasoning": 304}


def test_cost_in_usd_ticks_is_xais_own_cost_kept_as_the_estimate():
    # Usage shape from xAI's docs; the counts and ticks are those quoted in Wei-Shaw/sub2api#5771,
    # where 232,856,000 ticks matched the cost of 10,120 prompt (128 cached) + 1,499 + 2,809 reasoning tokens.
    payload = load("deferred_completion_reasoning.json")
    payload["model"] = "grok-4.20"
    payload["usage"] = {"prompt_tokens": 10120, "completion_tokens": 1499, "total_tokens": 14428,
                        "prompt_tokens_details": {"cached_tokens": 128},
                        "completion_tokens_details": {"reasoning_tokens": 2809},
                        "cost_in_usd_ticks": 232856000}
    rec = at.normalize(payload)
    assert rec.usage.as_dict() == {"input": 9992, "cached_input": 128, "output": 4308, "reasoning": 2809}
    assert rec.estimate == Decimal("0.0232856")
    assert isinstance(rec.estimate, Decimal)


def test_server_side_tool_calls_are_refused_rather_than_priced_without_them():
    payload = load("chat_live_search.json")
    payload["usage"]["num_server_side_tools_used"] = 2
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == ("unsupported_usage", "usage.num_server_side_tools_used")


def test_a_total_that_fits_neither_convention_is_rejected():
    payload = load("deferred_completion_reasoning.json")
    payload["usage"]["total_tokens"] = 500
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload)
    assert (err.value.code, err.value.path) == ("inconsistent_usage", "usage.total_tokens")


counts = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-3, max_value=10**14),
                   st.none(), st.just("7"), st.just(2.5))


@given(prompt=counts, completion=counts, cached=counts, reasoning=counts, sources=counts,
       total=st.sampled_from(["beside", "inside", "none", "junk"]), marked=st.booleans())
def test_xai_meters_add_up_to_the_reported_totals_or_fail_with_a_code(prompt, completion, cached, reasoning,
                                                                     sources, total, marked):
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "prompt_tokens_details": {"cached_tokens": cached},
                             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    if marked:   # xAI's own field identifies the payload; otherwise provider="xai" is needed
        usage["num_sources_used"] = sources
    plain = all(isinstance(v, int) and not isinstance(v, bool) for v in (prompt, completion, reasoning))
    if plain and total == "beside":
        usage["total_tokens"] = prompt + completion + reasoning
    elif plain and total == "inside":
        usage["total_tokens"] = prompt + completion
    elif total == "junk":
        usage["total_tokens"] = 3
    payload = {"id": "x", "object": "chat.completion", "created": 1752077400, "model": "grok-4", "usage": usage}
    try:
        rec = at.normalize(payload, provider=None if marked else "xai")
    except at.NormalizeError as exc:
        if not exc.code:
            pytest.fail(f"NormalizeError without a code: {exc}")
        return
    assert (rec.provider, rec.schema) == ("xai", "xai.chat")
    assert all(type(n) is int for _, n in rec.usage.items())
    assert rec.usage.input + rec.usage.cached_input == int(prompt)
    reported = usage.get("total_tokens")
    if reported is not None:
        assert rec.usage.total_tokens == reported
    else:   # xAI's documented convention: reasoning beside completion
        assert rec.usage.output == int(completion) + int(reasoning or 0)
    assert rec.usage.web_search == (int(sources or 0) if marked else 0)
