"""Rollups: exact, mergeable group-by sums of priced records.

A rollup keeps, per key (a tuple of dimension values), the record and request
counts, the tokens per meter and the exact cost, as integers, plus counts of
quarantined inputs by reason. Memory is proportional to the number of keys,
not records, and two rollups over the same dimensions add exactly
(``r1 + r2``, ``sum(rollups)``), so chunks of a stream or partitions of a
cluster job can be rolled up apart and merged.

Dimensions are owner tags (``team``, ``feature``, ``tenant``... any tag name)
or these built-ins: ``provider``, ``model`` (as requested), ``model_billed``,
``priced_model`` (the card id that priced it), ``service_tier``, ``region``,
``outcome``, ``card_version``, ``schema``, ``role`` (``first``, ``retry`` or
``fallback``), and the UTC time buckets ``day``
(``2026-06-08``), ``week`` (ISO, ``2026-W24``) and ``month`` (``2026-06``).
A record without a value for a dimension gets ``None`` there, shown by name,
never merged into another owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timezone, tzinfo
from decimal import Decimal
from typing import Any

import attrs

from . import _notebook
from ._money import to_decimal
from ._records import PricedRecord, Quarantined
from ._tree import RequestTree, call_role
from ._usage import METERS, Usage
from .exceptions import CurrencyMismatch

__all__ = ["BUILTIN_DIMENSIONS", "Rollup", "RollupEntry", "rollup"]

Key = tuple[str | None, ...]
_Getter = Callable[[PricedRecord], str | None]

# Accumulator layout: records, requests, cost units, then one slot per meter.
_RECORDS, _REQUESTS, _UNITS, _FIRST_METER = 0, 1, 2, 3
_WIDTH = _FIRST_METER + len(METERS)


def _time_getter(fmt: str, tz: tzinfo | None) -> _Getter:
    zone = timezone.utc if tz is None else tz   # a record's own UTC offset never moves its bucket

    def get(p: PricedRecord) -> str | None:
        at = p.record.at
        if at is None:
            return None
        at = at.astimezone(zone)
        if fmt == "week":
            year, week, _ = at.isocalendar()
            return f"{year}-W{week:02d}"
        return at.strftime(fmt)
    return get


_BUILTINS: dict[str, _Getter] = {
    "provider": lambda p: p.record.provider,
    "model": lambda p: p.record.model,
    "model_billed": lambda p: p.record.billed_model,
    "priced_model": lambda p: p.rate.model,
    "service_tier": lambda p: p.rate.service_tier,
    "region": lambda p: p.record.region,
    "outcome": lambda p: p.record.outcome,
    "card_version": lambda p: p.rate.card_version,
    "schema": lambda p: p.record.schema,
    "role": call_role,
}
_TIME = {"day": "%Y-%m-%d", "week": "week", "month": "%Y-%m"}
#: Dimension names with a built-in meaning; any other name is a tag.
BUILTIN_DIMENSIONS = tuple(sorted((*_BUILTINS, *_TIME)))


def _getter(dim: str, tz: tzinfo | None) -> _Getter:
    if dim in _BUILTINS:
        return _BUILTINS[dim]
    if dim in _TIME:
        return _time_getter(_TIME[dim], tz)
    return lambda p: p.record.tags.get(dim)


@attrs.frozen(slots=True)
class RollupEntry:
    """Totals for one key of a rollup."""

    key: Key
    records: int
    requests: int
    cost: Decimal
    usage: Usage


class Rollup:
    """Exact group-by totals of priced records; immutable once built.

    >>> r = Rollup(("team",))
    >>> r.total, len(r)
    (Decimal('0.00'), 0)
    """

    __slots__ = ("_acc", "_currency", "_dims", "_quarantined")

    def __init__(self, dims: Iterable[str], *, currency: str | None = None,
                 _acc: dict[Key, list[int]] | None = None,
                 _quarantined: Mapping[str, int] | None = None) -> None:
        self._dims = tuple(dims)
        self._currency = currency
        self._acc: dict[Key, list[int]] = _acc if _acc is not None else {}
        self._quarantined: Counter[str] = Counter(_quarantined or {})

    # -- mapping-like face ---------------------------------------------------

    @property
    def dims(self) -> tuple[str, ...]:
        """The dimensions this rollup groups by, in key order."""
        return self._dims

    @property
    def currency(self) -> str | None:
        """Currency of every amount (``None`` while empty)."""
        return self._currency

    def _key(self, key: Key | str | None) -> Key:
        if not isinstance(key, tuple):
            if len(self._dims) != 1:
                raise KeyError(key)
            return (key,)
        return key

    def __getitem__(self, key: Key | str | None) -> RollupEntry:
        k = self._key(key)
        acc = self._acc[k]
        return self._entry(k, acc)

    @staticmethod
    def _entry(key: Key, acc: list[int]) -> RollupEntry:
        usage = Usage.total(dict(zip(METERS, acc[_FIRST_METER:], strict=True)))
        return RollupEntry(key, acc[_RECORDS], acc[_REQUESTS], to_decimal(acc[_UNITS]), usage)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return len(self._dims) == 1 and (key,) in self._acc
        return key in self._acc

    def __iter__(self) -> Iterator[Key]:
        return iter(self._acc)

    def __len__(self) -> int:
        return len(self._acc)

    def keys(self) -> list[Key]:
        return list(self._acc)

    def entries(self) -> list[RollupEntry]:
        """Every entry, most expensive first (ties by key), as reports want them."""
        items = sorted(self._acc.items(), key=lambda kv: (-kv[1][_UNITS], [str(x) for x in kv[0]]))
        return [self._entry(k, acc) for k, acc in items]

    @property
    def total(self) -> Decimal:
        """Exact sum of every priced record's cost."""
        return to_decimal(sum(acc[_UNITS] for acc in self._acc.values()))

    @property
    def records(self) -> int:
        """Priced records rolled up (aggregate buckets count once)."""
        return sum(acc[_RECORDS] for acc in self._acc.values())

    @property
    def requests(self) -> int:
        """Provider requests represented (aggregate buckets count their requests)."""
        return sum(acc[_REQUESTS] for acc in self._acc.values())

    @property
    def usage(self) -> Usage:
        """Total tokens per meter."""
        return Usage.total({m: sum(acc[_FIRST_METER + i] for acc in self._acc.values()) for i, m in enumerate(METERS)})

    @property
    def quarantined(self) -> Mapping[str, int]:
        """Quarantined inputs seen, counted by reason code."""
        return dict(self._quarantined)

    # -- merging ---------------------------------------------------------------

    def __add__(self, other: object) -> Rollup:
        if not isinstance(other, Rollup):
            return NotImplemented
        if other._dims != self._dims:
            raise ValueError(f"cannot merge rollups by {self._dims} and by {other._dims}")
        currency = _merge_currency(self._currency, other._currency)
        acc = {k: list(v) for k, v in self._acc.items()}
        _add_into(acc, other._acc)
        return Rollup(self._dims, currency=currency, _acc=acc, _quarantined=self._quarantined + other._quarantined)

    def __radd__(self, other: object) -> Rollup:
        if other == 0:  # sum(rollups)
            return self
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rollup):
            return NotImplemented
        return (self._dims == other._dims and self._acc == other._acc
                and self._quarantined == other._quarantined
                and (not self._acc or self._currency == other._currency))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Rollup(by={self._dims!r}, keys={len(self._acc)}, records={self.records}, "
                f"total={self.total} {self._currency or ''})").replace(" )", ")")

    def split(self) -> dict[str | None, Rollup]:
        """One rollup per value of the first dimension, over the remaining dimensions.

        A rollup by ``("week", "team")`` splits into one rollup by ``("team",)``
        per week; the parts add up to this rollup.
        """
        if not self._dims:
            raise ValueError("a rollup with no dimensions cannot be split")
        parts: dict[str | None, dict[Key, list[int]]] = {}
        for key, acc in self._acc.items():
            parts.setdefault(key[0], {})[key[1:]] = list(acc)
        return {value: Rollup(self._dims[1:], currency=self._currency, _acc=acc) for value, acc in parts.items()}

    def to_records(self) -> list[dict[str, Any]]:
        """Plain rows (one per key, most expensive first) for JSON, CSV or a DataFrame."""
        rows = []
        for e in self.entries():
            row: dict[str, Any] = dict(zip(self._dims, e.key, strict=True))
            row.update(records=e.records, requests=e.requests, cost=e.cost, currency=self._currency)
            row.update({f"tokens_{m}": n for m, n in e.usage.items()})
            rows.append(row)
        return rows

    # -- notebooks ---------------------------------------------------------------

    def _repr_html_(self) -> str:
        """Jupyter's view: the rows as an HTML table, every key value escaped."""
        return _notebook.html(_notebook.rollup_table(self))

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame``; ``cost`` holds exact ``Decimal`` objects (extra ``pandas``)."""
        return _notebook.to_pandas(_notebook.rollup_table(self), "Rollup.to_pandas()")

    def to_arrow(self) -> Any:
        """The rows as a ``pyarrow.Table``; ``cost`` is ``decimal128(38, 15)`` (extra ``arrow``)."""
        return _notebook.to_arrow(_notebook.rollup_table(self), "Rollup.to_arrow()")


def _merge_currency(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is not None and a != b:
        raise CurrencyMismatch(a, b, "a rollup")
    return a


def _add_into(acc: dict[Any, list[int]], other: Mapping[Any, list[int]]) -> None:
    for k, v in other.items():
        mine = acc.get(k)
        if mine is None:
            acc[k] = list(v)
        else:
            for i in range(_WIDTH):
                mine[i] += v[i]


def rollup(priced: Iterable[PricedRecord | Quarantined | RequestTree], by: Iterable[str] = (), *,
           tz: tzinfo | None = None) -> Rollup:
    """Group priced records by ``by`` and sum them exactly, in one pass.

    Items may be priced records, request trees (their calls, with inherited
    owners, are rolled up) and ``Quarantined`` items, which are counted by reason (``Rollup.quarantined``), so a
    stream straight from :func:`price_many` keeps its conservation:
    ``records in == r.records + sum(r.quarantined.values())``. Records that
    ``normalize_many`` marked as copies of a call counted already (flags
    ``duplicate_span``, ``rollup_span``: another span of the same provider
    call) are not summed again; they are counted under their flag in
    ``r.quarantined``. Time buckets use
    UTC unless ``tz`` is given.

    Raises:
        CurrencyMismatch: records priced in different currencies.

    >>> from attribution import price, Usage, UsageRecord
    >>> recs = [UsageRecord(provider="openai", model="gpt-4o", usage=Usage(input=1_000_000), tags={"team": t})
    ...         for t in ("search", "search", "support")]
    >>> r = rollup((price(x) for x in recs), by=("team",))
    >>> r[("search",)].cost, r["support"].requests, r.total
    (Decimal('5.00'), 1, Decimal('7.50'))
    """
    dims = tuple(by)
    getters = [_getter(d, tz) for d in dims]
    acc: dict[Any, list[int]] = {}
    quarantined: Counter[str] = Counter()
    currency: str | None = None
    single = getters[0] if len(getters) == 1 else None
    # One tag is the common case (by team, by tenant): read it without a getter call.
    tag = dims[0] if single is not None and dims[0] not in _BUILTINS and dims[0] not in _TIME else None
    last_rate = None
    for p in priced:
        if type(p) is not PricedRecord:
            if isinstance(p, RequestTree):
                # Its calls carry the owners inherited from the root: roll them up as one more stream.
                part = rollup(p.calls, dims, tz=tz)
                currency = _merge_currency(currency, part._currency)
                _add_into(acc, {k[0]: v for k, v in part._acc.items()} if single is not None else part._acc)
                quarantined.update(part._quarantined)
                continue
            if isinstance(p, Quarantined):
                quarantined[p.code] += 1
                continue
            if not isinstance(p, PricedRecord):
                raise TypeError(f"rollup() takes PricedRecord or Quarantined items, got {type(p).__name__}")
        rec, units, rate, flags = p
        if flags and ("duplicate_span" in flags or "rollup_span" in flags):
            # A copy of a call counted already (marked by normalize_many): counted by its flag, like a
            # quarantined item, so records in == records + quarantined still holds.
            quarantined["duplicate_span" if "duplicate_span" in flags else "rollup_span"] += 1
            continue
        if rate is not last_rate:   # records from one rate arrive in runs: check its currency once per run
            currency = _merge_currency(currency, rate.currency)
            last_rate = rate
        # One dimension: keyed by the bare value while summing (no tuple per record), wrapped at the end.
        if tag is not None:
            key: Any = rec.tags.get(tag)
        elif single is not None:
            key = single(p)
        else:
            key = tuple(g(p) for g in getters)
        a = acc.get(key)
        if a is None:
            a = acc[key] = [0] * _WIDTH
        u = rec.usage
        a[0] += 1
        a[1] += rec.requests
        a[2] += units
        a[3] += u.input
        a[4] += u.cached_input
        a[5] += u.cache_write
        a[7] += u.output
        a[13] += u.reasoning
        if u._rare:
            a[6] += u.cache_write_1h
            a[8] += u.input_audio
            a[9] += u.output_audio
            a[10] += u.input_image
            a[11] += u.output_image
            a[12] += u.web_search
    if single is not None:
        acc = {(k,): v for k, v in acc.items()}
    return Rollup(dims, currency=currency, _acc=acc, _quarantined=quarantined)
