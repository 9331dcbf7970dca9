"""Anthropic: Messages API responses.

Anthropic's ``input_tokens`` *excludes* cache reads and cache writes, which
are reported beside it (``cache_read_input_tokens``,
``cache_creation_input_tokens``); ``cache_creation`` splits writes by TTL
(``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``), which are
priced differently (1.25x and 2x input). ``output_tokens`` includes extended
thinking. ``server_tool_use.web_search_requests`` is a per-call fee. Responses
carry no timestamp: pass ``at=``. Source: Anthropic API reference, Messages,
"usage" object; prompt caching guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, mapping, optional_str, owner_tags

__all__ = ["SCHEMAS", "is_message", "message_usage", "normalize_message"]


def is_message(payload: Mapping[str, Any]) -> bool:
    """A Messages API response object."""
    return payload.get("type") == "message" and isinstance(payload.get("usage"), Mapping)


def message_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Messages ``usage`` object (cache tokens beside input)."""
    created_total = usage.get("cache_creation_input_tokens")
    total_writes = count(usage, "cache_creation_input_tokens", path)
    breakdown = mapping(usage, "cache_creation", path)
    if breakdown is not None:
        bpath = f"{path}.cache_creation"
        w5 = count(breakdown, "ephemeral_5m_input_tokens", bpath)
        w1h = count(breakdown, "ephemeral_1h_input_tokens", bpath)
        if created_total is not None and w5 + w1h != total_writes:
            if w5 + w1h > total_writes:
                raise NormalizeError("inconsistent_usage",
                                     f"cache_creation breakdown ({w5 + w1h}) exceeds cache_creation_input_tokens "
                                     f"({total_writes})", path=bpath)
            w5 = total_writes - w1h  # undifferentiated writes are 5-minute, the API default
    else:
        w5, w1h = total_writes, 0
    tools = mapping(usage, "server_tool_use", path)
    return Usage(
        input=count(usage, "input_tokens", path, required=True),
        cached_input=count(usage, "cache_read_input_tokens", path),
        cache_write=w5,
        cache_write_1h=w1h,
        output=count(usage, "output_tokens", path, required=True),
        web_search=count(tools, "web_search_requests", f"{path}.server_tool_use"),
    )


def normalize_message(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    usage = mapping(payload, "usage", "", required=True)
    assert usage is not None
    served = optional_str(payload, "model", "")
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no model in the message and no model= hint", path="model")
    return [UsageRecord(
        provider=hints.provider or "anthropic",
        model=model,
        model_billed=served if served and served != model else None,
        usage=message_usage(usage, "usage"),
        at=hints.at,
        request_id=optional_str(payload, "id", "") or hints.request_id,
        service_tier=optional_str(usage, "service_tier", "usage") or hints.service_tier,
        region=hints.region,
        tags=owner_tags(payload, "", hints, nested=("metadata",)),
        schema="anthropic.messages",
        source=hints.source,
    )]


SCHEMAS = (
    Schema("anthropic.messages", "anthropic", is_message, normalize_message,
           'Anthropic Messages response (type "message" with usage)'),
)
