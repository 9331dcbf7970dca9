"""Shared helpers for normalizers: typed field access, timestamps, owner tags.

Every helper raises :class:`~attribution.NormalizeError` with a stable code and
the field path, so a bad payload is quarantined with a reason a person can act
on. Unknown extra fields are ignored by design: providers add fields often.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import attrs

from .._instant import instant_problem
from .._records import SourceLocation
from .._usage import MAX_COUNT, Usage
from ..exceptions import InvalidUsage, NormalizeError
from ..typing import Detector, Normalizer

__all__ = [
    "DEFAULT_TAG_ALIASES",
    "OWNER_DIMENSIONS",
    "Hints",
    "Schema",
    "as_payload",
    "count",
    "mapping",
    "money",
    "optional_str",
    "owner_tags",
    "tag_name",
    "timestamp",
    "usage_of",
    "with_source",
]

UTC = timezone.utc

#: The canonical owner dimensions every record can carry.
OWNER_DIMENSIONS = ("team", "project", "feature", "workflow", "tenant", "user", "environment", "cost_center")

#: Field names seen in gateways, SDK metadata and logs, mapped to a canonical dimension.
DEFAULT_TAG_ALIASES: Mapping[str, str] = {
    "team": "team", "team_id": "team", "owner_team": "team", "team_name": "team", "owner": "team",
    "project": "project", "project_id": "project", "project_name": "project",
    "feature": "feature", "feature_id": "feature", "feature_name": "feature",
    "workflow": "workflow", "workflow_id": "workflow", "workflow_name": "workflow",
    "tenant": "tenant", "tenant_id": "tenant", "tenant_id_hash": "tenant", "customer": "tenant",
    "customer_id": "tenant", "customer_id_hash": "tenant",
    "user": "user", "user_id": "user", "user_id_hash": "user", "end_user": "user",
    "environment": "environment", "env": "environment",
    "cost_center": "cost_center", "cost_centre": "cost_center", "costcenter": "cost_center",
}


@attrs.frozen(kw_only=True, slots=True)
class Hints:
    """What the caller knows that a payload may lack (see ``normalize``).

    ``tags`` are added to (and override) the payload's own owner fields.
    ``cached_in_input`` says whether an input count *includes* the cached
    tokens, for schemas where that varies (flat gateway events, OTel spans,
    LiteLLM logs); ``None`` follows the provider's or convention's default.
    ``hash_tags`` names owner tags (after aliasing, e.g. ``tenant``, ``user``)
    whose values are replaced on ingest by a keyed hash under ``hash_key``.
    """

    provider: str | None = None
    model: str | None = None
    at: datetime | None = None
    request_id: str | None = None
    service_tier: str | None = None
    region: str | None = None
    tags: Mapping[str, str] = attrs.field(factory=dict)
    tag_aliases: Mapping[str, str] = DEFAULT_TAG_ALIASES
    source: SourceLocation | None = None
    cached_in_input: bool | None = None
    hash_tags: frozenset[str] = frozenset()
    hash_key: bytes | None = None


@attrs.frozen(slots=True)
class Schema:
    """A payload schema: its id, its provider, how to spot it and how to read it.

    ``provider`` is ``None`` for shapes that name their own provider (gateway
    events, traces, OTel spans). When a payload matches several schemas, the
    one with the highest ``specificity`` wins (an Azure response is also a
    valid OpenAI response; the Azure schema is more specific); a tie is an
    ``ambiguous_schema`` error.

    ``keys`` is a promise that lets detection skip the detector: every payload
    ``detect`` accepts has at least one of these top-level keys. ``None`` (the
    default, for schemas added by users) makes no promise, so ``detect`` always
    runs. tests/test_normalize.py checks each promise against every fixture.
    """

    id: str
    provider: str | None
    detect: Detector
    normalize: Normalizer
    description: str
    specificity: int = 10
    keys: frozenset[str] | None = None


_HINT_FIELDS = tuple(f.name for f in attrs.fields(Hints))
_HINT_COPIED = tuple(name for name in _HINT_FIELDS if name != "source")
_setattr = object.__setattr__


def with_source(hints: Hints, source: SourceLocation | None) -> Hints:
    """``attrs.evolve(hints, source=source)`` at a fraction of the cost: readers call it once per line."""
    copy = object.__new__(Hints)
    for name in _HINT_COPIED:
        _setattr(copy, name, getattr(hints, name))
    _setattr(copy, "source", source)
    return copy


def usage_of(path: str, **meters: int) -> Usage:
    """A :class:`Usage` from counts, as a ``NormalizeError`` (with ``path``) when they are invalid.

    Counts that are each in range can still add up past the per-record limit,
    or reasoning can exceed output: the payload is inconsistent, not the code.
    """
    try:
        return Usage(**meters)
    except InvalidUsage as exc:
        code = "absurd_count" if "sanity limit" in exc.reason else "inconsistent_usage"
        raise _fail(code, str(exc), f"{path}.{exc.meter}" if path else exc.meter) from None


def is_mapping(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, answering for plain dicts (what JSON gives) without the ABC check.

    Detectors run on every payload; the ABC check costs four times a type test.
    """
    return type(value) is dict or isinstance(value, Mapping)


#: How deep ``as_payload`` converts nested SDK objects (an SDK object is a tree of a few levels).
_MAX_OBJECT_DEPTH = 64


def as_payload(obj: Any) -> Any:
    """The plain JSON-like value of what an SDK returned, without importing the SDK.

    A mapping is returned as it is. An object with ``model_dump()`` (pydantic
    v2: OpenAI's ``ChatCompletion`` and ``Response``, Anthropic's ``Message``,
    google-genai's ``GenerateContentResponse``, LiteLLM's ``ModelResponse``)
    is dumped in JSON mode (enums as their values, times as ISO text); ``dict()``
    for pydantic v1 models; ``to_dict()`` (proto-plus and many SDK models) is
    called on the object or its class; a protobuf message (``DESCRIPTOR`` and
    ``SerializeToString``, as the xAI SDK returns) is read with protobuf's own
    ``json_format.MessageToDict`` (field names as in the ``.proto``, 64-bit
    integers as text, which the count readers accept); a wrapper that holds
    its message in ``.proto`` or ``._pb`` (xai-sdk ``Response``, proto-plus)
    gives that message; dataclasses become dicts; an OpenTelemetry SDK
    ``ReadableSpan`` becomes the JSON its ``to_json()`` prints. Anything else is returned
    unchanged for the caller to reject. boto3 responses are dicts already.

    Raises:
        NormalizeError: ``bad_type`` when the object's own conversion fails.

    >>> class Message:   # what an SDK's pydantic model offers
    ...     def model_dump(self, mode="python"):
    ...         return {"type": "message", "model": "claude-haiku-4-5", "usage": {"input_tokens": 12}}
    >>> as_payload(Message())["usage"]
    {'input_tokens': 12}
    """
    return _plain(obj, 0)


def _plain(obj: Any, depth: int) -> Any:
    if obj is None or type(obj) in (dict, list, str, int, float, bool):
        return obj
    if hasattr(obj, "DESCRIPTOR") and callable(getattr(obj, "SerializeToString", None)):
        return _protobuf_dict(obj)   # before the mapping test: protobuf's Struct registers as a Mapping
    if is_mapping(obj):
        return obj
    if depth > _MAX_OBJECT_DEPTH:
        raise _fail("bad_type", f"SDK object nested deeper than {_MAX_OBJECT_DEPTH} levels", "")
    kind = type(obj).__name__
    try:
        if hasattr(obj, "get_span_context") and hasattr(obj, "attributes"):
            # An OpenTelemetry ReadableSpan (imported late: otel imports this module).
            from .otel import span_dict

            return span_dict(obj)
        dump = getattr(obj, "model_dump", None)
        if callable(dump):
            try:
                value = dump(mode="json")
            except TypeError:   # a model_dump() without pydantic's keywords
                value = dump()
            return _plain_tree(value, depth)
        for attr in ("_pb", "proto"):   # proto-plus messages; xai-sdk wrappers keep the protobuf here
            inner = getattr(obj, attr, None)
            if inner is not None and hasattr(inner, "DESCRIPTOR") and not callable(inner):
                return _protobuf_dict(inner)
        to_dict = getattr(obj, "to_dict", None)
        if callable(to_dict):
            return _plain_tree(to_dict(), depth)
        cls_to_dict = getattr(type(obj), "to_dict", None)
        if callable(cls_to_dict):
            return _plain_tree(cls_to_dict(obj), depth)
        v1 = getattr(obj, "dict", None)
        if callable(v1) and hasattr(obj, "__fields__"):   # pydantic v1
            return _plain_tree(v1(), depth)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return _plain_tree(dataclasses.asdict(obj), depth)
    except NormalizeError:
        raise
    except Exception as exc:  # an SDK's own conversion failed: say so, as a typed error
        raise _fail("bad_type", f"could not read the {kind} object as a payload: "
                    f"{type(exc).__name__}: {exc}"[:300], "") from None
    return obj


def _plain_tree(value: Any, depth: int) -> Any:
    """``value`` with any SDK objects left inside it (``model_dump()`` of a v1 model, ``to_dict()``) made plain."""
    if is_mapping(value):
        return {k: _plain_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v, depth + 1) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return _plain(value, depth + 1)


def _protobuf_dict(message: Any) -> Any:
    try:
        from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
    except ImportError:   # a protobuf object without protobuf installed cannot happen; say what is missing
        raise _fail("bad_type", f"{type(message).__name__} looks like a protobuf message but the protobuf "
                    "package is not importable", "") from None
    return json_format.MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[no-any-return,unused-ignore]


def _fail(code: str, message: str, path: str) -> NormalizeError:
    return NormalizeError(code, message, path=path)


def mapping(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Mapping[str, Any] | None:
    """A nested object, or ``None`` when absent/null (an error when required)."""
    value = obj.get(key)
    here = f"{path}.{key}" if path else key
    if value is None:
        if required:
            raise _fail("missing_field", f"required field {here!r} is missing", here)
        return None
    if not is_mapping(value):
        raise _fail("bad_type", f"{here!r} must be an object, got {type(value).__name__}", here)
    return value


def count(obj: Mapping[str, Any] | None, key: str, path: str, *, required: bool = False) -> int:
    """A token or call count: a non-negative integer (``12.0`` is accepted as 12)."""
    raw = None if obj is None else obj.get(key)
    if type(raw) is int and 0 <= raw <= MAX_COUNT:   # the common case, checked first (bool is not int here)
        return raw
    here = f"{path}.{key}" if path else key
    if raw is None:
        if required:
            raise _fail("missing_field", f"required field {here!r} is missing", here)
        return 0
    if isinstance(raw, bool):
        raise _fail("bad_type", f"{here!r} must be an integer count, got {raw!r}", here)
    value: int | float | Decimal
    if isinstance(raw, (int, float, Decimal)):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not (text.isascii() and text.isdigit()):  # "²".isdigit() is True
            raise _fail("bad_type", f"{here!r} must be an integer count, got {raw[:40]!r}", here)
        if len(text) > 15:  # checked before int(): a million-digit string must not stall the reader
            raise _fail("absurd_count", f"{here!r} is {text[:20]}..., above the sanity limit of {MAX_COUNT:,}", here)
        value = int(text)
    else:
        raise _fail("bad_type", f"{here!r} must be an integer count, got {type(raw).__name__}", here)
    if isinstance(value, (float, Decimal)):
        if value != value or value in (float("inf"), float("-inf")):  # NaN and infinities
            raise _fail("bad_type", f"{here!r} must be a finite integer count, got {value}", here)
        # Compare before converting: int(Decimal("1e1000000")) would take minutes.
        if value > MAX_COUNT or value < -MAX_COUNT:
            code = "negative_count" if value < 0 else "absurd_count"
            raise _fail(code, f"{here!r} is {str(value)[:20]}, outside 0..{MAX_COUNT:,}", here)
        if value != int(value):
            raise _fail("bad_type", f"{here!r} must be an integer count, got {value}", here)
        value = int(value)
    if value < 0:
        raise _fail("negative_count", f"{here!r} is negative ({value})", here)
    if value > MAX_COUNT:
        raise _fail("absurd_count", f"{here!r} is {str(value)[:20]}, above the sanity limit of {MAX_COUNT:,}", here)
    return value


def optional_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """A string field; numbers are accepted as their text (ids are often numeric)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    here = f"{path}.{key}" if path else key
    raise _fail("bad_type", f"{here!r} must be a string, got {type(value).__name__}", here)


def timestamp(value: Any, path: str) -> datetime | None:
    """An instant from ISO 8601 text (``Z`` or an offset) or Unix seconds.

    Text without an offset is taken as UTC, as every provider documents.
    """
    if value is None:
        return None
    if isinstance(value, date):  # a datetime too
        if not 1 < value.year < 9998 and (problem := instant_problem(value)):
            raise _fail("bad_timestamp", f"{path!r}: {problem}", path)
        if isinstance(value, datetime):
            return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise _fail("bad_timestamp", f"{path!r}: not a number: {value}", path)
        seconds = float(value) if not isinstance(value, int) else value
        if 1e11 < seconds < 1e14:  # milliseconds, as some gateways and JavaScript log
            seconds = seconds / 1000
        if not 0 <= seconds < 32503680000:  # year 3000
            raise _fail("bad_timestamp", f"{path!r}: Unix time {str(value)[:30]} is out of range", path)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            parsed = _iso(value.strip())
        except ValueError:
            raise _fail("bad_timestamp", f"{path!r}: not an ISO 8601 timestamp: {value[:60]!r}", path) from None
        if not 1 < parsed.year < 9998 and (problem := instant_problem(parsed)):
            raise _fail("bad_timestamp", f"{path!r}: {problem}", path)
        return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)
    raise _fail("bad_timestamp", f"{path!r}: expected a timestamp, got {type(value).__name__}", path)


_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?")


def _iso(text: str) -> datetime:
    """ISO 8601 as providers and databases write it, on every supported Python.

    Python 3.10's ``fromisoformat`` rejects ``Z``, ``+00`` and fractions that
    are not 3 or 6 digits long; Postgres, LiteLLM and JavaScript write all three.
    """
    if len(text) == 20 and text[10] == "T" and text[19] in "Zz":
        # The common 2026-06-08T12:15:44Z: what the general path below hands fromisoformat for it.
        return datetime.fromisoformat(text[:19] + "+00:00")
    m = _ISO.fullmatch(text)
    if m is None:
        return datetime.fromisoformat(text)
    day, clock, fraction, offset = m.groups()
    if len(clock) == 5:
        clock += ":00"
    micro = f".{(fraction or '')[:6].ljust(6, '0')}" if fraction else ""
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif offset:
        digits = offset[1:].replace(":", "")
        offset = f"{offset[0]}{digits[:2]}:{digits[2:4] or '00'}"
    return datetime.fromisoformat(f"{day}T{clock}{micro}{offset or ''}")


def money(value: Any, path: str) -> Decimal | None:
    """A logged cost estimate as an exact Decimal.

    JSON readers in this library parse numbers straight to ``Decimal``; a
    ``float`` from a caller's own dict is taken by its shortest text
    (``0.0335`` stays ``0.0335``), which is what was logged.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail("bad_type", f"{path!r} must be a number, got {value!r}", path)
    try:
        if isinstance(value, float):
            dec = Decimal(repr(value))
        elif isinstance(value, (int, Decimal, str)):
            dec = Decimal(value)
        else:
            raise _fail("bad_type", f"{path!r} must be a number, got {type(value).__name__}", path)
    except InvalidOperation:
        raise _fail("bad_type", f"{path!r} is not a number: {value!r}", path) from None
    if not dec.is_finite():
        raise _fail("bad_type", f"{path!r} is not a finite number: {value!r}", path)
    return dec


def _tag_value(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise _fail("bad_tag", f"tag {path!r} must be a string, got {type(value).__name__}", path)


def tag_name(key: str, aliases: Mapping[str, str]) -> str:
    """The canonical name of a tag: aliases folded, case folded (``Tenant`` and ``TENANT_ID`` are ``tenant``).

    Tag names are matched without regard to case everywhere (rollups, the
    ownership contract, ``hash_tags``), so they are lower-cased on ingest.

    >>> tag_name("Team_ID", DEFAULT_TAG_ALIASES), tag_name("Region", DEFAULT_TAG_ALIASES)
    ('team', 'region')
    """
    name = aliases.get(key)
    if name is None:
        low = key.strip().lower()
        name = aliases.get(low, low)
    return name


def owner_tags(obj: Mapping[str, Any], path: str, hints: Hints, *,
               nested: tuple[str, ...] = ("tags", "metadata", "labels")) -> dict[str, str]:
    """Owner tags from a payload: known top-level aliases, then nested tag maps.

    Top-level fields are read only when they are known aliases (``team_id`` ->
    ``team``); nested tag objects keep every key, canonicalizing the aliases.
    The caller's ``hints.tags`` are applied last and win.
    """
    aliases = hints.tag_aliases
    out: dict[str, str] = {}
    for key, value in obj.items():
        canonical = aliases.get(key)
        if canonical is None:
            if not isinstance(key, str) or key.islower():
                continue
            canonical = aliases.get(key.strip().lower())   # TEAM_ID, Team_Id: case never hides an owner field
            if canonical is None:
                continue
        if type(value) is str:   # the common case, without the call
            out[canonical] = value
            continue
        text = _tag_value(value, f"{path}.{key}" if path else key)
        if text is not None:
            out[canonical] = text
    for name in nested:
        inner = obj.get(name)
        if is_mapping(inner):
            for key, value in inner.items():
                if not isinstance(key, str):
                    continue
                text = _tag_value(value, f"{path}.{name}.{key}" if path else f"{name}.{key}")
                if text is not None:
                    out[tag_name(key, aliases)] = text
    for key, value in hints.tags.items():
        out[tag_name(key, aliases)] = value
    return out
