"""AWS: Cost and Usage Report (CUR 2.0 from Data Exports, or legacy CUR) rows for Amazon Bedrock.

A CUR holds every AWS service; by default only Bedrock rows are read (the
product code or product name says ``Bedrock``; Anthropic models sold through
AWS Marketplace carry product names like ``"Claude Sonnet 4.5 (Amazon Bedrock
Edition)"``). Pass ``bedrock_only=False`` to read every row. CSV (plain,
``.gz`` or ``.zip``) is read here with the standard library; Parquet, the
format AWS recommends, through :func:`read_cur_parquet` and the optional
``arrow`` extra (``pip install 'attribution[arrow]'``).

Columns read (CUR 2.0 names; legacy CSV headers such as ``lineItem/UsageType``
and ``resourceTags/user:team`` are mapped onto them):

=====================================  ===========================================
column                                 becomes
=====================================  ===========================================
``line_item_usage_start_date``/``_end``  the period, rounded out to UTC days
``line_item_unblended_cost``           ``amount`` (``cost="net"``: the net column)
``line_item_currency_code``            ``currency``
``line_item_line_item_type``           ``charge_category`` (see :data:`LINE_ITEM_TYPES`)
``line_item_usage_type``               region, model token, meter, tier (:func:`parse_usage_type`)
``line_item_usage_amount``             ``quantity``, in ``pricing_unit``
``line_item_usage_account_id``         ``project``; ``bill_payer_account_id`` is ``account``
``line_item_resource_id``              the ``resource_id`` tag
``resource_tags`` / ``resource_tags_*``  tags, without the ``user_`` / ``user:`` prefix
``identity_line_item_id``              ``line_id``
=====================================  ===========================================

Usage types encode region, model and token direction, for instance
``USE1-Claude4.6Sonnet-cache-read-input-token-count``,
``USE1-Claude3.5Haiku-output-tokens``, ``USE1-Nova2.0Lite-input-tokens-flex``,
``USE1-openai.gpt-oss-120b-mantle-input-tokens-standard`` and, for Marketplace
models, ``USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units``. The model
token (``Claude4.6Sonnet``, or the Marketplace product name) is kept as
``sku``; ``model`` is a best-effort Bedrock id (``anthropic.claude-sonnet-4-6``),
or the id ``models=`` maps the billing name to.
A request routed by global cross-region inference has region ``global`` (the
price key the Bedrock card uses); a geographic cross-region one keeps its
source region and the ``cross_region`` tag says ``geo``.

The CUR has no per-request rows: match it on day, model and token type (and on
request id only where invocation logs provide it). All four token types must
be reconciled: summing input and output only will not match the bill.

Sources: AWS Data Exports, "Cost and Usage Report (CUR) 2.0" table dictionary
https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html and
line item columns https://docs.aws.amazon.com/cur/latest/userguide/Lineitem-columns.html;
Amazon Bedrock user guide, "Understanding your Amazon Bedrock Cost and Usage
Report data" https://docs.aws.amazon.com/bedrock/latest/userguide/cost-mgmt-understanding-cur-data.html
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

import attrs

from .._invoice import InvoiceLine
from ..exceptions import InvoiceError
from ._common import PathLike, Record, csv_records, day_period, split_words, token_meter

__all__ = [
    "LINE_ITEM_TYPES",
    "REGION_PREFIXES",
    "UsageType",
    "cur_key",
    "cur_row_line",
    "model_from_billing_name",
    "parse_usage_type",
    "read_cur_csv",
    "read_cur_parquet",
]

PROVIDER = "bedrock"

#: ``line_item_line_item_type`` -> charge category. Any other type becomes an
#: ``adjustment`` line whose description starts with the type, so it is seen.
LINE_ITEM_TYPES: Mapping[str, str] = {
    "Usage": "usage",
    "DiscountedUsage": "usage",
    "SavingsPlanCoveredUsage": "usage",
    "Tax": "tax",
    "Credit": "credit",
    "Refund": "refund",
    "Discount": "discount",
    "BundledDiscount": "discount",
    "EdpDiscount": "discount",
    "PrivateRateDiscount": "discount",
    "DistributorDiscount": "discount",
    "SavingsPlanNegation": "discount",
    "Fee": "fee",
    "RIFee": "commitment",
    "SavingsPlanRecurringFee": "commitment",
    "SavingsPlanUpfrontFee": "commitment",
}

#: Usage-type region prefixes -> AWS region codes (used when the row has no
#: ``product_region_code``). ``us-east-1`` usage types often have no prefix.
REGION_PREFIXES: Mapping[str, str] = {
    "USE1": "us-east-1", "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2",
    "UGW1": "us-gov-west-1", "UGE1": "us-gov-east-1", "CAN1": "ca-central-1", "CAN2": "ca-west-1",
    "EU": "eu-west-1", "EUW1": "eu-west-1", "EUW2": "eu-west-2", "EUW3": "eu-west-3",
    "EUC1": "eu-central-1", "EUC2": "eu-central-2", "EUN1": "eu-north-1", "EUS1": "eu-south-1",
    "EUS2": "eu-south-2", "APN1": "ap-northeast-1", "APN2": "ap-northeast-2", "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1", "APS2": "ap-southeast-2", "APS3": "ap-south-1", "APS4": "ap-southeast-3",
    "APS5": "ap-south-2", "APS6": "ap-southeast-4", "APE1": "ap-east-1", "SAE1": "sa-east-1",
    "MES1": "me-south-1", "MEC1": "me-central-1", "AFS1": "af-south-1", "ILC1": "il-central-1",
}

_PREFIX = re.compile(r"([A-Z]{2,4}\d?)-(.+)", re.S)
_MARKETPLACE = re.compile(r"(?:([A-Z]{2,4}\d?)-)?MP:(?:([A-Z]{2,4}\d?)_)?(.+?)(?:-Units)?", re.S)
_UNITS = re.compile(r"([A-Z]{2,4}\d?)_([a-z0-9_]+)-Units", re.S)
_KIND = re.compile(r"-(mantle-)?(cache-read-input-token-count|cache-write(?:-1h)?-input-token-count"
                   r"|input-tokens?(?:-count)?|output-tokens?(?:-count)?)(?=-|$)")
_TIERS = ("batch", "flex", "priority", "standard", "reserved")


@attrs.frozen(slots=True)
class UsageType:
    """What a Bedrock ``line_item_usage_type`` says (see :func:`parse_usage_type`)."""

    region: str | None = None
    model_token: str | None = None
    meter: str | None = None
    service_tier: str | None = None
    cross_region: str | None = None
    long_context: bool = False
    marketplace: bool = False


def _classify(words: list[str]) -> tuple[str | None, str | None, str | None, bool]:
    """(meter, tier, cross-region, long context) from the words of a token class."""
    said = set(words)
    cache = "cache" in said
    meter = token_meter(
        "input" if "input" in said else "output" if "output" in said else None,
        cached=cache and "read" in said, cache_write=cache and "write" in said,
        one_hour=bool({"1h", "1hr"} & said))
    tier = next((t for t in _TIERS if t in said), None)
    cross = "geo" if "geo" in said else "global" if "global" in said else None
    return meter, tier, cross, "long" in said and "context" in said


def parse_usage_type(text: str) -> UsageType:
    """Region, model token, meter, tier and routing from a Bedrock usage type.

    >>> parse_usage_type("USE1-Claude4.6Sonnet-cache-read-input-token-count")
    UsageType(region='us-east-1', model_token='Claude4.6Sonnet', meter='cached_input', service_tier=None, cross_region=None, long_context=False, marketplace=False)
    >>> u = parse_usage_type("USE1-Claude4.5Haiku-cache-write-input-token-count-cross-region-global")
    >>> u.region, u.meter, u.cross_region
    ('global', 'cache_write', 'global')
    >>> u = parse_usage_type("USE1-openai.gpt-oss-120b-mantle-input-tokens-standard")
    >>> u.model_token, u.meter, u.service_tier
    ('openai.gpt-oss-120b', 'input', 'standard')
    >>> u = parse_usage_type("USW2-MP:USW2_CacheWrite1hInputTokenCount_Global-Units")
    >>> u.region, u.meter, u.marketplace
    ('global', 'cache_write_1h', True)
    """
    text = text.strip()
    if m := _MARKETPLACE.fullmatch(text):
        meter, tier, cross, long_context = _classify(split_words(m.group(3)))
        prefix = m.group(1) or m.group(2)
        region = "global" if cross == "global" else REGION_PREFIXES.get(prefix or "")
        return UsageType(region=region, meter=meter, service_tier=tier, cross_region=cross,
                         long_context=long_context, marketplace=True)
    if m := _UNITS.fullmatch(text):
        meter, tier, cross, long_context = _classify(m.group(2).split("_"))
        region = "global" if cross == "global" else REGION_PREFIXES.get(m.group(1))
        return UsageType(region=region, meter=meter, service_tier=tier, cross_region=cross,
                         long_context=long_context, marketplace=True)
    prefix, rest = None, text
    if (m := _PREFIX.fullmatch(text)) and m.group(1) in REGION_PREFIXES:
        prefix, rest = m.group(1), m.group(2)
    region = REGION_PREFIXES.get(prefix or "")
    kind = _KIND.search(rest)
    if kind is None:
        return UsageType(region=region)
    suffix = split_words(rest[kind.end():])
    meter, _, _, _ = _classify(kind.group(2).split("-"))
    _, tier, cross, long_context = _classify(suffix)
    if "cross" in suffix and "region" in suffix and cross is None:
        cross = "geo"
    return UsageType(region="global" if cross == "global" else region, model_token=rest[:kind.start()] or None,
                     meter=meter, service_tier=tier, cross_region=cross, long_context=long_context)


_CLAUDE_VERSION_FIRST = re.compile(r"claude(\d+(?:\.\d+)?)(sonnet|opus|haiku|instant)", re.I)
_CLAUDE_FAMILY_FIRST = re.compile(r"claude(sonnet|opus|haiku)(\d+(?:\.\d+)?)", re.I)


def model_from_billing_name(name: str | None) -> str | None:
    """A best-effort Bedrock model id for a billing name; ``None`` when there is none.

    The CUR names models by billing names (``Claude4.6Sonnet``, ``NovaPro``) or
    Marketplace product names, never by the model id that was called, and the
    id's date and version suffix cannot be derived from them. Claude names
    become ``anthropic.claude-…`` (version after the family from Claude 4 on,
    as Anthropic names them), Nova names ``amazon.nova-…``; ids already in the
    name (``openai.gpt-oss-120b``) are kept; anything else is lower-cased and
    hyphenated. Pass ``models=`` to the reader to say exactly which id a
    billing name means.

    >>> model_from_billing_name("Claude4.6Sonnet"), model_from_billing_name("Claude3.5Haiku")
    ('anthropic.claude-sonnet-4-6', 'anthropic.claude-3-5-haiku')
    >>> model_from_billing_name("Claude Sonnet 4.5 (Amazon Bedrock Edition)")
    'anthropic.claude-sonnet-4-5'
    >>> model_from_billing_name("NovaPro"), model_from_billing_name("openai.gpt-oss-120b")
    ('amazon.nova-pro', 'openai.gpt-oss-120b')
    """
    if not name or not name.strip():
        return None
    base = re.sub(r"\s*\(Amazon Bedrock Edition\)\s*$", "", name.strip())
    compact = base.replace(" ", "")
    if m := _CLAUDE_VERSION_FIRST.fullmatch(compact):
        version, family = m.group(1).replace(".", "-"), m.group(2).lower()
        major = int(m.group(1).split(".")[0])
        return f"anthropic.claude-{family}-{version}" if major >= 4 else f"anthropic.claude-{version}-{family}"
    if m := _CLAUDE_FAMILY_FIRST.fullmatch(compact):
        return f"anthropic.claude-{m.group(1).lower()}-{m.group(2).replace('.', '-')}"
    if "." in base and " " not in base and not base[0].isdigit() and base == base.lower():
        return base
    words = split_words(base)
    if not words:
        return None
    vendor = {"nova": "amazon.", "titan": "amazon.", "llama": "meta."}.get(words[0], "")
    return vendor + "-".join(words)


def cur_key(header: str) -> str:
    """The CUR 2.0 column name for a header cell (legacy ``lineItem/UsageType`` style too).

    >>> cur_key("lineItem/UsageStartDate"), cur_key("bill/PayerAccountId"), cur_key("resourceTags/user:team")
    ('line_item_usage_start_date', 'bill_payer_account_id', 'resource_tags_user:team')
    """
    h = header.strip()
    if "/" not in h:
        return h if h.startswith("resource_tags_") else h.lower()
    prefix, _, rest = h.partition("/")
    if prefix == "resourceTags":
        return f"resource_tags_{rest}"

    def snake(s: str) -> str:
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s).lower()
    return f"{snake(prefix)}_{snake(rest)}"


def _tag_key(key: str) -> str:
    for prefix in ("user_", "user:"):
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix):]
    return key


_HIVE_MAP = re.compile(r"\{(.*)\}", re.S)


def _mapping(record: Record, key: str, *, strict: bool = True) -> Mapping[str, Any]:
    """A CUR 2.0 map column: JSON (or Athena's ``{k=v, ...}``) text in CSV, a dict or pairs from Parquet.

    With ``strict=False`` a value that is not a map reads as empty (for
    columns used only as a fallback).
    """
    if not record.has(key):
        return {}
    _, value = record.raw(key)
    if isinstance(value, str):
        text = value.strip()
        hive = _HIVE_MAP.fullmatch(text)
        if hive and "=" in text and '"' not in text:
            pairs = [p.partition("=") for p in hive.group(1).split(", ") if p.strip()]
            return {k.strip(): v.strip() for k, _, v in pairs}
        try:
            value = record.json_value(key)
        except InvoiceError:
            if strict:
                raise
            return {}
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return {str(k): v for k, v in value}
    if not isinstance(value, Mapping):
        if not strict:
            return {}
        raise record.error(key, f"expected a map of keys to values, got {type(value).__name__}")
    return value


def _tags(record: Record) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in _mapping(record, "resource_tags").items():
        if value not in (None, ""):
            tags[_tag_key(str(key))] = str(value)
    for key, value in record.values.items():
        if key.startswith("resource_tags_") and isinstance(value, str) and value.strip():
            tags[_tag_key(key[len("resource_tags_"):])] = value.strip()
    return tags


def _is_bedrock(record: Record, product_name: str | None) -> bool:
    code = record.text("line_item_product_code") or ""
    return "bedrock" in code.lower() or "bedrock" in (product_name or "").lower()


def cur_row_line(record: Record, *, bedrock_only: bool = True, cost: Literal["unblended", "net"] = "unblended",
                 models: Mapping[str, str] | None = None) -> InvoiceLine | None:
    """The invoice line of one CUR row, or ``None`` for a non-Bedrock row when ``bedrock_only``.

    ``models`` maps billing names (the ``sku``: ``Claude4.6Sonnet``, or a
    Marketplace product name) to the model ids to record; other names get
    :func:`model_from_billing_name`'s best effort.

    Raises:
        InvoiceError: a required column is missing or malformed (names the column).
    """
    product = _mapping(record, "product", strict=False)
    product_name = record.text("product_product_name") or _str(product.get("product_name"))
    if bedrock_only and not _is_bedrock(record, product_name):
        return None
    cost_key = "line_item_unblended_cost" if cost == "unblended" else "line_item_net_unblended_cost"
    amount = record.must_decimal(cost_key)
    start = record.must_instant("line_item_usage_start_date")
    end = record.instant("line_item_usage_end_date")
    try:
        period_start, period_end = day_period(start, end)
    except ValueError as exc:
        raise record.error("line_item_usage_end_date", str(exc)) from None
    line_type = record.text("line_item_line_item_type", required=record.has("line_item_line_item_type")) or "Usage"
    category = LINE_ITEM_TYPES.get(line_type, "adjustment")
    description = record.text("line_item_line_item_description")
    if line_type not in LINE_ITEM_TYPES:
        description = f"{line_type}: {description}" if description else line_type
    usage_type_text = record.text("line_item_usage_type")
    usage = parse_usage_type(usage_type_text) if usage_type_text else UsageType()
    sku = product_name if usage.marketplace and product_name else usage.model_token
    region = usage.region
    if usage.cross_region != "global":
        region = record.text("product_region_code") or _str(product.get("region")) or region
    tags = _tags(record)
    if resource := record.text("line_item_resource_id"):
        tags["resource_id"] = resource
    if usage.cross_region:
        tags["cross_region"] = usage.cross_region
    if usage.long_context:
        tags["context_window"] = "long"
    return InvoiceLine(
        provider=PROVIDER, period_start=period_start, period_end=period_end, amount=amount,
        currency=record.currency("line_item_currency_code"), charge_category=category,
        model=(models or {}).get(sku or "") or model_from_billing_name(sku), meter=usage.meter, sku=sku or usage_type_text,
        project=record.text("line_item_usage_account_id"), account=record.text("bill_payer_account_id"),
        service_tier=usage.service_tier, region=region, quantity=record.decimal("line_item_usage_amount"),
        unit=record.text("pricing_unit"), description=description, line_id=record.text("identity_line_item_id"),
        tags=tags, source=record.source(),
    )


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def read_cur_csv(path: PathLike, *, bedrock_only: bool = True, cost: Literal["unblended", "net"] = "unblended",
                 models: Mapping[str, str] | None = None) -> list[InvoiceLine]:
    """Read a CUR 2.0 (or legacy CUR) CSV export: ``.csv``, ``.csv.gz`` or a one-file ``.zip``.

    ``cost="unblended"`` (the default) takes ``line_item_unblended_cost``, the
    figure the invoice shows, with discounts on their own ``Discount`` rows;
    ``cost="net"`` takes ``line_item_net_unblended_cost``, in which discounts
    are already applied: do not add the discount rows to it a second time.
    ``models`` maps billing names to model ids (see :func:`cur_row_line`).

    Raises:
        InvoiceError: unreadable file, ragged row, or a malformed value (file,
            line counting the header as 1, and column).
    """
    lines = []
    for record in csv_records(path, cur_key):
        line = cur_row_line(record, bedrock_only=bedrock_only, cost=cost, models=models)
        if line is not None:
            lines.append(line)
    return lines


def _parquet_value(value: object) -> object:
    # Parquet CUR stores costs and amounts as IEEE doubles: the shortest repr
    # is the decimal AWS wrote, so it is taken as text, never as a binary float.
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_cur_parquet(path: PathLike, *, bedrock_only: bool = True, cost: Literal["unblended", "net"] = "unblended",
                     models: Mapping[str, str] | None = None, batch_size: int = 65_536) -> list[InvoiceLine]:
    """Read a CUR 2.0 Parquet file (needs the ``arrow`` extra: ``pip install 'attribution[arrow]'``).

    Rows are numbered from 1 (Parquet has no header line). Costs stored as
    doubles are taken at their shortest decimal representation.

    Raises:
        ImportError: pyarrow is not installed; the message names the extra.
        InvoiceError: unreadable file or a malformed value (file, row, column).
    """
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise ImportError("reading CUR Parquet needs pyarrow, which the 'arrow' extra installs: "
                          "pip install 'attribution[arrow]' (or export the CUR as CSV)") from None
    file = str(path)
    try:
        parquet = pq.ParquetFile(file)
        batches = parquet.iter_batches(batch_size=batch_size)
    except Exception as exc:  # pyarrow raises its own OSError/ArrowInvalid subclasses
        raise InvoiceError(f"cannot read Parquet: {exc}", file=file) from None
    lines = []
    number = 0
    names: dict[str, str] | None = None
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            if names is None:
                names = {cur_key(k): k for k in row}
            values = {cur_key(k): _parquet_value(v) for k, v in row.items()}
            record = Record(values=values, names=names, file=file, line=number)
            line = cur_row_line(record, bedrock_only=bedrock_only, cost=cost, models=models)
            if line is not None:
                lines.append(line)
    return lines

