"""Dask integration: price and roll up usage that does not fit on one machine.

The same pipeline as on one machine (normalize, price, rollup), run partition
by partition on a Dask cluster: every partition becomes one partial
:class:`~attribution.Rollup`, and the partials are merged with ``+`` in a tree
(``split_every`` at a time). A rollup holds integer money units and integer
token counts, so merging is exact: the cluster's result equals the
single-process ``rollup(price_many(normalize_many(...)))`` to the last unit,
whatever the partitioning, and quarantine counts add up the same way
(``records in == r.records + sum(r.quarantined.values())``).

Three entry points:

* :func:`read_jsonl_bag` reads JSONL files into a ``dask.bag`` of
  :class:`~attribution.normalize.Raw` / :class:`~attribution.Quarantined`
  items, parsing numbers to ``Decimal`` and keeping each record's file and
  line, exactly as :func:`attribution.io.read_jsonl` does;
* :func:`rollup_bag` normalizes, prices and rolls up a bag of payloads;
* :func:`rollup_dataframe` prices and rolls up a ``dask.dataframe`` of usage
  columns (integer token counts; float columns are refused).

Price cards travel with the task graph: the client loads and validates them
once, and every worker builds its registry from that same parsed data (once
per process), so workers need neither the card files nor the same
installation, and every partition is priced with the same cards.

Dask is an optional dependency (``pip install 'attribution[dask]'``),
imported only when one of these functions is called.
"""

from __future__ import annotations

import hashlib
import importlib
import numbers
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._cards import CardFile
from ._pricing import price_many
from ._records import Quarantined, SourceLocation, UsageRecord
from ._registry import Registry, canonical_provider, default_registry, load_registry
from ._rollup import BUILTIN_DIMENSIONS, Rollup, rollup
from ._usage import METERS, Usage
from .exceptions import (
    AttributionError,
    InvalidTimestamp,
    InvalidUsage,
    MissingDependency,
    NormalizeError,
)
from .io import _loads, read_jsonl
from .normalize import OWNER_DIMENSIONS, Raw, normalize_many
from .normalize._common import timestamp as _timestamp

if TYPE_CHECKING:
    import dask.bag
    import dask.dataframe
    from dask.delayed import Delayed

__all__ = ["read_jsonl_bag", "rollup_bag", "rollup_dataframe"]

#: Partial rollups merged per task in the reduction tree.
DEFAULT_SPLIT_EVERY = 8


def _module(feature: str, name: str) -> Any:
    """Import ``name`` (untyped here) or raise :class:`MissingDependency` naming the ``dask`` extra."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependency(feature, "dask", exc.name or name.partition(".")[0]) from None


def _delayed() -> Any:
    return importlib.import_module("dask").delayed


# -- price cards on the workers ------------------------------------------------


@attrs.frozen(slots=True)
class _Cards:
    """Parsed price cards as shipped to workers, with a fingerprint for the per-process cache.

    A :class:`Registry` itself is not shipped: once it has priced a record it
    holds compiled per-rate functions that do not pickle. Parsed cards are
    plain data, and rebuilding a registry from them is cheap.
    """

    fingerprint: str
    cards: tuple[CardFile, ...] = attrs.field(eq=False, repr=False)

    def __dask_tokenize__(self) -> str:
        return self.fingerprint


# One registry per card set and process, so each worker parses nothing and
# resolves each rate once however many partitions it runs. Bounded, so a
# long-lived worker serving many card sets does not grow without limit.
_REGISTRIES: dict[str, Registry] = {}
_REGISTRIES_LOCK = threading.Lock()
_REGISTRIES_MAX = 4


def _remember(fingerprint: str, registry: Registry) -> Registry:
    with _REGISTRIES_LOCK:
        known = _REGISTRIES.get(fingerprint)
        if known is not None:
            return known
        while len(_REGISTRIES) >= _REGISTRIES_MAX:
            _REGISTRIES.pop(next(iter(_REGISTRIES)))
        _REGISTRIES[fingerprint] = registry
        return registry


def _worker_registry(cards: _Cards) -> Registry:
    with _REGISTRIES_LOCK:
        known = _REGISTRIES.get(cards.fingerprint)
    if known is not None:
        return known
    return _remember(cards.fingerprint, Registry(cards.cards))


def _ship_cards(registry: Registry | None, registry_paths: Iterable[str | os.PathLike[str]]) -> _Cards:
    """Load and validate the cards on the client (errors surface here, with their file)."""
    paths = [os.fspath(p) for p in registry_paths]
    if registry is not None and paths:
        raise TypeError("pass registry= or registry_paths=, not both")
    if registry is None:
        registry = load_registry(*paths) if paths else default_registry()
    cards = registry.cards
    fingerprint = hashlib.sha256(pickle.dumps(cards, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()
    # A local scheduler (threads, synchronous) then prices with the caller's
    # own registry object, rates it already resolved included.
    _remember(fingerprint, registry)
    return _Cards(fingerprint, cards)


def _cards_node(cards: _Cards) -> Delayed:
    """The cards as one graph node: sent once per worker, not once per task."""
    node: Delayed = _delayed()(cards, name=f"attribution-cards-{cards.fingerprint[:16]}", pure=True, traverse=False)
    return node


# -- the reduction tree ------------------------------------------------------------


def _merge(dims: tuple[str, ...], *parts: Rollup | list[Rollup]) -> Rollup:
    """Exact sum of partial rollups (a bag partition arrives as a one-item list)."""
    total = Rollup(dims)
    for part in parts:
        for r in part if isinstance(part, list) else (part,):
            total = total + r
    return total


def _tree_sum(parts: list[Any], dims: tuple[str, ...], split_every: int) -> Rollup:
    if not parts:
        return Rollup(dims)
    merge = _delayed()(_merge, pure=True)
    level = parts  # Delayed objects (dask's own types are partial, hence Any)
    while True:
        level = [merge(dims, *level[i:i + split_every]) for i in range(0, len(level), split_every)]
        if len(level) == 1:
            result: Rollup = level[0].compute()
            return result


def _check_split_every(split_every: int) -> None:
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an integer of at least 2, got {split_every!r}")


# -- JSONL files as a bag ----------------------------------------------------------


@attrs.frozen(slots=True)
class _JsonlSlice:
    """A lazy partition: the records of one JSONL file, or of one byte range of it.

    Iterating reads the file (so a partition streams through normalize, price
    and rollup in bounded memory); pickling sends only the file name and range,
    which is all a worker needs to read it. ``end=None`` is the whole file,
    read by :func:`attribution.io.read_jsonl`. A byte range holds the lines
    that *start* inside it; ``newlines`` is the number of line breaks before
    ``start``, which gives the first line its number.
    """

    file: str
    start: int = 0
    end: int | None = None
    newlines: int = 0

    def __iter__(self) -> Iterator[Raw | Quarantined]:
        if self.end is None:
            return read_jsonl(self.file)
        return _read_range(self.file, self.start, self.end, self.newlines)


@attrs.frozen(slots=True)
class _Partition:
    """The slices of one bag partition, chained; iterable any number of times."""

    slices: tuple[_JsonlSlice, ...]

    def __iter__(self) -> Iterator[Raw | Quarantined]:
        for part in self.slices:
            yield from part


def _read_range(file: str, start: int, end: int, newlines: int) -> Iterator[Raw | Quarantined]:
    """The lines starting in ``[start, end)``, as ``read_jsonl`` would yield them.

    Lines are split at ``\\n`` (``\\r\\n`` is read as one break, as in text
    mode); blank lines are skipped but counted; a bad line is quarantined as
    ``bad_json`` with its number.
    """
    try:
        with open(file, "rb") as fh:
            number = newlines + 1
            if start > 0:
                fh.seek(start - 1)
                if fh.read(1) != b"\n":
                    fh.readline()      # the rest of a line that began in the previous range
                    number += 1
            pos = fh.tell()
            while pos < end:
                raw = fh.readline()
                if not raw:
                    break
                pos += len(raw)
                line = raw.decode("utf-8")
                if line.endswith("\r\n"):
                    line = line[:-2] + "\n"
                elif line.endswith("\r"):
                    line = line[:-1] + "\n"
                if line.strip():
                    where = SourceLocation(file=file, line=number)
                    try:
                        yield Raw(_loads(line), where)
                    except ValueError as exc:
                        yield Quarantined(code="bad_json", message=f"invalid JSON: {exc}", stage="read",
                                          source=where, raw=line.rstrip("\n")[:2000])
                number += 1
    except (OSError, UnicodeDecodeError) as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=file) from None


_COUNT_CHUNK = 8 << 20


def _count_newlines(file: str, start: int, end: int) -> int:
    """Line breaks in bytes ``[start, end)`` of ``file``, read in bounded chunks."""
    total = 0
    try:
        with open(file, "rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(left, _COUNT_CHUNK))
                if not chunk:
                    break
                total += chunk.count(b"\n")
                left -= len(chunk)
    except OSError as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=file) from None
    return total


def _line_offsets(*counts: int) -> tuple[int, ...]:
    """Running totals: line breaks before each range of a file."""
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return tuple(out)


def _open_slices(specs: Iterable[tuple[int, _JsonlSlice]], offsets: Mapping[int, int] | None) -> _Partition:
    slices = []
    for i, spec in specs:
        if offsets is not None and i in offsets:
            spec = attrs.evolve(spec, newlines=offsets[i])
        slices.append(spec)
    return _Partition(tuple(slices))


def _gather_offsets(plan: tuple[tuple[int, ...], ...], *offsets: tuple[int, ...]) -> dict[int, int]:
    """Map each range's slice index to its line-break count, from per-file running totals."""
    return {index: before for indices, running in zip(plan, offsets, strict=True)
            for index, before in zip(indices, running, strict=True)}


def _expand(paths_or_glob: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    import glob

    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        if any(c in text for c in "*?["):
            found = [f for f in sorted(glob.glob(text, recursive=True)) if os.path.isfile(f)]
            if not found:
                raise NormalizeError("no_files", f"no file matches {text!r}", file=text)
            files.extend(str(Path(f)) for f in found)
        elif os.path.isfile(text):
            files.append(str(Path(text)))
        else:
            raise NormalizeError("unreadable_file", "no such file", file=text)
    if not files:
        raise NormalizeError("no_files", "no JSONL files given")
    return files


def _blocksize(value: int | str) -> int:
    parse_bytes = importlib.import_module("dask.utils").parse_bytes
    size = parse_bytes(value) if isinstance(value, str) else value
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"blocksize must be a positive number of bytes (or text such as '64MiB'), got {value!r}")
    return size


def read_jsonl_bag(paths_or_glob: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                   blocksize: int | str | None = None) -> dask.bag.Bag:
    """JSONL files as a ``dask.bag`` of ``Raw`` payloads and ``Quarantined`` bad lines.

    Each item is what :func:`attribution.io.read_jsonl` yields for the same
    line: numbers parsed to ``Decimal`` (never ``float``), and the file and
    line number on every payload and every quarantined line. Files are listed
    on the client (a glob, a path, or a list of either) and read on the
    workers, so they must be reachable by the same path from both.

    Args:
        paths_or_glob: a file, a glob such as ``"logs/2026-06-*.jsonl"`` (``**``
            recurses), or a list of files and globs; files are taken in sorted
            order.
        blocksize: ``None`` makes one partition per file. A size in bytes (or
            text such as ``"64MiB"``) splits each uncompressed file into
            ranges of about that size, each its own partition; line numbers
            stay exact (the line breaks before each range are counted in a
            first, parallel pass). Gzipped files are never split. In split
            files lines break at ``\\n`` only (``\\r\\n`` is handled), where
            ``read_jsonl`` would also break at a lone ``\\r``.

    Partitions are read lazily: a partition that is rolled up streams from the
    file and is never held in memory whole.

    Raises:
        MissingDependency: Dask is not installed.
        NormalizeError: ``no_files`` (a glob matched nothing) or
            ``unreadable_file`` (a named file does not exist); on the workers,
            ``unreadable_file`` for a file that cannot be read or decoded.
    """
    db = _module("attribution.dask.read_jsonl_bag", "dask.bag")
    delayed = _delayed()
    files = _expand(paths_or_glob)
    size = None if blocksize is None else _blocksize(blocksize)
    slices: list[_JsonlSlice] = []
    ranges: list[tuple[tuple[int, ...], list[Delayed]]] = []   # per split file: slice indices, counts
    for file in files:
        length = os.path.getsize(file)
        if size is None or file.endswith(".gz") or length <= size:
            slices.append(_JsonlSlice(file))
            continue
        starts = list(range(0, length, size))
        first = len(slices)
        slices.extend(_JsonlSlice(file, s, min(s + size, length)) for s in starts)
        count = delayed(_count_newlines, pure=True)
        ranges.append((tuple(range(first, len(slices))),
                       [count(file, s, min(s + size, length)) for s in starts]))
    offsets: Delayed | None = None
    if ranges:
        running = [delayed(_line_offsets, pure=True)(*counts) for _, counts in ranges]
        offsets = delayed(_gather_offsets, pure=True)(tuple(indices for indices, _ in ranges), *running)
    specs = db.from_sequence(list(enumerate(slices)), partition_size=1)
    bag: dask.bag.Bag = specs.map_partitions(_open_slices, offsets, token="read-jsonl")
    return bag


# -- rolling up a bag of payloads -----------------------------------------------------


@attrs.frozen(slots=True)
class _BagPlan:
    dims: tuple[str, ...]
    tz: tzinfo | None
    hints: Mapping[str, Any]


def _rollup_payloads(items: Iterable[Any], cards: _Cards, plan: _BagPlan) -> list[Rollup]:
    registry = _worker_registry(cards)
    priced = price_many(normalize_many(items, **plan.hints), registry)
    return [rollup(priced, by=plan.dims, tz=plan.tz)]


def rollup_bag(bag: dask.bag.Bag, by: Iterable[str] = (), *, registry: Registry | None = None,
               registry_paths: Iterable[str | os.PathLike[str]] = (), tz: tzinfo | None = None,
               split_every: int = DEFAULT_SPLIT_EVERY, **normalize_hints: Any) -> Rollup:
    """Normalize, price and roll up a ``dask.bag`` of payloads, partition by partition.

    Items are what :func:`~attribution.normalize_many` takes: payload dicts,
    ``Raw`` payloads with their source, and ``Quarantined`` items from a
    reader (counted, not lost). Each partition becomes one partial rollup on
    a worker; the partials are merged exactly, ``split_every`` per task, and
    the result comes back to the caller. It equals
    ``rollup(price_many(normalize_many(items, **hints), registry), by)`` over
    the whole bag, unit for unit, quarantine counts included.

    Read JSONL with :func:`read_jsonl_bag` rather than
    ``dask.bag.read_text(...).map(json.loads)``: the latter parses numbers
    to ``float`` and loses each record's file and line.

    Args:
        by: dimensions, as for :func:`~attribution.rollup`.
        registry: the price cards to use (default: the bundled ones); its
            parsed cards are shipped to the workers with the task graph.
        registry_paths: or your own card files/directories, loaded on the
            client as layers over the bundled cards (``load_registry(*paths)``).
        tz: time zone of the ``day``/``week``/``month`` buckets (UTC by default).
        split_every: partial rollups merged per task in the reduction tree.
        normalize_hints: ``provider=``, ``tags=`` and the hints
            :func:`~attribution.normalize` takes (``model=``, ``at=``...).

    Raises:
        MissingDependency: Dask is not installed.
        PriceCardError: a card in ``registry_paths`` is invalid (raised on
            the client, before any work is sent).
        CurrencyMismatch: records priced in different currencies.
    """
    _module("attribution.dask.rollup_bag", "dask.bag")
    _check_split_every(split_every)
    list(normalize_many((), **normalize_hints))   # bad hints fail here, not on every worker
    cards = _ship_cards(registry, registry_paths)
    plan = _BagPlan(tuple(by), tz, dict(normalize_hints))
    source: Any = bag
    partials = source.map_partitions(_rollup_payloads, _cards_node(cards), plan, token="attribution-rollup")
    return _tree_sum(list(partials.to_delayed(optimize_graph=True)), plan.dims, split_every)


# -- rolling up a dataframe of usage columns ---------------------------------------

#: Record fields read as text from a column of the same name.
_TEXT_FIELDS = ("provider", "model", "model_billed", "request_id", "trace_id", "span_id", "parent_id",
                "retry_of", "fallback_from", "outcome", "service_tier", "region", "schema")
#: Record fields read as non-negative integers, besides the meters.
_COUNT_FIELDS = ("attempt", "requests")
_FIELDS = (*_TEXT_FIELDS, "at", *_COUNT_FIELDS, "long_context", *METERS)

# How a column's values are read, decided once from its dtype on the client.
_INT, _VALUE, _DATETIME = "int", "value", "datetime"


@attrs.frozen(slots=True)
class _FramePlan:
    dims: tuple[str, ...]
    tz: tzinfo | None
    fields: tuple[tuple[str, str, str], ...]   # (record field or meter, column, how to read it)
    tags: tuple[tuple[str, str], ...]          # (tag, column)


class _BadValue(Exception):
    def __init__(self, code: str, message: str, column: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.column = column


def _is_missing(value: Any) -> bool:
    # None, NaN (float), pandas.NA and NaT: each a "no value" marker of some dtype.
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _read_count(value: Any, column: str) -> int | None:
    """A count from an object or string column (``None`` if absent); a float is refused."""
    if _is_missing(value):
        return None
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise _BadValue("bad_type", f"{column!r} must be an integer count, got {value!r}", column)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):   # "²".isdigit() is True
            raise _BadValue("bad_type", f"{column!r} must be an integer count, got {value[:40]!r}", column)
        if len(text) > 15:   # checked before int(): a million-digit string must not stall the reader
            raise _BadValue("absurd_count", f"{column!r} is {text[:20]}..., above the sanity limit", column)
        return int(text)
    raise _BadValue("bad_type", f"{column!r} must be an integer count, got {type(value).__name__} {value!r}"
                    + (" (float counts are refused: they may have been rounded)"
                       if isinstance(value, (float, Decimal, numbers.Real)) else ""), column)


def _read_text(value: Any, column: str) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _BadValue("bad_type", f"{column!r} must be text, got {value!r}", column)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    raise _BadValue("bad_type", f"{column!r} must be text, got {type(value).__name__} {value!r}", column)


def _read_tag(value: Any, column: str) -> str | None:
    try:
        return _read_text(value, column)
    except _BadValue as exc:
        raise _BadValue("bad_tag", f"tag {exc.message}", column) from None


def _read_flag(value: Any, column: str) -> bool | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise _BadValue("bad_type", f"{column!r} must be true or false, got {value!r}", column)


def _read_instant(value: Any, column: str) -> datetime | None:
    if _is_missing(value):
        return None
    try:
        return _timestamp(value, column)
    except NormalizeError as exc:
        raise _BadValue(exc.code, exc.message, column) from None


def _pydatetime(value: Any) -> datetime | None:
    # pandas.Timestamp -> datetime (sub-microsecond digits dropped, without a warning).
    if _is_missing(value):
        return None
    converted: datetime = value.to_pydatetime(warn=False)
    return converted


def _usage_code(exc: InvalidUsage) -> str:
    if "sanity limit" in exc.reason:
        return "absurd_count"
    if "negative" in exc.reason:
        return "negative_count"
    if "integer" in exc.reason:
        return "bad_type"
    return "inconsistent_usage"


_READERS: dict[str, Callable[[Any, str], Any]] = {
    **dict.fromkeys(_TEXT_FIELDS, _read_text),
    **dict.fromkeys((*_COUNT_FIELDS, *METERS), _read_count),
    "at": _read_instant,
    "long_context": _read_flag,
}


def _present(series: Any) -> list[Any]:
    """A column's values with every kind of missing value (NaN, NA, NaT) as ``None``."""
    values: list[Any] = series.tolist()
    return [None if _is_missing(v) else v for v in values] if series.hasnans else values


def _read_each(values: list[Any], reader: Callable[[Any, str], Any], column: str) -> list[Any]:
    """``reader`` over present values; an unreadable value is kept as its ``_BadValue``."""
    cooked: list[Any] = []
    for v in values:
        try:
            cooked.append(None if v is None else reader(v, column))
        except _BadValue as exc:
            cooked.append(exc)
    return cooked


def _cook(series: Any, field: str, column: str, how: str) -> list[Any]:
    """A column's values ready for records: ``None`` where absent, a ``_BadValue`` where unreadable.

    Reading column by column keeps the per-row loop to look-ups; the common
    column (integers, or text with no odd values) is taken as it is.
    """
    if how == _DATETIME:
        # In UTC, so day/week/month buckets are UTC days unless rollup's tz= says otherwise.
        return [_pydatetime(v) for v in series.dt.tz_convert("UTC").tolist()]
    values = _present(series)
    if how == _INT:
        return values
    if field in _TEXT_FIELDS and all(type(v) is str for v in values if v is not None):
        return values
    return _read_each(values, _READERS[field], column)


def _cook_tags(series: Any, column: str) -> list[Any]:
    values = _present(series)
    if all(type(v) is str for v in values if v is not None):
        return values
    return _read_each(values, _read_tag, column)


def _row_values(columns: list[tuple[str, str, list[Any]]], row: int, *, skip_zero: bool) -> dict[str, Any]:
    """One row's present values by name (``None``, and zero counts when ``skip_zero``, are absent).

    Raises the row's first bad value (a ``_BadValue`` made when the column was cooked).
    """
    out: dict[str, Any] = {}
    for name, _, values in columns:
        value = values[row]
        if value is None or (skip_zero and not value):
            continue
        if type(value) is _BadValue:
            raise value
        out[name] = value
    return out


def _frame_records(frame: Any, plan: _FramePlan, partition: int) -> Iterator[UsageRecord | Quarantined]:
    """One usage record per row of a pandas frame, or a ``Quarantined`` naming the row and column."""
    label = f"<dataframe partition {partition}>"
    fields: list[tuple[str, str, list[Any]]] = []
    meters: list[tuple[str, str, list[Any]]] = []
    for field, column, how in plan.fields:
        cooked = _cook(frame[column], field, column, how)
        (meters if field in METERS else fields).append((field, column, cooked))
    tags = [(tag, column, _cook_tags(frame[column], column)) for tag, column in plan.tags]
    provider = next(c for f, c, _ in fields if f == "provider")
    model = next(c for f, c, _ in fields if f == "model")
    for row in range(len(frame)):
        where = SourceLocation(file=label, line=row + 1)
        try:
            kwargs: dict[str, Any] = _row_values(fields, row, skip_zero=False)
            counts: dict[str, int] = _row_values(meters, row, skip_zero=True)
            owner: dict[str, str] = _row_values(tags, row, skip_zero=False)
            for field, column in (("provider", provider), ("model", model)):
                if field not in kwargs:
                    raise _BadValue("missing_field", f"required column {column!r} has no value", column)
            for field in _COUNT_FIELDS:
                if kwargs.get(field, 0) < 0:
                    column = next(c for f, c, _ in fields if f == field)
                    raise _BadValue("negative_count", f"{column!r} is negative ({kwargs[field]})", column)
            kwargs["provider"] = canonical_provider(kwargs["provider"])
            try:
                usage = Usage(**counts)
            except InvalidUsage as exc:
                column = next((c for f, c, _ in meters if f == exc.meter), exc.meter)
                raise _BadValue(_usage_code(exc), str(exc), column) from None
            yield UsageRecord(usage=usage, tags=owner, source=where, **kwargs)
        except _BadValue as exc:
            yield Quarantined(code=exc.code, message=exc.message, stage="normalize",
                              source=where.with_path(exc.column), raw=_row(row, fields, meters, tags))
        except (AttributionError, ValueError, TypeError) as exc:
            # A value that passed its column reader but not the record's own checks.
            yield Quarantined(code="bad_value", message=str(exc), stage="normalize", source=where,
                              raw=_row(row, fields, meters, tags))


def _row(row: int, *groups: list[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    """The row as read, by column name, for a quarantined item's ``raw``."""
    out: dict[str, Any] = {}
    for group in groups:
        for _, column, values in group:
            value = values[row]
            out[column] = value.message if type(value) is _BadValue else value
    return out


def _rollup_frame(frame: Any, cards: _Cards, plan: _FramePlan, partition: int) -> Rollup:
    registry = _worker_registry(cards)
    priced = price_many(_frame_records(frame, plan, partition), registry)
    return rollup(priced, by=plan.dims, tz=plan.tz)


def _column_kind(field: str, column: str, dtype: Any) -> str:
    """How to read ``column`` for ``field``, refusing dtypes that cannot hold the field exactly."""
    pt = importlib.import_module("pandas.api.types")
    if field == "at":
        if pt.is_datetime64_any_dtype(dtype):
            if getattr(dtype, "tz", None) is None:
                raise InvalidTimestamp(
                    f"column {column!r} holds datetimes without a time zone ({dtype}); say which zone they are "
                    f"in, e.g. ddf[{column!r}] = ddf[{column!r}].dt.tz_localize('UTC')")
            return _DATETIME
        return _VALUE
    if field in METERS or field in _COUNT_FIELDS:
        if pt.is_bool_dtype(dtype) or pt.is_float_dtype(dtype) or pt.is_complex_dtype(dtype) \
                or pt.is_datetime64_any_dtype(dtype) or pt.is_timedelta64_dtype(dtype):
            reason = (f"column {column!r} has dtype {dtype}; counts must be integers, never floats (a float "
                      f"count may already have been rounded). Cast it after checking, e.g. "
                      f"ddf[{column!r}].astype('int64'), or 'Int64' to keep missing values")
            if field in METERS:
                raise InvalidUsage(field, str(dtype), reason)
            raise NormalizeError("bad_type", reason, path=column)
        if pt.is_integer_dtype(dtype):
            return _INT
        return _VALUE
    return _VALUE


def _tag_columns(tags: Iterable[str] | Mapping[str, str] | None, dims: tuple[str, ...],
                 available: list[str], used: set[str]) -> tuple[tuple[str, str], ...]:
    if isinstance(tags, Mapping):
        pairs = [(str(tag), str(column)) for tag, column in tags.items()]
    elif tags is not None:
        if isinstance(tags, str):
            raise TypeError("tags= takes a list of column names (or a mapping of tag -> column), not a string")
        pairs = [(str(column), str(column)) for column in tags]
    else:
        wanted = [*OWNER_DIMENSIONS, *(d for d in dims if d not in BUILTIN_DIMENSIONS)]
        pairs = [(name, name) for name in dict.fromkeys(wanted) if name in available and name not in used]
    missing = [column for _, column in pairs if column not in available]
    if missing:
        raise KeyError(f"tag column(s) not in the dataframe: {', '.join(missing)}")
    return tuple(pairs)


def _frame_plan(dtypes: Mapping[str, Any], dims: tuple[str, ...], tz: tzinfo | None, columns: Mapping[str, str] | None,
                tags: Iterable[str] | Mapping[str, str] | None) -> _FramePlan:
    pt = importlib.import_module("pandas.api.types")
    available = list(dtypes)
    mapping = {f: f for f in _FIELDS if f in available}
    if "at" not in mapping and "timestamp" in available:
        mapping["at"] = "timestamp"
    if columns:
        unknown = sorted(set(columns) - set(_FIELDS))
        if unknown:
            raise ValueError(f"columns= names unknown record field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(_FIELDS)}")
        mapping.update(columns)
    for required in ("provider", "model"):
        if required not in mapping:
            raise KeyError(f"the dataframe needs a {required!r} column (or columns={{{required!r}: ...}})")
    missing = sorted(c for c in mapping.values() if c not in available)
    if missing:
        raise KeyError(f"column(s) not in the dataframe: {', '.join(missing)}")
    fields = tuple((field, column, _column_kind(field, column, dtypes[column]))
                   for field, column in mapping.items())
    tag_pairs = _tag_columns(tags, dims, available, set(mapping.values()))
    for tag, column in tag_pairs:
        dtype = dtypes[column]
        if pt.is_float_dtype(dtype) or pt.is_bool_dtype(dtype):
            raise NormalizeError("bad_tag", f"tag column {column!r} (for {tag!r}) has dtype {dtype}; owner tags are "
                                 f"text: cast it, e.g. ddf[{column!r}].astype('string')", path=column)
    return _FramePlan(dims, tz, fields, tag_pairs)


def rollup_dataframe(ddf: dask.dataframe.DataFrame, by: Iterable[str] = (), *,
                     columns: Mapping[str, str] | None = None,
                     tags: Iterable[str] | Mapping[str, str] | None = None,
                     registry: Registry | None = None, registry_paths: Iterable[str | os.PathLike[str]] = (),
                     tz: tzinfo | None = None, split_every: int = DEFAULT_SPLIT_EVERY) -> Rollup:
    """Price and roll up a ``dask.dataframe`` of usage, one row per provider call (or bucket).

    Each partition's rows become :class:`~attribution.UsageRecord` objects on
    a worker, are priced and rolled up there; the partial rollups are merged
    exactly. The result equals ``rollup(price_many(records), by)`` over the
    same records, quarantine counts included: a row that cannot be a record
    (no model, a negative count, a tag that is not text) is quarantined with
    its partition, row and column, and a row the cards cannot price (an
    unknown model) is quarantined by pricing, so
    ``rows == r.records + sum(r.quarantined.values())``.

    Columns are found by name: ``provider`` and ``model`` (required),
    ``timestamp`` (or ``at``), ``model_billed``, ``service_tier``, ``region``,
    ``request_id``, ``trace_id``, ``span_id``, ``parent_id``, ``attempt``,
    ``retry_of``, ``fallback_from``, ``outcome``, ``requests``,
    ``long_context``, ``schema``, and one per meter: ``input`` (uncached
    input tokens), ``cached_input``, ``cache_write``, ``cache_write_1h``,
    ``output`` (reasoning included), ``reasoning``, ``input_audio``,
    ``output_audio``, ``input_image``, ``output_image``, ``web_search``. A
    missing meter column, or a missing value in one, counts 0.

    Token counts must be integers: a float column is refused before any work
    starts (cast it yourself, having checked nothing was rounded). Timestamps
    must be time-zone aware: a ``datetime64`` column without a zone is refused;
    text and Unix seconds are read as the normalizers read them.

    Args:
        by: dimensions, as for :func:`~attribution.rollup`.
        columns: record field or meter -> column name, for columns named
            otherwise (``{"input": "prompt_tokens", "at": "ts"}``).
        tags: owner-tag columns: a list of column names, or a mapping of tag
            -> column (``{"team": "team_id"}``). By default, the owner
            dimensions (``team``, ``project``, ``feature``, ``workflow``,
            ``tenant``, ``user``, ``environment``, ``cost_center``) and the
            non-built-in names in ``by`` that are columns.
        registry, registry_paths, tz, split_every: as for :func:`rollup_bag`.

    Raises:
        MissingDependency: Dask (or its dataframe part) is not installed.
        InvalidUsage: a meter column has a float (or boolean) dtype.
        InvalidTimestamp: the timestamp column has no time zone.
        KeyError: a required or named column is missing.
        PriceCardError: a card in ``registry_paths`` is invalid.
    """
    _module("attribution.dask.rollup_dataframe", "dask.dataframe")
    delayed = _delayed()
    _check_split_every(split_every)
    dims = tuple(by)
    frame: Any = ddf
    plan = _frame_plan({str(c): t for c, t in frame.dtypes.items()}, dims, tz, columns, tags)
    cards = _ship_cards(registry, registry_paths)
    node = _cards_node(cards)
    job = delayed(_rollup_frame, pure=True)
    parts = [job(part, node, plan, i) for i, part in enumerate(frame.to_delayed(optimize_graph=True))]
    return _tree_sum(parts, dims, split_every)
