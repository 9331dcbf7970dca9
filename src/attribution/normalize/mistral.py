"""Mistral: Chat Completions responses (La Plateforme / Mistral AI Studio), including final stream chunks.

Mistral's ``usage`` has ``prompt_tokens``, ``completion_tokens`` and
``total_tokens``. Mistral does report prompt-cache hits: with prompt caching
(``prompt_cache_key``), ``usage.prompt_tokens_details.cached_tokens`` counts
the cached prefix, billed at 10% of the input price. As in the OpenAI
convention Mistral follows, the cached tokens are part of ``prompt_tokens``,
so ``input = prompt_tokens - cached_tokens``. Reasoning models (Magistral)
bill thinking as output; when ``completion_tokens_details.reasoning_tokens``
is reported it is read as part of ``completion_tokens`` unless
``total_tokens`` says otherwise.

Audio input to Voxtral models is reported as ``prompt_audio_seconds`` and
billed per minute of audio, which no meter carries: a payload with audio
input is rejected (``unsupported_usage``) rather than priced without it.

Mistral's responses have no field that OpenAI's lack, but their form is
Mistral's own: a 32-hex-digit ``id`` (bare, or ``cmpl-`` and 32 hex digits as
in the API reference; never ``chatcmpl-``) with one of
Mistral's model ids (``mistral-*``, ``ministral-*``, ``magistral-*``,
``codestral-*``, ``devstral-*``, ``pixtral-*``, ``voxtral-*``,
``open-mistral-*``). A body with both is read as Mistral's without a hint;
any other is read as Mistral's only with ``provider="mistral"`` (hosts
that serve Mistral's open models write other ids). Embeddings (``object:
"list"``, ``mistral-embed``) are read the same way, as input tokens.

Sources: Mistral AI API reference, "Chat Completion" (response ``usage``:
``prompt_tokens``, ``completion_tokens``, ``total_tokens``, example
``cmpl-e5cc70bb28c444948073e77776eb30ef``); Mistral docs, "Prompt caching"
("cached prompt tokens are billed at 10% of the standard input token price",
``usage.prompt_tokens_details.cached_tokens``); ``mistralai`` SDK
``UsageInfo`` (``prompt_audio_seconds``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, mapping
from .compat import openai_shaped_schemas
from .openai import chat_record, is_chat_completion, is_embeddings, make_usage, require_usage, split_output

__all__ = ["SCHEMAS", "is_mistral_body", "mistral_usage", "normalize_mistral_chat_completion"]

PROVIDER = "mistral"


def mistral_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Mistral chat ``usage`` (cached tokens inside ``prompt_tokens``)."""
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    cached = count(mapping(usage, "prompt_tokens_details", path), "cached_tokens", f"{path}.prompt_tokens_details")
    reasoning = count(mapping(usage, "completion_tokens_details", path), "reasoning_tokens",
                      f"{path}.completion_tokens_details")
    if cached > prompt:
        raise NormalizeError("inconsistent_usage", f"cached_tokens ({cached}) exceed prompt_tokens ({prompt})",
                             path=f"{path}.prompt_tokens")
    audio = usage.get("prompt_audio_seconds")
    if audio is not None:
        if isinstance(audio, bool) or not isinstance(audio, (int, float, Decimal)):
            raise NormalizeError("bad_type", f"{path}.prompt_audio_seconds must be a number, got {audio!r}",
                                 path=f"{path}.prompt_audio_seconds")
        if audio:
            raise NormalizeError("unsupported_usage", f"{audio} seconds of audio input are billed per minute, "
                                 "which no meter carries", path=f"{path}.prompt_audio_seconds")
    total = count(usage, "total_tokens", path) if usage.get("total_tokens") is not None else None
    output, reasoning = split_output(completion, reasoning, prompt=prompt, total=total, reasoning_inside=True,
                                     path=path)
    return make_usage(path, input=prompt - cached, cached_input=cached, output=output, reasoning=reasoning)


_MODEL = re.compile(r"(?:mistral|ministral|magistral|codestral|devstral|pixtral|voxtral|open-mistral|open-mixtral)"
                    r"-[a-z0-9][a-z0-9.-]*")
_ID = re.compile(r"(?:cmpl-)?[0-9a-f]{32}")   # recorded bodies: 32 hex digits; the API reference: cmpl- + 32


def is_mistral_body(payload: Mapping[str, Any]) -> bool:
    """A chat completion (or chunk) or embeddings list in Mistral's own form (32-hex id, Mistral model id).

    >>> is_mistral_body({"id": "59bee455a928496eb22bbf8b8b817252", "object": "chat.completion",
    ...                  "model": "ministral-8b-latest"})
    True
    """
    if not (is_chat_completion(payload) or is_embeddings(payload)):
        return False
    model, ident = payload.get("model"), payload.get("id")
    return (isinstance(model, str) and _MODEL.fullmatch(model) is not None
            and isinstance(ident, str) and _ID.fullmatch(ident) is not None)


def normalize_mistral_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a Mistral chat completion or final stream chunk.

    Source: Mistral AI API reference, "Chat Completion", response ``usage``.
    """
    usage = require_usage(payload, "", "for streams, keep the final chunk, which carries usage")
    if is_embeddings(payload):
        meters = Usage(input=count(usage, "prompt_tokens", "usage", required=True))
        return [chat_record(payload, hints, meters, provider=PROVIDER, schema="mistral.embeddings")]
    return [chat_record(payload, hints, mistral_usage(usage, "usage"), provider=PROVIDER, schema="mistral.chat")]


SCHEMAS = (
    Schema("mistral.chat", PROVIDER, is_mistral_body, normalize_mistral_chat_completion,
           "Mistral chat completion or embeddings in Mistral's form (32-hex id, Mistral model id)",
           specificity=20, keys=frozenset({"object"})),
    # Any other chat completion: reachable only with provider="mistral" (specificity 5 never wins over
    # openai.chat when no provider is given). Its records also say schema="mistral.chat".
    Schema("mistral.chat.hinted", PROVIDER, is_chat_completion, normalize_mistral_chat_completion,
           'Mistral chat completion (only with provider="mistral")', specificity=5, keys=frozenset({"object"})),
    *openai_shaped_schemas(PROVIDER, "Mistral", reader=mistral_usage, chat=False),
)
