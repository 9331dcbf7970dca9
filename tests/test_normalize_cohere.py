"""Cohere v2 chat responses -> disjoint meters, priced from billed_units."""

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

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"
UTC = timezone.utc
MODEL = "command-a-03-2025"


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


def test_billed_units_not_processed_tokens_are_priced() -> None:
    payload = load("chat_v2_usage.json")
    assert detect_schema(payload).id == "cohere.chat"
    when = datetime(2025, 5, 1, 9, tzinfo=UTC)
    rec = at.normalize(payload, model="command-r-plus-08-2024", at=when, tags={"team": "support"})
    assert (rec.provider, rec.model, rec.schema) == ("cohere", "command-r-plus-08-2024", "cohere.chat")
    assert meters(rec) == {"input": 21, "output": 93}  # usage.tokens says 186 in: template tokens are not billed
    assert rec.request_id == "2b1de636-9884-4973-ba11-108f95a2d37f"
    assert (rec.at, rec.outcome, dict(rec.tags)) == (when, "ok", {"team": "support"})


def test_response_has_no_model_id_so_model_is_required() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("chat_v2_usage.json"))
    assert (err.value.code, err.value.path) == ("missing_field", "model")


def test_docs_sample_with_meta_block() -> None:
    rec = at.normalize(load("chat_v2_docs_meta.json"), model=MODEL)
    assert meters(rec) == {"input": 17, "output": 12}
    assert rec.request_id == "5a50480a-cf52-46f0-af01-53d18539bd31"


def test_cached_tokens_are_informational() -> None:
    rec = at.normalize(load("chat_v2_cached_tool_call.json"), model=MODEL)
    assert meters(rec) == {"input": 1432, "output": 41}
    assert rec.outcome == "ok"  # TOOL_CALL is a normal finish


def test_streamed_message_end_event() -> None:
    event = load("message_end_event.json")
    assert detect_schema(event).id == "cohere.chat"
    rec = at.normalize(event, model=MODEL, request_id="c14c80c3-18eb-4519-9460-6c92edd8cfb4")
    assert meters(rec) == {"input": 9, "output": 274}
    assert rec.request_id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"


def test_error_finish_keeps_its_usage() -> None:
    rec = at.normalize(load("chat_v2_error.json"), model=MODEL)
    assert rec.outcome == "error"
    assert meters(rec) == {"input": 310, "output": 3}


def test_missing_usage_is_not_zero() -> None:
    payload = load("chat_v2_no_usage.json")
    assert detect_schema(payload, "cohere").id == "cohere.chat"
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload, model=MODEL)
    assert (err.value.code, err.value.path) == ("missing_usage", "usage")


def test_usage_without_billed_units_is_not_priced_from_tokens() -> None:
    payload = load("chat_v2_usage.json")
    del payload["usage"]["billed_units"]
    payload["usage"]["billed_units"] = None
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload, provider="cohere", model=MODEL)
    assert (err.value.code, err.value.path) == ("missing_usage", "usage.billed_units")


def test_billed_search_units_have_no_meter() -> None:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(load("chat_v2_search_units.json"), model=MODEL)
    assert (err.value.code, err.value.path) == ("unsupported_usage", "usage.billed_units.search_units")


def test_openai_and_anthropic_payloads_are_not_taken() -> None:
    chat = {"object": "chat.completion", "model": "gpt-4o", "choices": [{"finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    message = {"type": "message", "id": "msg_1", "model": "claude-sonnet-4-20250514",
               "usage": {"input_tokens": 5, "output_tokens": 1}}
    assert detect_schema(chat).id == "openai.chat"
    assert detect_schema(message).id == "anthropic.messages"


def test_normalize_many_quarantines_with_the_field_path() -> None:
    out = list(normalize_many([load("chat_v2_usage.json"), load("chat_v2_search_units.json")], model=MODEL))
    assert isinstance(out[0], at.UsageRecord)
    assert isinstance(out[1], at.Quarantined)
    assert out[1].code == "unsupported_usage"
    assert out[1].source is not None
    assert out[1].source.path == "usage.billed_units.search_units"


_COUNT = st.integers(min_value=0, max_value=10**7)
# ASCII only: count() lets "¹" (isdigit, not int-able) through; reported upstream.
_JUNK = st.one_of(st.integers(min_value=-3, max_value=10**14), st.floats(allow_nan=False),
                  st.text(alphabet="0123456789 x-.", max_size=3), st.none())
_VALUE = st.integers(0, 19).flatmap(lambda n: _JUNK if n == 0 else _COUNT)


@given(billed=st.fixed_dictionaries({}, optional={"input_tokens": _VALUE, "output_tokens": _VALUE,
                                                  "search_units": st.sampled_from([0, 0, 1]),
                                                  "classifications": st.sampled_from([0, 0, 2])}),
       tokens=st.fixed_dictionaries({"input_tokens": _COUNT, "output_tokens": _COUNT}),
       stream=st.booleans(), key=st.sampled_from(["usage", "meta"]))
def test_meters_equal_billed_units_or_a_coded_error(billed: dict[str, Any], tokens: dict[str, Any], stream: bool,
                                                    key: str) -> None:
    usage = {"billed_units": billed, "tokens": tokens}
    payload: dict[str, Any] = {"id": "x", "finish_reason": "COMPLETE", "message": {"role": "assistant"}, key: usage}
    if stream:
        payload = {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}}
    rec = attempt(payload, model=MODEL)
    if isinstance(rec, str):
        assert rec  # a stable reason code
        return
    assert all(type(getattr(rec.usage, m)) is int for m in METERS)
    assert rec.usage.input == int(billed["input_tokens"])
    assert rec.usage.output == int(billed["output_tokens"])
    assert rec.usage.total_tokens == rec.usage.input + rec.usage.output


@given(payload=json_values(max_leaves=30))
def test_arbitrary_json_gives_a_record_or_a_coded_error(payload: object) -> None:
    wrapped = {"usage": payload, "finish_reason": "COMPLETE", "message": payload}
    event = {"type": "message-end", "delta": payload}
    for candidate in (payload, wrapped, event):
        if not isinstance(candidate, dict):
            continue
        rec = attempt(candidate, provider="cohere.chat", model=MODEL)
        if isinstance(rec, str):
            assert rec
        else:
            assert all(type(getattr(rec.usage, m)) is int for m in METERS)
