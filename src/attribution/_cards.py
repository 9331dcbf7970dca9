"""Price cards: the TOML schema, a strict loader and the validator.

A price card is reviewed data: one TOML file per provider (bundled cards live
in ``pricecards/``; users add their own). This module turns a file into typed,
validated objects and nothing else; the registry (``_registry.py``) layers
cards and answers price look-ups. The format is documented in
``docs/price-cards.md``; the short version::

    [card]
    provider = "openai"
    version  = "openai-2026-11-23"
    currency = "USD"
    read_on  = 2026-11-23
    source   = "https://openai.com/api/pricing/"

    [[models]]
    id      = "gpt-4o"
    aliases = ["gpt-4o-2024-08-06"]

      [[models.prices]]          # effective-dated periods, oldest first
      from   = 2024-08-06        # inclusive; dates are UTC midnight
      input  = 2.50              # USD per 1M tokens
      cached_input = 1.25
      output = 10.00
      tiers.batch = { multiplier = 0.5 }

Numbers are parsed straight to ``Decimal`` (never through ``float``). Unknown
keys, negative prices, overlapping or unordered periods, unsourced periods and
duplicate ids are errors that name the file and the key path.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import _cardcache
from ._money import ISO_4217, PER_MILLION, PER_THOUSAND, unit_price
from ._usage import BILLED_METERS, CALL_METERS
from .exceptions import PriceCardError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "DAYS",
    "STANDARD_TIER",
    "AliasSpec",
    "Assumption",
    "CardFile",
    "CardMeta",
    "ContextTier",
    "DiscountSpec",
    "ExcludedModel",
    "ModelSpec",
    "PricePeriod",
    "RegionalPrices",
    "ServiceTier",
    "TimeWindow",
    "load_card",
    "parse_card",
    "parse_hours",
    "per_unit",
    "window_spans",
]

UTC = timezone.utc
STANDARD_TIER = "standard"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def per_unit(meter: str) -> int:
    """How many units a card price is quoted for: 1M tokens, or 1K calls."""
    return PER_THOUSAND if meter in CALL_METERS else PER_MILLION


# --- schema ----------------------------------------------------------------
# One optional field per billed meter; the field names *are* the meter names,
# so a misspelt meter is an "extra field" error with its path.


@attrs.frozen(kw_only=True)
class _Meters:
    input: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    output: Decimal | None = None
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    input_image: Decimal | None = None
    output_image: Decimal | None = None
    web_search: Decimal | None = None

    def meter_prices(self) -> dict[str, Decimal]:
        """The meters this table prices, in meter order."""
        return {m: v for m in BILLED_METERS if (v := getattr(self, m)) is not None}


@attrs.frozen(kw_only=True)
class ContextTier(_Meters):
    """Whole-request prices that apply when the prompt exceeds ``above`` tokens.

    A 200,001-token prompt with ``above = 200000`` pays the tier's prices on
    *all* of its tokens, input and output alike, not only on the excess. Meters
    the tier does not list keep the period's base price.
    """

    above: int


@attrs.frozen(kw_only=True)
class ServiceTier(_Meters):
    """Prices for a service tier (batch, priority, flex...).

    Either a ``multiplier`` of the standard prices (context tiers included), or
    explicit meter prices with optional ``context`` tiers of their own.
    """

    multiplier: Decimal | None = None
    context: tuple[ContextTier, ...] = ()


#: Day names a time window may list, Monday first (``datetime.weekday()`` order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")


def parse_hours(span: str) -> tuple[int, int]:
    """``"16:30-24:00"`` as ``(start, end)`` seconds of the UTC day; start inclusive, end exclusive.

    A span never wraps past midnight: write ``16:30-24:00`` and ``00:00-00:30``.

    >>> parse_hours("16:30-24:00")
    (59400, 86400)

    Raises:
        ValueError: not ``HH:MM-HH:MM``, end not after start, or past 24:00.
    """
    m = _HOURS.match(span)
    if m is None:
        raise ValueError(f"expected UTC hours like '16:30-24:00', got {span!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if h1 > 23 or end > 86400:
        raise ValueError(f"hours {span!r} are outside 00:00-24:00")
    if end <= start:
        raise ValueError(f"hours {span!r} end before they start; split a span that crosses midnight in two")
    return start, end


@attrs.frozen(kw_only=True)
class TimeWindow(_Meters):
    """Prices for requests made at certain UTC hours (DeepSeek's off-peak rates).

    A request whose timestamp falls in one of ``hours`` (``"16:30-24:00"``,
    start inclusive, end exclusive, UTC) on one of ``days`` (``mon`` ..
    ``sun`` of the UTC calendar; every day when empty) pays the window's
    prices: a ``multiplier`` of the period's prices (context tiers
    included), or explicit meter prices, meters not listed keeping the
    period's. A request at 16:29:59 UTC pays the period's prices; one at
    16:30:00 the window's.
    """

    name: str | None = None
    days: tuple[str, ...] = ()
    hours: tuple[str, ...]
    multiplier: Decimal | None = None
    note: str | None = None


@attrs.frozen(kw_only=True)
class RegionalPrices(_Meters):
    """Explicit standard prices in one region (Bedrock Nova in EU/APAC), not a multiplier of the base.

    Meters not listed keep the period's price. A service tier with a
    multiplier applies on top; a tier with its own prices has no price in
    this region unless ``tiers`` gives one.
    """

    tiers: Mapping[str, ServiceTier] = attrs.field(factory=dict)
    note: str | None = None


@attrs.frozen(kw_only=True)
class Assumption:
    """What the card assumes where the provider publishes no price (OpenAI batch cached input)."""

    meter: str
    tier: str = STANDARD_TIER
    assumed: str


@attrs.frozen(kw_only=True)
class PricePeriod(_Meters):
    """Prices in force from ``from_`` (inclusive) until ``until`` (exclusive).

    Provenance (see ``_provenance``): ``source`` is the provider page (or
    document) the numbers were read on and ``read_on`` the day; ``peers`` the
    peer data sets (``"genai-prices 0.2.3"``) they were taken from or checked
    against; ``verified`` the meters the page showed when it showed only some.
    A period that sets ``source`` or ``peers`` never inherits the card's.
    """

    from_: datetime
    until: datetime | None = None
    source: str | None = None
    read_on: date | None = None
    peers: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()
    note: str | None = None
    context: tuple[ContextTier, ...] = ()
    tiers: Mapping[str, ServiceTier] = attrs.field(factory=dict)
    regions: Mapping[str, Decimal] = attrs.field(factory=dict)
    regional: Mapping[str, RegionalPrices] = attrs.field(factory=dict)
    time_windows: tuple[TimeWindow, ...] = ()
    assumptions: tuple[Assumption, ...] = ()


@attrs.frozen(kw_only=True)
class ModelSpec:
    id: str
    name: str | None = None
    aliases: tuple[str, ...] = ()
    override: bool = False
    note: str | None = None
    prices: tuple[PricePeriod, ...]


@attrs.frozen(kw_only=True)
class AliasSpec:
    """An extra name for a model: internal aliases, Azure deployment names."""

    alias: str
    model: str
    override: bool = False
    note: str | None = None


@attrs.frozen(kw_only=True)
class DiscountSpec:
    """A negotiated multiplier on the list prices of matching models."""

    multiplier: Decimal
    models: tuple[str, ...] = ("*",)
    from_: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    note: str | None = None


@attrs.frozen(kw_only=True)
class ExcludedModel:
    """A model a peer prices that the card leaves out on purpose, and why."""

    id: str
    reason: str
    aliases: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class CardMeta:
    provider: str
    version: str
    currency: str = "USD"
    read_on: date | None = None
    source: str | None = None
    peers: tuple[str, ...] = ()
    description: str | None = None


@attrs.frozen(kw_only=True)
class CardFile:
    """One parsed and validated card file."""

    card: CardMeta
    models: tuple[ModelSpec, ...] = ()
    aliases: tuple[AliasSpec, ...] = ()
    discounts: tuple[DiscountSpec, ...] = ()
    excluded: tuple[ExcludedModel, ...] = ()
    path: str | None = None
    text: str | None = attrs.field(default=None, repr=False, eq=False)


# --- structuring -----------------------------------------------------------


class _Invalid(ValueError):
    """A value a structuring hook refused; its message (what was expected, what came) is shown as is."""


def _got(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _Invalid(f"expected a decimal number, got {_got(value)}")
    try:
        dec = Decimal(value)
    except ArithmeticError:
        raise _Invalid(f"expected a decimal number, got {_got(value)}") from None
    if not dec.is_finite():
        raise _Invalid(f"expected a finite decimal number, got {_got(value)}")
    return dec


_DATE_HINT = "a date like 2026-06-07"
_INSTANT_HINT = "a date like 2026-06-07 or an offset datetime like 2026-06-07T12:00:00Z"


def _structure_date(value: Any, _: type) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Invalid(f"expected {_DATE_HINT}, got {_got(value)}")


def _structure_instant(value: Any, _: type) -> datetime:
    """Dates mean UTC midnight; datetimes must carry an offset (``Z``)."""
    if isinstance(value, str):
        try:
            value = (datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value
                     else date.fromisoformat(value))
        except ValueError:
            raise _Invalid(f"expected {_INSTANT_HINT}, got {_got(value)}") from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise _Invalid(f"datetime {value.isoformat()} has no UTC offset; write a date or add Z")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise _Invalid(f"datetime {value.isoformat()} is out of range") from None
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise _Invalid(f"expected {_INSTANT_HINT}, got {_got(value)}")


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_got(value)}")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_got(value)}")
    return value


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected an integer, got {_got(value)}")
    return value


def _format_exception(exc: BaseException, type_: type | None) -> str:
    """cattrs' wording, except for a hook's own message, which names the value and what was expected."""
    import cattrs.v

    if isinstance(exc, _Invalid):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


@lru_cache(maxsize=1)
def _converter() -> cattrs.Converter:
    # cattrs is imported on first parse, not at import: a warm start reads
    # validated cards from the cache (``_cardcache``) and never needs it.
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(date, _structure_date)
    conv.register_structure_hook(datetime, _structure_instant)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    # TOML keys `from` and `until` are Python keywords / nicer names.
    for cls in (PricePeriod, DiscountSpec):
        conv.register_structure_hook(
            cls,
            make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, from_=override(rename="from")),
        )
    return conv



def _cattrs_path(message: str) -> tuple[str, str]:
    """Split cattrs' ``"reason @ $.models[0].prices"`` into (path, reason)."""
    reason, _, path = message.rpartition(" @ ")
    if not reason:
        return "", message
    path = path.removeprefix("$").removeprefix(".")
    return path, reason


def _line_of(text: str | None, needle: str) -> int | None:
    if not text:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


# --- validation ------------------------------------------------------------


def _check_prices(table: _Meters, where: str, err: _Errors) -> None:
    for meter, value in table.meter_prices().items():
        if value < 0:
            err.add(f"{where}.{meter}", f"negative price {value}")
            continue
        try:
            unit_price(value, per_unit(meter), what="price")
        except ValueError as exc:
            err.add(f"{where}.{meter}", str(exc))


def _check_context(tiers: tuple[ContextTier, ...], where: str, err: _Errors) -> None:
    previous = 0
    for i, tier in enumerate(tiers):
        path = f"{where}.context[{i}]"
        if tier.above <= previous:
            err.add(f"{path}.above", f"context thresholds must be positive and ascending, got {tier.above}")
        previous = max(previous, tier.above)
        _check_prices(tier, path, err)
        if not tier.meter_prices():
            err.add(path, "a context tier must list at least one price")


def _check_tier_table(name: str, tier: ServiceTier, tpath: str, err: _Errors, near: str | None) -> None:
    if not _NAME.match(name) or name == STANDARD_TIER:
        err.add(tpath, f"invalid service tier name {name!r} ('standard' is the base prices)", near=near)
    if tier.multiplier is not None:
        if tier.meter_prices() or tier.context:
            err.add(tpath, "a tier has either a multiplier or its own prices, not both", near=near)
        if tier.multiplier <= 0:
            err.add(f"{tpath}.multiplier", f"multiplier must be positive, got {tier.multiplier}", near=near)
    elif not tier.meter_prices():
        err.add(tpath, "a tier needs a multiplier or meter prices", near=near)
    _check_prices(tier, tpath, err)
    _check_context(tier.context, tpath, err)


def _check_regional(period: PricePeriod, ppath: str, err: _Errors, near: str | None) -> None:
    for region, table in period.regional.items():
        rpath = f"{ppath}.regional.{region}"
        if region != region.lower() or not region.strip() or region == "*":
            err.add(rpath, f"region names are lowercase and explicit (no '*'), got {region!r}", near=near)
        if region in period.regions:
            err.add(rpath, f"region {region!r} has both a multiplier (regions) and explicit prices (regional)",
                    near=near)
        if not table.meter_prices():
            err.add(rpath, "regional prices must list at least one meter price", near=near)
        if period.context:
            err.add(rpath, "explicit regional prices on a period with context tiers are not supported; "
                    "use a regions multiplier", near=near)
        _check_prices(table, rpath, err)
        for name, tier in table.tiers.items():
            _check_tier_table(name, tier, f"{rpath}.tiers.{name}", err, near)


def window_spans(window: TimeWindow) -> tuple[int, tuple[tuple[int, int], ...]]:
    """``(day mask, spans)`` of a validated window: bit ``weekday()`` set per day, spans in seconds.

    >>> window_spans(TimeWindow(days=("sat", "sun"), hours=("00:00-24:00",), multiplier=Decimal("0.5")))
    (96, ((0, 86400),))
    """
    mask = sum(1 << DAYS.index(d) for d in window.days) if window.days else 0x7F
    return mask, tuple(sorted(parse_hours(h) for h in window.hours))


def _check_windows(period: PricePeriod, ppath: str, err: _Errors, near: str | None) -> None:
    taken: list[tuple[int, int, int, int]] = []   # (mask, start, end, window index)
    for k, window in enumerate(period.time_windows):
        wpath = f"{ppath}.time_windows[{k}]"
        good = True
        for d in window.days:
            if d not in DAYS:
                err.add(f"{wpath}.days", f"unknown day {d!r}; one of {', '.join(DAYS)}", near=near)
                good = False
        if len(set(window.days)) != len(window.days):
            err.add(f"{wpath}.days", "a day is listed twice", near=near)
        if not window.hours:
            err.add(f"{wpath}.hours", "a time window needs at least one span of UTC hours", near=near)
            good = False
        for h in window.hours:
            try:
                parse_hours(h)
            except ValueError as exc:
                err.add(f"{wpath}.hours", str(exc), near=near)
                good = False
        if window.multiplier is not None:
            if window.meter_prices():
                err.add(wpath, "a time window has either a multiplier or its own prices, not both", near=near)
            if window.multiplier <= 0:
                err.add(f"{wpath}.multiplier", f"multiplier must be positive, got {window.multiplier}", near=near)
        elif not window.meter_prices():
            err.add(wpath, "a time window needs a multiplier or meter prices", near=near)
        elif period.context:
            err.add(wpath, "a period with context tiers takes time windows with a multiplier only", near=near)
        _check_prices(window, wpath, err)
        if not good:
            continue
        mask, spans = window_spans(window)
        for start, end in spans:
            for omask, ostart, oend, other in taken:
                if omask & mask and start < oend and ostart < end:
                    which = "another span of this window" if other == k else f"time_windows[{other}]"
                    err.add(f"{wpath}.hours", f"hours {start // 3600:02d}:{start % 3600 // 60:02d}-"
                            f"{end // 3600:02d}:{end % 3600 // 60:02d} overlap {which} on a common day", near=near)
            taken.append((mask, start, end, k))


class _Errors:
    def __init__(self, file: str | None, text: str | None) -> None:
        self.file = file
        self.text = text
        self.items: list[PriceCardError] = []

    def add(self, path: str, message: str, *, near: str | None = None) -> None:
        self.items.append(PriceCardError(message, file=self.file, path=path, line=_line_of(self.text, near or "")
                                         if near else None))

    def raise_first(self) -> None:
        if self.items:
            first = self.items[0]
            if len(self.items) > 1:
                first.others = tuple(self.items[1:])
            raise first


#: A peer data set: its package name and version, e.g. ``genai-prices 0.2.3``.
_PEER = re.compile(r"^[a-z0-9][a-z0-9_.-]* [0-9][0-9a-z.+!-]*$")


def _check_provenance(period: PricePeriod, where: str, near: str, err: _Errors) -> None:
    for i, peer in enumerate(period.peers):
        if not _PEER.match(peer):
            err.add(f"{where}.peers[{i}]", f"a peer is 'package version', like 'genai-prices 0.2.3', got {peer!r}",
                    near=near)
    if period.verified:
        if not (period.source and period.peers):
            err.add(f"{where}.verified", "'verified' lists the meters the period's own source showed; the rest "
                    "come from its peers, so it needs both 'source' and 'peers'", near=near)
        priced = period.meter_prices()
        for name in period.verified:
            if name not in priced:
                err.add(f"{where}.verified", f"{name!r} is not a meter this period prices", near=near)


def _validate(card: CardFile, err: _Errors) -> None:
    meta = card.card
    if not _NAME.match(meta.provider):
        err.add("card.provider", f"provider must be lowercase letters, digits, '-', '_' or '.', got {meta.provider!r}")
    if not meta.version.strip():
        err.add("card.version", "version must not be empty")
    if meta.currency not in ISO_4217:
        err.add("card.currency", f"currency must be an active ISO 4217 code like USD, got {meta.currency!r}")
    seen: dict[str, str] = {}
    for i, model in enumerate(card.models):
        mpath = f"models[{i}]"
        near = f'"{model.id}"'
        for name in (model.id, *model.aliases):
            key = name.strip().lower()
            if not key or key != name.strip().lower() or name != name.strip():
                err.add(f"{mpath}.id", f"model id or alias must be a non-empty string without surrounding space: {name!r}", near=near)
            if key in seen:
                err.add(f"{mpath}", f"duplicate id {name!r} (already used by model {seen[key]!r})", near=near)
            seen[key] = model.id
        if not model.prices:
            err.add(f"{mpath}.prices", f"model {model.id!r} has no price periods", near=near)
        prev: PricePeriod | None = None
        for j, period in enumerate(model.prices):
            ppath = f"{mpath}.prices[{j}]"
            if period.until is not None and period.until <= period.from_:
                err.add(f"{ppath}.until", f"until {period.until.date()} is not after from {period.from_.date()}", near=near)
            if prev is not None:
                if period.from_ <= prev.from_:
                    err.add(f"{ppath}.from", "price periods must be in ascending order of 'from'", near=near)
                elif prev.until is None or prev.until > period.from_:
                    err.add(f"{ppath}.from",
                            f"overlapping effective ranges: period from {period.from_.date()} starts before the "
                            f"previous one ends ({prev.until.date() if prev.until else 'open-ended'})", near=near)
            prev = period
            if not (period.source or period.peers or meta.source or meta.peers):
                err.add(f"{ppath}.source", "every price needs a source: a page (card.source or the period's "
                        "source) or peer data (peers)", near=near)
            if not (period.read_on or meta.read_on):
                err.add(f"{ppath}.read_on", "every price needs the date it was read (card.read_on or the period's)", near=near)
            _check_provenance(period, ppath, near, err)
            if not period.meter_prices():
                err.add(ppath, "a price period must list at least one meter price", near=near)
            _check_prices(period, ppath, err)
            _check_context(period.context, ppath, err)
            for name, tier in period.tiers.items():
                _check_tier_table(name, tier, f"{ppath}.tiers.{name}", err, near)
            for region, mult in period.regions.items():
                if mult <= 0:
                    err.add(f"{ppath}.regions.{region}", f"region multiplier must be positive, got {mult}", near=near)
            _check_regional(period, ppath, err, near)
            _check_windows(period, ppath, err, near)
            for k, assumption in enumerate(period.assumptions):
                apath = f"{ppath}.assumptions[{k}]"
                if assumption.meter not in BILLED_METERS:
                    err.add(f"{apath}.meter", f"unknown meter {assumption.meter!r}; one of {', '.join(BILLED_METERS)}",
                            near=near)
                if assumption.tier != STANDARD_TIER and assumption.tier not in period.tiers:
                    err.add(f"{apath}.tier", f"tier {assumption.tier!r} is not priced by this period "
                            f"(tiers: {', '.join([STANDARD_TIER, *sorted(period.tiers)])})", near=near)
                if not assumption.assumed.strip():
                    err.add(f"{apath}.assumed", "say what is assumed and why", near=near)
    for i, peer in enumerate(meta.peers):
        if not _PEER.match(peer):
            err.add(f"card.peers[{i}]", f"a peer is 'package version', like 'genai-prices 0.2.3', got {peer!r}")
    for i, excl in enumerate(card.excluded):
        epath = f"excluded[{i}]"
        for name in (excl.id, *excl.aliases):
            key = name.strip().lower()
            if not key or name != name.strip():
                err.add(f"{epath}.id", f"excluded id must be a non-empty string without surrounding space: {name!r}")
            elif key in seen:
                err.add(f"{epath}.id", f"{name!r} is excluded but also a model id or alias ({seen[key]!r}) "
                        "in this card", near=f'"{excl.id}"')
            seen[key] = f"excluded {excl.id}"
        if not excl.reason.strip():
            err.add(f"{epath}.reason", f"say why {excl.id!r} is left out", near=f'"{excl.id}"')
    for i, alias in enumerate(card.aliases):
        if not alias.alias.strip() or not alias.model.strip():
            err.add(f"aliases[{i}]", "alias and model must be non-empty")
        if alias.alias.lower() in seen:
            err.add(f"aliases[{i}].alias", f"alias {alias.alias!r} is already a model id or alias in this card")
    for i, disc in enumerate(card.discounts):
        dpath = f"discounts[{i}]"
        if disc.multiplier <= 0:
            err.add(f"{dpath}.multiplier", f"multiplier must be positive, got {disc.multiplier}")
        if disc.from_ and disc.until and disc.until <= disc.from_:
            err.add(f"{dpath}.until", "until must be after from")
        if not (disc.source or meta.source):
            err.add(f"{dpath}.source", "a discount needs a source (contract, order form) for the audit trail")


def parse_card(data: Mapping[str, Any], *, path: str | None = None, text: str | None = None) -> CardFile:
    """Structure and validate a card from already-parsed TOML data.

    Raises:
        PriceCardError: naming ``path`` and the key path of the first problem.
    """
    import cattrs

    try:
        card = _converter().structure(dict(data), CardFile)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, format_exception=_format_exception)
        key, reason = _cattrs_path(messages[0] if messages else str(exc))
        key = key.replace("from_", "from")
        extra = re.fullmatch(r"extra fields found \(([^,]+)\)", reason)
        if extra:  # name the unknown key itself: models[0].prices[0].inptu
            key = f"{key}.{extra.group(1)}" if key else extra.group(1)
            reason = f"unknown key {extra.group(1)!r}"
        raise PriceCardError(reason.replace("from_", "from"), file=path, path=key or None) from None
    card = attrs.evolve(card, path=path, text=text)
    err = _Errors(path, text)
    _validate(card, err)
    err.raise_first()
    return card


def load_card(path: str | Path, *, max_file_bytes: int | None = None) -> CardFile:
    """Read, parse and validate one card file.

    At most ``max_file_bytes`` are read (default
    :data:`~attribution.io.MAX_FILE_BYTES`, or the cap set with
    :func:`~attribution.io.limits`), so ``/dev/zero`` is an error, not a hang.

    >>> from attribution._registry import bundled_card_paths
    >>> load_card(bundled_card_paths()[0]).card.currency
    'USD'
    """
    from ._bounded import read_file_text

    p = Path(path)
    text = read_file_text(p, what="price card", max_file_bytes=max_file_bytes,
                          error=lambda message, line: PriceCardError(message, file=str(p), line=line))
    cached = _cardcache.get(text)
    if cached is not None:
        return attrs.evolve(cached, path=str(p), text=text)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise PriceCardError(f"invalid TOML: {exc}", file=str(p), line=int(found.group(1)) if found else None) from None
    except RecursionError:
        raise PriceCardError("invalid TOML: arrays or inline tables nested too deeply", file=str(p)) from None
    card = parse_card(data, path=str(p), text=text)
    _cardcache.put(text, attrs.evolve(card, path=None, text=None))
    return card
