"""DeepSeek: Chat Completions responses (deepseek-chat, deepseek-reasoner, V4 models).

DeepSeek's API is OpenAI-compatible but reports its disk context cache in its
own fields: ``prompt_tokens`` *equals* ``prompt_cache_hit_tokens +
prompt_cache_miss_tokens``. Hits are billed at the cache-hit rate (the
``cached_input`` meter), misses at the full input rate (``input``). Newer
responses also carry OpenAI's ``prompt_tokens_details.cached_tokens`` with the
same number; it is not added a second time. For reasoning models
(``deepseek-reasoner``, thinking mode), ``completion_tokens_details.reasoning_tokens``
is part of ``completion_tokens`` (``total_tokens = prompt + completion``) and
billed at the output rate. Time-of-day discounts, where DeepSeek has them,
are a pricing matter: the record keeps the call's ``created`` instant.

The cache hit/miss fields identify a DeepSeek payload, and so does one of
DeepSeek's own model ids (``deepseek-chat``, ``deepseek-reasoner``,
``deepseek-v4-flash``...; not hosts' ``deepseek-ai/...`` or distills) with a
UUID id, as DeepSeek writes them. DeepSeek also serves the Responses API
(``object: "response"``, usage as OpenAI's, UUID ids): those bodies are read
as DeepSeek's on the same signal, or with ``provider="deepseek"``.

Sources: DeepSeek API docs, "Create Chat Completion" (response ``usage``:
"prompt_tokens ... equals prompt_cache_hit_tokens + prompt_cache_miss_tokens",
``completion_tokens_details.reasoning_tokens``); "Context Caching" guide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping
from .compat import openai_shaped_schemas
from .openai import (
    chat_record,
    is_chat_completion,
    is_response,
    make_usage,
    normalize_response_with,
    require_usage,
    response_of,
    split_output,
)

__all__ = ["SCHEMAS", "deepseek_usage", "is_deepseek_chat_completion", "is_deepseek_response",
           "normalize_deepseek_chat_completion", "normalize_deepseek_response"]

PROVIDER = "deepseek"
_CACHE_FIELDS = ("prompt_cache_hit_tokens", "prompt_cache_miss_tokens")


#: DeepSeek's own API model ids (hosts write ``deepseek-ai/DeepSeek-R1``, Groq ``deepseek-r1-distill-...``).
_MODEL = re.compile(r"deepseek-(?:chat|reasoner|coder|flash|pro|v\d+(?:\.\d+)?(?:-[a-z]+)*)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _own(body: Mapping[str, Any]) -> bool:
    model, ident = body.get("model"), body.get("id")
    return (isinstance(model, str) and _MODEL.fullmatch(model) is not None
            and isinstance(ident, str) and _UUID.fullmatch(ident) is not None)


def is_deepseek_chat_completion(payload: Mapping[str, Any]) -> bool:
    """A Chat Completion (or chunk) with DeepSeek's cache hit/miss counts, or DeepSeek's model and id forms."""
    if not is_chat_completion(payload):
        return False
    usage = payload.get("usage")
    return (is_mapping(usage) and any(k in usage for k in _CACHE_FIELDS)) or _own(payload)


def is_deepseek_response(payload: Mapping[str, Any]) -> bool:
    """A Responses body (or terminal stream event) with DeepSeek's model id and UUID id."""
    if not is_response(payload):
        return False
    body = response_of(payload)
    return _own(payload if body is None else body)


def normalize_deepseek_response(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a DeepSeek Responses API body: OpenAI's Responses usage (cached inside input).

    Source: DeepSeek API docs, "Responses API" (OpenAI-compatible ``usage``).
    """
    return [normalize_response_with(payload, hints, provider=PROVIDER, schema="deepseek.responses")]


def deepseek_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a DeepSeek ``usage``: misses are input, hits are cached input.

    When only one of the two cache fields is present, the other is
    ``prompt_tokens`` minus it; when neither is, the whole prompt is a miss.
    """
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    has_hit, has_miss = (usage.get(k) is not None for k in _CACHE_FIELDS)
    hit = count(usage, "prompt_cache_hit_tokens", path)
    miss = count(usage, "prompt_cache_miss_tokens", path)
    if has_hit and has_miss:
        if hit + miss != prompt:
            raise NormalizeError("inconsistent_usage", f"prompt_cache_hit_tokens ({hit}) + prompt_cache_miss_tokens "
                                 f"({miss}) differ from prompt_tokens ({prompt})", path=f"{path}.prompt_tokens")
    elif has_hit or has_miss:
        known = "prompt_cache_hit_tokens" if has_hit else "prompt_cache_miss_tokens"
        if (hit if has_hit else miss) > prompt:
            raise NormalizeError("inconsistent_usage", f"{known} exceed prompt_tokens ({prompt})",
                                 path=f"{path}.{known}")
        hit, miss = (hit, prompt - hit) if has_hit else (prompt - miss, miss)
    else:
        hit, miss = 0, prompt
    reasoning = count(mapping(usage, "completion_tokens_details", path), "reasoning_tokens",
                      f"{path}.completion_tokens_details")
    total = count(usage, "total_tokens", path) if usage.get("total_tokens") is not None else None
    output, reasoning = split_output(completion, reasoning, prompt=prompt, total=total, reasoning_inside=True,
                                     path=path)
    return make_usage(path, input=miss, cached_input=hit, output=output, reasoning=reasoning)


def normalize_deepseek_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a DeepSeek chat completion or final stream chunk.

    Source: DeepSeek API docs, "Create Chat Completion", response ``usage``.
    """
    usage = require_usage(payload, "", "for streams, request stream_options.include_usage and keep the final chunk")
    return [chat_record(payload, hints, deepseek_usage(usage, "usage"), provider=PROVIDER, schema="deepseek.chat")]


SCHEMAS = (
    Schema("deepseek.chat", PROVIDER, is_deepseek_chat_completion, normalize_deepseek_chat_completion,
           "DeepSeek chat completion (usage with prompt_cache_hit_tokens / prompt_cache_miss_tokens)",
           specificity=20, keys=frozenset({"object"})),
    # Without the cache fields the shape is plain OpenAI: reachable only with provider="deepseek".
    Schema("deepseek.chat.hinted", PROVIDER, is_chat_completion, normalize_deepseek_chat_completion,
           'DeepSeek chat completion without cache hit/miss fields (only with provider="deepseek")',
           specificity=5, keys=frozenset({"object"})),
    Schema("deepseek.responses", PROVIDER, is_deepseek_response, normalize_deepseek_response,
           "DeepSeek Responses API body (DeepSeek model id, UUID id)", specificity=20,
           keys=frozenset({"object", "type"})),
    # Responses, embeddings and bare {"model", "usage"} bodies with provider="deepseek".
    *openai_shaped_schemas(PROVIDER, "DeepSeek", reader=deepseek_usage, chat=False),
)
