"""Shared helpers for invoice readers: files, rows, exact numbers, days, errors.

Every reader turns one export format into :class:`~attribution.InvoiceLine`
objects and rejects a malformed row with an :class:`~attribution.InvoiceError`
that names the file, the line and the column. These helpers hold the parts all
formats share, so each format module only says what its columns mean:

* files are opened as UTF-8 (a byte-order mark is skipped), gzip (``.gz``) or a
  one-member zip (``.zip``) transparently;
* a CSV row carries the 1-based line on which it starts, the header being
  line 1, so a quoted field spanning lines does not shift later numbers;
* JSON numbers are parsed straight to ``Decimal`` (``parse_float=Decimal``),
  CSV text goes through ``Decimal(text)``: nothing is ever a ``float``;
* a timestamp becomes the UTC day it falls in; a period is rounded *out* to
  whole UTC days, half-open (``[start day, end day)``).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, cast

import attrs

from .._bounded import CsvSplitter, current_limits, decode_text, size
from .._bounded import loads as bounded_loads
from .._instant import instant_problem
from .._invoice import CHARGE_CATEGORIES
from .._money import MAX_AMOUNT_EXP, check_amount, check_currency
from .._records import SourceLocation
from ..exceptions import InvoiceError

__all__ = [
    "JsonSource",
    "PathLike",
    "Record",
    "cents_to_units",
    "csv_header",
    "csv_records",
    "currency_code",
    "day_period",
    "flatten",
    "json_documents",
    "open_bytes",
    "open_text",
    "parse_decimal",
    "parse_instant",
    "split_words",
]

UTC = timezone.utc

#: What a reader accepts as a path.
PathLike = str | os.PathLike[str]
#: What a JSON reader accepts: a path, or the already-parsed object(s).
JsonSource = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]

_JSONL_SUFFIXES = (".jsonl", ".ndjson")


# --- files ---------------------------------------------------------------------------------

def _base_suffix(path: Path) -> str:
    """``.csv`` for ``costs.csv.gz`` or ``costs.csv.zip``; ``.json`` for ``page.json``."""
    suffix = path.suffix.lower()
    if suffix in (".gz", ".zip"):
        return Path(path.stem).suffix.lower()
    return suffix


#: What reading an export (plain, gzip or zip) can raise besides its data's own faults.
_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError)


def open_bytes(path: PathLike) -> IO[bytes]:
    """Open ``path`` for reading bytes, through gzip or a one-member zip when its name says so.

    Raises:
        InvoiceError: the file cannot be opened, is not a zip, or a zip holds
            several files or an encrypted or unsupported member.
    """
    p = Path(path)
    try:
        suffix = p.suffix.lower()
        if suffix == ".gz":
            return cast(IO[bytes], gzip.open(p, "rb"))
        if suffix == ".zip":
            archive = zipfile.ZipFile(p)
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                archive.close()
                raise InvoiceError(f"a zipped export must hold exactly one file, found {len(members)}",
                                   file=str(p))
            try:
                member = archive.open(members[0])
            finally:
                # The member keeps the archive's file open until it is closed itself.
                archive.close()
            return member
        return p.open("rb")
    except _READ_ERRORS as exc:
        raise _read_error(str(p), exc, None) from None


def _read_error(file: str, exc: BaseException, line: int | None) -> InvoiceError:
    corrupt = isinstance(exc, (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile))
    what = "corrupt or truncated archive" if corrupt else "cannot read"
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InvoiceError(f"{what}: {detail}", file=file, line=line)


def open_text(path: PathLike) -> IO[str]:
    """Open ``path`` as UTF-8 text (a byte-order mark skipped), like :func:`open_bytes`.

    The readers themselves read bytes through the bounded helpers; this is for
    callers that want the text.
    """
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", newline="")


def base_suffix(path: PathLike) -> str:
    """The format suffix of ``path`` once ``.gz``/``.zip`` is set aside (lower case)."""
    return _base_suffix(Path(path))


# --- records -------------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Record:
    """One row of an export: values by normalized column name, and where it came from.

    ``names`` maps each normalized key to the name an error should show: the
    column as written in a CSV header, or the field path in a JSON document.
    """

    values: Mapping[str, Any]
    names: Mapping[str, str]
    file: str | None
    line: int | None
    path: str | None = None

    def column(self, key: str) -> str:
        """The column name to report for ``key``."""
        name = self.names.get(key, key)
        return f"{self.path}.{name}" if self.path else name

    def error(self, key: str, message: str) -> InvoiceError:
        return InvoiceError(message, file=self.file, line=self.line, column=self.column(key))

    def source(self) -> SourceLocation:
        return SourceLocation(file=self.file, line=self.line, path=self.path)

    def raw(self, *keys: str) -> tuple[str, Any]:
        """The first of ``keys`` present with a non-empty value, as ``(key, value)``.

        An empty string or ``None`` counts as absent. When none is present, the
        first key is returned with ``None``, so errors name the canonical column.
        """
        for key in keys:
            value = self.values.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            return key, value
        return keys[0], None

    def has(self, *keys: str) -> bool:
        """Whether any of ``keys`` is a column of this record (even if empty)."""
        return any(k in self.values for k in keys)

    def text(self, *keys: str, required: bool = False) -> str | None:
        key, value = self.raw(*keys)
        if value is None:
            if required:
                raise self.error(key, "required value is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.error(key, f"expected text, got {type(value).__name__} {value!r}")
        return str(value).strip()

    def decimal(self, *keys: str, required: bool = False) -> Decimal | None:
        key, value = self.raw(*keys)
        if value is None:
            if required:
                raise self.error(key, "required amount is missing")
            return None
        try:
            return parse_decimal(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def instant(self, *keys: str, required: bool = False, month_first: bool = False) -> datetime | date | None:
        key, value = self.raw(*keys)
        if value is None:
            if required:
                raise self.error(key, "required date is missing")
            return None
        try:
            return parse_instant(value, month_first=month_first)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def must_text(self, *keys: str) -> str:
        """Like :meth:`text`, but a missing value is an error."""
        value = self.text(*keys, required=True)
        assert value is not None
        return value

    def must_decimal(self, *keys: str) -> Decimal:
        """Like :meth:`decimal`, but a missing value is an error."""
        value = self.decimal(*keys, required=True)
        assert value is not None
        return value

    def must_instant(self, *keys: str, month_first: bool = False) -> datetime | date:
        """Like :meth:`instant`, but a missing value is an error."""
        value = self.instant(*keys, required=True, month_first=month_first)
        assert value is not None
        return value

    def currency(self, *keys: str, default: str | None = None) -> str:
        key, value = self.raw(*keys)
        if value is None:
            if default is not None:
                return default
            raise self.error(key, "currency is missing (amounts are never assumed to be USD)")
        try:
            return currency_code(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def json_value(self, *keys: str) -> Any:
        """A nested value: already parsed (JSON source) or a JSON string in a CSV cell."""
        key, value = self.raw(*keys)
        if not isinstance(value, str):
            return value
        try:
            return _loads(value)
        except ValueError as exc:
            raise self.error(key, f"not valid JSON: {exc}") from None


# --- CSV -----------------------------------------------------------------------------------

def _rows(fh: IO[bytes], file: str) -> CsvSplitter:
    return CsvSplitter(fh, current_limits().max_line_bytes)


def csv_header(path: PathLike) -> list[str]:
    """The header row of a CSV export (empty for an empty file)."""
    file = str(path)
    with open_bytes(path) as fh:
        rows = _rows(fh, file)
        try:
            for row in rows:
                if row.cells is None:
                    raise InvoiceError(f"cannot read the header: {row.error}", file=file, line=row.line)
                return row.cells
        except _READ_ERRORS as exc:
            raise _read_error(file, exc, rows.lines_read + 1) from None
    return []


def csv_records(path: PathLike, normalize: Any = None) -> Iterator[Record]:
    """The data rows of a CSV export, each with the 1-based line it starts on.

    ``normalize`` maps a header cell to the key the reader looks values up by
    (for instance lower-casing it); the original cell stays the name reported
    in errors. Blank lines are skipped; a row with more or fewer fields than
    the header, a quote that is never closed, bytes that are not UTF-8 or a
    row longer than the ``max_line_bytes`` cap is an error naming its line.
    """
    file = str(path)
    with open_bytes(path) as fh:
        rows = _rows(fh, file)
        try:
            keys: list[str] | None = None
            names: dict[str, str] = {}
            for row in rows:
                if row.cells is None:
                    raise InvoiceError(f"malformed CSV: {row.error}", file=file, line=row.line)
                cells = row.cells
                if keys is None:
                    header = cells
                    keys = [normalize(h) if normalize else h.strip() for h in header]
                    names = {k: h.strip() for k, h in zip(keys, header, strict=True)}
                    seen: set[str] = set()
                    for k, h in zip(keys, header, strict=True):
                        if k in seen and k:
                            raise InvoiceError(f"column {h.strip()!r} appears twice in the header", file=file,
                                               line=row.line, column=h.strip())
                        seen.add(k)
                    rows.width = len(keys)
                    continue
                if not cells or all(not cell.strip() for cell in cells):
                    continue
                if len(cells) != len(keys):
                    raise InvoiceError(f"row has {len(cells)} fields but the header has {len(keys)}",
                                       file=file, line=row.line)
                yield Record(values=dict(zip(keys, cells, strict=True)), names=names, file=file, line=row.line)
        except _READ_ERRORS as exc:
            raise _read_error(file, exc, rows.lines_read + 1) from None


# --- JSON ----------------------------------------------------------------------------------

def _loads(text: str) -> Any:
    """JSON with numbers as ``Decimal``; a repeated key or nesting past ``max_depth`` is a ``ValueError``."""
    return bounded_loads(text, current_limits().max_depth)


@attrs.frozen(slots=True)
class JsonDoc:
    """One JSON document: the parsed value and where it came from."""

    value: Any
    file: str | None
    line: int | None
    path: str


def json_documents(source: JsonSource, *, file: str | None = None,
                   split_lists: bool = True) -> Generator[JsonDoc, None, None]:
    """The JSON documents in ``source``: a path, one parsed object, or a list of them.

    A ``.jsonl``/``.ndjson`` file holds one document per line (``line`` is
    set); a ``.json`` file holds one document, or a list of them when
    ``split_lists`` (each gets the path ``[i]``). ``file`` names an in-memory
    object in errors.
    """
    if isinstance(source, Mapping):
        yield JsonDoc(source, file, None, "")
        return
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        for i, item in enumerate(source):
            yield JsonDoc(item, file, None, f"[{i}]")
        return
    path = Path(source)
    name = str(path)
    suffix = _base_suffix(path)
    lim = current_limits()
    with open_bytes(path) as fh:
        number = 0
        try:
            if suffix in _JSONL_SUFFIXES:
                limit = lim.max_line_bytes
                for number, raw in enumerate(iter(functools.partial(fh.readline, limit + 1), b""), 1):
                    if len(raw) > limit:
                        raise InvoiceError(f"line is longer than the {size(limit)} cap (max_line_bytes; raise it "
                                           "with --max-line-bytes)", file=name, line=number)
                    if not raw.strip():
                        continue
                    try:
                        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                        yield JsonDoc(_loads(text), name, number, "")
                    except UnicodeDecodeError as exc:
                        raise InvoiceError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                                           f"{exc.start + 1})", file=name, line=number) from None
                    except ValueError as exc:
                        raise InvoiceError(f"invalid JSON: {exc}", file=name, line=number) from None
                return
            data_bytes = fh.read(lim.max_file_bytes + 1)
        except _READ_ERRORS as exc:
            raise _read_error(name, exc, number + 1 if number else None) from None
    if len(data_bytes) > lim.max_file_bytes:
        raise InvoiceError(f"larger than the {size(lim.max_file_bytes)} cap for a file read whole "
                           "(max_file_bytes; raise it with --max-file-bytes)", file=name)

    def error(message: str, line: int | None) -> InvoiceError:
        return InvoiceError(message, file=name, line=line)

    text = decode_text(data_bytes, what="the export", error=error)
    try:
        data = _loads(text)
    except json.JSONDecodeError as exc:
        raise InvoiceError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=name, line=exc.lineno) from None
    except ValueError as exc:
        raise InvoiceError(f"invalid JSON: {exc}", file=name) from None
    if split_lists and isinstance(data, list):
        for i, item in enumerate(data):
            yield JsonDoc(item, name, None, f"[{i}]")
    else:
        yield JsonDoc(data, name, None, "")


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as ``a_b`` keys (lists are kept whole): ``{"sku": {"id": 1}}`` -> ``{"sku_id": 1}``."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            out.update(flatten(item, f"{name}_"))
        else:
            out[name] = item
    return out


def json_path(parent: str, key: str | int) -> str:
    """``data[0]`` + ``results`` -> ``data[0].results``; ``results`` + 3 -> ``results[3]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


# --- values --------------------------------------------------------------------------------

def parse_decimal(value: object) -> Decimal:
    """An exact ``Decimal`` from a JSON number (already ``Decimal``/``int``) or decimal text.

    Raises ``ValueError`` for floats, booleans, NaN, infinities and text that is
    not a plain decimal number (thousands separators are rejected, not guessed).

    >>> parse_decimal("0.0000003"), parse_decimal(12), parse_decimal("1.5E-7")
    (Decimal('3E-7'), Decimal('12'), Decimal('1.5E-7'))
    """
    if isinstance(value, (bool, float)):
        raise ValueError(f"expected an exact decimal, got {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
    if not dec.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if dec and dec.adjusted() >= MAX_AMOUNT_EXP:   # amounts and quantities alike: 1e26 is corrupt data
        check_amount(dec)
    return dec


def cents_to_units(cents: Decimal) -> Decimal:
    """Divide by 100 exactly, by moving the exponent (no context rounding).

    >>> cents_to_units(Decimal("123.78912"))
    Decimal('1.2378912')
    """
    sign, digits, exponent = cents.as_tuple()
    assert isinstance(exponent, int)
    return Decimal((sign, digits, exponent - 2))


def currency_code(value: object) -> str:
    """An active ISO 4217 code, upper-cased (``"usd"`` -> ``"USD"``, the exports' own spelling).

    Nothing else is guessed: padding (``"usd "``), symbols (``"€"``) and codes not in the
    ISO list (``"XXY"``) raise ``ValueError``.
    """
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value):
        return check_currency(value.upper())
    return check_currency(value)


#: Unix seconds at 3000-01-01, past which a number is not a timestamp (as normalizers rule).
_MAX_UNIX = 32503680000
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_FRACTION = re.compile(r"\.(\d+)")


def parse_instant(value: object, *, month_first: bool = False) -> datetime | date:
    """A UTC datetime (or a plain date) from the forms exports use.

    Accepts Unix seconds (``1730419200``), ISO 8601 dates and timestamps with
    ``Z``, an offset or BigQuery's ``" UTC"`` suffix (naive timestamps are
    UTC), and, with ``month_first``, Azure's ``MM/DD/YYYY``.

    >>> parse_instant(1730419200)
    datetime.datetime(2024, 11, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("2025-06-01 07:00:00 UTC")
    datetime.datetime(2025, 6, 1, 7, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("04/30/2025", month_first=True)
    datetime.date(2025, 4, 30)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a date or timestamp: {value!r}")
    parsed = _parse_instant(value, month_first)
    if not 1 < parsed.year < 9998 and (problem := instant_problem(parsed)):
        raise ValueError(problem)
    return parsed


def _parse_instant(value: object, month_first: bool) -> datetime | date:
    if isinstance(value, (int, Decimal)):
        if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
            raise ValueError(f"not whole Unix seconds: {value!r}")
        if not 0 <= value < _MAX_UNIX:
            raise ValueError(f"Unix time {str(value)[:30]} is out of range")
        return datetime.fromtimestamp(int(value), UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date or timestamp: {value!r}")
    text = value.strip()
    if text.isascii() and text.isdigit():
        return _parse_instant(int(text), month_first)
    try:
        if month_first and (m := _US_DATE.fullmatch(text.split(" ")[0])):
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        iso = text
        if iso.endswith(" UTC"):
            iso = iso[:-4] + "+00:00"
        if iso.endswith(("Z", "z")):
            iso = iso[:-1] + "+00:00"
        # Python 3.10's fromisoformat wants 3 or 6 fraction digits.
        iso = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], iso, count=1)
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"not a date or timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if (problem := instant_problem(parsed)) is not None:   # astimezone would overflow
        raise ValueError(problem)
    return parsed.astimezone(UTC)


def _start_day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _end_day(value: datetime | date) -> date:
    if isinstance(value, datetime):
        day = value.date()
        return day if value.time() == datetime.min.time() else day + timedelta(days=1)
    return value


def day_period(start: datetime | date, end: datetime | date | None) -> tuple[date, date]:
    """The half-open UTC days ``[first, last + 1)`` that ``[start, end)`` touches.

    A missing or empty interval (``end`` equal to ``start``) is the start's day.
    Raises ``ValueError`` if ``end`` is before ``start``.

    >>> day_period(datetime(2025, 1, 1, 10, tzinfo=UTC), datetime(2025, 1, 1, 11, tzinfo=UTC))
    (datetime.date(2025, 1, 1), datetime.date(2025, 1, 2))
    >>> day_period(date(2025, 1, 1), date(2025, 2, 1))
    (datetime.date(2025, 1, 1), datetime.date(2025, 2, 1))
    """
    first = _start_day(start)
    if end is None:
        return first, first + timedelta(days=1)
    s = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day, tzinfo=UTC)
    e = end if isinstance(end, datetime) else datetime(end.year, end.month, end.day, tzinfo=UTC)
    if e < s:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    last = _end_day(end)
    return first, max(last, first + timedelta(days=1))


def check_category(value: str, record: Record, key: str) -> str:
    if value not in CHARGE_CATEGORIES:
        raise record.error(key, f"charge category must be one of {', '.join(CHARGE_CATEGORIES)}, got {value!r}")
    return value


# --- words ---------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+(?:\.\d+)*[a-z]*")


def split_words(text: str) -> list[str]:
    """Lower-case words of a billing name: separators and camel case both split.

    >>> split_words("USE1_CacheWrite1hInputTokenCount_Global")
    ['use', '1', 'cache', 'write', '1h', 'input', 'token', 'count', 'global']
    >>> split_words("gpt-4o-0806-Inp-glbl 1K Tokens")
    ['gpt', '4o', '0806', 'inp', 'glbl', '1', 'k', 'tokens']
    """
    return [w.lower() for w in _WORD.findall(text)]


def token_meter(direction: str | None, *, modality: str | None = None, cached: bool = False,
                cache_write: bool = False, one_hour: bool = False) -> str | None:
    """The library meter for a token class, or ``None`` when it is not one.

    ``direction`` is ``"input"`` or ``"output"``; ``modality`` ``"audio"`` or
    ``"image"`` selects the media meters (text, video and documents stay on the
    text meters, as the normalizers do); a cache read is ``cached_input``
    whatever the modality (there is one cached meter).
    """
    if cache_write:
        return "cache_write_1h" if one_hour else "cache_write"
    if cached:
        return "cached_input"
    if direction not in ("input", "output"):
        return None
    if modality in ("audio", "image"):
        return f"{direction}_{modality}"
    return direction


def iter_mappings(value: object, record: Record, key: str) -> Iterable[Mapping[str, Any]]:
    """The objects of a JSON array (a nested value), or an error naming ``key``."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise record.error(key, f"expected a list of objects, got {type(value).__name__}")
    return value


class Where:
    """Where a JSON export's problem is: file and (for JSON lines) line; the JSON path is the column."""

    def __init__(self, file: str | None, line: int | None) -> None:
        self.file, self.line = file, line

    def error(self, path: str, message: str) -> InvoiceError:
        return InvoiceError(message, file=self.file, line=self.line, column=path)


def bucket_period(bucket: object, path: str, where: Where, keys: tuple[str, str], what: str) -> tuple[date, date]:
    """The ``[start, end)`` days of a usage/cost bucket whose bounds are under ``keys``.

    Raises:
        InvoiceError: naming the bound that is missing or unreadable.
    """
    if not isinstance(bucket, Mapping):
        raise where.error(path, f"expected a {what} object, got {type(bucket).__name__}")
    bounds = []
    for key in keys:
        value = bucket.get(key)
        if value is None:
            raise where.error(json_path(path, key), "required timestamp is missing")
        try:
            bounds.append(parse_instant(value))
        except ValueError as exc:
            raise where.error(json_path(path, key), str(exc)) from None
    try:
        return day_period(bounds[0], bounds[1])
    except ValueError as exc:
        raise where.error(json_path(path, keys[1]), str(exc)) from None
