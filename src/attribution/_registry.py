"""The price-card registry: layered cards, and the price in force at an instant.

``load_registry()`` reads the bundled cards, then any paths the caller gives
(their own cards: negotiated discounts, private models, internal aliases).
Later layers override earlier ones only where they say so (``override = true``
on a model or alias); an accidental clash is an error. ``Registry.resolve``
turns ``(provider, model, at, service tier, region)`` into a :class:`Rate`
whose unit prices are integers of money units per token, computed once and
memoised, so pricing a record is integer arithmetic.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import attrs

from ._cards import (
    STANDARD_TIER,
    CardFile,
    DiscountSpec,
    ExcludedModel,
    ModelSpec,
    PricePeriod,
    RegionalPrices,
    ServiceTier,
    TimeWindow,
    _Meters,
    load_card,
    per_unit,
    window_spans,
)
from ._money import to_decimal, unit_price
from ._provenance import provenance
from ._usage import BILLED_METERS, COMMON_METERS, PROMPT_METERS, Usage
from .exceptions import (
    InvalidTimestamp,
    PriceCardError,
    PriceNotInForce,
    UnknownModel,
    UnknownProvider,
    UnknownServiceTier,
    UnpricedMeter,
)

__all__ = [
    "LineItem",
    "ModelInfo",
    "Rate",
    "Registry",
    "bundled_card_paths",
    "canonical_provider",
    "canonical_tier",
    "default_registry",
    "load_registry",
]

UTC = timezone.utc

#: Other names users and tools give providers, mapped to the card's provider id.
PROVIDER_SYNONYMS = {
    "amazon-bedrock": "bedrock",
    "amazon_bedrock": "bedrock",
    "aws": "bedrock",
    "aws-bedrock": "bedrock",
    "aws_bedrock": "bedrock",
    "azure-openai": "azure",
    "azure_openai": "azure",
    "azure_ai": "azure",
    "claude": "anthropic",
    "gemini": "google",
    "google-gla": "google",
    "google_ai_studio": "google",
    "google-vertex": "vertex",
    "vertex_ai": "vertex",
    "vertexai": "vertex",
    "vertex-ai": "vertex",
    "x-ai": "xai",
    "mistralai": "mistral",
    "together_ai": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
}

#: Names providers and gateways use for the standard (default) service tier.
_STANDARD_NAMES = frozenset({"", "standard", "default", "auto", "on_demand", "on-demand", "ondemand"})

#: Bedrock cross-region inference profile prefixes (``us.anthropic.claude-...``); ``in`` is the
#: India geography genai-prices matches (``in.anthropic.claude-opus-5``).
_BEDROCK_GEOS = ("global", "us-gov", "us", "eu", "apac", "jp", "au", "ca", "in")

#: A Bedrock model id's version suffix: ``-v1``, ``-v1:0``, ``-v2:1`` (AWS's ``vendor.model-vMAJOR:MINOR``).
_BEDROCK_VERSION = re.compile(r"^(.+?)(-v\d+)?(:\d+)?$")

#: Vertex AI's version forms of a publisher model id: ``claude-sonnet-4-5@20250929`` (dated ids are
#: aliases on the vertex card, as Google lists them) and the ``@default`` version alias.
_VERTEX_DEFAULT = "@default"


def _bedrock_version(low: str, names: dict[str, str]) -> str | None:
    """The card name a Bedrock id spelt with another version suffix stands for, or ``None``.

    Two equivalences of AWS's id grammar, nothing looser: minor revision ``:0``
    is the version itself (``anthropic.claude-opus-4-6-v1:0`` is the card's
    ``anthropic.claude-opus-4-6-v1``, and back), and an id the card carries
    with no version suffix at all (``anthropic.claude-sonnet-4-6``, the form
    AWS gives newer models) matches that id with ``-v1`` or ``-v1:0`` appended,
    as genai-prices spells it. A different major version (``-v2``) never
    matches ``-v1``.

    >>> _bedrock_version("anthropic.claude-opus-4-6-v1:0", {"anthropic.claude-opus-4-6-v1": "x"})
    'anthropic.claude-opus-4-6-v1'
    >>> _bedrock_version("anthropic.claude-sonnet-4-6-v1:0", {"anthropic.claude-sonnet-4-6": "x"})
    'anthropic.claude-sonnet-4-6'
    >>> _bedrock_version("anthropic.claude-3-5-sonnet-20240620-v2:0", {"anthropic.claude-3-5-sonnet-20240620-v1:0": "x"})
    """
    if low.endswith(":0") and low[:-2] in names:
        return low[:-2]
    if low + ":0" in names:
        return low + ":0"
    m = _BEDROCK_VERSION.match(low)
    if m is not None and m.group(2) == "-v1" and m.group(1) in names:
        base = _BEDROCK_VERSION.match(m.group(1))
        if base is not None and base.group(2) is None and base.group(3) is None:
            return m.group(1)
    return None


#: The routing forms a logged model id may be wrapped in, per provider: the id is group 1.
#: Anything else before a slash is part of the name (``evil/gpt-4o`` is not ``gpt-4o``).
_ROUTING_FORMS: dict[str, re.Pattern[str]] = {
    # ARNs of inference profiles and foundation models; LiteLLM's bedrock/converse/ and bedrock/invoke/ routes.
    "bedrock": re.compile(r"^(?:arn:aws[a-z-]*:bedrock:[^:/]*:[^:/]*:(?:inference-profile|foundation-model)/"
                          r"|converse/|invoke/)([^/]+)$"),
    # Gemini API and Vertex AI resource names: models/ID, publishers/P/models/ID, projects/.../models/ID.
    "google": re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/([^/]+)$"),
    "vertex": re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/([^/]+)$"),
    # Fireworks account-scoped ids: accounts/fireworks/models/ID.
    "fireworks": re.compile(r"^accounts/[^/]+/models/([^/]+)$"),
}


def _routed(prov: str, low: str) -> str | None:
    """The model id inside a documented routing form (``openai/gpt-4o`` under openai, a Bedrock ARN,
    a Vertex resource name), or ``None`` when ``low`` is not one.

    >>> _routed("openai", "openai/gpt-4o"), _routed("openai", "evil/gpt-4o")
    ('gpt-4o', None)
    >>> _routed("bedrock", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0")
    'amazon.nova-pro-v1:0'
    """
    head, _, tail = low.partition("/")
    prefixed = canonical_provider(head) == prov   # a gateway's provider prefix, as LiteLLM logs it
    if prefixed:
        low = tail
    form = _ROUTING_FORMS.get(prov)
    m = form.match(low) if form is not None else None
    if m is not None:
        return m.group(1)
    return low if prefixed else None


def canonical_provider(provider: str) -> str:
    """The card id for a provider name: lower-cased, synonyms folded.

    >>> canonical_provider("Azure_OpenAI"), canonical_provider("vertex_ai")
    ('azure', 'vertex')
    """
    known = _CANONICAL.get(provider) if type(provider) is str else None
    if known is not None:
        return known
    p = provider.strip().lower()
    p = PROVIDER_SYNONYMS.get(p, p)
    if len(_CANONICAL) < 1024:   # a stream repeats a handful of spellings; bounded for the rest
        _CANONICAL[provider] = p
    return p


#: provider spelling -> canonical_provider(spelling), memoised (it runs several times per record).
_CANONICAL: dict[str, str] = {}


def canonical_tier(tier: str | None) -> str:
    """The card name of a service tier; ``None``, ``default``, ``auto``... are standard.

    >>> canonical_tier(None), canonical_tier("Default"), canonical_tier("batch")
    ('standard', 'standard', 'batch')
    """
    if tier is None:
        return STANDARD_TIER
    t = tier.strip().lower()
    return STANDARD_TIER if t in _STANDARD_NAMES else t


def _instant(at: datetime | date | None) -> datetime | None:
    if at is None:
        return None
    if isinstance(at, datetime):
        if at.utcoffset() is None:
            raise InvalidTimestamp(f"at={at.isoformat()} has no timezone; pass an aware datetime (e.g. tzinfo=UTC)")
        return at
    return datetime.combine(at, time(0), tzinfo=UTC)


@attrs.frozen(slots=True)
class LineItem:
    """One meter of one priced record: ``quantity x unit_price = amount``.

    ``unit_price`` is quoted per ``per`` units (1,000,000 tokens, or 1,000
    calls for per-call fees), as on the provider's pricing page; ``amount`` is
    exact.
    """

    meter: str
    quantity: int
    unit_price: Decimal
    per: int
    amount: Decimal

    def __str__(self) -> str:
        unit = "1K calls" if self.per == 1_000 else "1M tokens"
        return f"{self.meter:<15} {self.quantity:>12,} x {self.unit_price} / {unit} = {self.amount}"


_Prices = tuple[int, ...]  # money units per token (or call), in BILLED_METERS order; -1 = not priced
_UNPRICED = -1


@attrs.frozen(slots=True, kw_only=True)
class Rate:
    """The resolved price of one model at one instant, tier and region.

    ``prices`` are integer money units per token (per call for fees), in
    ``BILLED_METERS`` order, with ``-1`` for a meter the card does not price;
    ``context`` holds whole-request tiers as ``(above, prices)``, ascending.
    Everything a line item needs to explain itself is here.
    """

    provider: str
    model: str
    card_version: str
    currency: str
    source: str
    read_on: date
    effective_from: datetime
    effective_until: datetime | None
    service_tier: str
    region: str | None
    prices: _Prices
    context: tuple[tuple[int, _Prices], ...] = ()
    notes: tuple[str, ...] = ()
    #: Time-of-day windows: ``(day mask, spans in seconds of the UTC day, rate)``; the first match wins.
    windows: tuple[tuple[int, tuple[tuple[int, int], ...], Rate], ...] = ()

    def at_time(self, when: datetime) -> Rate:
        """The rate of the time window ``when`` falls in (UTC hours and weekday), or this rate.

        Only rates from cards with ``time_windows`` differ: DeepSeek's off-peak
        price applies from 16:30:00 UTC, so a call at 16:29:59 pays the standard
        price and one at 16:30:00 the off-peak price.

        >>> noon = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
        >>> rate = default_registry().resolve("deepseek", "deepseek-chat", noon)
        >>> rate.unit_prices()["input"], rate.at_time(noon.replace(hour=17)).unit_prices()["input"]
        (Decimal('0.27'), Decimal('0.135'))
        """
        if not self.windows:
            return self
        t = when if when.tzinfo is UTC else when.astimezone(UTC)
        second = t.hour * 3600 + t.minute * 60 + t.second
        for start, end, rate in self._by_day[t.weekday()]:
            if start <= second < end:
                return rate
        return self

    def prices_for(self, usage: Usage, *, requests: int = 1,
                   long_context: bool | None = None) -> tuple[_Prices, int | None]:
        """The price vector that applies to ``usage`` and the context threshold it exceeded.

        A single request's prompt size picks the tier. A record that stands for
        several requests (an aggregate bucket) cannot: its total prompt says
        nothing about any one request, so it pays the base prices unless
        ``long_context`` says otherwise (``True`` picks the highest tier).
        """
        if not self.context:
            return self.prices, None
        if long_context is not None:
            return (self.context[-1][1], self.context[-1][0]) if long_context else (self.prices, None)
        if requests != 1:
            return self.prices, None
        prompt = usage.prompt_tokens
        chosen: tuple[_Prices, int | None] = (self.prices, None)
        for above, prices in self.context:
            if prompt > above:
                chosen = (prices, above)
        return chosen

    def units_with(self, usage: Usage, prices: _Prices) -> int:
        """Exact cost of ``usage`` at an explicit price vector (the slow, general path)."""
        total = 0
        for meter, price in zip(BILLED_METERS, prices, strict=True):
            n = getattr(usage, meter)
            if n:
                if price < 0:
                    self._unpriced(usage)
                total += n * price
        return total

    _units: Callable[[Usage], int] = attrs.field(init=False, eq=False, repr=False)
    #: ``windows`` per weekday (Monday first) as ``(start, end, rate)``, so a look-up scans one day's spans.
    _by_day: tuple[tuple[tuple[int, int, Rate], ...], ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_units", _compile(self))
        object.__setattr__(self, "_by_day", tuple(
            tuple((start, end, rate) for mask, spans, rate in self.windows if mask & (1 << day) for start, end in spans)
            for day in range(7)) if self.windows else ())

    def __reduce__(self) -> tuple[Any, ...]:
        # The compiled pricing function does not pickle; it is rebuilt from the fields.
        return _rate_from, ({f.name: getattr(self, f.name) for f in attrs.fields(Rate) if f.init},)

    def units(self, usage: Usage) -> int:
        """Exact cost of ``usage`` in money units.

        Raises:
            UnpricedMeter: the usage has counts on a meter this rate does not price.
        """
        return self._units(usage)

    def _unpriced(self, usage: Usage) -> NoReturn:
        prices, _ = self.prices_for(usage)
        raise UnpricedMeter(self.provider, self.model,
                            [m for m, p in zip(BILLED_METERS, prices, strict=True) if p < 0 and getattr(usage, m)])

    def lines(self, usage: Usage, *, requests: int = 1, long_context: bool | None = None) -> tuple[LineItem, ...]:
        """Line items for ``usage``; their amounts sum exactly to the record's cost."""
        prices, _ = self.prices_for(usage, requests=requests, long_context=long_context)
        out = []
        for meter, price in zip(BILLED_METERS, prices, strict=True):
            n = getattr(usage, meter)
            if not n:
                continue
            if price < 0:
                raise UnpricedMeter(self.provider, self.model, [meter])
            per = per_unit(meter)
            out.append(LineItem(meter, n, to_decimal(price * per).normalize(), per, to_decimal(n * price)))
        return tuple(out)

    def unit_prices(self) -> dict[str, Decimal]:
        """Base unit prices as on the pricing page (per 1M tokens / 1K calls)."""
        return {m: to_decimal(p * per_unit(m)).normalize()
                for m, p in zip(BILLED_METERS, self.prices, strict=False) if p >= 0}


def _rate_from(fields: dict[str, Any]) -> Rate:
    return Rate(**fields)


def _compile(rate: Rate) -> Callable[[Usage], int]:
    """Generate ``units(usage)`` for one rate: integer multiply-adds, constants inlined.

    Pricing is the hot path (every record of every month, re-run whenever a
    card changes), so each resolved rate gets a straight-line function, the
    way attrs generates ``__init__``: ``units`` reads only the common meters
    and hands a usage with any rare meter (``Usage._rare``) to ``every_meter``.
    The constants are integers from validated cards; nothing else reaches the
    generated source.
    """

    def source(name: str, meters: tuple[str, ...]) -> str:
        def total(prices: _Prices) -> str:
            terms = [f"u.{m} * {p}" for m, p in zip(BILLED_METERS, prices, strict=True) if p > 0 and m in meters]
            return " + ".join(terms) or "0"

        def guard(prices: _Prices, indent: str) -> list[str]:
            unpriced = [f"u.{m}" for m, p in zip(BILLED_METERS, prices, strict=True) if p < 0 and m in meters]
            return [f"{indent}if {' or '.join(unpriced)}: _unpriced(u)"] if unpriced else []

        src = [f"def {name}(u):"]
        if name == "units":
            # Usage._rare is true when any meter outside COMMON_METERS counts: only then
            # is the full function needed; the rest of the time those meters are zero.
            src.append("    if u._rare: return every_meter(u)")
        if rate.context:
            src.append("    prompt = " + " + ".join(f"u.{m}" for m in PROMPT_METERS if m in meters))
            for above, prices in reversed(rate.context):
                src.append(f"    if prompt > {above}:")
                src.extend(guard(prices, "        "))
                src.append(f"        return {total(prices)}")
        src.extend(guard(rate.prices, "    "))
        src.append(f"    return {total(rate.prices)}")
        return "\n".join(src)

    namespace: dict[str, Any] = {"_unpriced": rate._unpriced}
    exec(source("every_meter", BILLED_METERS), namespace)  # generated from integers only, see docstring
    exec(source("units", COMMON_METERS), namespace)
    fn: Callable[[Usage], int] = namespace["units"]
    return fn


@attrs.frozen(slots=True)
class ModelInfo:
    """A model known to the registry, for listings (``attribution cards list``)."""

    provider: str
    id: str
    name: str | None
    aliases: tuple[str, ...]
    card_version: str
    periods: tuple[PricePeriod, ...]
    card: CardFile


@attrs.frozen(slots=True)
class _Segment:
    start: datetime | None
    end: datetime | None
    built: Rate | UnknownServiceTier  # a period that does not offer the tier keeps the error

    @property
    def rate(self) -> Rate:
        if isinstance(self.built, UnknownServiceTier):
            raise self.built
        return self.built


_NEVER = datetime.max.replace(tzinfo=timezone.utc)
_ALWAYS = datetime.min.replace(tzinfo=timezone.utc)


class _Timeline:
    """Every price segment of one (provider, model, tier, region), oldest first.

    ``open_from`` and ``open_rate`` single out the newest, open-ended segment
    (when it prices the tier): the pricing hot path compares one timestamp
    and skips the search. ``open_from`` is a time never reached otherwise.
    """

    __slots__ = ("open_from", "open_rate", "segments", "starts", "windowed_from", "windowed_rate")

    def __init__(self, segments: list[_Segment]) -> None:
        self.segments = segments
        self.starts = [s.start for s in segments if s.start is not None]
        last = segments[-1] if segments else None
        if last is not None and last.end is None and isinstance(last.built, Rate) and not last.built.windows:
            # A rate with time windows depends on the hour: it takes the general path (_rate_at).
            self.open_from = last.start if last.start is not None else _ALWAYS
            self.open_rate: Rate | None = last.built
        else:
            self.open_from, self.open_rate = _NEVER, None
        # The newest open-ended segment when it has time windows: _rate_at picks the window directly.
        if last is not None and last.end is None and isinstance(last.built, Rate) and last.built.windows:
            self.windowed_from = last.start if last.start is not None else _ALWAYS
            self.windowed_rate: Rate | None = last.built
        else:
            self.windowed_from, self.windowed_rate = _NEVER, None


def _vector(table: _Meters, base: _Prices | None, where: str) -> _Prices:
    """Integer unit prices for a price table; meters it omits fall back to ``base``."""
    out = []
    for i, meter in enumerate(BILLED_METERS):
        value = getattr(table, meter)
        if value is None:
            out.append(_UNPRICED if base is None else base[i])
        else:
            out.append(unit_price(value, per_unit(meter), what=f"{where}.{meter}"))
    return tuple(out)


def _scale(units: int, mult: Decimal, where: str, card: CardFile) -> int:
    if mult == 1:
        return units
    exact = Decimal(units) * mult
    if exact != exact.to_integral_value():
        raise PriceCardError(
            f"multiplier {mult} makes a unit price that is not exact at 10^-15; state the price explicitly",
            file=card.path, path=where)
    return int(exact)


def _mult_vector(prices: _Prices, mult: Decimal, where: str, card: CardFile) -> _Prices:
    return tuple(p if p < 0 else _scale(p, mult, where, card) for p in prices)


class Registry:
    """Layered price cards and the look-ups pricing needs.

    Build it with :func:`load_registry`. It is immutable from the outside; it
    memoises resolved rates internally, which is safe because cards do not
    change after loading.
    """

    def __init__(self, cards: Sequence[CardFile]) -> None:
        self._cards = tuple(cards)
        self._models: dict[str, dict[str, tuple[ModelSpec, CardFile]]] = {}
        self._names: dict[str, dict[str, str]] = {}   # provider -> lowercase name -> canonical id
        self._discounts: dict[str, list[tuple[DiscountSpec, CardFile]]] = {}
        self._memo: dict[tuple[str, str, str | None, str | None], _Timeline] = {}
        self._close: dict[tuple[str, str], tuple[str, ...]] = {}
        self._excluded: dict[str, dict[str, tuple[ExcludedModel, CardFile]]] = {}
        versions: dict[str, str | None] = {}
        for card in self._cards:
            meta = card.card
            if meta.version in versions:
                raise PriceCardError(f"card version {meta.version!r} is already loaded from {versions[meta.version]}",
                                     file=card.path, path="card.version")
            versions[meta.version] = card.path
            self._add(card)

    def __getstate__(self) -> dict[str, Any]:
        # Memoised look-ups are rebuilt on demand: a pickled registry carries only its cards.
        return {**self.__dict__, "_memo": {}, "_close": {}}

    # -- building ----------------------------------------------------------

    def _add(self, card: CardFile) -> None:
        provider = canonical_provider(card.card.provider)
        models = self._models.setdefault(provider, {})
        names = self._names.setdefault(provider, {})
        for i, model in enumerate(card.models):
            key = model.id.lower()
            if key in models:
                other = models[key][1]
                if not model.override:
                    raise PriceCardError(
                        f"model {model.id!r} is already defined by card {other.card.version!r}; "
                        "set override = true to replace it", file=card.path, path=f"models[{i}].id")
                if other.card.currency != card.card.currency:
                    raise PriceCardError(f"override of {model.id!r} changes currency from {other.card.currency}",
                                         file=card.path, path=f"models[{i}]")
            elif names.get(key, key) != key:
                raise PriceCardError(f"model id {model.id!r} is already an alias of {names[key]!r}",
                                     file=card.path, path=f"models[{i}].id")
            models[key] = (model, card)
            names[key] = key
            for alias in model.aliases:
                akey = alias.lower()
                if akey in models and akey != key:
                    raise PriceCardError(f"alias {alias!r} is already a model id", file=card.path,
                                         path=f"models[{i}].aliases")
                if names.get(akey, key) != key and not model.override:
                    raise PriceCardError(f"alias {alias!r} already points to {names[akey]!r}", file=card.path,
                                         path=f"models[{i}].aliases")
                names[akey] = key
        for i, alias_spec in enumerate(card.aliases):
            target = names.get(alias_spec.model.lower())
            if target is None:
                raise PriceCardError(
                    f"alias {alias_spec.alias!r} points to unknown model {alias_spec.model!r}"
                    + _hint(alias_spec.model, names), file=card.path, path=f"aliases[{i}].model")
            akey = alias_spec.alias.lower()
            if akey in models:
                raise PriceCardError(f"alias {alias_spec.alias!r} would shadow a real model id",
                                     file=card.path, path=f"aliases[{i}].alias")
            if akey in names and names[akey] != target and not alias_spec.override:
                raise PriceCardError(f"alias {alias_spec.alias!r} already points to {names[akey]!r}; "
                                     "set override = true to repoint it", file=card.path, path=f"aliases[{i}].alias")
            names[akey] = target
        if card.discounts:
            self._discounts.setdefault(provider, []).extend((d, card) for d in card.discounts)
        excluded = self._excluded.setdefault(provider, {})
        for excl in card.excluded:
            for name in (excl.id, *excl.aliases):
                excluded[name.lower()] = (excl, card)

    def check(self, cards: Iterable[CardFile] | None = None) -> list[PriceCardError]:
        """Build every rate pricing could need and return the problems, so none surfaces per call.

        Card validation checks each file alone; some problems exist only once
        cards are layered: a negotiated discount (or a tier or region
        multiplier) whose product with a list price is not exact at 10^-15 of
        the currency would make pricing refuse every matching call. ``cards``
        limits the check to the models those cards define or discount
        (default: every model).

        >>> load_registry().check()
        []
        """
        wanted: set[tuple[str, str]] | None = None
        if cards is not None:
            wanted = set()
            for card in cards:
                prov = canonical_provider(card.card.provider)
                wanted.update((prov, spec.id.lower()) for spec in card.models)
                for disc in card.discounts:
                    wanted.update((prov, key) for key in self._models.get(prov, {})
                                  if any(fnmatch.fnmatchcase(key, pat.lower()) for pat in disc.models))
        problems: list[PriceCardError] = []
        seen: set[tuple[str, str]] = set()
        for prov, models in self._models.items():
            for key, (spec, _card) in models.items():
                if wanted is not None and (prov, key) not in wanted:
                    continue
                tiers = {STANDARD_TIER, *(t for period in spec.prices for t in period.tiers),
                         *(t for period in spec.prices for table in period.regional.values() for t in table.tiers)}
                regions = {None, *(r for period in spec.prices for r in (*period.regions, *period.regional)
                                   if r != "*")}
                for tier in sorted(tiers):
                    for region in sorted(regions, key=lambda r: r or ""):
                        try:
                            self._timeline(prov, spec.id, tier, region)
                        except PriceCardError as exc:
                            sig = (str(exc), spec.id)
                            if sig not in seen:
                                seen.add(sig)
                                problems.append(PriceCardError(f"{prov}/{spec.id}: {exc.message}", file=exc.file,
                                                               path=exc.path))
        return problems

    # -- look-ups -----------------------------------------------------------

    @property
    def cards(self) -> tuple[CardFile, ...]:
        """Every loaded card, in layer order."""
        return self._cards

    def providers(self) -> list[str]:
        """Provider ids with at least one model, sorted."""
        return sorted(p for p, models in self._models.items() if models)

    def excluded(self, provider: str | None = None) -> list[tuple[str, ExcludedModel]]:
        """``(provider, entry)`` for every model a card leaves out on purpose (a priced model wins).

        A later layer that prices the model removes it from this list.

        >>> reg = default_registry()
        >>> all(reason.reason for _, reason in reg.excluded())
        True
        """
        out: list[tuple[str, ExcludedModel]] = []
        for prov in ([canonical_provider(provider)] if provider else sorted(self._excluded)):
            names = self._names.get(prov, {})
            seen: set[str] = set()
            for _key, (excl, _card) in sorted(self._excluded.get(prov, {}).items()):
                if excl.id.lower() in names or excl.id in seen:
                    continue
                seen.add(excl.id)
                out.append((prov, excl))
        return out

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        """Every model (after overrides), sorted by provider and id."""
        out = []
        for prov in ([canonical_provider(provider)] if provider else self.providers()):
            aliases: dict[str, list[str]] = {}
            for name, target in self._names.get(prov, {}).items():
                if name != target:
                    aliases.setdefault(target, []).append(name)
            for key, (spec, card) in sorted(self._models.get(prov, {}).items()):
                out.append(ModelInfo(prov, spec.id, spec.name, tuple(sorted(aliases.get(key, ()))),
                                     card.card.version, spec.prices, card))
        return out

    def canonical_model(self, provider: str, model: str) -> tuple[str, str, str | None]:
        """``(provider, canonical id, region hint)`` for a model name as logged.

        Accepts provider prefixes (``openai/gpt-4o``), Bedrock ARNs and
        cross-region profile ids (``us.anthropic.claude-...``, whose geography
        becomes the region hint), and any alias or snapshot on the cards.

        Raises:
            UnknownModel: listing the closest known ids.
        """
        prov = canonical_provider(provider)
        names = self._names.get(prov)
        if not names:
            raise UnknownProvider(prov, model, self.providers())
        name = model.strip()
        region = None
        low = name.lower()
        if low in names:
            return prov, self._models[prov][names[low]][0].id, None
        if "/" in low:
            # Only documented routing forms are unwrapped: anything else before a slash
            # ("evil/gpt-4o") is part of the name, so it stays unknown rather than priced as gpt-4o.
            routed = _routed(prov, low)
            if routed is not None:
                low = routed
                if low in names:
                    return prov, self._models[prov][names[low]][0].id, None
        if prov == "bedrock":
            geo, dot, rest = low.partition(".")
            if dot and geo in _BEDROCK_GEOS and rest.partition(".")[1]:
                low, region = rest, geo
            if low not in names:
                low = _bedrock_version(low, names) or low
        elif prov in ("vertex", "google") and low.endswith(_VERTEX_DEFAULT):
            low = low[: -len(_VERTEX_DEFAULT)]
        if low in names:
            return prov, self._models[prov][names[low]][0].id, region
        # Scans over every id are costly and an unknown alias repeats all month: a miss is remembered.
        close = self._close.get((prov, low))
        if close is None:
            if prov == "bedrock":
                # An InvokeModel response body names the model as its vendor does
                # ("claude-sonnet-4-5-20250929"); Bedrock's id adds the vendor and a version
                # ("anthropic.claude-sonnet-4-5-20250929-v1:0"). One unambiguous match is enough.
                found = {names[n] for n in names if n.partition(".")[2].startswith(low + "-v")}
                if len(found) == 1:
                    return prov, self._models[prov][found.pop()][0].id, region
            import difflib  # only on a miss: an unknown model is the rare path

            close = self._close[(prov, low)] = tuple(difflib.get_close_matches(low, list(names), n=3, cutoff=0.5))
        raise UnknownModel(prov, model, close)

    def resolve(self, provider: str, model: str, at: datetime | date | None = None, *,
                service_tier: str | None = None, region: str | None = None) -> Rate:
        """The rate in force for ``model`` at instant ``at``.

        ``at=None`` means the newest price on the card (callers that price
        records without a timestamp flag them). Dates mean UTC midnight.

        Raises:
            UnknownModel: no card knows the model (never priced at $0).
            PriceNotInForce: the model had no price at ``at``.
            UnknownServiceTier: the card does not price the requested tier.

        >>> reg = default_registry()
        >>> rate = reg.resolve("openai", "gpt-4o-2024-08-06", date(2025, 6, 1))
        >>> rate.model, rate.unit_prices()["input"]
        ('gpt-4o-2024-08-06', Decimal('2.5'))
        """
        return self._rate_at(provider, model, service_tier, region, _instant(at))

    def _rate_at(self, provider: str, model: str, service_tier: str | None, region: str | None,
                 when: datetime | None) -> Rate:
        """``resolve`` for callers that already hold an aware datetime (the pricing hot path)."""
        key = (provider, model, service_tier, region)
        line = self._memo.get(key)
        if line is None:
            prov, canonical, geo = self.canonical_model(provider, model)
            # A Bedrock inference profile's geography (global., us., eu.) decides its price, not the
            # region the call was logged in: a global-profile call from us-west-2 pays the global rate.
            line = self._memo[key] = self._timeline(prov, canonical, canonical_tier(service_tier),
                                                    geo if geo is not None else region)
        if when is None:
            return line.segments[-1].rate
        rate = line.open_rate
        if rate is not None and when >= line.open_from:
            return rate   # the newest price, open-ended: nearly every record of a month
        rate = line.windowed_rate
        if rate is not None and when >= line.windowed_from:
            return rate.at_time(when)
        starts, segments = line.starts, line.segments
        i = bisect.bisect_right(starts, when) - 1
        if i >= 0:
            seg = segments[i]
            if seg.end is None or when < seg.end:
                rate = seg.rate
                return rate.at_time(when) if rate.windows else rate
        first = segments[0].start
        prov, canonical, _ = self.canonical_model(provider, model)
        raise PriceNotInForce(prov, canonical, when.isoformat(), first.date().isoformat() if first else None)

    def _timeline(self, provider: str, model_id: str, tier: str, region: str | None) -> _Timeline:
        spec, card = self._models[provider][model_id.lower()]
        discounts = [(d, c) for d, c in self._discounts.get(provider, [])
                     if any(fnmatch.fnmatchcase(model_id.lower(), pat.lower()) for pat in d.models)]
        segments: list[_Segment] = []
        for j, period in enumerate(spec.prices):
            where = f"models[{card.models.index(spec)}].prices[{j}]"
            # Split the period where a discount starts or ends inside it.
            cuts = sorted({period.from_, *(t for d, _ in discounts for t in (d.from_, d.until)
                                           if t is not None and period.from_ < t
                                           and (period.until is None or t < period.until))})
            bounds = [*cuts, period.until]
            for start, end in itertools.pairwise(bounds):
                assert start is not None
                active = [(d, c) for d, c in discounts
                          if (d.from_ is None or d.from_ <= start) and (d.until is None or start < d.until)]
                try:
                    built: Rate | UnknownServiceTier = self._rate(provider, spec, card, period, where, tier, region,
                                                                   active, start, end)
                except UnknownServiceTier as exc:
                    # Only requests made while this period was in force fail: a tier the
                    # provider launched later must not break pricing of current requests.
                    built = exc
                segments.append(_Segment(start, end, built))
        return _Timeline(segments)

    def _rate(self, provider: str, spec: ModelSpec, card: CardFile, period: PricePeriod, where: str,
              tier: str, region: str | None, discounts: list[tuple[DiscountSpec, CardFile]],
              start: datetime, end: datetime | None) -> Rate:
        rate = self._rate_of(provider, spec, card, period, where, tier, region, discounts, start, end, None)
        if not period.time_windows:
            return rate
        windows = []
        for k, window in enumerate(period.time_windows):
            mask, spans = window_spans(window)
            windows.append((mask, spans, self._rate_of(provider, spec, card, period, f"{where}.time_windows[{k}]",
                                                       tier, region, discounts, start, end, window)))
        return attrs.evolve(rate, windows=tuple(windows))

    def _rate_of(self, provider: str, spec: ModelSpec, card: CardFile, period: PricePeriod, where: str,
                 tier: str, region: str | None, discounts: list[tuple[DiscountSpec, CardFile]],
                 start: datetime, end: datetime | None, window: TimeWindow | None) -> Rate:
        notes: list[str] = []
        if period.note:
            notes.append(period.note)
        base = _vector(period, None, where)
        context = [(c.above, _vector(c, base, f"{where}.context")) for c in period.context]
        if window is not None:
            # A window's prices are standard prices at those hours; tiers, regions and discounts apply on top.
            label = window.name or "time window"
            hours = ", ".join(window.hours)
            days = f" on {', '.join(window.days)}" if window.days else ""
            if window.multiplier is not None:
                base = _mult_vector(base, window.multiplier, f"{where}.multiplier", card)
                context = [(a, _mult_vector(p, window.multiplier, f"{where}.multiplier", card)) for a, p in context]
                notes.append(f"{label} (UTC {hours}{days}): x{window.multiplier} of the period's prices")
            else:
                base = _vector(window, base, where)
                notes.append(f"{label} (UTC {hours}{days}): window prices")
            if window.note:
                notes.append(window.note)
        regional: RegionalPrices | None = period.regional.get(region.lower()) if region else None
        tiers: dict[str, ServiceTier] = dict(period.tiers)
        if regional is not None:
            base = _vector(regional, base, f"{where}.regional.{region}")
            notes.append(f"region {region}: regional prices")
            if regional.note:
                notes.append(regional.note)
            # A tier with its own prices has none in this region unless the regional table gives one.
            tiers = {n: t for n, t in period.tiers.items() if t.multiplier is not None}
            tiers.update(regional.tiers)
        if tier != STANDARD_TIER:
            st: ServiceTier | None = tiers.get(tier)
            if st is None:
                raise UnknownServiceTier(provider, spec.id, tier, [STANDARD_TIER, *sorted(tiers)])
            if st.multiplier is not None:
                base = _mult_vector(base, st.multiplier, f"{where}.tiers.{tier}", card)
                context = [(a, _mult_vector(p, st.multiplier, f"{where}.tiers.{tier}", card)) for a, p in context]
                notes.append(f"{tier} tier: x{st.multiplier} of standard prices")
            else:
                base = _vector(st, None, f"{where}.tiers.{tier}")
                context = [(c.above, _vector(c, base, f"{where}.tiers.{tier}.context"))
                           for c in st.context]
        if period.regions and regional is None:
            # "*" covers every request not named, including one with no region recorded.
            mult = period.regions.get(region.lower()) if region else None
            if mult is None:
                mult = period.regions.get("*")
            if mult is not None and mult != 1:
                base = _mult_vector(base, mult, f"{where}.regions", card)
                context = [(a, _mult_vector(p, mult, f"{where}.regions", card)) for a, p in context]
                notes.append(f"region {region or 'not recorded (regional endpoint)'}: x{mult}")
        for disc, dcard in discounts:
            dwhere = f"discounts[{dcard.discounts.index(disc)}].multiplier"
            base = _mult_vector(base, disc.multiplier, dwhere, dcard)
            context = [(a, _mult_vector(p, disc.multiplier, dwhere, dcard)) for a, p in context]
            notes.append(f"discount x{disc.multiplier} from card {dcard.card.version}"
                         + (f" ({disc.source or dcard.card.source})" if (disc.source or dcard.card.source) else ""))
        notes.extend(f"assumed ({a.tier} {a.meter}): {a.assumed}" for a in period.assumptions if a.tier == tier)
        # A period that names its own source or peers never inherits the card's (_provenance).
        prov = provenance(period, card)
        source, read_on = prov.label, prov.read_on
        assert read_on is not None
        return Rate(provider=provider, model=spec.id, card_version=card.card.version, currency=card.card.currency,
                    source=source, read_on=read_on, effective_from=start, effective_until=end,
                    service_tier=tier, region=region, prices=base, context=tuple(context), notes=tuple(notes))


def _hint(model: str, names: dict[str, str]) -> str:
    import difflib  # only on a miss: an unknown model is the rare path

    close = difflib.get_close_matches(model.lower(), list(names), n=3, cutoff=0.5)
    return f"; closest known: {', '.join(close)}" if close else ""


def bundled_card_paths() -> list[Path]:
    """Paths of the price cards shipped with the package, sorted by name.

    Installed wheels carry them as ``attribution/pricecards``; in a source
    checkout (editable install) they are read from the repository's
    ``pricecards/`` directory.
    """
    # Plain paths, not importlib.resources: the package is always a directory on disk (it ships
    # data files beside its modules) and importlib.resources alone costs ~15 ms of cold start.
    here = Path(__file__).resolve().parent
    candidates = [here / "pricecards", here.parents[1] / "pricecards"]
    for folder in candidates:
        if folder.is_dir():
            found = sorted(folder.glob("*.toml"))
            if found:
                return found
    raise PriceCardError("the bundled price cards are missing from this installation",
                         file=str(candidates[0]))


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise PriceCardError("directory has no *.toml price cards", file=str(path))
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise PriceCardError("no such price card file or directory", file=str(path))
    return out


def load_registry(*paths: str | Path | CardFile, bundled: bool = True) -> Registry:
    """Load the bundled price cards, then each of ``paths`` as a later layer.

    A path may be a card file or a directory of ``*.toml`` cards (read in name
    order), or a card built in code (:func:`~attribution.price_card`), layered
    in the same place as a file would be. A later layer adds models, aliases (internal names, Azure
    deployment names) and negotiated discounts; it replaces a model defined
    earlier only where that model says ``override = true``.

    Raises:
        PriceCardError: a card is malformed, naming the file and key path.

    >>> reg = load_registry()
    >>> "openai" in reg.providers()
    True
    """
    own = [card for p in paths
           for card in ([p] if isinstance(p, CardFile) else [load_card(f) for f in _expand([p])])]
    registry = Registry([*(load_card(f) for f in (bundled_card_paths() if bundled else [])), *own])
    if own:
        # A user's card can layer a discount that pricing cannot apply exactly: refuse it now,
        # naming the card, rather than quarantining every call it matches.
        problems = registry.check(own)
        if problems:
            first = problems[0]
            first.others = tuple(problems[1:])
            raise first
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of bundled cards, loaded once per process on first use."""
    return load_registry()
