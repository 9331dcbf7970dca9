"""Anthropic: Messages API responses, Message Batches results and the usage report.

Anthropic's ``input_tokens`` *excludes* cache reads and cache writes, which
are reported beside it (``cache_read_input_tokens``,
``cache_creation_input_tokens``); ``cache_creation`` splits writes by TTL
(``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``), which are
priced differently (1.25x and 2x input). ``output_tokens`` includes extended
thinking. ``server_tool_use.web_search_requests`` is a per-call fee.
``usage.inference_geo`` (``us``, ``global``) is where the request ran; US-only
inference is priced higher, so it becomes the record's ``region``. Responses
carry no timestamp: pass ``at=``. Source: Anthropic API reference, Messages,
"usage" object; prompt caching guide.

Three payload shapes:

* a **Messages response** (``type: "message"``), one call;
* a **Message Batches result line** (``{"custom_id", "result": {"type":
  "succeeded", "message": {...}}}``, one line of the ``results_url`` JSONL):
  the message is normalized as a response and priced at the ``batch`` tier.
  ``errored``, ``canceled`` and ``expired`` results carry no message and no
  usage (Anthropic does not bill them), so they raise ``batch_errored``,
  ``batch_canceled`` or ``batch_expired``: accounted for as quarantined,
  never as a $0 call. Source: API reference, "Retrieve Message Batch results"
  (``MessageBatchIndividualResponse``, ``MessageBatchResult``);
* a page of the Admin API **Messages usage report**
  (``GET /v1/organizations/usage_report/messages``: ``{"data": [{"starting_at",
  "ending_at", "results": [...]}], "has_more", "next_page"}``): one aggregate
  record per result, at the bucket start. A result's meters are already
  disjoint: ``uncached_input_tokens``, ``cache_read_input_tokens``,
  ``cache_creation.ephemeral_5m_input_tokens`` /
  ``ephemeral_1h_input_tokens``, ``output_tokens``,
  ``server_tool_use.web_search_requests``. The grouping fields become tags
  (``api_key`` from ``api_key_id``, ``workspace`` from ``workspace_id``,
  ``account``, ``service_account``, ``context_window``), ``service_tier`` the
  tier and ``inference_geo`` the region. The report has **no request count**,
  so these records carry ``requests=0``: a rollup's request total then counts
  only requests that were actually reported, rather than one invented request
  per bucket (which would also be wrong, and silently so). ``model`` is null
  unless the report was grouped by model; such a page cannot be priced and
  raises ``missing_field``. Source: Admin API reference, "Get Messages Usage
  Report".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, optional_str, owner_tags, tag_name, timestamp

__all__ = [
    "SCHEMAS",
    "is_batch_result",
    "is_message",
    "is_usage_report",
    "message_usage",
    "normalize_batch_result",
    "normalize_message",
    "normalize_usage_report",
    "usage_report_usage",
]

#: Batch result types that carry no message and no usage, with their quarantine codes.
_BATCH_FAILURES = {"errored": "batch_errored", "canceled": "batch_canceled", "expired": "batch_expired"}
#: ``inference_geo`` values that say nothing about where the request ran.
_NO_GEO = frozenset({"", "not_available"})


def is_message(payload: Mapping[str, Any]) -> bool:
    """A Messages API response object (with or without its usage, which is then reported missing)."""
    return payload.get("type") == "message"


def message_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Messages ``usage`` object (cache tokens beside input)."""
    created_total = usage.get("cache_creation_input_tokens")
    total_writes = count(usage, "cache_creation_input_tokens", path)
    breakdown = mapping(usage, "cache_creation", path)
    if breakdown is not None:
        bpath = f"{path}.cache_creation"
        w5 = count(breakdown, "ephemeral_5m_input_tokens", bpath)
        w1h = count(breakdown, "ephemeral_1h_input_tokens", bpath)
        if created_total is not None and w5 + w1h != total_writes:
            if w5 + w1h > total_writes:
                raise NormalizeError("inconsistent_usage",
                                     f"cache_creation breakdown ({w5 + w1h}) exceeds cache_creation_input_tokens "
                                     f"({total_writes})", path=bpath)
            w5 = total_writes - w1h  # undifferentiated writes are 5-minute, the API default
    else:
        w5, w1h = total_writes, 0
    tools = mapping(usage, "server_tool_use", path)
    return Usage(
        input=count(usage, "input_tokens", path, required=True),
        cached_input=count(usage, "cache_read_input_tokens", path),
        cache_write=w5,
        cache_write_1h=w1h,
        output=count(usage, "output_tokens", path, required=True),
        web_search=count(tools, "web_search_requests", f"{path}.server_tool_use"),
    )


def _geo(obj: Mapping[str, Any] | None, path: str) -> str | None:
    geo = optional_str(obj, "inference_geo", path) if obj is not None else None
    return None if geo is None or geo.strip().lower() in _NO_GEO else geo


def normalize_message(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a Messages response (source: API reference, Messages, "usage")."""
    usage = mapping(payload, "usage", "")
    if usage is None:
        raise NormalizeError("missing_usage", "message has no usage", path="usage")
    served = optional_str(payload, "model", "")
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no model in the message and no model= hint", path="model")
    return [UsageRecord(
        provider=hints.provider or "anthropic",
        model=model,
        model_billed=served if served and served != model else None,
        usage=message_usage(usage, "usage"),
        at=hints.at,
        request_id=optional_str(payload, "id", "") or hints.request_id,
        service_tier=optional_str(usage, "service_tier", "usage") or hints.service_tier,
        region=_geo(usage, "usage") or hints.region,
        tags=owner_tags(payload, "", hints, nested=("metadata",)),
        schema="anthropic.messages",
        source=hints.source,
    )]


def is_batch_result(payload: Mapping[str, Any]) -> bool:
    """One line of a Message Batch's results: ``custom_id`` and a typed ``result``."""
    result = payload.get("result")
    return "custom_id" in payload and is_mapping(result) and "type" in result


def _under(exc: NormalizeError, prefix: str) -> NormalizeError:
    """The same error with its field path moved under ``prefix``."""
    path = f"{prefix}.{exc.path}" if exc.path else prefix
    return NormalizeError(exc.code, exc.message, path=path, file=exc.file, line=exc.line)


def normalize_batch_result(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The succeeded message of a batch result line, at the ``batch`` tier.

    ``custom_id`` is kept as a tag (callers often encode the owner in it).
    Source: API reference, "Retrieve Message Batch results".

    Raises:
        NormalizeError: ``batch_errored``/``batch_canceled``/``batch_expired``
            for results without usage; ``bad_value`` for an unknown result type.
    """
    result = mapping(payload, "result", "", required=True)
    assert result is not None
    kind = optional_str(result, "type", "result")
    custom_id = optional_str(payload, "custom_id", "")
    if kind in _BATCH_FAILURES:
        detail = ""
        error = result.get("error")
        inner = error.get("error") if is_mapping(error) else None
        if is_mapping(inner):  # an ErrorResponse: {"type": "error", "error": {"type", "message"}}
            kind_text, msg = inner.get("type"), inner.get("message")
            detail = f": {kind_text if isinstance(kind_text, str) else 'error'}"
            detail += f" ({msg})" if isinstance(msg, str) and msg else ""
        raise NormalizeError(_BATCH_FAILURES[kind], f"batch request {custom_id!r} {kind}{detail}; Anthropic "
                             "bills no usage for it", path="result.type")
    if kind != "succeeded":
        raise NormalizeError("bad_value", f"unknown batch result type {kind!r}; expected succeeded, errored, "
                             "canceled or expired", path="result.type")
    message = mapping(result, "message", "result", required=True)
    assert message is not None
    try:
        (rec,) = normalize_message(message, hints)
    except NormalizeError as exc:
        raise _under(exc, "result.message") from None
    tags = dict(rec.tags)
    if custom_id:
        tags.setdefault("custom_id", custom_id)
    return [attrs.evolve(rec, service_tier="batch", tags=tags, schema="anthropic.batch_result")]


def _looks_like_usage_result(result: Any) -> bool:
    return is_mapping(result) and ("uncached_input_tokens" in result or "output_tokens" in result)


def is_usage_report(payload: Mapping[str, Any]) -> bool:
    """A page of the Admin API Messages usage report.

    Keyed on what only that report has: buckets with ``starting_at`` whose
    results hold ``uncached_input_tokens`` (the cost report's results hold
    amounts; OpenAI's usage pages say ``"object": "page"`` and use
    ``start_time``).
    """
    data = payload.get("data")
    if not isinstance(data, list) or not data or "has_more" not in payload or "object" in payload:
        return False
    results = [r for b in data if is_mapping(b) and isinstance(b.get("results"), list)
               for r in b["results"]]
    return (all(is_mapping(b) and "starting_at" in b for b in data)
            and any(_looks_like_usage_result(r) for r in results))


def usage_report_usage(result: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from one usage-report result (they are disjoint as reported)."""
    writes = mapping(result, "cache_creation", path)
    wpath = f"{path}.cache_creation"
    tools = mapping(result, "server_tool_use", path)
    return Usage(
        input=count(result, "uncached_input_tokens", path, required=True),
        cached_input=count(result, "cache_read_input_tokens", path),
        cache_write=count(writes, "ephemeral_5m_input_tokens", wpath),
        cache_write_1h=count(writes, "ephemeral_1h_input_tokens", wpath),
        output=count(result, "output_tokens", path, required=True),
        web_search=count(tools, "web_search_requests", f"{path}.server_tool_use"),
    )


#: Grouping fields of a usage-report result kept as tags.
_REPORT_TAGS = (("api_key_id", "api_key"), ("workspace_id", "workspace"), ("account_id", "account"),
                ("service_account_id", "service_account"), ("context_window", "context_window"))


def normalize_usage_report(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One aggregate record per result of a Messages usage report page (``requests=0``: not reported).

    Source: Admin API reference, "Get Messages Usage Report"
    (``/v1/organizations/usage_report/messages``).

    Raises:
        NormalizeError: ``missing_field`` for a result without ``model`` (the
            report was not grouped by model) or without token counts;
            ``missing_usage`` for a page whose buckets are all empty.
    """
    out: list[UsageRecord] = []
    for i, bucket in enumerate(payload["data"]):
        bpath = f"data[{i}]"
        if not is_mapping(bucket):
            raise NormalizeError("bad_type", f"{bpath} must be an object, got {type(bucket).__name__}", path=bpath)
        start = timestamp(bucket.get("starting_at"), f"{bpath}.starting_at")
        if start is None:
            raise NormalizeError("missing_field", f"{bpath}.starting_at is missing", path=f"{bpath}.starting_at")
        results = bucket.get("results")
        if not isinstance(results, list):
            raise NormalizeError("bad_type", f"{bpath}.results must be a list", path=f"{bpath}.results")
        for j, result in enumerate(results):
            path = f"{bpath}.results[{j}]"
            if not is_mapping(result):
                raise NormalizeError("bad_type", f"{path} must be an object, got {type(result).__name__}", path=path)
            model = hints.model or optional_str(result, "model", path)
            if not model:
                raise NormalizeError("missing_field", "usage report result has no model: request the report with "
                                     "group_by[]=model, or pass model=", path=f"{path}.model")
            tags: dict[str, str] = {}
            for key, dim in _REPORT_TAGS:
                value = optional_str(result, key, path)
                if value:
                    tags[dim] = value
            for key, value in hints.tags.items():
                tags[tag_name(key, hints.tag_aliases)] = value
            out.append(UsageRecord(
                provider=hints.provider or "anthropic",
                model=model,
                usage=usage_report_usage(result, path),
                at=start,
                service_tier=_report_tier(result, path) or hints.service_tier,
                region=_geo(result, path) or hints.region,
                requests=0,
                long_context=_long_context(result, path),
                tags=tags,
                schema="anthropic.usage_report",
                source=hints.source.with_path(path) if hints.source else None,
            ))
    if not out:
        raise NormalizeError("missing_usage", "usage report page has buckets but no results (no usage in the "
                             "period); nothing to attribute", path="data")
    return out


def _long_context(result: Mapping[str, Any], path: str) -> bool | None:
    """``context_window`` ("0-200k", "200k-1M") says which rates the bucket's requests paid."""
    window = optional_str(result, "context_window", path)
    if not window:
        return None
    return not window.strip().lower().startswith("0-")


def _report_tier(result: Mapping[str, Any], path: str) -> str | None:
    tier = optional_str(result, "service_tier", path)
    speed = optional_str(result, "speed", path)
    # Fast mode is a premium the bundled cards do not price: name it as the tier
    # so pricing reports an unknown tier instead of charging the standard rate.
    if speed and speed.lower() not in ("standard", "normal") and (tier is None or tier == "standard"):
        return speed
    return tier


SCHEMAS = (
    Schema("anthropic.messages", "anthropic", is_message, normalize_message,
           'Anthropic Messages response (type "message" with usage)', keys=frozenset({"type"})),
    Schema("anthropic.batch_result", "anthropic", is_batch_result, normalize_batch_result,
           "Anthropic Message Batches result line (custom_id and result.type)", keys=frozenset({"custom_id"})),
    Schema("anthropic.usage_report", "anthropic", is_usage_report, normalize_usage_report,
           "Anthropic Admin API Messages usage report page (data[].starting_at, results[].uncached_input_tokens)", keys=frozenset({"data"})),
)
