"""Cohere: v2 Chat responses and the ``message-end`` stream event.

Cohere reports two counts: ``usage.tokens`` (everything the model processed,
including the prompt template Cohere wraps around the messages) and
``usage.billed_units`` (what is invoiced). Pricing uses ``billed_units`` only:
``input = billed_units.input_tokens``, ``output = billed_units.output_tokens``.
``billed_units.search_units`` and ``classifications`` are Rerank and Classify
units with no meter here; a chat response that bills them is rejected
(``unsupported_usage``) rather than priced without them. ``usage.cached_tokens``
(prompt tokens that hit Cohere's inference cache) is informational: Cohere
does not discount them and they are already inside the billed input.

The response carries no model id, so ``model=`` is required; nor a timestamp
(pass ``at=``). The streamed ``message-end`` event holds the same ``usage`` in
its ``delta``. The ``meta`` block of Cohere's older response samples (and of
v1 chat) is read the same way. Sources: Cohere API reference, "Chat" (v2)
response ``usage``; cohere-python ``Usage``, ``UsageBilledUnits``,
``ChatMessageEndEventDelta``, ``ChatFinishReason``; "Using the Chat API" and
"Streaming Responses" guides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, optional_str, owner_tags

__all__ = ["SCHEMAS", "chat_usage", "is_chat_response", "normalize_chat_response"]

_ERROR_REASONS = frozenset({"ERROR", "TIMEOUT", "ERROR_TOXIC", "ERROR_LIMIT", "USER_CANCEL"})


def _container(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The object holding ``usage``/``finish_reason``: the payload, or a message-end event's delta."""
    delta = payload.get("delta")
    if payload.get("type") == "message-end" and is_mapping(delta):
        return delta, "delta"
    return payload, ""


def _usage_block(obj: Mapping[str, Any]) -> tuple[str, Any]:
    for key in ("usage", "meta"):
        if obj.get(key) is not None:
            return key, obj[key]
    return "usage", None


def is_chat_response(payload: Mapping[str, Any]) -> bool:
    """A v2 chat response (``usage.billed_units`` beside ``finish_reason``/``message``) or message-end event."""
    obj, where = _container(payload)
    if where:
        return True
    _, block = _usage_block(obj)
    if is_mapping(block) and is_mapping(block.get("billed_units")):
        return "finish_reason" in obj or "message" in obj
    # Without usage: v2's top-level finish_reason next to an assistant message (OpenAI nests it in choices).
    message = obj.get("message")
    return "finish_reason" in obj and is_mapping(message) and message.get("role") == "assistant"


def chat_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a chat ``usage`` block, priced from ``billed_units``.

    >>> chat_usage({"billed_units": {"input_tokens": 17, "output_tokens": 12},
    ...             "tokens": {"input_tokens": 215, "output_tokens": 12}}, "usage")
    Usage(input=17, cached_input=0, cache_write=0, cache_write_1h=0, output=12, reasoning=0, input_audio=0, output_audio=0, input_image=0, output_image=0, web_search=0)
    """
    billed = mapping(usage, "billed_units", path)
    bpath = f"{path}.billed_units"
    if billed is None:
        raise NormalizeError("missing_usage", "usage has no billed_units (usage.tokens includes unbilled "
                             "template tokens and cannot be priced)", path=bpath)
    for unit in ("search_units", "classifications"):
        if count(billed, unit, bpath):
            raise NormalizeError("unsupported_usage", f"chat response bills {unit}, which has no meter",
                                 path=f"{bpath}.{unit}")
    return Usage(input=count(billed, "input_tokens", bpath, required=True),
                 output=count(billed, "output_tokens", bpath, required=True))


def _outcome(obj: Mapping[str, Any]) -> str:
    reason = obj.get("finish_reason")
    if obj.get("error") or (isinstance(reason, str) and reason.upper() in _ERROR_REASONS):
        return "error"
    return "ok"


def normalize_chat_response(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """A Cohere v2 chat response or ``message-end`` stream event (needs ``model=``).

    Raises:
        NormalizeError: ``missing_usage`` (no usage or no ``billed_units``),
            ``missing_field`` (no ``model=`` hint), ``unsupported_usage``.
    """
    obj, where = _container(payload)
    key, block = _usage_block(obj)
    upath = f"{where}.{key}" if where else key
    if block is None:
        raise NormalizeError("missing_usage", "chat response has no usage (for streams, keep the message-end "
                             "event)", path=upath)
    usage = mapping(obj, key, where)
    assert usage is not None
    meters = chat_usage(usage, upath)
    if not hints.model:
        raise NormalizeError("missing_field", "Cohere chat responses carry no model id: pass model=", path="model")
    request_id = next((v for k in ("id", "response_id", "generation_id") if (v := optional_str(payload, k, ""))),
                      None)
    return [UsageRecord(
        provider="cohere",
        model=hints.model,
        usage=meters,
        at=hints.at,
        request_id=request_id or hints.request_id,
        outcome=_outcome(obj),
        service_tier=hints.service_tier,
        region=hints.region,
        tags=owner_tags(payload, "", hints, nested=("metadata",)),
        schema="cohere.chat",
        source=hints.source,
    )]


SCHEMAS = (
    Schema("cohere.chat", "cohere", is_chat_response, normalize_chat_response,
           "Cohere v2 chat response (usage.billed_units with finish_reason/message) or message-end event; "
           "needs model=", keys=frozenset({"type", "finish_reason", "message"})),
)
