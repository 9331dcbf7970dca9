"""Readers that turn files into payload streams, with a location for every record.

Readers never fail a whole file for one bad line: a line that is not valid
JSON, or a CSV row that does not fit its header, becomes a
:class:`~attribution.Quarantined` item (code ``bad_json`` or ``bad_csv``) with
its file and line number, and the stream goes on. Numbers in JSON are parsed
straight to ``Decimal``, so a logged cost never passes through ``float``; CSV
cells stay text, which the normalizers' count and money readers accept.

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

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO

from .._records import Quarantined, SourceLocation
from ..exceptions import NormalizeError
from ..normalize import Raw

__all__ = ["read_csv", "read_json", "read_jsonl", "read_payloads"]

_FILE_ERRORS = (OSError, UnicodeDecodeError, EOFError)


def _open(path: Path, *, newline: str | None = None, encoding: str = "utf-8") -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline=newline)
    return path.open(encoding=encoding, newline=newline)


def _loads(text: str) -> object:
    return json.loads(text, parse_float=Decimal)


def _base_suffix(path: Path) -> str:
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def _json_lines(lines: Iterable[str], file: str) -> Iterator[Raw | Quarantined]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = SourceLocation(file=file, line=number)
        try:
            yield Raw(_loads(line), where)
        except ValueError as exc:
            yield Quarantined(code="bad_json", message=f"invalid JSON: {exc}", stage="read",
                              source=where, raw=line.rstrip("\n")[:2000])


def read_jsonl(path: str | Path) -> Iterator[Raw | Quarantined]:
    """One payload per non-blank line; bad lines are quarantined with their number.

    Raises:
        NormalizeError: the file cannot be opened or read (code ``unreadable_file``).
    """
    p = Path(path)
    try:
        with _open(p) as fh:
            yield from _json_lines(fh, str(p))
    except _FILE_ERRORS as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=str(p)) from None


def _is_json_lines(text: str) -> bool:
    """Several JSON documents, one per line, the first of them valid on its own."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        _loads(lines[0])
    except ValueError:
        return False
    return True


def read_json(path: str | Path) -> Iterator[Raw | Quarantined]:
    """A JSON array of payloads (or a single object); items are numbered from 1 as ``line``.

    A file holding one JSON document per line (the OpenTelemetry collector's
    file exporter writes OTLP/JSON this way) is read as JSON lines instead,
    each payload numbered by its line, bad lines quarantined.

    Raises:
        NormalizeError: ``bad_json`` (the file is neither JSON nor JSON lines)
            or ``unreadable_file``.
    """
    p = Path(path)
    try:
        with _open(p) as fh:
            text = fh.read()
    except _FILE_ERRORS as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=str(p)) from None
    try:
        data = _loads(text)
    except ValueError as exc:
        if _is_json_lines(text):
            yield from _json_lines(text.splitlines(), str(p))
            return
        raise NormalizeError("bad_json", f"invalid JSON: {exc}", file=str(p)) from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items, 1):
        yield Raw(item, SourceLocation(file=str(p), line=index))


def read_csv(path: str | Path) -> Iterator[Raw | Quarantined]:
    """One payload dict per CSV row, keyed by the header row.

    ``line`` is the file line the row starts on, so the first data row after
    the header is line 2. Cells stay text (``"1200"``, ``"0.0335"``), which
    the normalizers read exactly; empty cells are left out, as absent fields.
    Blank rows are skipped. A row with more or fewer cells than the header,
    or one the CSV parser rejects, is quarantined (code ``bad_csv``) with its
    line.

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
    try:
        with _open(p, newline="", encoding="utf-8-sig") as fh:
            yield from _csv_rows(csv.reader(fh, strict=True), file)
    except _FILE_ERRORS as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=file) from None


def _csv_rows(reader: Iterator[list[str]], file: str) -> Iterator[Raw | Quarantined]:
    header: list[str] | None = None
    end = 0  # the last file line consumed so far
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            now = getattr(reader, "line_num", end)
            yield Quarantined(code="bad_csv", message=f"unreadable CSV row: {exc}", stage="read",
                              source=SourceLocation(file=file, line=start))
            if now <= end:  # the parser made no progress: stop rather than loop
                return
            end = now
            continue
        end = getattr(reader, "line_num", end + 1)
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [name.strip() for name in row]
            blank = [i + 1 for i, name in enumerate(header) if not name]
            repeated = sorted({name for name in header if header.count(name) > 1})
            if blank or repeated:
                what = (f"empty column name(s) at position {blank}" if blank
                        else f"repeated column name(s) {', '.join(repeated)}")
                raise NormalizeError("bad_csv", f"the header row has {what}", file=file, line=start)
            continue
        where = SourceLocation(file=file, line=start)
        if len(row) != len(header):
            yield Quarantined(code="bad_csv", message=f"row has {len(row)} cells, the header has {len(header)}",
                              stage="read", source=where, raw=row)
            continue
        yield Raw({name: cell for name, cell in zip(header, row, strict=True) if cell != ""}, where)


def read_payloads(path: str | Path) -> Iterator[Raw | Quarantined]:
    """Read ``.jsonl``/``.ndjson``, ``.json`` or ``.csv`` (each optionally ``.gz``) by suffix."""
    p = Path(path)
    suffix = _base_suffix(p).lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(p)
    if suffix == ".json":
        return read_json(p)
    if suffix == ".csv":
        return read_csv(p)
    raise NormalizeError("unknown_format", f"cannot tell the format of {p.name}; expected .jsonl, .ndjson, .json "
                         "or .csv (optionally .gz)", file=str(p))
