"""Google Cloud: Cloud Billing export rows (BigQuery standard usage cost table) for Vertex AI and the Gemini API.

The export lands in BigQuery as ``gcp_billing_export_v1_<BILLING_ACCOUNT_ID>``;
get it out as newline-delimited JSON (``bq extract --destination_format
NEWLINE_DELIMITED_JSON``, nested fields kept), a JSON array, or as CSV from a
query that flattens it (``service.description``, ``sku.description``,
``usage.amount``...; ``labels`` and ``credits`` as JSON text, for instance
``TO_JSON_STRING(credits) AS credits``). CSV headers may use ``.`` or ``_``
between the parts (``sku.description`` or ``sku_description``).

Fields read:

=================================  =================================================
field                              becomes
=================================  =================================================
``service.description``            the provider: ``Vertex AI`` -> ``vertex``,
                                   ``Gemini API`` -> ``google`` (other services are
                                   skipped unless ``services=None``, then ``gcp``)
``sku.description``                ``sku`` and ``description``; model, meter and tier
                                   are read from it (:func:`parse_sku`)
``usage_start_time``/``_end_time`` the period, rounded out to UTC days
``cost``, ``currency``             ``amount`` (gross, before credits), ``currency``
``credits[]``                      one ``credit`` line each: net = cost + credits
``cost_type``                      ``regular`` usage, ``tax``, ``adjustment``,
                                   ``rounding error`` (an adjustment)
``usage.amount``, ``usage.unit``   ``quantity``, ``unit``
``project.id``                     ``project``; ``billing_account_id`` is ``account``
``location.region``                ``region``
``labels[]`` (``key``/``value``)   tags
=================================  =================================================

Each token class has its own SKU ("Gemini 2.5 Pro Text Input - Predictions",
"... Text Output ...", "... Input Text Caching (Long)", "... Thinking Text
Output ...", "Generate content input token count gemini 2.5 flash text",
"Grounding with Google Search"), so one SKU is one meter. Credits (free tier,
promotions, committed-use discounts) sit in a separate array: they are kept
as separate ``credit`` lines so nothing is netted silently. Amounts are never
converted: ``currency_conversion_rate`` is not applied.

Source: Google Cloud Billing, "Structure of Standard data export":
https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

import attrs

from .._invoice import InvoiceLine
from .._records import SourceLocation
from ..exceptions import InvoiceError
from ._common import (
    PathLike,
    Record,
    base_suffix,
    csv_records,
    day_period,
    iter_mappings,
    json_documents,
    parse_decimal,
    split_words,
    token_meter,
)

__all__ = ["DEFAULT_SERVICES", "SERVICE_PROVIDERS", "Sku", "gcp_key", "gcp_row_lines", "parse_sku",
           "read_gcp_billing"]

#: ``service.description`` -> provider name.
SERVICE_PROVIDERS: Mapping[str, str] = {
    "vertex ai": "vertex",
    "gemini api": "google",
    "generative language api": "google",
}
#: The services read by default.
DEFAULT_SERVICES = ("Vertex AI", "Gemini API", "Generative Language API")

COST_TYPES: Mapping[str, str] = {
    "regular": "usage", "tax": "tax", "adjustment": "adjustment", "rounding error": "adjustment",
}

_MODEL_STOP = frozenset({
    "text", "input", "output", "thinking", "cached", "caching", "cache", "audio", "image", "video", "ga",
    "predictions", "prediction", "batch", "priority", "flex", "long", "short", "token", "tokens", "count",
    "storage", "with", "for", "on", "tuning", "training", "character", "characters", "read", "write",
})


@attrs.frozen(slots=True)
class Sku:
    """What :func:`parse_sku` reads from a SKU description."""

    model: str | None = None
    meter: str | None = None
    service_tier: str | None = None
    long_context: bool = False


def _model(words: list[str]) -> str | None:
    for family in ("gemini", "claude", "gemma", "imagen", "veo"):
        if family in words:
            i = words.index(family)
            parts: list[str] = [family]
            for w in words[i + 1:]:
                if w in _MODEL_STOP:
                    break
                parts.append(w)
            return "-".join(parts)
    return None


def parse_sku(description: str | None) -> Sku:
    """Model, meter and tier from a Vertex AI or Gemini API SKU description, as far as it says.

    >>> parse_sku("Gemini 2.5 Pro Text Input - Predictions")
    Sku(model='gemini-2.5-pro', meter='input', service_tier=None, long_context=False)
    >>> parse_sku("Gemini 2.5 Flash Thinking Text Output - Batch Predictions")
    Sku(model='gemini-2.5-flash', meter='output', service_tier='batch', long_context=False)
    >>> parse_sku("Gemini 2.5 Pro Input Text Caching (Long)")
    Sku(model='gemini-2.5-pro', meter='cached_input', service_tier=None, long_context=True)
    >>> parse_sku("Generate content input token count gemini 2.5 flash lite text").model
    'gemini-2.5-flash-lite'
    >>> parse_sku("Grounding with Google Search").meter
    'web_search'
    >>> parse_sku("Gemini 2.5 Flash Input Text Caching Storage").meter is None
    True
    """
    if not description or not description.strip():
        return Sku()
    words = split_words(description)
    said = set(words)
    tier = next((t for t in ("batch", "flex", "priority") if t in said), None)
    long_context = "long" in said
    model = _model(words)
    if "storage" in said or "hours" in said or "hour" in said:
        return Sku(model=model, service_tier=tier, long_context=long_context)
    if "grounding" in said or ("search" in said and "google" in said):
        return Sku(model=model, meter="web_search", service_tier=tier)
    direction = next((w for w in words if w in ("input", "output")), None)
    if "thinking" in said:
        direction = "output"
    modality = next((m for m in ("audio", "image") if m in said), None)
    cache_write = "cache" in said and "write" in said
    cached = not cache_write and ("cached" in said or "caching" in said or ("cache" in said and "read" in said))
    meter = token_meter(direction, modality=modality, cached=cached, cache_write=cache_write,
                        one_hour=bool({"1h", "1hr"} & said))
    return Sku(model=model, meter=meter, service_tier=tier, long_context=long_context)


def gcp_key(header: str) -> str:
    """A billing export column as looked up: ``Sku.Description`` -> ``sku_description``."""
    return header.strip().lower().replace(".", "_").replace(" ", "_")


def _labels(record: Record) -> dict[str, str]:
    if not record.has("labels"):
        return {}
    tags = {}
    for label in iter_mappings(record.json_value("labels"), record, "labels"):
        key, value = label.get("key"), label.get("value")
        if isinstance(key, str) and key and value not in (None, ""):
            tags[key] = str(value)
    return tags


def gcp_row_lines(record: Record, *, services: Collection[str] | None = DEFAULT_SERVICES) -> list[InvoiceLine]:
    """The usage (or tax/adjustment) line of one export row, followed by one line per credit.

    Returns ``[]`` for a row of a service not in ``services``.

    Raises:
        InvoiceError: a required field is missing or malformed (names it).
    """
    service = record.must_text("service_description", "service")
    if services is not None and service.lower() not in {s.lower() for s in services}:
        return []
    provider = SERVICE_PROVIDERS.get(service.lower(), "gcp")
    start = record.must_instant("usage_start_time")
    end = record.instant("usage_end_time")
    try:
        period_start, period_end = day_period(start, end)
    except ValueError as exc:
        raise record.error("usage_end_time", str(exc)) from None
    cost = record.must_decimal("cost")
    currency = record.currency("currency")
    sku_text = record.text("sku_description", "sku")
    sku = parse_sku(sku_text)
    cost_type = (record.text("cost_type") or "regular").lower()
    category = COST_TYPES.get(cost_type, "adjustment")
    description = sku_text if cost_type in COST_TYPES else f"{cost_type}: {sku_text or ''}".rstrip(": ")
    tags = _labels(record)
    if sku.long_context:
        tags["context_window"] = "long"
    common: dict[str, Any] = {
        "provider": provider, "period_start": period_start, "period_end": period_end, "currency": currency,
        "model": sku.model, "meter": sku.meter, "sku": sku_text, "project": record.text("project_id"),
        "account": record.text("billing_account_id"), "service_tier": sku.service_tier,
        "region": record.text("location_region", "location_location"), "tags": tags,
    }
    lines = [InvoiceLine(amount=cost, charge_category=category, quantity=record.decimal("usage_amount"),
                         unit=record.text("usage_unit"), description=description, source=record.source(),
                         **common)]
    if record.has("credits"):
        for i, credit in enumerate(iter_mappings(record.json_value("credits"), record, "credits")):
            where = f"{record.column('credits')}[{i}]"
            if credit.get("amount") is None:
                raise InvoiceError("credit amount is missing", file=record.file, line=record.line,
                                   column=f"{where}.amount")
            try:
                amount = parse_decimal(credit["amount"])
            except ValueError as exc:
                raise InvoiceError(str(exc), file=record.file, line=record.line, column=f"{where}.amount") from None
            name = credit.get("full_name") or credit.get("name")
            kind = credit.get("type")
            label = ": ".join(str(p) for p in (kind, name) if p)
            credit_id = credit.get("id")
            lines.append(InvoiceLine(
                amount=amount, charge_category="credit", description=label or "credit",
                line_id=str(credit_id) if credit_id else None,
                source=SourceLocation(file=record.file, line=record.line, path=where), **common))
    return lines


def _flatten(value: Mapping[str, Any], prefix: str = "", dotted: str = "") -> Iterator[tuple[str, str, Any]]:
    for key, item in value.items():
        name, path = f"{prefix}{key}".lower(), f"{dotted}{key}"
        if isinstance(item, Mapping):
            yield from _flatten(item, f"{name}_", f"{path}.")
        else:
            yield name, path, item


def _json_records(path: PathLike) -> Iterator[Record]:
    for doc in json_documents(path):
        if not isinstance(doc.value, Mapping):
            raise InvoiceError(f"expected a billing export row object, got {type(doc.value).__name__}",
                               file=doc.file, line=doc.line, column=doc.path or None)
        flat = list(_flatten(doc.value))
        yield Record(values={k: v for k, _, v in flat}, names={k: p for k, p, _ in flat}, file=doc.file,
                     line=doc.line, path=doc.path or None)


def read_gcp_billing(path: PathLike, *, services: Collection[str] | None = DEFAULT_SERVICES) -> list[InvoiceLine]:
    """Read Cloud Billing export rows: ``.jsonl``/``.ndjson`` or ``.json`` (nested) or ``.csv`` (flattened).

    Each row gives its usage line (gross ``cost``) and one ``credit`` line per
    entry of ``credits``, in the row's own currency. Rows of other services
    than ``services`` (Vertex AI and the Gemini API by default) are skipped;
    ``services=None`` reads every row.

    Raises:
        InvoiceError: unreadable file or a malformed row (file, line, column).
    """
    records: Iterator[Record]
    if base_suffix(path) == ".csv":
        records = csv_records(path, gcp_key)
    else:
        records = _json_records(path)
    lines: list[InvoiceLine] = []
    for record in records:
        lines.extend(gcp_row_lines(record, services=services))
    return lines
