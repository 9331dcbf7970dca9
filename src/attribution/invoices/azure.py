"""Azure: Cost Management export CSV (cost details / usage details) for Azure OpenAI and Foundry Models.

Exports differ by agreement and version: EA files use ``PascalCase``
(``CostInBillingCurrency``, ``BillingCurrencyCode``), MCA files ``camelCase``
(``costInBillingCurrency``, ``billingCurrency``), older usage files
``PreTaxCost``, ``UsageDateTime``, ``UsageQuantity``, ``Currency``,
``SubscriptionGuid``, ``InstanceId``. Column names are matched without regard
to case, spaces or underscores, and each field has its aliases.

=====================================  ===============================================
column                                 becomes
=====================================  ===============================================
``Date`` / ``UsageDate``               the charge day (``MM/DD/YYYY`` or ISO)
``CostInBillingCurrency`` / ``PreTaxCost``  ``amount``
``BillingCurrency`` / ``BillingCurrencyCode`` / ``Currency``  ``currency``
``MeterName``                          ``sku`` and ``description``; model, meter,
                                       deployment and tier read from it
``Quantity`` / ``UsageQuantity``       ``quantity``, in ``UnitOfMeasure`` (often 1K tokens)
``ChargeType``                         ``charge_category``
``SubscriptionId``                     ``project``; ``BillingAccountId`` is ``account``
``ResourceId`` / ``InstanceId``        the ``resource_id`` tag
``Tags``                               tags (JSON, with or without the outer braces)
=====================================  ===============================================

Only rows whose ``MeterCategory`` is an AI service are read by default
(``Cognitive Services``, ``Foundry Models``, ``Azure OpenAI``); pass
``meter_categories=None`` for every row.

Meter names are inconsistent across model versions: ``gpt-4o-0806-Inp-glbl``,
``gpt 4o 0513 Input global Tokens``, ``gpt 4.1 mini cached Inp glbl``,
``GPT 5 outpt Glbl 1M Tokens``, ``gpt-4-8K-Batch-Inp-glbl``, ``gpt-4-8K PTU
Inp Gl``, ``gpt-4o-mini-tts-aud-out-glbl``. :func:`parse_meter_name` reads
them word by word (best effort); the raw name is always kept in ``sku``.
Quantities of token meters are in the unit of measure, often **1K tokens**:
``unit`` records it and the quantity is never rescaled. The deployment type
(global, data zone, regional) is priced differently and becomes ``region``:
``global`` or ``datazone``, or the resource location for a regional one.

Sources: Microsoft Cost Management, "Understand the terms in your Azure usage
and charges file":
https://learn.microsoft.com/azure/cost-management-billing/automate/understand-usage-details-fields
and "Tutorial: Create and manage exported data":
https://learn.microsoft.com/azure/cost-management-billing/costs/tutorial-export-acm-data
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from decimal import Decimal

import attrs

from .._invoice import InvoiceLine
from ._common import PathLike, Record, csv_records, day_period, token_meter

__all__ = ["CHARGE_TYPES", "DEFAULT_METER_CATEGORIES", "AzureMeter", "azure_key", "azure_row_line",
           "parse_meter_name", "read_azure_costs"]

PROVIDER = "azure"

#: ``ChargeType`` -> charge category; any other type becomes an ``adjustment``
#: whose description starts with the type.
CHARGE_TYPES: Mapping[str, str] = {
    "usage": "usage", "purchase": "commitment", "refund": "refund", "unusedreservation": "commitment",
    "unusedsavingsplan": "commitment", "roundingadjustment": "adjustment", "tax": "tax", "credit": "credit",
}
#: ``MeterCategory`` values read by default.
DEFAULT_METER_CATEGORIES = ("Cognitive Services", "Foundry Models", "Azure OpenAI")

_INPUT = frozenset({"inp", "input", "inpt", "in"})
_OUTPUT = frozenset({"outp", "output", "outpt", "out"})
_CACHE = frozenset({"cached", "cache", "cchd", "cch"})
_AUDIO = frozenset({"aud", "audio"})
_IMAGE = frozenset({"img", "image"})
_TEXT = frozenset({"txt", "text"})
_DEPLOYMENT = {"glbl": "global", "global": "global", "gl": "global", "regnl": "regional", "regional": "regional",
               "reg": "regional", "dzone": "datazone", "datazone": "datazone", "dz": "datazone"}
_TIER = {"batch": "batch", "ptu": "provisioned"}
_STOP = _INPUT | _OUTPUT | _CACHE | _AUDIO | _IMAGE | _TEXT | set(_DEPLOYMENT) | set(_TIER)
_UNIT = re.compile(r"\b(\d+[KM]?)\s+tokens?\s*$", re.I)
_TOKENS = re.compile(r"\s+tokens?\s*$", re.I)


@attrs.frozen(slots=True)
class AzureMeter:
    """What :func:`parse_meter_name` reads from a ``MeterName``."""

    model: str | None = None
    meter: str | None = None
    deployment: str | None = None
    service_tier: str | None = None
    unit: str | None = None


def parse_meter_name(name: str | None) -> AzureMeter:
    """Model, meter, deployment type and tier from an Azure OpenAI meter name, best effort.

    >>> parse_meter_name("gpt-4o-0806-Inp-glbl 1K Tokens")
    AzureMeter(model='gpt-4o-0806', meter='input', deployment='global', service_tier=None, unit='1K tokens')
    >>> parse_meter_name("gpt 4o 0513 Input global Tokens")
    AzureMeter(model='gpt-4o-0513', meter='input', deployment='global', service_tier=None, unit=None)
    >>> parse_meter_name("gpt 4.1 mini cached Inp glbl").meter
    'cached_input'
    >>> parse_meter_name("gpt-4-8K-Batch-Inp-glbl Tokens").service_tier
    'batch'
    >>> parse_meter_name("gpt-4o-mini-tts-aud-out-glbl").meter
    'output_audio'
    """
    if not name or not name.strip():
        return AzureMeter()
    text = name.strip()
    unit = None
    if m := _UNIT.search(text):
        unit = f"{m.group(1).upper()} tokens"
        text = text[:m.start()]
    else:
        text = _TOKENS.sub("", text)
    words = [w for w in re.split(r"[\s\-_]+", text.lower()) if w]
    model_words = []
    for w in words:
        if w in _STOP:
            break
        model_words.append(w)
    said = set(words[len(model_words):])
    direction = "input" if said & _INPUT else "output" if said & _OUTPUT else None
    modality = "audio" if said & _AUDIO else "image" if said & _IMAGE else None
    meter = token_meter(direction, modality=modality, cached=bool(said & _CACHE))
    deployment = next((_DEPLOYMENT[w] for w in words[len(model_words):] if w in _DEPLOYMENT), None)
    tier = next((_TIER[w] for w in words if w in _TIER), None)
    # A name with no token class, deployment or tier word ("S1 Speech To Text")
    # is not a model meter: it keeps no model rather than a made-up one.
    recognised = meter is not None or deployment is not None or tier is not None
    return AzureMeter(model="-".join(model_words) or None if recognised else None, meter=meter,
                      deployment=deployment, service_tier=tier, unit=unit)


def azure_key(header: str) -> str:
    """A cost export column as looked up: ``CostInBillingCurrency`` and ``costInBillingCurrency`` alike."""
    return re.sub(r"[\s_]+", "", header.strip()).lower()


def _tags(record: Record) -> dict[str, str]:
    key, raw = record.raw("tags")
    if raw is None:
        return {}
    text = str(raw).strip()
    if not text.startswith("{"):
        text = "{" + text + "}"
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise record.error(key, f"tags are not a JSON object: {exc}") from None
    if not isinstance(value, Mapping):
        raise record.error(key, f"tags must be an object, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items() if v not in (None, "")}


def azure_row_line(record: Record, *, meter_categories: Collection[str] | None = DEFAULT_METER_CATEGORIES,
                   ) -> InvoiceLine | None:
    """The invoice line of one export row, or ``None`` for a row outside ``meter_categories``.

    Raises:
        InvoiceError: a required column is missing or malformed (names it).
    """
    if meter_categories is not None and record.has("metercategory"):
        category_name = record.text("metercategory") or ""
        if category_name.lower() not in {c.lower() for c in meter_categories}:
            return None
    day = record.must_instant("date", "usagedate", "usagedatetime", month_first=True)
    start, end = day_period(day, None)
    amount = record.must_decimal("costinbillingcurrency", "pretaxcost", "cost")
    currency = record.currency("billingcurrency", "billingcurrencycode", "currency")
    meter_name = record.text("metername")
    meter = parse_meter_name(meter_name)
    charge_type = record.text("chargetype") or "Usage"
    category = CHARGE_TYPES.get(charge_type.lower(), "adjustment")
    description = meter_name if charge_type.lower() in CHARGE_TYPES else f"{charge_type}: {meter_name or ''}".rstrip(": ")
    location = record.text("resourcelocation", "meterregion")
    region = meter.deployment if meter.deployment in ("global", "datazone") else location or meter.deployment
    tags = _tags(record)
    if resource := record.text("resourceid", "instanceid"):
        tags["resource_id"] = resource
    return InvoiceLine(
        provider=PROVIDER, period_start=start, period_end=end, amount=amount, currency=currency,
        charge_category=category, model=meter.model, meter=meter.meter, sku=meter_name,
        project=record.text("subscriptionid", "subscriptionguid"), account=record.text("billingaccountid"),
        service_tier=meter.service_tier, region=region, quantity=record.decimal("quantity", "usagequantity"),
        unit=record.text("unitofmeasure") or meter.unit, description=description or None,
        tags=tags, source=record.source(),
    )


def read_azure_costs(path: PathLike, *,
                     meter_categories: Collection[str] | None = DEFAULT_METER_CATEGORIES) -> list[InvoiceLine]:
    """Read an Azure Cost Management export CSV (``.csv``, ``.csv.gz`` or a one-file ``.zip``).

    Raises:
        InvoiceError: unreadable file, ragged row, or a malformed value (file,
            line counting the header as 1, and column).
    """
    lines = []
    for record in csv_records(path, azure_key):
        line = azure_row_line(record, meter_categories=meter_categories)
        if line is not None:
            lines.append(line)
    return lines
