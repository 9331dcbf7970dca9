"""OpenTelemetry: GenAI spans in an OTLP/JSON trace export.

A payload is one ``ExportTraceServiceRequest`` as the OTLP/JSON encoding
writes it (``{"resourceSpans": [{"resource": {"attributes": [...]},
"scopeSpans": [{"spans": [...]}]}]}``), the shape of the collector's file
exporter and of OTLP/HTTP JSON bodies. Attribute values are typed
(``{"stringValue": ...}``, ``{"intValue": "1200"}`` with 64-bit integers as
JSON strings, ``doubleValue``, ``boolValue``, ``arrayValue``, ``kvlistValue``);
``traceId``/``spanId``/``parentSpanId`` are hex strings and
``startTimeUnixNano`` is nanoseconds since the epoch (a string or a number).

Each span that carries ``gen_ai.usage.*`` attributes becomes one record;
spans without usage (HTTP, tool, retrieval spans) are not provider calls and
are skipped, but a payload in which no span carries usage is an error
(``missing_usage``), never an empty result. Semantics follow the GenAI
semantic conventions (registry ``gen_ai``):

* ``gen_ai.usage.input_tokens`` SHOULD *include* every kind of input token;
  ``gen_ai.usage.cache_read.input_tokens`` and
  ``gen_ai.usage.cache_creation.input_tokens`` SHOULD be included in it, so
  both are subtracted out (an instrumentation that reports them beside the
  input count, as Anthropic's own API does, is read with
  ``cached_in_input=False``; a span whose cache counts exceed its input count
  is rejected rather than guessed at).
* ``gen_ai.usage.reasoning.output_tokens`` SHOULD be included in
  ``gen_ai.usage.output_tokens``, so it is a breakdown of output.
* Cache writes carry no TTL in the conventions, so they are 5-minute writes.
* The deprecated ``gen_ai.usage.prompt_tokens``/``completion_tokens`` and the
  older underscore names (``gen_ai.usage.cache_read_input_tokens``,
  ``gen_ai.usage.cache_creation_input_tokens``) are read when the current
  names are absent; ``gen_ai.provider.name`` falls back to the older
  ``gen_ai.system``; the OpenAI service tier is read from
  ``openai.response.service_tier`` or the older
  ``gen_ai.openai.response.service_tier``.

Agent and workflow spans may repeat the usage of the model calls beneath
them. A span is a roll-up, not a provider call, and is skipped when a
descendant span in the same payload carries usage, or when it is an
in-process agent or workflow (``gen_ai.operation.name`` ``invoke_agent`` or
``invoke_workflow`` with span kind INTERNAL), whose usage is by definition
the sum of its children's. A remote agent (kind CLIENT) with no child usage
spans is the billed call and is kept.

Owner tags come from resource attributes (``service.name`` -> ``service``,
except the SDK's default ``unknown_service[:executable]``, which names no owner;
``deployment.environment(.name)`` -> ``environment``, and any attribute whose
name, with dots as underscores, or last segment is a known owner alias:
``team``, ``team.id``, ``acme.tenant_id``...), then the span's own alias
attributes, then the caller's ``tags``.

Sources: OpenTelemetry semantic conventions for GenAI, attribute registry
(``model/gen-ai/registry.yaml``) and spans (``docs/gen-ai/gen-ai-spans.md``);
OTLP/JSON encoding (``opentelemetry-proto``, ``docs/specification.md`` "JSON
Protobuf Encoding" and ``examples/trace.json``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

from .._records import UsageRecord
from .._registry import canonical_provider
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, tag_name, timestamp, usage_of

__all__ = [
    "SCHEMAS",
    "attribute_map",
    "is_console_span",
    "is_otlp_span",
    "is_otlp_traces",
    "normalize_console_span",
    "normalize_otlp_span",
    "normalize_otlp_traces",
    "otel_provider",
    "span_dict",
]

UTC = timezone.utc

#: ``gen_ai.provider.name`` / ``gen_ai.system`` values -> the registry's provider ids.
_PROVIDERS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "azure_openai": "azure",
    "gcp.vertex_ai": "vertex",
    "vertex_ai": "vertex",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "aws.bedrock": "bedrock",
    "anthropic": "anthropic",
    "cohere": "cohere",
    "x_ai": "xai",
    "xai": "xai",
    "mistral_ai": "mistral",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
    "ibm.watsonx.ai": "watsonx",
}

# Every released spelling, current first. Sources: semantic-conventions model/gen-ai/registry.yaml and
# its deprecated registry (prompt/completion_tokens renamed to input/output_tokens in v1.27.0;
# cache_read/cache_creation.input_tokens and reasoning.output_tokens added later); the Anthropic SDK's
# own tracing (anthropic 2.x, _tracing.py: cache_write.input_tokens, anthropic.usage.cache_creation.*,
# anthropic.usage.compaction.*); opentelemetry-util-genai (cache_write, per-modality counts);
# openllmetry's opentelemetry-semantic-conventions-ai (gen_ai.usage.cache_read_input_tokens,
# cache_creation_input_tokens, reasoning_tokens; llm.usage.* in its early releases); pydantic-ai
# (gen_ai.usage.details.*); OpenInference (llm.token_count.*, as Arize Phoenix and LlamaIndex write).
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens",
          "llm.token_count.prompt")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens",
           "llm.token_count.completion")
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
               "llm.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read",
               "gen_ai.usage.cached_prompt_text_tokens")
_CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens", "llm.usage.cache_creation_input_tokens",
                "llm.token_count.prompt_details.cache_write")
#: The Anthropic SDK's TTL split of the cache writes (1-hour writes cost more than 5-minute ones).
_CACHE_WRITE_1H = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
_CACHE_WRITE_5M = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
_REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens",
              "gen_ai.usage.details.reasoning_tokens", "llm.token_count.completion_details.reasoning")
# Modality breakdowns of the input and output counts (opentelemetry-util-genai; OpenInference audio).
_AUDIO_IN = ("gen_ai.usage.audio.input_tokens", "llm.token_count.prompt_details.audio")
_IMAGE_IN = ("gen_ai.usage.image.input_tokens",)
_AUDIO_CACHED = ("gen_ai.usage.audio.cache_read.input_tokens",)
_IMAGE_CACHED = ("gen_ai.usage.image.cache_read.input_tokens",)
_AUDIO_OUT = ("gen_ai.usage.audio.output_tokens", "llm.token_count.completion_details.audio")
_IMAGE_OUT = ("gen_ai.usage.image.output_tokens",)
#: The Anthropic SDK's sums over compaction iterations, which its other usage attributes leave out.
_COMPACTION_IN = "anthropic.usage.compaction.input_tokens"
_COMPACTION_OUT = "anthropic.usage.compaction.output_tokens"
_TOTAL = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
#: xAI's own SDK (xai-sdk, chat.py): its cost of the call in 1e-10 USD.
_COST_TICKS = "gen_ai.usage.cost_in_usd_ticks"
_TIER = ("openai.response.service_tier", "gen_ai.openai.response.service_tier", "anthropic.response.service_tier")
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model")
_RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model", "llm.model_name")
_USAGE_PREFIXES = ("gen_ai.usage.", "llm.usage.", "llm.token_count.", "anthropic.usage.")
_USAGE_PREFIX = "gen_ai.usage."

#: Resource/span attributes with a fixed owner dimension (OTel's own names).
_FIXED_TAGS = {
    "service.name": "service",
    "deployment.environment": "environment",
    "deployment.environment.name": "environment",
    "enduser.id": "user",
}
#: The OTel SDK's ``service.name`` when none is set (``unknown_service`` or ``unknown_service:<executable>``).
_UNKNOWN_SERVICE = "unknown_service"
#: Operations whose INTERNAL spans sum their children's model calls.
_ROLLUP_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow"})
_SPAN_KIND_INTERNAL = (1, "SPAN_KIND_INTERNAL", "SpanKind.INTERNAL", "INTERNAL")
_STATUS_ERROR = (2, "STATUS_CODE_ERROR", "ERROR", "StatusCode.ERROR")
_HEX = re.compile(r"\A[0-9a-fA-F]+\Z")
_INT_TEXT = re.compile(r"\A-?\d+\Z")
#: Unix time in nanoseconds for the year 3000: anything above is a unit mix-up.
_MAX_NANOS = 32503680000 * 10**9


def is_otlp_traces(payload: Mapping[str, Any]) -> bool:
    """An OTLP/JSON trace export (an ``ExportTraceServiceRequest``)."""
    return isinstance(payload.get("resourceSpans"), list)


def otel_provider(value: str) -> str:
    """The registry's provider id for a ``gen_ai.provider.name``/``gen_ai.system`` value.

    >>> otel_provider("aws.bedrock"), otel_provider("gcp.vertex_ai"), otel_provider("az.ai.openai")
    ('bedrock', 'vertex', 'azure')
    """
    text = value.strip().lower()
    return _PROVIDERS.get(text) or canonical_provider(text)


def _any_value(value: Any) -> Any:
    """The plain value of an OTLP ``AnyValue`` (already-plain values pass through)."""
    if not is_mapping(value):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = value["intValue"]
        # int64 is a JSON string in OTLP/JSON; keep non-integers as they are for count() to judge.
        return int(raw) if isinstance(raw, str) and _INT_TEXT.match(raw.strip()) else raw
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        arr = value["arrayValue"]
        items = arr.get("values") if is_mapping(arr) else None
        return [_any_value(v) for v in items] if isinstance(items, list) else []
    if "kvlistValue" in value:
        kv = value["kvlistValue"]
        items = kv.get("values") if is_mapping(kv) else None
        return attribute_map(items, "kvlistValue") if isinstance(items, list) else {}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attribute_map(attributes: Any, path: str) -> dict[str, Any]:
    """OTLP ``[{"key": k, "value": AnyValue}]`` as a plain dict (a plain object is accepted too).

    >>> attribute_map([{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}}], "attributes")
    {'gen_ai.usage.input_tokens': 1200}
    """
    if attributes is None:
        return {}
    if is_mapping(attributes):
        return {str(k): _any_value(v) for k, v in attributes.items()}
    if not isinstance(attributes, list):
        raise NormalizeError("bad_type", f"{path!r} must be a list of key/value attributes, "
                             f"got {type(attributes).__name__}", path=path)
    out: dict[str, Any] = {}
    for i, item in enumerate(attributes):
        if not is_mapping(item) or not isinstance(item.get("key"), str):
            raise NormalizeError("bad_type", f"{path}[{i}] must be an object with a string 'key'",
                                 path=f"{path}[{i}]")
        out[item["key"]] = _any_value(item.get("value"))
    return out


def _list(obj: Mapping[str, Any], keys: tuple[str, ...], path: str) -> tuple[str, list[Any]]:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise NormalizeError("bad_type", f"'{path}.{key}' must be a list, got {type(value).__name__}",
                                 path=f"{path}.{key}")
        return key, value
    return keys[0], []


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not is_mapping(value):
        raise NormalizeError("bad_type", f"{path!r} must be an object, got {type(value).__name__}", path=path)
    return value


def _span_id(value: Any, size: int, path: str) -> str | None:
    """A lower-case hex id; base64 ids (written by protobuf's own JSON printer) are converted."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NormalizeError("bad_type", f"{path!r} must be a hex string, got {type(value).__name__}", path=path)
    text = value.strip()
    if len(text) == 2 * size and _HEX.match(text):
        hexed = text.lower()
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise NormalizeError("bad_value", f"{path!r} is neither hex nor base64: {value!r}", path=path) from None
        if len(raw) != size:
            raise NormalizeError("bad_value", f"{path!r} must be {size} bytes, got {value!r}", path=path)
        hexed = raw.hex()
    return None if set(hexed) == {"0"} else hexed


def _nanos(value: Any, path: str) -> datetime | None:
    if value is None or value in ("", "0", 0):
        return None
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        nanos = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        nanos = value
    elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()):
        nanos = int(value)
    else:
        raise NormalizeError("bad_timestamp", f"{path!r} must be Unix nanoseconds, got {value!r}", path=path)
    if not 0 < nanos < _MAX_NANOS:
        raise NormalizeError("bad_timestamp", f"{path!r}: {nanos} ns is out of range", path=path)
    seconds, rest = divmod(nanos, 10**9)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


def _text(attrs_: Mapping[str, Any], keys: Sequence[str], path: str) -> str | None:
    for key in keys:
        value = attrs_.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list) and value and isinstance(value[0], str):
            first: str = value[0]  # some instrumentations record a one-element array
            return first
        raise NormalizeError("bad_type", f"'{path}.{key}' must be a string, got {type(value).__name__}",
                             path=f"{path}.{key}")
    return None


def _first_count(attrs_: Mapping[str, Any], keys: Sequence[str], path: str) -> int | None:
    for key in keys:
        if attrs_.get(key) is not None:
            return count(attrs_, key, path)
    return None


def _tag_key(key: str, aliases: Mapping[str, str]) -> str | None:
    fixed = _FIXED_TAGS.get(key)
    if fixed is not None:
        return fixed
    if key.startswith(_USAGE_PREFIXES):
        return None
    low = key.lower()
    for candidate in (key, low, low.replace(".", "_"), low.rsplit(".", 1)[-1]):
        canonical = aliases.get(candidate)
        if canonical is not None:
            return canonical
    return None


def _tags_from(attrs_: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in attrs_.items():
        dim = _tag_key(key, aliases)
        if dim is None:
            continue
        if isinstance(value, str) and value:
            if key == "service.name" and value.startswith(_UNKNOWN_SERVICE):
                continue  # the SDK's default when no service is configured names no owner
            out[dim] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[dim] = str(value)
    return out


@attrs.frozen(slots=True)
class _Span:
    path: str
    attrs: dict[str, Any]
    resource_tags: dict[str, str]
    trace_id: str | None
    span_id: str | None
    parent_id: str | None
    internal: bool = False
    failed: bool = False
    at: datetime | None = None


def _spans(payload: Mapping[str, Any], hints: Hints) -> Iterator[_Span]:
    for i, rs in enumerate(payload["resourceSpans"]):
        rpath = f"resourceSpans[{i}]"
        rs_obj = _object(rs, rpath)
        resource = rs_obj.get("resource")
        res_attrs = attribute_map(_object(resource, f"{rpath}.resource").get("attributes"),
                                  f"{rpath}.resource.attributes") if resource is not None else {}
        res_tags = _tags_from(res_attrs, hints.tag_aliases)
        skey, scope_spans = _list(rs_obj, ("scopeSpans", "instrumentationLibrarySpans"), rpath)
        for j, ss in enumerate(scope_spans):
            spath = f"{rpath}.{skey}[{j}]"
            _, spans = _list(_object(ss, spath), ("spans",), spath)
            for k, span in enumerate(spans):
                yield _otlp_span(_object(span, f"{spath}.spans[{k}]"), f"{spath}.spans[{k}]", res_tags)


def _otlp_span(obj: Mapping[str, Any], path: str, res_tags: dict[str, str]) -> _Span:
    status = obj.get("status")
    attributes = attribute_map(obj.get("attributes"), f"{path}.attributes")
    return _Span(
        path=path,
        attrs=attributes,
        resource_tags=res_tags,
        trace_id=_span_id(obj.get("traceId"), 16, f"{path}.traceId"),
        span_id=_span_id(obj.get("spanId"), 8, f"{path}.spanId"),
        parent_id=_span_id(obj.get("parentSpanId"), 8, f"{path}.parentSpanId"),
        internal=obj.get("kind") in _SPAN_KIND_INTERNAL,
        failed=bool((is_mapping(status) and status.get("code") in _STATUS_ERROR) or attributes.get("error.type")),
        at=_nanos(obj.get("startTimeUnixNano"), f"{path}.startTimeUnixNano"),
    )


def _console_span(obj: Mapping[str, Any], hints: Hints) -> _Span:
    """A span as the SDK's ``ReadableSpan.to_json()`` (and so ``ConsoleSpanExporter``) writes it."""
    context = _object(obj.get("context"), "context")
    resource = obj.get("resource")
    res_attrs = attribute_map(_object(resource, "resource").get("attributes"), "resource.attributes") \
        if resource is not None else {}
    attributes = attribute_map(obj.get("attributes"), "attributes")
    status = obj.get("status")
    start = obj.get("start_time")
    return _Span(
        path="",
        attrs=attributes,
        resource_tags=_tags_from(res_attrs, hints.tag_aliases),
        trace_id=_span_id(_unprefixed(context.get("trace_id")), 16, "context.trace_id"),
        span_id=_span_id(_unprefixed(context.get("span_id")), 8, "context.span_id"),
        parent_id=_span_id(_unprefixed(obj.get("parent_id")), 8, "parent_id"),
        internal=obj.get("kind") in _SPAN_KIND_INTERNAL,
        failed=bool((is_mapping(status) and status.get("status_code") in _STATUS_ERROR) or attributes.get("error.type")),
        at=timestamp(start, "start_time") if isinstance(start, str) else _nanos(start, "start_time"),
    )


def _unprefixed(value: Any) -> Any:
    return value[2:] if isinstance(value, str) and value[:2] in ("0x", "0X") else value


def _has_usage(span: _Span) -> bool:
    return any(key.startswith(_USAGE_PREFIXES) for key in span.attrs)


def _detail(span: _Span) -> int:
    """How much a span says about its usage: the number of non-zero usage attributes (to pick among copies)."""
    return sum(1 for key, value in span.attrs.items() if key.startswith(_USAGE_PREFIXES) and value not in (0, "0"))


def _response_id(span: _Span) -> str | None:
    value = span.attrs.get("gen_ai.response.id")
    return value if isinstance(value, str) and value else None


def _skipped(spans: list[_Span]) -> set[int]:
    """Indexes of usage spans that are not provider calls of their own.

    Copies first: spans that report the same ``gen_ai.response.id`` (an SDK's
    span and a framework's, or two instrumentations of one client) are one
    call; the copy that says most about its usage is kept (the first of
    equals). Then roll-ups: a usage span above another usage span (in-process
    agents and workflows, or any span summing its children's model calls) is
    skipped, as is an INTERNAL ``invoke_agent``/``invoke_workflow`` span.
    """
    out: set[int] = set()
    kept: dict[str, int] = {}
    for i, s in enumerate(spans):
        rid = _response_id(s)
        if rid is None or not _has_usage(s):
            continue
        j = kept.get(rid)
        if j is None:
            kept[rid] = i
        elif _detail(s) > _detail(spans[j]):
            out.add(j)
            kept[rid] = i
        else:
            out.add(i)
    live = [(i, s) for i, s in enumerate(spans) if i not in out]
    parent = {(s.trace_id, s.span_id): s.parent_id for _, s in live if s.span_id}
    usage = {(s.trace_id, s.span_id): i for i, s in live if s.span_id and _has_usage(s)}
    for i, s in live:
        if not _has_usage(s):
            continue
        seen: set[str] = set()
        up = s.parent_id
        while up is not None and up not in seen:
            seen.add(up)
            j = usage.get((s.trace_id, up))
            if j is not None:
                out.add(j)
            up = parent.get((s.trace_id, up))
        op = s.attrs.get("gen_ai.operation.name")
        if s.span_id and s.internal and isinstance(op, str) and op in _ROLLUP_OPERATIONS:
            out.add(i)
    return out


def _records(s: _Span, hints: Hints) -> list[UsageRecord]:
    a, path = s.attrs, f"{s.path}.attributes" if s.path else "attributes"
    inp = _first_count(a, _INPUT, path)
    out = _first_count(a, _OUTPUT, path)
    operation = _text(a, ("gen_ai.operation.name",), path)
    compaction_in = _first_count(a, (_COMPACTION_IN,), path) or 0
    compaction_out = _first_count(a, (_COMPACTION_OUT,), path) or 0
    if inp is None:
        raise NormalizeError("missing_usage", "span has usage attributes but no gen_ai.usage.input_tokens "
                             "(nor an older spelling)", path=f"{path}.{_INPUT[0]}")
    if out is None:
        embedding = operation == "embeddings" or a.get("llm.request.type") == "embedding"   # old openllmetry
        if not embedding:  # embeddings produce no output tokens
            raise NormalizeError("missing_usage", "span has usage attributes but no gen_ai.usage.output_tokens "
                                 "(nor an older spelling)", path=f"{path}.{_OUTPUT[0]}")
        out = 0
    reasoning_beside = False
    if out is not None and (reasoning_n := _first_count(a, _REASONING, path)):
        total = _first_count(a, _TOTAL, path)
        provider_hint = _text(a, _PROVIDER_KEYS, path)
        if provider_hint and otel_provider(provider_hint) == "xai":
            reasoning_beside = True   # xAI counts reasoning beside completion tokens (its REST and gRPC APIs)
        elif total is not None and total != inp + out and total == inp + out + reasoning_n:
            reasoning_beside = True   # the total says reasoning was counted beside the output
        if reasoning_beside:
            out += reasoning_n
    reads = _first_count(a, _CACHE_READ, path) or 0
    writes = _first_count(a, _CACHE_WRITE, path) or 0
    reasoning = _first_count(a, _REASONING, path) or 0
    w1h = _first_count(a, (_CACHE_WRITE_1H,), path) or 0
    w5m = _first_count(a, (_CACHE_WRITE_5M,), path)
    if w1h > writes or (w5m is not None and w5m + w1h > writes):
        raise NormalizeError("inconsistent_usage", f"the 1-hour/5-minute split of the cache writes ({w1h}, {w5m}) "
                             f"exceeds the cache writes ({writes})", path=f"{path}.{_CACHE_WRITE_1H}")
    if hints.cached_in_input is not False:
        if reads + writes > inp:
            raise NormalizeError(
                "inconsistent_usage",
                f"cache reads ({reads}) and writes ({writes}) exceed gen_ai.usage.input_tokens ({inp}), which "
                "the GenAI conventions say includes them; pass cached_in_input=False if this "
                "instrumentation reports them apart", path=f"{path}.{_INPUT[0]}")
        inp -= reads + writes
    audio_in = _modality(a, _AUDIO_IN, _AUDIO_CACHED, path)
    image_in = _modality(a, _IMAGE_IN, _IMAGE_CACHED, path)
    if audio_in + image_in > inp:
        raise NormalizeError("inconsistent_usage", f"uncached audio ({audio_in}) and image ({image_in}) input tokens "
                             f"exceed the uncached input ({inp})", path=f"{path}.{_AUDIO_IN[0]}")
    audio_out = _first_count(a, _AUDIO_OUT, path) or 0
    image_out = _first_count(a, _IMAGE_OUT, path) or 0
    if audio_out + image_out > out:
        raise NormalizeError("inconsistent_usage", f"audio ({audio_out}) and image ({image_out}) output tokens "
                             f"exceed gen_ai.usage.output_tokens ({out})", path=f"{path}.{_AUDIO_OUT[0]}")
    if reasoning > out - audio_out - image_out:
        raise NormalizeError("inconsistent_usage", f"reasoning tokens ({reasoning}) exceed "
                             f"gen_ai.usage.output_tokens ({out})", path=f"{path}.{_REASONING[0]}")
    provider_name = _text(a, _PROVIDER_KEYS, path)
    provider = hints.provider or (otel_provider(provider_name) if provider_name else None)
    if not provider:
        raise NormalizeError("missing_field", "span has no gen_ai.provider.name (or gen_ai.system) and no "
                             "provider= hint", path=f"{path}.gen_ai.provider.name")
    requested = _text(a, _REQUEST_MODEL, path)
    served = _text(a, _RESPONSE_MODEL, path)
    model = hints.model or requested or served
    if not model:
        raise NormalizeError("missing_field", "span has no gen_ai.request.model or gen_ai.response.model "
                             "and no model= hint", path=f"{path}.gen_ai.request.model")
    tags = {**s.resource_tags, **_tags_from(a, hints.tag_aliases)}
    for key, value in hints.tags.items():
        tags[tag_name(key, hints.tag_aliases)] = value
    request_id = _text(a, ("gen_ai.response.id",), path) or hints.request_id
    record = UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage_of(path, input=inp - audio_in - image_in, cached_input=reads, cache_write=writes - w1h,
                       cache_write_1h=w1h, output=out - audio_out - image_out, reasoning=reasoning,
                       input_audio=audio_in, input_image=image_in, output_audio=audio_out, output_image=image_out),
        at=s.at or hints.at,
        request_id=request_id,
        trace_id=s.trace_id,
        span_id=s.span_id,
        parent_id=s.parent_id,
        outcome="error" if s.failed else "ok",
        service_tier=_text(a, _TIER, path) or hints.service_tier,
        region=hints.region,
        tags=tags,
        schema="otel",
        source=hints.source.with_path(s.path) if hints.source and s.path else hints.source,
    )
    ticks = _first_count(a, (_COST_TICKS,), path)
    if ticks is not None:
        record = attrs.evolve(record, estimate=Decimal(ticks).scaleb(-10))
    if not (compaction_in or compaction_out):
        return [record]
    # The Anthropic SDK reports compaction iterations apart (its other usage attributes leave them
    # out), as one input sum with their cache reads and writes in it: billed with the call as uncached
    # input (an upper bound, flagged), each pass on its own prompt size as Anthropic bills it.
    u = record.usage
    flags = (*record.flags, "compaction_cache_unknown")
    if u.prompt_tokens + compaction_in <= 100_000:   # see anthropic.SPLIT_ITERATIONS_ABOVE
        merged = usage_of(path, input=u.input + compaction_in, cached_input=u.cached_input,
                          cache_write=u.cache_write, cache_write_1h=u.cache_write_1h, output=u.output + compaction_out,
                          reasoning=u.reasoning, input_audio=u.input_audio, input_image=u.input_image,
                          output_audio=u.output_audio, output_image=u.output_image)
        return [attrs.evolve(record, usage=merged, flags=flags)]
    return [record, attrs.evolve(
        record, usage=usage_of(path, input=compaction_in, output=compaction_out),
        request_id=f"{request_id}:compaction" if request_id else None, span_id=None,
        parent_id=s.span_id or request_id, schema="otel.anthropic_compaction", flags=flags)]


def _modality(a: Mapping[str, Any], total: Sequence[str], cached: Sequence[str], path: str) -> int:
    n = _first_count(a, total, path) or 0
    c = _first_count(a, cached, path) or 0
    if c > n:
        raise NormalizeError("inconsistent_usage", f"cached tokens ({c}) exceed the tokens ({n}) of {total[0]}",
                             path=f"{path}.{cached[0]}")
    return n - c


def _span_records(spans: list[_Span], hints: Hints, what: str) -> list[UsageRecord]:
    usage_spans = [s for s in spans if _has_usage(s)]
    if not usage_spans:
        genai = any(key.startswith(("gen_ai.", "llm.")) for s in spans for key in s.attrs)
        found = "GenAI spans, but none carries gen_ai.usage.* (or llm.*) usage attributes" if genai else "no GenAI spans"
        raise NormalizeError("missing_usage", f"{what} with {len(spans)} span(s) holds {found}; "
                             "nothing to attribute", path="resourceSpans" if what == "trace export" else "attributes")
    skipped = _skipped(spans)
    records = [r for i, s in enumerate(spans) if _has_usage(s) and i not in skipped for r in _records(s, hints)]
    if not records:
        raise NormalizeError("missing_usage", "every span with GenAI usage is an agent/workflow roll-up whose "
                             "model-call spans are not in this export; nothing to attribute",
                             path="resourceSpans" if what == "trace export" else "attributes")
    return records


def normalize_otlp_traces(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record per GenAI span with usage; copies and roll-up (agent/workflow) spans are skipped.

    Source: OpenTelemetry GenAI semantic conventions (attribute registry and
    inference spans); OTLP/JSON encoding. See the module docstring for the
    meter semantics, the spellings read and the copy and roll-up rules.

    Raises:
        NormalizeError: ``missing_usage`` when no span carries GenAI usage;
            ``inconsistent_usage``, ``missing_field``, ``bad_type``... for a bad span.
    """
    return _span_records(list(_spans(payload, hints)), hints, "trace export")


def is_console_span(payload: Mapping[str, Any]) -> bool:
    """One span as ``ReadableSpan.to_json()`` / ``ConsoleSpanExporter`` prints it (``context.span_id``, ``attributes``)."""
    context = payload.get("context")
    return is_mapping(context) and "span_id" in context and "attributes" in payload


def is_otlp_span(payload: Mapping[str, Any]) -> bool:
    """One OTLP/JSON span on its own (``spanId`` and a key/value ``attributes`` list), as some pipelines log it."""
    return "spanId" in payload and isinstance(payload.get("attributes"), list)


def normalize_console_span(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The record of one span printed by the OpenTelemetry SDK (``span.to_json()``, ``ConsoleSpanExporter``).

    The shape: ``{"name", "context": {"trace_id": "0x...", "span_id": "0x..."},
    "kind": "SpanKind.CLIENT", "parent_id", "start_time" (ISO 8601), "status":
    {"status_code"}, "attributes": {...}, "resource": {"attributes": {...}}}``.
    A ``ReadableSpan`` object is read the same way (see :func:`span_dict`).
    Meters and owner tags as for OTLP exports. Spans of one call spread over
    several payloads are matched by :func:`attribution.normalize.normalize_many`.

    Raises:
        NormalizeError: ``missing_usage`` for a span without GenAI usage (an
            HTTP, tool or agent span), as for an OTLP export.
    """
    return _span_records([_console_span(payload, hints)], hints, "span")


def normalize_otlp_span(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The record of one OTLP/JSON span logged on its own (no resource: owner tags from the span and ``tags=``)."""
    return _span_records([_otlp_span(payload, "", {})], hints, "span")


def span_dict(span: Any) -> dict[str, Any]:
    """A ``ReadableSpan`` (duck-typed: OpenTelemetry is not imported) as the dict its ``to_json()`` prints.

    >>> class Ctx:
    ...     trace_id, span_id = 0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174
    >>> class Span:
    ...     name, parent, kind, status, start_time = "chat gpt-4o", None, "SpanKind.CLIENT", None, 1748779200000000000
    ...     attributes = {"gen_ai.usage.input_tokens": 10}
    ...     def get_span_context(self): return Ctx()
    >>> span_dict(Span())["context"]["span_id"]
    '0xeee19b7ec3c1b174'
    """
    ctx = span.get_span_context()
    parent = getattr(span, "parent", None)
    status = getattr(span, "status", None)
    code = getattr(getattr(status, "status_code", None), "name", None)
    resource = getattr(span, "resource", None)
    res_attrs = getattr(resource, "attributes", None)
    start = getattr(span, "start_time", None)
    return {
        "name": getattr(span, "name", None),
        "context": {"trace_id": f"0x{ctx.trace_id:032x}", "span_id": f"0x{ctx.span_id:016x}"},
        "kind": str(getattr(span, "kind", "")),
        "parent_id": f"0x{parent.span_id:016x}" if parent is not None else None,
        "start_time": start if isinstance(start, int) and not isinstance(start, bool) else None,
        "status": {"status_code": code} if code else {},
        "attributes": dict(span.attributes or {}),
        "resource": {"attributes": dict(res_attrs or {})},
    }


SCHEMAS = (
    Schema("otel", None, is_otlp_traces, normalize_otlp_traces,
           "OTLP/JSON trace export with OpenTelemetry GenAI spans (resourceSpans)", keys=frozenset({"resourceSpans"})),
    Schema("otel.span", None, is_console_span, normalize_console_span,
           "one OpenTelemetry span as the SDK's to_json()/ConsoleSpanExporter prints it (context.span_id, "
           "attributes)", keys=frozenset({"context"})),
    Schema("otel.otlp_span", None, is_otlp_span, normalize_otlp_span,
           "one OTLP/JSON span (spanId and a key/value attributes list)", keys=frozenset({"spanId"})),
)
