"""Amazon Bedrock: Converse / ConverseStream, InvokeModel (Anthropic) and invocation logs.

Bedrock reports cache reads and writes *beside* the input count:
``inputTokens`` excludes ``cacheReadInputTokens`` and ``cacheWriteInputTokens``
(the same convention as Anthropic's Messages API, which Bedrock serves for
Claude). ``cacheDetails`` splits the writes by TTL (``{"ttl": "5m" | "1h",
"inputTokens": n}``; 1-hour writes are priced higher); writes it does not
cover are 5-minute, the default TTL. Reasoning tokens are not broken out of
``outputTokens``. Sources: Amazon Bedrock API reference, ``Converse``,
``ConverseStream`` (``ConverseStreamMetadataEvent``), ``TokenUsage``,
``CacheDetail``, ``ServiceTier``, ``PerformanceConfiguration``; user guide,
"Monitor model invocation using CloudWatch Logs and Amazon S3".

Three shapes:

* **Converse** responses and the **ConverseStream** ``metadata`` event (with or
  without its ``{"metadata": ...}`` wrapper). They carry no model id: pass
  ``model=`` (the ``modelId`` you called; an inference-profile ARN or a
  ``us.``/``global.`` profile id is kept as is, the registry resolves it).
  A boto3 response dict's ``ResponseMetadata`` gives the request id and the
  ``date`` header the timestamp.
* **InvokeModel** with an Anthropic model: the body is a Messages-API message
  (read by :func:`attribution.normalize.anthropic.message_usage`). Bedrock's
  message ids start with ``msg_bdrk_``, which is how it is told apart from a
  first-party Anthropic response; any other Messages body is read as Bedrock
  when ``provider="bedrock"`` is passed. The body's ``model`` is Anthropic's
  name, not the Bedrock model id, so ``model=`` is preferred. Its
  ``usage.iterations`` (compaction, which Bedrock serves on InvokeModel) are
  billed as for Anthropic (:func:`attribution.normalize.anthropic.iteration_records`).
* **Model invocation log** records (CloudWatch Logs / S3, ``schemaType``
  ``"ModelInvocationLog"``): ``input.inputTokenCount``,
  ``output.outputTokenCount``, ``input.cacheReadInputTokenCount`` and
  ``input.cacheWriteInputTokenCount`` (beside the input count, as above);
  ``modelId``, ``region``, ``requestId``, ``timestamp``; ``requestMetadata``
  (the caller's Converse ``requestMetadata``) becomes owner tags (except
  ``traceId``/``trace_id``, ``spanId`` and ``parentId``, which become the
  record's trace links), and the
  caller's account and IAM identity become the ``aws_account_id`` and
  ``aws_identity_arn`` tags. The TTL split and web-search count are read from
  the logged response body when it has them.

The last chunk of an **InvokeModelWithResponseStream** stream carries
``amazon-bedrock-invocationMetrics`` (input, output and cache counts) whatever
the model: it is read as the stream's bill (schema ``bedrock.stream_metrics``,
pass ``model=``), and wins over the chunk's own shape (an Anthropic
``message_stop``, a Nova ``metadata`` event).

Service tier: ``serviceTier.type`` (``priority``, ``default``, ``flex``,
``reserved``), or ``latency_optimized`` when ``performanceConfig.latency`` is
``optimized`` (latency-optimized inference has its own prices).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .._records import UsageRecord
from .._usage import Usage
from ..exceptions import InvalidUsage, NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, optional_str, owner_tags, timestamp
from .anthropic import iteration_records, message_usage

__all__ = [
    "SCHEMAS",
    "converse_usage",
    "is_bedrock_message",
    "is_converse",
    "is_invocation_log",
    "is_messages_body",
    "is_native_body",
    "is_stream_metrics",
    "normalize_converse",
    "normalize_invocation_log",
    "normalize_invoke_model",
    "normalize_native_body",
    "normalize_stream_metrics",
]

_TTLS = ("5m", "1h")


#: requestMetadata keys that carry trace links rather than owner tags (Converse takes any
#: string key/value pairs; these are the spellings tracing libraries use).
_LOG_LINKS = {"trace_id": ("trace_id", "traceid", "trace-id"), "span_id": ("span_id", "spanid"),
              "parent_id": ("parent_id", "parentid", "parent_span_id", "parentspanid")}   # tag names are lower-cased

def _usage(path: str, **meters: int) -> Usage:
    # Sums of in-range counts can still overflow the sanity limit.
    try:
        return Usage(**meters)
    except InvalidUsage as exc:
        raise NormalizeError("absurd_count", str(exc), path=path) from None


def _converse_body(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The response (or stream metadata event) and its path prefix."""
    inner = payload.get("metadata")
    if is_mapping(inner) and "output" not in payload and ("usage" in inner or "metrics" in inner):
        return inner, "metadata."
    return payload, ""


def _token_usage(obj: Any) -> bool:
    return is_mapping(obj) and "inputTokens" in obj and "outputTokens" in obj


def is_converse(payload: Mapping[str, Any]) -> bool:
    """A Converse response or a ConverseStream ``metadata`` event."""
    body, _ = _converse_body(payload)
    if _token_usage(body.get("usage")):
        return True
    # Shapes without usage are still recognized, to be reported as missing_usage.
    return ("stopReason" in body and is_mapping(body.get("output"))) or (
        body is not payload and is_mapping(body.get("metrics")))


def _cache_writes(total: int | None, details: Any, path: str, total_path: str) -> tuple[int, int]:
    """5-minute and 1-hour cache writes from ``cacheDetails``; unsplit writes are 5-minute."""
    if not details:
        return total or 0, 0
    if not isinstance(details, list):
        raise NormalizeError("bad_type", f"{path!r} must be a list, got {type(details).__name__}", path=path)
    by_ttl = dict.fromkeys(_TTLS, 0)
    for i, item in enumerate(details):
        ipath = f"{path}[{i}]"
        if not is_mapping(item):
            raise NormalizeError("bad_type", f"{ipath!r} must be an object", path=ipath)
        ttl = optional_str(item, "ttl", ipath)
        if ttl not in by_ttl:
            raise NormalizeError("unsupported_usage", f"cache TTL {ttl!r} has no meter (known: 5m, 1h)",
                                 path=f"{ipath}.ttl")
        by_ttl[ttl] += count(item, "inputTokens", ipath, required=True)
    w5, w1h = by_ttl["5m"], by_ttl["1h"]
    if total is None:
        return w5, w1h
    if w5 + w1h > total:
        raise NormalizeError("inconsistent_usage", f"cacheDetails ({w5 + w1h}) exceed the cache writes ({total})",
                             path=total_path)
    return total - w1h, w1h


def converse_usage(usage: Mapping[str, Any], path: str) -> Usage:
    """Disjoint meters from a Converse ``TokenUsage`` (cache reads and writes beside input).

    The ``...TokenCount`` spellings of the cache fields (Amazon Nova's
    InvokeModel body) are read too.

    >>> u = converse_usage({"inputTokens": 20, "outputTokens": 300, "totalTokens": 2368,
    ...                     "cacheReadInputTokens": 0, "cacheWriteInputTokens": 2048,
    ...                     "cacheDetails": [{"ttl": "1h", "inputTokens": 2048}]}, "usage")
    >>> u.input, u.cache_write, u.cache_write_1h, u.output
    (20, 0, 2048, 300)
    """
    write_key = "cacheWriteInputTokens" if usage.get("cacheWriteInputTokens") is not None \
        else "cacheWriteInputTokenCount"
    total = count(usage, write_key, path) if usage.get(write_key) is not None else None
    w5, w1h = _cache_writes(total, usage.get("cacheDetails"), f"{path}.cacheDetails", f"{path}.{write_key}")
    read = count(usage, "cacheReadInputTokens", path) or count(usage, "cacheReadInputTokenCount", path)
    return _usage(
        path,
        input=count(usage, "inputTokens", path, required=True),
        cached_input=read,
        cache_write=w5,
        cache_write_1h=w1h,
        output=count(usage, "outputTokens", path, required=True),
    )


def _service_tier(body: Mapping[str, Any], path: str, hints: Hints) -> str | None:
    tier = body.get("serviceTier")
    name = optional_str(tier, "type", f"{path}serviceTier") if is_mapping(tier) \
        else optional_str(body, "serviceTier", path.rstrip("."))
    perf = body.get("performanceConfig")
    latency = optional_str(perf, "latency", f"{path}performanceConfig") if is_mapping(perf) else None
    if (name is None or name.lower() == "default") and latency == "optimized":
        return "latency_optimized"
    return name or hints.service_tier


def _response_metadata(payload: Mapping[str, Any]) -> tuple[str | None, datetime | None]:
    """Request id and ``date`` header from a boto3 response dict's ``ResponseMetadata``."""
    meta = payload.get("ResponseMetadata")
    if not is_mapping(meta):
        return None, None
    request_id = optional_str(meta, "RequestId", "ResponseMetadata")
    headers = meta.get("HTTPHeaders")
    date = headers.get("date") if is_mapping(headers) else None
    if not isinstance(date, str):
        return request_id, None
    try:
        at = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise NormalizeError("bad_timestamp", f"not an HTTP date: {date!r}",
                             path="ResponseMetadata.HTTPHeaders.date") from None
    return request_id, timestamp(at, "ResponseMetadata.HTTPHeaders.date")


def normalize_converse(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """A Converse response or ConverseStream ``metadata`` event (needs ``model=``).

    Raises:
        NormalizeError: ``missing_usage``; ``missing_field`` (path ``model``)
            when no ``model=`` hint is given, since the response has no model id.
    """
    body, prefix = _converse_body(payload)
    usage = mapping(body, "usage", prefix.rstrip("."))
    if usage is None:
        raise NormalizeError("missing_usage", "Converse response has no usage (for ConverseStream, keep the "
                             "metadata event)", path=f"{prefix}usage")
    if not hints.model:
        raise NormalizeError("missing_field", "Converse responses carry no model id: pass model= (the modelId, "
                             "inference-profile id or ARN you called)", path="model")
    request_id, at = _response_metadata(payload)
    return [UsageRecord(
        provider="bedrock",
        model=hints.model,
        usage=converse_usage(usage, f"{prefix}usage"),
        at=at or hints.at,
        request_id=request_id or hints.request_id,
        service_tier=_service_tier(body, prefix, hints),
        region=hints.region,
        tags=owner_tags(body, prefix.rstrip("."), hints, nested=("requestMetadata",)),
        schema="bedrock.converse",
        source=hints.source,
    )]


def is_messages_body(payload: Mapping[str, Any]) -> bool:
    """A Messages-API body (``type: "message"``), as InvokeModel returns for Claude."""
    return payload.get("type") == "message"


def is_bedrock_message(payload: Mapping[str, Any]) -> bool:
    """A Messages-API body with a Bedrock message id (``msg_bdrk_...``)."""
    ident = payload.get("id")
    return is_messages_body(payload) and isinstance(ident, str) and ident.startswith("msg_bdrk_")


def normalize_invoke_model(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """An InvokeModel response body from an Anthropic model on Bedrock.

    The model is ``model=`` (the Bedrock model id or inference profile you
    invoked), else the body's own ``model``.
    """
    usage = mapping(payload, "usage", "")
    if usage is None:
        raise NormalizeError("missing_usage", "message has no usage", path="usage")
    model = hints.model or optional_str(payload, "model", "")
    if not model:
        raise NormalizeError("missing_field", "no model in the body and no model= hint (the Bedrock modelId)",
                             path="model")
    record = UsageRecord(
        provider="bedrock",
        model=model,
        usage=message_usage(usage, "usage"),
        at=hints.at,
        request_id=optional_str(payload, "id", "") or hints.request_id,
        service_tier=hints.service_tier or optional_str(usage, "service_tier", "usage"),
        region=hints.region,
        tags=owner_tags(payload, "", hints, nested=("requestMetadata",)),
        schema="bedrock.invoke_model",
        source=hints.source,
    )
    iterations = usage.get("iterations")
    if isinstance(iterations, list) and iterations:   # compaction on InvokeModel: bill every iteration
        return iteration_records(record, usage, iterations, model)
    return [record]


def is_invocation_log(payload: Mapping[str, Any]) -> bool:
    """A model invocation log record (``schemaType: "ModelInvocationLog"``)."""
    return payload.get("schemaType") == "ModelInvocationLog"


def _optional_count(obj: Mapping[str, Any] | None, key: str, path: str) -> int | None:
    return None if obj is None or obj.get(key) is None else count(obj, key, path)


def _body_usage(out: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    body = out.get("outputBodyJson") if out is not None else None
    usage = body.get("usage") if is_mapping(body) else None
    return usage if is_mapping(usage) else None


def _log_writes(total: int, body: Mapping[str, Any] | None) -> tuple[int, int]:
    """Split logged cache writes by TTL using the logged response body, when it says."""
    upath = "output.outputBodyJson.usage"
    if body is None:
        return total, 0
    if body.get("cacheDetails"):
        return _cache_writes(total, body.get("cacheDetails"), f"{upath}.cacheDetails",
                             "input.cacheWriteInputTokenCount")
    creation = body.get("cache_creation")
    if is_mapping(creation):  # an Anthropic Messages body (InvokeModel)
        w1h = count(creation, "ephemeral_1h_input_tokens", f"{upath}.cache_creation")
        if w1h > total:
            raise NormalizeError("inconsistent_usage", f"1-hour cache writes ({w1h}) exceed "
                                 f"cacheWriteInputTokenCount ({total})", path=f"{upath}.cache_creation")
        return total - w1h, w1h
    return total, 0


def normalize_invocation_log(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """A Bedrock model invocation log record (CloudWatch Logs or S3).

    A record with an ``errorCode`` and token counts is an error with usage;
    an ``errorCode`` record without an output count has no output. A record
    with no token counts at all (image and video generation, embeddings
    without counts) is ``missing_usage``.
    """
    inp = mapping(payload, "input", "")
    out = mapping(payload, "output", "")
    in_n = _optional_count(inp, "inputTokenCount", "input")
    out_n = _optional_count(out, "outputTokenCount", "output")
    error = optional_str(payload, "errorCode", "")
    if in_n is None and out_n is None:
        raise NormalizeError("missing_usage", "invocation log has no inputTokenCount or outputTokenCount",
                             path="input.inputTokenCount")
    if error is None and in_n is None:
        raise NormalizeError("missing_field", "required field 'input.inputTokenCount' is missing",
                             path="input.inputTokenCount")
    if error is None and out_n is None:
        raise NormalizeError("missing_field", "required field 'output.outputTokenCount' is missing",
                             path="output.outputTokenCount")
    served = optional_str(payload, "modelId", "")
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "required field 'modelId' is missing", path="modelId")
    body = _body_usage(out)
    w5, w1h = _log_writes(count(inp, "cacheWriteInputTokenCount", "input"), body)
    tools = body.get("server_tool_use") if body is not None else None
    usage = _usage(
        "input",
        input=in_n or 0,
        cached_input=count(inp, "cacheReadInputTokenCount", "input"),
        cache_write=w5,
        cache_write_1h=w1h,
        output=out_n or 0,
        web_search=count(tools, "web_search_requests", "output.outputBodyJson.usage.server_tool_use")
        if is_mapping(tools) else 0,
    )
    tags = owner_tags(payload, "", hints, nested=("requestMetadata",))
    account = optional_str(payload, "accountId", "")
    identity = mapping(payload, "identity", "")
    arn = optional_str(identity, "arn", "identity") if identity is not None else None
    if account:
        tags.setdefault("aws_account_id", account)
    if arn:
        tags.setdefault("aws_identity_arn", arn)
    # Trace links set by the caller in requestMetadata join the log record to its request tree.
    links = {}
    for field, keys in _LOG_LINKS.items():
        for key in keys:
            if key in tags:
                links[field] = tags.pop(key)
                break
    return [UsageRecord(
        provider="bedrock",
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage,
        at=timestamp(payload.get("timestamp"), "timestamp") or hints.at,
        request_id=optional_str(payload, "requestId", "") or hints.request_id,
        trace_id=links.get("trace_id"),
        span_id=links.get("span_id"),
        parent_id=links.get("parent_id"),
        outcome="error" if error else "ok",
        service_tier=_service_tier(payload, "", hints),
        region=optional_str(payload, "region", "") or hints.region,
        tags=tags,
        schema="bedrock.invocation_log",
        source=hints.source,
    )]


def is_native_body(payload: Mapping[str, Any]) -> bool:
    """An InvokeModel body of an Amazon Titan text model or a Meta Llama model (their own, not Messages, shapes)."""
    return ("inputTextTokenCount" in payload and isinstance(payload.get("results"), list)) or (
        "prompt_token_count" in payload and "generation_token_count" in payload)


def normalize_native_body(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an InvokeModel body of Amazon Titan text or Meta Llama (pass ``model=``, the modelId).

    Titan: ``inputTextTokenCount`` and ``results[].tokenCount`` (one per
    generated result, summed); Llama: ``prompt_token_count`` and
    ``generation_token_count``. Neither reports caching. Sources: Amazon
    Bedrock user guide, inference parameters for Amazon Titan Text and Meta
    Llama models (response body).

    Raises:
        NormalizeError: ``missing_field`` without ``model=`` (the body names no model).
    """
    if not hints.model:
        raise NormalizeError("missing_field", "an InvokeModel body names no model: pass model= (the modelId "
                             "you invoked)", path="model")
    if "inputTextTokenCount" in payload:
        inp = count(payload, "inputTextTokenCount", "", required=True)
        out = 0
        for i, result in enumerate(payload["results"]):
            if not is_mapping(result):
                raise NormalizeError("bad_type", f"results[{i}] must be an object", path=f"results[{i}]")
            out += count(result, "tokenCount", f"results[{i}]")
        schema = "bedrock.invoke_model.titan"
    else:
        inp = count(payload, "prompt_token_count", "", required=True)
        out = count(payload, "generation_token_count", "", required=True)
        schema = "bedrock.invoke_model.llama"
    return [UsageRecord(
        provider="bedrock",
        model=hints.model,
        usage=_usage("", input=inp, output=out),
        at=hints.at,
        request_id=hints.request_id,
        service_tier=hints.service_tier,
        region=hints.region,
        tags=owner_tags({}, "", hints),
        schema=schema,
        source=hints.source,
    )]


_METRICS = "amazon-bedrock-invocationMetrics"


def is_stream_metrics(payload: Mapping[str, Any]) -> bool:
    """The last chunk of an InvokeModelWithResponseStream stream: it carries ``amazon-bedrock-invocationMetrics``."""
    metrics = payload.get(_METRICS)
    return is_mapping(metrics) and "inputTokenCount" in metrics


def normalize_stream_metrics(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from the ``amazon-bedrock-invocationMetrics`` of a stream's last chunk (pass ``model=``).

    Bedrock adds the metrics to the last chunk of every model's stream
    (Anthropic's ``message_stop``, Titan's final chunk, Nova's ``metadata``):
    ``inputTokenCount`` and ``outputTokenCount``, with
    ``cacheReadInputTokenCount`` / ``cacheWriteInputTokenCount`` beside the
    input count, as everywhere on Bedrock (writes are 5-minute: the metrics
    carry no TTL split). Source: Amazon Bedrock user guide, "Run model
    inference: InvokeModelWithResponseStream" (invocation metrics in the
    final chunk).

    Raises:
        NormalizeError: ``missing_field`` without ``model=`` (the chunk names no model).
    """
    metrics = mapping(payload, _METRICS, "", required=True)
    assert metrics is not None
    if not hints.model:
        raise NormalizeError("missing_field", "a Bedrock stream chunk names no model: pass model= (the modelId you "
                             "invoked)", path="model")
    return [UsageRecord(
        provider="bedrock",
        model=hints.model,
        usage=_usage(_METRICS, input=count(metrics, "inputTokenCount", _METRICS, required=True),
                     cached_input=count(metrics, "cacheReadInputTokenCount", _METRICS),
                     cache_write=count(metrics, "cacheWriteInputTokenCount", _METRICS),
                     output=count(metrics, "outputTokenCount", _METRICS, required=True)),
        at=hints.at,
        request_id=hints.request_id,
        service_tier=hints.service_tier,
        region=hints.region,
        tags=owner_tags({}, "", hints),
        schema="bedrock.stream_metrics",
        source=hints.source,
    )]


SCHEMAS = (
    # Wins over the Anthropic stream-event and ConverseStream-metadata schemas: the metrics are the bill.
    Schema("bedrock.stream_metrics", "bedrock", is_stream_metrics, normalize_stream_metrics,
           "last chunk of a Bedrock InvokeModelWithResponseStream stream (amazon-bedrock-invocationMetrics); "
           "needs model=", specificity=30, keys=frozenset({_METRICS})),
    Schema("bedrock.native_body", "bedrock", is_native_body, normalize_native_body,
           "Bedrock InvokeModel body of Amazon Titan text (inputTextTokenCount) or Meta Llama "
           "(prompt_token_count); needs model=", keys=frozenset({"inputTextTokenCount", "prompt_token_count"})),
    Schema("bedrock.converse", "bedrock", is_converse, normalize_converse,
           "Bedrock Converse response or ConverseStream metadata event (usage.inputTokens; needs model=)", keys=frozenset({"usage", "metadata", "stopReason"})),
    # A Messages body with a Bedrock id wins over the first-party Anthropic schema.
    Schema("bedrock.invoke_model", "bedrock", is_bedrock_message, normalize_invoke_model,
           'Bedrock InvokeModel body from an Anthropic model (type "message", id "msg_bdrk_...")',
           specificity=20, keys=frozenset({"type"})),
    # Any Messages body, when provider="bedrock" says so; never wins auto-detection.
    Schema("bedrock.invoke_model.messages", "bedrock", is_messages_body, normalize_invoke_model,
           'Bedrock InvokeModel body from an Anthropic model (type "message"), with provider="bedrock"',
           specificity=5, keys=frozenset({"type"})),
    Schema("bedrock.invocation_log", "bedrock", is_invocation_log, normalize_invocation_log,
           'Bedrock model invocation log record (schemaType "ModelInvocationLog")', keys=frozenset({"schemaType"})),
)
