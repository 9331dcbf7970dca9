"""Mistral chat completions: reachable with provider="mistral"; cached tokens inside prompt tokens.

Fixtures are transcribed from Mistral's API reference and docs (see fixtures/mistral/README.md).
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
FIXTURES = Path(__file__).parent / "fixtures" / "mistral"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def test_mistral_payloads_are_read_as_mistral_only_when_the_caller_says_so():
    payload = load("chat_reference_example.json")
    assert detect_schema(payload).id == "mistral.chat"   # Mistral's id form and model family (issue 18)
    assert detect_schema(payload, "mistralai").id == "mistral.chat"
    other = {**payload, "id": "chatcmpl-1"}   # another id form: Mistral's only when the caller says so
    assert detect_schema(other, "mistral").id == "mistral.chat.hinted"
    with pytest.raises(at.NormalizeError) as err:   # and never labelled OpenAI's
        at.normalize(other)
    assert err.value.code == "unknown_provider"


def test_reference_example():
    rec = at.normalize(load("chat_reference_example.json"), provider="mistral", tags={"feature": "triage"})
    assert rec.usage.as_dict() == {"input": 16, "output": 34}
    assert (rec.provider, rec.model, rec.schema) == ("mistral", "mistral-small-latest", "mistral.chat")
    assert rec.request_id == "cmpl-e5cc70bb28c444948073e77776eb30ef"
    assert rec.at == datetime(2023, 12, 11, 0, 58, 47, tzinfo=UTC)
    assert dict(rec.tags) == {"feature": "triage"}


def test_prompt_cache_hits_are_inside_prompt_tokens():
    rec = at.normalize(load("chat_prompt_cache.json"), provider="mistral")
    assert rec.usage.as_dict() == {"input": 2112 - 1984, "cached_input": 1984, "output": 187}


def test_final_stream_chunk_carries_usage():
    rec = at.normalize(load("stream_final_chunk.json"), provider="mistral")
    assert rec.usage.as_dict() == {"input": 14, "output": 93}


def test_audio_input_seconds_are_refused_rather_than_priced_without_them():
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("voxtral_audio_input.json"), provider="mistral")
    assert (err.value.code, err.value.path) == ("unsupported_usage", "usage.prompt_audio_seconds")


def test_missing_usage_is_reported_with_its_path():
    payload = load("chat_reference_example.json")
    del payload["usage"]
    out = list(at.normalize_many([payload], provider="mistral"))
    assert [(q.code, q.source.path if q.source else None) for q in out] == [("missing_usage", "usage")]


counts = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-3, max_value=10**14),
                   st.none(), st.just("7"), st.just(2.5))


@given(prompt=counts, completion=counts, cached=counts, audio=st.sampled_from([None, 0, 3, "x"]),
       with_total=st.booleans())
def test_mistral_meters_add_up_to_the_reported_totals_or_fail_with_a_code(prompt, completion, cached, audio,
                                                                         with_total):
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "prompt_tokens_details": {"cached_tokens": cached}, "prompt_audio_seconds": audio}
    if with_total and all(isinstance(v, int) and not isinstance(v, bool) for v in (prompt, completion)):
        usage["total_tokens"] = prompt + completion
    payload = {"id": "m", "object": "chat.completion", "created": 1702256327, "model": "mistral-large-latest",
               "usage": usage}
    try:
        rec = at.normalize(payload, provider="mistral")
    except at.NormalizeError as exc:
        if not exc.code:
            pytest.fail(f"NormalizeError without a code: {exc}")
        return
    assert all(type(n) is int for _, n in rec.usage.items())
    assert rec.usage.input + rec.usage.cached_input == int(prompt)
    assert rec.usage.output == int(completion)
