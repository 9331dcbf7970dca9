"""Report writers: one :class:`~attribution.AuditReport`, many formats.

Each writer is a pure function ``(report, out) -> None`` registered in
:data:`WRITERS` by format name. Text formats write to a text stream, binary
formats (``parquet``) to a binary stream. Writers escape what they must for
their medium: the terminal table shows control characters escaped, CSV cells
are guarded against spreadsheet formula injection, HTML escapes every tag
value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from .._audit import AuditReport
from .._money import exact
from .._names import BINARY_FORMATS
from ._csv import write_csv
from ._focus import write_focus, write_focus_parquet
from ._html import write_html
from ._json import JSON_SCHEMA, report_to_json, write_json
from ._parquet import write_parquet
from ._table import write_table

__all__ = ["BINARY_FORMATS", "JSON_SCHEMA", "WRITERS", "report_to_json", "write_report"]

Writer = Callable[[AuditReport, IO[Any]], None]

#: Format name -> writer.
WRITERS: dict[str, Writer] = {
    "table": write_table,
    "json": write_json,
    "html": write_html,
    "csv": write_csv,
    "focus": write_focus,
    "focus-parquet": write_focus_parquet,
    "parquet": write_parquet,
}


@exact
def write_report(report: AuditReport, fmt: str, out: IO[Any]) -> None:
    """Render ``report`` in format ``fmt`` to ``out``.

    Raises:
        ValueError: an unknown format.
    """
    writer = WRITERS.get(fmt)
    if writer is None:
        raise ValueError(f"unknown report format {fmt!r}; formats: {', '.join(sorted(WRITERS))}")
    writer(report, out)
