"""FOCUS cost exports (FinOps Open Cost and Usage Specification 1.0 to 1.3), CSV or Parquet.

AWS (Data Exports, "FOCUS 1.0 with AWS columns"), Microsoft (Cost Management
"Cost and usage (FOCUS)"), Google Cloud (the FOCUS BigQuery view) and Oracle
(OCI cost reports) all export FOCUS. One file holds the whole cloud bill, so
this reader picks the rows that are LLM services and sums every other row
into one ``out_of_scope`` line per provider, service, currency and billing
period: they are counted and shown in the reconciliation (how many rows, how
much), never dropped and never reconciled.

A row is an AI service row when (first match wins):

=====================================================  ==============  =============================
the row says                                           provider        model and meter from
=====================================================  ==============  =============================
``ServiceName`` or ``x_ServiceCode`` has ``Bedrock``   ``bedrock``     ``x_UsageType``
(Marketplace models: ``Claude Sonnet 4.5 (Amazon                       (:func:`~attribution.invoices.parse_usage_type`)
Bedrock Edition)``)
``ServiceName`` ``Vertex AI``, ``Gemini API`` or       ``vertex`` /    ``ChargeDescription`` /
``Generative Language API``                            ``google``      ``x_SkuDescription`` (:func:`~attribution.invoices.parse_sku`)
a Microsoft row whose ``ServiceName`` names Azure      ``azure``       ``SkuMeter`` / ``x_SkuMeterName``
OpenAI or Foundry, or whose ``x_SkuMeterCategory`` is                  (:func:`~attribution.invoices.parse_meter_name`)
``Cognitive Services``/``Foundry Models``/``Azure
OpenAI`` or ``ServiceName`` is ``Azure AI Services``,
and whose meter names a token class
``ServiceSubcategory`` ``Generative AI`` (1.1+)        the service     ``SkuPriceDetails``
                                                       provider        ``ModelId``/``TokenDirection``/
                                                                       ``TokenCacheAction`` (1.3)
=====================================================  ==============  =============================

``SkuPriceDetails`` with the FOCUS 1.3 AI properties (``ModelId``,
``TokenDirection`` ``Input``/``Output``, ``TokenCacheAction``
``Uncached``/``Read``/``Write``) is used on any AI row that has it, ahead of
the provider-specific names (and ``x_Meter``, which this library's own FOCUS
export writes, ahead of both: so an export reads back as its own invoice).

Columns read (FOCUS names; a missing optional column reads as null):

==========================================  ===========================================
column                                      becomes
==========================================  ===========================================
``BilledCost`` (``cost="effective"``:       ``amount``; ``BilledCost`` is what the invoice
``EffectiveCost``)                          shows, ``EffectiveCost`` amortizes commitments
``BillingCurrency``                         ``currency`` (required, never assumed)
``ChargePeriodStart``/``ChargePeriodEnd``   the period, rounded out to UTC days
``ChargeCategory``                          ``usage``, ``commitment`` (Purchase), ``tax``,
                                            ``credit``, ``adjustment``; ``ChargeClass``
                                            ``Correction`` is kept as the ``correction`` tag
``PricingQuantity``/``PricingUnit``         ``quantity``/``unit`` (``ConsumedQuantity``
                                            when there is no pricing quantity)
``SubAccountId``                            ``project``; ``BillingAccountId`` is ``account``
``RegionId`` (else ``RegionName``)          ``region``
``SkuId``/``SkuPriceId``                    ``sku`` (the model's billing name when the
                                            row has one); ``line_id`` is
                                            ``x_LineItemId`` when the provider writes one
``Tags`` (a JSON object)                    tags (AWS's ``user:`` prefix removed);
                                            ``ResourceId`` is the ``resource_id`` tag
==========================================  ===========================================

Sources: the FOCUS specification (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec,
``specification/datasets/cost_and_usage/columns/*.md``; the AI billing sample
data ``specification/data/ai_prompt_caching/*.csv`` for the 1.3
``SkuPriceDetails`` properties); AWS "FOCUS 1.0 with AWS columns" table
dictionary (``x_ServiceCode``, ``x_UsageType``); Microsoft FinOps toolkit
``src/open-data/Services.csv`` (``Microsoft.CognitiveServices/accounts`` is
``Azure AI Services``, category ``AI and Machine Learning``); Google Cloud's
FOCUS view (``ChargeDescription`` is the SKU description).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from .._invoice import InvoiceLine
from .._usage import METERS
from ..exceptions import InvoiceError, MissingDependency
from ._common import PathLike, Record, base_suffix, csv_header, csv_records, day_period, token_meter
from .aws import model_from_billing_name, parse_usage_type
from .azure import parse_meter_name
from .gcp import parse_sku

__all__ = ["CHARGE_CATEGORIES", "FOCUS_COLUMNS", "ai_service", "focus_row_line", "is_focus_header", "read_focus"]

#: ``ChargeCategory`` -> charge category (FOCUS 1.0-1.3 allowed values).
CHARGE_CATEGORIES: Mapping[str, str] = {
    "usage": "usage", "purchase": "commitment", "tax": "tax", "credit": "credit", "adjustment": "adjustment",
}
#: The columns that make a file a FOCUS cost and usage dataset (mandatory since 1.0).
FOCUS_COLUMNS = ("BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargeCategory", "ServiceName")

_VERTEX = {"vertex ai": "vertex", "gemini api": "google", "generative language api": "google"}
_AZURE_SERVICES = frozenset({"azure openai", "azure openai service", "azure ai foundry", "foundry models",
                             "azure ai foundry models", "microsoft foundry"})
_AZURE_MAYBE = frozenset({"azure ai services", "cognitive services", "azure cognitive services",
                          "azure machine learning"})
_AZURE_METER_CATEGORIES = frozenset({"cognitive services", "foundry models", "azure openai"})
#: FOCUS service provider names of the direct LLM APIs -> library provider ids (1.3 ``Generative AI`` rows).
_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "google": "google", "mistral ai": "mistral",
                 "mistral": "mistral", "cohere": "cohere", "deepseek": "deepseek", "xai": "xai",
                 "fireworks ai": "fireworks", "groq": "groq", "together ai": "together"}


def is_focus_header(columns: object) -> bool:
    """Whether a header (CSV cells or Parquet column names) is a FOCUS cost and usage dataset's.

    >>> is_focus_header(["BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargeCategory", "ServiceName"])
    True
    """
    names = {str(c).strip() for c in columns} if isinstance(columns, (list, tuple, set)) else set()
    return set(FOCUS_COLUMNS) <= names


def _lower(text: str | None) -> str:
    return (text or "").strip().lower()


def _price_details(record: Record) -> Mapping[str, Any]:
    if not record.has("SkuPriceDetails"):
        return {}
    _, raw = record.raw("SkuPriceDetails")
    if raw is None:
        return {}
    value = record.json_value("SkuPriceDetails")
    if not isinstance(value, Mapping):
        raise record.error("SkuPriceDetails", f"expected a JSON object, got {type(value).__name__}")
    return value


def ai_service(record: Record) -> str | None:
    """The library provider of an AI service row, or ``None`` for a row out of scope.

    >>> from attribution.invoices._common import Record
    >>> row = lambda **v: Record(values=v, names={}, file=None, line=None)
    >>> ai_service(row(ServiceName="Amazon Bedrock", ProviderName="AWS"))
    'bedrock'
    >>> ai_service(row(ServiceName="Claude Sonnet 4.5 (Amazon Bedrock Edition)", ProviderName="AWS"))
    'bedrock'
    >>> ai_service(row(ServiceName="Azure AI Services", ProviderName="Microsoft", SkuMeter="gpt-4o-0806-Inp-glbl"))
    'azure'
    >>> ai_service(row(ServiceName="Azure AI Services", ProviderName="Microsoft", SkuMeter="S1 Speech To Text"))
    >>> ai_service(row(ServiceName="Vertex AI", ProviderName="Google Cloud")), ai_service(row(ServiceName="Amazon EC2"))
    ('vertex', None)
    """
    service = _lower(record.text("ServiceName"))
    if "bedrock" in service or "bedrock" in _lower(record.text("x_ServiceCode")):
        return "bedrock"
    if service in _VERTEX:
        return _VERTEX[service]
    provider = _lower(record.text("ServiceProviderName", "ProviderName", "HostProviderName", "InvoiceIssuerName"))
    if "microsoft" in provider or "azure" in provider:
        if service in _AZURE_SERVICES:
            return "azure"
        category = _lower(record.text("x_SkuMeterCategory"))
        if service in _AZURE_MAYBE or category in _AZURE_METER_CATEGORIES:
            meter = record.text("SkuMeter", "x_SkuMeterName", "x_SkuDescription")
            if parse_meter_name(meter).meter is not None or _ai_details(record):
                return "azure"
        return None
    if _lower(record.text("ServiceSubcategory")) == "generative ai":
        return _PROVIDER_IDS.get(provider, provider.replace(" ", "-") or None)
    return None


def _ai_details(record: Record) -> Mapping[str, Any] | None:
    details = _price_details(record)
    return details if ("ModelId" in details or "TokenDirection" in details) else None


def _details_meter(details: Mapping[str, Any]) -> str | None:
    own = details.get("x_Meter")   # this library's own export says the meter outright (audio, 1-hour writes)
    if isinstance(own, str) and own in METERS:
        return own
    direction = _lower(str(details.get("TokenDirection") or ""))
    action = _lower(str(details.get("TokenCacheAction") or ""))
    return token_meter(direction or None, cached=action == "read", cache_write=action == "write")


def _tags(record: Record) -> dict[str, str]:
    tags: dict[str, str] = {}
    if record.has("Tags") and record.raw("Tags")[1] is not None:
        value = record.json_value("Tags")
        if not isinstance(value, Mapping):
            raise record.error("Tags", f"expected a JSON object of tag keys and values, got {type(value).__name__}")
        for key, item in value.items():
            if item in (None, ""):
                continue
            name = str(key)
            for prefix in ("user:", "user_"):
                if name.startswith(prefix) and len(name) > len(prefix):
                    name = name[len(prefix):]
            tags[name] = item if isinstance(item, str) else json.dumps(item, default=str)
    if resource := record.text("ResourceId"):
        tags["resource_id"] = resource
    if _lower(record.text("ChargeClass")) == "correction":
        tags["correction"] = "true"
    return tags


def _period(record: Record) -> tuple[date, date]:
    start = record.must_instant("ChargePeriodStart")
    end = record.instant("ChargePeriodEnd")
    try:
        return day_period(start, end)
    except ValueError as exc:
        raise record.error("ChargePeriodEnd", str(exc)) from None


def _category(record: Record) -> str:
    text = record.must_text("ChargeCategory")
    category = CHARGE_CATEGORIES.get(text.lower())
    if category is None:
        raise record.error("ChargeCategory", f"must be one of Usage, Purchase, Tax, Credit, Adjustment (FOCUS), "
                                             f"got {text!r}")
    return category


def _amount(record: Record, cost: str) -> Decimal:
    return record.must_decimal("EffectiveCost" if cost == "effective" else "BilledCost")


def focus_row_line(record: Record, *, cost: Literal["billed", "effective"] = "billed") -> InvoiceLine | None:
    """The invoice line of one AI service row, or ``None`` for a row out of scope (see :func:`ai_service`).

    Raises:
        InvoiceError: a required column is missing or malformed (names file, line and column).
    """
    provider = ai_service(record)
    if provider is None:
        return None
    amount = _amount(record, cost)
    period_start, period_end = _period(record)
    category = _category(record)
    model = meter = tier = sku = None
    tags = _tags(record)
    region = record.text("RegionId", "RegionName")
    details = _ai_details(record)
    if provider == "bedrock":
        usage_type = record.text("x_UsageType")
        usage = parse_usage_type(usage_type) if usage_type else None
        if usage is not None:
            meter, tier = usage.meter, usage.service_tier
            service = record.text("ServiceName")
            sku = service if usage.marketplace and service else usage.model_token
            model = model_from_billing_name(sku)
            if usage.cross_region:
                tags["cross_region"] = usage.cross_region
                if usage.cross_region == "global":
                    region = "global"
            if usage.long_context:
                tags["context_window"] = "long"
    elif provider == "azure":
        parsed = parse_meter_name(record.text("SkuMeter", "x_SkuMeterName", "x_SkuDescription"))
        model, meter, tier = parsed.model, parsed.meter, parsed.service_tier
        if parsed.deployment:
            tags["deployment"] = parsed.deployment
    elif provider in ("vertex", "google"):
        parsed_sku = parse_sku(record.text("x_SkuDescription", "ChargeDescription", "SkuMeter"))
        model, meter, tier = parsed_sku.model, parsed_sku.meter, parsed_sku.service_tier
        if parsed_sku.long_context:
            tags["context_window"] = "long"
    if details is not None:
        model = str(details["ModelId"]) if details.get("ModelId") else model
        meter = _details_meter(details) or meter
    quantity = record.decimal("PricingQuantity")
    unit = record.text("PricingUnit")
    if quantity is None:
        quantity, unit = record.decimal("ConsumedQuantity"), record.text("ConsumedUnit")
    return InvoiceLine(
        provider=provider, period_start=period_start, period_end=period_end, amount=amount,
        currency=record.currency("BillingCurrency"), charge_category=category, model=model, meter=meter,
        sku=sku or record.text("SkuId", "SkuPriceId"), project=record.text("SubAccountId"),
        account=record.text("BillingAccountId"), service_tier=tier, region=region, quantity=quantity, unit=unit,
        description=record.text("ChargeDescription"), line_id=record.text("x_LineItemId"), tags=tags,
        source=record.source(),
    )


class _OutOfScope:
    """Rows that are not AI services, summed per provider, service, currency and billing period."""

    def __init__(self, cost: str) -> None:
        self.cost = cost
        self.groups: dict[tuple[str, str, str, date, date], list[Any]] = {}

    def add(self, record: Record) -> None:
        amount = _amount(record, self.cost)
        currency = record.currency("BillingCurrency")
        start = record.instant("BillingPeriodStart")
        if start is not None:
            try:
                first, last = day_period(start, record.instant("BillingPeriodEnd"))
            except ValueError as exc:
                raise record.error("BillingPeriodEnd", str(exc)) from None
        else:   # no billing period (it is mandatory, but not every file has it): the charge's calendar month
            day = _period(record)[0]
            first = day.replace(day=1)
            last = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
        provider = record.text("ServiceProviderName", "ProviderName", "InvoiceIssuerName") or "unknown"
        service = record.text("ServiceName") or "(no service name)"
        key = (provider, service, currency, first, last)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [Decimal(0), 0, record.source()]
        group[0] += amount
        group[1] += 1

    def lines(self) -> list[InvoiceLine]:
        return [InvoiceLine(provider=provider, period_start=first, period_end=last, amount=amount, currency=currency,
                            charge_category="out_of_scope", sku=service, quantity=Decimal(rows), unit="rows",
                            description=f"{rows:,} FOCUS rows of {service} ({provider}): not an AI service",
                            source=source)
                for (provider, service, currency, first, last), (amount, rows, source) in sorted(
                    self.groups.items(), key=lambda kv: (kv[0][2], -abs(kv[1][0]), kv[0]))]


def _parquet_value(value: object) -> object:
    # A Parquet double is taken at its shortest decimal text, never as a binary float; decimals stay exact.
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Mapping, list)):
        return json.dumps(dict(value) if isinstance(value, Mapping) else
                          {str(k): v for k, v in value} if all(isinstance(p, tuple) for p in value) else value,
                          default=str)
    return value


def _parquet_records(path: PathLike, batch_size: int = 65_536) -> Iterator[Record]:
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MissingDependency("reading a FOCUS Parquet export", "arrow", "pyarrow") from None
    file = str(path)
    try:
        batches = pq.ParquetFile(file).iter_batches(batch_size=batch_size)
    except Exception as exc:  # pyarrow raises its own OSError/ArrowInvalid subclasses
        raise InvoiceError(f"cannot read Parquet: {exc}", file=file) from None
    number = 0
    names: dict[str, str] = {}
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            if not names:
                names = {k: k for k in row}
            yield Record(values={k: _parquet_value(v) for k, v in row.items()}, names=names, file=file, line=number)


def parquet_columns(path: PathLike) -> list[str]:
    """The column names of a Parquet file (empty when pyarrow is absent or the file is unreadable)."""
    try:
        pq = importlib.import_module("pyarrow.parquet")
        return list(pq.read_schema(str(path)).names)
    except Exception:  # no pyarrow, or not a Parquet file: the caller sniffs another way
        return []


def read_focus(path: PathLike, *, cost: Literal["billed", "effective"] = "billed") -> list[InvoiceLine]:
    """Read a FOCUS 1.0-1.3 cost export (CSV, ``.csv.gz``/``.zip``, or Parquet with the ``arrow`` extra).

    AI service rows become invoice lines (see the module docstring); every
    other row is summed into one ``out_of_scope`` line per provider, service,
    currency and billing period, whose ``quantity`` is the number of rows
    (``unit`` ``rows``). Those lines are shown by the reconciliation and
    never matched or added to the invoiced usage.

    >>> import csv, io, tempfile, os
    >>> rows = [["BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    ...          "ServiceName", "ProviderName", "x_UsageType"],
    ...         ["1.25", "USD", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "Usage", "Amazon Bedrock", "AWS",
    ...          "USE1-Claude4.6Sonnet-input-tokens"],
    ...         ["40.00", "USD", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "Usage", "Amazon EC2", "AWS", ""]]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "focus.csv")
    ...     with open(path, "w", newline="") as fh:
    ...         csv.writer(fh).writerows(rows)
    ...     lines = read_focus(path)
    >>> [(x.provider, x.charge_category, x.model, x.meter, x.amount) for x in lines]
    [('bedrock', 'usage', 'anthropic.claude-sonnet-4-6', 'input', Decimal('1.25')), ('AWS', 'out_of_scope', None, None, Decimal('40.00'))]

    Raises:
        InvoiceError: the file is not FOCUS (a mandatory column is missing),
            unreadable, or a row is malformed (file, line counting the CSV
            header as 1 or the Parquet row from 1, and column).
        MissingDependency: a Parquet file without pyarrow installed.
    """
    if cost not in ("billed", "effective"):
        raise ValueError(f"cost must be 'billed' or 'effective', got {cost!r}")
    parquet = base_suffix(path) == ".parquet"
    header = parquet_columns(path) if parquet else csv_header(path)
    if parquet and not header:
        next(_parquet_records(path), None)  # raises the right error: no pyarrow, or an unreadable file
    missing = [c for c in FOCUS_COLUMNS if c not in {h.strip() for h in header}]
    if missing:
        raise InvoiceError(f"not a FOCUS cost and usage export: missing column(s) {', '.join(missing)}",
                           file=str(path), line=None if parquet else 1, column=missing[0])
    records = _parquet_records(path) if parquet else csv_records(path, str.strip)
    lines: list[InvoiceLine] = []
    rest = _OutOfScope(cost)
    for record in records:
        line = focus_row_line(record, cost=cost)
        if line is None:
            rest.add(record)
        else:
            lines.append(line)
    return [*lines, *rest.lines()]
