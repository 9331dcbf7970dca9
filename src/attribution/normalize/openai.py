"""OpenAI: Chat Completions responses (including a streamed final chunk with usage).

OpenAI's ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``
and any audio input tokens; ``completion_tokens`` *includes* reasoning tokens
and audio output tokens. This module subtracts the parts out so meters are
disjoint. Source: OpenAI API reference, "The chat completion object" and
"The chat completion chunk object" (``usage``, ``service_tier``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, mapping, optional_str, owner_tags, timestamp

__all__ = ["SCHEMAS", "chat_usage", "is_chat_completion", "normalize_chat_completion"]


def is_chat_completion(payload: Mapping[str, Any]) -> bool:
    """A Chat Completions response or stream chunk."""
    return payload.get("object") in ("chat.completion", "chat.completion.chunk")


def chat_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Chat Completions ``usage`` object."""
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    pd = mapping(usage, "prompt_tokens_details", path)
    cd = mapping(usage, "completion_tokens_details", path)
    cached = count(pd, "cached_tokens", f"{path}.prompt_tokens_details")
    audio_in = count(pd, "audio_tokens", f"{path}.prompt_tokens_details")
    reasoning = count(cd, "reasoning_tokens", f"{path}.completion_tokens_details")
    audio_out = count(cd, "audio_tokens", f"{path}.completion_tokens_details")
    text_in = prompt - cached - audio_in
    text_out = completion - audio_out
    if text_in < 0:
        raise NormalizeError("inconsistent_usage",
                             f"cached ({cached}) and audio ({audio_in}) tokens exceed prompt_tokens ({prompt})",
                             path=f"{path}.prompt_tokens")
    if text_out < 0 or reasoning > text_out:
        raise NormalizeError("inconsistent_usage",
                             f"reasoning ({reasoning}) and audio ({audio_out}) tokens exceed completion_tokens "
                             f"({completion})", path=f"{path}.completion_tokens")
    return Usage(input=text_in, cached_input=cached, output=text_out, reasoning=reasoning,
                 input_audio=audio_in, output_audio=audio_out)


def normalize_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    usage = mapping(payload, "usage", "")
    if usage is None:
        raise NormalizeError("missing_usage", "response has no usage (for streams, request "
                             "stream_options.include_usage and keep the final chunk)", path="usage")
    served = optional_str(payload, "model", "")
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no model in the response and no model= hint", path="model")
    return [UsageRecord(
        provider=hints.provider or "openai",
        model=model,
        model_billed=served if served and served != model else None,
        usage=chat_usage(usage, "usage"),
        at=timestamp(payload.get("created"), "created") or hints.at,
        request_id=optional_str(payload, "id", "") or hints.request_id,
        service_tier=optional_str(payload, "service_tier", "") or hints.service_tier,
        region=hints.region,
        tags=owner_tags(payload, "", hints, nested=("metadata",)),
        schema="openai.chat",
        source=hints.source,
    )]


SCHEMAS = (
    Schema("openai.chat", "openai", is_chat_completion, normalize_chat_completion,
           'OpenAI Chat Completions response or final stream chunk (object "chat.completion[.chunk]")'),
)
