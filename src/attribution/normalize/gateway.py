"""Flat gateway events and traces with provider calls.

Two shapes that internal gateways and tracing layers emit (seeds 002 and 004):

* a **flat event**, one per provider call, with owner fields beside the
  usage::

    {"timestamp": "2026-06-08T12:15:44Z", "request_id": "req_8f7c",
     "tenant_id": "tenant_acme", "team_id": "support_automation",
     "cost_center": "CC-4821", "provider": "openai",
     "model_requested": "gpt-4.1-mini", "model_actual": "gpt-4.1-mini",
     "input_tokens": 18240, "output_tokens": 1642, "cached_input_tokens": 0,
     "price_card_version": "openai-2025-04-14", "usd_estimate": 0.0335,
     "retry_count": 0, "fallback_from": null}

* a **trace** whose root carries the ownership contract (``trace_id``,
  ``owner_team``, ``workflow_id``, ``feature``, tenant and user handles) and a
  ``provider_calls`` list; each call becomes one record that inherits the
  root's owner fields and trace id unless it carries its own.

A cost the *gateway* computed and logged for the call (``response_cost`` as
LiteLLM-style gateways log it, ``gateway_cost_usd``, or ``stated_cost`` with an
optional ``stated_cost_currency``, default USD) becomes the record's
``stated_cost``, checked against the card price at pricing (flag
``stated_cost_drift``). The caller's own estimate (``usd_estimate``,
``estimated_cost_usd``, ``cost_usd``, ``estimated_cost``) stays ``estimate``.

Whether ``input_tokens`` includes ``cached_input_tokens`` is not standard
across gateways. By default a flat event follows its provider's own API
convention (included for OpenAI, Azure, Google and the OTel conventions;
beside it for Anthropic and Bedrock); pass ``cached_in_input=`` to say so
explicitly. An event whose cached count exceeds an inclusive input count is
rejected, not guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._records import UsageRecord
from .._registry import canonical_provider
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, money, optional_str, owner_tags, timestamp

__all__ = ["SCHEMAS", "is_gateway_event", "is_trace", "normalize_gateway_event", "normalize_trace"]

#: Providers whose APIs report cached tokens *inside* the input count.
_CACHED_INCLUDED = frozenset({"openai", "azure", "google", "vertex", "xai", "deepseek", "mistral", "groq",
                              "together", "fireworks"})

_MODEL_KEYS = ("model_actual", "model_requested", "model")


def is_gateway_event(payload: Mapping[str, Any]) -> bool:
    """A flat per-call event: provider, a model field and token counts."""
    return ("provider" in payload and any(k in payload for k in _MODEL_KEYS)
            and ("input_tokens" in payload or "output_tokens" in payload)
            and "provider_calls" not in payload)


def is_trace(payload: Mapping[str, Any]) -> bool:
    """A trace root with a ``provider_calls`` list.

    An empty list still makes a trace (and normalizing it fails with
    ``empty_trace``) unless the payload is plainly a provider response that
    happens to carry the key.
    """
    calls = payload.get("provider_calls")
    if not isinstance(calls, list):
        return False
    return bool(calls) or not ("usage" in payload or "object" in payload or payload.get("type") == "message")


def _first(payload: Mapping[str, Any], keys: tuple[str, ...], path: str) -> str | None:
    for key in keys:
        value = payload.get(key)
        if value is None:
            continue
        if type(value) is not str:   # the common case (text) skips the call; numbers and bad types go through it
            value = optional_str(payload, key, path)
        if value:
            return value
    return None


def _call(event: Mapping[str, Any], path: str, hints: Hints) -> UsageRecord:
    provider = _first(event, ("provider",), path) or hints.provider
    if not provider:
        raise NormalizeError("missing_field", "event has no provider", path=f"{path}.provider" if path else "provider")
    requested = _first(event, ("model_requested", "model"), path)
    actual = _first(event, ("model_actual", "model_billed", "model"), path)
    model = hints.model or requested or actual
    if not model:
        raise NormalizeError("missing_field", "event has no model_requested, model_actual or model",
                             path=f"{path}.model" if path else "model")
    inp = count(event, "input_tokens", path, required=True)
    cached = count(event, "cached_input_tokens", path) or count(event, "cache_read_input_tokens", path)
    included = hints.cached_in_input
    if included is None:
        included = canonical_provider(provider) in _CACHED_INCLUDED
    if included:
        if cached > inp:
            raise NormalizeError("inconsistent_usage",
                                 f"cached_input_tokens ({cached}) exceeds input_tokens ({inp}), which for "
                                 f"{provider} includes cached tokens; pass cached_in_input=False if your "
                                 "gateway logs them apart", path=f"{path}.cached_input_tokens" if path
                                 else "cached_input_tokens")
        inp -= cached
    output = count(event, "output_tokens", path, required=True)
    reasoning = count(event, "reasoning_tokens", path)
    if reasoning > output:
        raise NormalizeError("inconsistent_usage", f"reasoning_tokens ({reasoning}) exceed output_tokens ({output})",
                             path=f"{path}.reasoning_tokens" if path else "reasoning_tokens")
    usage = Usage(
        input=inp, cached_input=cached,
        cache_write=count(event, "cache_write_tokens", path) or count(event, "cache_creation_input_tokens", path),
        cache_write_1h=count(event, "cache_write_1h_tokens", path),
        output=output, reasoning=reasoning,
        web_search=count(event, "web_search_requests", path),
    )
    retry_count = count(event, "retry_count", path)
    attempt = count(event, "attempt", path) or retry_count + 1
    p = f"{path}." if path else ""
    estimate = None
    for key in ("usd_estimate", "estimated_cost_usd", "cost_usd", "estimated_cost"):
        if event.get(key) is not None:
            estimate = money(event[key], p + key)
            break
    stated = stated_key = None
    for key in ("stated_cost", "response_cost", "gateway_cost_usd"):
        if event.get(key) is not None:
            stated, stated_key = money(event[key], p + key), key
            break
    currency = _first(event, ("stated_cost_currency",), path) if stated_key == "stated_cost" else None
    status = _first(event, ("outcome", "status"), path)
    return UsageRecord(
        provider=provider,
        model=model,
        model_billed=actual if actual and actual != model else None,
        usage=usage,
        at=timestamp(event.get("timestamp"), p + "timestamp") or hints.at,
        request_id=_first(event, ("request_id", "id"), path) or hints.request_id,
        trace_id=_first(event, ("trace_id",), path),
        span_id=_first(event, ("span_id",), path),
        parent_id=_first(event, ("parent_id", "parent_span_id", "parent_request_id"), path),
        attempt=max(attempt, 1),
        retry_of=_first(event, ("retry_of",), path),
        fallback_from=_first(event, ("fallback_from",), path),
        outcome=_outcome(status),
        service_tier=_first(event, ("service_tier",), path) or hints.service_tier,
        region=_first(event, ("region",), path) or hints.region,
        tags=owner_tags(event, path, hints),
        estimate=estimate,
        estimate_card=_first(event, ("price_card_version",), path),
        stated_cost=stated,
        stated_cost_currency=(currency or "USD").upper() if stated is not None else None,
        stated_cost_source=f"gateway {stated_key}" if stated is not None else None,
        schema="gateway",
        source=hints.source.with_path(path or None) if hints.source and path else hints.source,
    )


def _outcome(status: str | None) -> str:
    if status is None:
        return "ok"
    s = status.lower()
    if s in ("ok", "success", "succeeded", "completed", "200"):
        return "ok"
    if s in ("cancelled", "canceled", "aborted"):
        return "cancelled"
    return "error"


def normalize_gateway_event(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    return [_call(payload, "", hints)]


def normalize_trace(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record per provider call; the root's ownership contract is inherited."""
    calls = payload["provider_calls"]
    if not calls:
        raise NormalizeError("empty_trace", "trace has no provider calls: nothing to price, but the record is kept "
                             "so the trace is accounted for", path="provider_calls")
    root_tags = owner_tags(payload, "", attrs.evolve(hints, tags={}))
    root_tags.update(hints.tags)
    trace_id = optional_str(payload, "trace_id", "")
    root_at = timestamp(payload.get("timestamp"), "timestamp") or hints.at
    out = []
    for i, call in enumerate(calls):
        path = f"provider_calls[{i}]"
        if not is_mapping(call):
            raise NormalizeError("bad_type", f"{path} must be an object, got {type(call).__name__}", path=path)
        call_hints = attrs.evolve(hints, tags={**root_tags, **owner_tags(call, path, attrs.evolve(hints, tags={}))},
                                  at=root_at)
        rec = _call(call, path, call_hints)
        out.append(attrs.evolve(rec, trace_id=rec.trace_id or trace_id, schema="trace"))
    return out




SCHEMAS = (
    Schema("trace", None, is_trace, normalize_trace, "a trace root with provider_calls (seed 004)", specificity=30, keys=frozenset({"provider_calls"})),
    Schema("gateway", None, is_gateway_event, normalize_gateway_event,
           "a flat gateway event with provider, model_requested/model_actual/model and input_tokens", keys=frozenset({"provider"})),
)
