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

Server-side iterations (``usage.iterations``: compaction, the advisor tool,
server-side fallbacks, server-tool loops) are billed one by one, and the
top-level counts leave some of them out: they are the executor's ``message``
iterations only, without the ``compaction`` iterations (the summary pass,
which can read 100x more tokens than the answer) and without the
``advisor_message`` sub-inferences, which are billed at the advisor model's
rates (Anthropic: compaction guide, "usage"; advisor tool guide, "Billing";
SDK types ``BetaIterationsUsageItem``). So when ``iterations`` is present,
the bill is read from it: every iteration at its own model (an entry's
``model``, else the response's). Iterations at the response's model are
summed into the response's record (``web_search`` still comes from the
top-level ``server_tool_use``). Anthropic prices each iteration on its own
prompt size (long-context rates), so when several of them together exceed
:data:`SPLIT_ITERATIONS_ABOVE` (100K tokens, below every long-context
threshold published) each becomes a record of its own, priced on its own
prompt. An iteration at another model (an advisor) is a record of its own, ``request_id`` ``"<message id>:iterations[i]"``,
``parent_id`` the message id (so it sits in the response's request tree) and
schema ``anthropic.messages.iteration``. A response with such iterations
therefore gives several records: read it with ``normalize_many``. Counts that
do not add up (a top-level count above the sum of the iterations) are
rejected as ``inconsistent_usage``.

Stream events: ``message_start`` carries the message (id, model) with the
input counts and a placeholder output count; ``message_delta`` carries the
final, cumulative usage (``output_tokens``; since 2025 also the input and
cache counts, and ``iterations``). A ``message_delta`` with ``input_tokens``
is complete and is read alone (pass ``model=``: the event has none); a
``message_start`` or an older ``message_delta`` without ``input_tokens`` is
half of the bill and is rejected as ``partial_stream_event``, as are the
other events (``content_block_*``, ``ping``, ``message_stop``).
:func:`attribution.normalize.normalize_stream` combines a whole stream's
events into one record.

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

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import (
    Hints,
    Schema,
    count,
    is_mapping,
    mapping,
    optional_str,
    owner_tags,
    tag_name,
    timestamp,
    usage_of,
)

__all__ = [
    "SCHEMAS",
    "SPLIT_ITERATIONS_ABOVE",
    "combine_stream",
    "is_bare_message_usage",
    "is_bare_message_usage_hinted",
    "is_batch_result",
    "is_message",
    "is_stream_event",
    "is_usage_report",
    "iteration_records",
    "message_usage",
    "normalize_bare_message_usage",
    "normalize_batch_result",
    "normalize_message",
    "normalize_stream_event",
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
    details = mapping(usage, "output_tokens_details", path)
    return usage_of(
        path,
        input=count(usage, "input_tokens", path, required=True),
        cached_input=count(usage, "cache_read_input_tokens", path),
        cache_write=w5,
        cache_write_1h=w1h,
        output=count(usage, "output_tokens", path, required=True),
        reasoning=count(details, "thinking_tokens", f"{path}.output_tokens_details"),
        web_search=count(tools, "web_search_requests", f"{path}.server_tool_use"),
    )


def _geo(obj: Mapping[str, Any] | None, path: str) -> str | None:
    geo = optional_str(obj, "inference_geo", path) if obj is not None else None
    return None if geo is None or geo.strip().lower() in _NO_GEO else geo


def normalize_message(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The records of a Messages response (source: API reference, Messages, "usage").

    One record, or more when ``usage.iterations`` bills other models or
    iterations above the long-context threshold (see the module docstring).
    """
    usage = mapping(payload, "usage", "")
    if usage is None:
        raise NormalizeError("missing_usage", "message has no usage", path="usage")
    served = optional_str(payload, "model", "")
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no model in the message and no model= hint", path="model")
    record = UsageRecord(
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
    )
    iterations = usage.get("iterations")
    if not isinstance(iterations, list) or not iterations:
        return [record]
    return iteration_records(record, usage, iterations, served or model)


#: Each iteration pays the long-context rates on its own prompt (SDK ``BetaUsage.iterations``). Summed
#: iterations are priced on their summed prompt, which is exact while it stays below every long-context
#: threshold Anthropic has published (the lowest: Claude Haiku 5.5, above 100K tokens); past it the
#: iterations become records of their own, each priced on its own prompt.
SPLIT_ITERATIONS_ABOVE = 100_000
_USAGE_METERS = ("input", "cached_input", "cache_write", "cache_write_1h", "output")


def iteration_records(record: UsageRecord, usage: Mapping[str, Any], iterations: list[Any],
                      response_model: str) -> list[UsageRecord]:
    """The records that bill a response's ``usage.iterations`` (see the module docstring).

    ``record`` is the response's record from the top-level counts: it keeps
    its ids, tags and tier; its meters become the sum of the iterations at
    the response's model.
    """
    parts: list[tuple[int, str | None, Usage, str]] = []
    for i, entry in enumerate(iterations):
        path = f"usage.iterations[{i}]"
        if not is_mapping(entry):
            raise NormalizeError("bad_type", f"{path} must be an object, got {type(entry).__name__}", path=path)
        kind = optional_str(entry, "type", path) or "message"
        own = optional_str(entry, "model", path)
        model = None if own is None or own in (response_model, record.model) else own
        parts.append((i, model, _iteration_usage(entry, path), kind))
    top = record.usage
    for meter in _USAGE_METERS:
        if getattr(top, meter) > sum(getattr(u, meter) for _, _, u, _ in parts):
            raise NormalizeError("inconsistent_usage", f"usage.{meter} ({getattr(top, meter)}) exceeds the sum of "
                                 f"usage.iterations; the iterations do not cover the response's bill",
                                 path="usage.iterations")
    own_parts = [p for p in parts if p[1] is None and (p[2].prompt_tokens or p[2].output)]
    if sum(u.prompt_tokens for _, _, u, _ in own_parts) > SPLIT_ITERATIONS_ABOVE and len(own_parts) > 1:
        main, apart = [], [p for p in parts if p[2].prompt_tokens or p[2].output]   # each on its own prompt
    else:
        main = [u for _, model, u, _ in parts if model is None]
        apart = [p for p in parts if p[1] is not None]
    out: list[UsageRecord] = []
    rid = record.request_id
    if main or not apart:
        out.append(attrs.evolve(record, usage=usage_of("usage.iterations", **_summed(main, top))))
    for i, model, u, kind in apart:
        if not out:   # the first billed iteration stands for the response (and carries its web searches)
            out.append(attrs.evolve(record, model=model or record.model,
                                    model_billed=None if model else record.model_billed,
                                    usage=usage_of("usage.iterations", **_summed([u], top))))
            continue
        out.append(attrs.evolve(
            record, model=model or record.model, model_billed=None if model else record.model_billed, usage=u,
            request_id=f"{rid}:iterations[{i}]" if rid else None, parent_id=rid,
            schema="anthropic.messages.iteration", tags={**record.tags, "anthropic_iteration": kind}))
    return out


def _summed(parts: list[Usage], top: Usage) -> dict[str, int]:
    """The parts' meters added up, with the response's web searches and (when it fits) its thinking count."""
    totals = {meter: sum(getattr(u, meter) for u in parts) for meter in _USAGE_METERS}
    totals["web_search"] = top.web_search
    # output_tokens_details.thinking_tokens is reported for the whole response only: a breakdown of
    # output (no price of its own), kept where it fits.
    totals["reasoning"] = top.reasoning if top.reasoning <= totals["output"] else 0
    return totals


def _iteration_usage(entry: Mapping[str, Any], path: str) -> Usage:
    created_total = count(entry, "cache_creation_input_tokens", path)
    breakdown = mapping(entry, "cache_creation", path)
    w1h = count(breakdown, "ephemeral_1h_input_tokens", f"{path}.cache_creation")
    w5 = count(breakdown, "ephemeral_5m_input_tokens", f"{path}.cache_creation") if breakdown else created_total
    if breakdown is not None and entry.get("cache_creation_input_tokens") is not None:
        if w5 + w1h > created_total:
            raise NormalizeError("inconsistent_usage", f"cache_creation breakdown ({w5 + w1h}) exceeds "
                                 f"cache_creation_input_tokens ({created_total})", path=f"{path}.cache_creation")
        w5 = created_total - w1h
    return usage_of(path, input=count(entry, "input_tokens", path), cached_input=count(entry, "cache_read_input_tokens", path),
                    cache_write=w5, cache_write_1h=w1h, output=count(entry, "output_tokens", path))


#: Stream events that carry no usage: a stream's other events.
_OTHER_EVENTS = frozenset({"content_block_start", "content_block_delta", "content_block_stop", "ping",
                           "message_stop"})
_STREAM_EVENTS = frozenset({"message_start", "message_delta"}) | _OTHER_EVENTS


def is_stream_event(payload: Mapping[str, Any]) -> bool:
    """A Messages stream event (``message_start``, ``message_delta``, ``content_block_*``, ``ping``...)."""
    kind = payload.get("type")
    return isinstance(kind, str) and kind in _STREAM_EVENTS


def normalize_stream_event(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The record of a complete ``message_delta`` (one that carries ``input_tokens``); other events are rejected.

    A ``message_delta``'s usage is cumulative: with ``input_tokens`` it is the
    whole bill of the stream (pass ``model=`` from the ``message_start``).

    Raises:
        NormalizeError: ``partial_stream_event`` for ``message_start``, a
            ``message_delta`` without ``input_tokens`` and events without
            usage (combine them with ``normalize_stream``); ``missing_field``
            without ``model=``.
    """
    kind = payload.get("type")
    if kind == "message_delta":
        usage = mapping(payload, "usage", "")
        if usage is not None and usage.get("input_tokens") is not None:
            message = {"type": "message", "model": hints.model, "usage": usage}
            if not hints.model:
                raise NormalizeError("missing_field", "a message_delta event names no model: pass model= (the "
                                     "message_start's message.model) or combine the stream's events with "
                                     "normalize_stream()", path="model")
            return [attrs.evolve(r, schema="anthropic.stream") for r in normalize_message(message, hints)]
        raise NormalizeError("partial_stream_event", "this message_delta carries only the output count (no "
                             "input_tokens); combine it with its message_start: normalize_stream(events)",
                             path="usage")
    if kind == "message_start":
        raise NormalizeError("partial_stream_event", "a message_start event carries the input counts but not the "
                             "final output count; keep the stream's last message_delta, or combine the events "
                             "with normalize_stream(events)", path="message.usage")
    raise NormalizeError("partial_stream_event", f"a {kind} stream event carries no usage; the stream's usage is "
                         "in its message_start and message_delta events (normalize_stream(events))", path="type")


def combine_stream(events: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One Messages response from a stream's events: ``message_start``'s message with every ``message_delta``'s usage.

    A ``message_delta``'s usage is cumulative, so its fields replace the
    start's (``output_tokens`` always; the input and cache counts and
    ``iterations`` when it has them). ``None`` when no ``message_start`` or
    ``message_delta`` is among the events.

    >>> combine_stream([
    ...     {"type": "message_start", "message": {"id": "msg_1", "type": "message", "model": "claude-sonnet-4-5",
    ...      "usage": {"input_tokens": 1200, "cache_read_input_tokens": 4000, "output_tokens": 1}}},
    ...     {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    ...     {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 310}},
    ... ])["usage"]
    {'input_tokens': 1200, 'cache_read_input_tokens': 4000, 'output_tokens': 310}
    """
    message: dict[str, Any] | None = None
    usage: dict[str, Any] = {}
    seen = False
    for n, event in enumerate(events):
        kind = event.get("type")
        if kind == "message_start":
            start = mapping(event, "message", f"events[{n}]", required=True)
            assert start is not None
            message = dict(start)
            start_usage = mapping(start, "usage", f"events[{n}].message")
            usage = {**(start_usage or {}), **usage}
            seen = True
        elif kind == "message_delta":
            delta_usage = mapping(event, "usage", f"events[{n}]")
            if delta_usage is not None:
                usage.update({k: v for k, v in delta_usage.items() if v is not None})
            seen = True
    if not seen:
        return None
    out: dict[str, Any] = message if message is not None else {}
    out["type"] = "message"
    out["usage"] = usage
    return out


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


#: Keys that make a payload something other than a bare log body.
_NOT_BARE = frozenset({"type", "object", "choices", "candidates", "usageMetadata", "output", "resourceSpans",
                       "result", "data", "outputs"})
#: Usage fields only Anthropic's API writes (OpenAI's Responses usage also has input/output_tokens).
_ANTHROPIC_ONLY = ("cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "server_tool_use",
                   "inference_geo")
_FIRST_PARTY_MODEL = re.compile(r"\Aclaude-[a-z0-9.-]+\Z")


def _bare_usage(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    usage = payload.get("usage")
    if not is_mapping(usage) or not isinstance(payload.get("model"), str) or not _NOT_BARE.isdisjoint(payload):
        return None
    if "input_tokens" not in usage or "prompt_tokens" in usage or "input_tokens_details" in usage:
        return None
    return usage


def is_bare_message_usage(payload: Mapping[str, Any]) -> bool:
    """A log line that kept ``{"model", "usage"}`` of a Messages response (with Anthropic-only usage fields).

    Claimed without a hint only when the usage has fields only Anthropic
    writes and the model is a first-party ``claude-...`` id (Bedrock and
    Vertex ids look different): see :data:`SCHEMAS` for the hinted form.
    """
    usage = _bare_usage(payload)
    named = payload.get("provider")   # a log line that names another provider (Bedrock, Vertex) is not claimed
    return (usage is not None and any(k in usage for k in _ANTHROPIC_ONLY)
            and _FIRST_PARTY_MODEL.match(payload["model"]) is not None
            and (named is None or (isinstance(named, str) and named.strip().lower() == "anthropic")))


def is_bare_message_usage_hinted(payload: Mapping[str, Any]) -> bool:
    """Any bare ``{"model", "usage": {"input_tokens", ...}}`` body (only with ``provider="anthropic"``)."""
    return _bare_usage(payload) is not None


def normalize_bare_message_usage(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from a bare ``{"model", "usage"}`` log body with a Messages ``usage`` (see :func:`normalize_message`).

    ``created_at``/``timestamp`` give the time when present (else ``at=``).

    >>> from attribution import normalize
    >>> rec = normalize({"model": "claude-sonnet-4-5-20250929", "usage": {"input_tokens": 14,
    ...                  "cache_read_input_tokens": 2000, "output_tokens": 65}})
    >>> rec.provider, rec.usage.input, rec.usage.cached_input, rec.schema
    ('anthropic', 14, 2000, 'anthropic.bare')
    """
    message = {"type": "message", "model": payload["model"], "usage": payload["usage"], "id": payload.get("id"),
               "metadata": payload.get("metadata")}
    when = next((payload[k] for k in ("created_at", "timestamp", "created") if payload.get(k) is not None), None)
    at = timestamp(when, "created_at")
    records = normalize_message({k: v for k, v in message.items() if v is not None}, hints)
    return [attrs.evolve(r, schema="anthropic.bare", at=r.at or at) for r in records]


SCHEMAS = (
    Schema("anthropic.bare", "anthropic", is_bare_message_usage, normalize_bare_message_usage,
           'a bare {"model", "usage"} log body with Anthropic Messages usage (cache_read_input_tokens...)',
           specificity=4, keys=frozenset({"usage"})),
    Schema("anthropic.bare.hinted", "anthropic", is_bare_message_usage_hinted, normalize_bare_message_usage,
           'a bare {"model", "usage": {"input_tokens"...}} log body (only with provider="anthropic")',
           specificity=2, keys=frozenset({"usage"})),
    Schema("anthropic.messages", "anthropic", is_message, normalize_message,
           'Anthropic Messages response (type "message" with usage)', keys=frozenset({"type"})),
    Schema("anthropic.stream", "anthropic", is_stream_event, normalize_stream_event,
           "Anthropic Messages stream event (message_delta with input_tokens; others are partial)",
           keys=frozenset({"type"})),
    Schema("anthropic.batch_result", "anthropic", is_batch_result, normalize_batch_result,
           "Anthropic Message Batches result line (custom_id and result.type)", keys=frozenset({"custom_id"})),
    Schema("anthropic.usage_report", "anthropic", is_usage_report, normalize_usage_report,
           "Anthropic Admin API Messages usage report page (data[].starting_at, results[].uncached_input_tokens)", keys=frozenset({"data"})),
)
