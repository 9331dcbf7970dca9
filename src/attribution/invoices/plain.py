"""A plain, documented invoice CSV for any provider without a reader of its own.

Header (column order is free, names are exact, extra columns are ignored)::

    provider,period_start,period_end,amount,currency[,charge_category,model,meter,project,service_tier,quantity,unit,description]

* ``provider``: the provider name as the price cards spell it (``openai``,
  ``mistral``...); lower-cased.
* ``period_start``, ``period_end``: ISO dates (``2026-06-01``); the period is
  half-open, so June is ``2026-06-01,2026-07-01`` and one day is
  ``2026-06-08,2026-06-09``. A timestamp is rounded out to whole UTC days.
* ``amount``: a plain decimal in the currency (``22000.00``, ``-15.5``), read
  exactly; no thousands separators, no currency symbol.
* ``currency``: ISO 4217 (``USD``, ``eur``); lines keep their own currency.
* ``charge_category``: ``usage`` (default), ``tax``, ``credit``,
  ``discount``, ``fee``, ``commitment``, ``refund`` or ``adjustment``.
* ``meter``: one of the library's meters (``input``, ``cached_input``,
  ``cache_write``, ``cache_write_1h``, ``output``, ``input_audio``,
  ``output_audio``, ``input_image``, ``output_image``, ``web_search``) or empty.
* ``model``, ``project``, ``service_tier``, ``unit``, ``description``: free
  text; ``quantity`` a decimal. ``sku``, ``account``, ``region`` and
  ``line_id`` are read too when present.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from .._invoice import CHARGE_CATEGORIES, InvoiceLine
from .._usage import BILLED_METERS
from ..exceptions import InvoiceError
from ._common import PathLike, Record, csv_header, csv_records, day_period

__all__ = ["OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "plain_row_line", "read_invoice_csv"]

REQUIRED_COLUMNS = ("provider", "period_start", "period_end", "amount", "currency")
OPTIONAL_COLUMNS = ("charge_category", "model", "meter", "project", "service_tier", "quantity", "unit",
                    "description", "sku", "account", "region", "line_id")


def _key(header: str) -> str:
    return header.strip().lower()


def _instant(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)


def plain_row_line(record: Record) -> InvoiceLine:
    """The invoice line of one plain CSV row.

    Raises:
        InvoiceError: a required value is missing or any value is malformed.
    """
    provider = record.must_text("provider")
    start = record.must_instant("period_start")
    end = record.must_instant("period_end")
    if _instant(end) <= _instant(start):
        raise record.error("period_end", f"period_end {end} must be after period_start {start} "
                                         "(periods are half-open: one day is [day, day + 1))")
    period_start, period_end = day_period(start, end)
    amount = record.must_decimal("amount")
    category = (record.text("charge_category") or "usage").lower()
    if category not in CHARGE_CATEGORIES:
        raise record.error("charge_category", f"must be one of {', '.join(CHARGE_CATEGORIES)}, got {category!r}")
    meter = record.text("meter")
    if meter is not None and meter not in BILLED_METERS:
        raise record.error("meter", f"unknown meter {meter!r}; meters are {', '.join(BILLED_METERS)}")
    return InvoiceLine(
        provider=provider.lower(), period_start=period_start, period_end=period_end, amount=amount,
        currency=record.currency("currency"), charge_category=category, model=record.text("model"), meter=meter,
        sku=record.text("sku"), project=record.text("project"), account=record.text("account"),
        service_tier=record.text("service_tier"), region=record.text("region"),
        quantity=record.decimal("quantity"), unit=record.text("unit"), description=record.text("description"),
        line_id=record.text("line_id"), source=record.source(),
    )


def read_invoice_csv(path: PathLike) -> list[InvoiceLine]:
    """Read the plain invoice CSV described in this module (``.csv``, ``.csv.gz`` or ``.zip``).

    Raises:
        InvoiceError: a required column is missing from the header (line 1),
            or a row is malformed (file, line counting the header as 1, column).
    """
    header = {_key(h) for h in csv_header(path)}
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvoiceError(f"the header lacks required column(s) {', '.join(missing)}; expected "
                           f"{','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]",
                           file=str(path), line=1, column=missing[0])
    return [plain_row_line(record) for record in csv_records(path, _key)]
