"""Readers that turn files into payload streams, with a location for every record.

Readers never fail a whole file for one bad line: a line that is not valid
JSON becomes a :class:`~attribution.Quarantined` item (code ``bad_json``) with
its file and line number, and the stream goes on. Numbers are parsed straight
to ``Decimal``, so a logged cost never passes through ``float``.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO

from .._records import Quarantined, SourceLocation
from ..exceptions import NormalizeError
from ..normalize import Raw

__all__ = ["read_json", "read_jsonl", "read_payloads"]


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8")


def _loads(text: str) -> object:
    return json.loads(text, parse_float=Decimal)


def _base_suffix(path: Path) -> str:
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def read_jsonl(path: str | Path) -> Iterator[Raw | Quarantined]:
    """One payload per non-blank line; bad lines are quarantined with their number.

    Raises:
        NormalizeError: the file cannot be opened or read (code ``unreadable_file``).
    """
    p = Path(path)
    try:
        with _open(p) as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = SourceLocation(file=str(p), line=number)
                try:
                    yield Raw(_loads(line), where)
                except ValueError as exc:
                    yield Quarantined(code="bad_json", message=f"invalid JSON: {exc}", stage="read",
                                      source=where, raw=line.rstrip("\n")[:2000])
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=str(p)) from None


def read_json(path: str | Path) -> Iterator[Raw | Quarantined]:
    """A JSON array of payloads (or a single object); items are numbered from 1 as ``line``."""
    p = Path(path)
    try:
        with _open(p) as fh:
            data = _loads(fh.read())
    except ValueError as exc:
        raise NormalizeError("bad_json", f"invalid JSON: {exc}", file=str(p)) from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise NormalizeError("unreadable_file", f"cannot read: {exc}", file=str(p)) from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items, 1):
        yield Raw(item, SourceLocation(file=str(p), line=index))


def read_payloads(path: str | Path) -> Iterator[Raw | Quarantined]:
    """Read ``.jsonl``/``.ndjson`` or ``.json`` (optionally ``.gz``) by suffix."""
    p = Path(path)
    suffix = _base_suffix(p).lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(p)
    if suffix == ".json":
        return read_json(p)
    raise NormalizeError("unknown_format", f"cannot tell the format of {p.name}; expected .jsonl, .ndjson or .json "
                         "(optionally .gz)", file=str(p))
