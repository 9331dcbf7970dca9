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
from .._usage import Usage
from ..exceptions import NormalizeError
from ._common import Hints, Schema, count, is_mapping, tag_name

__all__ = ["SCHEMAS", "attribute_map", "is_otlp_traces", "normalize_otlp_traces", "otel_provider"]

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

# Current attribute names first, then the deprecated or pre-standard ones.
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
_REASONING = ("gen_ai.usage.reasoning.output_tokens",)
_TIER = ("openai.response.service_tier", "gen_ai.openai.response.service_tier")
_USAGE_PREFIX = "gen_ai.usage."

#: Resource/span attributes with a fixed owner dimension (OTel's own names).
_FIXED_TAGS = {
    "service.name": "service",
    "deployment.environment": "environment",
    "deployment.environment.name": "environment",
    "enduser.id": "user",
}
#: Operations whose INTERNAL spans sum their children's model calls.
_ROLLUP_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow"})
_SPAN_KIND_INTERNAL = (1, "SPAN_KIND_INTERNAL")
_STATUS_ERROR = (2, "STATUS_CODE_ERROR")
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
    if key.startswith(_USAGE_PREFIX):
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
            out[dim] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            out[dim] = str(value)
    return out


@attrs.frozen(slots=True)
class _Span:
    path: str
    span: Mapping[str, Any]
    attrs: dict[str, Any]
    resource_tags: dict[str, str]
    trace_id: str | None
    span_id: str | None
    parent_id: str | None


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
                path = f"{spath}.spans[{k}]"
                obj = _object(span, path)
                yield _Span(
                    path=path,
                    span=obj,
                    attrs=attribute_map(obj.get("attributes"), f"{path}.attributes"),
                    resource_tags=res_tags,
                    trace_id=_span_id(obj.get("traceId"), 16, f"{path}.traceId"),
                    span_id=_span_id(obj.get("spanId"), 8, f"{path}.spanId"),
                    parent_id=_span_id(obj.get("parentSpanId"), 8, f"{path}.parentSpanId"),
                )


def _has_usage(span: _Span) -> bool:
    return any(key.startswith(_USAGE_PREFIX) for key in span.attrs)


def _rollups(spans: list[_Span]) -> set[tuple[str | None, str]]:
    """``(trace id, span id)`` of usage spans that sum the usage of spans beneath them."""
    parent = {(s.trace_id, s.span_id): s.parent_id for s in spans if s.span_id}
    usage = {(s.trace_id, s.span_id) for s in spans if s.span_id and _has_usage(s)}
    out: set[tuple[str | None, str]] = set()
    for s in spans:
        if not _has_usage(s):
            continue
        seen: set[str] = set()
        up = s.parent_id
        while up is not None and up not in seen:
            seen.add(up)
            if (s.trace_id, up) in usage:
                out.add((s.trace_id, up))
            up = parent.get((s.trace_id, up))
        op = s.attrs.get("gen_ai.operation.name")
        internal = s.span.get("kind") in _SPAN_KIND_INTERNAL
        if s.span_id and internal and isinstance(op, str) and op in _ROLLUP_OPERATIONS:
            out.add((s.trace_id, s.span_id))
    return out


def _record(s: _Span, hints: Hints) -> UsageRecord:
    a, path = s.attrs, f"{s.path}.attributes"
    inp = _first_count(a, _INPUT, path)
    out = _first_count(a, _OUTPUT, path)
    operation = _text(a, ("gen_ai.operation.name",), path)
    if inp is None:
        raise NormalizeError("missing_usage", "span has gen_ai.usage.* attributes but no "
                             "gen_ai.usage.input_tokens", path=f"{path}.{_INPUT[0]}")
    if out is None:
        if operation != "embeddings":  # embeddings produce no output tokens
            raise NormalizeError("missing_usage", "span has gen_ai.usage.* attributes but no "
                                 "gen_ai.usage.output_tokens", path=f"{path}.{_OUTPUT[0]}")
        out = 0
    reads = _first_count(a, _CACHE_READ, path) or 0
    writes = _first_count(a, _CACHE_WRITE, path) or 0
    reasoning = _first_count(a, _REASONING, path) or 0
    if hints.cached_in_input is not False:
        if reads + writes > inp:
            raise NormalizeError(
                "inconsistent_usage",
                f"cache reads ({reads}) and writes ({writes}) exceed gen_ai.usage.input_tokens ({inp}), which "
                "the GenAI conventions say includes them; pass cached_in_input=False if this "
                "instrumentation reports them apart", path=f"{path}.{_INPUT[0]}")
        inp -= reads + writes
    if reasoning > out:
        raise NormalizeError("inconsistent_usage", f"reasoning tokens ({reasoning}) exceed "
                             f"gen_ai.usage.output_tokens ({out})", path=f"{path}.{_REASONING[0]}")
    provider_name = _text(a, ("gen_ai.provider.name", "gen_ai.system"), path)
    provider = otel_provider(provider_name) if provider_name else hints.provider
    if not provider:
        raise NormalizeError("missing_field", "span has no gen_ai.provider.name (or gen_ai.system) and no "
                             "provider= hint", path=f"{path}.gen_ai.provider.name")
    requested = _text(a, ("gen_ai.request.model",), path)
    served = _text(a, ("gen_ai.response.model",), path)
    model = hints.model or requested or served
    if not model:
        raise NormalizeError("missing_field", "span has no gen_ai.request.model or gen_ai.response.model "
                             "and no model= hint", path=f"{path}.gen_ai.request.model")
    status = s.span.get("status")
    failed = (is_mapping(status) and status.get("code") in _STATUS_ERROR) or a.get("error.type")
    tags = {**s.resource_tags, **_tags_from(a, hints.tag_aliases)}
    for key, value in hints.tags.items():
        tags[tag_name(key, hints.tag_aliases)] = value
    return UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=Usage(input=inp, cached_input=reads, cache_write=writes, output=out, reasoning=reasoning),
        at=_nanos(s.span.get("startTimeUnixNano"), f"{s.path}.startTimeUnixNano") or hints.at,
        request_id=_text(a, ("gen_ai.response.id",), path) or hints.request_id,
        trace_id=s.trace_id,
        span_id=s.span_id,
        parent_id=s.parent_id,
        outcome="error" if failed else "ok",
        service_tier=_text(a, _TIER, path) or hints.service_tier,
        region=hints.region,
        tags=tags,
        schema="otel",
        source=hints.source.with_path(s.path) if hints.source else None,
    )


def normalize_otlp_traces(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record per GenAI span with usage; roll-up (agent/workflow) spans are skipped.

    Source: OpenTelemetry GenAI semantic conventions (attribute registry and
    inference spans); OTLP/JSON encoding. See the module docstring for the
    meter semantics and the roll-up rule.

    Raises:
        NormalizeError: ``missing_usage`` when no span carries GenAI usage;
            ``inconsistent_usage``, ``missing_field``, ``bad_type``... for a bad span.
    """
    spans = list(_spans(payload, hints))
    usage_spans = [s for s in spans if _has_usage(s)]
    if not usage_spans:
        genai = any(key.startswith("gen_ai.") for s in spans for key in s.attrs)
        what = "GenAI spans, but none carries gen_ai.usage.* attributes" if genai else "no GenAI spans"
        raise NormalizeError("missing_usage", f"trace export with {len(spans)} span(s) holds {what}; "
                             "nothing to attribute", path="resourceSpans")
    skipped = _rollups(spans)
    records = [_record(s, hints) for s in usage_spans if s.span_id is None or (s.trace_id, s.span_id) not in skipped]
    if not records:
        raise NormalizeError("missing_usage", "every span with GenAI usage is an agent/workflow roll-up whose "
                             "model-call spans are not in this export; nothing to attribute", path="resourceSpans")
    return records


SCHEMAS = (
    Schema("otel", None, is_otlp_traces, normalize_otlp_traces,
           "OTLP/JSON trace export with OpenTelemetry GenAI spans (resourceSpans)", keys=frozenset({"resourceSpans"})),
)
