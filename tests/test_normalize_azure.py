"""Azure OpenAI chat completions: OpenAI's usage semantics, Azure's deployment and content-filter fields.

Fixtures are transcribed from Microsoft Learn (see fixtures/azure/README.md).
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
FIXTURES = Path(__file__).parent / "fixtures" / "azure"
OPENAI_FIXTURES = Path(__file__).parent / "fixtures" / "openai"


def load(name: str, where: Path = FIXTURES) -> Any:
    return json.loads((where / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_content_filter_results_identify_an_azure_payload():
    for name in ("chat_o1_preview_reasoning.json", "chat_gpt35_turbo_filtered.json",
                 "chat_stream_filter_only_chunk.json"):
        assert detect_schema(load(name)).id == "azure.chat"


def test_a_plain_openai_payload_is_not_taken_for_azure():
    assert detect_schema(load("chat_completion_reference.json", OPENAI_FIXTURES)).id == "openai.chat"
    assert detect_schema(load("chat_o1_prompt_caching.json")).id == "openai.chat"


def test_o1_reasoning_example_with_the_deployment_name_as_model_hint():
    rec = at.normalize(load("chat_o1_preview_reasoning.json"), model="o1-preview-new", region="eastus2",
                       tags={"team": "platform"})
    assert rec.usage.as_dict() == {"input": 20, "output": 1843, "reasoning": 448}
    assert (rec.provider, rec.model, rec.model_billed) == ("azure", "o1-preview-new", "o1-preview-2024-09-12")
    assert rec.billed_model == "o1-preview-2024-09-12"
    assert (rec.request_id, rec.region, rec.service_tier) == ("chatcmpl-AEj7pKFoiTqDPHuxOcirA9KIvf3yz",
                                                             "eastus2", None)
    assert rec.at == datetime(2024, 10, 4, 20, 23, 37, tzinfo=UTC)
    assert (rec.schema, dict(rec.tags)) == ("azure.chat", {"team": "platform"})


def test_without_a_deployment_hint_the_response_model_is_the_model():
    rec = at.normalize(load("chat_gpt35_turbo_filtered.json"))
    assert rec.usage.as_dict() == {"input": 425, "output": 19}
    assert (rec.model, rec.model_billed, rec.provider) == ("gpt-35-turbo", None, "azure")


def test_prompt_caching_example_needs_provider_azure_and_splits_cached_from_input():
    payload = load("chat_o1_prompt_caching.json")
    rec = at.normalize(payload, provider="azure", model="o1-prod")
    assert rec.usage.as_dict() == {"input": 1566 - 1408, "cached_input": 1408, "output": 1518, "reasoning": 576}
    assert (rec.provider, rec.model, rec.model_billed, rec.schema) == ("azure", "o1-prod", "o1-2024-12-17",
                                                                       "azure.chat")
    assert rec.request_id is None
    # Synonyms of the provider name reach the same schema.
    assert at.normalize(payload, provider="azure_openai").provider == "azure"


def test_first_stream_chunk_holds_only_filter_results_and_no_usage():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("chat_stream_filter_only_chunk.json"))
    assert (err.value.code, err.value.path) == ("missing_usage", "usage")


def test_final_stream_chunk_with_usage_and_provider_azure():
    chunk = {"id": "chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2", "object": "chat.completion.chunk",
             "created": 1699587397, "model": "gpt-35-turbo", "choices": [],
             "usage": {"prompt_tokens": 20, "completion_tokens": 502, "total_tokens": 522}}
    rec = at.normalize(chunk, provider="azure", model="chat-prod")
    assert rec.usage.as_dict() == {"input": 20, "output": 502}
    assert (rec.model, rec.model_billed) == ("chat-prod", "gpt-35-turbo")


counts = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-3, max_value=10**14),
                   st.none(), st.just("7"), st.just(2.5))


@given(prompt=counts, completion=counts, cached=counts, reasoning=counts, filtered=st.booleans())
def test_azure_meters_add_up_to_the_reported_totals_or_fail_with_a_code(prompt, completion, cached, reasoning,
                                                                       filtered):
    payload: dict[str, Any] = {
        "id": "chatcmpl-p", "object": "chat.completion", "created": 1728073417, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "prompt_tokens_details": {"cached_tokens": cached},
                  "completion_tokens_details": {"reasoning_tokens": reasoning}}}
    if filtered:   # detected by Azure's own field; otherwise reachable only with provider="azure"
        payload["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
    try:
        rec = at.normalize(payload, model="deploy-1", provider=None if filtered else "azure")
    except at.NormalizeError as exc:
        if not exc.code:
            pytest.fail(f"NormalizeError without a code: {exc}")
        return
    assert rec.provider == "azure"
    assert all(type(n) is int for _, n in rec.usage.items())
    assert rec.usage.input + rec.usage.cached_input == int(prompt)
    assert rec.usage.output == int(completion)
