"""What one line, one file and one nesting level of input may cost, and the bounded readers that enforce it.

Every file reader (usage logs, invoices, price cards, policies, owner maps)
goes through these helpers, so a hostile or broken file costs at most its
caps: a line is read with ``readline(limit + 1)`` and never loaded whole, a
file read whole (a JSON document, a TOML card) is read with
``read(limit + 1)`` so ``/dev/zero`` stops at the cap, and JSON nesting is
checked before the parser recurses. Over a cap is a quarantine (a line of a
usage log) or a one-line typed error (a file), never a traceback or an
out-of-memory kill.

The caps are the module constants below; a reader's keyword argument
(``max_line_bytes=``...) overrides one for that call, and :func:`limits`
overrides them for everything read inside a ``with`` block (what the CLI's
``--max-line-bytes``/``--max-file-bytes``/``--max-depth`` do).

This module imports nothing else from the package but the exceptions, so
the card, policy and owner-map loaders can use it without import cycles.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import attrs

from .exceptions import AttributionError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "DuplicateKey",
    "Limits",
    "current_limits",
    "limits",
]

#: Longest line of a JSONL or CSV file, in bytes, its line break included
#: (a CSV row with quoted line breaks counts all its lines). 8 MiB: an
#: OpenTelemetry collector batch of a few thousand spans fits.
MAX_LINE_BYTES = 8 << 20
#: Largest file read whole: a ``.json`` document, an invoice JSON page, a
#: price card, a policy, an owner map. 64 MiB. JSONL and CSV files are
#: streamed line by line and have no size cap.
MAX_FILE_BYTES = 64 << 20
#: Deepest nesting of JSON arrays/objects (and TOML arrays/inline tables).
#: Real payloads nest about ten deep.
MAX_DEPTH = 64

#: How much of an over-long line is read at a time while skipping it.
_SKIP_CHUNK = 1 << 20


@attrs.frozen(slots=True)
class Limits:
    """The three caps; each must be a positive integer."""

    max_line_bytes: int = MAX_LINE_BYTES
    max_file_bytes: int = MAX_FILE_BYTES
    max_depth: int = MAX_DEPTH

    def __attrs_post_init__(self) -> None:
        for name in ("max_line_bytes", "max_file_bytes", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def pick(self, max_line_bytes: int | None = None, max_file_bytes: int | None = None,
             max_depth: int | None = None) -> Limits:
        """These limits with the given overrides (``None`` keeps the current value)."""
        if max_line_bytes is None and max_file_bytes is None and max_depth is None:
            return self
        return Limits(max_line_bytes=self.max_line_bytes if max_line_bytes is None else max_line_bytes,
                      max_file_bytes=self.max_file_bytes if max_file_bytes is None else max_file_bytes,
                      max_depth=self.max_depth if max_depth is None else max_depth)


_DEFAULT = Limits()
_CURRENT: ContextVar[Limits | None] = ContextVar("attribution_limits", default=None)


def current_limits(max_line_bytes: int | None = None, max_file_bytes: int | None = None,
                   max_depth: int | None = None) -> Limits:
    """The limits in force (see :func:`limits`), with a call's own overrides applied."""
    return (_CURRENT.get() or _DEFAULT).pick(max_line_bytes, max_file_bytes, max_depth)


@contextlib.contextmanager
def limits(*, max_line_bytes: int | None = None, max_file_bytes: int | None = None,
           max_depth: int | None = None) -> Iterator[Limits]:
    """Raise (or lower) the caps for every file read inside the ``with`` block.

    >>> with limits(max_line_bytes=64 << 20) as lim:
    ...     lim.max_line_bytes, lim.max_depth
    (67108864, 64)
    """
    token = _CURRENT.set(current_limits(max_line_bytes, max_file_bytes, max_depth))
    try:
        yield current_limits()
    finally:
        _CURRENT.reset(token)


def size(n: int) -> str:
    """``8 MiB``, ``1,000 bytes``: a cap as a person reads it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:,} bytes"


# --- JSON ----------------------------------------------------------------------------------


class DuplicateKey(ValueError):
    """A JSON object names the same key twice (``key`` is the key)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"key {key!r} appears twice in one object (the values may differ; "
                         "neither is picked)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (only finite numbers are read)")


#: One decoder for every JSON read: numbers straight to ``Decimal``, a repeated
#: key an error (not last-wins), ``NaN``/``Infinity`` refused.
DECODER = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_pairs, parse_constant=_no_constant)

_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")


class TooDeep(ValueError):
    """JSON (or TOML) nested deeper than the cap."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"nested deeper than {max_depth} levels (max_depth)")


def json_too_deep(text: str, max_depth: int) -> bool:
    """Whether the arrays/objects in ``text`` nest deeper than ``max_depth``.

    Called only when the text has more opening brackets than the cap (a cheap
    count), so ordinary lines never pay for it. Strings are blanked out, then
    innermost ``[]`` pairs are removed one level per pass, all in C.
    """
    s = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).replace("{", "[").replace("}", "]")
    for _ in range(max_depth):
        if not s:
            return False
        t = s.replace("[]", "")
        if len(t) == len(s):
            return False  # unbalanced: the parser reports it
        s = t
    return "[]" in s


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document with the caps; every failure is a ``ValueError``.

    Raises ``DuplicateKey``, ``TooDeep`` or ``json.JSONDecodeError`` (all
    ``ValueError``).
    """
    if text.count("[") + text.count("{") > max_depth and json_too_deep(text, max_depth):
        raise TooDeep(max_depth)
    try:
        return DECODER.decode(text)
    except RecursionError:
        raise TooDeep(max_depth) from None


# --- lines ---------------------------------------------------------------------------------


def skip_rest(fh: IO[bytes], first: bytes) -> None:
    """Read past the rest of an over-long line, a bounded chunk at a time."""
    chunk = first
    while chunk and not chunk.endswith(b"\n"):
        chunk = fh.readline(_SKIP_CHUNK)


def preview(line: bytes) -> str:
    """The start of a line for a quarantine's ``raw`` (2000 characters at most)."""
    return line[:2000].decode("utf-8", "replace").rstrip("\r\n")


# --- whole files ---------------------------------------------------------------------------


def read_file_text(path: str | Path, *, what: str, max_file_bytes: int | None,
                   error: Callable[[str, int | None], AttributionError]) -> str:
    """A whole file as text, read at most ``max_file_bytes + 1`` bytes.

    UTF-8 with an optional byte-order mark. ``error(message, line)`` builds the
    typed error the caller raises: for a file that cannot be opened or read,
    one over the cap (``/dev/zero`` stops there), or bytes that are not UTF-8
    (with the line they are on).
    """
    cap = current_limits(max_file_bytes=max_file_bytes).max_file_bytes
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", None) from None
    if len(data) > cap:
        raise error(f"{what} is larger than the {size(cap)} cap (max_file_bytes; raise it with "
                    "--max-file-bytes)", None)
    return decode_text(data, what=what, error=error)


def decode_text(data: bytes, *, what: str, error: Callable[[str, int | None], AttributionError]) -> str:
    """UTF-8 (a leading byte-order mark dropped), or ``error`` naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at line {line})", line) from None


# --- CSV -----------------------------------------------------------------------------------


@attrs.define(slots=True)
class CsvRow:
    """One logical CSV row: its first line, its cells, or why it was not read."""

    line: int
    cells: list[str] | None
    error: str | None = None
    raw: str = ""


class CsvSplitter:
    """The rows of a CSV file, read one physical line at a time, each row costing at most itself.

    A quoted field may span lines (the quote count of the row so far is odd),
    but the row's lines together are held to ``max_line_bytes``. When such a
    row cannot be read (its quote never closes before the end of the file or
    the cap, the parser rejects it, or it has the wrong number of cells once
    ``width`` is set), only its first line is reported as bad and the lines
    after it are read again as rows of their own: an unterminated quote on
    line 2 costs line 2, not the rest of the file. A line that is not UTF-8 or
    longer than the cap is reported with its number.
    """

    def __init__(self, fh: IO[bytes], max_line_bytes: int) -> None:
        self.fh = fh
        self.limit = max_line_bytes
        self.width: int | None = None
        self._pending: deque[tuple[int, bytes]] = deque()
        self._number = 0
        self._first = True

    @property
    def lines_read(self) -> int:
        """Physical lines read from the file so far."""
        return self._number

    def _physical(self) -> tuple[int, bytes] | None:
        if self._pending:
            return self._pending.popleft()
        line = self.fh.readline(self.limit + 1)
        if not line:
            return None
        self._number += 1
        if self._first:
            self._first = False
            if line.startswith(codecs.BOM_UTF8):
                line = line[3:]
        if len(line) > self.limit:
            skip_rest(self.fh, line)
            return self._number, b""  # marker: too long (an empty line is never returned otherwise)
        return self._number, line

    def __iter__(self) -> Iterator[CsvRow]:
        import csv

        while True:
            got = self._physical()
            if got is None:
                return
            start, line = got
            if not line:
                yield CsvRow(start, None, f"line is longer than the {size(self.limit)} cap "
                                          "(max_line_bytes; raise it with --max-line-bytes)")
                continue
            held = [(start, line)]
            total = len(line)
            quotes = line.count(b'"')
            unclosed = ""
            while quotes % 2:
                nxt = self._physical()
                if nxt is None or not nxt[1] or total + len(nxt[1]) > self.limit:
                    if nxt is not None:
                        self._pending.appendleft(nxt)
                    unclosed = ("a quoted field is never closed" if nxt is None else
                                f"a quoted field is not closed within the {size(self.limit)} cap (max_line_bytes)")
                    break
                held.append(nxt)
                total += len(nxt[1])
                quotes += nxt[1].count(b'"')
            data = b"".join(chunk for _, chunk in held)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield from self._bad(held, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})")
                continue
            if unclosed:
                yield from self._bad(held, unclosed)
                continue
            try:
                cells = next(csv.reader([text], strict=True), [])
            except csv.Error as exc:
                yield from self._bad(held, f"unreadable CSV row: {exc}")
                continue
            if len(held) > 1 and self.width is not None and len(cells) != self.width:
                yield from self._bad(held, f"row has {len(cells)} cells, the header has {self.width}")
                continue
            yield CsvRow(start, cells, raw=text)

    def _bad(self, held: list[tuple[int, bytes]], why: str) -> Iterator[CsvRow]:
        """Report the first held line; the others are read again as rows of their own."""
        (start, first), rest = held[0], held[1:]
        self._pending.extendleft(reversed(rest))
        if rest and "quoted field" not in why:
            why += " (reading its quoted field to its end made it unreadable)"
        yield CsvRow(start, None, why, raw=preview(first))
