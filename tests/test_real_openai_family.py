"""OpenAI-family and gateway payloads as real services send them (issue 18).

Every payload here is a recorded body (its source on the line above it; long
text fields and ``choices`` left out, usage and ids kept as recorded) or, where
said, a real body with one field changed or a body built in a documented shape. Classes: OpenAI cache writes (1b),
OpenRouter and gateway-stated costs (1c), OpenAI-compatible hosts and
detection without a hint (3), compactions, bare ``{model, usage}`` bodies,
LiteLLM payloads and the current Usage API results (4), web-search fees (6).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution.normalize.compat import compat_usage

UTC = timezone.utc


def meters(rec: at.UsageRecord) -> dict[str, int]:
    return rec.usage.as_dict()


def code(payload: Any, **kw: Any) -> str:
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(payload, **kw)
    return err.value.code


# --- 1b: OpenAI cache writes ------------------------------------------------------------------------

# pydantic/pydantic-ai tests/models/cassettes/test_openai_prompt_cache/test_openai_chat_prompt_cache_e2e.yaml
# @ bf5002f503 (search tool read_file), interaction 0 (an explicit 30-minute cache breakpoint)
CHAT_CACHE_WRITE = {
    "created": 1784092247, "id": "chatcmpl-E1mBLGr3Ql1FsH8cdc76XdGw3PleH", "model": "gpt-5.6-sol",
    "object": "chat.completion", "service_tier": "default", "system_fingerprint": None,
    "usage": {"completion_tokens": 4,
              "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                            "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
              "prompt_tokens": 4020,
              "prompt_tokens_details": {"audio_tokens": 0, "cache_write_tokens": 4012, "cached_tokens": 0},
              "total_tokens": 4024}}


def test_openai_cache_writes_are_their_own_meter_and_priced_at_the_cache_write_rate():
    rec = at.normalize(CHAT_CACHE_WRITE)
    assert meters(rec) == {"input": 8, "cache_write": 4012, "output": 4}
    assert rec.usage.prompt_tokens == 4020   # disjoint: nothing counted twice, nothing dropped
    # gpt-5.6-sol on 2026-07-15 (launch price): input $5, cache write $6.25, output $30 per 1M.
    # Before issue 18 the 4,012 written tokens were priced as input: $0.02022, 20% low.
    assert at.price(rec).cost == Decimal("0.000040") + Decimal("0.025075") + Decimal("0.000120")


def test_litellm_spelling_of_cache_writes_in_an_openai_shaped_body_is_read_too():
    # LiteLLM's ModelResponse writes the count as prompt_tokens_details.cache_creation_tokens (see LITELLM_ANTHROPIC).
    body = {**CHAT_CACHE_WRITE, "usage": {"prompt_tokens": 4020, "completion_tokens": 4,
                                          "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 4012}}}
    assert meters(at.normalize(body)) == {"input": 8, "cache_write": 4012, "output": 4}
    assert meters(at.normalize(body, provider="together"))["cache_write"] == 4012


def test_responses_cache_write_tokens_are_inside_input_tokens():
    # pydantic/pydantic-ai tests/models/cassettes/test_openai_prompt_cache/test_openai_responses_prompt_cache_e2e.yaml
    # @ 7ddc62ce35 (search tool read_file): the response's model, status and usage (id and output left out)
    body = {"object": "response", "model": "gpt-5.6-sol", "status": "completed", "service_tier": "default",
            "output": [],
            "usage": {"input_tokens": 4020, "input_tokens_details": {"cache_write_tokens": 4012, "cached_tokens": 0},
                      "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 4025}}
    assert meters(at.normalize(body)) == {"input": 8, "cache_write": 4012, "output": 5}
    bad = {**body, "usage": {**body["usage"], "input_tokens": 4000}}
    assert code(bad) == "inconsistent_usage"


# --- 1c: OpenRouter and stated costs ----------------------------------------------------------------

# pydantic/pydantic-ai tests/models/cassettes/test_openrouter/test_openrouter_web_search_tool_usage.yaml
# @ e78d0a0d9e (search tool read_file), interaction 0
OPENROUTER = {
    "created": 1786465024, "id": "gen-1786465024-LTuiAe3JFScRdoQQj2E3", "model": "openai/gpt-4.1-mini",
    "object": "chat.completion", "provider": "OpenAI", "service_tier": "default", "system_fingerprint": None,
    "usage": {"completion_tokens": 30,
              "completion_tokens_details": {"audio_tokens": 0, "image_tokens": 0, "reasoning_tokens": 0},
              "cost": Decimal("0.0133176"),
              "cost_details": {"upstream_inference_completions_cost": Decimal("0.000048"),
                               "upstream_inference_cost": Decimal("0.0133176"),
                               "upstream_inference_prompt_cost": Decimal("0.0032696")},
              "is_byok": False, "prompt_tokens": 8174,
              "prompt_tokens_details": {"audio_tokens": 0, "cache_write_tokens": 0, "cached_tokens": 0,
                                        "video_tokens": 0},
              "server_tool_use_details": {"web_search_requests": 1}, "total_tokens": 8204}}


@pytest.mark.parametrize("provider", [None, "openrouter"])
def test_openrouter_is_recognized_and_keeps_its_stated_cost(provider):
    rec = at.normalize(OPENROUTER, provider=provider)
    assert (rec.provider, rec.model, rec.schema) == ("openrouter", "openai/gpt-4.1-mini", "openrouter.chat")
    assert meters(rec) == {"input": 8174, "output": 30, "web_search": 1}
    assert (rec.stated_cost, rec.stated_cost_currency, rec.stated_cost_source) == (
        Decimal("0.0133176"), "USD", "openrouter usage.cost")
    assert rec.tags["upstream_provider"] == "OpenAI"


def test_openrouter_without_a_card_is_quarantined_with_its_stated_cost_never_at_openai_prices():
    (item,) = at.price_many([at.normalize(OPENROUTER)])
    assert isinstance(item, at.Quarantined)
    assert item.code == "unknown_model"
    assert "0.0133176 USD, openrouter usage.cost" in item.message


_OPENROUTER_CARD = """
[card]
provider = "openrouter"
version = "openrouter-test"
currency = "USD"
read_on = 2026-08-01
source = "https://openrouter.ai/openai/gpt-4.1-mini"

[[models]]
id = "openai/gpt-4.1-mini"

  [[models.prices]]
  from = 2025-04-14
  input = {input}
  output = 1.60
  web_search = 10.0
"""


@pytest.mark.parametrize(("input_price", "drift"), [("0.40", False), ("0.60", True)])
def test_a_card_of_your_own_prices_openrouter_and_a_stated_cost_that_differs_is_flagged(tmp_path: Path,
                                                                                        input_price, drift):
    card = tmp_path / "openrouter.toml"
    card.write_text(_OPENROUTER_CARD.replace("{input}", input_price), encoding="utf-8")
    reg = at.load_registry(card)
    priced = at.price(at.normalize(OPENROUTER), reg)
    # 8,174 x $0.40/1M + 30 x $1.60/1M + 1 search x $10/1K = $0.0133176, what OpenRouter charged.
    assert (priced.cost == Decimal("0.0133176")) is not drift
    assert ("stated_cost_drift" in priced.flags) is drift


# LiteLLM tests/logging_callback_tests/gcs_pub_sub_body/standard_logging_payload.json @ 055a04e0a1
# (BerriAI/litellm, search tool read_file); messages and model_map_information left out
LITELLM_SLP = {
    "id": "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f", "trace_id": None, "call_type": "acompletion",
    "cache_hit": None, "stream": True, "status": "success", "custom_llm_provider": "openai",
    "saved_cache_cost": Decimal("0.0"), "startTime": "2025-01-24 09:20:46.847371",
    "endTime": "2025-01-24 09:20:46.851954", "model": "gpt-4o",
    "metadata": {"user_api_key_hash": None, "user_api_key_alias": None, "user_api_key_team_id": None,
                 "user_api_key_org_id": None, "user_api_key_user_id": None, "user_api_key_team_alias": None,
                 "spend_logs_metadata": None, "requester_metadata": None, "user_api_key_end_user_id": None},
    "cache_key": None, "response_cost": Decimal("0.00022500000000000002"), "total_tokens": 30, "prompt_tokens": 10,
    "completion_tokens": 20, "request_tags": [], "end_user": "", "api_base": "", "model_group": "", "model_id": "",
    "response": {"id": "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f", "created": 1742855151, "model": "gpt-4o",
                 "object": "chat.completion", "system_fingerprint": None, "choices": [],
                 "usage": {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30,
                           "completion_tokens_details": None, "prompt_tokens_details": None}},
    "hidden_params": {"api_base": "https://api.openai.com", "response_cost": Decimal("0.00022500000000000002"),
                      "litellm_model_name": "gpt-4o"},
    "error_str": None}


def test_litellm_standard_logging_payload_keeps_response_cost_and_agrees_with_the_card():
    rec = at.normalize(LITELLM_SLP)
    assert (rec.provider, rec.model, rec.schema) == ("openai", "gpt-4o", "litellm.standard_logging")
    assert meters(rec) == {"input": 10, "output": 20}
    assert rec.at == datetime(2025, 1, 24, 9, 20, 46, 847371, tzinfo=UTC)
    assert (rec.stated_cost, rec.stated_cost_source) == (Decimal("0.00022500000000000002"), "litellm response_cost")
    priced = at.price(rec)
    assert priced.cost == Decimal("0.000225")   # 10 x $2.50/1M + 20 x $10/1M
    assert "stated_cost_drift" not in priced.flags   # float noise in the logged cost is not drift


def test_litellm_callback_kwargs_are_read_through_their_standard_logging_object():
    kwargs = {"standard_logging_object": LITELLM_SLP, "custom_llm_provider": "openai", "response_obj": {}}
    rec = at.normalize(kwargs)
    assert (rec.schema, meters(rec), rec.stated_cost) == ("litellm.standard_logging", {"input": 10, "output": 20},
                                                          Decimal("0.00022500000000000002"))
    broken = {"standard_logging_object": {**LITELLM_SLP, "prompt_tokens": "ten", "response": None}}
    with pytest.raises(at.NormalizeError) as err:
        at.normalize(broken)
    assert err.value.path == "standard_logging_object.prompt_tokens"


def test_a_gateway_cost_that_disagrees_with_the_card_raises_the_flag_and_the_audit_counts_it():
    payload = {**LITELLM_SLP, "response_cost": Decimal("0.0003")}
    priced = at.price(at.normalize(payload))
    assert "stated_cost_drift" in priced.flags
    assert "estimate_drift" not in priced.flags   # the gateway's figure is not the caller's estimate
    report = at.run_audit([payload])
    assert report.flags["stated_cost_drift"] == 1


def test_flat_gateway_event_response_cost_is_a_stated_cost():
    event = {"timestamp": "2026-06-08T12:15:44Z", "request_id": "req_8f7c", "provider": "openai",
             "model": "gpt-4.1-mini", "input_tokens": 18240, "output_tokens": 1642,
             "response_cost": Decimal("0.0099232"), "usd_estimate": Decimal("0.0335")}
    rec = at.normalize(event)
    assert (rec.stated_cost, rec.stated_cost_source, rec.estimate) == (
        Decimal("0.0099232"), "gateway response_cost", Decimal("0.0335"))
    flags = at.price(rec).flags
    assert "stated_cost_drift" not in flags   # 18,240 x $0.40/1M + 1,642 x $1.60/1M
    assert "estimate_drift" in flags


# --- 3: OpenAI-compatible hosts ---------------------------------------------------------------------

# pydantic/pydantic-ai tests/models/cassettes/test_groq/test_groq_reasoning_effort_setting.yaml @ b384d1174c
# (search tool read_file), interaction 0
GROQ = {"created": 1781393323, "id": "chatcmpl-30a9bd34-f510-4831-a922-49e8d746eb79", "model": "qwen/qwen3-32b",
        "object": "chat.completion", "service_tier": "on_demand", "system_fingerprint": "fp_5cf921caa2",
        "usage": {"completion_time": Decimal("0.751157444"), "completion_tokens": 334,
                  "prompt_time": Decimal("0.00124178"), "prompt_tokens": 21, "queue_time": Decimal("0.204615308"),
                  "total_time": Decimal("0.752399224"), "total_tokens": 355},
        "usage_breakdown": None, "x_groq": {"id": "req_01kv1n1wnsfjws8xcswswx6h75", "seed": 1903311360}}


@pytest.mark.parametrize("provider", [None, "groq"])
def test_groq_normalizes_and_prices_on_the_groq_card(provider):
    rec = at.normalize(GROQ, provider=provider)
    assert (rec.provider, rec.model, meters(rec)) == ("groq", "qwen/qwen3-32b", {"input": 21, "output": 334})
    priced = at.price(rec)
    assert priced.card_version.startswith("groq-")
    assert priced.cost == Decimal("0.00020315")   # 21 x $0.29/1M + 334 x $0.59/1M


def test_groq_older_stream_chunk_with_usage_inside_x_groq():
    # Constructed: an older Groq final stream chunk, whose usage sat inside x_groq rather than beside choices.
    chunk = {"id": "chatcmpl-3c9a1f8e-5d4b-4e2a-9f1c-7b6d5e4c3a21", "object": "chat.completion.chunk",
             "created": 1735000000, "model": "llama-3.3-70b-versatile", "system_fingerprint": "fp_c0cfa69934",
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "x_groq": {"id": "req_01jbd6g2qdfw2adyrt2az8hz4w",
                        "usage": {"queue_time": 0.02, "prompt_tokens": 40, "prompt_time": 0.002,
                                  "completion_tokens": 9, "completion_time": 0.03, "total_tokens": 49}}}
    rec = at.normalize(chunk)
    assert (rec.provider, meters(rec)) == ("groq", {"input": 40, "output": 9})
    assert at.price(rec).cost == Decimal("0.00002360") + Decimal("0.00000711")   # $0.59 / $0.79 per 1M


def test_groq_body_without_x_groq_is_not_labelled_openai():
    plain = {k: v for k, v in GROQ.items() if k != "x_groq"}
    assert code(plain) == "unknown_provider"
    assert at.normalize(plain, provider="groq").provider == "groq"   # a hint always wins


# PyPI langchain-groq 1.1.3 sdist, tests/cassettes/test_code_interpreter.yaml.gz, interaction 1
GROQ_COMPOUND = {"id": "stub", "object": "chat.completion", "created": 1760450918, "model": "groq/compound-mini",
                 "usage": {"queue_time": "0.435328", "prompt_tokens": 689, "prompt_time": "0.07113",
                           "completion_tokens": 111, "completion_time": "0.22238", "total_tokens": 800,
                           "total_time": "0.29351"},
                 "x_groq": {"id": "stub"}, "service_tier": "on_demand"}

# pydantic/pydantic-ai tests/models/cassettes/test_cerebras/test_cerebras_accepts_every_service_tier.yaml
# @ 4638e140d4 (search tool read_file), interaction 0
CEREBRAS = {"created": 1787427094, "id": "chatcmpl-db39cf42-fabe-4722-98a0-597c35228ab4", "model": "gemma-4-31b",
            "object": "chat.completion", "system_fingerprint": "fp_99ee035ebfe796652902",
            "time_info": {"completion_time": "0.00024986", "created": "1787427094.337268",
                          "prompt_time": "0.001922189", "queue_time": "0.00012279",
                          "total_time": "0.0033884048461914062"},
            "usage": {"completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 0},
                      "prompt_tokens": 20, "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": 0},
                      "total_tokens": 22}}

# pydantic/pydantic-ai tests/models/cassettes/test_zai/test_zai_model_simple.yaml @ 18a9c77c85
# (search tool read_file), interaction 0
ZAI = {"created": 1782862773, "id": "20260701073925df703dd30a854c37", "model": "glm-4.7", "object": "chat.completion",
       "request_id": "20260701073925df703dd30a854c37",
       "usage": {"completion_tokens": 437, "completion_tokens_details": {"reasoning_tokens": 427}, "prompt_tokens": 13,
                 "prompt_tokens_details": {"cached_tokens": 0}, "total_tokens": 450}}

# PyPI opentelemetry-instrumentation-ollama 0.62.4 sdist, tests/cassettes/test_chat/test_ollama_chat_legacy.yaml,
# interaction 0 (Ollama's own /api/chat)
OLLAMA_NATIVE = {"model": "llama3", "created_at": "2024-05-24T20:01:31.01558Z", "done_reason": "stop", "done": True,
                 "total_duration": 10386172208, "load_duration": 8078850750, "prompt_eval_count": 17,
                 "prompt_eval_duration": 175861000, "eval_count": 66, "eval_duration": 2127200000}

# PyPI opentelemetry-instrumentation-mistralai 0.62.4 sdist, tests/cassettes/test_chat/test_mistralai_async_chat_legacy
# .yaml, interaction 0
MISTRAL = {"id": "bda521177c084183bba5eaf32ad99027", "created": 1757759494, "model": "mistral-tiny",
           "usage": {"prompt_tokens": 11, "total_tokens": 110, "completion_tokens": 99}, "object": "chat.completion"}

# pydantic/pydantic-ai tests/models/cassettes/test_openai_responses/
# test_azure_responses_reasoning_context_default_wire_contract[gpt-5.5].yaml @ bf5002f503 (search tool read_file);
# one of the two content_filters entries kept
AZURE_RESPONSES = {
    "content_filters": [{"blocked": False, "content_filter_offsets": {"check_offset": 0, "end_offset": 883,
                                                                       "start_offset": 0},
                         "content_filter_raw": [], "content_filter_results": {"hate": {"filtered": False,
                                                                                       "severity": "safe"}},
                         "source_type": "prompt"}],
    "created_at": 1785164066, "id": "resp_0bb4c92b9ee53ce5006a6771221ca08195be1955289fa07890", "model": "gpt-5.5",
    "object": "response", "service_tier": "default", "status": "completed",
    "usage": {"input_tokens": 18, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 16,
              "output_tokens_details": {"reasoning_tokens": 9}, "total_tokens": 34}}


@pytest.mark.parametrize(("payload", "provider", "model", "want"), [
    (GROQ_COMPOUND, "groq", "groq/compound-mini", {"input": 689, "output": 111}),
    (CEREBRAS, "cerebras", "gemma-4-31b", {"input": 20, "output": 2}),
    (ZAI, "zai", "glm-4.7", {"input": 13, "output": 437, "reasoning": 427}),
    (OLLAMA_NATIVE, "ollama", "llama3", {"input": 17, "output": 66}),
    (MISTRAL, "mistral", "mistral-tiny", {"input": 11, "output": 99}),
    (AZURE_RESPONSES, "azure", "gpt-5.5", {"input": 18, "output": 16, "reasoning": 9}),
], ids=["groq-compound", "cerebras", "zai", "ollama-native", "mistral", "azure-responses"])
def test_a_host_is_told_from_its_own_signals_without_a_hint_and_the_hint_agrees(payload, provider, model, want):
    for rec in (at.normalize(payload), at.normalize(payload, provider=provider)):
        assert (rec.provider, rec.billed_model, meters(rec)) == (provider, model, want)


# pydantic/pydantic-ai tests/models/cassettes/test_huggingface/test_max_completion_tokens[deepseek-ai-DeepSeek-R1-0528]
# .yaml @ dc65a4f4b8 (search tool read_file), interaction 0 (a vLLM-served body through Hugging Face's router)
HUGGINGFACE = {"created": 1752050599, "id": "chatcmpl-25472217e5b643e0a1f3f20dd44ed2c1", "kv_transfer_params": None,
               "model": "deepseek-ai/DeepSeek-R1-0528", "object": "chat.completion", "prompt_logprobs": None,
               "service_tier": None, "system_fingerprint": None,
               "usage": {"completion_tokens": 165, "completion_tokens_details": None, "prompt_tokens": 6,
                         "prompt_tokens_details": None, "total_tokens": 171}}

# pydantic/pydantic-ai tests/models/cassettes/test_snowflake/test_snowflake_model_simple.yaml @ dc0aac8b84
# (search tool read_file), interaction 0 (Snowflake Cortex serving Claude in OpenAI's shape)
SNOWFLAKE = {"created": 1783468047, "id": "", "model": "claude-sonnet-4-6", "object": "chat.completion",
             "service_tier": "", "system_fingerprint": "",
             "usage": {"completion_tokens": 5,
                       "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                                     "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
                       "prompt_tokens": 22, "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
                       "total_tokens": 27}}

# PyPI opentelemetry-instrumentation-together 0.62.4 sdist, tests/cassettes/test_chat/test_together_chat_legacy.yaml,
# interaction 0
TOGETHER = {"id": "88fa668fac30bb19-MXP", "object": "chat.completion", "created": 1717697862,
            "model": "mistralai/Mixtral-8x7B-Instruct-v0.1", "prompt": [],
            "usage": {"prompt_tokens": 18, "completion_tokens": 35, "total_tokens": 53}}


@pytest.mark.parametrize(("payload", "provider", "want"), [
    (HUGGINGFACE, "huggingface", {"input": 6, "output": 165}),
    (SNOWFLAKE, "snowflake", {"input": 22, "output": 5}),
    (TOGETHER, "together", {"input": 18, "output": 35}),
], ids=["huggingface", "snowflake", "together"])
def test_a_body_any_host_could_have_sent_needs_a_hint_and_is_never_called_openai(payload, provider, want):
    assert code(payload) == "unknown_provider"
    (item,) = at.normalize_many([payload])
    assert isinstance(item, at.Quarantined)
    assert "pass provider=" in item.message
    rec = at.normalize(payload, provider=provider)
    assert (rec.provider, meters(rec)) == (provider, want)
    assert rec.schema == f"{provider}.chat"


def test_genuine_openai_bodies_are_still_openai():
    assert at.normalize(CHAT_CACHE_WRITE).provider == "openai"   # chatcmpl- and 29 base-62 characters
    # pydantic/pydantic-ai tests/models/cassettes/test_openai/test_openai_web_search_tool.yaml @ 6d0cde46c7
    # (search tool read_file): a search-preview model answers with a UUID id
    search = {"created": 1756109356, "id": "chatcmpl-b2ed94c7-51cb-4fb3-bf4d-4138b0c2a0fc",
              "model": "gpt-4o-search-preview-2025-03-11", "object": "chat.completion", "system_fingerprint": "",
              "usage": {"completion_tokens": 603, "prompt_tokens": 14, "total_tokens": 617,
                        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0}}}
    assert at.normalize(search).provider == "openai"   # an OpenAI-only model id
    gpt_oss = {**search, "model": "gpt-oss-120b"}   # open weights: any host serves it
    assert code(gpt_oss) == "unknown_provider"


def test_fireworks_model_paths_are_fireworks_and_price_on_its_card():
    # Constructed, not recorded: an OpenAI-shaped body with Fireworks' full model path as the model id.
    body = {"id": "7b3e0c1a-5f2d-4c8e-9a61-2d4f8b0e1c93", "object": "chat.completion", "created": 1760000000,
            "model": "accounts/fireworks/models/llama-v3p1-8b-instruct",
            "usage": {"prompt_tokens": 18, "total_tokens": 46, "completion_tokens": 28}}
    rec = at.normalize(body)
    assert (rec.provider, meters(rec)) == ("fireworks", {"input": 18, "output": 28})
    assert at.price(rec).cost == Decimal("0.0000092")   # 46 tokens x $0.20/1M


def test_deepseek_responses_api_is_deepseek():
    # Constructed in the shape of DeepSeek's Responses API bodies (UUID ids, OpenAI's Responses usage).
    body = {"id": "012561fe-41a4-4c1b-9a9e-2f2c1b1f7c3d", "object": "response", "created_at": 1785000000,
            "model": "deepseek-v4-flash", "status": "completed", "content_filters": None, "output": [],
            "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 30,
                      "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 150}}
    for rec in (at.normalize(body), at.normalize(body, provider="deepseek")):
        assert (rec.provider, rec.schema, meters(rec)) == ("deepseek", "deepseek.responses",
                                                           {"input": 56, "cached_input": 64, "output": 30,
                                                            "reasoning": 12})


def test_bedrock_openai_compatible_endpoint_reads_with_the_bedrock_hint():
    # Constructed: Bedrock's OpenAI-compatible /openai/v1/chat/completions shape with a Bedrock model id.
    body = {"id": "chatcmpl-2b7e8f1c", "object": "chat.completion", "created": 1760000000,
            "model": "openai.gpt-oss-120b-1:0",
            "usage": {"prompt_tokens": 52, "completion_tokens": 120, "total_tokens": 172,
                      "prompt_tokens_details": {"cached_tokens": 0}}}
    rec = at.normalize(body, provider="bedrock")
    assert (rec.provider, meters(rec)) == ("bedrock", {"input": 52, "output": 120})


@given(prompt=st.integers(0, 10**7), cached=st.integers(0, 10**6), writes=st.integers(0, 10**6),
       completion=st.integers(0, 10**6), reasoning=st.integers(0, 10**6), beside=st.booleans())
def test_compatible_usage_is_disjoint_or_rejected(prompt, cached, writes, completion, reasoning, beside):
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion + (reasoning if beside else 0),
             "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": writes},
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    consistent = cached + writes <= prompt and reasoning <= completion + (reasoning if beside else 0)
    if not consistent:
        with pytest.raises(at.NormalizeError, match="exceed"):
            compat_usage(usage, "usage")
        return
    u = compat_usage(usage, "usage")
    assert u.prompt_tokens == prompt
    assert u.input + u.cached_input + u.cache_write == prompt
    assert u.reasoning <= u.output
    assert u.output == completion + (reasoning if beside and reasoning else 0)


# --- 4: compactions, bare bodies, LiteLLM responses, Usage API ---------------------------------------

# pydantic/pydantic-ai tests/models/cassettes/test_openai_responses/test_openai_responses_compact_messages_with_usage
# .yaml @ 0b7b02db31 (search tool read_file), interaction 2; output items' content left out
COMPACTION = {"created_at": 1772998479, "id": "resp_05586368b708ee4a0169adcf4d1ca4819d96324b5285e33003",
              "object": "response.compaction",
              "output": [{"id": "msg_05586368b708ee4a0169adcf4d204c819d8cad2e8b2374e80a", "type": "message"},
                         {"id": "cmp_05586368b708ee4a0169adcf4d9b68819d84e6c63c83471bcf", "type": "compaction"}],
              "usage": {"input_tokens": 154, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 163,
                        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 317}}


def test_a_compaction_is_a_billed_call_and_needs_the_model_it_ran_on():
    assert code(COMPACTION, provider="openai") == "missing_field"   # the body names no model
    rec = at.normalize(COMPACTION, model="gpt-4o")
    assert (rec.provider, rec.schema, meters(rec)) == ("openai", "openai.compaction", {"input": 154, "output": 163})
    assert at.price(rec).cost == Decimal("0.000385") + Decimal("0.00163")   # gpt-4o $2.50 / $10 per 1M


def test_bare_model_usage_bodies_with_and_without_a_hint():
    bare = {"model": "gpt-4.1-mini", "usage": {"prompt_tokens": 1200, "completion_tokens": 80,
                                               "prompt_tokens_details": {"cached_tokens": 1000}}}
    assert meters(at.normalize(bare)) == {"input": 200, "cached_input": 1000, "output": 80}
    assert at.normalize(bare, provider="openai").schema == "openai.bare"
    hosted = {"model": "llama-3.3-70b-versatile", "usage": {"prompt_tokens": 40, "completion_tokens": 9}}
    assert code(hosted) == "unknown_provider"
    rec = at.normalize(hosted, provider="groq")
    assert (rec.provider, rec.schema, at.price(rec).currency) == ("groq", "groq.usage", "USD")
    responses_style = {"model": "gpt-5", "usage": {"input_tokens": 900, "output_tokens": 50,
                                                   "input_tokens_details": {"cached_tokens": 600}}}
    assert meters(at.normalize(responses_style)) == {"input": 300, "cached_input": 600, "output": 50}
    named = {"provider": "together", "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "timestamp": 1760000000,
             "usage": {"prompt_tokens": 40, "completion_tokens": 9, "cached_tokens": 8}}   # a gateway's own log line
    rec = at.normalize(named)
    assert (rec.provider, rec.schema, meters(rec)) == ("together", "together.usage",
                                                       {"input": 32, "cached_input": 8, "output": 9})
    assert rec.at == datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC)
    claude_on_bedrock = {"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                         "usage": {"input_tokens": 14, "output_tokens": 65, "cache_read_input_tokens": 2000}}
    rec = at.normalize(claude_on_bedrock)
    assert (rec.provider, meters(rec)) == ("bedrock", {"input": 14, "cached_input": 2000, "output": 65})


# LiteLLM 1.110.2's ModelResponse for the Anthropic body of PyPI opentelemetry-instrumentation-anthropic 0.62.4 sdist,
# tests/cassettes/test_prompt_caching/test_anthropic_prompt_caching_async_legacy.yaml, interaction 0
# (tests/fixtures/real/generate_litellm.py)
LITELLM_ANTHROPIC = {
    "id": "chatcmpl-f5e2db36-d562-480b-8a3c-4f521bba7b6b", "created": 1796411443, "model": "claude-3-5-sonnet-20240620",
    "object": "chat.completion",
    "usage": {"completion_tokens": 207, "prompt_tokens": 1169, "total_tokens": 1376,
              "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 207},
              "prompt_tokens_details": {"audio_tokens": None, "cache_write_tokens": 1165, "cached_tokens": 0,
                                        "image_tokens": None, "text_tokens": 4, "video_tokens": None,
                                        "initial_prompt_tokens": None, "cache_creation_tokens": 1165},
              "cache_creation_input_tokens": 1165, "cache_read_input_tokens": 0, "iterations": None,
              "inference_geo": None, "speed": None, "service_tier": None}}


def test_litellm_model_response_for_anthropic_is_anthropic_with_its_cache_write():
    for rec in (at.normalize(LITELLM_ANTHROPIC), at.normalize(LITELLM_ANTHROPIC, provider="anthropic")):
        assert (rec.provider, rec.schema) == ("anthropic", "litellm.chat")
        assert meters(rec) == {"input": 4, "cache_write": 1165, "output": 207}
    gemini = {**LITELLM_ANTHROPIC, "model": "gemini-2.5-flash"}   # Gemini API or Vertex AI? LiteLLM does not say
    assert code(gemini) == "unknown_provider"
    assert at.normalize(gemini, provider="vertex").provider == "vertex"


def _bucket(result: dict[str, Any]) -> dict[str, Any]:
    return {"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
            "results": [{"object": "organization.usage.completions.result", "num_model_requests": 5,
                         "model": "gpt-5", **result}]}


def test_usage_api_current_results_state_every_count_by_cache_state():
    # The current completions result (OpenAPI 2.3 "UsageCompletionsResult": input_tokens includes cached and
    # cache-write tokens; the per-modality input counts are uncached, the cached ones given apart).
    result = {"input_tokens": 1000, "output_tokens": 500, "input_cache_write_tokens": 100,
              "input_cached_audio_tokens": 20, "input_cached_image_tokens": 30, "input_cached_text_tokens": 50,
              "input_image_tokens": 70, "input_text_tokens": 730, "input_uncached_tokens": 800,
              "output_image_tokens": 40, "output_text_tokens": 460}
    rec = at.normalize(_bucket(result))
    assert meters(rec) == {"input": 800, "cached_input": 100, "cache_write": 100, "output": 460,
                           "output_image": 40}
    assert rec.usage.prompt_tokens == 1000
    audio = {**result, "input_text_tokens": 630, "input_audio_tokens": 100}   # 100 of the uncached are audio
    assert meters(at.normalize(_bucket(audio)))["input_audio"] == 100
    broken = {**result, "input_uncached_tokens": 790}
    assert code(_bucket(broken)) == "inconsistent_usage"


def test_usage_api_older_results_keep_their_meaning():
    old = {"input_tokens": 1000, "input_cached_tokens": 800, "output_tokens": 500, "input_audio_tokens": 4,
           "output_audio_tokens": 2}
    assert meters(at.normalize(_bucket(old))) == {"input": 200, "cached_input": 800, "input_audio": 4,
                                                  "output": 500, "output_audio": 2}


# --- 6: web search ------------------------------------------------------------------------------------

# PyPI langchain-openai 1.8.1 sdist, tests/cassettes/test_function_calling.yaml.gz, interaction 2; output text and
# the response's other fields left out
WEB_SEARCH_4O_MINI = {
    "id": "resp_686d66f5b6e8819295cc5c9c179f9ed3068902e00e3babc3", "object": "response", "created_at": 1752000245,
    "status": "completed", "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
    "output": [{"id": "ws_686d66f5fb908192ac7f40804bd58e60068902e00e3babc3", "type": "web_search_call",
                "status": "completed"},
               {"id": "msg_686d66f8c17c81928ebdec45ec86b426068902e00e3babc3", "type": "message",
                "status": "completed"}],
    "tools": [{"type": "function"}, {"type": "web_search_preview"}],
    "usage": {"input_tokens": 343, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 623,
              "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 966}}


def test_web_search_on_a_reasoning_model_is_priced_per_call():
    body = {**WEB_SEARCH_4O_MINI, "model": "gpt-5-2025-08-07", "created_at": 1760000000,   # the same call on gpt-5
            "tools": [{"type": "web_search"}]}
    priced = at.price(at.normalize(body))
    lines = {line.meter: line.amount for line in priced.lines}
    assert lines == {"input": Decimal("0.00042875"), "output": Decimal("0.00623"), "web_search": Decimal("0.01")}
    batch = at.price(at.normalize(body, service_tier="batch"))
    assert {line.meter: line.amount for line in batch.lines}["web_search"] == Decimal("0.01")   # a tool fee


def test_web_search_on_a_non_reasoning_model_is_quarantined_as_unpriced_not_guessed():
    (item,) = at.price_many([at.normalize(WEB_SEARCH_4O_MINI)])
    assert isinstance(item, at.Quarantined)
    assert item.code == "unpriced_meter"
    assert "web_search" in item.message
