"""Anthropic: Admin API cost report (``GET /v1/organizations/cost_report``).

A report page is ``{"data": [bucket, ...], "has_more", "next_page"}``; each
bucket covers ``[starting_at, ending_at)`` (RFC 3339, daily buckets) and
holds ``results``::

    {"amount": "123.78912", "currency": "USD", "cost_type": "tokens",
     "token_type": "uncached_input_tokens", "model": "claude-sonnet-4-20250514",
     "service_tier": "standard", "context_window": "0-200k",
     "workspace_id": "wrkspc_01Jw...", "description": "Claude Sonnet 4 Usage - Input Tokens"}

Quirks handled here:

* ``amount`` is a decimal **string in the currency's lowest unit (cents)**:
  ``"123.78912"`` USD is $1.2378912. It is divided by 100 exactly (the
  exponent moves; nothing is rounded). A JSON *number* is rejected rather
  than guessed at, since it may be a dollar figure from some other tool.
* Cache writes are split by TTL: ``cache_creation.ephemeral_5m_input_tokens``
  is ``cache_write`` (5-minute) and ``cache_creation.ephemeral_1h_input_tokens``
  is ``cache_write_1h``; ``cache_read_input_tokens`` is ``cached_input``,
  ``uncached_input_tokens`` ``input`` and ``output_tokens`` ``output``. Missing
  cache token types are the most common cause of reconciliation gaps.
* ``cost_type`` ``web_search`` is the ``web_search`` meter; ``code_execution``
  keeps no meter (the library has none for it) but stays a line.
* ``model``, ``token_type``, ``service_tier``, ``context_window`` and
  ``description`` are ``null`` unless the report was grouped by
  ``description``; ``workspace_id`` is ``null`` unless grouped by workspace
  (and for the default workspace). ``context_window`` (``0-200k`` /
  ``200k-1M``), ``inference_geo`` and ``speed`` are kept as tags of those
  names, since a long-context or fast request is priced differently.
* Priority Tier is not in this report (Anthropic documents it as billed
  differently); reconcile it from the usage report instead.

Source: Anthropic Admin API reference, "Get Cost Report":
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report and
the "Usage and Cost API" guide ("decimal strings in lowest units (cents)").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .._invoice import InvoiceLine
from .._records import SourceLocation
from ._common import (
    JsonSource,
    Where,
    bucket_period,
    cents_to_units,
    currency_code,
    json_documents,
    json_path,
)

__all__ = ["TOKEN_TYPES", "anthropic_cost_lines", "is_cost_report", "read_anthropic_cost_report"]

PROVIDER = "anthropic"

#: ``token_type`` -> library meter.
TOKEN_TYPES: Mapping[str, str] = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cached_input",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
}
#: ``cost_type`` values that are one meter by themselves.
_COST_TYPES: Mapping[str, str | None] = {"web_search": "web_search", "code_execution": None}
_TAG_FIELDS = ("context_window", "inference_geo", "speed")


def is_cost_report(doc: object) -> bool:
    """Whether ``doc`` looks like a cost report page (for format sniffing)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("data"), list):
        return False
    data = doc["data"]
    if not data:
        return "has_more" in doc
    first = data[0]
    if not isinstance(first, Mapping) or "starting_at" not in first:
        return False
    results = first.get("results") or []
    return not results or any(isinstance(r, Mapping) and "amount" in r for r in results)



def _text(result: Mapping[str, Any], key: str, path: str, where: Where) -> str | None:
    value = result.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise where.error(json_path(path, key), f"expected text, got {type(value).__name__} {value!r}")
    return value


def _result(result: object, path: str, start: date, end: date, where: Where) -> InvoiceLine:
    if not isinstance(result, Mapping):
        raise where.error(path, f"expected a cost result object, got {type(result).__name__}")
    raw = result.get("amount")
    apath = json_path(path, "amount")
    if raw is None:
        raise where.error(apath, "required amount is missing")
    if not isinstance(raw, str):
        raise where.error(apath, f"amount must be a decimal string in cents (lowest currency unit), "
                                 f"got {type(raw).__name__} {raw!r}")
    try:
        cents = Decimal(raw.strip())
    except InvalidOperation:
        raise where.error(apath, f"not a decimal number: {raw!r}") from None
    if not cents.is_finite():
        raise where.error(apath, f"not a finite number: {raw!r}")
    try:
        currency = currency_code(result.get("currency"))
    except ValueError as exc:
        raise where.error(json_path(path, "currency"), f"{exc} (amounts are never assumed to be USD)") from None
    cost_type = _text(result, "cost_type", path, where)
    token_type = _text(result, "token_type", path, where)
    if cost_type == "tokens" or (cost_type is None and token_type is not None):
        meter = TOKEN_TYPES.get(token_type or "")
    else:
        meter = _COST_TYPES.get(cost_type or "")
    description = _text(result, "description", path, where)
    tags = {k: v for k in _TAG_FIELDS if (v := _text(result, k, path, where))}
    return InvoiceLine(
        provider=PROVIDER, period_start=start, period_end=end, amount=cents_to_units(cents), currency=currency,
        model=_text(result, "model", path, where), meter=meter, sku=description,
        project=_text(result, "workspace_id", path, where), service_tier=_text(result, "service_tier", path, where),
        description=description, tags=tags, source=SourceLocation(file=where.file, line=where.line, path=path),
    )


def _bucket(bucket: object, path: str, where: Where) -> list[InvoiceLine]:
    start, end = bucket_period(bucket, path, where, ("starting_at", "ending_at"), "time bucket")
    assert isinstance(bucket, Mapping)
    results = bucket.get("results")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise where.error(json_path(path, "results"), f"expected a list, got {type(results).__name__}")
    rpath = json_path(path, "results")
    return [_result(r, json_path(rpath, i), start, end, where) for i, r in enumerate(results)]


def anthropic_cost_lines(page: Mapping[str, Any], *, file: str | None = None, line: int | None = None,
                         path: str = "") -> list[InvoiceLine]:
    """The invoice lines of one cost report page already parsed (``{"data": [...]}``).

    Raises:
        InvoiceError: a bucket or result is malformed; names the JSON path.
    """
    where = Where(file, line)
    if not isinstance(page, Mapping):
        raise where.error(path or "$", f"expected a cost report object, got {type(page).__name__}")
    data = page.get("data")
    if not isinstance(data, list):
        raise where.error(json_path(path, "data"), "a cost report page needs a 'data' list of time buckets")
    lines: list[InvoiceLine] = []
    dpath = json_path(path, "data")
    for i, bucket in enumerate(data):
        lines.extend(_bucket(bucket, json_path(dpath, i), where))
    return lines


def read_anthropic_cost_report(source: JsonSource, *, file: str | None = None) -> list[InvoiceLine]:
    """Read Anthropic cost report pages: ``.json`` (a page or a list of pages), ``.jsonl``, or parsed objects.

    >>> page = {"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
    ...     "results": [{"amount": "123.78912", "currency": "USD", "cost_type": "tokens",
    ...                  "token_type": "cache_creation.ephemeral_1h_input_tokens",
    ...                  "model": "claude-sonnet-4-20250514", "service_tier": "standard"}]}],
    ...     "has_more": False, "next_page": None}
    >>> [line] = read_anthropic_cost_report(page)
    >>> line.amount, line.meter, str(line.period_start), str(line.period_end)
    (Decimal('1.2378912'), 'cache_write_1h', '2025-08-01', '2025-08-02')

    Raises:
        InvoiceError: unreadable file, invalid JSON, or a malformed bucket or
            result (file, line for JSONL, and the JSON path as the column).
    """
    lines: list[InvoiceLine] = []
    for doc in json_documents(source, file=file):
        lines.extend(anthropic_cost_lines(doc.value, file=doc.file, line=doc.line, path=doc.path))
    return lines
