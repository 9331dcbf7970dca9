"""xAI (Grok): Chat Completions responses, including deferred completions and final stream chunks.

xAI's Chat Completions API is OpenAI-compatible with two differences that
matter for cost:

* ``completion_tokens`` does **not** include reasoning: xAI counts
  ``completion_tokens_details.reasoning_tokens`` separately and adds it to
  ``total_tokens`` (``total = prompt + completion + reasoning``), and bills it
  as output. The ``output`` meter is therefore ``completion + reasoning``.
  When ``total_tokens`` is reported it decides the convention, so a payload
  that follows OpenAI's convention (reasoning inside completion) is read
  correctly too.
* ``usage.num_sources_used`` counts Live Search sources, billed per source
  ($25 per 1,000 sources when this was written). It maps to the ``web_search``
  meter (priced per 1,000 calls): an xAI card prices that meter per source.
  (xAI announced Live Search's retirement for 12 January 2026 in favour of
  agentic tool calls; later payloads report ``num_sources_used: 0``.)

``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens`` as with
OpenAI. ``cost_in_usd_ticks``, where present, is xAI's own cost for the call
(1 USD = 10^10 ticks); it becomes the record's ``estimate`` so pricing flags a
drift between xAI's figure and the price card. Server-side agentic tool calls
(``num_server_side_tools_used``) are billed per call with prices of their own
that no meter carries yet: a payload that used them is rejected
(``unsupported_usage``) rather than priced without them.

``num_sources_used`` or ``cost_in_usd_ticks`` in ``usage`` identify an xAI
payload; any other chat completion is read as xAI only with ``provider="xai"``.

The **xAI SDK** (``xai-sdk``, gRPC) returns protobuf messages, not JSON: a
``chat.Response`` wraps a ``GetChatCompletionResponse`` (``id``, ``model``,
``created``, ``outputs``, ``usage``, ``service_tier``) whose ``usage`` is a
``SamplingUsage``: ``prompt_tokens`` (text and images, cached included),
``prompt_text_tokens`` (uncached text), ``cached_prompt_text_tokens``,
``prompt_image_tokens``, ``completion_tokens`` and ``reasoning_tokens``
(beside each other, as in the REST API), ``num_sources_used``,
``server_side_tools_used`` (one enum per call) and ``cost_in_usd_ticks``.
Pass the ``Response`` (or its ``.proto``) to ``normalize()``: it is read with
protobuf's ``json_format`` (field names as in the ``.proto``, 64-bit integers
as text) and normalized as schema ``xai.grpc``; a dict from
``MessageToDict`` is read the same way. Source: xai-sdk 1.21
``proto/v6/usage.proto`` and ``chat.proto`` (field comments), ``chat.Response``.

Sources: xAI docs, "Deferred Chat Completions" (example response: prompt 26,
completion 168, reasoning 304, total 498), "Prompt Caching - Usage & Pricing"
(``prompt_tokens_details.cached_tokens``), "Live Search" ("Live Search costs
$25 per 1,000 sources used ... response.usage.num_sources_used"),
"Consumption and rate limits" (reasoning counted separately from
completion_tokens but in total_tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping
from .openai import chat_record, is_chat_completion, make_usage, require_usage, split_output

__all__ = [
    "SCHEMAS",
    "grpc_usage",
    "is_grpc_response",
    "is_xai_chat_completion",
    "normalize_grpc_response",
    "normalize_xai_chat_completion",
    "xai_usage",
]

PROVIDER = "xai"
_MARKERS = ("num_sources_used", "cost_in_usd_ticks", "num_server_side_tools_used")


def is_xai_chat_completion(payload: Mapping[str, Any]) -> bool:
    """A Chat Completion (or chunk) whose usage carries xAI-only fields."""
    usage = payload.get("usage")
    return is_chat_completion(payload) and is_mapping(usage) and any(k in usage for k in _MARKERS)


def xai_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from an xAI chat ``usage`` (reasoning beside completion, sources as web_search)."""
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    cached = count(mapping(usage, "prompt_tokens_details", path), "cached_tokens", f"{path}.prompt_tokens_details")
    reasoning = count(mapping(usage, "completion_tokens_details", path), "reasoning_tokens",
                      f"{path}.completion_tokens_details")
    if cached > prompt:
        raise NormalizeError("inconsistent_usage", f"cached_tokens ({cached}) exceed prompt_tokens ({prompt})",
                             path=f"{path}.prompt_tokens")
    tools = count(usage, "num_server_side_tools_used", path)
    if tools:
        raise NormalizeError("unsupported_usage", f"{tools} server-side tool call(s) are billed per call at prices "
                             "no meter carries yet", path=f"{path}.num_server_side_tools_used")
    total = count(usage, "total_tokens", path) if usage.get("total_tokens") is not None else None
    output, reasoning = split_output(completion, reasoning, prompt=prompt, total=total, reasoning_inside=False,
                                     path=path)
    return make_usage(path, input=prompt - cached, cached_input=cached, output=output, reasoning=reasoning,
                      web_search=count(usage, "num_sources_used", path))


def normalize_xai_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an xAI chat completion (or deferred completion, or final stream chunk).

    Source: xAI REST API reference, "Chat completions" response ``usage``; see
    the module docstring for the reasoning and Live Search semantics.
    """
    usage = require_usage(payload, "", "for streams, keep the final chunk, which carries usage")
    record = chat_record(payload, hints, xai_usage(usage, "usage"), provider=PROVIDER, schema="xai.chat")
    if usage.get("cost_in_usd_ticks") is not None:
        ticks = count(usage, "cost_in_usd_ticks", "usage")
        record = attrs.evolve(record, estimate=Decimal(ticks).scaleb(-10))
    return [record]


#: Fields only the gRPC ``SamplingUsage`` has (the REST usage nests them under ``*_details``).
_GRPC_USAGE = ("prompt_text_tokens", "cached_prompt_text_tokens", "prompt_image_tokens", "server_side_tools_used")
#: gRPC ``ServiceTier`` enum names -> the cards' tier names.
_GRPC_TIERS = {"SERVICE_TIER_DEFAULT": "standard", "SERVICE_TIER_PRIORITY": "priority"}


def is_grpc_response(payload: Mapping[str, Any]) -> bool:
    """An xAI SDK (gRPC) chat response as a dict: ``outputs`` and a ``SamplingUsage`` with its gRPC-only fields."""
    usage = payload.get("usage")
    return (isinstance(payload.get("outputs"), list) and is_mapping(usage)
            and any(k in usage for k in _GRPC_USAGE)) or (
        is_mapping(usage) and "choices" not in payload and "object" not in payload
        and "cached_prompt_text_tokens" in usage)


def grpc_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a gRPC ``SamplingUsage`` (reasoning beside completion; cached text inside the prompt).

    Raises:
        NormalizeError: ``unsupported_usage`` when server-side tools ran (billed
            per call at prices no meter carries yet); ``inconsistent_usage``
            when the cached tokens exceed the prompt.
    """
    prompt = count(usage, "prompt_tokens", path)
    cached = count(usage, "cached_prompt_text_tokens", path)
    if not prompt and usage.get("prompt_tokens") is None:
        prompt = count(usage, "prompt_text_tokens", path) + cached + count(usage, "prompt_image_tokens", path)
    if cached > prompt:
        raise NormalizeError("inconsistent_usage", f"cached_prompt_text_tokens ({cached}) exceed prompt_tokens "
                             f"({prompt})", path=f"{path}.cached_prompt_text_tokens")
    tools = usage.get("server_side_tools_used")
    if isinstance(tools, list) and tools:
        raise NormalizeError("unsupported_usage", f"{len(tools)} server-side tool call(s) "
                             f"({', '.join(sorted({str(t) for t in tools}))}) are billed per call at prices no "
                             "meter carries yet", path=f"{path}.server_side_tools_used")
    completion = count(usage, "completion_tokens", path)
    reasoning = count(usage, "reasoning_tokens", path)
    # Reasoning is beside completion_tokens (the proto's comments; total_tokens is "prompt + completion"
    # and so cannot tell), billed at the output rate.
    return make_usage(path, input=prompt - cached, cached_input=cached, output=completion + reasoning,
                      reasoning=reasoning,
                      web_search=count(usage, "num_sources_used", path))


def normalize_grpc_response(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an xAI SDK chat response (``GetChatCompletionResponse`` as a dict).

    ``cost_in_usd_ticks`` (1 USD = 10^10 ticks) becomes the record's
    ``estimate``, so pricing flags a drift from the card.
    """
    usage = mapping(payload, "usage", "")
    if usage is None:
        raise NormalizeError("missing_usage", "xAI response has no usage", path="usage")
    tier = payload.get("service_tier")
    body = {k: v for k, v in payload.items() if k != "service_tier"}   # an enum name, not a card's tier
    record = chat_record(body, hints, grpc_usage(usage, "usage"), provider=PROVIDER, schema="xai.grpc",
                         service_tier=_GRPC_TIERS.get(tier) if isinstance(tier, str) else None)
    if usage.get("cost_in_usd_ticks") is not None:
        ticks = count(usage, "cost_in_usd_ticks", "usage")
        record = attrs.evolve(record, estimate=Decimal(ticks).scaleb(-10))
    return [record]


SCHEMAS = (
    Schema("xai.grpc", PROVIDER, is_grpc_response, normalize_grpc_response,
           "xAI SDK (gRPC) chat response: outputs and usage.prompt_text_tokens / cached_prompt_text_tokens",
           specificity=20, keys=frozenset({"usage"})),
    Schema("xai.chat", PROVIDER, is_xai_chat_completion, normalize_xai_chat_completion,
           "xAI chat completion (usage with num_sources_used / cost_in_usd_ticks)", specificity=20, keys=frozenset({"object"})),
    # A chat completion without xAI's own fields: reachable only with provider="xai".
    Schema("xai.chat.hinted", PROVIDER, is_chat_completion, normalize_xai_chat_completion,
           'xAI chat completion without xAI-only usage fields (only with provider="xai")', specificity=5, keys=frozenset({"object"})),
)
