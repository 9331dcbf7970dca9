"""LiteLLM proxy spend-log rows: LiteLLM's OpenAI-shaped counts made disjoint, spend kept as the estimate.

Fixtures are in tests/fixtures/litellm/ (sources in its README).
``prompt_tokens`` includes cache reads (and, in current LiteLLM, cache writes);
``completion_tokens`` includes reasoning.
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
from attribution.io import read_payloads
from attribution.normalize import Hints, detect_schema
from attribution.normalize.litellm import is_spend_log, normalize_spend_log

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "litellm"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": "chatcmpl-1", "call_type": "acompletion", "api_key": "hashed", "spend": 0.001,
        "total_tokens": 150, "prompt_tokens": 100, "completion_tokens": 50,
        "startTime": "2025-11-14T00:00:00Z", "endTime": "2025-11-14T00:00:01Z",
        "model": "gpt-4o", "model_group": "gpt-4o", "custom_llm_provider": "openai",
        "metadata": {}, "cache_hit": "False", "request_tags": "[]", "status": "success",
    }
    base.update(overrides)
    return base


class TestFixtures:
    def test_openai_row_cache_reads_inside_prompt_tokens(self) -> None:
        rec = at.normalize(load("openai_cached_row.json"))
        assert rec.usage == at.Usage(input=2000, cached_input=8000, output=250)
        assert (rec.provider, rec.model, rec.model_billed) == ("openai", "gpt-4o", "gpt-4o-2024-08-06")
        assert rec.request_id == "chatcmpl-9f1c2b7e-4c1d-4a8e-9d55-2f0e7d3c1a10"
        assert rec.trace_id == "b4f5a4a6-7c1e-4f0a-9d2e-0c3c2f8a9e01"
        assert rec.at == datetime(2025, 11, 14, tzinfo=UTC)
        assert rec.estimate == Decimal("0.0175")
        assert rec.outcome == "ok"
        assert rec.schema == "litellm.spend_log"
        assert dict(rec.tags) == {
            "team": "team-search", "team_alias": "Search", "user": "default_user_id", "tenant": "customer-42",
            "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
            "api_key_alias": "search-prod", "feature": "autocomplete", "cost_center": "CC-1001",
            "litellm_tags": "prod",
        }

    def test_anthropic_row_reads_and_writes_inside_with_ttl_split(self) -> None:
        """4,000 prompt = 500 uncached + 3,000 reads + 500 writes (200 5-minute, 300 1-hour)."""
        rec = at.normalize(load("anthropic_cache_row.json"))
        assert rec.usage == at.Usage(input=500, cached_input=3000, cache_write=200, cache_write_1h=300,
                                     output=320, reasoning=120)
        assert (rec.model, rec.model_billed) == ("claude-sonnet-4", "claude-sonnet-4-20250514")
        assert rec.at == datetime(2025, 11, 14, 9, 30, 0, 123000, tzinfo=UTC)
        assert dict(rec.tags) == {"team": "team-support", "team_alias": "Support",
                                  "api_key": "litellm_proxy_master_key"}

    def test_anthropic_row_from_a_litellm_that_left_writes_out(self) -> None:
        """prompt_tokens 31 < 1,253 writes: the writes cannot be inside it (LiteLLM issue 15056)."""
        rec = at.normalize(load("anthropic_writes_outside_row.json"))
        assert rec.usage == at.Usage(input=31, cache_write=1253, output=467)
        assert rec.model_billed is None

    def test_stream_with_server_tools_uses_the_write_total_not_the_first_breakdown(self) -> None:
        """LiteLLM issue 42663: the 5m/1h breakdown covers only the first iteration; the total is right."""
        rec = at.normalize(load("anthropic_server_tool_stream_row.json"))
        assert rec.usage == at.Usage(input=123201, cached_input=426653, cache_write=184457, output=6000,
                                     web_search=5)
        assert rec.estimate == Decimal("1.4163728")

    def test_failure_row_is_an_error_outcome_with_the_reported_zero_usage(self) -> None:
        rec = at.normalize(load("failure_row.json"))
        assert rec.outcome == "error"
        assert rec.usage == at.Usage()
        assert rec.estimate == Decimal("0.0")

    def test_litellm_cache_hit_bills_nothing(self) -> None:
        """Answered from LiteLLM's response cache: no provider call, whatever tokens the cached answer had."""
        rec = at.normalize(load("cache_hit_row.json"))
        assert rec.usage == at.Usage()
        assert rec.tags["litellm_cache_hit"] == "true"

    def test_bedrock_route_prefix_is_stripped(self) -> None:
        rec = at.normalize(load("bedrock_prefixed_row.json"))
        assert rec.provider == "bedrock"
        assert (rec.model, rec.model_billed) == ("haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
        assert rec.tags["team"] == "platform"

    def test_csv_export_rows_with_file_and_line(self) -> None:
        out = list(at.normalize_many(read_payloads(FIXTURES / "spend_logs_export.csv")))
        assert [type(x).__name__ for x in out] == ["UsageRecord", "UsageRecord", "Quarantined", "Quarantined"]
        first, second, short, missing = out
        assert isinstance(first, at.UsageRecord)
        assert isinstance(second, at.UsageRecord)
        assert first.usage == at.Usage(input=2000, cached_input=8000, output=250)
        assert first.estimate == Decimal("0.0175")
        assert first.at == datetime(2025, 11, 14, tzinfo=UTC)
        assert first.source == at.SourceLocation(file=str(FIXTURES / "spend_logs_export.csv"), line=2)
        assert second.usage == at.Usage(input=500, cached_input=3000, cache_write=500, output=320)
        assert isinstance(short, at.Quarantined)
        assert short.code == "bad_csv"
        assert short.source is not None
        assert short.source.line == 4
        assert isinstance(missing, at.Quarantined)
        assert missing.code == "missing_field"
        assert missing.source is not None
        assert (missing.source.line, missing.source.path) == (5, "prompt_tokens")

    @pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("callback-")))
    def test_every_row_fixture_is_detected_as_a_spend_log(self, name: str) -> None:
        assert detect_schema(load(name)).id == "litellm.spend_log"

    @pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("callback-*.json")))
    def test_callback_kwargs_fixtures_are_read_through_their_standard_logging_object(self, name: str) -> None:
        assert detect_schema(load(name)).id == "litellm.callback"
        assert at.normalize(load(name)).schema == "litellm.standard_logging"


class TestPricing:
    def test_repriced_rows_match_litellm_spend_when_litellm_was_right(self) -> None:
        p = at.price(at.normalize(load("openai_cached_row.json")))
        assert p.cost == Decimal("0.0175")  # 2,000 x $2.50/M + 8,000 x $1.25/M + 250 x $10/M
        assert p.flags == ()

    def test_under_reported_spend_is_flagged(self) -> None:
        """LiteLLM priced 31,490 of the 184,457 cache-write tokens (issue 42663); repricing all of them
        at Sonnet 4.5's long-context rates (the prompt is 734,311 tokens) gives $2.5636253."""
        p = at.price(at.normalize(load("anthropic_server_tool_stream_row.json")))
        assert p.cost == Decimal("2.5636253")
        assert "estimate_drift" in p.flags


class TestSemantics:
    def test_hint_says_prompt_tokens_exclude_all_cache_tokens(self) -> None:
        extra = {"additional_usage_values": {"cache_read_input_tokens": 3000, "cache_creation_input_tokens": 500}}
        rec = at.normalize(row(prompt_tokens=12, metadata=extra), cached_in_input=False)
        assert rec.usage == at.Usage(input=12, cached_input=3000, cache_write=500, output=50)

    def test_hint_insists_writes_are_inside(self) -> None:
        extra = {"additional_usage_values": {"cache_creation_input_tokens": 500}}
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(prompt_tokens=31, metadata=extra), cached_in_input=True)
        assert err.value.code == "inconsistent_usage"

    def test_reads_above_prompt_tokens_are_rejected(self) -> None:
        extra = {"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 101}}}
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(metadata=extra))
        assert (err.value.code, err.value.path) == ("inconsistent_usage", "prompt_tokens")

    def test_audio_and_reasoning(self) -> None:
        extra = {"additional_usage_values": {"prompt_tokens_details": {"audio_tokens": 40, "cached_tokens": 10},
                                             "completion_tokens_details": {"audio_tokens": 20,
                                                                           "reasoning_tokens": 5}}}
        rec = at.normalize(row(metadata=extra))
        assert rec.usage == at.Usage(input=50, cached_input=10, input_audio=40, output=30, output_audio=20,
                                     reasoning=5)

    def test_provider_from_model_prefix_and_missing_provider(self) -> None:
        rec = at.normalize(row(custom_llm_provider=None, model="anthropic/claude-3-5-haiku-20241022",
                               model_group=None))
        assert (rec.provider, rec.model) == ("anthropic", "claude-3-5-haiku-20241022")
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(custom_llm_provider=None))
        assert err.value.code == "missing_field"

    def test_vertex_and_gemini_provider_ids(self) -> None:
        assert at.normalize(row(custom_llm_provider="vertex_ai")).provider == "vertex"
        assert at.normalize(row(custom_llm_provider="gemini")).provider == "google"

    def test_batch_call_type_is_the_batch_tier(self) -> None:
        rec = at.normalize(row(call_type="aretrieve_batch", model="", metadata={"batch_models": ["gpt-4o-mini"]},
                               model_group=None))
        assert (rec.model, rec.service_tier) == ("gpt-4o-mini", "batch")

    def test_missing_model(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(model="", model_group=""))
        assert err.value.code == "missing_field"

    def test_missing_token_counts_are_not_zero(self) -> None:
        bad = row()
        del bad["completion_tokens"]
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(bad)
        assert (err.value.code, err.value.path) == ("missing_field", "completion_tokens")

    def test_metadata_that_is_not_json(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(metadata="{not json"))
        assert (err.value.code, err.value.path) == ("bad_json", "metadata")

    def test_spend_float_is_read_by_its_text(self) -> None:
        assert at.normalize(row(spend=0.0335)).estimate == Decimal("0.0335")

    def test_spend_that_is_not_a_number(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(row(spend="n/a"))
        assert (err.value.code, err.value.path) == ("bad_type", "spend")

    def test_caller_tags_win(self) -> None:
        rec = at.normalize(row(team_id="t1", request_tags='["team:t2"]'), tags={"team": "t3"})
        assert rec.tags["team"] == "t3"

    def test_a_chat_completion_is_not_a_spend_log(self) -> None:
        assert not is_spend_log({"object": "chat.completion", "model": "gpt-4o", "usage": {}})


# -- property: meters add up to LiteLLM's totals, or a coded error ------------------------------

_n = st.integers(min_value=0, max_value=10**8)


@st.composite
def spend_rows(draw: st.DrawFn) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    pd: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["cache_read_input_tokens"] = draw(_n)
    if draw(st.booleans()):
        extra["cache_creation_input_tokens"] = draw(_n)
    if draw(st.booleans()):
        pd["cached_tokens"] = draw(_n)
    if draw(st.booleans()):
        pd["audio_tokens"] = draw(_n)
    if draw(st.booleans()):
        pd["cache_creation_token_details"] = {"ephemeral_1h_input_tokens": draw(_n)}
    if pd:
        extra["prompt_tokens_details"] = pd
    if draw(st.booleans()):
        extra["completion_tokens_details"] = {"reasoning_tokens": draw(_n), "audio_tokens": draw(_n | st.just(0))}
    metadata: Any = {"additional_usage_values": extra}
    if draw(st.booleans()):
        metadata = json.dumps(metadata)
    spend = draw(st.floats(min_value=0, max_value=1e4, allow_nan=False) | st.decimals(
        min_value=0, max_value=10**4, places=8) | st.text(alphabet="0123456789.", min_size=1, max_size=8))
    prompt, completion = draw(_n), draw(_n)
    return row(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
               spend=spend, metadata=metadata)


@given(spend_rows(), st.sampled_from([None, True, False]))
def test_meters_add_up_to_litellm_totals_or_coded_error(payload: dict[str, Any], inside: bool | None) -> None:
    code = None
    try:
        (rec,) = normalize_spend_log(payload, Hints(cached_in_input=inside))
    except at.NormalizeError as exc:
        code = exc.code
    if code is not None:
        assert code
        return
    u = rec.usage
    writes = u.cache_write + u.cache_write_1h
    prompt_side = u.input + u.cached_input + u.input_audio
    if inside is False:  # Anthropic's convention: reads and writes are beside prompt_tokens
        assert u.input + u.input_audio == payload["prompt_tokens"]
    else:
        assert prompt_side + writes == payload["prompt_tokens"] or (
            inside is None and prompt_side == payload["prompt_tokens"])
    assert u.output + u.output_audio == payload["completion_tokens"]
    assert u.reasoning <= u.output
    assert isinstance(rec.estimate, Decimal)
    assert all(type(v) is int for v in u.as_dict().values())


@given(st.dictionaries(st.sampled_from(["spend", "call_type", "startTime", "prompt_tokens", "completion_tokens",
                                        "model", "model_group", "custom_llm_provider", "metadata", "cache_hit",
                                        "request_tags", "team_id", "end_user", "status", "session_id"]),
                       st.none() | st.booleans() | st.integers(-3, 10**6) | st.text(max_size=12)
                       | st.lists(st.text(max_size=4), max_size=3) | st.dictionaries(st.text(max_size=4),
                                                                                     st.integers(), max_size=2)))
def test_junk_rows_raise_only_normalize_errors(junk: dict[str, Any]) -> None:
    payload = {"spend": 0, "call_type": "acompletion", "startTime": "2025-01-01T00:00:00Z", **junk}
    code = "no error"
    try:
        normalize_spend_log(payload, Hints())
    except at.NormalizeError as exc:
        code = exc.code
    assert code
