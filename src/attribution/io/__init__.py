"""Readers that turn files into payload streams, with a location for every record.

Readers never fail a whole file for one bad line: a line that is not valid
JSON or not UTF-8, or a CSV row that does not fit its header, becomes a
:class:`~attribution.Quarantined` item (code ``bad_json`` or ``bad_csv``) with
its file and line number, and the stream goes on. Numbers in JSON are parsed
straight to ``Decimal``, so a logged cost never passes through ``float``; CSV
cells stay text, which the normalizers' count and money readers accept.

Nothing in a file is trusted to be small or well formed: a line longer than
``max_line_bytes`` (``line_too_long``), JSON nested deeper than ``max_depth``
(``too_deep``) and an object naming a key twice (``duplicate_key``) are
quarantined too; a file read whole is held to ``max_file_bytes``; a corrupt
``.gz`` is ``unreadable_file`` with the line it broke on. The defaults are
:data:`MAX_LINE_BYTES`, :data:`MAX_FILE_BYTES` and :data:`MAX_DEPTH`; each
reader takes them as keywords, and :func:`limits` sets them for a block.

Formats, picked by suffix (each optionally ``.gz``):

* ``.jsonl``/``.ndjson``: one payload per line (Anthropic batch results,
  gateway logs, the OpenTelemetry collector's file exporter);
* ``.json``: one payload, or an array of payloads; a file that turns out to
  hold one JSON document per line (what the collector's file exporter writes,
  often as ``traces.json`` or ``*.otlp.json``) is read as JSON lines;
* ``.csv``: one payload per row, keyed by the header (LiteLLM spend-log
  exports, flat gateway events).
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from .._bounded import (
    DECODER,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    CsvSplitter,
    DuplicateKey,
    Limits,
    TooDeep,
    current_limits,
    decode_text,
    json_too_deep,
    limits,
    preview,
    size,
    skip_rest,
)
from .._bounded import loads as _bounded_loads
from .._records import Quarantined, SourceLocation
from ..exceptions import NormalizeError
from ..normalize import Raw

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_LINE_BYTES", "Limits", "limits", "read_csv", "read_json",
           "read_jsonl", "read_parquet", "read_payloads"]

#: What reading a file (plain or gzip) can raise besides the data's own faults:
#: a corrupt or truncated ``.gz`` is ``BadGzipFile`` (an ``OSError``),
#: ``EOFError`` or ``zlib.error``.
_FILE_ERRORS = (OSError, EOFError, zlib.error)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _loads(text: str, max_depth: int = MAX_DEPTH) -> object:
    """One JSON document: numbers as ``Decimal``, repeated keys and deep nesting refused (``ValueError``)."""
    return _bounded_loads(text, max_depth)


def _base_suffix(path: Path) -> str:
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def _unreadable(file: str, exc: BaseException, line: int) -> NormalizeError:
    what = "corrupt or truncated gzip data" if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)) \
        else "cannot read"
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return NormalizeError("unreadable_file", f"{what}: {detail}", file=file, line=line if line > 1 else None)


def _bad_line(code: str, message: str, where: SourceLocation, line: bytes) -> Quarantined:
    return Quarantined(code=code, message=message, stage="read", source=where, raw=preview(line))


def _json_lines(fh: IO[bytes], file: str, lim: Limits) -> Iterator[Raw | Quarantined]:
    """The payloads of a JSONL stream, one bounded ``readline`` per line.

    A read error (a corrupt ``.gz``) raises ``unreadable_file`` naming the
    line it broke on.
    """
    limit = lim.max_line_bytes
    decode = _bounded_loads
    number = 0
    try:
        for number, line in enumerate(iter(functools.partial(fh.readline, limit + 1), b""), 1):
            if len(line) > limit:
                skip_rest(fh, line)
                yield _bad_line("line_too_long", f"line is longer than the {size(limit)} cap (max_line_bytes; "
                                "raise it with --max-line-bytes)", SourceLocation(file=file, line=number), line)
                continue
            item = _json_line(line, number, file, lim, decode)
            if item is not None:
                yield item
    except _FILE_ERRORS as exc:
        raise _unreadable(file, exc, number + 1) from None


def _json_line(line: bytes, number: int, file: str, lim: Limits,
               decode: Any = _bounded_loads) -> Raw | Quarantined | None:
    """One line of a JSONL file (its newline included) as the reader yields it; ``None`` for a blank line.

    The fast engine (:mod:`attribution._fast`) reads the lines it cannot take itself through this.
    """
    if len(line) > lim.max_line_bytes:
        return _bad_line("line_too_long", f"line is longer than the {size(lim.max_line_bytes)} cap (max_line_bytes; "
                         "raise it with --max-line-bytes)", SourceLocation(file=file, line=number), line)
    if number == 1 and line.startswith(codecs.BOM_UTF8):
        line = line[3:]
    if not line.strip():
        return None
    where = SourceLocation(file=file, line=number)
    try:
        return Raw(decode(line.decode(), lim.max_depth), where)
    except DuplicateKey as exc:
        return _bad_line("duplicate_key", str(exc), where, line)
    except TooDeep as exc:
        return _bad_line("too_deep", f"JSON {exc}", where, line)
    except UnicodeDecodeError as exc:
        return _bad_line("bad_json", f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column "
                         f"{exc.start + 1})", where, line)
    except ValueError as exc:
        return _bad_line("bad_json", f"invalid JSON: {exc}", where, line)


def read_jsonl(path: str | Path, *, max_line_bytes: int | None = None,
               max_depth: int | None = None) -> Iterator[Raw | Quarantined]:
    """One payload per non-blank line; bad lines are quarantined with their number.

    A line that is not JSON or not UTF-8 is quarantined as ``bad_json``; one
    longer than ``max_line_bytes`` (default :data:`MAX_LINE_BYTES`, read in
    bounded chunks, never whole) as ``line_too_long``; one nesting deeper than
    ``max_depth`` (default :data:`MAX_DEPTH`) as ``too_deep``; an object
    naming a key twice as ``duplicate_key`` (the values could differ, so
    neither is guessed). ``None`` takes the cap from :func:`limits`.

    Raises:
        NormalizeError: the file cannot be opened or read, or a ``.gz`` is
            corrupt or truncated (code ``unreadable_file``, with the line).
    """
    p = Path(path)
    file = str(p)
    lim = current_limits(max_line_bytes=max_line_bytes, max_depth=max_depth)
    try:
        fh = _open(p)
    except _FILE_ERRORS as exc:
        raise _unreadable(file, exc, 0) from None
    with fh:
        yield from _json_lines(fh, file, lim)


def _read_whole(p: Path, lim: Limits) -> str:
    cap = lim.max_file_bytes
    try:
        with _open(p) as fh:
            data = fh.read(cap + 1)
    except _FILE_ERRORS as exc:
        raise _unreadable(str(p), exc, 0) from None
    if len(data) > cap:
        raise NormalizeError("file_too_large", f"larger than the {size(cap)} cap for a file read whole "
                             "(max_file_bytes; raise it with --max-file-bytes, or write JSON lines, which "
                             "are streamed)", file=str(p))

    def error(message: str, line: int | None) -> NormalizeError:
        return NormalizeError("unreadable_file", message, file=str(p), line=line)

    return decode_text(data, what="the file", error=error)


def read_json(path: str | Path, *, max_file_bytes: int | None = None, max_line_bytes: int | None = None,
              max_depth: int | None = None) -> Iterator[Raw | Quarantined]:
    """A JSON array of payloads (or a single object); items are numbered from 1 as ``line``.

    A file holding one JSON document per line (the OpenTelemetry collector's
    file exporter writes OTLP/JSON this way) is read as JSON lines instead,
    each payload numbered by its line, bad lines quarantined. A file of
    indented documents one after another (the OpenTelemetry SDK's
    ``ConsoleSpanExporter`` output) is read document by document, each
    numbered by the line it starts on.

    The file is read whole, so it may hold at most ``max_file_bytes`` (default
    :data:`MAX_FILE_BYTES`); nesting is capped at ``max_depth``. An array item
    naming a key twice is quarantined (``duplicate_key``); the other items are
    read.

    Raises:
        NormalizeError: ``bad_json`` (the file is neither JSON nor JSON lines,
            or nests too deep), ``duplicate_key`` (a single object naming a key
            twice), ``file_too_large`` or ``unreadable_file``.
    """
    p = Path(path)
    file = str(p)
    lim = current_limits(max_line_bytes=max_line_bytes, max_file_bytes=max_file_bytes, max_depth=max_depth)
    text = _read_whole(p, lim)
    try:
        try:
            data = _loads(text, lim.max_depth)
        except DuplicateKey:
            # The parser stopped at the first repeated key: parse again, marking those objects, so the
            # other items are still read (or the syntax error further on is reported).
            data = _with_duplicates(text, lim.max_depth)
    except TooDeep as exc:
        raise NormalizeError("bad_json", f"JSON {exc}", file=file) from None
    except ValueError as exc:
        if _is_json_lines(text, lim.max_depth):
            yield from _json_lines(io.BytesIO(text.encode()), file, lim)
            return
        documents = _concatenated(text, file, lim.max_depth)
        if documents is None:
            raise NormalizeError("bad_json", f"invalid JSON: {exc}", file=file) from None
        yield from documents
        return
    if isinstance(data, _Dup):
        raise NormalizeError("duplicate_key", str(DuplicateKey(data.key)), file=file)
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items, 1):
        where = SourceLocation(file=file, line=index)
        dup = _find_dup(item)
        if dup is not None:
            yield Quarantined(code="duplicate_key", message=str(DuplicateKey(dup)), stage="read", source=where)
        else:
            yield Raw(item, where)


class _Dup(dict[str, Any]):
    """An object that named ``key`` twice (only built on the slow path, after a ``DuplicateKey``)."""

    key: str = ""


def _mark_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked = _Dup(out)
                marked.key = key
                return marked
            seen.add(key)
    return out


def _with_duplicates(text: str, max_depth: int) -> Any:
    """Parse again, marking (not refusing) the objects with a repeated key."""
    import json
    from decimal import Decimal

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    return json.loads(text, parse_float=Decimal, object_pairs_hook=_mark_pairs, parse_constant=refuse)


def _find_dup(value: Any) -> str | None:
    if isinstance(value, _Dup):
        return value.key
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, (dict, list)) and (found := _find_dup(item)) is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and (found := _find_dup(item)) is not None:
                return found
    return None


def _concatenated(text: str, file: str, max_depth: int) -> list[Raw | Quarantined] | None:
    """Several JSON documents one after another, each over many lines, or ``None``.

    The OpenTelemetry SDK's ``ConsoleSpanExporter`` writes spans this way (one
    indented ``span.to_json()`` after another). Each document is numbered by
    the line it starts on; after a document that does not parse, the rest of
    the file is one ``bad_json`` quarantine (where the next document starts
    cannot be known). ``None`` when the text does not start with two documents.
    """
    if text.count("[") + text.count("{") > max_depth and json_too_deep(text, max_depth):
        return None
    out: list[Raw | Quarantined] = []
    end, line, counted = len(text), 1, 0
    pos = _skip_space(text, 0)
    while pos < end:
        line += text.count("\n", counted, pos)
        counted = pos
        where = SourceLocation(file=file, line=line)
        try:
            value, pos = DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            if len(out) < 2:
                return None
            problem = f"repeated key: {exc}" if isinstance(exc, DuplicateKey) else f"invalid JSON: {exc}"
            out.append(Quarantined(code="duplicate_key" if isinstance(exc, DuplicateKey) else "bad_json",
                                   message=f"{problem} (the rest of the file from this line is not read)",
                                   stage="read", source=where))
            break
        out.append(Raw(value, where))
        pos = _skip_space(text, pos)
    return out if len(out) >= 2 else None


def _skip_space(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _is_json_lines(text: str, max_depth: int) -> bool:
    """Several JSON documents, one per line, the first of them valid on its own."""
    lines = [line for line in text.splitlines() if line.strip()][:2]
    if len(lines) < 2:
        return False
    try:
        _loads(lines[0], max_depth)
    except ValueError:
        return False
    return True


def read_csv(path: str | Path, *, max_line_bytes: int | None = None) -> Iterator[Raw | Quarantined]:
    """One payload dict per CSV row, keyed by the header row.

    ``line`` is the file line the row starts on, so the first data row after
    the header is line 2. Cells stay text (``"1200"``, ``"0.0335"``), which
    the normalizers read exactly; empty cells are left out, as absent fields.
    Blank rows are skipped. A row with more or fewer cells than the header,
    one the CSV parser rejects, one that is not UTF-8 or longer than
    ``max_line_bytes`` is quarantined (code ``bad_csv``) with its line, and
    costs only itself: a quote that is never closed spoils its own line, and
    the rows after it are still read.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("provider,model,input_tokens,output_tokens\\nopenai,gpt-4o,1200,80\\nanthropic,oops\\n")
    >>> [(type(x).__name__, x.source.line) for x in read_csv(f.name)]
    [('Raw', 2), ('Quarantined', 3)]
    >>> next(read_csv(f.name)).payload["input_tokens"]
    '1200'
    >>> os.unlink(f.name)

    Raises:
        NormalizeError: ``unreadable_file``, or ``bad_csv`` for a header with
            empty or repeated column names.
    """
    p = Path(path)
    file = str(p)
    lim = current_limits(max_line_bytes=max_line_bytes)
    try:
        fh = _open(p)
    except _FILE_ERRORS as exc:
        raise _unreadable(file, exc, 0) from None
    with fh:
        splitter = CsvSplitter(fh, lim.max_line_bytes)
        try:
            yield from _csv_rows(splitter, file)
        except _FILE_ERRORS as exc:
            raise _unreadable(file, exc, splitter.lines_read + 1) from None


def _csv_rows(rows: CsvSplitter, file: str) -> Iterator[Raw | Quarantined]:
    header: list[str] | None = None
    for row in rows:
        where = SourceLocation(file=file, line=row.line)
        if row.cells is None:
            yield Quarantined(code="bad_csv", message=row.error or "unreadable CSV row", stage="read",
                              source=where, raw=row.raw)
            continue
        cells = row.cells
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [name.strip() for name in cells]
            blank = [i + 1 for i, name in enumerate(header) if not name]
            repeated = sorted({name for name in header if header.count(name) > 1})
            if blank or repeated:
                what = (f"empty column name(s) at position {blank}" if blank
                        else f"repeated column name(s) {', '.join(repeated)}")
                raise NormalizeError("bad_csv", f"the header row has {what}", file=file, line=row.line)
            rows.width = len(header)
            continue
        if len(cells) != len(header):
            yield Quarantined(code="bad_csv", message=f"row has {len(cells)} cells, the header has {len(header)}",
                              stage="read", source=where, raw=cells)
            continue
        yield Raw({name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}, where)


def read_payloads(path: str | Path, *, max_line_bytes: int | None = None, max_file_bytes: int | None = None,
                  max_depth: int | None = None) -> Iterator[Raw | Quarantined]:
    """Read ``.jsonl``/``.ndjson``, ``.json`` or ``.csv`` (each optionally ``.gz``) by suffix.

    The caps (``None``: the defaults, or those set with :func:`limits`) go to
    the reader that uses them.
    """
    p = Path(path)
    suffix = _base_suffix(p).lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(p, max_line_bytes=max_line_bytes, max_depth=max_depth)
    if suffix == ".json":
        return read_json(p, max_file_bytes=max_file_bytes, max_line_bytes=max_line_bytes, max_depth=max_depth)
    if suffix == ".csv":
        return read_csv(p, max_line_bytes=max_line_bytes)
    if p.suffix.lower() == ".parquet":
        return read_parquet(p)
    raise NormalizeError("unknown_format", f"cannot tell the format of {p.name}; expected .jsonl, .ndjson, .json "
                         "or .csv (optionally .gz), or .parquet", file=str(p))


def read_parquet(path: str | Path) -> Iterator[Raw | Quarantined]:
    """One payload dict per Parquet row (extra ``arrow``: pyarrow), numbered from 1 as ``line``.

    Columns become keys; null cells are left out, as absent fields (like
    empty CSV cells). Integers stay ``int``, decimals ``Decimal``, timestamps
    ``datetime`` (a column without a time zone is UTC), strings ``str``;
    floats stay ``float``, which the normalizers refuse for token counts
    unless they are whole. Rows are read a batch at a time.

    Raises:
        NormalizeError: ``unreadable_file`` (not a Parquet file, or cannot be read).
        MissingDependency: pyarrow is not installed.
    """
    return _parquet_rows(Path(path), None)


def _parquet_rows(path: Path, wanted: set[int] | None) -> Iterator[Raw | Quarantined]:
    """The rows of a Parquet file (only the 1-based rows in ``wanted``, when given)."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        from ..exceptions import MissingDependency

        raise MissingDependency("reading Parquet input", "arrow", exc.name or "pyarrow") from None
    file = str(path)
    try:
        pf = pq.ParquetFile(file)
    except (OSError, ValueError) as exc:   # pyarrow's ArrowInvalid is a ValueError
        raise NormalizeError("unreadable_file", f"cannot read Parquet: {exc}", file=file) from None
    number = 0
    try:
        for batch in pf.iter_batches(batch_size=65_536):
            if wanted is not None and not any(number < n <= number + batch.num_rows for n in wanted):
                number += batch.num_rows
                continue
            for row in batch.to_pylist():
                number += 1
                if wanted is None or number in wanted:
                    yield Raw({k: v for k, v in row.items() if v is not None}, SourceLocation(file=file, line=number))
    except (OSError, ValueError) as exc:
        raise NormalizeError("unreadable_file", f"cannot read Parquet: {exc}", file=file, line=number + 1) from None
