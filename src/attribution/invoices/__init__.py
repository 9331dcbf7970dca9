"""Invoice readers: the providers' cost exports in, :class:`~attribution.InvoiceLine` lists out.

Reconciliation compares what was attributed with what was billed; these
readers supply the second half. One module per format, each a pure function
from a file (or, for the JSON APIs, an already-parsed object) to a list of
invoice lines:

=======================  ===========================================  ==========================
format                   reader                                       export
=======================  ===========================================  ==========================
``openai``               :func:`read_openai_costs`                    Costs API pages (JSON)
``anthropic``            :func:`read_anthropic_cost_report`           Admin API cost report (JSON)
``aws-cur``              :func:`read_cur_csv`                         CUR 2.0 / legacy CUR (CSV)
``aws-cur-parquet``      :func:`read_cur_parquet`                     CUR 2.0 (Parquet, ``arrow`` extra)
``gcp``                  :func:`read_gcp_billing`                     BigQuery billing export (JSON/CSV)
``azure``                :func:`read_azure_costs`                     Cost Management export (CSV)
``focus``                :func:`read_focus`                           FOCUS 1.0-1.3 (CSV or Parquet): AWS,
                                                                      Azure, GCP, OCI; AI rows only, the
                                                                      rest counted as out of scope
``csv``                  :func:`read_invoice_csv`                     the plain documented CSV
=======================  ===========================================  ==========================

:func:`read_invoice` picks the reader from ``format=`` or by sniffing the file.
Every reader keeps amounts exact (``Decimal`` from the file's text), keeps each
line in its own currency (nothing is converted or summed across currencies),
and rejects a malformed row with an :class:`~attribution.InvoiceError` naming
the file, the line (the CSV header is line 1) and the column (or JSON path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from .._invoice import InvoiceLine
from ..exceptions import InvoiceError
from . import anthropic, aws, azure, focus, gcp, openai, plain
from ._common import PathLike, base_suffix, csv_header, json_documents
from .anthropic import anthropic_cost_lines, read_anthropic_cost_report
from .aws import parse_usage_type, read_cur_csv, read_cur_parquet
from .azure import parse_meter_name, read_azure_costs
from .focus import read_focus
from .gcp import parse_sku, read_gcp_billing
from .openai import openai_costs_lines, parse_line_item, read_openai_costs
from .plain import read_invoice_csv

__all__ = [
    "FORMATS",
    "READERS",
    "InvoiceReader",
    "anthropic_cost_lines",
    "detect_format",
    "openai_costs_lines",
    "parse_line_item",
    "parse_meter_name",
    "parse_sku",
    "parse_usage_type",
    "read_anthropic_cost_report",
    "read_azure_costs",
    "read_cur_csv",
    "read_cur_parquet",
    "read_focus",
    "read_gcp_billing",
    "read_invoice",
    "read_invoice_csv",
    "read_openai_costs",
    "total_by_currency",
]

#: ``(path, **options) -> list[InvoiceLine]``; raises ``InvoiceError`` on a malformed file.
InvoiceReader = Callable[..., "list[InvoiceLine]"]

#: Format name -> reader. A new format is one module plus one line here.
READERS: dict[str, InvoiceReader] = {
    "openai": read_openai_costs,
    "anthropic": read_anthropic_cost_report,
    "aws-cur": read_cur_csv,
    "aws-cur-parquet": read_cur_parquet,
    "gcp": read_gcp_billing,
    "azure": read_azure_costs,
    "focus": read_focus,
    "csv": read_invoice_csv,
}
#: The format names :func:`read_invoice` accepts (aliases are listed in ``_ALIASES``).
FORMATS = tuple(READERS)

_ALIASES = {
    "openai-costs": "openai", "anthropic-cost-report": "anthropic", "cur": "aws-cur", "aws": "aws-cur",
    "bedrock": "aws-cur", "cur-parquet": "aws-cur-parquet", "parquet": "aws-cur-parquet", "vertex": "gcp",
    "google": "gcp", "gemini": "gcp", "gcp-billing": "gcp", "azure-openai": "azure", "plain": "csv",
    "focus-csv": "focus", "focus-parquet": "focus",
}


def _format_name(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in READERS:
        raise InvoiceError(f"unknown invoice format {name!r}; formats: {', '.join(FORMATS)}")
    return key


def detect_format(path: PathLike) -> str:
    """The format name of an export file, from its suffix and its first record or header.

    Raises:
        InvoiceError: the file is unreadable or matches no known format.
    """
    suffix = base_suffix(path)
    if suffix == ".parquet":
        return "focus" if focus.is_focus_header(focus.parquet_columns(path)) else "aws-cur-parquet"
    if suffix in (".json", ".jsonl", ".ndjson"):
        docs = json_documents(path)
        try:
            first = next(docs, None)
        finally:
            docs.close()
        doc = first.value if first is not None else None
        if openai.is_costs_page(doc):
            return "openai"
        if anthropic.is_cost_report(doc):
            return "anthropic"
        if isinstance(doc, dict) and "usage_start_time" in doc and ("sku" in doc or "service" in doc):
            return "gcp"
    elif suffix in (".csv", ".txt", ".tsv"):
        header = csv_header(path)
        if focus.is_focus_header(header):
            return "focus"
        cur = {aws.cur_key(h) for h in header}
        if "line_item_usage_type" in cur or "line_item_unblended_cost" in cur:
            return "aws-cur"
        keys = {gcp.gcp_key(h) for h in header}
        if "usage_start_time" in keys and ({"sku_description", "service_description"} & keys):
            return "gcp"
        az = {azure.azure_key(h) for h in header}
        if "metername" in az and ({"costinbillingcurrency", "pretaxcost", "cost"} & az):
            return "azure"
        if set(plain.REQUIRED_COLUMNS) <= {h.strip().lower() for h in header}:
            return "csv"
    raise InvoiceError(f"cannot tell which cost export this is; pass format= (one of {', '.join(FORMATS)})",
                       file=str(path))


def read_invoice(path: PathLike, format: str | None = None, *, max_line_bytes: int | None = None,
                 max_file_bytes: int | None = None, max_depth: int | None = None,
                 **options: Any) -> list[InvoiceLine]:
    """Read any supported cost export; ``format=None`` sniffs it (see :func:`detect_format`).

    ``options`` go to the reader (``bedrock_only=``, ``cost=``, ``models=`` for the CUR,
    ``services=`` for GCP, ``meter_categories=`` for Azure, ``cost=`` ``"billed"``/``"effective"`` for FOCUS). The caps (longest
    line or CSV row, largest JSON file read whole, deepest JSON nesting;
    ``None``: :data:`~attribution.io.MAX_LINE_BYTES` and the other defaults,
    or what :func:`~attribution.io.limits` set) apply to every reader.

    Raises:
        InvoiceError: unknown format name, unrecognisable file, a malformed
            row (file, line and column), a corrupt ``.gz``/``.zip``, or a
            file over a cap.
    """
    from .._bounded import limits

    with limits(max_line_bytes=max_line_bytes, max_file_bytes=max_file_bytes, max_depth=max_depth):
        name = _format_name(format) if format is not None else detect_format(path)
        lines: list[InvoiceLine] = READERS[name](path, **options)
    return lines


def total_by_currency(lines: Iterable[InvoiceLine], *, charge_category: str | None = None) -> dict[str, Decimal]:
    """Exact totals per currency (optionally of one charge category); never one mixed sum.

    >>> from datetime import date
    >>> lines = [InvoiceLine(provider="x", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
    ...                      amount=Decimal(a), currency=c) for a, c in [("1.10", "USD"), ("2.05", "EUR"), ("0.90", "USD")]]
    >>> total_by_currency(lines)
    {'USD': Decimal('2.00'), 'EUR': Decimal('2.05')}
    """
    totals: dict[str, Decimal] = {}
    for line in lines:
        if charge_category is None or line.charge_category == charge_category:
            totals[line.currency] = totals.get(line.currency, Decimal(0)) + line.amount
    return totals
