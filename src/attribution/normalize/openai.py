"""OpenAI: Chat Completions, Responses, Embeddings, Batch output lines and the Usage API.

Every OpenAI shape reports *inclusive* counts that this module splits into
disjoint meters:

* **Chat Completions** (``object: "chat.completion"`` or the final
  ``"chat.completion.chunk"`` of a stream with ``include_usage``):
  ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens`` and
  audio input tokens; ``completion_tokens`` *includes* reasoning and audio
  output tokens.
* **Responses** (``object: "response"``, or the terminal stream event
  ``response.completed`` / ``response.incomplete`` / ``response.failed`` that
  carries the whole response), and compactions (``object:
  "response.compaction"`` from ``/responses/compact``, schema
  ``openai.compaction``; it may carry no model: pass ``model=``):
  ``input_tokens`` *includes* ``input_tokens_details.cached_tokens`` (and
  ``cache_write_tokens``); ``output_tokens`` *includes*
  ``output_tokens_details.reasoning_tokens``. Each ``web_search_call`` item in
  ``output`` is one billed web-search tool call (the ``web_search`` meter,
  priced per 1,000 calls); the search-content tokens are already inside
  ``input_tokens``.
* **Embeddings** (``object: "list"`` of ``embedding`` items): only
  ``usage.prompt_tokens`` (equal to ``total_tokens``), all uncached input. The
  response carries neither an id nor a timestamp: pass ``at=``.
* **Batch API output lines** (``{"id": "batch_req_...", "custom_id": ...,
  "response": {"status_code", "request_id", "body"}, "error"}``): the body is
  one of the shapes above, billed at the ``batch`` tier. A line whose request
  failed carries no usage and is rejected (``missing_usage``), not priced at $0.
* **Usage API** completions (and embeddings) buckets, alone or as a whole
  ``{"object": "page"}``: one *aggregate* record per result, with
  ``requests = num_model_requests`` and ``at`` = the bucket start. Older results
  count text in ``input_tokens``/``input_cached_tokens`` and audio apart in
  ``input_audio_tokens``; newer ones (recognised by the per-modality fields
  ``input_text_tokens``/``input_uncached_tokens``) count every modality in
  ``input_tokens``. Cached audio is priced with cached text (OpenAI prices the
  two alike on its realtime models); image tokens stay in ``input`` except
  generated ones (``output_image_tokens``).

Not metered here, for lack of a meter: file-search, code-interpreter and
image-generation tool fees of the Responses API (their token usage is kept).

Sources: OpenAI API reference ("The chat completion object", "The chat
completion chunk object", "The response object", "response.completed",
"The embedding object", "The request output object" of the Batch API,
"Completions usage object" of the Usage API) and the ``openai-python`` SDK types
(``ResponseUsage``, ``ResponseFunctionWebSearch``, ``ResponseCompletedEvent``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._records import UsageRecord
from .._registry import canonical_provider
from .._usage import Usage
from ..exceptions import InvalidUsage, NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, optional_str, owner_tags, tag_name, timestamp

__all__ = [
    "SCHEMAS",
    "chat_record",
    "chat_usage",
    "embeddings_usage",
    "is_bare_openai_usage",
    "is_batch_output",
    "is_chat_completion",
    "is_embeddings",
    "is_openai_model",
    "is_response",
    "is_text_completion",
    "is_usage_report",
    "make_usage",
    "normalize_bare_usage",
    "normalize_batch_output",
    "normalize_chat_completion",
    "normalize_embeddings",
    "normalize_response",
    "normalize_response_with",
    "normalize_text_completion",
    "normalize_usage_report",
    "openai_evidence",
    "require_usage",
    "response_of",
    "responses_usage",
    "split_output",
]

PROVIDER = "openai"

#: Terminal Responses stream events; each carries the whole response (with usage).
RESPONSE_EVENTS = ("response.completed", "response.incomplete", "response.failed")

#: Usage API result objects this module reads (others are rejected by name, not skipped).
_USAGE_RESULTS = ("organization.usage.completions.result", "organization.usage.embeddings.result")


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- is it OpenAI's? ------------------------------------------------------------------------------
# OpenAI's shapes are served by many hosts (see compat.py). Without provider=, a body is read as
# OpenAI's only on evidence: an id in OpenAI's own format, or a model id only OpenAI serves.

#: OpenAI's ids: ``chatcmpl-``/``cmpl-`` and 29 base-62 characters; ``resp_`` and 40+ hex digits.
_OPENAI_ID = re.compile(r"(?:chatcmpl|cmpl)-[A-Za-z0-9]{29}|resp_[0-9a-f]{40,}")
#: Model ids only OpenAI's API serves (bare: hosts prefix theirs, e.g. ``openai/gpt-4o``);
#: ``gpt-oss`` is an open-weights family that other hosts serve, so it is not evidence.
_OPENAI_MODEL = re.compile(
    r"(?:ft:)?(?:gpt-(?!oss)|o[1-9](?:-|$)|chatgpt-|text-embedding-|text-davinci-|davinci-|babbage-|codex-|"
    r"computer-use-|omni-moderation-|text-moderation-|gpt-image-|dall-e-|whisper-|tts-)[A-Za-z0-9.:_-]*")


def is_openai_model(model: object) -> bool:
    """A model id that only OpenAI's own API serves (``gpt-4o``, ``o3-mini``, ``ft:gpt-4.1:acme::x1``).

    >>> is_openai_model("gpt-5.4"), is_openai_model("openai/gpt-4o"), is_openai_model("gpt-oss-120b")
    (True, False, False)
    """
    return isinstance(model, str) and _OPENAI_MODEL.fullmatch(model) is not None


def openai_evidence(body: Mapping[str, Any], model: str | None = None) -> bool:
    """Whether an OpenAI-shaped body shows it came from OpenAI: its id's format or an OpenAI model id.

    ``model`` is the caller's ``model=`` hint, which counts as the body's model.

    >>> openai_evidence({"id": "chatcmpl-BAeyRj9gU9aCNSSAskAFbupBWYMIT", "model": "ft:my-model"})
    True
    >>> openai_evidence({"id": "chatcmpl-69930f13-fe23-4584-9d09-c1e1612a2183", "model": "llama3-8b-8192"})
    False
    """
    ident = body.get("id")
    if isinstance(ident, str) and _OPENAI_ID.fullmatch(ident):
        return True
    return is_openai_model(model or body.get("model"))


def _require_openai(body: Mapping[str, Any], hints: Hints, what: str, path: str = "") -> None:
    """Refuse to label a body OpenAI's without a hint or evidence (``unknown_provider``)."""
    if hints.provider is not None or openai_evidence(body, hints.model):
        return
    ident, model = body.get("id"), body.get("model")
    raise NormalizeError(
        "unknown_provider",
        f"an OpenAI-compatible {what} with no sign of who served it (id {str(ident)[:48]!r}, model "
        f"{str(model)[:60]!r}): OpenAI, Azure and many hosts (Together, Fireworks, Hugging Face, vLLM...) send "
        "this shape; pass provider= (e.g. provider=\"together\") to read and price it on that host's card",
        path=_at(path, "model"))


# --- shared building blocks (also used by the Azure, DeepSeek, xAI and Mistral modules) ---------


def make_usage(path: str, **meters: int) -> Usage:
    """A :class:`Usage`, with meter errors (a sum above the sanity limit) as ``NormalizeError``."""
    try:
        return Usage(**meters)
    except InvalidUsage as exc:
        raise NormalizeError("inconsistent_usage", str(exc), path=path or None) from None


def require_usage(payload: Mapping[str, Any], path: str, advice: str = "") -> Mapping[str, Any]:
    """The payload's ``usage`` object, or ``missing_usage`` (never a guessed zero)."""
    usage = mapping(payload, "usage", path)
    if usage is None:
        raise NormalizeError("missing_usage", "response has no usage" + (f" ({advice})" if advice else ""),
                             path=_at(path, "usage"))
    return usage


def split_output(completion: int, reasoning: int, *, prompt: int, total: int | None, reasoning_inside: bool,
                 path: str) -> tuple[int, int]:
    """``(output, reasoning)`` where ``output`` includes reasoning, whatever the provider's convention.

    Providers disagree on whether ``completion_tokens`` includes
    ``reasoning_tokens`` (OpenAI, DeepSeek: inside; xAI chat: beside, with
    ``total_tokens = prompt + completion + reasoning``). When ``total`` is
    reported it decides; otherwise ``reasoning_inside`` (the provider's
    documented convention) does. A total that fits neither is rejected, so a
    record's meters always add up to the total the provider reported.

    >>> split_output(168, 304, prompt=26, total=498, reasoning_inside=False, path="usage")
    (472, 304)
    >>> split_output(1035, 832, prompt=81, total=1116, reasoning_inside=False, path="usage")
    (1035, 832)
    """
    inside_total, beside_total = prompt + completion, prompt + completion + reasoning
    if total is not None:
        if total == inside_total:
            reasoning_inside = True
        elif total == beside_total:
            reasoning_inside = False
        else:
            raise NormalizeError(
                "inconsistent_usage",
                f"total_tokens ({total}) is neither prompt + completion ({inside_total}) nor prompt + "
                f"completion + reasoning ({beside_total})", path=_at(path, "total_tokens"))
    if not reasoning_inside:
        return completion + reasoning, reasoning
    if reasoning > completion:
        raise NormalizeError("inconsistent_usage",
                             f"reasoning_tokens ({reasoning}) exceed completion_tokens ({completion})",
                             path=_at(path, "completion_tokens"))
    return completion, reasoning


def chat_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Chat Completions ``usage`` object.

    ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens`` (cache
    reads), ``cache_write_tokens`` (prompt-cache writes, priced apart on models
    with a cache-write rate) and ``audio_tokens``.

    >>> chat_usage({"prompt_tokens": 4020, "completion_tokens": 4,
    ...             "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012}}, "usage").as_dict()
    {'input': 8, 'cache_write': 4012, 'output': 4}
    """
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    pd = mapping(usage, "prompt_tokens_details", path)
    cd = mapping(usage, "completion_tokens_details", path)
    cached = count(pd, "cached_tokens", f"{path}.prompt_tokens_details")
    # cache_creation_tokens: the same count as LiteLLM's OpenAI-shaped responses write it.
    writes = (count(pd, "cache_write_tokens", f"{path}.prompt_tokens_details")
              or count(pd, "cache_creation_tokens", f"{path}.prompt_tokens_details"))
    audio_in = count(pd, "audio_tokens", f"{path}.prompt_tokens_details")
    reasoning = count(cd, "reasoning_tokens", f"{path}.completion_tokens_details")
    audio_out = count(cd, "audio_tokens", f"{path}.completion_tokens_details")
    text_in = prompt - cached - writes - audio_in
    text_out = completion - audio_out
    if text_in < 0:
        raise NormalizeError("inconsistent_usage",
                             f"cached ({cached}), cache-write ({writes}) and audio ({audio_in}) tokens exceed "
                             f"prompt_tokens ({prompt})", path=f"{path}.prompt_tokens")
    if text_out < 0 or reasoning > text_out:
        raise NormalizeError("inconsistent_usage",
                             f"reasoning ({reasoning}) and audio ({audio_out}) tokens exceed completion_tokens "
                             f"({completion})", path=f"{path}.completion_tokens")
    return make_usage(path, input=text_in, cached_input=cached, cache_write=writes, output=text_out,
                      reasoning=reasoning, input_audio=audio_in, output_audio=audio_out)


def _outcome(status: str | None) -> str:
    if status in ("failed", "error"):
        return "error"
    if status in ("cancelled", "canceled"):
        return "cancelled"
    return "ok"


def chat_record(payload: Mapping[str, Any], hints: Hints, usage: Usage, *, provider: str, schema: str,
                path: str = "", service_tier: str | None = None, outcome: str = "ok",
                created_key: str = "created", extra_tags: Mapping[str, str] | None = None) -> UsageRecord:
    """The record for one OpenAI-shaped response whose ``usage`` has been read.

    ``model`` is the caller's ``model=`` hint when given (for Azure, the
    deployment name), else the response's ``model``; ``model_billed`` is the
    response's ``model`` when it differs. ``service_tier`` overrides the
    response's own (the Batch API bills every line at ``batch``).
    """
    served = optional_str(payload, "model", path)
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no model in the response and no model= hint", path=_at(path, "model"))
    tags = owner_tags(payload, path, hints, nested=("metadata",))
    if extra_tags:
        tags = {**extra_tags, **tags}
    return UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage,
        at=timestamp(payload.get(created_key), _at(path, created_key)) or hints.at,
        request_id=optional_str(payload, "id", path) or hints.request_id,
        outcome=outcome,
        service_tier=service_tier or optional_str(payload, "service_tier", path) or hints.service_tier,
        region=hints.region,
        tags=tags,
        schema=schema,
        source=hints.source,
    )


# --- Chat Completions ------------------------------------------------------------------------------


def is_chat_completion(payload: Mapping[str, Any]) -> bool:
    """A Chat Completions response or stream chunk."""
    return payload.get("object") in ("chat.completion", "chat.completion.chunk")


def _chat(payload: Mapping[str, Any], hints: Hints, path: str = "", service_tier: str | None = None,
          extra_tags: Mapping[str, str] | None = None) -> UsageRecord:
    usage = require_usage(payload, path, "for streams, request stream_options.include_usage and keep the final "
                          "chunk")
    return chat_record(payload, hints, chat_usage(usage, _at(path, "usage")), provider=PROVIDER,
                       schema="openai.chat", path=path, service_tier=service_tier, extra_tags=extra_tags)


def normalize_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a Chat Completions response or its final stream chunk.

    Without ``provider=``, the body must show it is OpenAI's (see
    :func:`openai_evidence`), else ``unknown_provider``. Source: OpenAI API
    reference, "The chat completion object" (``usage``, ``service_tier``) and
    "The chat completion chunk object".
    """
    _require_openai(payload, hints, "chat completion")
    return [_chat(payload, hints)]


# --- legacy Completions ----------------------------------------------------------------------------


def is_text_completion(payload: Mapping[str, Any]) -> bool:
    """A legacy Completions response (``object: "text_completion"``; Together writes ``"text.completion"``)."""
    return payload.get("object") in ("text_completion", "text.completion")


def normalize_text_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a legacy Completions response (``gpt-3.5-turbo-instruct``, ``davinci-002``).

    ``usage`` has the chat fields: ``prompt_tokens`` (input) and
    ``completion_tokens`` (output). Source: OpenAI API reference, "The
    completion object" (legacy).
    """
    _require_openai(payload, hints, "text completion")
    usage = require_usage(payload, "")
    return [chat_record(payload, hints, chat_usage(usage, "usage"), provider=PROVIDER, schema="openai.completions")]


# --- Responses -------------------------------------------------------------------------------------


#: Responses API objects with a Responses ``usage``: a response and a compaction (``/responses/compact``).
RESPONSE_OBJECTS = ("response", "response.compaction")


def is_response(payload: Mapping[str, Any]) -> bool:
    """A Responses API response or compaction, or a terminal stream event carrying one."""
    if payload.get("object") in RESPONSE_OBJECTS:
        return True
    return payload.get("type") in RESPONSE_EVENTS and is_mapping(payload.get("response"))


def response_of(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The response a terminal Responses stream event carries (``None`` for a bare response)."""
    if payload.get("object") in RESPONSE_OBJECTS:
        return None
    inner = payload.get("response")
    return inner if payload.get("type") in RESPONSE_EVENTS and is_mapping(inner) else None


def responses_usage(usage: Mapping[str, Any], path: str, web_search: int = 0) -> Usage:
    """Disjoint meters from a Responses ``usage`` object (cached inside input, reasoning inside output).

    ``input_tokens`` includes ``input_tokens_details.cached_tokens`` and
    ``cache_write_tokens``; ``output_tokens`` includes reasoning.
    """
    inp = count(usage, "input_tokens", path, required=True)
    out = count(usage, "output_tokens", path, required=True)
    details = mapping(usage, "input_tokens_details", path)
    cached = count(details, "cached_tokens", f"{path}.input_tokens_details")
    writes = count(details, "cache_write_tokens", f"{path}.input_tokens_details")
    reasoning = count(mapping(usage, "output_tokens_details", path), "reasoning_tokens",
                      f"{path}.output_tokens_details")
    if cached + writes > inp:
        raise NormalizeError("inconsistent_usage", f"cached_tokens ({cached}) and cache_write_tokens ({writes}) "
                             f"exceed input_tokens ({inp})", path=f"{path}.input_tokens")
    if reasoning > out:
        raise NormalizeError("inconsistent_usage", f"reasoning_tokens ({reasoning}) exceed output_tokens ({out})",
                             path=f"{path}.output_tokens")
    return make_usage(path, input=inp - cached - writes, cached_input=cached, cache_write=writes, output=out,
                      reasoning=reasoning, web_search=web_search)


def _web_search_calls(response: Mapping[str, Any], path: str) -> int:
    output = response.get("output")
    if output is None:
        return 0
    if not isinstance(output, list):
        raise NormalizeError("bad_type", f"{_at(path, 'output')!r} must be an array, got {type(output).__name__}",
                             path=_at(path, "output"))
    return sum(1 for item in output if is_mapping(item) and item.get("type") == "web_search_call")


def _response(response: Mapping[str, Any], hints: Hints, path: str = "", service_tier: str | None = None,
              extra_tags: Mapping[str, str] | None = None, provider: str = PROVIDER,
              schema: str = "openai.responses") -> UsageRecord:
    usage = require_usage(response, path, "for streams, keep the final response.completed event")
    meters = responses_usage(usage, _at(path, "usage"), _web_search_calls(response, path))
    status = optional_str(response, "status", path)
    if response.get("object") == "response.compaction":
        schema = schema.replace("responses", "compaction")
    return chat_record(response, hints, meters, provider=provider, schema=schema, path=path,
                       service_tier=service_tier, outcome=_outcome(status), created_key="created_at",
                       extra_tags=extra_tags)


def normalize_response(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a Responses API response or its terminal stream event.

    ``status: "failed"`` gives ``outcome="error"`` and ``"cancelled"`` gives
    ``"cancelled"`` (a failed or incomplete response is billed for what it used).
    Source: OpenAI API reference, "The response object" (``usage``,
    ``created_at``, ``output``, ``service_tier``) and the streaming events
    ``response.completed``, ``response.incomplete``, ``response.failed``.
    """
    return [normalize_response_with(payload, hints)]


def normalize_response_with(payload: Mapping[str, Any], hints: Hints, *, provider: str = PROVIDER,
                            schema: str = "openai.responses") -> UsageRecord:
    """The record of a Responses body (or its terminal stream event) for ``provider``.

    Used by the modules of hosts that serve the Responses API (Azure, DeepSeek,
    OpenRouter...). For OpenAI itself, a body without ``provider=`` must show
    it is OpenAI's (:func:`openai_evidence`), else ``unknown_provider``.
    """
    inner = response_of(payload)
    body, path = (payload, "") if inner is None else (inner, "response")
    if provider == PROVIDER:
        _require_openai(body, hints, "Responses body", path)
    return _response(body, hints, path, provider=provider, schema=schema)


# --- Embeddings ------------------------------------------------------------------------------------


def is_embeddings(payload: Mapping[str, Any]) -> bool:
    """An Embeddings response: a ``list`` of ``embedding`` objects (or an empty list with usage)."""
    data = payload.get("data")
    if payload.get("object") != "list" or not isinstance(data, list):
        return False
    if any(is_mapping(item) and item.get("object") == "embedding" for item in data):
        return True
    return not data and is_mapping(payload.get("usage"))


def embeddings_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Meters from an Embeddings ``usage``: every prompt token is uncached input."""
    prompt = count(usage, "prompt_tokens", path, required=True)
    total = usage.get("total_tokens")
    if total is not None and count(usage, "total_tokens", path) != prompt:
        raise NormalizeError("inconsistent_usage", f"total_tokens ({total}) differs from prompt_tokens ({prompt}); "
                             "embeddings have no output tokens", path=f"{path}.total_tokens")
    return Usage(input=prompt)


def _embeddings(payload: Mapping[str, Any], hints: Hints, path: str = "", service_tier: str | None = None,
                extra_tags: Mapping[str, str] | None = None) -> UsageRecord:
    usage = require_usage(payload, path)
    return chat_record(payload, hints, embeddings_usage(usage, _at(path, "usage")), provider=PROVIDER,
                       schema="openai.embeddings", path=path, service_tier=service_tier, extra_tags=extra_tags)


def normalize_embeddings(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an Embeddings response (no id, no timestamp: use ``request_id=``, ``at=``).

    Without ``provider=`` it is rejected (``unknown_provider``): OpenAI's and
    Azure OpenAI's embeddings bodies are identical (no id, the same model
    ids), so nothing in one says who billed it. Source: OpenAI API reference,
    "Create embeddings" response and "The embedding object".
    """
    if hints.provider is None:
        raise NormalizeError("unknown_provider", "an embeddings response says nothing of who served it: OpenAI, "
                             "Azure OpenAI and OpenAI-compatible hosts send identical bodies; pass provider= "
                             '(e.g. provider="openai" or "azure")', path="model")
    return [_embeddings(payload, hints)]


# --- bare {"model", "usage"} log bodies --------------------------------------------------------------

#: Keys that make a payload one of the full shapes (a response, an event, a trace, a log row), not a bare body.
_SHAPE_KEYS = frozenset({"object", "choices", "type", "output", "data", "candidates", "content", "message",
                         "response", "provider_calls", "custom_id", "call_type", "spend", "response_cost",
                         "resourceSpans", "done", "role", "stop_reason", "usageMetadata", "input_tokens",
                         "output_tokens", "prompt_tokens"})
#: Usage keys only Anthropic-style usage has (cache tokens beside ``input_tokens``).
ANTHROPIC_USAGE_KEYS = ("cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation")


def is_bare_usage(payload: Mapping[str, Any]) -> bool:
    """A log line that kept ``{"model", "usage"}`` of a response (perhaps with an id, a time, its own fields).

    The usage is Chat Completions' (``prompt_tokens``), Responses' or
    Anthropic's (``input_tokens``); none of a full response's keys
    (``object``, ``choices``, ``type``...) are present.
    """
    usage = payload.get("usage")
    return (is_mapping(usage) and isinstance(payload.get("model"), str) and ("prompt_tokens" in usage
            or "input_tokens" in usage) and _SHAPE_KEYS.isdisjoint(payload))


def is_anthropic_style(usage: Mapping[str, Any]) -> bool:
    """Anthropic's usage (``input_tokens`` with cache tokens beside it), not OpenAI's."""
    return "prompt_tokens" not in usage and "input_tokens_details" not in usage and any(
        k in usage for k in ANTHROPIC_USAGE_KEYS)


def is_bare_openai_usage(payload: Mapping[str, Any]) -> bool:
    """A bare ``{"model", "usage"}`` body with OpenAI-style usage: read as OpenAI's only on evidence.

    Without evidence it is ``unknown_provider``; the hosts' own bare schemas
    (``provider="groq"``...) rank below this one. A body with Anthropic-style
    usage is left to the ``bare.anthropic`` schema.
    """
    return is_bare_usage(payload) and not is_anthropic_style(payload["usage"])


def normalize_bare_usage(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a bare ``{"model": ..., "usage": {...}}`` body, a common log shape.

    ``usage`` is read as Chat Completions' (``prompt_tokens``...) or Responses'
    (``input_tokens``...), with their usual inclusive semantics; ``created``,
    ``created_at`` or ``timestamp`` gives the time when present (else ``at=``).
    A ``provider`` field in the line names the provider as a hint would (a
    gateway's log that nests the usage); without either, the model must be one
    of OpenAI's, else ``unknown_provider``.

    >>> from attribution import normalize
    >>> rec = normalize({"model": "gpt-4.1-mini", "usage": {"prompt_tokens": 1200, "completion_tokens": 80,
    ...                  "prompt_tokens_details": {"cached_tokens": 1000}}})
    >>> rec.provider, rec.usage.input, rec.usage.cached_input, rec.schema
    ('openai', 200, 1000, 'openai.bare')
    >>> rec = normalize({"provider": "groq", "model": "llama-3.3-70b-versatile",
    ...                  "usage": {"prompt_tokens": 40, "completion_tokens": 9}})
    >>> rec.provider, rec.schema
    ('groq', 'groq.usage')
    """
    named = payload.get("provider") if hints.provider is None else None
    if isinstance(named, str) and named.strip():
        provider = canonical_provider(named)
        if provider != PROVIDER:
            from .compat import normalize_named_bare  # imported late: compat imports this module
            return normalize_named_bare(payload, hints, provider)
    else:
        _require_openai(payload, hints, 'log body {"model", "usage"}')
    usage = require_usage(payload, "")
    meters = chat_usage(usage, "usage") if "prompt_tokens" in usage else responses_usage(usage, "usage")
    created = next((k for k in ("created", "created_at", "timestamp") if payload.get(k) is not None), "created")
    return [chat_record(payload, hints, meters, provider=PROVIDER, schema="openai.bare", created_key=created)]


# --- Batch API output lines ------------------------------------------------------------------------


def is_batch_output(payload: Mapping[str, Any]) -> bool:
    """A line of a Batch API output or error file."""
    return "custom_id" in payload and ("response" in payload or "error" in payload) and "object" not in payload


_Body = Callable[[Mapping[str, Any], Hints, str, "str | None", "Mapping[str, str] | None"], UsageRecord]

#: How each body object is read, by its ``object`` field.
_BATCH_BODIES: Mapping[str, _Body] = {
    "chat.completion": _chat,
    "response": _response,
    "list": _embeddings,
}


def _error_text(error: Any) -> str:
    if is_mapping(error):
        code, message = error.get("code"), error.get("message")
        return ": ".join(str(part) for part in (code, message) if part) or "unspecified error"
    return str(error)


def normalize_batch_output(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a Batch API output line: its body, billed at the ``batch`` tier.

    ``request_id`` is the body's own id (``chatcmpl-...``, ``resp_...``; for an
    embeddings body the line's ``response.request_id``); ``custom_id`` becomes
    the free-form tag ``custom_id``. A failed request (``error`` set, or a
    non-2xx ``status_code`` with an error body) carries no usage and raises
    ``missing_usage`` naming the error; one that does carry usage is a record
    with ``outcome="error"``.

    Source: OpenAI API reference, Batch, "The request output object"; Batch
    guide, "Retrieving the results".
    """
    custom_id = optional_str(payload, "custom_id", "")
    extra = {"custom_id": custom_id} if custom_id else None
    response = mapping(payload, "response", "")
    error = payload.get("error")
    body = mapping(response, "body", "response") if response is not None else None
    if body is None or not is_mapping(body.get("usage")):
        why = error if error is not None else (body.get("error") if body is not None else None)
        if why is not None:
            detail = f"the batch request failed ({_error_text(why)}); a failed request carries no usage"
        elif response is None:
            detail = "the line has neither a response nor an error"
        else:
            detail = "the response has no body with usage"
        where = "response.body.usage" if body is not None else ("error" if error is not None else "response.body")
        raise NormalizeError("missing_usage", detail, path=where)
    kind = body.get("object")
    read = _BATCH_BODIES.get(kind) if isinstance(kind, str) else None
    if read is None:
        raise NormalizeError("unknown_schema", f"batch body object {kind!r} is not one of "
                             f"{', '.join(sorted(_BATCH_BODIES))}", path="response.body.object")
    if kind == "list" and hints.request_id is None:
        request_id = optional_str(response, "request_id", "response") if response is not None else None
        hints = attrs.evolve(hints, request_id=request_id)
    record = read(body, hints, "response.body", "batch", extra)
    failed = response is not None and response.get("status_code") is not None and not (
        200 <= count(response, "status_code", "response") < 300)
    if error is not None or failed:
        return [attrs.evolve(record, outcome="error")]
    return [record]


# --- Usage API (organization usage buckets) --------------------------------------------------------


def _results_of(bucket: Any) -> list[Any] | None:
    if not is_mapping(bucket) or bucket.get("object") != "bucket":
        return None
    results = bucket.get("results", bucket.get("result"))
    return results if isinstance(results, list) else None


def _usage_buckets(payload: Mapping[str, Any]) -> list[Any] | None:
    if payload.get("object") == "bucket":
        return [payload]
    if payload.get("object") == "page" and isinstance(payload.get("data"), list):
        return list(payload["data"])
    return None


def is_usage_report(payload: Mapping[str, Any]) -> bool:
    """A Usage API bucket, or a page of buckets, whose results are usage (not costs) results."""
    buckets = _usage_buckets(payload)
    if buckets is None:
        return False
    for bucket in buckets:
        results = _results_of(bucket)
        if results is None:
            return False
        for result in results:
            kind = result.get("object") if is_mapping(result) else None
            if not (isinstance(kind, str) and kind.startswith("organization.usage.")):
                return False
    return True


#: Fields only the current (2026) completions results carry: counts given explicitly by cache state.
_EXPLICIT = ("input_uncached_tokens", "input_cache_write_tokens", "input_cached_text_tokens",
             "input_cached_audio_tokens", "input_cached_image_tokens")


def _explicit_bucket_usage(result: Mapping[str, Any], path: str) -> Usage:
    """Meters from a current completions result, which states every count by cache state.

    ``input_tokens`` = ``input_uncached_tokens`` + ``input_cached_tokens`` +
    ``input_cache_write_tokens``, over text, audio and image; the per-modality
    ``input_text_tokens`` / ``input_audio_tokens`` / ``input_image_tokens``
    count *uncached* tokens (they add up to ``input_uncached_tokens``) and
    ``input_cached_*_tokens`` the cached ones. The explicit fields are used
    when present and checked against the totals. (A result whose per-modality
    counts instead add up to ``input_tokens`` counts them cached included, as
    an intermediate form did; that is read too.)
    """
    n, has, bad = _bucket_readers(result, path)
    inp = count(result, "input_tokens", path, required=True)
    out = count(result, "output_tokens", path, required=True)
    writes = n("input_cache_write_tokens")
    per_cached = n("input_cached_text_tokens") + n("input_cached_audio_tokens") + n("input_cached_image_tokens")
    cached = n("input_cached_tokens") if has("input_cached_tokens") else per_cached
    if has("input_cached_tokens") and per_cached and per_cached != cached:
        raise bad(f"input_cached_text/audio/image_tokens ({per_cached}) differ from input_cached_tokens ({cached})",
                  "input_cached_tokens")
    uncached = n("input_uncached_tokens") if has("input_uncached_tokens") else inp - cached - writes
    if uncached + cached + writes != inp:
        raise bad(f"input_uncached_tokens ({uncached}) + input_cached_tokens ({cached}) + input_cache_write_tokens "
                  f"({writes}) differ from input_tokens ({inp})", "input_tokens")
    audio, audio_cached = n("input_audio_tokens"), n("input_cached_audio_tokens")
    if has("input_text_tokens"):
        modal = n("input_text_tokens") + audio + n("input_image_tokens")
        if modal == uncached:
            audio_uncached = audio
        elif modal == inp and audio_cached <= audio:
            audio_uncached = audio - audio_cached   # per-modality counts with the cached tokens inside
        else:
            raise bad(f"input_text_tokens + input_audio_tokens + input_image_tokens ({modal}) are neither "
                      f"input_uncached_tokens ({uncached}) nor input_tokens ({inp})", "input_text_tokens")
    else:
        audio_uncached = audio
    if audio_uncached > uncached:
        raise bad(f"uncached audio tokens ({audio_uncached}) exceed input_uncached_tokens ({uncached})",
                  "input_audio_tokens")
    audio_out, image_out = n("output_audio_tokens"), n("output_image_tokens")
    out = _text_output(result, path, out, audio_out, image_out)
    return make_usage(path, input=uncached - audio_uncached, cached_input=cached, cache_write=writes,
                      input_audio=audio_uncached, output=out, output_audio=audio_out, output_image=image_out)


def _bucket_readers(result: Mapping[str, Any], path: str) -> tuple[Callable[[str], int], Callable[[str], bool],
                                                                   Callable[[str, str], NormalizeError]]:
    """A usage bucket's readers: a count (0 when absent), whether a key is given, an error at a key."""
    def n(key: str) -> int:
        return count(result, key, path)

    def has(key: str) -> bool:
        return result.get(key) is not None

    def bad(message: str, key: str) -> NormalizeError:
        return NormalizeError("inconsistent_usage", message, path=f"{path}.{key}")

    return n, has, bad


def _text_output(result: Mapping[str, Any], path: str, out: int, audio_out: int, image_out: int) -> int:
    """Text output of a per-modality result: ``output_text_tokens``, checked against ``output_tokens``."""
    n, has, bad = _bucket_readers(result, path)
    if has("output_text_tokens"):
        if out != n("output_text_tokens") + audio_out + image_out:
            raise bad(f"output_tokens ({out}) is not the sum of text ({n('output_text_tokens')}), audio "
                      f"({audio_out}) and image ({image_out}) output tokens", "output_tokens")
        return n("output_text_tokens")
    if audio_out or image_out:
        raise NormalizeError("ambiguous_usage", "a per-modality result with audio or image output but no "
                             "output_text_tokens: cannot tell whether output_tokens includes them",
                             path=f"{path}.output_text_tokens")
    return out


def _bucket_usage(result: Mapping[str, Any], path: str) -> Usage:
    """Meters from one completions result, older (text-only ``input_tokens``) or newer (all modalities)."""
    if any(result.get(key) is not None for key in _EXPLICIT):
        return _explicit_bucket_usage(result, path)
    n, has, bad = _bucket_readers(result, path)
    inp = count(result, "input_tokens", path, required=True)
    out = count(result, "output_tokens", path, required=True)
    cached = n("input_cached_tokens")
    audio_in, audio_in_cached = n("input_audio_tokens"), n("input_cached_audio_tokens")
    audio_out, image_out = n("output_audio_tokens"), n("output_image_tokens")
    if audio_in_cached > audio_in:
        raise bad(f"input_cached_audio_tokens ({audio_in_cached}) exceed input_audio_tokens ({audio_in})",
                  "input_cached_audio_tokens")
    if has("input_text_tokens"):
        # Newer results without the explicit fields: input_tokens, input_cached_tokens and output_tokens
        # span every modality, the per-modality counts include their cached tokens.
        if has("input_text_tokens") and inp != n("input_text_tokens") + audio_in + n("input_image_tokens"):
            raise bad(f"input_tokens ({inp}) is not the sum of text ({n('input_text_tokens')}), audio ({audio_in}) "
                      f"and image ({n('input_image_tokens')}) input tokens", "input_tokens")
        all_in, all_cached = inp, cached
        out = _text_output(result, path, out, audio_out, image_out)
    else:
        # Older results: input_tokens and input_cached_tokens count text only; audio is counted apart.
        if cached > inp:
            raise bad(f"input_cached_tokens ({cached}) exceed input_tokens ({inp})", "input_cached_tokens")
        all_in, all_cached = inp + audio_in, cached + audio_in_cached
    uncached_audio = audio_in - audio_in_cached
    text_in = all_in - all_cached - uncached_audio
    if text_in < 0:
        raise bad(f"cached ({all_cached}) and uncached audio ({uncached_audio}) tokens exceed input_tokens ({inp})",
                  "input_cached_tokens")
    return make_usage(path, input=text_in, cached_input=all_cached, input_audio=uncached_audio, output=out,
                      output_audio=audio_out, output_image=image_out)


def _bucket_record(result: Mapping[str, Any], start: Any, path: str, bucket_path: str,
                   hints: Hints) -> UsageRecord:
    kind = result.get("object")
    if kind not in _USAGE_RESULTS:
        raise NormalizeError("unsupported_result", f"usage result {kind!r} is not supported (only "
                             f"{', '.join(_USAGE_RESULTS)})", path=_at(path, "object"))
    if kind == "organization.usage.embeddings.result":
        usage = Usage(input=count(result, "input_tokens", path, required=True))
    else:
        usage = _bucket_usage(result, path)
    served = optional_str(result, "model", path)
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "usage result has no model (query the Usage API with "
                             "group_by=model) and no model= hint", path=_at(path, "model"))
    batch = result.get("batch")
    if batch is not None and not isinstance(batch, bool):
        raise NormalizeError("bad_type", f"{_at(path, 'batch')!r} must be true, false or null", path=_at(path, "batch"))
    tier = "batch" if batch else optional_str(result, "service_tier", path) or hints.service_tier
    tags = owner_tags({k: result.get(k) for k in ("project_id", "user_id")}, path, Hints(tag_aliases=hints.tag_aliases))
    api_key = optional_str(result, "api_key_id", path)
    if api_key:
        tags["api_key"] = api_key
    for key, value in hints.tags.items():
        tags[tag_name(key, hints.tag_aliases)] = value
    return UsageRecord(
        provider=PROVIDER,
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage,
        at=timestamp(start, _at(bucket_path, "start_time")) or hints.at,
        service_tier=tier,
        region=hints.region,
        requests=count(result, "num_model_requests", path, required=True),
        tags=tags,
        schema="openai.usage",
        source=hints.source,
    )


def normalize_usage_report(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One aggregate record per result of a Usage API bucket (or of every bucket of a page).

    ``requests`` is ``num_model_requests``, ``at`` the bucket's
    ``start_time``; ``batch: true`` means the ``batch`` tier; ``project_id``,
    ``user_id`` and ``api_key_id`` (present when grouped by them) become the
    tags ``project``, ``user`` and ``api_key``. Query with ``group_by=model``:
    a result without a model cannot be priced and is rejected. A report with no
    results at all raises ``empty_usage`` (there is nothing to price).

    Source: OpenAI API reference, Usage, "Completions" and "Embeddings"
    (``organization.usage.*.result``, bucket and page objects).
    """
    buckets = _usage_buckets(payload)
    if buckets is None:
        raise NormalizeError("bad_type", 'expected a usage "bucket" or a "page" of buckets', path="object")
    paged = payload.get("object") == "page"
    out: list[UsageRecord] = []
    for i, bucket in enumerate(buckets):
        bpath = f"data[{i}]" if paged else ""
        results = _results_of(bucket)
        if results is None:
            raise NormalizeError("bad_type", "expected a usage bucket with a results array", path=bpath or None)
        assert is_mapping(bucket)
        key = "results" if "results" in bucket else "result"
        for j, result in enumerate(results):
            rpath = f"{_at(bpath, key)}[{j}]"
            if not is_mapping(result):
                raise NormalizeError("bad_type", f"{rpath!r} must be an object", path=rpath)
            out.append(_bucket_record(result, bucket.get("start_time"), rpath, bpath, hints))
    if not out:
        raise NormalizeError("empty_usage", "the usage report holds no results (no usage in its period)",
                             path="data" if paged else "results")
    return out


SCHEMAS = (
    Schema("openai.chat", "openai", is_chat_completion, normalize_chat_completion,
           'OpenAI Chat Completions response or final stream chunk (object "chat.completion[.chunk]")', keys=frozenset({"object"})),
    Schema("openai.completions", "openai", is_text_completion, normalize_text_completion,
           'OpenAI legacy Completions response (object "text_completion")', keys=frozenset({"object"})),
    Schema("openai.bare", "openai", is_bare_openai_usage, normalize_bare_usage,
           'a bare {"model", "usage"} log body with OpenAI chat or Responses usage', specificity=3,
           keys=frozenset({"usage"})),
    Schema("openai.responses", "openai", is_response, normalize_response,
           'OpenAI Responses API response (object "response" or "response.compaction") or its terminal '
           'stream event ("response.completed")', keys=frozenset({"object", "type"})),
    Schema("openai.embeddings", "openai", is_embeddings, normalize_embeddings,
           'OpenAI Embeddings response (object "list" of "embedding" objects with usage)', keys=frozenset({"object"})),
    Schema("openai.batch", "openai", is_batch_output, normalize_batch_output,
           'OpenAI Batch API output line ({"id": "batch_req_...", "custom_id", "response", "error"})', keys=frozenset({"custom_id"})),
    Schema("openai.usage", "openai", is_usage_report, normalize_usage_report,
           'OpenAI Usage API bucket or page (object "bucket"/"page" of organization.usage.* results)', keys=frozenset({"object"})),
)
