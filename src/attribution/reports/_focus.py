"""FOCUS 1.3 export: the audit's charges as a FinOps Open Cost and Usage Specification dataset.

One CSV row per charge line (priced usage at the grain of a bill line: one UTC
day, model, meter, unit price and owner), so a FinOps tool that reads FOCUS
(cloud cost platforms, the FinOps Foundation's tooling, a warehouse model)
can put LLM spend next to cloud spend. When the report has an
:class:`~attribution.Allocation`, shared cost is written the way FOCUS 1.3
writes *data generator-calculated split cost allocation*: the charge a pool
takes (its *origin charge*) is replaced by *allocated charges*, one per owner
sharing it, that carry the allocation columns and add up exactly to the origin.

Source: the FOCUS 1.3 specification (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec,
``specification/datasets/cost_and_usage/columns/*.md`` and the 1.3
requirements model ``specification/requirements_model/model_rules/datasets/
cost_and_usage/costandusage.json``, rules ``CAU-CostAndUsage-D-0xx``).

Columns written (Cost and Usage dataset):

* **Mandatory** (``MUST be present``): BilledCost, BillingAccountId,
  BillingAccountName, BillingCurrency, BillingPeriodEnd, BillingPeriodStart,
  ChargeCategory, ChargeClass, ChargeDescription, ChargePeriodEnd,
  ChargePeriodStart, ContractedCost, EffectiveCost, HostProviderName (new in
  1.3), InvoiceIssuerName, ListCost, PricingQuantity, PricingUnit,
  ServiceCategory, ServiceName, ServiceProviderName (new in 1.3), and the two
  columns 1.3 deprecates but still requires, ProviderName and PublisherName.
* **Conditional**, present because their condition holds for LLM APIs:
  ConsumedQuantity and ConsumedUnit (usage is measured), ListUnitPrice and
  ContractedUnitPrice (unit prices are published), PricingCategory (more than
  one pricing category exists), SkuId, SkuMeter, SkuPriceDetails and
  SkuPriceId (unit pricing with price lists), RegionId and RegionName (some
  providers price by region), Tags (owner tags), and the 1.3 split cost
  allocation columns AllocatedMethodId, AllocatedMethodDetails,
  AllocatedResourceId, AllocatedResourceName and AllocatedTags (this library
  allocates shared cost).
* **Recommended**: ChargeFrequency, ServiceSubcategory, and InvoiceId, always null
  (usage data is not associated with an issued invoice, the case where the
  column MUST be null).
* **Custom** (``x_`` prefix, after the FOCUS columns): x_Model (the price
  card's model id), x_Meter, x_ServiceTier, x_CardVersion, x_PriceSource,
  x_Records (priced calls in the charge line; null on allocated rows, which
  are parts of one), one ``x_Owner<Dimension>`` column per owner dimension of the
  report (``team`` -> ``x_OwnerTeam``), and with an allocation
  x_ChargebackOwner (who pays the row: the owner, or the allocation's
  recipient) and x_AllocationOrigin (the pool an allocated row came from).

Not written: SubAccount*, Resource*, Commitment*, CapacityReservation*, ContractApplied and
PricingCurrency* (their conditions do not hold: no sub-account in the usage
data, no provisioned resources, commitments or second currency).

Rules the rows follow (each is checked by ``tests/test_focus.py``):

* Date/times are UTC ``YYYY-MM-DDTHH:mm:ssZ``; periods are half-open, so a
  day is ``[D 00:00Z, D+1 00:00Z)`` and a billing period (a calendar month)
  ``[first day 00:00Z, first day of next month 00:00Z)``. Calls without a
  timestamp take the report's window (``since``/``until``, else the dated
  charges' first and last day).
* Absent values are real nulls (empty cells), never ``N/A``, ``0`` or empty
  JSON.
* ``SkuPriceDetails`` carries the FOCUS 1.3 AI SKU properties: ``ModelId``
  (the card's model id), ``TokenDirection`` (``Input``/``Output``) and, for
  input, ``TokenCacheAction`` (``Uncached``, ``Read``, ``Write``), then
  ``x_Meter``, ``x_ServiceTier`` and ``x_Region``; so the export reads back
  as an invoice (:func:`attribution.invoices.read_focus`) with every model
  and meter.
* ``PricingUnit`` is ``1000000 Tokens`` or ``1000 Requests`` (UnitFormat's
  ``<unit-quantity> <plural-units>``); ``PricingQuantity`` is the quantity in
  that unit as an exact decimal (``quantity / per``), so ``ListUnitPrice x
  PricingQuantity == ListCost`` and ``ContractedUnitPrice x PricingQuantity ==
  ContractedCost`` hold exactly, in ``Decimal``, on every row.
  ``ConsumedQuantity`` is the raw count in ``Tokens`` or ``Requests``.
* Numbers are plain decimal text (no exponent, no thousands separator); text
  cells are guarded against spreadsheet formula injection like the CSV report.
* Allocation (DataGeneratorCalculatedSplitCostAllocationHandling): an origin
  charge's allocated charges keep its dimensions (SKU, period, tags...), and
  their summable metrics (every cost and quantity) add up to the origin's
  exactly. The owners' ``BilledCost`` equal the allocation's shares to the
  cent; quantities are split in whole tokens so the unit-price products stay
  exact (``ListCost`` of an allocated row can therefore differ from its
  ``BilledCost`` by less than one token's price). A pool's sub-quantum residue
  is the *unallocated portion* (``AllocatedResourceId`` null). The
  ``AllocatedRatio`` values of one origin charge add up to exactly 1.

Pools whose amount is not in the usage data (a fixed ``amount`` or an
``invoice_line``) have no origin row: their allocated rows are
``ChargeCategory`` ``Adjustment`` charges of the provider ``Internal``, for the
report's window, with no SKU or pricing columns (FOCUS requires those only
for ``Usage`` and ``Purchase``).

Values the usage data cannot know are stated, not invented: BillingAccountId
is the invoice's account when the reconciled invoice lines of that provider
name exactly one, else the provider's id; BillingAccountName is null.

Prices: ``ContractedUnitPrice`` is the price the call was priced at (a user
card's negotiated ``[[discounts]]`` or its own model prices included), so
``ContractedCost == EffectiveCost == BilledCost`` on usage rows;
``ListUnitPrice`` is the bundled card's price for the same model, tier,
region and instant (``ChargeLine.list_unit_price``), so ``ListCost -
ContractedCost`` is what the negotiated card saves. A model no bundled card
knows (a private fine-tune) has no other price: list equals contracted.

Rows are the audit's ``tagged_charges``: charge lines split by every owner
tag (``OWNER_TAGS``: team, project, feature, workflow, tenant, environment,
application, service, cost center, budget line, owner, and the contract's
required fields), so ``Tags`` carries them all whatever ``--by`` is; the
``x_Owner*`` columns hold the ``--by`` dimensions.

Internal pools (a policy pool with a fixed ``amount``: platform overhead no
provider bills) are not billed: their allocated rows have ``BilledCost`` 0,
and so ``EffectiveCost``, ``ListCost`` and ``ContractedCost`` 0 too (FOCUS
ties an unrelated charge's costs to its BilledCost); what each owner is
charged is in ``x_ChargebackCost``, present with an allocation on every row
(the billed cost of usage and ``invoice_line`` pool rows, the share of an
internal pool). ``sum(x_ChargebackCost)`` is the allocation's total;
``sum(BilledCost)`` is what the providers invoice.

The same rows are written as Parquet by :func:`write_focus_parquet`
(``--format focus-parquet``), with typed columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import IO, Any

from .._allocate import AllocatedShare, Allocation, PoolAllocation
from .._audit import AuditReport, ChargeLine
from .._money import exact, from_decimal, to_decimal
from .._registry import canonical_provider
from .._rollup import BUILTIN_DIMENSIONS
from ..exceptions import AttributionError
from ._csv import guard_cell, number_text, write_rows

__all__ = [
    "ALLOCATION_COLUMNS",
    "CONDITIONAL_COLUMNS",
    "FOCUS_COLUMNS",
    "FOCUS_VERSION",
    "MANDATORY_COLUMNS",
    "RECOMMENDED_COLUMNS",
    "focus_arrow",
    "focus_table",
    "write_focus",
    "write_focus_parquet",
]

FOCUS_VERSION = "1.3"

#: Columns FOCUS 1.3 says MUST be present in every Cost and Usage dataset
#: (ProviderName and PublisherName are deprecated in 1.3 but still required).
MANDATORY_COLUMNS = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "HostProviderName", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
    "ServiceProviderName",
)
#: The 1.3 split cost allocation columns (present when the data generator allocates).
ALLOCATION_COLUMNS = (
    "AllocatedMethodDetails", "AllocatedMethodId", "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags",
)
#: Other conditional columns whose condition holds for priced LLM usage.
CONDITIONAL_COLUMNS = (
    *ALLOCATION_COLUMNS, "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "ListUnitPrice",
    "PricingCategory", "RegionId", "RegionName", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "Tags",
)
#: InvoiceId is always null: usage data is not associated with an issued invoice (invoiceid.md: null then).
RECOMMENDED_COLUMNS = ("ChargeFrequency", "InvoiceId", "ServiceSubcategory")
#: Every FOCUS column written, in order (alphabetical; custom columns follow).
FOCUS_COLUMNS = tuple(sorted({*MANDATORY_COLUMNS, *CONDITIONAL_COLUMNS, *RECOMMENDED_COLUMNS}))

UTC = timezone.utc
_CATEGORY = "AI and Machine Learning"
_SUBCATEGORY = "Generative AI"
_POOL_SUBCATEGORY = "Other (AI and Machine Learning)"
_INTERNAL = "Internal"
#: Ratios in AllocatedMethodDetails: 12 decimals, rounded so one origin's ratios sum to exactly 1.
_RATIO_PLACES = 12

#: Provider id -> (service provider, host provider, service name). The invoice issuer is the service provider.
_PROVIDERS: Mapping[str, tuple[str, str, str]] = {
    "openai": ("OpenAI", "OpenAI", "OpenAI API"),
    "anthropic": ("Anthropic", "Anthropic", "Claude API"),
    "azure": ("Microsoft", "Microsoft", "Azure OpenAI"),
    "bedrock": ("Amazon Web Services", "Amazon Web Services", "Amazon Bedrock"),
    "google": ("Google", "Google", "Gemini API"),
    "vertex": ("Google Cloud", "Google Cloud", "Vertex AI"),
    "mistral": ("Mistral AI", "Mistral AI", "Mistral AI API"),
    "cohere": ("Cohere", "Cohere", "Cohere API"),
    "deepseek": ("DeepSeek", "DeepSeek", "DeepSeek API"),
    "xai": ("xAI", "xAI", "xAI API"),
    "fireworks": ("Fireworks AI", "Fireworks AI", "Fireworks AI"),
    "groq": ("Groq", "Groq", "GroqCloud"),
    "together": ("Together AI", "Together AI", "Together AI"),
}
_SOURCES = {"amount": "a fixed amount"}
#: Meter -> the FOCUS 1.3 SkuPriceDetails token properties (specification/data/ai_prompt_caching samples).
_TOKEN_CLASSES: Mapping[str, Mapping[str, str]] = {
    "input": {"TokenDirection": "Input", "TokenCacheAction": "Uncached"},
    "cached_input": {"TokenDirection": "Input", "TokenCacheAction": "Read"},
    "cache_write": {"TokenDirection": "Input", "TokenCacheAction": "Write"},
    "cache_write_1h": {"TokenDirection": "Input", "TokenCacheAction": "Write"},
    "output": {"TokenDirection": "Output"},
    "input_audio": {"TokenDirection": "Input"}, "output_audio": {"TokenDirection": "Output"},
    "input_image": {"TokenDirection": "Input"}, "output_image": {"TokenDirection": "Output"},
}
_METER_NAMES = {
    "input": "Input Tokens", "cached_input": "Cached Input Tokens", "cache_write": "Cache Write Tokens (5 Minutes)",
    "cache_write_1h": "Cache Write Tokens (1 Hour)", "output": "Output Tokens",
    "input_audio": "Audio Input Tokens", "output_audio": "Audio Output Tokens",
    "input_image": "Image Input Tokens", "output_image": "Image Output Tokens",
    "web_search": "Web Search Requests",
}


# --- small exact helpers ----------------------------------------------------------


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split the integer ``total`` over non-negative ``weights`` by largest remainder, exactly.

    Each part is its quota ``total * w / sum(w)`` rounded down, and the units
    left over go to the largest remainders (ties: larger weight, then
    position), so the parts sum to ``total``, a zero weight gets nothing, and
    no part exceeds the ceiling of its quota. When the weights are integer
    capacities that sum to at least ``total``, no part exceeds its capacity.

    >>> _apportion(10, [1, 1, 1]), _apportion(5, [3, 0, 2]), _apportion(-10, [2, 1])
    ([4, 3, 3], [3, 0, 2], [-7, -3])
    """
    if total < 0:
        return [-x for x in _apportion(-total, weights)]
    whole = sum(weights)
    if not whole:
        raise ValueError("cannot apportion over weights that sum to zero")
    parts = [total * w // whole for w in weights]
    rests = [total * w % whole for w in weights]
    left = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (-rests[i], -weights[i], i))[:left]:
        parts[i] += 1
    return parts


def _scaled(n: int, places: int) -> Decimal:
    """``n / 10**places`` as an exact Decimal (built from digits, never through a context)."""
    return Decimal((int(n < 0), tuple(map(int, str(abs(n)))), -places))


def _per_digits(per: int) -> int:
    digits = len(str(per)) - 1
    if per <= 0 or 10**digits != per:
        raise AttributionError(f"FOCUS export: unit prices quoted per {per} units are not per a power of ten")
    return digits


def _ratios(weights: Sequence[int]) -> list[Decimal]:
    """Shares of 1 for ``weights`` at 12 decimals that add up to exactly 1."""
    return [_scaled(x, _RATIO_PLACES) for x in _apportion(10**_RATIO_PLACES, weights)]


def _stamp(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _month(d: date) -> tuple[date, date]:
    start = d.replace(day=1)
    end = date(start.year + 1, 1, 1) if start.month == 12 else date(start.year, start.month + 1, 1)
    return start, end


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def _json(value: Any) -> str:
    """Compact JSON where ``Decimal`` is a JSON *number* written exactly (``0.333333333333``, never a float)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# --- the table ------------------------------------------------------------------


class _Context:
    """What every row of one report shares: dimensions, the window, accounts."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report
        self.dims = report.by
        self.tag_dims = [d for d in report.by if d not in BUILTIN_DIMENSIONS]
        self.owner_columns = self._owner_columns()
        # The rows: charge lines split by every owner tag (so Tags carry them all), when the engine kept them.
        self.charges: tuple[ChargeLine, ...] = report.tagged_charges or report.charges
        days = [c.day for c in self.charges if c.day is not None]
        first = report.since or (min(days) if days else None)
        last = report.until or (max(days) if days else None)
        self.window: tuple[date, date] | None = (first, last + timedelta(days=1)) if first and last else None
        self.accounts: dict[str, str] = {}
        if report.reconciliation is not None:
            seen: dict[str, set[str]] = {}
            for r in report.reconciliation.lines:
                if r.line.account:
                    seen.setdefault(canonical_provider(r.line.provider), set()).add(r.line.account)
            self.accounts = {p: next(iter(a)) for p, a in seen.items() if len(a) == 1}

    def _owner_columns(self) -> list[str]:
        taken: set[str] = set()
        out = []
        for dim in self.dims:
            name = "x_Owner" + (_pascal(dim) or "Dimension")
            base, n = name, 2
            while name in taken:
                name, n = f"{base}{n}", n + 1
            taken.add(name)
            out.append(name)
        return out

    @property
    def allocation_columns(self) -> list[str]:
        return (["x_ChargebackOwner", "x_ChargebackCost", "x_AllocationOrigin"] if self.report.allocation is not None
                else [])

    @property
    def columns(self) -> list[str]:
        return [*FOCUS_COLUMNS, "x_Model", "x_Meter", "x_ServiceTier", "x_CardVersion", "x_PriceSource", "x_Records",
                *self.owner_columns, *self.allocation_columns]

    def period(self, day: date | None) -> tuple[date, date]:
        """The charge period of a line: its UTC day, or the report's window for undated calls."""
        if day is not None:
            return day, day + timedelta(days=1)
        if self.window is None:
            raise AttributionError("FOCUS export: calls without a timestamp need a charge period; "
                                   "give --since and --until (or timestamps)")
        return self.window

    def billing_period(self, start: date, end: date) -> tuple[date, date]:
        return _month(start)[0], _month(end - timedelta(days=1))[1]

    def tags(self, line: ChargeLine) -> dict[str, str] | None:
        """Every owner tag of the line's calls: the ``by`` tags and the other owner tags (team, project...)."""
        owner = dict(line.owner)
        tags: dict[str, str] = {}
        for dim in self.tag_dims:
            value = owner.get(dim)
            if value is not None:
                tags[dim] = value
        for dim, value in line.tags:
            if dim not in BUILTIN_DIMENSIONS:
                tags.setdefault(dim, value)
        return dict(sorted(tags.items())) or None


def _line_row(ctx: _Context, line: ChargeLine, *, billed: int, quantity: int) -> dict[str, Any]:
    """A usage row for (part of) a charge line: ``billed`` money units, ``quantity`` tokens or calls."""
    service_provider, host, service = _PROVIDERS.get(line.provider, (line.provider, line.provider,
                                                                     f"{line.provider} API"))
    digits = _per_digits(line.per)
    unit_units, rest = divmod(from_decimal(line.unit_price), line.per)
    if rest:
        raise AttributionError(f"FOCUS export: unit price {line.unit_price} per {line.per} is not exact per unit")
    counted = "Requests" if line.meter == "web_search" else "Tokens"
    pricing_unit = f"{line.per} {counted}"
    meter_name = _METER_NAMES.get(line.meter, line.meter)
    start, end = ctx.period(line.day)
    bill_start, bill_end = ctx.billing_period(start, end)
    list_price = line.list_unit_price if line.list_unit_price is not None else line.unit_price
    list_units, list_rest = divmod(from_decimal(list_price), line.per)
    if list_rest:
        raise AttributionError(f"FOCUS export: list price {list_price} per {line.per} is not exact per unit")
    contracted_cost = to_decimal(quantity * unit_units)
    list_cost = to_decimal(quantity * list_units)
    sku = f"{line.provider}:{line.model}:{line.meter}"
    # FOCUS 1.3's AI SKU properties (ModelId, TokenDirection, TokenCacheAction), then our own x_ keys.
    price_details: dict[str, Any] = {"ModelId": line.model, **_TOKEN_CLASSES.get(line.meter, {}),
                                     "x_Meter": line.meter, "x_ServiceTier": line.service_tier}
    if line.region:
        price_details["x_Region"] = line.region
    undated = "" if line.day is not None else "; calls without a timestamp, charged over the report's window"
    row: dict[str, Any] = {
        "BilledCost": to_decimal(billed),
        "BillingAccountId": ctx.accounts.get(line.provider, line.provider),
        "BillingAccountName": None,
        "BillingCurrency": line.currency,
        "BillingPeriodStart": _stamp(bill_start),
        "BillingPeriodEnd": _stamp(bill_end),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": (f"{line.model} {meter_name.lower()} on {service}, {line.service_tier} tier, "
                              f"{number_text(line.unit_price)} {line.currency} per {pricing_unit}{undated}"),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": _stamp(start),
        "ChargePeriodEnd": _stamp(end),
        "ConsumedQuantity": quantity,
        "ConsumedUnit": counted,
        "ContractedCost": contracted_cost,
        "ContractedUnitPrice": line.unit_price,
        "EffectiveCost": to_decimal(billed),
        "HostProviderName": host,
        "InvoiceIssuerName": service_provider,
        "ListCost": list_cost,
        "ListUnitPrice": list_price,
        "PricingCategory": "Standard",
        "PricingQuantity": _scaled(quantity, digits),
        "PricingUnit": pricing_unit,
        "ProviderName": service_provider,
        "PublisherName": service_provider,
        "RegionId": line.region,
        "RegionName": line.region,
        "ServiceCategory": _CATEGORY,
        "ServiceName": service,
        "ServiceProviderName": service_provider,
        "ServiceSubcategory": _SUBCATEGORY,
        "SkuId": sku,
        "SkuMeter": meter_name,
        "SkuPriceDetails": price_details,
        "SkuPriceId": f"{sku}:{line.service_tier}" + (f":{line.region}" if line.region else ""),
        "Tags": ctx.tags(line),
        "x_Model": line.model,
        "x_Meter": line.meter,
        "x_ServiceTier": line.service_tier,
        "x_CardVersion": line.card_version,
        "x_PriceSource": line.source,
        "x_Records": line.records,
    }
    row.update(zip(ctx.owner_columns, (v for _, v in line.owner), strict=True))
    return row


def _details(share: AllocatedShare | None, pool: PoolAllocation, ratio: Decimal) -> dict[str, Any]:
    """AllocatedMethodDetails: FOCUS's ``Elements`` (numbers as JSON numbers) plus ``x_`` keys."""
    element: dict[str, Any] = {"AllocatedRatio": ratio}
    out: dict[str, Any] = {"Elements": [element]}
    if share is None:  # the unallocated portion of the origin charge
        out.update(x_PoolId=pool.id, x_PoolKind=pool.kind, x_Unallocated=True)
        return out
    element.update(UsageUnit=share.unit, UsageQuantity=share.weight)
    extra = dict(share.method_details)
    method_ratio = extra.pop("Elements")[0]["AllocatedRatio"]
    out.update(x_MethodRatio=Decimal(method_ratio), x_UsageQuantityTotal=share.weight_total,
               x_PoolId=share.pool, x_PoolKind=share.kind, x_PoolAmount=share.pool_amount,
               x_PoolSource=share.source, x_Policy=share.policy)
    return out


def _method_id(pool: PoolAllocation) -> str:
    return f"{pool.method}:{pool.basis}" if pool.basis else pool.method


def _allocated(row: dict[str, Any], alloc: Allocation, pool: PoolAllocation, owner: str | None,
               share: AllocatedShare | None, ratio: Decimal) -> dict[str, Any]:
    """Fill the allocation columns of ``row`` for ``owner``'s share of ``pool`` (None: the unallocated part)."""
    row["AllocatedMethodId"] = share.method_id if share is not None else _method_id(pool)
    row["AllocatedMethodDetails"] = _details(share, pool, ratio)
    if share is not None:
        row["AllocatedResourceId"] = f"{alloc.by}={owner}"
        row["AllocatedResourceName"] = owner
        origin_tags = row.get("Tags") or {}
        tags = {alloc.by: owner} if origin_tags.get(alloc.by) != owner else {}
        row["AllocatedTags"] = tags or None
    row["x_ChargebackOwner"] = owner
    row["x_AllocationOrigin"] = pool.id
    return row


class _Plan:
    """Which charge lines each ``where`` pool took, worked out from the report's own dimensions."""

    def __init__(self, ctx: _Context, alloc: Allocation) -> None:
        report = ctx.report
        self.owner_index = self._index(report, alloc.by, alloc)
        where = [p for p in alloc.pools if p.source.startswith("where ")]
        dims = [alloc.by]
        for pool in where:
            for dim in _where_dims(pool.source):
                if dim not in dims:
                    dims.append(dim)
        index = [self._index(report, d, alloc) for d in dims]
        self.slices: dict[str, list[int]] = {}
        taken: dict[int, str] = {}
        for pool in where:
            keys = set(pool.origin)
            if any(len(k) != len(dims) for k in keys):
                raise AttributionError(f"FOCUS export: cannot tell which charges pool {pool.id!r} took "
                                       f"({pool.source}); group the report by {', '.join(dims)}")
            lines = []
            for n, line in enumerate(ctx.charges):
                values = tuple(line.owner[i][1] for i in index)
                if values in keys:
                    if n in taken:
                        raise AttributionError(f"FOCUS export: a charge is in pools {taken[n]!r} and {pool.id!r}")
                    taken[n] = pool.id
                    lines.append(n)
            exact = sum(from_decimal(ctx.charges[n].amount) for n in lines)
            if exact != from_decimal(pool.amount) + from_decimal(pool.residue):
                raise AttributionError(f"FOCUS export: the charges of pool {pool.id!r} add up to {to_decimal(exact)}, "
                                       f"not to its amount {pool.amount} plus residue {pool.residue}")
            self.slices[pool.id] = lines
        self.line_pool = taken

    @staticmethod
    def _index(report: AuditReport, dim: str, alloc: Allocation) -> int:
        if dim not in report.by or dim in BUILTIN_DIMENSIONS:
            raise AttributionError(f"FOCUS export: the allocation by {alloc.by!r} needs the report grouped by the "
                                   f"tag {dim!r} too (add it to --by)")
        return report.by.index(dim)


def _where_dims(source: str) -> list[str]:
    """Dimension names of a pool source ``where team=a|b, env=prod`` (values may contain anything)."""
    dims = []
    for part in source[len("where "):].split(", "):
        m = re.match(r"^([A-Za-z0-9_.:-]+)=", part)
        if m:
            dims.append(m.group(1))
    return dims


def _split_rows(ctx: _Context, alloc: Allocation, pool: PoolAllocation, lines: list[ChargeLine],
                shares: Mapping[tuple[str, str | None], AllocatedShare]) -> list[dict[str, Any]]:
    """Replace a ``where`` pool's charge lines by allocated charges, exactly.

    Money units: each line ``a_i`` keeps a part of the pool's residue ``r_i``
    (split by amount) and gives ``t_i = a_i - r_i`` to the owners. Lines are
    filled in order, each split over the owners in proportion to what each
    owner still has to receive, so every owner receives its share exactly and
    every line gives exactly ``t_i``. Tokens follow money in whole units.
    """
    owners = list(pool.shares)
    targets = [from_decimal(pool.shares[o]) for o in owners]
    amounts = [from_decimal(c.amount) for c in lines]
    residue = from_decimal(pool.residue)
    kept = _apportion(residue, amounts) if residue else [0] * len(lines)
    left = list(targets)
    rows: list[dict[str, Any]] = []
    for line, amount, rest in zip(lines, amounts, kept, strict=True):
        give = amount - rest
        parts = _apportion(give, left) if give else [0] * len(owners)
        left = [x - y for x, y in zip(left, parts, strict=True)]
        money = [*parts, rest]
        if any(money):
            basis = money
        elif any(targets):
            basis = [*targets, 0]
        else:
            basis = [0] * len(owners) + [1]
        quantities = _apportion(line.quantity, [abs(x) for x in basis])
        ratios = _ratios([abs(x) for x in basis])
        for k, owner in enumerate([*owners, None]):
            if not money[k] and not quantities[k]:
                continue
            row = _line_row(ctx, line, billed=money[k], quantity=quantities[k])
            row["x_Records"] = None  # calls are not split; the origin line's count is not summable here
            share = shares.get((pool.id, owner)) if k < len(owners) else None
            who = owner if k < len(owners) else pool.residue_owner
            rows.append(_allocated(row, alloc, pool, who, share, ratios[k]))
    return rows


def _pool_rows(ctx: _Context, alloc: Allocation, pool: PoolAllocation,
               shares: Mapping[tuple[str, str | None], AllocatedShare]) -> list[dict[str, Any]]:
    """Allocated charges of a pool whose amount is not usage (a fixed amount or an invoice line)."""
    owners = [o for o, v in pool.shares.items() if v]
    if not owners:
        return []
    if ctx.window is None:
        raise AttributionError(f"FOCUS export: pool {pool.id!r} needs a charge period; give --since and --until")
    start, end = ctx.window
    bill_start, bill_end = ctx.billing_period(start, end)
    amounts = [from_decimal(pool.shares[o]) for o in owners]
    ratios = _ratios([abs(x) for x in amounts])
    currency = alloc.currency or ctx.report.currency
    if currency is None:
        raise AttributionError(f"FOCUS export: pool {pool.id!r} has no currency")
    rows = []
    for owner, amount, ratio in zip(owners, amounts, ratios, strict=True):
        cost = to_decimal(amount)
        # An internal pool (a fixed amount: platform overhead) is on nobody's invoice: none of it is BilledCost,
        # and FOCUS ties the other cost metrics of such a charge to BilledCost, so the owner's share is only
        # in x_ChargebackCost. An invoice_line pool is a provider's bill line spread over owners: it is billed.
        billed = cost if pool.source.startswith("invoice_line ") else to_decimal(0)
        share = shares[(pool.id, owner)]
        row: dict[str, Any] = dict.fromkeys(ctx.columns)
        row.update({
            "BilledCost": billed, "EffectiveCost": billed, "ListCost": billed, "ContractedCost": billed,
            "x_ChargebackCost": cost,
            "BillingAccountId": _INTERNAL, "BillingCurrency": currency,
            "BillingPeriodStart": _stamp(bill_start), "BillingPeriodEnd": _stamp(bill_end),
            "ChargeCategory": "Adjustment", "ChargeFrequency": "Recurring",
            "ChargeDescription": (f"Shared pool {pool.id} ({_SOURCES.get(pool.source, pool.source)}) allocated to "
                                  f"{alloc.by} {owner} by {share.method_id}"),
            "ChargePeriodStart": _stamp(start), "ChargePeriodEnd": _stamp(end),
            "HostProviderName": _INTERNAL, "InvoiceIssuerName": _INTERNAL, "ProviderName": _INTERNAL,
            "PublisherName": _INTERNAL, "ServiceProviderName": _INTERNAL,
            "ServiceCategory": _CATEGORY, "ServiceSubcategory": _POOL_SUBCATEGORY, "ServiceName": f"Shared pool {pool.id}",
        })
        rows.append(_allocated(row, alloc, pool, owner, share, ratio))
    return rows


def focus_table(report: AuditReport) -> tuple[list[str], list[dict[str, Any]]]:
    """The FOCUS 1.3 dataset of ``report`` as typed rows: ``(columns, rows)``.

    Values are ``Decimal`` (money, prices, quantities), ``int`` (counts),
    ``datetime`` (UTC period bounds), ``dict`` (JSON columns), ``str`` or
    ``None`` (null). :func:`write_focus` serializes them.

    Raises:
        AttributionError: undated calls and no window to charge them to, or an
            allocation whose owner/``where`` dimensions are not among the
            report's ``by`` dimensions (the rows a pool took cannot be found).
    """
    ctx = _Context(report)
    columns = ctx.columns
    alloc = report.allocation
    rows: list[dict[str, Any]] = []
    if alloc is None:
        for line in ctx.charges:
            rows.append(_line_row(ctx, line, billed=from_decimal(line.amount), quantity=line.quantity))
    else:
        plan = _Plan(ctx, alloc)
        shares = {(s.pool, row.owner): s for row in alloc.rows for s in row.shares}
        pools = {p.id: p for p in alloc.pools}
        done: set[str] = set()
        for n, line in enumerate(ctx.charges):
            pool_id = plan.line_pool.get(n)
            if pool_id is None:
                row = _line_row(ctx, line, billed=from_decimal(line.amount), quantity=line.quantity)
                row["x_ChargebackOwner"] = line.owner[plan.owner_index][1]
                rows.append(row)
            elif pool_id not in done:
                done.add(pool_id)
                lines = [ctx.charges[i] for i in plan.slices[pool_id]]
                rows.extend(_split_rows(ctx, alloc, pools[pool_id], lines, shares))
        for pool in alloc.pools:
            if not pool.source.startswith("where "):
                rows.extend(_pool_rows(ctx, alloc, pool, shares))
    for row in rows:
        for col in columns:
            row.setdefault(col, None)
        if alloc is not None and row["x_ChargebackCost"] is None:
            row["x_ChargebackCost"] = row["BilledCost"]
    return columns, rows


def _cell(value: Any) -> str:
    """One typed value as CSV text: null is an empty cell, numbers exact, text guarded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Decimal, int)):
        return number_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (Mapping, list)):
        return guard_cell(_json(value))
    return guard_cell(str(value))


def _cells(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterable[list[str]]:
    for row in rows:
        yield [_cell(row[c]) for c in columns]


@exact
def write_focus(report: AuditReport, out: IO[str]) -> None:
    """Write the report as a FOCUS 1.3 Cost and Usage CSV (see the module docstring for every rule)."""
    columns, rows = focus_table(report)
    write_rows(out, columns, _cells(columns, rows))


#: Arrow types of the typed FOCUS columns in the Parquet export; every other column is a string.
_DECIMAL_COLUMNS = frozenset({"BilledCost", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost",
                              "ListUnitPrice", "PricingQuantity", "x_ChargebackCost"})
_INT_COLUMNS = frozenset({"ConsumedQuantity", "x_Records"})
_DATETIME_COLUMNS = frozenset({"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"})


def focus_arrow(report: AuditReport) -> Any:
    """The FOCUS dataset of ``report`` as a ``pyarrow.Table`` (extra ``arrow``).

    Costs, unit prices and ``PricingQuantity`` are ``decimal128(38, 15)`` (exact),
    quantities and counts ``int64``, period bounds ``timestamp[ms, UTC]``, the JSON
    columns (``Tags``, ``SkuPriceDetails``, ``AllocatedMethodDetails``,
    ``AllocatedTags``) JSON text, and every other column a string; nulls are nulls.
    """
    import importlib

    from ..exceptions import MissingDependency

    try:
        pa = importlib.import_module("pyarrow")
    except ImportError:
        raise MissingDependency("the FOCUS Parquet export", "arrow", "pyarrow") from None
    columns, rows = focus_table(report)
    fields, arrays = [], []
    for col in columns:
        values = [row[col] for row in rows]
        if col in _DECIMAL_COLUMNS:
            kind = pa.decimal128(38, 15)
        elif col in _INT_COLUMNS:
            kind = pa.int64()
        elif col in _DATETIME_COLUMNS:
            kind = pa.timestamp("ms", tz="UTC")  # Parquet has no seconds unit
        else:
            kind = pa.string()
            values = [None if v is None else v if isinstance(v, str) else _json(v) if isinstance(v, (Mapping, list))
                      else str(v) for v in values]
        fields.append(pa.field(col, kind))
        arrays.append(pa.array(values, type=kind))
    schema = pa.schema(fields, metadata={"FOCUS.version": FOCUS_VERSION, "attribution.by": json.dumps(list(report.by))})
    return pa.Table.from_arrays(arrays, schema=schema)


@exact
def write_focus_parquet(report: AuditReport, out: IO[bytes]) -> None:
    """Write the report as a FOCUS 1.3 Cost and Usage Parquet file (the CSV's rows and rules, typed columns)."""
    import importlib

    pq = importlib.import_module("pyarrow.parquet")
    table = focus_arrow(report)
    pq.write_table(table, out)
