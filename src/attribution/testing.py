"""Hypothesis strategies for property-testing pricing logic against attribution's own generators.

Needs `Hypothesis <https://hypothesis.readthedocs.io>`_: ``pip install 'attribution[testing]'``
(the ``dev`` extra has it too). Importing this module without it raises
:class:`~attribution.MissingDependency` naming the extra.

Everything is built through the public API (``Usage``, ``UsageRecord``,
``price``, ``Registry.models()``), so a generated value is always valid, and
a generated record is always priceable:

- :func:`usages`: disjoint meters with ``reasoning <= output``;
- :func:`usage_records`: a record for a model on the bundled cards (or any
  registry), timestamped inside one of its price periods, with counts only on
  meters that period prices (pricing never raises ``UnpricedMeter``);
- :func:`priced_records`: those records, priced;
- :func:`openai_chat_completions`, :func:`anthropic_messages`,
  :func:`gateway_events`: provider payloads in each API's own convention
  (OpenAI's ``prompt_tokens`` *includes* cached tokens, Anthropic's
  ``input_tokens`` *excludes* them); :func:`payload_examples` pairs a payload
  with the :class:`~attribution.Usage` it must normalize to;
- :func:`price_card_texts`: valid price cards as TOML text, for testing your
  own card layers and pricing on prices nobody chose by hand;
- :func:`payload_like` and :func:`json_values`: hostile, half-valid JSON for
  fuzzing normalizers (anything but a ``NormalizeError`` is a bug).

A typical property, run as a test::

    from hypothesis import given
    import attribution as at
    from attribution.testing import priced_records

    @given(priced_records())
    def test_cost_is_the_sum_of_its_line_items(p):
        assert p.cost == sum(line.amount for line in p.lines)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

from ._pricing import price
from ._records import PricedRecord, UsageRecord
from ._registry import Registry, default_registry
from ._usage import BILLED_METERS, TOKEN_METERS, Usage
from .exceptions import MissingDependency

try:
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("attribution.testing", "testing", "hypothesis") from None

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

UTC = timezone.utc
TEAMS = ("search", "support", "growth")
FEATURES = ("autocomplete", "answer", "triage")
TENANTS = ("t_acme", "t_initech")

#: Default ceiling per meter: a large single request, far below the sanity limit,
#: so that sums of a few hundred records stay valid ``Usage`` values too.
DEFAULT_MAX_COUNT = 10**7

# -- usage and records --------------------------------------------------------------------


def counts(max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[int]:
    """A token or call count; zero is drawn often, as most meters of a call are empty.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(counts(max_count=1_000))
    ... def check(n):
    ...     assert 0 <= n <= 1_000
    >>> check()
    """
    return st.one_of(st.just(0), st.integers(min_value=1, max_value=max_count))


@st.composite
def usages(draw: st.DrawFn, *, meters: Sequence[str] = BILLED_METERS,
           max_count: int = DEFAULT_MAX_COUNT) -> Usage:
    """A :class:`~attribution.Usage` with counts on ``meters`` (billed meter names) and ``reasoning <= output``.

    Meters not listed stay zero, so ``usages(meters=("input", "output"))``
    prices on any text model.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(usages(meters=("input", "cached_input", "output")))
    ... def check(u):
    ...     assert u.reasoning <= u.output and u.cache_write == 0
    ...     assert at.cost("openai", "gpt-4o", u) >= 0
    >>> check()
    """
    values = {m: draw(counts(max_count)) for m in meters}
    output = values.get("output", 0)
    values["reasoning"] = draw(st.integers(min_value=0, max_value=output))
    return Usage(**values)


def instants(start: datetime, end: datetime | None = None) -> st.SearchStrategy[datetime]:
    """An aware UTC instant in ``[start, end)``, to the second (a year and a bit after ``start`` if open-ended).

    >>> from hypothesis import given, settings
    >>> june = datetime(2026, 6, 1, tzinfo=timezone.utc)
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(instants(june, datetime(2026, 7, 1, tzinfo=timezone.utc)))
    ... def check(t):
    ...     assert t.month == 6 and t.tzinfo is not None
    >>> check()
    """
    stop = end if end is not None else start + timedelta(days=400)
    span = int((stop - start).total_seconds())
    return st.integers(min_value=0, max_value=span - 1).map(lambda s: (start + timedelta(seconds=s)).astimezone(UTC))


def owner_tags(teams: Sequence[str] = TEAMS, features: Sequence[str] = FEATURES,
               tenants: Sequence[str] = TENANTS) -> st.SearchStrategy[dict[str, str]]:
    """Owner tags as a gateway logs them: ``team``, ``feature`` and ``tenant``, each possibly missing.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(owner_tags(teams=("search",)))
    ... def check(tags):
    ...     assert tags.get("team", "search") == "search"
    ...     assert set(tags) <= {"team", "feature", "tenant"}
    >>> check()
    """
    return st.fixed_dictionaries({}, optional={
        "team": st.sampled_from(teams),
        "feature": st.sampled_from(features),
        "tenant": st.sampled_from(tenants),
    })


def price_points(registry: Registry | None = None, providers: Sequence[str] | None = None,
                 models: Sequence[str] | Callable[[str], bool] | None = None) -> list[tuple[str, str, int]]:
    """``(provider, model id, period index)`` for every price period on the cards (not a strategy).

    ``models`` keeps only those model ids: a list, or a predicate on the id.

    >>> ("openai", "gpt-4o", 1) in price_points(providers=["openai"])
    True
    """
    reg = registry if registry is not None else default_registry()
    keep = _model_filter(models)
    return [(info.provider, info.id, j)
            for info in reg.models()
            if (providers is None or info.provider in providers) and keep(info.id)
            for j in range(len(info.periods))]


def _model_filter(models: Sequence[str] | Callable[[str], bool] | None) -> Callable[[str], bool]:
    if models is None:
        return lambda _: True
    if callable(models):
        return models
    wanted = set(models)
    return lambda model: model in wanted


def usage_records(registry: Registry | None = None, *, max_count: int = DEFAULT_MAX_COUNT,
                  providers: Sequence[str] | None = None,
                  models: Sequence[str] | Callable[[str], bool] | None = None,
                  meters: Sequence[str] | None = None,
                  token_meters_only: bool = False,
                  tags: st.SearchStrategy[dict[str, str]] | None = None) -> st.SearchStrategy[UsageRecord]:
    """A usage record for a model on the cards, timestamped inside one of its price periods.

    Counts are drawn only on meters the period prices (and, when given, in
    ``meters``), so the record always prices at the standard tier.
    ``token_meters_only`` leaves out per-call fees. ``providers`` and
    ``models`` narrow the models drawn from; ``tags`` draws the owner tags
    (:func:`owner_tags` by default).

    Raises:
        ValueError: no model of the registry matches ``providers`` and ``models``.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(usage_records(providers=["anthropic"]))
    ... def check(rec):
    ...     assert rec.provider == "anthropic" and rec.at is not None
    ...     at.price(rec)   # never raises: the period prices every meter drawn
    >>> check()
    """
    reg = registry if registry is not None else default_registry()
    infos = {(i.provider, i.id): i for i in reg.models()}
    points = price_points(reg, providers, models)
    if not points:
        raise ValueError("the registry has no models for these providers and models")
    tag_strategy = tags if tags is not None else owner_tags()

    @st.composite
    def records(draw: st.DrawFn) -> UsageRecord:
        provider, model, j = draw(st.sampled_from(points))
        period = infos[provider, model].periods[j]
        allowed = set(TOKEN_METERS if token_meters_only else BILLED_METERS)
        if meters is not None:
            allowed &= set(meters)
        drawn = [m for m in period.meter_prices() if m in allowed]
        return UsageRecord(
            provider=provider,
            model=model,
            usage=draw(usages(meters=drawn, max_count=max_count)),
            at=draw(instants(period.from_, period.until)),
            request_id=draw(st.uuids()).hex,
            tags=draw(tag_strategy),
        )

    return records()


def priced_records(registry: Registry | None = None, **kwargs: Any) -> st.SearchStrategy[PricedRecord]:
    """Priced records for :func:`usage_records` (same keyword arguments).

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(priced_records(providers=["openai"], max_count=10_000))
    ... def check(p):
    ...     assert p.cost == sum(line.amount for line in p.lines)
    >>> check()
    """
    reg = registry if registry is not None else default_registry()
    return usage_records(reg, **kwargs).map(lambda r: price(r, reg))


def decimal_amounts() -> st.SearchStrategy[Decimal]:
    """An exact amount with at most 15 decimals (what the library's money units hold).

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(decimal_amounts())
    ... def check(d):
    ...     assert d.is_finite() and d.as_tuple().exponent >= -15
    >>> check()
    """
    return st.decimals(min_value=-(10**12), max_value=10**12, places=15, allow_nan=False, allow_infinity=False)


# -- provider payloads ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PayloadExample:
    """A provider payload and what normalizing it must give.

    ``usage`` is the disjoint meters :func:`attribution.normalize` must return;
    ``at`` is the instant the call was made (pass it as the ``at=`` hint:
    Anthropic responses carry no timestamp); ``kind`` is the payload shape
    (``openai.chat``, ``anthropic.messages`` or ``gateway``).
    """

    kind: str
    payload: dict[str, Any]
    provider: str
    model: str
    usage: Usage
    at: datetime
    tags: Mapping[str, str]


#: Meters each payload shape can express.
_SHAPE_METERS = {
    "openai.chat": ("input", "cached_input", "output", "input_audio", "output_audio"),
    "anthropic.messages": ("input", "cached_input", "cache_write", "cache_write_1h", "output", "web_search"),
    "gateway.openai": ("input", "cached_input", "output", "web_search"),
    "gateway.anthropic": ("input", "cached_input", "cache_write", "cache_write_1h", "output", "web_search"),
}


def _chat_model(model: str) -> bool:
    """A chat completion from an embeddings model would be nonsense."""
    return "embedding" not in model


def _chat(rec: UsageRecord, n: int) -> dict[str, Any]:
    u = rec.usage
    prompt = u.input + u.cached_input + u.input_audio
    completion = u.output + u.output_audio
    assert rec.at is not None
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{rec.request_id}",
        "object": "chat.completion",
        "created": int(rec.at.timestamp()),
        "model": rec.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * n}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": u.cached_input, "audio_tokens": u.input_audio},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": u.output_audio},
        },
        "service_tier": "default",
    }
    if rec.tags:
        payload["metadata"] = dict(rec.tags)
    return payload


def _message(rec: UsageRecord, n: int) -> dict[str, Any]:
    u = rec.usage
    usage: dict[str, Any] = {
        "input_tokens": u.input,
        "cache_read_input_tokens": u.cached_input,
        "cache_creation_input_tokens": u.cache_write + u.cache_write_1h,
        "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": u.cache_write_1h},
        "output_tokens": u.output,
        "service_tier": "standard",
    }
    if u.web_search:
        usage["server_tool_use"] = {"web_search_requests": u.web_search}
    payload: dict[str, Any] = {
        "id": f"msg_{rec.request_id}",
        "type": "message",
        "role": "assistant",
        "model": rec.model,
        "content": [{"type": "text", "text": "x" * n}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    if rec.tags:
        payload["metadata"] = dict(rec.tags)
    return payload


_GATEWAY_TAG_KEYS = {"team": "team_id", "feature": "feature", "tenant": "tenant_id"}


def _event(rec: UsageRecord, _: int) -> dict[str, Any]:
    u = rec.usage
    assert rec.at is not None
    event: dict[str, Any] = {
        "timestamp": rec.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request_id": f"req_{rec.request_id}",
        "provider": rec.provider,
        "model_requested": rec.model,
        "model_actual": rec.model,
        "output_tokens": u.output,
        "reasoning_tokens": u.reasoning,
        "retry_count": 0,
        "fallback_from": None,
    }
    if rec.provider == "anthropic":
        # Anthropic's convention, kept by gateways: input excludes cache reads and writes.
        event.update(input_tokens=u.input, cache_read_input_tokens=u.cached_input,
                     cache_creation_input_tokens=u.cache_write, cache_write_1h_tokens=u.cache_write_1h)
    else:
        # OpenAI's convention: input includes the cached tokens.
        event.update(input_tokens=u.input + u.cached_input, cached_input_tokens=u.cached_input)
    if u.web_search:
        event["web_search_requests"] = u.web_search
    for tag, key in _GATEWAY_TAG_KEYS.items():
        if tag in rec.tags:
            event[key] = rec.tags[tag]
    return event


def payload_examples(registry: Registry | None = None, *,
                     kinds: Sequence[str] = ("openai.chat", "anthropic.messages", "gateway"),
                     max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[PayloadExample]:
    """A provider payload for a model on the cards, with the usage it must normalize to.

    ``kinds`` picks the shapes: ``openai.chat`` (a Chat Completions
    response), ``anthropic.messages`` (a Messages response) and ``gateway`` (a
    flat gateway event for OpenAI or Anthropic). Each payload follows its
    API's convention for cached tokens, so normalizing it exercises the
    conversion to disjoint meters; its model is timestamped inside a price
    period that prices every meter it uses.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(payload_examples())
    ... def check(ex):
    ...     rec = at.normalize(ex.payload, at=ex.at)
    ...     assert rec.usage == ex.usage and rec.provider == ex.provider
    ...     assert at.price(rec).cost == at.cost(ex.provider, ex.model, ex.usage, at=ex.at)
    >>> check()
    """
    reg = registry if registry is not None else default_registry()
    unknown = set(kinds) - {"openai.chat", "anthropic.messages", "gateway"}
    if unknown or not kinds:
        raise ValueError(f"kinds must be among openai.chat, anthropic.messages, gateway; got {sorted(kinds)}")
    options: list[st.SearchStrategy[PayloadExample]] = []

    def shape(kind: str, provider: str, render: Callable[[UsageRecord, int], dict[str, Any]],
              meters: Sequence[str]) -> st.SearchStrategy[PayloadExample]:
        def example(pair: tuple[UsageRecord, int]) -> PayloadExample:
            rec, n = pair
            usage = rec.usage if kind != "anthropic.messages" else attrs.evolve(rec.usage, reasoning=0)
            assert rec.at is not None
            return PayloadExample(kind=kind, payload=render(rec, n), provider=provider, model=rec.model,
                                  usage=usage, at=rec.at, tags=rec.tags)
        records = usage_records(reg, providers=[provider], models=_chat_model, meters=meters, max_count=max_count)
        return st.tuples(records, st.integers(0, 8)).map(example)

    if "openai.chat" in kinds:
        options.append(shape("openai.chat", "openai", _chat, _SHAPE_METERS["openai.chat"]))
    if "anthropic.messages" in kinds:
        options.append(shape("anthropic.messages", "anthropic", _message, _SHAPE_METERS["anthropic.messages"]))
    if "gateway" in kinds:
        options.append(shape("gateway", "openai", _event, _SHAPE_METERS["gateway.openai"]))
        options.append(shape("gateway", "anthropic", _event, _SHAPE_METERS["gateway.anthropic"]))
    return st.one_of(options)


def openai_chat_completions(registry: Registry | None = None, *,
                            max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[dict[str, Any]]:
    """An OpenAI Chat Completions response (``object: "chat.completion"``) for a model on the cards.

    ``usage.prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``
    (and audio), and ``completion_tokens`` includes reasoning, as the API
    reports them; owner tags, when drawn, are in ``metadata``.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(openai_chat_completions())
    ... def check(payload):
    ...     rec = at.normalize(payload)
    ...     usage = payload["usage"]
    ...     assert rec.usage.input + rec.usage.cached_input + rec.usage.input_audio == usage["prompt_tokens"]
    >>> check()
    """
    return payload_examples(registry, kinds=("openai.chat",), max_count=max_count).map(lambda ex: ex.payload)


def anthropic_messages(registry: Registry | None = None, *,
                       max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[dict[str, Any]]:
    """An Anthropic Messages response (``type: "message"``) for a model on the cards.

    ``usage.input_tokens`` *excludes* cache reads and writes, which are
    beside it; ``cache_creation`` splits writes into 5-minute and 1-hour TTLs.
    The response carries no timestamp, so it prices at the newest card price
    unless you pass ``at=`` (use :func:`payload_examples` to get the instant).

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(anthropic_messages())
    ... def check(payload):
    ...     rec = at.normalize(payload)
    ...     assert rec.usage.input == payload["usage"]["input_tokens"]
    ...     assert rec.usage.cache_write + rec.usage.cache_write_1h == payload["usage"]["cache_creation_input_tokens"]
    >>> check()
    """
    return payload_examples(registry, kinds=("anthropic.messages",), max_count=max_count).map(lambda ex: ex.payload)


def gateway_events(registry: Registry | None = None, *,
                   max_count: int = DEFAULT_MAX_COUNT) -> st.SearchStrategy[dict[str, Any]]:
    """A flat gateway event (one provider call with owner fields beside the usage), OpenAI or Anthropic.

    Counts follow the provider's convention, as gateways log them:
    ``input_tokens`` includes ``cached_input_tokens`` for OpenAI and excludes
    ``cache_read_input_tokens`` for Anthropic. Owner fields are ``team_id``,
    ``feature`` and ``tenant_id``, each possibly missing.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(gateway_events())
    ... def check(event):
    ...     rec = at.price(at.normalize(event))
    ...     assert rec.record.tags.get("team") == event.get("team_id")
    >>> check()
    """
    return payload_examples(registry, kinds=("gateway",), max_count=max_count).map(lambda ex: ex.payload)


# -- price cards --------------------------------------------------------------------------

_PRICE = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)


def _toml_decimal(value: Decimal) -> str:
    text = f"{value:f}"
    return text if "." in text else text + ".0"


@st.composite
def price_card_texts(draw: st.DrawFn, *, provider: str = "acme", max_models: int = 4,
                     max_periods: int = 3, currency: str = "USD") -> str:
    """A valid price card as TOML text: models with aliases, dated periods, meter prices and tiers.

    Prices are decimals with up to six places per 1M tokens (per 1K calls for
    ``web_search``); periods are in ascending order and never overlap; some
    periods offer a ``batch`` tier at half price. Model ids are
    ``<provider>-model-<n>`` (aliases ``<id>-latest``), and the version is
    unique per draw, so a card layers over the bundled ones without clashing.
    Load it with :func:`attribution.load_registry` (from a file), then draw
    records for its models with :func:`usage_records`.

    >>> import pathlib, tempfile
    >>> from hypothesis import given, settings, strategies as st
    >>> import attribution as at
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> @settings(max_examples=10, deadline=None, database=None)
    ... @given(price_card_texts(), st.data())
    ... def check(text, data):
    ...     card = folder / "acme.toml"
    ...     card.write_text(text, encoding="utf-8")
    ...     reg = at.load_registry(card, bundled=False)
    ...     rec = data.draw(usage_records(reg, providers=["acme"]))
    ...     assert at.price(rec, reg).cost >= 0
    >>> check()
    """
    version = f"{provider}-test-{draw(st.uuids()).hex[:12]}"
    lines = ["[card]", f'provider = "{provider}"', f'version = "{version}"', f'currency = "{currency}"',
             "read_on = 2026-01-15", 'source = "generated by attribution.testing.price_card_texts"', ""]
    for i in range(draw(st.integers(min_value=1, max_value=max_models))):
        model = f"{provider}-model-{i}"
        lines += ["[[models]]", f'id = "{model}"']
        if draw(st.booleans()):
            lines.append(f'aliases = ["{model}-latest"]')
        lines.append("")
        n = draw(st.integers(min_value=1, max_value=max_periods))
        starts = sorted(draw(st.lists(st.integers(min_value=0, max_value=3 * 365), min_size=n, max_size=n,
                                      unique=True)))
        for j, offset in enumerate(starts):
            lines += ["  [[models.prices]]", f"  from = {date(2024, 1, 1) + timedelta(days=offset)}"]
            if j + 1 < len(starts):
                # Contiguous or with a gap before the next period, never overlapping.
                gap = draw(st.integers(min_value=0, max_value=starts[j + 1] - offset - 1))
                lines.append(f"  until = {date(2024, 1, 1) + timedelta(days=starts[j + 1] - gap)}")
            meters = ["input", "output", *draw(st.lists(
                st.sampled_from(["cached_input", "cache_write", "cache_write_1h", "web_search"]), unique=True))]
            lines += [f"  {m} = {_toml_decimal(draw(_PRICE))}" for m in meters]
            if draw(st.booleans()):
                lines.append("  tiers.batch = { multiplier = 0.5 }")
            lines.append("")
    return "\n".join(lines)


# -- hostile JSON, for normalizer fuzzers ----------------------------------------------------

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
    """Any JSON value (objects, arrays, scalars), nested.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(json_values())
    ... def check(value):
    ...     for item in at.normalize_many([value]):   # never raises: bad input is quarantined
    ...         assert isinstance(item, (at.UsageRecord, at.Quarantined))
    >>> check()
    """
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


def _chat_like() -> st.SearchStrategy[dict[str, object]]:
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


def _message_like() -> st.SearchStrategy[dict[str, object]]:
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


def _event_like() -> st.SearchStrategy[dict[str, object]]:
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


def _trace_like() -> st.SearchStrategy[dict[str, object]]:
    return _optional({"provider_calls": st.lists(_event_like() | _junk(), max_size=3)}, {
        "trace_id": st.text(max_size=6), "timestamp": _timestamp_like(), "owner_team": st.sampled_from(TEAMS),
        "workflow_id": st.text(max_size=6) | _junk(),
    })


def payload_like() -> st.SearchStrategy[object]:
    """JSON shaped like the payloads the normalizers read, plausible mostly and junk sometimes.

    Chat completions, Anthropic messages, gateway events and traces with
    missing fields, wrong types and impossible counts, plus arbitrary JSON:
    a normalizer given one must return a record or raise
    :class:`~attribution.NormalizeError` (which ``normalize_many`` turns into a
    quarantined record), never anything else.

    >>> from hypothesis import given, settings
    >>> import attribution as at
    >>> @settings(max_examples=15, deadline=None, database=None)
    ... @given(payload_like())
    ... def check(payload):
    ...     for item in at.normalize_many([payload]):   # bad input is quarantined with a code
    ...         assert isinstance(item, at.UsageRecord) or item.code
    >>> check()
    """
    return st.one_of(_chat_like(), _message_like(), _event_like(), _trace_like(), json_values(max_leaves=8))
