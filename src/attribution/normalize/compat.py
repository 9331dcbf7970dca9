"""OpenAI-compatible hosts and gateways: Groq, Cerebras, Together, Fireworks, OpenRouter and the rest.

Many hosts answer with OpenAI's body shapes (``chat.completion``,
``text_completion``, Responses ``response``, embeddings ``list``, and logs
that keep only ``{"model", "usage"}``). The shape says nothing about who
served and billed the call, so this module reads those shapes *for a named
host*:

* **With a hint** (``provider="groq"``, ``"together"``, ...; see
  :data:`HOSTS`), every OpenAI-shaped body is read as that host's and priced
  on that host's card (a hint always wins).
* **Without a hint**, a body is given to a host only on a signal that host
  alone sends: Groq's ``x_groq`` object, Cerebras' ``time_info``, OpenRouter's
  ``gen-<unix time>-<20 characters>`` ids and its ``usage.cost`` /
  ``usage.is_byok`` fields, Ollama's ``system_fingerprint: "fp_ollama"``,
  z.ai's own ``glm-*`` model ids with its ``request_id`` (or date-stamped
  ids), Writer's ``palmyra-*`` models, Fireworks' ``accounts/fireworks/models/...``
  model paths. (Mistral, DeepSeek and Azure have
  their own modules with their own signals.) A body with no such signal and no
  sign of OpenAI either is rejected with ``unknown_provider`` by the OpenAI
  module rather than labelled OpenAI: Hugging Face's router, Snowflake
  Cortex, Crusoe and any vLLM server relay the same bodies (Hugging Face
  passes Together's bodies through unchanged), so nothing in the body can say
  who billed it.

Usage semantics are OpenAI's, with the variants real hosts send:
``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens`` (Together
and Hugging Face put ``cached_tokens`` directly in ``usage``) and
``prompt_tokens_details.cache_write_tokens`` (OpenRouter), and audio input;
``completion_tokens`` includes reasoning and audio output unless
``total_tokens`` shows reasoning counted beside it; Writer spells the details
``prompt_token_details`` / ``completion_token_details``; Groq's older stream
chunks carry the usage in ``x_groq.usage``.

**OpenRouter** bills what it states: ``usage.cost`` (USD credits, including
the web-search fee) becomes the record's ``stated_cost`` (source
``openrouter usage.cost``), ``usage.server_tool_use_details.web_search_requests``
the ``web_search`` meter, the upstream that served the call (``provider``
field) the tag ``upstream_provider``, and ``usage.is_byok: true`` the tag
``openrouter_byok`` (with your own key, ``usage.cost`` is OpenRouter's fee and
``cost_details.upstream_inference_cost`` what the upstream billed your key).
No bundled card prices OpenRouter (its prices follow each upstream and
change often), so an OpenRouter record is quarantined at pricing as
``unknown_model`` with its stated cost quoted in the reason, unless a card
layer of your own prices ``openrouter`` models; when one does, a stated cost
that differs from it by more than 1% raises the ``stated_cost_drift`` flag.

Sources: Groq API reference ("Chat - Create", ``x_groq``, ``usage``
timings); Cerebras Inference API ("Chat Completions", ``time_info``);
OpenRouter API reference ("Usage Accounting": ``usage.cost``,
``cost_details``, ``is_byok``, ``prompt_tokens_details.cache_write_tokens``,
``server_tool_use_details``); Together AI "Chat Completions" (``usage``,
``cached_tokens``); Writer "Chat completion" (``prompt_token_details``);
Ollama "OpenAI compatibility" (``fp_ollama``); Z.ai "Chat Completion"
(``request_id``); the recorded bodies of tests/fixtures/real (pydantic-ai and
openllmetry cassettes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._records import UsageRecord
from .._registry import canonical_provider
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, money
from .openai import (
    RESPONSE_EVENTS,
    chat_record,
    is_anthropic_style,
    is_bare_usage,
    is_chat_completion,
    is_embeddings,
    is_response,
    is_text_completion,
    make_usage,
    normalize_response_with,
    response_of,
    responses_usage,
)

__all__ = [
    "HOSTS",
    "SCHEMAS",
    "claude_provider",
    "compat_usage",
    "is_bare_anthropic_usage",
    "is_bare_usage",
    "is_ollama_native",
    "is_openai_shaped",
    "normalize_bare_anthropic_usage",
    "normalize_named_bare",
    "normalize_ollama_native",
    "openai_shaped_schemas",
]

UsageReader = Callable[[Mapping[str, Any], str], Usage]

#: Hosts whose own model ids start with their name (Groq's ``groq/compound``): never stripped.
_OWN_PREFIXED = frozenset({"groq"})

#: OpenAI-compatible hosts readable with ``provider=`` (card ids; synonyms such as ``together_ai`` fold).
HOSTS: Mapping[str, str] = {
    "groq": "Groq",
    "cerebras": "Cerebras",
    "together": "Together AI",
    "fireworks": "Fireworks AI",
    "huggingface": "Hugging Face Inference Providers (router)",
    "zai": "Z.ai (Zhipu GLM)",
    "snowflake": "Snowflake Cortex (OpenAI-compatible REST)",
    "writer": "Writer (Palmyra)",
    "crusoe": "Crusoe Cloud",
    "ollama": "Ollama (OpenAI-compatible endpoint)",
    "openrouter": "OpenRouter",
    "perplexity": "Perplexity",
    "moonshot": "Moonshot AI (Kimi)",
    "nebius": "Nebius AI Studio",
    "sambanova": "SambaNova Cloud",
    "deepinfra": "DeepInfra",
    "novita": "Novita AI",
    "vllm": "a vLLM server",
    "lmstudio": "LM Studio",
}


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _details(usage: Mapping[str, Any], key: str, path: str) -> tuple[Mapping[str, Any] | None, str]:
    """``prompt_tokens_details`` (or Writer's ``prompt_token_details``) and its path."""
    found = mapping(usage, key, path)
    if found is None:
        alt = key.replace("tokens_details", "token_details")
        found = mapping(usage, alt, path)
        if found is not None:
            return found, _at(path, alt)
    return found, _at(path, key)


def compat_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from an OpenAI-compatible chat ``usage``, whatever host variant it is.

    >>> compat_usage({"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960, "cached_tokens": 100,
    ...               "prompt_tokens_details": {"cache_write_tokens": 300}}, "usage").as_dict()
    {'input': 500, 'cached_input': 100, 'cache_write': 300, 'output': 60}
    """
    prompt = count(usage, "prompt_tokens", path, required=True)
    completion = count(usage, "completion_tokens", path, required=True)
    pd, pdp = _details(usage, "prompt_tokens_details", path)
    cd, cdp = _details(usage, "completion_tokens_details", path)
    cached = count(pd, "cached_tokens", pdp) or count(usage, "cached_tokens", path)
    writes = count(pd, "cache_write_tokens", pdp) or count(pd, "cache_creation_tokens", pdp)
    audio_in = count(pd, "audio_tokens", pdp)
    audio_out = count(cd, "audio_tokens", cdp)
    reasoning = count(cd, "reasoning_tokens", cdp)
    text_in = prompt - cached - writes - audio_in
    if text_in < 0:
        raise NormalizeError("inconsistent_usage", f"cached ({cached}), cache-write ({writes}) and audio ({audio_in}) "
                             f"tokens exceed prompt_tokens ({prompt})", path=_at(path, "prompt_tokens"))
    total = count(usage, "total_tokens", path) if usage.get("total_tokens") is not None else None
    if reasoning and total is not None and total != prompt + completion and total == prompt + completion + reasoning:
        completion += reasoning   # reasoning counted beside completion_tokens (total_tokens says so)
    text_out = completion - audio_out
    if text_out < 0 or reasoning > text_out:
        raise NormalizeError("inconsistent_usage", f"reasoning ({reasoning}) and audio ({audio_out}) tokens exceed "
                             f"completion_tokens ({completion})", path=_at(path, "completion_tokens"))
    searches = 0
    tools = mapping(usage, "server_tool_use_details", path)
    if tools is not None:
        searches = count(tools, "web_search_requests", _at(path, "server_tool_use_details"))
    return make_usage(path, input=text_in, cached_input=cached, cache_write=writes, output=text_out,
                      reasoning=reasoning, input_audio=audio_in, output_audio=audio_out, web_search=searches)


def _usage_object(payload: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], str]:
    usage = mapping(payload, "usage", path)
    if usage is not None:
        return usage, _at(path, "usage")
    groq = mapping(payload, "x_groq", path)
    inner = mapping(groq, "usage", _at(path, "x_groq")) if groq is not None else None
    if inner is not None:   # Groq's older stream chunks: usage only inside x_groq
        return inner, _at(path, "x_groq.usage")
    raise NormalizeError("missing_usage", "response has no usage (for streams, request "
                         "stream_options.include_usage and keep the final chunk)", path=_at(path, "usage"))


def _stated(record: UsageRecord, payload: Mapping[str, Any], usage: Mapping[str, Any], path: str) -> UsageRecord:
    """OpenRouter's stated cost and tags on a record read from one of its bodies."""
    cost = money(usage.get("cost"), _at(path, "cost")) if usage.get("cost") is not None else None
    tags = dict(record.tags)
    upstream = payload.get("provider")
    if isinstance(upstream, str) and upstream:
        tags.setdefault("upstream_provider", upstream)
    if usage.get("is_byok") is True:
        tags.setdefault("openrouter_byok", "true")
    if cost is None and tags == dict(record.tags):
        return record
    return attrs.evolve(record, tags=tags, stated_cost=cost, stated_cost_currency="USD" if cost is not None else None,
                        stated_cost_source="openrouter usage.cost" if cost is not None else None)


# --- detection signals ------------------------------------------------------------------------------

_OPENROUTER_ID = re.compile(r"gen-\d{9,11}-[A-Za-z0-9]{16,24}")
_ZAI_MODEL = re.compile(r"(?:zai/)?glm-\d[\w.-]*")   # zai/ as LiteLLM writes it
_ZAI_ID = re.compile(r"\d{14}[0-9a-f]*")


def _body(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = response_of(payload)
    return inner if inner is not None else payload


def _groq(body: Mapping[str, Any]) -> bool:
    return is_mapping(body.get("x_groq"))


def _cerebras(body: Mapping[str, Any]) -> bool:
    return is_mapping(body.get("time_info"))


def _openrouter(body: Mapping[str, Any]) -> bool:
    ident = body.get("id")
    if type(ident) is str and ident.startswith("gen-") and _OPENROUTER_ID.fullmatch(ident):
        return True
    usage = body.get("usage")
    return is_mapping(usage) and ("is_byok" in usage or "cost_details" in usage)


def _ollama(body: Mapping[str, Any]) -> bool:
    return body.get("system_fingerprint") == "fp_ollama"


def _zai(body: Mapping[str, Any]) -> bool:
    model, ident = body.get("model"), body.get("id")
    return (type(model) is str and model.startswith(("glm-", "zai/glm-")) and _ZAI_MODEL.fullmatch(model) is not None
            and ("request_id" in body or (isinstance(ident, str) and _ZAI_ID.fullmatch(ident) is not None)))


def _fireworks(body: Mapping[str, Any]) -> bool:
    model = body.get("model")
    return type(model) is str and model.startswith("accounts/fireworks/models/")


def _writer(body: Mapping[str, Any]) -> bool:
    model = body.get("model")
    return type(model) is str and model.startswith("palmyra-")


#: Each host's own signal, checked on the body (the response inside a Responses stream event).
_SIGNALS: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "groq": _groq, "cerebras": _cerebras, "openrouter": _openrouter, "ollama": _ollama, "zai": _zai,
    "writer": _writer, "fireworks": _fireworks,
}
#: Top-level keys a host's signalled body always has (Schema.keys: detection skips the rest unasked).
_SIGNAL_KEYS: Mapping[str, frozenset[str]] = {
    "groq": frozenset({"x_groq"}), "cerebras": frozenset({"time_info"}), "ollama": frozenset({"system_fingerprint"}),
    "openrouter": frozenset({"object", "type"}), "zai": frozenset({"object"}), "writer": frozenset({"object"}),
    "fireworks": frozenset({"object"}),
}


def _signal_of(payload: Mapping[str, Any]) -> str | None:
    """The host whose own signal the body carries, or ``None``."""
    body = _body(payload)
    return next((host for host, signal in _SIGNALS.items() if signal(body)), None)


def is_openai_shaped(payload: Mapping[str, Any]) -> bool:
    """A chat completion (or chunk), legacy text completion, Responses response or embeddings list."""
    return (is_chat_completion(payload) or is_text_completion(payload) or is_response(payload)
            or is_embeddings(payload))


# --- normalizers ----------------------------------------------------------------------------------


def _record(payload: Mapping[str, Any], hints: Hints, provider: str, reader: UsageReader) -> UsageRecord:
    created = payload.get("created")
    if isinstance(created, str) and created.isascii() and created.isdigit() and len(created) <= 12:
        payload = {**payload, "created": int(created)}   # Writer writes Unix seconds as text
    model = payload.get("model")
    if isinstance(model, str) and model.startswith(f"{provider}/") and provider not in _OWN_PREFIXED:
        payload = {**payload, "model": model[len(provider) + 1:]}   # LiteLLM's ModelResponse keeps its prefix
    body = _body(payload)
    if body is not payload:   # a Responses stream event carrying the response
        return _response(payload, hints, provider)
    if is_response(payload):
        return _response(payload, hints, provider)
    if is_embeddings(payload):
        usage, upath = _usage_object(payload, "")
        prompt = count(usage, "prompt_tokens", upath, required=True)
        rec = chat_record(payload, hints, Usage(input=prompt), provider=provider, schema=f"{provider}.embeddings")
        return _stated(rec, payload, usage, upath)
    usage, upath = _usage_object(payload, "")
    meters = responses_usage(usage, upath) if "prompt_tokens" not in usage and "input_tokens" in usage \
        else reader(usage, upath)
    kind = "completions" if is_text_completion(payload) else ("usage" if is_bare_usage(payload) else "chat")
    rec = chat_record(payload, hints, meters, provider=provider, schema=f"{provider}.{kind}",
                      created_key=next((k for k in ("created", "created_at", "timestamp") if payload.get(k) is not None),
                                       "created"))
    return _stated(rec, payload, usage, upath)


def _response(payload: Mapping[str, Any], hints: Hints, provider: str) -> UsageRecord:
    rec = normalize_response_with(payload, hints, provider=provider, schema=f"{provider}.responses")
    body = _body(payload)
    usage = body.get("usage")
    path = "response.usage" if body is not payload else "usage"
    return _stated(rec, body, usage, path) if is_mapping(usage) else rec


def normalize_named_bare(payload: Mapping[str, Any], hints: Hints, provider: str) -> list[UsageRecord]:
    """One record from a bare ``{"provider", "model", "usage"}`` line whose ``provider`` names the host."""
    return [_record(payload, hints, provider, compat_usage)]


def _normalizer(provider: str, reader: UsageReader) -> Callable[[Mapping[str, Any], Hints], list[UsageRecord]]:
    def normalize(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
        return [_record(payload, hints, provider, reader)]

    normalize.__doc__ = f"One record from an OpenAI-shaped body served by {HOSTS.get(provider, provider)}."
    return normalize


def openai_shaped_schemas(provider: str, name: str, *, reader: UsageReader = compat_usage,
                          chat: bool = True) -> tuple[Schema, ...]:
    """The hinted schemas that read OpenAI-shaped bodies as ``provider``'s (only with ``provider=``).

    ``chat=False`` leaves chat completions to the provider's own module (DeepSeek,
    Azure, Mistral read their chat usage themselves). Specificity 5 (2 for bare
    ``{model, usage}`` bodies): never chosen when no provider is given, since
    OpenAI's own schemas (10, and 3 for bare bodies) claim these shapes first.
    """
    def shaped(payload: Mapping[str, Any]) -> bool:
        if is_chat_completion(payload):
            return chat
        return is_text_completion(payload) or is_response(payload) or is_embeddings(payload)

    read = _normalizer(provider, reader)
    return (
        Schema(f"{provider}.openai_compatible", provider, shaped, read,
               f'{name}: OpenAI-shaped chat/completions/responses/embeddings body (only with provider="{provider}")',
               specificity=5, keys=frozenset({"object", "type"})),
        Schema(f"{provider}.usage", provider, is_bare_usage, read,
               f'{name}: a bare {{"model", "usage"}} log body (only with provider="{provider}")',
               specificity=2, keys=frozenset({"usage"})),
    )


# --- bare {"model", "usage"} bodies with Anthropic-style usage ----------------------------------------

#: Bedrock's model ids (``vendor.model``, with a cross-region ``us.``/``eu.``/``global.`` profile prefix) and ARNs.
_BEDROCK_ID = re.compile(r"(?:(?:[a-z]{2,6}\.)?(?:anthropic|amazon|meta|cohere|ai21|mistral|deepseek|writer|qwen|"
                         r"openai|twelvelabs|stability)\.[a-z0-9][\w.:-]*|arn:aws[\w-]*:bedrock:[\w:/.-]+)")


def claude_provider(model: object) -> str | None:
    """Who serves a model id written this way: ``claude-*`` Anthropic's API, ``claude-*@date`` Vertex AI,
    Bedrock's ``vendor.model`` ids and ARNs Bedrock; ``None`` for any other id.

    >>> claude_provider("claude-sonnet-4-5-20250929"), claude_provider("us.anthropic.claude-3-5-haiku-20241022-v1:0")
    ('anthropic', 'bedrock')
    >>> claude_provider("amazon.nova-lite-v1:0"), claude_provider("gemini-2.5-flash")
    ('bedrock', None)
    """
    if not isinstance(model, str):
        return None
    if _BEDROCK_ID.fullmatch(model):
        return "bedrock"
    if model.startswith("claude-"):
        return "vertex" if "@" in model else "anthropic"
    return None


def is_bare_anthropic_usage(payload: Mapping[str, Any]) -> bool:
    """A bare ``{"model", "usage"}`` body whose usage is Anthropic's (cache tokens beside ``input_tokens``)."""
    return is_bare_usage(payload) and is_anthropic_style(payload["usage"])


def normalize_bare_anthropic_usage(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a bare body with Anthropic Messages usage (``input_tokens`` excludes the cache).

    The provider is ``provider=``, or the one the Claude model id's form names
    (see :func:`claude_provider`), else ``unknown_provider``. Cache writes
    split by TTL from ``cache_creation`` (all 5-minute without it).

    (A first-party ``claude-*`` body is read by the Anthropic module's own
    ``anthropic.bare`` schema, which ranks above this one.)

    >>> from attribution import normalize
    >>> rec = normalize({"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "usage": {"input_tokens": 14,
    ...                  "output_tokens": 65, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 300}})
    >>> rec.provider, rec.usage.input, rec.usage.cached_input, rec.usage.cache_write, rec.schema
    ('bedrock', 14, 2000, 300, 'bare.anthropic')
    """
    from .anthropic import message_usage  # imported late: anthropic's module is not needed otherwise

    named = payload.get("provider")
    provider = hints.provider or (canonical_provider(named) if isinstance(named, str) and named.strip() else None) \
        or claude_provider(payload.get("model"))
    if provider is None:
        raise NormalizeError("unknown_provider", f"a bare log body with Anthropic-style usage for model "
                             f"{str(payload.get('model'))[:60]!r}: pass provider= (anthropic, bedrock, vertex...)",
                             path="model")
    usage = mapping(payload, "usage", "", required=True)
    assert usage is not None
    created = next((k for k in ("created", "created_at", "timestamp") if payload.get(k) is not None), "created")
    return [chat_record(payload, hints, message_usage(usage, "usage"), provider=provider, schema="bare.anthropic",
                        created_key=created)]


# --- Ollama's own API (/api/chat, /api/generate) ---------------------------------------------------


def is_ollama_native(payload: Mapping[str, Any]) -> bool:
    """A response (or stream chunk) of Ollama's own ``/api/chat`` or ``/api/generate``."""
    return (isinstance(payload.get("done"), bool) and isinstance(payload.get("model"), str)
            and "created_at" in payload and "object" not in payload
            and any(k in payload for k in ("message", "response", "eval_count", "prompt_eval_count")))


def normalize_ollama_native(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a final (``done: true``) Ollama ``/api/chat`` or ``/api/generate`` response.

    ``prompt_eval_count`` is the prompt tokens evaluated (input) and
    ``eval_count`` the tokens generated (output). Ollama leaves
    ``prompt_eval_count`` out when the whole prompt came from its own KV cache
    (nothing was evaluated): input is then 0. A chunk with ``done: false``
    carries no counts and is rejected (``missing_usage``). No bundled card
    prices a local model: the record is quarantined at pricing unless a card
    of your own prices ``ollama`` models (a GPU's cost per token, say).

    Source: Ollama API docs, "Generate a completion" and "Generate a chat
    completion" (response fields ``prompt_eval_count``, ``eval_count``,
    ``done``, ``created_at``).
    """
    if payload.get("done") is not True or "eval_count" not in payload:
        raise NormalizeError("missing_usage", "an Ollama stream chunk before the last (done: false) carries no "
                             "token counts; keep the final chunk (done: true)", path="done")
    meters = make_usage("", input=count(payload, "prompt_eval_count", ""),
                        output=count(payload, "eval_count", "", required=True))
    return [chat_record(payload, hints, meters, provider=hints.provider or "ollama", schema="ollama.native",
                        created_key="created_at")]


def _signalled(host: str) -> Callable[[Mapping[str, Any]], bool]:
    signal = _SIGNALS[host]
    events = host == "openrouter"   # the one host here whose Responses stream events are told apart

    def detect(payload: Mapping[str, Any]) -> bool:
        # The signal first: it is one or two dict look-ups, and false for almost every body.
        if payload.get("type") in RESPONSE_EVENTS:
            inner = payload.get("response")
            return events and is_mapping(inner) and signal(inner)
        return signal(payload) and (is_chat_completion(payload) or is_response(payload)
                                    or is_text_completion(payload) or is_embeddings(payload))
    return detect


#: Hosts with a signal of their own in the body (detected without a hint).
SIGNALLED = ("groq", "cerebras", "openrouter", "ollama", "zai", "writer", "fireworks")

SCHEMAS: tuple[Schema, ...] = (
    Schema("bare.anthropic", None, is_bare_anthropic_usage, normalize_bare_anthropic_usage,
           'a bare {"model", "usage"} log body with Anthropic-style usage (cache tokens beside input_tokens)',
           specificity=3, keys=frozenset({"usage"})),
    Schema("ollama.native", "ollama", is_ollama_native, normalize_ollama_native,
           "Ollama /api/chat or /api/generate response (done, created_at, prompt_eval_count, eval_count)",
           specificity=20, keys=frozenset({"done"})),
    *(Schema(f"{host}.chat", host, _signalled(host), _normalizer(host, compat_usage),
             f"{HOSTS[host]}: OpenAI-shaped body with {host}'s own fields", specificity=20,
             keys=_SIGNAL_KEYS[host] | {"type"} if host == "openrouter" else _SIGNAL_KEYS[host])
      for host in SIGNALLED),
    *(schema for host, name in HOSTS.items() for schema in openai_shaped_schemas(host, name)),
)
