"""CSV report: the audit's charge lines, one row per line, safe to open in a spreadsheet.

A charge line is priced usage at the grain of a bill line (one UTC day,
model, meter, unit price and owner; see :class:`~attribution.ChargeLine`), so
``quantity x unit_price / per == amount`` holds on every row, exactly.

Two things make the file safe to hand to a finance team:

* **No formula injection.** Tag values come from request metadata that
  anyone calling the gateway controls. A spreadsheet runs a cell that starts
  with ``=``, ``+``, ``-`` or ``@`` (or their full-width forms) as a formula,
  and a leading tab or carriage return can smuggle one in, so every *text*
  cell that starts with one of those characters is written with a leading
  single quote (``'=cmd|...``), the OWASP-recommended escape. Number columns
  are not text: a negative amount stays ``-1.50``, a number.
* **Exact numbers.** Amounts and prices are written as plain decimal text
  (``0.00016``, never ``1.6E-4``) straight from ``Decimal``, so nothing is
  rounded and no reader has to parse scientific notation.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import IO

from .._audit import AuditReport, ChargeLine
from .._money import exact

__all__ = [
    "CHARGE_COLUMNS",
    "FORMULA_TRIGGERS",
    "charge_row",
    "guard_cell",
    "number_text",
    "owner_columns",
    "write_csv",
    "write_rows",
]

#: The fixed columns of a charge-line row, before one column per owner dimension.
CHARGE_COLUMNS = ("day", "provider", "model", "meter", "quantity", "unit_price", "per", "amount", "currency",
                  "service_tier", "region", "card_version", "records")

#: First characters that make a spreadsheet treat a cell as a formula (or hide one):
#: ``= + - @``, their full-width forms, tab and carriage return.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def guard_cell(text: str) -> str:
    """A text cell made inert for spreadsheets: a leading formula character gets a ``'`` before it.

    >>> guard_cell("=cmd|' /C calc'!A0"), guard_cell("search"), guard_cell("-team")
    ("'=cmd|' /C calc'!A0", 'search', "'-team")
    """
    if text and text[0] in FORMULA_TRIGGERS:
        return "'" + text
    return text


def number_text(value: Decimal | int) -> str:
    """An exact number as plain decimal text: no exponent, no rounding, no thousands separator.

    >>> number_text(Decimal("1.6E-4")), number_text(Decimal("1E+1")), number_text(-3)
    ('0.00016', '10', '-3')
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(int(value))


def owner_columns(report: AuditReport) -> list[str]:
    """Column names for the report's owner dimensions (``team``, ``feature``...).

    A dimension that shares a name with a fixed column (``--by model``) is
    written as ``by_<dim>`` so the charge's own column keeps its meaning.
    """
    taken = set(CHARGE_COLUMNS)
    out = []
    for dim in report.by:
        name = dim if dim not in taken else f"by_{dim}"
        while name in taken:
            name = f"by_{name}"
        taken.add(name)
        out.append(name)
    return out


def _text(value: object) -> str:
    return "" if value is None else guard_cell(str(value))


def charge_row(line: ChargeLine) -> list[str]:
    """One charge line as CSV cells (numbers as exact decimal text, text guarded)."""
    day = line.day.isoformat() if isinstance(line.day, date) else ""
    return [day, _text(line.provider), _text(line.model), _text(line.meter), number_text(line.quantity),
            number_text(line.unit_price), number_text(line.per), number_text(line.amount), _text(line.currency),
            _text(line.service_tier), _text(line.region), _text(line.card_version), number_text(line.records),
            *(_text(value) for _, value in line.owner)]


def write_rows(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write RFC 4180 CSV (CRLF line ends, minimal quoting) to a stream opened with ``newline=""``."""
    writer = csv.writer(out)
    writer.writerow([guard_cell(h) for h in header])
    writer.writerows(rows)


@exact
def write_csv(report: AuditReport, out: IO[str]) -> None:
    """Write the report's charge lines as CSV: one row per :class:`~attribution.ChargeLine`.

    Columns: ``day`` (UTC, ``YYYY-MM-DD``; empty for calls without a
    timestamp), ``provider``, ``model`` (the price card's id), ``meter``,
    ``quantity`` (tokens, or calls for per-request fees), ``unit_price`` (per
    ``per`` units), ``per``, ``amount`` (exact), ``currency``,
    ``service_tier``, ``region``, ``card_version``, ``records`` (priced calls
    in the line), then one column per owner dimension of the report. An
    absent value is an empty cell.
    """
    write_rows(out, [*CHARGE_COLUMNS, *owner_columns(report)], (charge_row(line) for line in report.charges))
