"""Normalization: provider payloads in, disjoint-meter usage records out.

Each provider schema is one pure function ``(payload, hints) -> list of
UsageRecord`` in its own module, registered in :data:`SCHEMAS` with a
detector. ``normalize`` handles one payload and raises on bad input;
``normalize_many`` handles a stream lazily and quarantines bad input instead,
so ``records in == normalized + quarantined``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from .._records import Quarantined, SourceLocation, UsageRecord
from .._registry import canonical_provider
from ..exceptions import AttributionError, InvalidTimestamp, NormalizeError
from . import (
    anthropic,
    azure,
    bedrock,
    cohere,
    compat,
    deepseek,
    gateway,
    google,
    langfuse,
    litellm,
    mistral,
    openai,
    otel,
    xai,
)
from ._common import (
    DEFAULT_TAG_ALIASES,
    OWNER_DIMENSIONS,
    Hints,
    Schema,
    as_payload,
    is_mapping,
    tag_name,
    with_source,
)

__all__ = [
    "DEFAULT_TAG_ALIASES",
    "OWNER_DIMENSIONS",
    "SCHEMAS",
    "SPAN_COPY_FLAGS",
    "Hints",
    "Raw",
    "Schema",
    "as_payload",
    "detect_schema",
    "keyed_hash",
    "normalize",
    "normalize_many",
    "normalize_stream",
]


def _collect(*modules: Any) -> tuple[Schema, ...]:
    return tuple(schema for module in modules for schema in module.SCHEMAS)


#: Every schema. A new provider is one module (with a ``SCHEMAS`` tuple) plus one name here.
SCHEMAS: tuple[Schema, ...] = _collect(
    gateway,
    openai,
    anthropic,
    google,
    bedrock,
    cohere,
    azure,
    deepseek,
    xai,
    mistral,
    compat,
    otel,
    langfuse,
    litellm,
)
_BY_ID = {s.id: s for s in SCHEMAS}


@attrs.frozen(slots=True)
class Raw:
    """A payload with the place it was read from (what file readers yield)."""

    payload: Any
    source: SourceLocation | None = None


def detect_schema(payload: Mapping[str, Any], provider: str | None = None) -> Schema:
    """The one schema ``payload`` matches, optionally among ``provider``'s.

    ``provider`` may be a provider name (``"openai"``) or a schema id
    (``"openai.chat"``).

    Raises:
        NormalizeError: code ``unknown_schema`` (naming what was looked for) or
            ``ambiguous_schema``.
    """
    if provider is not None and provider in _BY_ID:
        return _BY_ID[provider]
    prov = canonical_provider(provider) if provider else None
    return _detect(payload, prov, prefilter=True)


def _detect(payload: Mapping[str, Any], prov: str | None, *, prefilter: bool) -> Schema:
    levels = _levels(prov)
    if prefilter:
        # A schema that promises a top-level key (Schema.keys) is skipped when the payload has
        # none of its keys. Which schemas remain depends only on which promised keys are
        # present, and a stream repeats a handful of shapes: the filtered levels are memoised.
        present = _KEYED[0].intersection(payload)
        memo = (prov, present)
        filtered = _CANDIDATES.get(memo)
        if filtered is None:
            if len(_CANDIDATES) >= _CANDIDATES_MAX:   # many distinct shapes: start over, stay bounded
                _CANDIDATES.clear()
            filtered = _CANDIDATES[memo] = tuple(
                kept for kept in (tuple(s for s in level if s.keys is None or not s.keys.isdisjoint(present))
                                  for level in levels) if kept)
        levels = filtered
    # Most specific first; a match ends the search once its level is checked for ambiguity, so
    # the generic low-specificity detectors run only for payloads nothing more specific claims.
    for level in levels:
        top = [s for s in level if s.detect(payload)]
        if len(top) == 1:
            return top[0]
        if top:
            raise NormalizeError("ambiguous_schema", f"payload matches several schemas: "
                                 f"{', '.join(s.id for s in top)}; pass provider= to choose")
    candidates = [s for level in _levels(prov) for s in level]
    looked = "; ".join(f"{s.id}: {s.description}" for s in candidates)
    keys = ", ".join(sorted(str(k) for k in payload)[:12])
    raise NormalizeError("unknown_schema", f"payload matches no known schema (keys: {keys}). Looked for {looked}")


_LEVELS: dict[str | None, tuple[tuple[Schema, ...], ...]] = {}
_LEVELS_OF: list[tuple[Schema, ...]] = [SCHEMAS]
#: Every key some schema promises (Schema.keys), for the per-payload intersection.
_KEYED: list[frozenset[str]] = [frozenset().union(*(s.keys for s in SCHEMAS if s.keys is not None))]
#: (provider, promised keys present) -> the levels' schemas that remain to ask; bounded.
_CANDIDATES: dict[tuple[str | None, frozenset[str]], tuple[tuple[Schema, ...], ...]] = {}
_CANDIDATES_MAX = 4096


def _levels(prov: str | None) -> tuple[tuple[Schema, ...], ...]:
    """``SCHEMAS`` (for ``prov``, or all) grouped by specificity, highest first; rebuilt if SCHEMAS changes."""
    if _LEVELS_OF[0] is not SCHEMAS:   # an extension rebound SCHEMAS with its own schema
        _LEVELS.clear()
        _LEVELS_OF[0] = SCHEMAS
        _KEYED[0] = frozenset().union(*(s.keys for s in SCHEMAS if s.keys is not None))
        _CANDIDATES.clear()
    levels = _LEVELS.get(prov)
    if levels is None:
        candidates = [s for s in SCHEMAS if prov is None or s.provider in (prov, None)]
        order = sorted({s.specificity for s in candidates}, reverse=True)
        levels = _LEVELS[prov] = tuple(tuple(s for s in candidates if s.specificity == n) for n in order)
    return levels


def _hints(provider: str | None, tags: Mapping[str, str] | None, source: SourceLocation | None,
           extra: Mapping[str, Any]) -> Hints:
    unknown = set(extra) - {f.name for f in attrs.fields(Hints)}
    if unknown:
        raise TypeError(f"unknown normalize hint(s): {', '.join(sorted(unknown))}")
    at = extra.get("at")
    if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
        raise InvalidTimestamp(f"at= must be a timezone-aware datetime, got {at!r}")
    tag_map = dict(tags or {})
    # A schema id (provider="openai.chat") names its provider too: a hint, whichever form it takes.
    prov = (None if provider is None else _BY_ID[provider].provider if provider in _BY_ID
            else canonical_provider(provider))
    fields = dict(extra)
    if "hash_tags" in fields or "hash_key" in fields:
        fields["hash_tags"], fields["hash_key"] = _hashing(fields.get("hash_tags"), fields.get("hash_key"))
    return Hints(provider=prov, tags=tag_map, source=source, **fields)


def _hashing(names: Any, key: Any) -> tuple[frozenset[str], bytes | None]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names or ())
    if not all(isinstance(n, str) for n in names):
        raise TypeError("hash_tags= takes tag names, such as ('tenant', 'user')")
    chosen = frozenset(tag_name(n, DEFAULT_TAG_ALIASES) for n in names)   # tag names are case-insensitive
    if isinstance(key, str):
        key = key.encode("utf-8")
    if chosen and not key:
        raise ValueError("hash_tags= needs hash_key= (bytes or text kept secret, e.g. from an environment "
                         "variable): without a key, ids could be recovered by hashing guesses")
    if key is not None and not isinstance(key, bytes):
        raise TypeError(f"hash_key= must be bytes or text, got {type(key).__name__}")
    return chosen, key


def keyed_hash(value: str, key: bytes) -> str:
    """The opaque id that ``hash_tags`` puts in place of a tag value: ``h:`` and 32 hex digits.

    HMAC-SHA256 under ``key``, so equal values still group together (per-tenant
    rollups work) while nobody without the key can test a guess.

    >>> keyed_hash("acme-corp", b"s3cret")
    'h:6749be851d471d41b91abfba9e9bda4d'
    """
    return "h:" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


#: A tag value that is an e-mail address: personal data, flagged (or hash it with hash_tags).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")


def _protect(rec: UsageRecord, hints: Hints) -> UsageRecord:
    """Apply ``hash_tags`` and flag tag values that look like e-mail addresses."""
    tags = rec.tags
    if not tags:
        return rec
    new_tags = None
    if not all(k.islower() for k in tags):
        # A safety net for schemas that copy free-form keys: tag names are case-insensitive, so
        # "Tenant" is "tenant" (and hashed with it). Names without letters ("123") stay as they are.
        folded = {(k.lower() if any(c.isupper() for c in k) else k): v for k, v in tags.items()}
        if list(folded) != list(tags):
            tags = new_tags = folded
    if hints.hash_tags and hints.hash_key and any(k in tags for k in hints.hash_tags):
        key = hints.hash_key
        new_tags = {k: keyed_hash(v, key) if k in hints.hash_tags else v for k, v in tags.items()}
    values = (new_tags or tags).values()
    email = False
    for v in values:   # a loop, not any(genexpr): this runs once per record
        if "@" in v and _EMAIL.fullmatch(v):
            email = True
            break
    if new_tags is None and not email:
        return rec
    return attrs.evolve(rec, tags=new_tags if new_tags is not None else tags,
                        flags=(*rec.flags, "email_in_tags") if email else rec.flags)


def _run(payload: Any, hints: Hints, provider: str | None) -> list[UsageRecord]:
    if type(payload) is not dict:
        payload = as_payload(payload)   # an SDK object (pydantic, protobuf...), read without importing the SDK
    if not is_mapping(payload):
        raise NormalizeError("bad_type", f"payload must be a JSON object or an SDK object with model_dump() or "
                             f"to_dict(), got {type(payload).__name__}")
    schema = detect_schema(payload, provider)
    return [_protect(rec, hints) for rec in schema.normalize(payload, hints)]


def _located(exc: NormalizeError, source: SourceLocation | None) -> NormalizeError:
    if source is None or (exc.file and exc.line):
        return exc
    return NormalizeError(exc.code, exc.message, path=exc.path or source.path, file=source.file, line=source.line)


def normalize(payload: Any, provider: str | None = None, tags: Mapping[str, str] | None = None,
              source: SourceLocation | None = None, **hints: Any) -> UsageRecord:
    """Normalize one provider payload into a :class:`UsageRecord`.

    ``payload`` is a JSON object (a dict or any mapping) or what an SDK
    returned: an object with ``model_dump()`` (OpenAI ``ChatCompletion`` and
    ``Response``, Anthropic ``Message``, google-genai responses), ``to_dict()``,
    a protobuf message (xAI SDK), or an OpenTelemetry ``ReadableSpan``; it is
    read through :func:`as_payload`, without importing the SDK.
    ``provider=None`` detects the schema from the payload's shape. ``tags`` are
    owner tags to attach (they win over the payload's own). Hints fill what a
    payload lacks: ``model=`` (Bedrock Converse, Cohere), ``at=`` (Anthropic
    responses carry no timestamp), ``request_id=`` (from an HTTP header),
    ``service_tier=``, ``region=``, ``cached_in_input=`` (flat events).
    ``hash_tags=("tenant", "user")`` with ``hash_key=`` replaces those tags'
    values with :func:`keyed_hash` on ingest. A tag value that looks like an
    e-mail address raises the record flag ``email_in_tags``.

    Raises:
        NormalizeError: with a reason code and the field path.

    >>> rec = normalize({"id": "chatcmpl-1", "object": "chat.completion", "created": 1748779200,
    ...                  "model": "gpt-4o-2024-08-06", "choices": [],
    ...                  "usage": {"prompt_tokens": 5000, "completion_tokens": 800,
    ...                            "prompt_tokens_details": {"cached_tokens": 1000}}},
    ...                 tags={"team": "search"})
    >>> rec.usage.input, rec.usage.cached_input, rec.tags["team"]
    (4000, 1000, 'search')
    """
    h = _hints(provider, tags, source, hints)
    try:
        records = _run(payload, h, provider)
    except NormalizeError as exc:
        raise _located(exc, source) from None
    if len(records) != 1:
        raise NormalizeError("multiple_records", f"payload holds {len(records)} provider calls; use normalize_many()")
    return records[0]


#: Flags that mark a span record as a copy of a call counted already (see ``normalize_many``).
SPAN_COPY_FLAGS = ("duplicate_span", "rollup_span")


class _SpanCopies:
    """Which span records repeat a call already seen: bounded memory of response ids and span parents.

    Keeps the last ``max_ids`` response ids and the parent links of the last
    ``max_traces`` traces (spans of one trace are exported close together).
    """

    __slots__ = ("_ancestors", "_ids", "_parents", "max_ids", "max_traces")

    def __init__(self, max_ids: int = 200_000, max_traces: int = 20_000) -> None:
        self.max_ids, self.max_traces = max_ids, max_traces
        self._ids: dict[tuple[str, int], None] = {}
        self._parents: dict[str, dict[str, str | None]] = {}
        self._ancestors: dict[str, set[str]] = {}

    def flag(self, rec: UsageRecord) -> str | None:
        """``duplicate_span``, ``rollup_span`` or ``None``; remembers ``rec`` when it is a call of its own."""
        if rec.span_id is None or (rec.flags and any(f in SPAN_COPY_FLAGS for f in rec.flags)):
            return None
        trace = rec.trace_id or ""
        key = (rec.request_id, rec.attempt) if rec.request_id else None
        if key is not None and key in self._ids:
            return "duplicate_span"
        if trace in self._ancestors and rec.span_id in self._ancestors[trace]:
            return "rollup_span"   # a span above model-call spans counted already: it sums them
        if key is not None:
            self._ids[key] = None
            if len(self._ids) > self.max_ids:
                del self._ids[next(iter(self._ids))]
        parents = self._parents.get(trace)
        if parents is None:
            parents = self._parents[trace] = {}
            self._ancestors[trace] = set()
            if len(self._parents) > self.max_traces:
                old = next(iter(self._parents))
                del self._parents[old], self._ancestors[old]
        parents[rec.span_id] = rec.parent_id
        up, ancestors = rec.parent_id, self._ancestors[trace]
        while up is not None and up not in ancestors:
            ancestors.add(up)
            up = parents.get(up)
        return None


#: Codes of stream events that hold part of a bill (or none of it): skipped when a whole stream is read.
_PARTIAL = frozenset({"partial_stream_event", "partial_stream_chunk", "missing_usage"})


def normalize_stream(events: Iterable[Any], provider: str | None = None, tags: Mapping[str, str] | None = None,
                     source: SourceLocation | None = None, **hints: Any) -> UsageRecord:
    """One record from all the events of one streamed response.

    Anthropic splits a stream's usage over its events: ``message_start`` has
    the message id, the model and the input and cache counts,
    ``message_delta`` the final (cumulative) output count and, since 2025,
    the final input counts and ``usage.iterations``. Their usage is combined
    (each ``message_delta`` replaces what it carries) and read as one Messages
    response. For other providers the stream's one complete event is used
    (OpenAI's final chunk with ``usage``, Gemini's last chunk, Bedrock's
    ``metadata`` event, OpenAI Responses ``response.completed``); chunks that
    carry no or partial usage are skipped. Events may be dicts, SDK event
    objects or raw SSE ``data:`` payloads already parsed from JSON.

    Raises:
        NormalizeError: ``missing_usage`` when no event carries the bill;
            ``multiple_records`` when several events each carry a whole bill
            (they are not one response: use ``normalize_many``).

    >>> rec = normalize_stream([
    ...     {"type": "message_start", "message": {"id": "msg_01", "type": "message", "model": "claude-sonnet-4-5",
    ...      "usage": {"input_tokens": 1200, "cache_read_input_tokens": 4000, "output_tokens": 1}}},
    ...     {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    ...     {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 310}},
    ...     {"type": "message_stop"}])
    >>> rec.request_id, rec.usage.input, rec.usage.cached_input, rec.usage.output
    ('msg_01', 1200, 4000, 310)
    """
    h = _hints(provider, tags, source, hints)
    plain = [as_payload(e) for e in events]
    mappings = [e for e in plain if is_mapping(e)]
    if len(mappings) != len(plain):
        bad = next(e for e in plain if not is_mapping(e))
        raise NormalizeError("bad_type", f"stream events must be JSON objects or SDK event objects, got "
                             f"{type(bad).__name__}")
    kinds = {e.get("type") for e in mappings}
    if kinds & {"message_start", "message_delta"}:
        message = anthropic.combine_stream(mappings)
        if message is not None:
            try:
                records = _run(message, h, provider)
            except NormalizeError as exc:
                raise _located(exc, source) from None
            if len(records) != 1:
                raise NormalizeError("multiple_records", f"the stream's response holds {len(records)} billed "
                                     "parts (usage.iterations at other models); use normalize_many([message])")
            return attrs.evolve(records[0], schema="anthropic.stream")
    found: list[UsageRecord] = []
    for event in mappings:
        try:
            found.extend(_run(event, h, provider))
        except NormalizeError as exc:
            if exc.code not in _PARTIAL and exc.code != "unknown_schema":
                raise _located(exc, source) from None
    if not found:
        raise NormalizeError("missing_usage", f"none of the stream's {len(mappings)} events carries its usage "
                             "(for OpenAI chat streams, request stream_options={'include_usage': true})")
    if len(found) > 1:
        raise NormalizeError("multiple_records", f"{len(found)} events of the stream each carry a whole bill; "
                             "they are not one response (use normalize_many)")
    return found[0]


def _marked(rec: UsageRecord, flag: str | None) -> UsageRecord:
    return rec if flag is None else attrs.evolve(rec, flags=(*rec.flags, flag))


def normalize_many(items: Iterable[Any], provider: str | None = None, tags: Mapping[str, str] | None = None,
                   source: SourceLocation | None = None, *, mark_copies: bool = True,
                   **hints: Any) -> Iterator[UsageRecord | Quarantined]:
    """Normalize a stream lazily, quarantining what cannot be normalized.

    Items may be payload dicts, SDK objects (see :func:`normalize`), :class:`Raw`
    payloads with their source location (as the file readers yield), or
    ``Quarantined`` items from a reader (passed through). A payload that holds
    several provider calls (a trace, or an Anthropic response whose
    ``usage.iterations`` bill compaction or an advisor model) yields one record
    per call. Nothing is dropped: every input yields at least one item.

    Copies of one call reported by several spans (an SDK's own span and an
    instrumentation's or a framework's, each exported on its own) are marked,
    not dropped: a span record that reports a ``gen_ai.response.id`` seen
    before (same attempt) gets the flag ``duplicate_span``, and one whose span
    is an ancestor of a span record seen before (an agent or workflow span
    summing its model calls, exported after them) gets ``rollup_span``. The
    first report counts; :func:`attribution.rollup`, :func:`attribution.build_forest`
    and :func:`attribution.dedupe` leave the marked ones out. Within one OTLP
    export the same rules pick one span per call directly (the copy that says
    most about its usage). ``mark_copies=False`` turns the marking off.

    >>> out = list(normalize_many([{"object": "chat.completion", "model": "gpt-4o"}, "junk"]))
    >>> [q.code for q in out]
    ['missing_usage', 'bad_type']
    """
    base = _hints(provider, tags, source, hints)
    copies = _SpanCopies() if mark_copies else None
    for item in items:
        if isinstance(item, Quarantined):
            yield item
            continue
        where = source
        payload = item
        if isinstance(item, Raw):
            payload, where = item.payload, item.source or source
        h = base if where is source else with_source(base, where)
        try:
            records = _run(payload, h, provider)
            if not records:  # a normalizer that found nothing must not make the input vanish
                raise NormalizeError("no_records", "the payload holds no provider calls to price")
            if copies is not None and records[0].span_id is not None:
                records = [_marked(r, copies.flag(r)) for r in records]
            yield from records
        except AttributionError as exc:
            code = exc.code if isinstance(exc, NormalizeError) else "bad_value"
            path = exc.path if isinstance(exc, NormalizeError) else None
            loc = (where or SourceLocation()).with_path(path) if (where or path) else None
            yield Quarantined(code=code, message=str(exc) if not isinstance(exc, NormalizeError) else exc.message,
                              stage="normalize", source=loc, raw=payload)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # A safety net: a payload shape no normalizer anticipated is still
            # accounted for, with the error text, rather than lost or fatal.
            yield Quarantined(code="unreadable", message=f"{type(exc).__name__}: {exc}", stage="normalize",
                              source=where, raw=payload)
