"""Hypothesis strategies for the property tests: the public ones from ``attribution.testing``.

The strategies live in :mod:`attribution.testing` so that users property-test
their own pricing logic with exactly the generators this suite uses. Test-only
strategies, if any are ever needed, belong here.
"""

from __future__ import annotations

from attribution.testing import (
    DEFAULT_MAX_COUNT,
    FEATURES,
    TEAMS,
    TENANTS,
    PayloadExample,
    anthropic_messages,
    counts,
    decimal_amounts,
    gateway_events,
    instants,
    json_values,
    openai_chat_completions,
    owner_tags,
    payload_examples,
    payload_like,
    price_card_texts,
    price_points,
    priced_records,
    usage_records,
    usages,
)

__all__ = [
    "DEFAULT_MAX_COUNT",
    "FEATURES",
    "TEAMS",
    "TENANTS",
    "PayloadExample",
    "anthropic_messages",
    "counts",
    "decimal_amounts",
    "gateway_events",
    "instants",
    "json_values",
    "openai_chat_completions",
    "owner_tags",
    "payload_examples",
    "payload_like",
    "price_card_texts",
    "price_points",
    "priced_records",
    "usage_records",
    "usages",
]
