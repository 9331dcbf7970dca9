"""LiteLLM: proxy spend-log rows, callback logging payloads, and LiteLLM's OpenAI-shaped responses.

Three shapes:

* ``LiteLLM_SpendLogs`` rows (below);
* the **StandardLoggingPayload** every LiteLLM callback receives
  (``kwargs["standard_logging_object"]``: ``id``, ``call_type``,
  ``response_cost``, ``status``, ``custom_llm_provider``, ``model``,
  ``model_group``, ``startTime``, token totals, ``metadata`` with the
  ``user_api_key_*`` owner fields, ``request_tags``, ``end_user``,
  ``cache_hit``, and the provider ``response`` itself). The usage is read from
  ``response.usage`` when present (it has the cache and reasoning details),
  else from the top-level totals; ``response_cost`` becomes the record's
  ``stated_cost`` (source ``litellm response_cost``, USD), compared with the
  card price at pricing (flag ``stated_cost_drift``);
* **LiteLLM's ``ModelResponse``** for a non-OpenAI provider (what
  ``litellm.completion()`` returns, dumped): an OpenAI chat completion whose
  ``usage`` carries LiteLLM's ``cache_read_input_tokens`` /
  ``cache_creation_input_tokens``. Its provider comes from ``provider=``, or
  from the model id when only one provider names its models so
  (``claude-*`` is Anthropic's API, ``anthropic.claude-*`` Bedrock's,
  ``claude-*@date`` Vertex AI's); otherwise it is ``unknown_provider``. With
  ``provider="anthropic"``, ``"google"``, ``"vertex"``, ``"bedrock"`` or
  ``"cohere"``, any LiteLLM chat completion is read this way.

LiteLLM proxy: rows of the ``LiteLLM_SpendLogs`` table.

The proxy writes one row per request (``SpendLogsPayload`` in
``litellm/proxy/_types.py``, built by ``get_logging_payload`` in
``litellm/proxy/spend_tracking/spend_tracking_utils.py``): ``request_id``,
``call_type``, ``api_key`` (hashed), ``spend`` (USD, a float), token counts,
``startTime``/``endTime``, ``model`` (the deployment's model, provider prefix
kept for Bedrock and for router deployments), ``model_group`` (the name the
caller asked for), ``custom_llm_provider``, ``user``, ``team_id``,
``end_user``, ``cache_hit``, ``request_tags`` (a JSON list), ``session_id``,
``status`` (``success``/``failure``) and ``metadata`` (a JSON object or its
text: ``user_api_key_*`` owner fields, ``spend_logs_metadata`` and
``additional_usage_values``: every key of LiteLLM's ``Usage`` except the
three token totals). Rows come from the database, ``/spend/logs`` or a CSV
export.

Token semantics are LiteLLM's OpenAI-shaped ``Usage``:

* ``prompt_tokens`` *includes* cache reads for every provider (Anthropic's
  ``cache_read_input_tokens`` is added in), and audio input;
  ``prompt_tokens_details.cached_tokens`` (or, for Anthropic and Bedrock,
  ``cache_read_input_tokens``) is the read count.
* Cache writes (``cache_creation_input_tokens``, or
  ``prompt_tokens_details.cache_write_tokens``/``cache_creation_tokens``) are
  inside ``prompt_tokens`` in current LiteLLM, but were left out of it by the
  Anthropic and Bedrock adapters from April 2025 (LiteLLM PR 9838) until they
  were added back. The row does not say which version wrote it: when
  ``prompt_tokens`` is smaller than reads plus writes, the writes must be
  outside it and are read so; otherwise they are taken as inside. Pass
  ``cached_in_input=True`` to insist they are inside (a row that cannot be is
  then rejected) or ``cached_in_input=False`` for rows whose
  ``prompt_tokens`` exclude reads and writes alike (Anthropic's own
  convention).
* ``prompt_tokens_details.cache_creation_token_details`` splits writes into
  5-minute and 1-hour TTLs; without it writes are 5-minute (the default).
* ``completion_tokens`` includes reasoning
  (``completion_tokens_details.reasoning_tokens``) and audio output.
* ``server_tool_use.web_search_requests`` counts web searches.

``cache_hit`` ``True`` means LiteLLM answered from its own response cache: no
provider call was made and nothing was billed, so the record carries zero
meters (and the tag ``litellm_cache_hit``), while the row's tokens describe
the cached answer. ``spend`` becomes the record's ``estimate``.

Owner tags: ``team`` from ``team_id`` (or ``metadata.user_api_key_team_id``),
``team_alias``, ``user`` from ``user`` (the key owner's LiteLLM user id),
``tenant`` from ``end_user`` (LiteLLM's *customer*, the ``user`` field of the
request), ``api_key`` (hashed) and ``api_key_alias``, ``organization``,
``metadata.spend_logs_metadata`` (owner aliases canonicalized), and
``request_tags``: ``key:value`` tags become tags, bare tags are joined into
``litellm_tags``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .._records import UsageRecord
from .._registry import canonical_provider
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, money, optional_str, tag_name, timestamp
from .compat import claude_provider
from .openai import chat_record, is_chat_completion

__all__ = [
    "SCHEMAS",
    "is_callback_kwargs",
    "is_litellm_chat",
    "is_spend_log",
    "is_standard_logging_payload",
    "normalize_callback_kwargs",
    "normalize_litellm_chat",
    "normalize_spend_log",
    "normalize_standard_logging_payload",
    "spend_log_usage",
]

#: Route segments LiteLLM puts between the provider prefix and a Bedrock model id.
_BEDROCK_ROUTES = ("converse/", "invoke/", "converse_like/")
#: Providers whose own model ids start with their name and a slash (Groq's ``groq/compound``).
_OWN_PREFIXED: Mapping[str, tuple[str, ...]] = {"groq": ("compound",)}


def is_spend_log(payload: Mapping[str, Any]) -> bool:
    """A ``LiteLLM_SpendLogs`` row: only these carry ``spend``, ``call_type`` and ``startTime`` together."""
    return "spend" in payload and "call_type" in payload and "startTime" in payload


def _json_object(value: Any, path: str) -> Mapping[str, Any] | None:
    """A JSON column: an object, or its text (as the table and CSV exports hold it)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError:
            raise NormalizeError("bad_json", f"{path!r} is not valid JSON", path=path) from None
    if value is None:
        return None
    if not is_mapping(value):
        raise NormalizeError("bad_type", f"{path!r} must be a JSON object, got {type(value).__name__}", path=path)
    return value


def _json_list(value: Any, path: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NormalizeError("bad_json", f"{path!r} is not valid JSON", path=path) from None
    if value is None or (is_mapping(value) and not value):
        return []
    if not isinstance(value, list):
        raise NormalizeError("bad_type", f"{path!r} must be a JSON list, got {type(value).__name__}", path=path)
    return value


def spend_log_usage(row: Mapping[str, Any], extra: Mapping[str, Any] | None, path: str,
                    writes_inside: bool | None = None) -> Usage:
    """Disjoint meters from a spend-log row and its ``additional_usage_values``.

    ``writes_inside`` is the caller's ``cached_in_input`` (see the module
    docstring): ``None`` infers where cache writes are from the counts.
    """
    p = f"{path}." if path else ""
    prompt = count(row, "prompt_tokens", path, required=True)
    completion = count(row, "completion_tokens", path, required=True)
    xpath = f"{p}metadata.additional_usage_values"
    pd = mapping(extra, "prompt_tokens_details", xpath) if extra is not None else None
    cd = mapping(extra, "completion_tokens_details", xpath) if extra is not None else None
    pdp, cdp = f"{xpath}.prompt_tokens_details", f"{xpath}.completion_tokens_details"
    reads = count(extra, "cache_read_input_tokens", xpath) or count(pd, "cached_tokens", pdp)
    writes = (count(extra, "cache_creation_input_tokens", xpath) or count(pd, "cache_write_tokens", pdp)
              or count(pd, "cache_creation_tokens", pdp))
    ttl = mapping(pd, "cache_creation_token_details", pdp) if pd is not None else None
    w1h = count(ttl, "ephemeral_1h_input_tokens", f"{pdp}.cache_creation_token_details")
    if w1h > writes:
        raise NormalizeError("inconsistent_usage", f"1-hour cache writes ({w1h}) exceed cache writes ({writes})",
                             path=f"{pdp}.cache_creation_token_details.ephemeral_1h_input_tokens")
    audio_in = count(pd, "audio_tokens", pdp)
    audio_out = count(cd, "audio_tokens", cdp)
    reasoning = count(cd, "reasoning_tokens", cdp)
    tools = mapping(extra, "server_tool_use", xpath) if extra is not None else None
    searches = count(tools, "web_search_requests", f"{xpath}.server_tool_use") or count(pd, "web_search_requests",
                                                                                        pdp)
    if writes_inside is False:
        inp = prompt - audio_in  # Anthropic's convention: reads and writes beside the prompt count
    else:
        inside = prompt >= reads + writes + audio_in if writes_inside is None else True
        inp = prompt - reads - audio_in - (writes if inside else 0)
    if inp < 0:
        raise NormalizeError("inconsistent_usage",
                             f"cache reads ({reads}), cache writes ({writes}) and audio ({audio_in}) tokens exceed "
                             f"prompt_tokens ({prompt}), which LiteLLM reports inclusive of them",
                             path=f"{p}prompt_tokens")
    out = completion - audio_out
    if out < 0 or reasoning > out:
        raise NormalizeError("inconsistent_usage", f"reasoning ({reasoning}) and audio ({audio_out}) tokens "
                             f"exceed completion_tokens ({completion})", path=f"{p}completion_tokens")
    return Usage(input=inp, cached_input=reads, cache_write=writes - w1h, cache_write_1h=w1h, output=out,
                 reasoning=reasoning, input_audio=audio_in, output_audio=audio_out, web_search=searches)


def _scalar(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _provider_and_model(row: Mapping[str, Any], meta: Mapping[str, Any] | None,
                        hints: Hints) -> tuple[str, str | None, str | None]:
    provider = optional_str(row, "custom_llm_provider", "") or None
    served = optional_str(row, "model", "") or None
    if served is None and meta is not None:
        batch_models = meta.get("batch_models")
        if isinstance(batch_models, list) and len(batch_models) == 1 and isinstance(batch_models[0], str):
            served = batch_models[0]
    if served and "/" in served:
        head, rest = served.split("/", 1)
        if (provider is None or canonical_provider(head) == canonical_provider(provider)) and not any(
                rest.startswith(own) for own in _OWN_PREFIXED.get(canonical_provider(head), ())):
            provider = provider or head
            served = rest
    if served and provider and canonical_provider(provider) == "bedrock":
        for route in _BEDROCK_ROUTES:   # with or without the bedrock/ prefix (StandardLoggingPayload drops it)
            if served.startswith(route):
                served = served[len(route):]
    provider = provider or hints.provider
    if not provider:
        raise NormalizeError("missing_field", "row has no custom_llm_provider, no provider prefix on model, "
                             "and no provider= hint", path="custom_llm_provider")
    group = optional_str(row, "model_group", "") or None
    return canonical_provider(provider), group, served


def _tags(row: Mapping[str, Any], meta: Mapping[str, Any] | None, hints: Hints) -> dict[str, str]:
    aliases = hints.tag_aliases
    m = meta or {}
    out: dict[str, str] = {}

    def put(key: str, *values: Any) -> None:
        for value in values:
            text = _scalar(value)
            if text is not None:
                out[key] = text
                return

    put("team", row.get("team_id"), m.get("user_api_key_team_id"))
    put("team_alias", m.get("user_api_key_team_alias"))
    put("user", row.get("user"), m.get("user_api_key_user_id"))
    put("tenant", row.get("end_user"), m.get("user_api_key_end_user_id"))
    put("api_key", row.get("api_key"), m.get("user_api_key"))
    put("api_key_alias", m.get("user_api_key_alias"))
    put("organization", row.get("organization_id"), m.get("user_api_key_org_id"))
    custom = m.get("spend_logs_metadata")
    if is_mapping(custom):
        for key, value in custom.items():
            text = _scalar(value)
            if isinstance(key, str) and text is not None:
                out[tag_name(key, aliases)] = text
    bare: list[str] = []
    tag_list = _json_list(row.get("request_tags"), "request_tags") or _json_list(m.get("tags"), "metadata.tags")
    for tag in tag_list:
        if not isinstance(tag, str) or not tag:
            continue
        key, sep, value = tag.partition(":")
        if sep and key and value:
            out[tag_name(key, aliases)] = value
        elif tag not in bare:
            bare.append(tag)
    if bare:
        out["litellm_tags"] = ",".join(bare)
    if _truthy(row.get("cache_hit")):
        out["litellm_cache_hit"] = "true"
    for key, value in hints.tags.items():
        out[tag_name(key, aliases)] = value
    return out


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes")


def normalize_spend_log(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from one ``LiteLLM_SpendLogs`` row.

    Source: LiteLLM ``litellm/proxy/_types.py`` (``SpendLogsPayload``,
    ``SpendLogsMetadata``), ``spend_tracking_utils.get_logging_payload`` and
    ``litellm/types/utils.py`` (``Usage``); LiteLLM docs, "Spend Tracking".
    """
    meta = _json_object(payload.get("metadata"), "metadata")
    extra_raw = meta.get("additional_usage_values") if meta is not None else None
    extra = _json_object(extra_raw, "metadata.additional_usage_values")
    provider, group, served = _provider_and_model(payload, meta, hints)
    model = hints.model or group or served
    if not model:
        raise NormalizeError("missing_field", "row has no model_group or model and no model= hint", path="model")
    usage = spend_log_usage(payload, extra, "", hints.cached_in_input)
    if _truthy(payload.get("cache_hit")):
        usage = Usage()  # answered from LiteLLM's own cache: no provider call, nothing billed
    call_type = optional_str(payload, "call_type", "") or ""
    status = optional_str(payload, "status", "")
    if status is None and meta is not None:
        status = _scalar(meta.get("status"))
    return [UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage,
        at=timestamp(payload.get("startTime"), "startTime") or hints.at,
        request_id=optional_str(payload, "request_id", "") or hints.request_id,
        trace_id=optional_str(payload, "session_id", "") or None,
        outcome="error" if status is not None and status.lower() == "failure" else "ok",
        service_tier="batch" if "batch" in call_type else hints.service_tier,
        region=hints.region,
        tags=_tags(payload, meta, hints),
        estimate=money(payload.get("spend"), "spend"),
        schema="litellm.spend_log",
        source=hints.source,
    )]


# --- StandardLoggingPayload ------------------------------------------------------------------------


def is_standard_logging_payload(payload: Mapping[str, Any]) -> bool:
    """A LiteLLM ``StandardLoggingPayload``: ``response_cost``, ``call_type`` and ``startTime`` together."""
    return "response_cost" in payload and "call_type" in payload and "startTime" in payload and "spend" not in payload


def normalize_standard_logging_payload(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a LiteLLM ``StandardLoggingPayload`` (a callback's ``standard_logging_object``).

    Source: LiteLLM ``litellm/types/utils.py`` (``StandardLoggingPayload``,
    ``StandardLoggingMetadata``, ``StandardLoggingHiddenParams``); LiteLLM
    docs, "StandardLoggingPayload"; the payload recorded in LiteLLM's
    ``tests/logging_callback_tests/gcs_pub_sub_body/standard_logging_payload.json``.
    """
    meta = _json_object(payload.get("metadata"), "metadata")
    response = mapping(payload, "response", "") if is_mapping(payload.get("response")) else None
    usage = mapping(response, "usage", "response") if response is not None else None
    if usage is not None and usage.get("prompt_tokens") is not None:
        meters = spend_log_usage(usage, usage, "response.usage", hints.cached_in_input)
    elif payload.get("prompt_tokens") is not None:
        meters = spend_log_usage(payload, None, "", hints.cached_in_input)
    else:
        raise NormalizeError("missing_usage", "the logging payload has no prompt_tokens and no response.usage "
                             "(a failed call, or a call type without token usage)", path="prompt_tokens")
    provider, group, served = _provider_and_model(payload, meta, hints)
    model = hints.model or group or served
    if not model:
        raise NormalizeError("missing_field", "payload has no model_group or model and no model= hint", path="model")
    if _truthy(payload.get("cache_hit")):
        meters = Usage()  # answered from LiteLLM's own cache: no provider call, nothing billed
    status = optional_str(payload, "status", "")
    call_type = optional_str(payload, "call_type", "") or ""
    stated = money(payload.get("response_cost"), "response_cost")
    return [UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=meters,
        at=timestamp(payload.get("startTime"), "startTime") or hints.at,
        request_id=optional_str(payload, "id", "") or hints.request_id,
        trace_id=optional_str(payload, "trace_id", "") or None,
        outcome="error" if status is not None and status.lower() == "failure" else "ok",
        service_tier="batch" if "batch" in call_type else hints.service_tier,
        region=hints.region,
        tags=_tags(payload, meta, hints),
        stated_cost=stated,
        stated_cost_currency="USD" if stated is not None else None,
        stated_cost_source="litellm response_cost" if stated is not None else None,
        schema="litellm.standard_logging",
        source=hints.source,
    )]


def is_callback_kwargs(payload: Mapping[str, Any]) -> bool:
    """What a LiteLLM ``CustomLogger`` callback received, kept as a dict: ``standard_logging_object`` and friends."""
    return is_mapping(payload.get("standard_logging_object"))


def normalize_callback_kwargs(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a callback's kwargs: their ``standard_logging_object`` (see
    :func:`normalize_standard_logging_payload`); field paths name it."""
    inner = mapping(payload, "standard_logging_object", "", required=True)
    assert inner is not None
    try:
        return normalize_standard_logging_payload(inner, hints)
    except NormalizeError as exc:
        where = f"standard_logging_object.{exc.path}" if exc.path else "standard_logging_object"
        raise NormalizeError(exc.code, exc.message, path=where) from None


# --- LiteLLM's OpenAI-shaped responses for other providers ------------------------------------------

_LITELLM_USAGE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")
#: Providers whose own API is not OpenAI-shaped: with their hint, a chat completion is LiteLLM's.
LITELLM_HINTED = ("anthropic", "google", "vertex", "bedrock", "cohere")



def is_litellm_chat(payload: Mapping[str, Any]) -> bool:
    """A chat completion whose ``usage`` has LiteLLM's Anthropic-style cache counts."""
    usage = payload.get("usage")
    return is_chat_completion(payload) and is_mapping(usage) and any(k in usage for k in _LITELLM_USAGE_KEYS)


def normalize_litellm_chat(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a LiteLLM ``ModelResponse`` (OpenAI-shaped) for any provider.

    ``prompt_tokens`` includes cache reads and (in current LiteLLM) cache
    writes, as for spend logs (see :func:`spend_log_usage`; ``cached_in_input=``
    overrides). Without ``provider=``, the provider is told from the model id
    only where one provider names its models that way, else ``unknown_provider``.
    """
    provider = hints.provider or claude_provider(payload.get("model"))
    if provider is None:
        raise NormalizeError("unknown_provider", f"a LiteLLM response for model {str(payload.get('model'))[:60]!r}: "
                             "LiteLLM answers in OpenAI's shape for every provider; pass provider= (the "
                             "custom_llm_provider it called)", path="model")
    usage = mapping(payload, "usage", "", required=True)
    assert usage is not None
    meters = spend_log_usage(usage, usage, "usage", hints.cached_in_input)
    return [chat_record(payload, hints, meters, provider=canonical_provider(provider), schema="litellm.chat")]


SCHEMAS = (
    Schema("litellm.spend_log", None, is_spend_log, normalize_spend_log,
           "LiteLLM proxy LiteLLM_SpendLogs row (spend, call_type, startTime, token counts, metadata)", keys=frozenset({"spend"})),
    Schema("litellm.standard_logging", None, is_standard_logging_payload, normalize_standard_logging_payload,
           "LiteLLM StandardLoggingPayload (response_cost, call_type, startTime, response, metadata)",
           keys=frozenset({"response_cost"})),
    Schema("litellm.callback", None, is_callback_kwargs, normalize_callback_kwargs,
           "a LiteLLM callback's kwargs (standard_logging_object, response_obj, custom_llm_provider)",
           keys=frozenset({"standard_logging_object"})),
    Schema("litellm.chat", None, is_litellm_chat, normalize_litellm_chat,
           "LiteLLM ModelResponse: a chat completion with cache_read_input_tokens / cache_creation_input_tokens",
           specificity=15, keys=frozenset({"object"})),
    *(Schema(f"{p}.litellm_chat", p, is_chat_completion, normalize_litellm_chat,
             f'LiteLLM ModelResponse (OpenAI-shaped chat completion) for {p} (only with provider="{p}")',
             specificity=5, keys=frozenset({"object"}))
      for p in LITELLM_HINTED),
)
