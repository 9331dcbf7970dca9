"""Hypothesis strategies for attribution's domain types.

Shared by the property tests and meant to become public as
``attribution.testing``, so that teams can property-test their own pricing
logic against the same generators. Everything here builds values through the
public API (``Usage``, ``UsageRecord``, ``price``) and reads the registry only
through ``Registry.models()``, so a generated record is always priceable:

- :func:`usages` draws disjoint meters with ``reasoning <= output``;
- :func:`usage_records` draws a record for a model on the bundled cards (or a
  given registry), timestamped inside one of its price periods, with counts only
  on the meters that period prices (so pricing never raises ``UnpricedMeter``);
- :func:`priced_records` prices those records;
- :func:`json_values` and :func:`payload_like` feed the normalizer fuzzers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

import attribution as at
from attribution._usage import BILLED_METERS, TOKEN_METERS

__all__ = [
    "FEATURES",
    "TEAMS",
    "TENANTS",
    "counts",
    "decimal_amounts",
    "instants",
    "json_values",
    "owner_tags",
    "payload_like",
    "price_points",
    "priced_records",
    "usage_records",
    "usages",
]

UTC = timezone.utc
TEAMS = ("search", "support", "growth")
FEATURES = ("autocomplete", "answer", "triage")
TENANTS = ("t_acme", "t_initech")

#: Default ceiling per meter: a large single request, far below the sanity limit,
#: so that sums of a few hundred records stay valid ``Usage`` values too.
DEFAULT_MAX_COUNT = 10**7


def counts(max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[int]:
    """A token or call count; zero is drawn often, as most meters of a call are empty."""
    return st.one_of(st.just(0), st.integers(min_value=1, max_value=max_count))


@st.composite
def usages(draw: st.DrawFn, *, meters: Sequence[str] = BILLED_METERS,
           max_count: int = DEFAULT_MAX_COUNT) -> at.Usage:
    """A ``Usage`` with counts on ``meters`` (billed meter names) and ``reasoning <= output``."""
    values = {m: draw(counts(max_count)) for m in meters}
    output = values.get("output", 0)
    values["reasoning"] = draw(st.integers(min_value=0, max_value=output))
    return at.Usage(**values)


def instants(start: datetime, end: datetime | None = None) -> st.SearchStrategy[datetime]:
    """An aware UTC instant in ``[start, end)`` (a year and a bit after ``start`` if open-ended)."""
    stop = end if end is not None else start + timedelta(days=400)
    span = int((stop - start).total_seconds())
    return st.integers(min_value=0, max_value=span - 1).map(lambda s: (start + timedelta(seconds=s)).astimezone(UTC))


def owner_tags() -> st.SearchStrategy[dict[str, str]]:
    """Owner tags as a gateway logs them: each dimension may be missing."""
    return st.fixed_dictionaries({}, optional={
        "team": st.sampled_from(TEAMS),
        "feature": st.sampled_from(FEATURES),
        "tenant": st.sampled_from(TENANTS),
    })


def price_points(registry: at.Registry | None = None,
                 providers: Sequence[str] | None = None) -> list[tuple[str, str, int]]:
    """``(provider, model id, period index)`` for every price period on the cards."""
    reg = registry if registry is not None else at.default_registry()
    return [(info.provider, info.id, j)
            for info in reg.models()
            if providers is None or info.provider in providers
            for j in range(len(info.periods))]


def usage_records(registry: at.Registry | None = None, *, max_count: int = DEFAULT_MAX_COUNT,
                  providers: Sequence[str] | None = None,
                  token_meters_only: bool = False) -> st.SearchStrategy[at.UsageRecord]:
    """A usage record for a model on the cards, timestamped inside one of its price periods.

    Counts are drawn only on meters the period prices, so the record always
    prices at the standard tier. ``token_meters_only`` leaves out per-call fees.
    """
    reg = registry if registry is not None else at.default_registry()
    infos = {(i.provider, i.id): i for i in reg.models()}
    points = price_points(reg, providers)
    if not points:
        raise ValueError("the registry has no models for these providers")

    @st.composite
    def records(draw: st.DrawFn) -> at.UsageRecord:
        provider, model, j = draw(st.sampled_from(points))
        period = infos[provider, model].periods[j]
        allowed = TOKEN_METERS if token_meters_only else BILLED_METERS
        meters = [m for m in period.meter_prices() if m in allowed]
        return at.UsageRecord(
            provider=provider,
            model=model,
            usage=draw(usages(meters=meters, max_count=max_count)),
            at=draw(instants(period.from_, period.until)),
            request_id=draw(st.uuids()).hex,
            tags=draw(owner_tags()),
        )

    return records()


def priced_records(registry: at.Registry | None = None, **kwargs: object) -> st.SearchStrategy[at.PricedRecord]:
    """Priced records for :func:`usage_records` (same keyword arguments)."""
    reg = registry if registry is not None else at.default_registry()
    return usage_records(reg, **kwargs).map(lambda r: at.price(r, reg))  # type: ignore[arg-type]


# --- raw payloads, for the normalizer fuzzers --------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    # What the JSONL reader yields for a number with a fraction (parse_float=Decimal);
    # bounded: a JSON exponent in the millions is a separate, known slow path.
    | st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, allow_infinity=False, places=6)
    | st.text(max_size=12)
)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[object]:
    """Any JSON value (objects, arrays, scalars), nested."""
    return st.recursive(
        _json_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=max_leaves,
    )


def _junk() -> st.SearchStrategy[object]:
    return st.sampled_from([-1, 0.5, "12", "x", "", None, True, [], {}, 10**14, "2026-13-45T99:00:00Z"])


def _count_like() -> st.SearchStrategy[object]:
    """Mostly plausible token counts, sometimes junk."""
    plausible = st.integers(min_value=0, max_value=10**6)
    return st.one_of(plausible, plausible, plausible, _junk())


def _timestamp_like() -> st.SearchStrategy[object]:
    return st.one_of(st.integers(min_value=1_700_000_000, max_value=1_800_000_000),
                     st.sampled_from(["2026-06-08T12:15:44Z", "2025-06-01T00:00:00+02:00", "2025-06-01"]),
                     _junk())


_MODELS = st.sampled_from(["gpt-4o", "gpt-4.1-mini", "o3-2025-04-16", "claude-sonnet-4-20250514",
                           "anthropic.claude-sonnet-4-20250514-v1:0", "gpt-nope", ""])
_PROVIDERS = st.sampled_from(["openai", "anthropic", "bedrock", "acme", ""])
_TAGS = st.dictionaries(st.sampled_from(["team", "team_id", "feature", "tenant_id", "owner_team", "x"]),
                        st.one_of(st.sampled_from(TEAMS), _junk()), max_size=3)


def _optional(required: dict[str, st.SearchStrategy[object]],
              optional: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(required, optional=optional)


def _chat() -> st.SearchStrategy[dict[str, object]]:
    c = _count_like()
    usage = _optional({}, {
        "prompt_tokens": c, "completion_tokens": c, "total_tokens": c,
        "prompt_tokens_details": _optional({}, {"cached_tokens": c, "audio_tokens": c}) | _junk(),
        "completion_tokens_details": _optional({}, {"reasoning_tokens": c, "audio_tokens": c}) | _junk(),
    })
    return _optional({"object": st.sampled_from(["chat.completion", "chat.completion.chunk"])}, {
        "id": st.text(max_size=8), "model": _MODELS, "created": _timestamp_like(), "usage": usage | _junk(),
        "choices": st.just([]), "service_tier": st.sampled_from(["default", "priority", "flex", "auto"]),
        "metadata": _TAGS,
    })


def _message() -> st.SearchStrategy[dict[str, object]]:
    c = _count_like()
    usage = _optional({}, {
        "input_tokens": c, "output_tokens": c, "cache_read_input_tokens": c, "cache_creation_input_tokens": c,
        "cache_creation": _optional({}, {"ephemeral_5m_input_tokens": c, "ephemeral_1h_input_tokens": c}) | _junk(),
        "server_tool_use": _optional({}, {"web_search_requests": c}) | _junk(),
        "service_tier": st.sampled_from(["standard", "batch", "priority"]),
    })
    return _optional({"type": st.just("message")}, {
        "id": st.text(max_size=8), "model": _MODELS, "usage": usage | _junk(), "metadata": _TAGS,
    })


def _event() -> st.SearchStrategy[dict[str, object]]:
    c = _count_like()
    return _optional({"provider": _PROVIDERS | _junk()}, {
        "model_requested": _MODELS, "model_actual": _MODELS, "model": _MODELS,
        "input_tokens": c, "output_tokens": c, "cached_input_tokens": c, "reasoning_tokens": c,
        "cache_creation_input_tokens": c, "web_search_requests": c, "retry_count": c,
        "timestamp": _timestamp_like(), "request_id": st.text(max_size=6),
        "usd_estimate": st.one_of(st.decimals(min_value=0, max_value=10, places=8), _junk()),
        "status": st.sampled_from(["ok", "error", "cancelled", "500"]),
        "team_id": st.sampled_from(TEAMS) | _junk(), "service_tier": st.sampled_from(["standard", "batch", "x"]),
    })


def _trace() -> st.SearchStrategy[dict[str, object]]:
    return _optional({"provider_calls": st.lists(_event() | _junk(), max_size=3)}, {
        "trace_id": st.text(max_size=6), "timestamp": _timestamp_like(), "owner_team": st.sampled_from(TEAMS),
        "workflow_id": st.text(max_size=6) | _junk(),
    })


def payload_like() -> st.SearchStrategy[object]:
    """JSON shaped like the payloads the normalizers read (chat, message, gateway event, trace),
    with plausible values mostly and junk sometimes, plus arbitrary JSON."""
    return st.one_of(_chat(), _message(), _event(), _trace(), json_values(max_leaves=8))


def decimal_amounts() -> st.SearchStrategy[Decimal]:
    """An exact amount with at most 15 decimals (what money units can hold)."""
    return st.decimals(min_value=-(10**12), max_value=10**12, places=15, allow_nan=False, allow_infinity=False)
