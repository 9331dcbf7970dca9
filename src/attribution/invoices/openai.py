"""OpenAI: organization Costs API pages (``GET /v1/organization/costs``).

A page is ``{"object": "page", "data": [bucket, ...], "has_more", "next_page"}``;
each bucket (``"object": "bucket"``) covers one day, ``[start_time, end_time)``
in Unix seconds, and holds ``results`` of ``"object":
"organization.costs.result"``::

    {"object": "organization.costs.result",
     "amount": {"value": 0.06, "currency": "usd"},
     "line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_abc"}

OpenAI says this endpoint, not the Usage API, is what matches the invoice.
Quirks handled here:

* ``amount.value`` is **dollars** as a JSON number: it is read as ``Decimal``
  straight from the JSON text (a string value is accepted too), never through
  ``float``; ``currency`` is lower case (``"usd"``) and is upper-cased.
* ``line_item`` (present with ``group_by=line_item``) is free text such as
  ``"gpt-4o-2024-08-06, input"``, ``"gpt-4o-mini-2024-07-18, cached input"``,
  ``"priority | gpt-5, output, long context"``, ``"gpt-audio-mini audio,
  input"``, ``"whisper-1, audio"``, ``"web search tool calls"`` or
  ``"Vector storage"``. The model, the meter and the service tier are read
  from it where recognisable (:func:`parse_line_item`); the text itself is
  kept as ``sku`` and ``description`` whatever it says, so an unrecognised
  line is never lost, only left without a meter.
* ``project_id`` (``group_by=project_id``) becomes ``project``; ``api_key_id``
  (``group_by=api_key_id``) the ``api_key_id`` tag; a ``quantity`` (token
  count, when the API returns one) becomes ``quantity`` in ``tokens``.
* One bucket is one charge day: the line's period is the bucket's UTC days.

Source: OpenAI API reference, "Costs" (``/organization/costs``) and "Costs
object": https://platform.openai.com/docs/api-reference/usage/costs
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .._invoice import InvoiceLine
from .._records import SourceLocation
from .._usage import TOKEN_METERS
from ._common import (
    JsonSource,
    Where,
    bucket_period,
    currency_code,
    json_documents,
    json_path,
    parse_decimal,
    token_meter,
)

__all__ = ["LineItem", "is_costs_page", "openai_costs_lines", "parse_line_item", "read_openai_costs"]

PROVIDER = "openai"

_TIER_PREFIX = re.compile(r"^\s*([A-Za-z][\w-]*)\s*\|\s*(.*)$", re.S)
_MODALITIES = ("audio", "image", "text")
_TIERS = ("batch", "flex", "priority", "scale")


@attrs.frozen(slots=True)
class LineItem:
    """What :func:`parse_line_item` reads from a Costs API ``line_item``."""

    model: str | None = None
    meter: str | None = None
    service_tier: str | None = None
    long_context: bool = False


def _looks_like_model(text: str) -> bool:
    return " " not in text and any(c.isdigit() for c in text) and "-" in text


def parse_line_item(text: str | None) -> LineItem:
    """Model, meter and tier from a Costs API ``line_item``, as far as it says.

    >>> parse_line_item("gpt-4o-2024-08-06, input")
    LineItem(model='gpt-4o-2024-08-06', meter='input', service_tier=None, long_context=False)
    >>> parse_line_item("gpt-4o-mini-2024-07-18, batch cached input")
    LineItem(model='gpt-4o-mini-2024-07-18', meter='cached_input', service_tier='batch', long_context=False)
    >>> parse_line_item("priority | gpt-5.4, output, long context")
    LineItem(model='gpt-5.4', meter='output', service_tier='priority', long_context=True)
    >>> parse_line_item("gpt-audio-mini-2025-12-15 audio, input").meter
    'input_audio'
    >>> parse_line_item("web search tool calls")
    LineItem(model=None, meter='web_search', service_tier=None, long_context=False)
    >>> parse_line_item("file search tool calls")
    LineItem(model=None, meter=None, service_tier=None, long_context=False)
    """
    if not text or not text.strip():
        return LineItem()
    tier: str | None = None
    rest = text.strip()
    if m := _TIER_PREFIX.match(rest):
        tier, rest = m.group(1).lower(), m.group(2).strip()
    parts = [p.strip() for p in rest.split(",")]
    head, descriptors = parts[0], [p.lower() for p in parts[1:] if p]
    if not descriptors:
        low = head.lower()
        if "web search" in low:
            return LineItem(meter="web_search", service_tier=tier)
        return LineItem(model=head if _looks_like_model(head) else None, service_tier=tier)
    words = head.split()
    modality = None
    if len(words) > 1 and words[-1].lower() in _MODALITIES:
        modality = words[-1].lower()
        words = words[:-1]
    model = "-".join(words)
    said = set(" ".join(descriptors).split())
    for t in _TIERS:
        if t in said:
            tier = t
    long_context = "long" in said and "context" in said
    if "training" in said:
        return LineItem(model=model, service_tier=tier, long_context=long_context)
    direction = "input" if "input" in said else "output" if "output" in said else None
    cache_write = ("cache" in said or "cached" in said) and bool({"write", "writes"} & said)
    cached = "cached" in said and not cache_write
    meter = token_meter(direction, modality=modality, cached=cached, cache_write=cache_write)
    return LineItem(model=model, meter=meter, service_tier=tier, long_context=long_context)


def is_costs_page(doc: object) -> bool:
    """Whether ``doc`` looks like a Costs API page or bucket (for format sniffing)."""
    if not isinstance(doc, Mapping):
        return False
    if doc.get("object") == "bucket":
        return True
    data = doc.get("data")
    if doc.get("object") != "page" or not isinstance(data, list):
        return False
    if not data:
        return True
    first = data[0]
    return isinstance(first, Mapping) and first.get("object") == "bucket" and "start_time" in first and (
        any(isinstance(r, Mapping) and (r.get("object") == "organization.costs.result" or "amount" in r)
            for r in first.get("results") or [])
        or not first.get("results"))



def _bucket(bucket: object, path: str, where: Where) -> list[InvoiceLine]:
    start, end = bucket_period(bucket, path, where, ("start_time", "end_time"), "bucket")
    assert isinstance(bucket, Mapping)
    key = "results" if "results" in bucket else "result"
    results = bucket.get(key)
    if results is None:
        results = []
    if not isinstance(results, list):
        raise where.error(json_path(path, key), f"expected a list of results, got {type(results).__name__}")
    return [_result(r, json_path(json_path(path, key), i), start, end, where) for i, r in enumerate(results)]


def _text(result: Mapping[str, Any], key: str, path: str, where: Where) -> str | None:
    value = result.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise where.error(json_path(path, key), f"expected text, got {type(value).__name__} {value!r}")
    return value


def _result(result: object, path: str, start: Any, end: Any, where: Where) -> InvoiceLine:
    if not isinstance(result, Mapping):
        raise where.error(path, f"expected a costs result object, got {type(result).__name__}")
    amount = result.get("amount")
    apath = json_path(path, "amount")
    if not isinstance(amount, Mapping):
        raise where.error(apath, "required amount object {value, currency} is missing")
    if amount.get("value") is None:
        raise where.error(json_path(apath, "value"), "required amount is missing")
    try:
        value = parse_decimal(amount["value"])
    except ValueError as exc:
        raise where.error(json_path(apath, "value"), str(exc)) from None
    currency = amount.get("currency")
    try:
        currency = currency_code(currency)
    except ValueError as exc:
        raise where.error(json_path(apath, "currency"), f"{exc} (amounts are never assumed to be USD)") from None
    line_item = _text(result, "line_item", path, where)
    parsed = parse_line_item(line_item)
    quantity = None
    if result.get("quantity") is not None:
        try:
            quantity = parse_decimal(result["quantity"])
        except ValueError as exc:
            raise where.error(json_path(path, "quantity"), str(exc)) from None
    tags = {}
    if api_key := _text(result, "api_key_id", path, where):
        tags["api_key_id"] = api_key
    if parsed.long_context:
        tags["context_window"] = "long"
    return InvoiceLine(
        provider=PROVIDER, period_start=start, period_end=end, amount=value,
        currency=currency, model=parsed.model, meter=parsed.meter, sku=line_item,
        project=_text(result, "project_id", path, where), account=_text(result, "organization_id", path, where),
        service_tier=parsed.service_tier, quantity=quantity,
        unit="tokens" if quantity is not None and parsed.meter in TOKEN_METERS else None,
        description=line_item, tags=tags, source=SourceLocation(file=where.file, line=where.line, path=path),
    )


def openai_costs_lines(page: Mapping[str, Any], *, file: str | None = None, line: int | None = None,
                       path: str = "") -> list[InvoiceLine]:
    """The invoice lines of one Costs API page (or one bare bucket) already parsed.

    Parse the JSON with ``parse_float=Decimal`` (as :func:`read_openai_costs`
    does): a ``float`` amount is rejected, since it may already have lost
    cents. ``file``, ``line`` and ``path`` locate the page in errors.

    Raises:
        InvoiceError: a bucket or result is malformed; names the JSON path.
    """
    where = Where(file, line)
    if not isinstance(page, Mapping):
        raise where.error(path or "$", f"expected a Costs API page object, got {type(page).__name__}")
    if page.get("object") == "bucket":
        return _bucket(page, path, where)
    data = page.get("data")
    if not isinstance(data, list):
        raise where.error(json_path(path, "data"), "a Costs API page needs a 'data' list of buckets")
    lines: list[InvoiceLine] = []
    for i, bucket in enumerate(data):
        lines.extend(_bucket(bucket, json_path(json_path(path, "data"), i), where))
    return lines


def read_openai_costs(source: JsonSource, *, file: str | None = None) -> list[InvoiceLine]:
    """Read OpenAI Costs API pages: a ``.json`` page (or a list of pages), ``.jsonl`` (one page a line), or parsed objects.

    Each result becomes one :class:`~attribution.InvoiceLine` for its bucket's
    day, with ``amount`` in dollars exactly as the JSON wrote it.

    >>> from decimal import Decimal
    >>> page = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200,
    ...     "end_time": 1730505600, "results": [{"object": "organization.costs.result",
    ...     "amount": {"value": Decimal("0.06"), "currency": "usd"},
    ...     "line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_abc"}]}],
    ...     "has_more": False, "next_page": None}
    >>> [line] = read_openai_costs(page)
    >>> line.amount, line.currency, line.model, line.meter, str(line.period_start)
    (Decimal('0.06'), 'USD', 'gpt-4o-2024-08-06', 'input', '2024-11-01')

    Raises:
        InvoiceError: unreadable file, invalid JSON, or a malformed bucket or
            result (file, line for JSONL, and the JSON path as the column).
    """
    lines: list[InvoiceLine] = []
    for doc in json_documents(source, file=file):
        lines.extend(openai_costs_lines(doc.value, file=doc.file, line=doc.line, path=doc.path))
    return lines

