"""Langfuse: observation exports (public API observations, traces with their observations).

Langfuse stores each LLM call as a ``GENERATION`` (or ``EMBEDDING``)
observation. Its usage is ``usageDetails``: a map of usage types to counts
that Langfuse prices key by key (cost = sum of count x the model's price for
that key), so the keys are *disjoint* by contract: ``input`` is the uncached
input, and the cache reads, cache writes, audio and reasoning counts are keys
of their own. The keys are free-form; the ones Langfuse's own integrations
write are read here:

* ``input``; cache reads ``input_cached_tokens`` (OpenAI, server-side
  mapping), ``input_cache_read`` (LangChain), ``cache_read_input_tokens``
  (Anthropic); cache writes ``input_cache_creation``,
  ``cache_creation_input_tokens``, ``input_cache_write``..., with ``1h`` in the
  key for 1-hour writes; ``input_audio*``, ``input_image*``;
* ``output`` (without the reasoning or audio tokens that have keys of their
  own); ``output_reasoning*`` (billed as output, and a breakdown of it),
  ``output_audio*``, ``output_image*``, accepted/rejected prediction tokens
  (billed as output);
* ``total`` is a sum and is not billed again; ``*priority*`` keys (LangChain)
  restate tokens counted elsewhere and are skipped.

A key outside these is rejected (``unsupported_usage``, naming the key)
rather than priced as nothing. Older exports have ``usage`` (``input``,
``output``, ``total``, ``unit``) or ``promptTokens``/``completionTokens``;
v2 exports may add ``inputUsage``/``outputUsage``; these carry no cache
breakdown and are read as they are. ``costDetails.total`` (or ``totalCost``,
``calculatedTotalCost``) is Langfuse's own cost of the call: it becomes the
record's ``estimate`` so pricing flags a drift from the card.

An observation does not say which provider served it: pass ``provider=``,
or log it in the metadata (``provider``, ``ls_provider``,
``custom_llm_provider``, ``gen_ai.system``, ``gen_ai.provider.name``);
without either the observation is rejected (``missing_field``), never
guessed. The model is ``providedModelName`` or ``model``; ``startTime`` the
timestamp; ``id``/``traceId``/``parentObservationId`` the record's request,
trace and parent ids; ``level: ERROR`` the outcome; ``userId``,
``environment`` and the metadata's owner keys (``team``, ``tenant_id``...)
owner tags. JSON from the Langfuse SDK's ``model_dump()`` (snake case) is
accepted as well as the API's camelCase.

Logged by LiteLLM (its Langfuse callback), an observation's model is LiteLLM's
``provider/model`` id (``bedrock/anthropic.claude-...``): the prefix names the
provider, the rest is the billed model, and ``usage.totalCost`` (LiteLLM's
cost) is the estimate.

Shapes: one observation (an ingestion ``generation-create`` body has no
``type``: a model and usage make it one); an ingestion request body
(``{"batch": [{"type": "generation-create" | "generation-update", "body"}...]}``,
creates and updates of one generation merged); a page of ``GET /api/public/observations`` or
``/api/public/v2/observations`` (``{"data": [...], "meta": {...}}``); a trace
(``GET /api/public/traces/{id}``: ``{"id", "observations": [...]}``). In a page
or a trace, observations without usage (spans, events, tools) are skipped;
one record per generation. Sources: Langfuse docs, "Model usage and cost
tracking" (usage_details, cost_details, usage types) and the public API
reference (ObservationV2, ObservationsV2Response, Usage); the langfuse
Python SDK 5.2 (``openai.py`` ``_parse_usage``, ``langchain/CallbackHandler.py``
usage key conversion).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._registry import canonical_provider
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, money, optional_str, owner_tags, timestamp, usage_of
from .otel import otel_provider

__all__ = ["SCHEMAS", "is_ingestion_batch", "is_observation", "is_observation_list", "normalize_ingestion_batch",
           "normalize_observation", "normalize_observation_list", "usage_details_meters"]

#: Observation types that are model calls.
_CALL_TYPES = frozenset({"GENERATION", "EMBEDDING"})
_TYPES = _CALL_TYPES | frozenset({"SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR",
                                  "GUARDRAIL"})
_PROVIDER_KEYS = ("provider", "ls_provider", "custom_llm_provider", "gen_ai.system", "gen_ai.provider.name",
                  "llm_provider", "model_provider")


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def is_observation(payload: Mapping[str, Any]) -> bool:
    """One Langfuse observation: a Langfuse ``type`` (or, as in an ingestion ``generation-create`` body,
    none but a model and usage), a ``traceId`` (or ``trace_id``) and a start time."""
    if not (("traceId" in payload or "trace_id" in payload) and ("startTime" in payload or "start_time" in payload)):
        return False
    kind = payload.get("type")
    if kind is None:
        return "model" in payload and any(k in payload for k in ("usageDetails", "usage_details", "usage"))
    return isinstance(kind, str) and kind in _TYPES


def is_observation_list(payload: Mapping[str, Any]) -> bool:
    """A page of observations (``data`` + ``meta``) or a trace with its ``observations``."""
    items = payload.get("observations") if "observations" in payload else payload.get("data")
    if not isinstance(items, list) or not items:
        return False
    if "data" in payload and "meta" not in payload:
        return False
    return all(is_mapping(o) for o in items) and any(is_mapping(o) and is_observation(o) for o in items)


def usage_details_meters(details: Mapping[str, Any], path: str) -> dict[str, int]:
    """Disjoint meters from a ``usageDetails`` map (see the module docstring for the keys).

    >>> usage_details_meters({"input": 200, "input_cached_tokens": 1000, "output": 50,
    ...                       "output_reasoning_tokens": 30, "total": 1280}, "usageDetails")
    {'input': 200, 'cached_input': 1000, 'cache_write': 0, 'cache_write_1h': 0, 'output': 80, 'reasoning': 30, 'input_audio': 0, 'input_image': 0, 'output_audio': 0, 'output_image': 0}

    Raises:
        NormalizeError: ``unsupported_usage`` for a key this reader does not know.
    """
    m = dict.fromkeys(("input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning",
                       "input_audio", "input_image", "output_audio", "output_image"), 0)
    for key in list(details):
        n = count(details, key, path)
        k = key.lower()
        if k in ("total", "unit") or "priority" in k or k.startswith("total_"):
            continue
        if k == "input":
            m["input"] += n
        elif k == "output":
            m["output"] += n
        elif ("cache" in k and ("read" in k or "cached" in k or "hit" in k)) or k == "input_cached_tokens":
            m["cached_input"] += n
        elif "cache" in k and ("creation" in k or "write" in k):
            m["cache_write_1h" if "1h" in k else "cache_write"] += n
        elif k.startswith("input_audio"):
            m["input_audio"] += n
        elif k.startswith("input_image"):
            m["input_image"] += n
        elif k.startswith("output_reasoning") or k == "reasoning_tokens":
            m["output"] += n
            m["reasoning"] += n
        elif k.startswith("output_audio"):
            m["output_audio"] += n
        elif k.startswith("output_image"):
            m["output_image"] += n
        elif k.startswith(("output_accepted_prediction", "output_rejected_prediction")):
            m["output"] += n
        elif n:
            raise NormalizeError("unsupported_usage", f"usage type {key!r} ({n}) is not one this reader knows how "
                                 "to bill; rename it to a Langfuse usage type (input, output, input_cached_tokens, "
                                 "output_reasoning_tokens...)", path=f"{path}.{key}")
    return m


def _meters(obs: Mapping[str, Any], path: str) -> dict[str, int] | None:
    details = _get(obs, "usageDetails", "usage_details")
    if is_mapping(details) and details:
        return usage_details_meters(details, f"{path}usageDetails")
    inp = _get(obs, "inputUsage", "input_usage")
    out = _get(obs, "outputUsage", "output_usage")
    if inp is not None or out is not None:
        return {"input": count(obs, "inputUsage" if "inputUsage" in obs else "input_usage", path),
                "output": count(obs, "outputUsage" if "outputUsage" in obs else "output_usage", path)}
    usage = obs.get("usage")
    if is_mapping(usage) and (usage.get("input") is not None or usage.get("output") is not None):
        unit = usage.get("unit")
        if isinstance(unit, str) and unit.upper() not in ("TOKENS", ""):
            raise NormalizeError("unsupported_usage", f"usage is counted in {unit}, not tokens", path=f"{path}usage.unit")
        return {"input": count(usage, "input", f"{path}usage"), "output": count(usage, "output", f"{path}usage")}
    prompt = _get(obs, "promptTokens", "prompt_tokens")
    completion = _get(obs, "completionTokens", "completion_tokens")
    if prompt is not None or completion is not None:
        return {"input": count(obs, "promptTokens" if "promptTokens" in obs else "prompt_tokens", path),
                "output": count(obs, "completionTokens" if "completionTokens" in obs else "completion_tokens", path)}
    return None


#: Metadata keys LiteLLM's Langfuse logger writes: its ``provider/model`` ids then name the provider.
_LITELLM_KEYS = ("litellm_response_cost", "hidden_params", "litellm_call_id")


def _litellm_route(obs: Mapping[str, Any], model: str) -> tuple[str, str] | None:
    """``(provider, model)`` of a LiteLLM-logged observation whose model is ``provider/model``."""
    meta = obs.get("metadata")
    if "/" not in model or not is_mapping(meta) or not any(k in meta for k in _LITELLM_KEYS):
        return None
    head, rest = model.split("/", 1)
    return (head, rest) if head and rest else None


def _provider(obs: Mapping[str, Any], hints: Hints) -> str | None:
    if hints.provider:
        return hints.provider
    meta = obs.get("metadata")
    if is_mapping(meta):
        for key in _PROVIDER_KEYS:
            for candidate in (key, f"attributes.{key}"):
                value = meta.get(candidate)
                if isinstance(value, str) and value.strip():
                    return otel_provider(value)   # the OTel provider names fold the same way
    return None


def normalize_observation(payload: Mapping[str, Any], hints: Hints, path: str = "") -> list[UsageRecord]:
    """One record from a Langfuse generation observation.

    Raises:
        NormalizeError: ``missing_usage`` for an observation without usage
            (a span, an event, or a generation logged without counts);
            ``missing_field`` without a model or a provider;
            ``unsupported_usage`` for an unknown usage key.
    """
    prefix = f"{path}." if path else ""
    meters = _meters(payload, prefix)
    if meters is None:
        kind = payload.get("type")
        raise NormalizeError("missing_usage", f"Langfuse {kind} observation carries no usage (usageDetails)",
                             path=f"{prefix}usageDetails")
    model = hints.model or optional_str(payload, "providedModelName", path) or optional_str(payload, "model", path)
    if not model:
        raise NormalizeError("missing_field", "observation has no model (model / providedModelName) and no "
                             "model= hint", path=f"{prefix}model")
    provider = _provider(payload, hints)
    billed = None
    route = _litellm_route(payload, model)
    if route is not None and (provider is None or canonical_provider(provider) == canonical_provider(route[0])):
        provider, billed = route   # LiteLLM's own provider/model id, as its Langfuse logger writes it
    if not provider:
        raise NormalizeError("missing_field", "a Langfuse observation does not say which provider served it: "
                             "pass provider=, or log metadata.provider", path=f"{prefix}metadata.provider")
    costs = _get(payload, "costDetails", "cost_details")
    stated = None
    if is_mapping(costs) and costs.get("total") is not None:
        stated = money(costs.get("total"), f"{prefix}costDetails.total")
    else:
        legacy = payload.get("usage")
        for obj, camel, snake in ((payload, "totalCost", "total_cost"),
                                  (payload, "calculatedTotalCost", "calculated_total_cost"),
                                  (legacy if is_mapping(legacy) else {}, "totalCost", "total_cost")):
            value = _get(obj, camel, snake)
            if value is not None:
                stated = money(value, f"{prefix}{camel}")
                break
    meta = payload.get("metadata")
    tags = owner_tags(meta, f"{prefix}metadata", hints, nested=()) if is_mapping(meta) else {}
    user = _get(payload, "userId", "user_id")
    if isinstance(user, str) and user and "user" not in hints.tags:
        tags["user"] = user
    env = payload.get("environment")
    if isinstance(env, str) and env and env != "default" and "environment" not in tags:
        tags["environment"] = env
    level = payload.get("level")
    return [UsageRecord(
        provider=canonical_provider(provider),
        model=model,
        model_billed=billed,
        usage=usage_of(f"{prefix}usageDetails", **meters),
        at=timestamp(_get(payload, "startTime", "start_time"), f"{prefix}startTime") or hints.at,
        request_id=optional_str(payload, "id", path) or hints.request_id,
        trace_id=optional_str(payload, "traceId", path) or optional_str(payload, "trace_id", path),
        span_id=None,
        parent_id=optional_str(payload, "parentObservationId", path)
        or optional_str(payload, "parent_observation_id", path),
        outcome="error" if level == "ERROR" else "ok",
        service_tier=hints.service_tier,
        region=hints.region,
        tags=tags,
        estimate=stated,
        schema="langfuse.observation",
        source=hints.source.with_path(path) if hints.source and path else hints.source,
    )]


def normalize_observation_list(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record per generation of a page of observations or of a trace; observations without usage are skipped.

    Raises:
        NormalizeError: ``missing_usage`` when no observation carries usage.
    """
    key = "observations" if "observations" in payload else "data"
    out: list[UsageRecord] = []
    skipped = 0
    for i, obs in enumerate(payload[key]):
        path = f"{key}[{i}]"
        if not is_mapping(obs):
            raise NormalizeError("bad_type", f"{path} must be an object", path=path)
        if _meters(obs, f"{path}.") is None:
            skipped += 1
            continue
        out.extend(normalize_observation(obs, hints, path))
    if not out:
        raise NormalizeError("missing_usage", f"none of the {skipped} observations carries usage (usageDetails)",
                             path=key)
    return out


#: Ingestion events that create or update an observation (``POST /api/public/ingestion``).
_OBSERVATION_EVENTS = frozenset({"generation-create", "generation-update", "observation-create",
                                 "observation-update", "span-create", "span-update", "event-create"})


def is_ingestion_batch(payload: Mapping[str, Any]) -> bool:
    """A Langfuse ingestion request body: ``{"batch": [{"type": "generation-create", "body": {...}}...]}``."""
    batch = payload.get("batch")
    return (isinstance(batch, list) and bool(batch)
            and any(is_mapping(e) and e.get("type") in _OBSERVATION_EVENTS for e in batch))


def normalize_ingestion_batch(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record per generation of an ingestion batch; a generation's create and update events are merged.

    Events are applied in order, by body ``id``: an ``*-update`` event's
    fields replace the create's (Langfuse's own semantics), so a generation
    created without usage and updated with it is one record, never two.

    Raises:
        NormalizeError: ``missing_usage`` when no generation in the batch carries usage.
    """
    bodies: dict[str, dict[str, Any]] = {}
    where: dict[str, int] = {}
    for i, event in enumerate(payload["batch"]):
        if not is_mapping(event) or event.get("type") not in _OBSERVATION_EVENTS:
            continue   # trace-create, score-create, sdk-log...: no usage
        body = event.get("body")
        if not is_mapping(body):
            raise NormalizeError("bad_type", f"batch[{i}].body must be an object", path=f"batch[{i}].body")
        key = optional_str(body, "id", f"batch[{i}].body") or f"#{i}"
        merged = bodies.setdefault(key, {})
        merged.update({k: v for k, v in body.items() if v is not None})
        if event["type"].startswith("generation") and "type" not in merged:
            merged["type"] = "GENERATION"
        where.setdefault(key, i)
    out: list[UsageRecord] = []
    for key, body in bodies.items():
        path = f"batch[{where[key]}].body"
        if _meters(body, f"{path}.") is None:
            continue
        out.extend(normalize_observation(body, hints, path))
    if not out:
        raise NormalizeError("missing_usage", "no generation in the ingestion batch carries usage", path="batch")
    return out


SCHEMAS = (
    Schema("langfuse.observation", None, is_observation, normalize_observation,
           "Langfuse observation (type GENERATION, traceId, startTime, usageDetails); needs provider= "
           "unless its metadata names one", keys=frozenset({"traceId", "trace_id"})),
    Schema("langfuse.ingestion", None, is_ingestion_batch, normalize_ingestion_batch,
           "Langfuse ingestion request body (batch of generation-create/-update events)", keys=frozenset({"batch"})),
    Schema("langfuse.observations", None, is_observation_list, normalize_observation_list,
           "Langfuse observations page (data, meta) or trace (observations)",
           keys=frozenset({"data", "observations"})),
)
