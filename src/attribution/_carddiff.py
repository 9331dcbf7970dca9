"""Cross-check the price cards against a peer library's price data.

``diff_cards(registry, "genai-prices")`` (or ``"litellm"``) pairs every model
of the loaded cards with the peer's entry for it, compares the unit price of
every meter both price (and the long-context tiers), and returns one
:class:`CardDiff` row per price that differs, side by side. ``missing_models``
lists what the peer prices that the cards do not know, for the providers that
matter most.

The peer is read from its *installed* data, never from the network:

* **genai-prices**: ``genai_prices.data.providers`` (the bundled snapshot).
  Models are paired with the peer's own matching rules
  (``Provider.find_model``), tried with the card's canonical id first and then
  each alias.
* **litellm**: ``model_prices_and_context_window_backup.json`` inside the
  installed package, read as a file (the package is not imported, so it cannot
  fetch its remote price map). Only when the file cannot be located is
  ``litellm`` imported, with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` set first.
  Keys are tried as the card's id and aliases, bare and with litellm's
  provider prefix (``gemini/``, ``azure/``, ``fireworks_ai/``...), and must
  belong to one of litellm's providers for that card.

Both peers are optional: a missing one raises :class:`PeerNotInstalled` (an
``AttributionError``) naming the package to install. Tests and other callers
can pass ``loader=`` to supply any :class:`Peer` (see :class:`StaticPeer`).

Prices are compared as exact ``Decimal`` per 1M tokens (per 1K calls for
``web_search``). litellm stores per-token floats; they are converted through
their shortest ``repr`` and rounded to nine decimals per million (the
precision a card can hold), so ``2.5e-06`` reads ``2.5``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from importlib import util as importlib_util
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Protocol

import attrs

from ._cards import per_unit
from ._money import to_decimal
from ._names import PEERS
from ._registry import ModelInfo, Registry, canonical_provider
from ._usage import BILLED_METERS
from .exceptions import AttributionError, PriceNotInForce

__all__ = [
    "PEERS",
    "CardDiff",
    "CrossCheck",
    "MissingModel",
    "Peer",
    "PeerModel",
    "PeerNotInstalled",
    "StaticPeer",
    "compare_cards",
    "diff_cards",
    "load_peer",
    "missing_models",
    "rows",
]

UTC = timezone.utc

#: Providers ``missing_models`` looks at by default: the most used ones.
DEFAULT_PROVIDERS = ("openai", "anthropic", "google", "vertex", "bedrock", "azure", "mistral", "xai", "deepseek")

_NINE = Decimal("1e-9")

_Prices = Mapping[str, Decimal]
_Context = tuple[tuple[int, _Prices], ...]


class PeerNotInstalled(AttributionError, LookupError):
    """The peer library to compare against is not installed in this environment."""

    def __init__(self, peer: str, package: str) -> None:
        self.peer = peer
        self.package = package
        super().__init__(f"cannot compare against {peer}: the {package!r} package is not installed "
                         f"(pip install {package})")


@attrs.frozen(kw_only=True)
class PeerModel:
    """One model as a peer prices it, at one instant, in card units.

    ``prices`` maps meter names (``input``, ``cached_input``... as on the cards)
    to the unit price per 1M tokens (per 1K calls for ``web_search``);
    ``context`` holds whole-request tiers as ``(above, prices)``, ascending,
    each listing only the meters whose price changes.

    What a card needs beyond the comparison (``attribution cards sync``):
    ``tiers`` the service tiers the peer prices (``batch``, ``flex``,
    ``priority``: ``(prices, context)`` each); ``since`` the day the peer says
    these prices took effect (``None`` when it states none); ``history`` the
    peer's dated price list, oldest first, as ``(start or None, prices,
    context)``; ``cites`` the page the peer names as its own source.
    """

    provider: str
    id: str
    prices: _Prices
    context: _Context = ()
    deprecated: bool = False
    note: str | None = None
    tiers: Mapping[str, tuple[_Prices, _Context]] = attrs.field(factory=dict)
    since: date | None = None
    history: tuple[tuple[date | None, _Prices, _Context], ...] = ()
    cites: str | None = None


class Peer(Protocol):
    """What ``diff_cards`` needs from a peer: find a model, list a provider's models."""

    name: str
    version: str

    def find(self, provider: str, name: str) -> PeerModel | None:
        """The peer's entry for ``name`` (a card id or alias) of card provider ``provider``."""

    def models(self, provider: str) -> Iterable[PeerModel]:
        """Every model the peer prices for card provider ``provider``."""


@attrs.frozen(kw_only=True)
class CardDiff:
    """One meter of one model whose price differs between the cards and a peer.

    ``ours`` or ``theirs`` is ``None`` only in one-sided rows (a meter one side
    prices and the other does not), which ``diff_cards`` returns when asked
    with ``one_sided=True``. ``context_above`` is set for rows that compare a
    long-context tier (prompt above that many tokens).
    """

    peer: str
    provider: str
    model: str
    peer_model: str
    meter: str
    ours: Decimal | None
    theirs: Decimal | None
    per: str
    context_above: int | None = None
    source: str | None = None
    note: str | None = None
    ours_from: datetime | None = None       # the card period compared: in force from ...
    ours_until: datetime | None = None      # ... until (None: still in force)
    theirs_since: date | None = None        # the day the peer says its price took effect, if it says

    @property
    def kind(self) -> str:
        """``differs``, ``peer_only`` (we do not price the meter) or ``ours_only``."""
        if self.ours is None:
            return "peer_only"
        if self.theirs is None:
            return "ours_only"
        return "differs"

    @property
    def ratio(self) -> Decimal | None:
        """``theirs / ours`` (``None`` when either side is missing or ours is zero)."""
        if self.ours is None or self.theirs is None or not self.ours:
            return None
        return self.theirs / self.ours


@attrs.frozen(kw_only=True)
class MissingModel:
    """A model a peer prices that no loaded card knows."""

    peer: str
    provider: str
    peer_model: str
    prices: _Prices
    deprecated: bool = False
    note: str | None = None
    model: PeerModel | None = None   # the peer's whole entry: tiers, dates, history


@attrs.frozen(kw_only=True)
class CrossCheck:
    """The full result of a comparison: which models were paired, and the differences."""

    peer: str
    peer_version: str
    at: datetime
    compared: tuple[tuple[str, str, str], ...]   # (provider, card model id, peer model id)
    unmatched: tuple[tuple[str, str], ...]       # (provider, card model id) the peer does not know
    diffs: tuple[CardDiff, ...]

    @property
    def models_with_differences(self) -> int:
        return len({(d.provider, d.model) for d in self.diffs})


# --- the comparison ------------------------------------------------------------------

Loader = Callable[[str, datetime], Peer]


def load_peer(against: str, at: datetime | None = None) -> Peer:
    """Load an installed peer's price data: ``"genai-prices"`` or ``"litellm"``.

    ``at`` is the instant whose prices a peer with price history reports
    (genai-prices); litellm has no history.

    Raises:
        PeerNotInstalled: the package is not installed.
        AttributionError: ``against`` is not a known peer.
    """
    name = against.strip().lower().replace("_", "-")
    if name in ("genai-prices", "genai"):
        return _GenaiPeer.load(at or datetime(2000, 1, 1, tzinfo=UTC))
    if name == "litellm":
        return _LitellmPeer.load()
    raise AttributionError(f"unknown peer {against!r}; choose one of: {', '.join(PEERS)}")


def _clean(value: Decimal) -> Decimal:
    """Normalized, without an exponent: ``Decimal('10')``, never ``Decimal('1E+1')``."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def _default_at(registry: Registry) -> datetime:
    """The newest ``read_on`` of the loaded cards: a fixed instant, no clock read."""
    days = [c.card.read_on for c in registry.cards if c.card.read_on is not None]
    day = max(days) if days else date(2000, 1, 1)
    return datetime.combine(day, time(0), tzinfo=UTC)


def _our_prices(registry: Registry, info: ModelInfo, at: datetime) -> tuple[_Prices, _Context, Any]:
    newest = registry.resolve(info.provider, info.id, None)
    try:
        rate = registry.resolve(info.provider, info.id, at)
    except PriceNotInForce:
        rate = newest
    if rate.effective_from == newest.effective_from:
        # The period's own prices, not a time-of-day window's: the peak or standard rate, as the
        # peers are compared (a window depends on the hour of ``at``, which is not a price change).
        rate = newest
    base = {m: _clean(v) for m, v in rate.unit_prices().items()}
    context = tuple(
        (above, {m: _clean(to_decimal(p * per_unit(m)))
                 for m, p in zip(BILLED_METERS, vector, strict=True) if p >= 0})
        for above, vector in rate.context)
    return base, context, rate


def _effective(base: _Prices, context: _Context, prompt: int) -> dict[str, Decimal]:
    """Prices that apply to a request whose prompt is ``prompt`` tokens."""
    out = dict(base)
    for above, prices in context:
        if prompt > above:
            out.update(prices)
    return out


def _pair(peer: Peer, info: ModelInfo) -> PeerModel | None:
    for name in (info.id, *info.aliases):
        found = peer.find(info.provider, name)
        if found is not None:
            return found
    return None


def compare_cards(registry: Registry, against: str, *, at: datetime | date | None = None,
                  providers: Sequence[str] | None = None, one_sided: bool = False,
                  loader: Loader | None = None) -> CrossCheck:
    """Pair every card model with the peer's entry and compare their prices.

    ``at`` picks the prices in force (ours and the peer's, where it keeps
    history); by default the newest ``read_on`` of the loaded cards.
    ``providers`` limits the comparison to some card providers.
    """
    when = _at(at) if at is not None else _default_at(registry)
    peer = (loader or load_peer)(against, when)
    wanted = {canonical_provider(p) for p in providers} if providers else None
    compared: list[tuple[str, str, str]] = []
    unmatched: list[tuple[str, str]] = []
    diffs: list[CardDiff] = []
    for info in registry.models():
        if wanted is not None and info.provider not in wanted:
            continue
        theirs = _pair(peer, info)
        if theirs is None:
            unmatched.append((info.provider, info.id))
            continue
        compared.append((info.provider, info.id, theirs.id))
        base, context, rate = _our_prices(registry, info, when)
        thresholds = sorted({0, *(a for a, _ in context), *(a for a, _ in theirs.context)})
        for threshold in thresholds:
            ours_at = _effective(base, context, threshold + 1 if threshold else 0)
            theirs_at = _effective(theirs.prices, theirs.context, threshold + 1 if threshold else 0)
            for meter in BILLED_METERS:
                a, b = ours_at.get(meter), theirs_at.get(meter)
                if a is None and b is None:
                    continue
                if a is not None and b is not None and a == b:
                    continue
                if (a is None or b is None) and not one_sided:
                    continue
                if threshold and a is not None and b is not None and a == base.get(meter) \
                        and b == theirs.prices.get(meter):
                    continue  # the base-price row already shows this difference
                diffs.append(CardDiff(
                    peer=peer.name, provider=info.provider, model=info.id, peer_model=theirs.id, meter=meter,
                    ours=a, theirs=b, per="1K calls" if per_unit(meter) == 1_000 else "1M tokens",
                    context_above=threshold or None, source=rate.source, note=theirs.note,
                    ours_from=rate.effective_from, ours_until=rate.effective_until, theirs_since=theirs.since))
    return CrossCheck(peer=peer.name, peer_version=peer.version, at=when, compared=tuple(compared),
                      unmatched=tuple(unmatched), diffs=tuple(diffs))


def diff_cards(registry: Registry, against: str, *, at: datetime | date | None = None,
               providers: Sequence[str] | None = None, one_sided: bool = False,
               loader: Loader | None = None) -> list[CardDiff]:
    """Every price that differs between the loaded cards and a peer, side by side.

    ``against`` is ``"genai-prices"`` or ``"litellm"``, read from the installed
    package (no network). Only meters both sides price are compared unless
    ``one_sided=True``, which adds rows for meters only one side prices.

    Raises:
        PeerNotInstalled: the peer package is not installed.

    >>> reg = __import__("attribution").load_registry()
    >>> peer = StaticPeer("fake", {"openai": {"gpt-4o": {"input": Decimal("2.50"), "output": Decimal("12")}}})
    >>> [(d.model, d.meter, d.ours, d.theirs) for d in diff_cards(reg, "fake", loader=lambda name, at: peer)]
    [('gpt-4o', 'output', Decimal('10'), Decimal('12'))]
    """
    return list(compare_cards(registry, against, at=at, providers=providers, one_sided=one_sided,
                              loader=loader).diffs)


def missing_models(registry: Registry, against: str, *, providers: Sequence[str] = DEFAULT_PROVIDERS,
                   at: datetime | date | None = None, loader: Loader | None = None) -> list[MissingModel]:
    """Models the peer prices, for ``providers``, that no loaded card knows.

    A peer model counts as known when one of its names resolves on the cards
    (card ids, aliases, provider prefixes), when the peer pairs it with a
    card model, or when a card leaves it out on purpose (``[[excluded]]``,
    with its reason).
    """
    when = _at(at) if at is not None else _default_at(registry)
    peer = (loader or load_peer)(against, when)
    out: list[MissingModel] = []
    for prov in dict.fromkeys(canonical_provider(p) for p in providers):
        excluded = {name.lower() for _, e in registry.excluded(prov) for name in (e.id, *e.aliases)}
        paired = set()
        for info in registry.models(prov) if prov in registry.providers() else []:
            found = _pair(peer, info)
            if found is not None:
                paired.add(found.id)
        for model in peer.models(prov):
            if model.id in paired or _known(registry, prov, model.id) or model.id.lower() in excluded:
                continue
            out.append(MissingModel(peer=peer.name, provider=prov, peer_model=model.id, prices=model.prices,
                                    deprecated=model.deprecated, note=model.note, model=model))
    return sorted(out, key=lambda m: (m.provider, m.peer_model))


def _known(registry: Registry, provider: str, name: str) -> bool:
    try:
        registry.canonical_model(provider, name)
    except AttributionError:
        return False
    return True


def _at(at: datetime | date) -> datetime:
    if isinstance(at, datetime):
        if at.utcoffset() is None:
            raise AttributionError(f"at={at.isoformat()} has no timezone; pass an aware datetime")
        return at
    return datetime.combine(at, time(0), tzinfo=UTC)


# --- a peer from a plain table (tests, hand-made comparisons) ---------------------------


class StaticPeer:
    """A peer from a plain mapping: ``{provider: {model id: {meter: price}}}``.

    Names match case-insensitively. A model's table may also hold
    ``"context"`` (a list of ``(above, {meter: price})``), ``"tiers"``
    (``{"batch": {meter: price, "context": [...]}}``), ``"since"`` (an ISO
    date), ``"deprecated"`` and ``"cites"`` (the peer's own source URL).

    >>> peer = StaticPeer("fake", {"openai": {"GPT-4o": {"input": Decimal("2.5")}}})
    >>> peer.find("openai", "gpt-4o").prices
    {'input': Decimal('2.5')}
    """

    def __init__(self, name: str, table: Mapping[str, Mapping[str, Mapping[str, Any]]], version: str = "static"):
        self.name = name
        self.version = version
        self._models: dict[str, dict[str, PeerModel]] = {}
        def split(prices: Mapping[str, Any]) -> tuple[dict[str, Decimal], _Context]:
            context = tuple((int(a), {m: _clean(Decimal(v)) for m, v in p.items()})
                            for a, p in prices.get("context", ()))
            return {m: _clean(Decimal(v)) for m, v in prices.items() if m not in _STATIC_KEYS}, context

        for provider, models in table.items():
            prov = canonical_provider(provider)
            for model_id, prices in models.items():
                flat, context = split(prices)
                since = prices.get("since")
                self._models.setdefault(prov, {})[model_id.lower()] = PeerModel(
                    provider=prov, id=model_id, prices=flat, context=context,
                    tiers={name: split(t) for name, t in prices.get("tiers", {}).items()},
                    since=date.fromisoformat(since) if since else None,
                    deprecated=bool(prices.get("deprecated", False)), cites=prices.get("cites"))

    def find(self, provider: str, name: str) -> PeerModel | None:
        return self._models.get(canonical_provider(provider), {}).get(name.lower())

    def models(self, provider: str) -> Iterable[PeerModel]:
        return list(self._models.get(canonical_provider(provider), {}).values())


#: Keys of a StaticPeer model table that are not meter prices.
_STATIC_KEYS = frozenset({"context", "tiers", "since", "deprecated", "cites"})


# --- genai-prices ----------------------------------------------------------------------

#: Card provider -> genai-prices provider id.
_GENAI_PROVIDERS = {"bedrock": "aws", "vertex": "google", "xai": "x-ai"}

#: genai-prices price keys -> card meters (first key present wins).
_GENAI_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input", ("input_mtok", "input_text_mtok")),
    ("cached_input", ("cache_read_mtok", "cache_text_read_mtok")),
    ("cache_write", ("cache_write_mtok", "cache_write_5m_mtok", "cache_text_write_mtok")),
    ("cache_write_1h", ("cache_write_1h_mtok", "cache_text_write_1h_mtok")),
    ("output", ("output_mtok", "output_text_mtok")),
    ("input_audio", ("input_audio_mtok",)),
    ("output_audio", ("output_audio_mtok",)),
    ("input_image", ("input_image_mtok",)),
    ("output_image", ("output_image_mtok",)),
    ("web_search", ("web_searches_kcount",)),
)


class _GenaiPeer:
    name = "genai-prices"

    def __init__(self, providers: Sequence[Any], version: str, at: datetime) -> None:
        self.version = version
        self._providers = {p.id: p for p in providers}
        self._all = list(providers)
        self.at = at

    @classmethod
    def load(cls, at: datetime) -> _GenaiPeer:
        try:
            from genai_prices import data  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise PeerNotInstalled("genai-prices", "genai-prices") from None
        try:
            version = package_version("genai-prices")
        except PackageNotFoundError:  # pragma: no cover - imported but without metadata
            version = "unknown"
        return cls(data.providers, version, at)

    def _provider(self, provider: str) -> Any:
        prov = canonical_provider(provider)
        return self._providers.get(_GENAI_PROVIDERS.get(prov, prov))

    def find(self, provider: str, name: str) -> PeerModel | None:
        p = self._provider(provider)
        if p is None:
            return None
        model = p.find_model(name, all_providers=self._all)
        return None if model is None else self._convert(canonical_provider(provider), model)

    def models(self, provider: str) -> Iterable[PeerModel]:
        p = self._provider(provider)
        return [] if p is None else [self._convert(canonical_provider(provider), m) for m in p.models]

    def _convert(self, provider: str, model: Any) -> PeerModel:
        prices, timed = _genai_model_prices(model, self.at)
        base, context = _genai_prices(prices)
        notes = []
        if timed:
            notes.append("peer prices vary by time of day; compared at its highest (standard) rate")
        if getattr(model, "price_comments", None):
            notes.append(str(model.price_comments))
        history: list[tuple[date | None, _Prices, _Context]] = []
        since = None
        if isinstance(model.prices, list) and not timed:
            for cp in model.prices:
                start = getattr(cp.constraint, "start_date", None)
                history.append((start, *_genai_prices(cp.prices)))
                if start is not None and start <= self.at.date():
                    since = start
        return PeerModel(provider=provider, id=str(model.id), prices=base, context=context,
                         deprecated=bool(model.deprecated), note=" | ".join(notes) or None,
                         tiers=_genai_variants(model, self.at), since=since, history=tuple(history))


def _genai_prices(prices: Any) -> tuple[dict[str, Decimal], _Context]:
    """A genai-prices ``ModelPrice`` as card meters: base prices and whole-request tiers."""
    base: dict[str, Decimal] = {}
    tiers: dict[int, dict[str, Decimal]] = {}
    for meter, keys in _GENAI_KEYS:
        for key in keys:
            value = getattr(prices, key, None)
            if value is None:
                continue
            if hasattr(value, "tiers"):
                base[meter] = _clean(Decimal(value.base))
                for tier in value.tiers:
                    tiers.setdefault(int(tier.start), {})[meter] = _clean(Decimal(tier.price))
            else:
                base[meter] = _clean(Decimal(value))
            break
    return base, tuple(sorted(tiers.items()))


def _genai_variants(model: Any, at: datetime) -> dict[str, tuple[_Prices, _Context]]:
    """Service tiers from genai-prices' price variants (batch processing, flex / priority tiers) in force at ``at``."""
    found: dict[str, tuple[date, tuple[_Prices, _Context]]] = {}
    for variant in getattr(model, "price_variants", None) or ():
        when = dict(getattr(variant, "when", None) or {})
        if when == {"processing": "batch"}:
            name = "batch"
        elif set(when) == {"service_tier"} and when["service_tier"] not in ("default", "standard", "auto"):
            name = str(when["service_tier"])
        else:
            continue
        start = getattr(getattr(variant, "constraint", None), "start_date", None) or date.min
        if start > at.date() or (name in found and found[name][0] > start):
            continue
        base, context = _genai_prices(variant.prices)
        if base:
            found[name] = (start, (base, context))
    return {name: value for name, (_, value) in sorted(found.items())}


def _genai_model_prices(model: Any, at: datetime) -> tuple[Any, bool]:
    """The model's standard prices at ``at``; for time-of-day prices, the highest of the day."""
    prices = model.prices
    if not isinstance(prices, list):
        return prices, False
    timed = any(type(cp.constraint).__name__ == "TimeOfDateConstraint" for cp in prices)
    if not timed:
        return model.get_prices(at), False
    day = datetime.combine(at.date(), time(0), tzinfo=UTC)
    samples = [model.get_prices(day + timedelta(minutes=15 * i)) for i in range(96)]
    return _HighestOf(samples), True


class _HighestOf:
    """Attribute access returning the highest plain price among several price sets."""

    def __init__(self, samples: Sequence[Any]) -> None:
        self._samples = samples

    def __getattr__(self, key: str) -> Any:
        values = [getattr(s, key, None) for s in self._samples]
        plain = [v for v in values if v is not None and not hasattr(v, "tiers")]
        if plain:
            return max(Decimal(v) for v in plain)
        return next((v for v in values if v is not None), None)


# --- litellm -------------------------------------------------------------------------------

#: Card provider -> (litellm providers, key prefixes).
_LITELLM_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openai": (("openai", "text-completion-openai"), ("openai/",)),
    "anthropic": (("anthropic",), ("anthropic/",)),
    "bedrock": (("bedrock", "bedrock_converse"), ("bedrock/", "bedrock/converse/")),
    "google": (("gemini",), ("gemini/",)),
    "vertex": (("vertex_ai-language-models", "vertex_ai", "vertex_ai-embedding-models", "vertex_ai-text-models",
                "vertex_ai-chat-models"), ("vertex_ai/",)),
    "azure": (("azure",), ("azure/", "azure/global/", "azure/eu/", "azure/us/")),
    "mistral": (("mistral",), ("mistral/",)),
    "cohere": (("cohere", "cohere_chat"), ("cohere/", "cohere_chat/")),
    "deepseek": (("deepseek",), ("deepseek/",)),
    "xai": (("xai",), ("xai/",)),
    "groq": (("groq",), ("groq/",)),
    "together": (("together_ai",), ("together_ai/",)),
    "fireworks": (("fireworks_ai",), ("fireworks_ai/", "fireworks_ai/accounts/fireworks/models/")),
}

_LITELLM_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input", ("input_cost_per_token",)),
    ("cached_input", ("cache_read_input_token_cost", "input_cost_per_token_cache_hit")),
    ("cache_write", ("cache_creation_input_token_cost",)),
    ("cache_write_1h", ("cache_creation_input_token_cost_above_1hr",)),
    ("output", ("output_cost_per_token",)),
    ("input_audio", ("input_cost_per_audio_token",)),
    ("output_audio", ("output_cost_per_audio_token",)),
    ("input_image", ("input_cost_per_image_token",)),
    ("output_image", ("output_cost_per_image_token",)),
)
_LITELLM_TIER = re.compile(r"^(?P<key>.+)_above_(?P<n>\d+)k_tokens$")
_MODES = frozenset({"chat", "completion", "embedding", "responses", "realtime", None})


def _per_million(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return _clean((Decimal(repr(value)) * 1_000_000).quantize(_NINE))


class _LitellmPeer:
    name = "litellm"

    def __init__(self, table: Mapping[str, Any], version: str) -> None:
        self.version = version
        self._table = {k.lower(): (k, v) for k, v in table.items() if isinstance(v, dict) and k != "sample_spec"}

    @classmethod
    def load(cls) -> _LitellmPeer:
        try:
            spec = importlib_util.find_spec("litellm")
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise PeerNotInstalled("litellm", "litellm")
        try:
            version = package_version("litellm")
        except PackageNotFoundError:  # pragma: no cover
            version = "unknown"
        for folder in spec.submodule_search_locations or ():
            path = Path(folder) / "model_prices_and_context_window_backup.json"
            if path.is_file():
                return cls(json.loads(path.read_text(encoding="utf-8")), version)
        # Fall back to the package itself, told not to fetch the remote map.
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import litellm  # type: ignore[import-not-found,unused-ignore]  # pragma: no cover - only when the JSON file is not where it always was

        return cls(dict(litellm.model_cost), version)  # pragma: no cover

    def _entries(self, provider: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return _LITELLM_PROVIDERS.get(canonical_provider(provider), ((canonical_provider(provider),), ()))

    def find(self, provider: str, name: str) -> PeerModel | None:
        owners, prefixes = self._entries(provider)
        low = name.lower()
        for key in (low, *(p + low for p in prefixes)):
            hit = self._table.get(key)
            if hit is not None and hit[1].get("litellm_provider") in owners and hit[1].get("mode") in _MODES:
                return self._convert(canonical_provider(provider), *hit)
        return None

    def models(self, provider: str) -> Iterable[PeerModel]:
        owners, _ = self._entries(provider)
        return [self._convert(canonical_provider(provider), key, entry) for key, entry in self._table.values()
                if entry.get("litellm_provider") in owners and entry.get("mode") in _MODES]

    def _convert(self, provider: str, key: str, entry: Mapping[str, Any]) -> PeerModel:
        base, context = _litellm_prices(entry, "")
        search = entry.get("search_context_cost_per_query")
        if isinstance(search, Mapping):
            search = search.get("search_context_size_medium", search.get("search_context_size_low"))
        per_query = _per_million(search)
        if per_query is not None:
            base["web_search"] = _clean(per_query / 1000)   # per call -> per 1K calls
        tiers = {name: found for name, suffix in _LITELLM_TIERS
                 if (found := _litellm_prices(entry, suffix))[0]}
        cites = entry.get("source")
        return PeerModel(provider=provider, id=key, prices=base, context=context, deprecated=False, note=None,
                         tiers=tiers, cites=cites if isinstance(cites, str) else None)


#: litellm key suffixes of service tiers -> card tier names.
_LITELLM_TIERS = (("batch", "_batches"), ("flex", "_flex"), ("priority", "_priority"))


def _litellm_prices(entry: Mapping[str, Any], suffix: str) -> tuple[dict[str, Decimal], _Context]:
    """Base prices and whole-request tiers of one litellm entry, for the keys ending in ``suffix``."""
    base: dict[str, Decimal] = {}
    for meter, keys in _LITELLM_KEYS:
        for k in keys:
            value = _per_million(entry.get(k + suffix))
            if value is not None:
                base[meter] = value
                break
    tiers: dict[int, dict[str, Decimal]] = {}
    for k, v in entry.items():
        if suffix and not k.endswith(suffix):
            continue
        m = _LITELLM_TIER.match(k[: len(k) - len(suffix)] if suffix else k)
        if not m:
            continue
        tier_meter = next((name for name, keys in _LITELLM_KEYS if m.group("key") in keys), None)
        value = _per_million(v)
        if tier_meter is not None and value is not None:
            tiers.setdefault(int(m.group("n")) * 1000, {})[tier_meter] = value
    return base, tuple(sorted(tiers.items()))


def rows(diffs: Iterable[CardDiff]) -> Iterator[list[str]]:
    """Table rows for a report: provider, model, peer model, meter, ours, theirs, per."""
    for d in diffs:
        meter = d.meter if d.context_above is None else f"{d.meter} (>{d.context_above:,})"
        yield [d.provider, d.model, d.peer_model, meter,
               "-" if d.ours is None else f"{d.ours:f}", "-" if d.theirs is None else f"{d.theirs:f}", d.per]
