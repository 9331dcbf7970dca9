"""Google: Gemini API and Vertex AI ``generateContent`` responses.

One response shape serves both: the Gemini API (``generativelanguage``,
provider ``google``) and Vertex AI (``aiplatform``, provider ``vertex``; its
responses add ``createTime`` and ``usageMetadata.trafficType``). This module
also reads the last chunk of ``streamGenerateContent`` (each chunk carries the
cumulative ``usageMetadata``, prompt included; earlier chunks, whose candidates
have no ``finishReason`` yet, are rejected as ``partial_stream_chunk`` so a
stream is never counted once per chunk) and the output lines of
Vertex AI and Gemini API batch jobs (``{"request", "response", "status",
"processed_time"}`` / ``{"key", "response"}``), which are billed at the batch
tier.

How ``usageMetadata`` maps onto the disjoint meters (sources: Gemini API
reference, ``GenerateContentResponse.UsageMetadata``; Vertex AI REST reference,
``GenerateContentResponse``; google-genai SDK ``GenerateContentResponseUsageMetadata``,
whose ``totalTokenCount`` is documented as "the sum of prompt_token_count,
candidates_token_count, tool_use_prompt_token_count, and thoughts_token_count"):

* ``promptTokenCount`` *includes* ``cachedContentTokenCount`` ("when
  cached_content is set, this is still the total effective prompt size").
  ``input = promptTokenCount - cachedContentTokenCount`` minus the uncached
  AUDIO and IMAGE parts, which ``promptTokensDetails`` (less
  ``cacheTokensDetails``) moves to ``input_audio`` / ``input_image``. VIDEO and
  DOCUMENT tokens stay in ``input``: every Gemini price page prices them at
  the text rate and there is no video meter. All cached tokens go to
  ``cached_input`` whatever their modality (there is one cached meter); when
  ``cacheTokensDetails`` is absent the cache is taken from the text part first.
* ``toolUsePromptTokenCount`` (results of tool executions fed back to the
  model) is *beside* the prompt and billed as input; its AUDIO/IMAGE parts
  (``toolUsePromptTokensDetails``) go to the audio/image input meters.
* ``thoughtsTokenCount`` is *not* inside ``candidatesTokenCount`` and is billed
  at the output rate: ``output = candidatesTokenCount + thoughtsTokenCount``
  (less AUDIO/IMAGE candidate parts, which go to ``output_audio`` /
  ``output_image``) and ``reasoning = thoughtsTokenCount``.
* Grounding with Google Search: a response whose candidates carry
  ``groundingMetadata.webSearchQueries`` was grounded. Gemini 2.x and earlier
  bill one *grounded prompt* per request however many queries ran; Gemini 3
  and later bill each *search query* the model executed (Google: "we ignore
  the empty web search queries when counting unique queries"). ``web_search``
  is therefore 1 for a grounded Gemini <= 2.x response and the number of
  distinct non-empty queries for Gemini >= 3 (the generation is read from the
  model id). ``retrievalQueries`` (Vertex AI Search / RAG grounding) are a
  different product and are not counted.

Service tier comes from ``usageMetadata.serviceTier`` (Gemini API) or
``trafficType`` (Vertex: ``ON_DEMAND`` standard, ``ON_DEMAND_PRIORITY``,
``ON_DEMAND_FLEX``, ``PROVISIONED_THROUGHPUT``). Vertex request ``labels``
(passed as ``tags=``, present in the logged record, or in a batch line's
``request``) become owner tags. JSON from ``response.model_dump()`` (snake
case) is accepted as well as the REST camelCase. The ``@default`` version alias
that Vertex batch output appends to ``modelVersion`` is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from .._registry import canonical_provider
from .._usage import Usage
from ..exceptions import InvalidUsage, NormalizeError
from ._common import Hints, Schema, count, is_mapping, mapping, optional_str, owner_tags, timestamp

__all__ = [
    "SCHEMAS",
    "is_generate_content",
    "normalize_generate_content",
    "normalize_vertex_generate_content",
    "usage_metadata_usage",
]

_USAGE_KEYS = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount",
               "thoughtsTokenCount", "toolUsePromptTokenCount")

#: Vertex ``trafficType`` -> service tier name (``ON_DEMAND`` is the standard tier).
_TRAFFIC_TIERS = {
    "ON_DEMAND": "standard",
    "ON_DEMAND_PRIORITY": "priority",
    "ON_DEMAND_FLEX": "flex",
    "PROVISIONED_THROUGHPUT": "provisioned_throughput",
}

_GENERATION = re.compile(r"gemini-(\d+)")
_SNAKE = re.compile(r"_([a-z])")


def _cc(obj: Any) -> Any:
    """One object's snake_case keys (``model_dump()`` output) as the REST camelCase.

    Shallow on purpose: label maps nested inside keep their keys (``cost_center``).
    """
    if not is_mapping(obj) or not any(isinstance(k, str) and "_" in k for k in obj):
        return obj
    return {(_SNAKE.sub(lambda m: m.group(1).upper(), k) if isinstance(k, str) else k): v for k, v in obj.items()}


def _is_response(obj: Any) -> bool:
    obj = _cc(obj)
    if not is_mapping(obj):
        return False
    if is_mapping(obj.get("usageMetadata")):
        return True
    return isinstance(obj.get("candidates"), list) and any(k in obj for k in ("modelVersion", "responseId",
                                                                                 "createTime"))


def _is_batch_line(payload: Mapping[str, Any]) -> bool:
    line = _cc(payload)
    if _is_response(line.get("response")):
        return True
    # Failed rows: Vertex (request, status, processed_time) and Gemini API (key, error), no response.
    return (is_mapping(line.get("request")) and "processedTime" in line) or (
        isinstance(line.get("key"), str) and is_mapping(line.get("error")))


#: Top-level keys one of which every generateContent shape has (camelCase or snake_case).
_MARKERS = frozenset({"usageMetadata", "usage_metadata", "candidates", "response", "request", "key"})


def is_generate_content(payload: Mapping[str, Any]) -> bool:
    """A ``generateContent`` response, stream chunk or batch output line."""
    # Detection runs on every payload of every provider: reject the common case by key lookups alone.
    if _MARKERS.isdisjoint(payload.keys()):
        return False
    return _is_response(payload) or _is_batch_line(payload)


def _modalities(usage: Mapping[str, Any], key: str, path: str) -> dict[str, int]:
    """``[{"modality": "AUDIO", "tokenCount": 12}, ...]`` as ``{"AUDIO": 12}``."""
    value = usage.get(key)
    here = f"{path}.{key}"
    if value is None:
        return {}
    if not isinstance(value, list):
        raise NormalizeError("bad_type", f"{here!r} must be a list, got {type(value).__name__}", path=here)
    out: dict[str, int] = {}
    for i, raw in enumerate(value):
        ipath = f"{here}[{i}]"
        item = _cc(raw)
        if not is_mapping(item):
            raise NormalizeError("bad_type", f"{ipath!r} must be an object", path=ipath)
        modality = optional_str(item, "modality", ipath) or "MODALITY_UNSPECIFIED"
        out[modality.upper()] = out.get(modality.upper(), 0) + count(item, "tokenCount", ipath)
    return out


def _inconsistent(message: str, path: str) -> NormalizeError:
    return NormalizeError("inconsistent_usage", message, path=path)


def _usage(path: str, **meters: int) -> Usage:
    # Sums of in-range counts can still overflow the sanity limit.
    try:
        return Usage(**meters)
    except InvalidUsage as exc:
        raise NormalizeError("absurd_count", str(exc), path=path) from None


def usage_metadata_usage(usage: Mapping[str, Any], path: str, *, web_search: int = 0) -> Usage:
    """Disjoint meters from a ``usageMetadata`` object (see the module docstring).

    >>> u = usage_metadata_usage({"promptTokenCount": 1000, "cachedContentTokenCount": 600,
    ...                           "candidatesTokenCount": 50, "thoughtsTokenCount": 200,
    ...                           "toolUsePromptTokenCount": 30}, "usageMetadata")
    >>> u.input, u.cached_input, u.output, u.reasoning
    (430, 600, 250, 200)
    """
    prompt = count(usage, "promptTokenCount", path, required=True)
    cached = count(usage, "cachedContentTokenCount", path)
    candidates = count(usage, "candidatesTokenCount", path)
    thoughts = count(usage, "thoughtsTokenCount", path)
    tool = count(usage, "toolUsePromptTokenCount", path)
    p = _modalities(usage, "promptTokensDetails", path)
    c = _modalities(usage, "cacheTokensDetails", path)
    o = _modalities(usage, "candidatesTokensDetails", path)
    t = _modalities(usage, "toolUsePromptTokensDetails", path)

    if cached > prompt:
        raise _inconsistent(f"cachedContentTokenCount ({cached}) exceeds promptTokenCount ({prompt})",
                            f"{path}.cachedContentTokenCount")
    p_audio, p_image = p.get("AUDIO", 0), p.get("IMAGE", 0)
    if p_audio + p_image > prompt:
        raise _inconsistent(f"AUDIO and IMAGE prompt tokens ({p_audio + p_image}) exceed promptTokenCount ({prompt})",
                            f"{path}.promptTokensDetails")
    if c:
        c_audio, c_image = c.get("AUDIO", 0), c.get("IMAGE", 0)
        if c_audio > p_audio or c_image > p_image:
            raise _inconsistent("cacheTokensDetails has more AUDIO/IMAGE tokens than promptTokensDetails",
                                f"{path}.cacheTokensDetails")
    else:
        # No breakdown of the cache: take it from the text part first, then image, then audio.
        rest = cached - min(cached, prompt - p_audio - p_image)
        c_image = min(rest, p_image)
        c_audio = rest - c_image
    audio_in, image_in = p_audio - c_audio, p_image - c_image
    text_in = prompt - cached - audio_in - image_in
    if text_in < 0:
        raise _inconsistent(f"cached ({cached}), audio ({audio_in}) and image ({image_in}) tokens exceed "
                            f"promptTokenCount ({prompt})", f"{path}.promptTokenCount")
    t_audio, t_image = t.get("AUDIO", 0), t.get("IMAGE", 0)
    if t_audio + t_image > tool:
        raise _inconsistent(f"toolUsePromptTokensDetails ({t_audio + t_image}) exceed toolUsePromptTokenCount "
                            f"({tool})", f"{path}.toolUsePromptTokensDetails")
    o_audio, o_image = o.get("AUDIO", 0), o.get("IMAGE", 0)
    if o_audio + o_image > candidates:
        raise _inconsistent(f"AUDIO and IMAGE candidate tokens ({o_audio + o_image}) exceed candidatesTokenCount "
                            f"({candidates})", f"{path}.candidatesTokensDetails")
    return _usage(
        path,
        input=text_in + tool - t_audio - t_image,
        cached_input=cached,
        output=candidates - o_audio - o_image + thoughts,
        reasoning=thoughts,
        input_audio=audio_in + t_audio,
        input_image=image_in + t_image,
        output_audio=o_audio,
        output_image=o_image,
        web_search=web_search,
    )


def _search_queries(response: Mapping[str, Any]) -> tuple[bool, int]:
    """Whether any candidate was grounded with Google Search, and its distinct non-empty queries."""
    candidates = response.get("candidates")
    grounded = False
    queries: set[str] = set()
    if not isinstance(candidates, list):
        return False, 0
    for cand in candidates:
        meta = _cc(_cc(cand).get("groundingMetadata")) if is_mapping(cand) else None
        found = meta.get("webSearchQueries") if is_mapping(meta) else None
        if isinstance(found, list) and found:
            grounded = True
            queries.update(q for q in found if isinstance(q, str) and q.strip())
    return grounded, len(queries)


def _web_search(response: Mapping[str, Any], model: str) -> int:
    grounded, queries = _search_queries(response)
    if not grounded:
        return 0
    generation = _GENERATION.search(model.lower())
    if generation is not None and int(generation.group(1)) >= 3:
        return queries  # Gemini 3+: billed per executed search query
    return 1  # Gemini <= 2.x: billed per grounded prompt


def _service_tier(usage: Mapping[str, Any], batch: bool, hints: Hints) -> str | None:
    if batch:
        return "batch"
    tier = optional_str(usage, "serviceTier", "usageMetadata")
    if tier:
        tier = tier.lower().removeprefix("service_tier_")
        return None if tier == "unspecified" else tier
    traffic = optional_str(usage, "trafficType", "usageMetadata")
    if traffic and traffic != "TRAFFIC_TYPE_UNSPECIFIED":
        return _TRAFFIC_TIERS.get(traffic.upper(), traffic.lower())
    return hints.service_tier


def _is_partial_chunk(response: Mapping[str, Any]) -> bool:
    """A stream chunk before the last: it has candidates and none has finished yet.

    Every ``streamGenerateContent`` chunk carries ``usageMetadata`` with the
    prompt counted, so normalizing each chunk would bill the prompt N times.
    """
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return False
    return not any(is_mapping(c) and _cc(c).get("finishReason") for c in candidates)


def _outcome(line: Mapping[str, Any], response: Mapping[str, Any] | None) -> str:
    status = line.get("status")
    if (isinstance(status, str) and status) or is_mapping(line.get("error")):
        return "error"
    feedback = response.get("promptFeedback") if response is not None else None
    if is_mapping(feedback) and feedback.get("blockReason"):
        return "error"
    return "ok"


def _labels(line: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    for obj in (line.get("request"), line, response):
        found = obj.get("labels") if is_mapping(obj) else None
        if is_mapping(found):
            labels.update(found)
    return labels


def _normalize(payload: Mapping[str, Any], hints: Hints, provider: str | None) -> list[UsageRecord]:
    line: Mapping[str, Any] = _cc(payload)
    batch = _is_batch_line(line) and not _is_response(line)
    prefix = "response." if batch else ""
    response = _cc(mapping(line, "response", "")) if batch else line
    if response is None:
        status = line.get("status") or line.get("error")
        raise NormalizeError("missing_usage", f"batch line has no response (status: {status!r})", path="response")
    usage = _cc(mapping(response, "usageMetadata", prefix.rstrip(".")))
    upath = f"{prefix}usageMetadata"
    if usage is None or not any(usage.get(k) is not None for k in _USAGE_KEYS):
        raise NormalizeError("missing_usage", "response has no usageMetadata (for streams, keep the last chunk)",
                             path=upath)
    if _is_partial_chunk(response):
        raise NormalizeError("partial_stream_chunk", "a stream chunk before the last (no candidate has a "
                             "finishReason); only the last chunk's usage is complete",
                             path=f"{prefix}candidates")
    served = optional_str(response, "modelVersion", prefix.rstrip("."))
    if served:
        served = served.removesuffix("@default")  # Vertex batch output names the version alias
    model = hints.model or served
    if not model:
        raise NormalizeError("missing_field", "no modelVersion in the response and no model= hint",
                             path=f"{prefix}modelVersion")
    if provider is None:
        vertex = any(obj.get(key) is not None for obj, key in
                     ((response, "createTime"), (usage, "trafficType"), (line, "processedTime")))
        provider = "vertex" if vertex else "google"
    at = (timestamp(response.get("createTime"), f"{prefix}createTime")
          or timestamp(line.get("processedTime"), "processed_time") or hints.at)
    return [UsageRecord(
        provider=provider,
        model=model,
        model_billed=served if served and served != model else None,
        usage=usage_metadata_usage(usage, upath, web_search=_web_search(response, served or model)),
        at=at,
        request_id=optional_str(response, "responseId", prefix.rstrip(".")) or optional_str(line, "key", "")
        or hints.request_id,
        outcome=_outcome(line, response),
        service_tier=_service_tier(usage, batch, hints),
        region=hints.region,
        tags=owner_tags({"labels": _labels(line, response)}, "", hints, nested=("labels",)),
        schema="vertex.generate_content" if provider == "vertex" else "google.generate_content",
        source=hints.source,
    )]


def normalize_generate_content(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """A Gemini API or Vertex AI ``generateContent`` response, last stream chunk or batch line.

    The provider is ``hints.provider`` when given, else ``vertex`` when the
    payload is a Vertex response (``createTime``, ``trafficType`` or a Vertex
    batch line), else ``google``.

    Raises:
        NormalizeError: ``missing_usage`` (no ``usageMetadata``), ``missing_field``
            (no model), ``inconsistent_usage`` (parts exceed their totals),
            ``partial_stream_chunk`` (a stream chunk before the last).
    """
    provider = canonical_provider(hints.provider) if hints.provider else None
    return _normalize(payload, hints, provider)


def normalize_vertex_generate_content(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """The same payloads, always attributed to Vertex AI (``provider="vertex"``)."""
    return _normalize(payload, hints, "vertex")


SCHEMAS = (
    Schema("google.generate_content", "google", is_generate_content, normalize_generate_content,
           "Gemini API / Vertex AI generateContent response, last stream chunk or batch line (usageMetadata)", keys=_MARKERS),
    # Reached with provider="vertex" (or this id) for Vertex payloads that lack
    # createTime/trafficType; auto-detection prefers the schema above, which
    # recognizes Vertex responses by those fields.
    Schema("vertex.generate_content", "vertex", is_generate_content, normalize_vertex_generate_content,
           "Vertex AI generateContent response, last stream chunk or batch line (usageMetadata)",
           specificity=5, keys=_MARKERS),
)
