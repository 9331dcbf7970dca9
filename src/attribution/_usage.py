"""Usage: the disjoint meters one provider call consumed.

A normalizer's whole job is to turn a provider's usage block into a
:class:`Usage` whose meters never overlap, so that pricing is a plain sum of
``count x unit price`` over meters. The traps live in the normalizers (OpenAI's
``prompt_tokens`` *includes* cached tokens, Anthropic's ``input_tokens``
*excludes* them); here every meter means one thing only:

=================  ============================================================
meter              what it counts (priced per 1M tokens unless noted)
=================  ============================================================
``input``          uncached text input tokens
``cached_input``   input tokens read from a prompt cache
``cache_write``    input tokens written to a cache with a 5-minute TTL
``cache_write_1h`` input tokens written to a cache with a 1-hour TTL
``output``         output tokens, *including* reasoning/thinking tokens
``reasoning``      the part of ``output`` that was reasoning; informational,
                   never billed on its own (it is already inside ``output``)
``input_audio``    audio input tokens (not inside ``input``)
``output_audio``   audio output tokens (not inside ``output``)
``input_image``    image input tokens priced apart from text (not inside ``input``)
``output_image``   image output tokens (not inside ``output``)
``web_search``     server-side search / grounding calls, priced per 1,000 calls
=================  ============================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from ._fastinit import speed_up_init
from .exceptions import InvalidUsage

__all__ = [
    "BILLED_METERS",
    "CALL_METERS",
    "MAX_COUNT",
    "METERS",
    "PROMPT_METERS",
    "TOKEN_METERS",
    "Usage",
]

#: Token meters, priced per million tokens.
TOKEN_METERS = (
    "input",
    "cached_input",
    "cache_write",
    "cache_write_1h",
    "output",
    "input_audio",
    "output_audio",
    "input_image",
    "output_image",
)
#: Per-call meters, priced per thousand calls.
CALL_METERS = ("web_search",)
#: Meters that carry a price, in the order line items are listed.
BILLED_METERS = TOKEN_METERS + CALL_METERS
#: Every meter, billed or informational.
METERS = (*BILLED_METERS, "reasoning")
#: Meters that count toward a request's prompt size for context tiers.
PROMPT_METERS = ("input", "cached_input", "cache_write", "cache_write_1h", "input_audio", "input_image")

#: Meters counted on most calls; any other meter counting sets ``Usage._rare``,
#: so hot loops (pricing, rollups) read the others only when they are used.
COMMON_METERS = ("input", "cached_input", "cache_write", "output", "reasoning")
#: ``(index in BILLED_METERS, meter)`` of the billed meters a call without ``Usage._rare`` can use, in order.
COMMON_BILLED = tuple((i, m) for i, m in enumerate(BILLED_METERS) if m in COMMON_METERS)
#: ``(index, meter)`` of every billed meter, in order.
ALL_BILLED = tuple(enumerate(BILLED_METERS))

#: Largest count accepted on one meter of one record: 10 trillion. Large enough
#: for a month's aggregate usage bucket, small enough to catch unit mix-ups
#: (a cost in micro-dollars logged as tokens) and corrupt counters.
MAX_COUNT = 10**13


def _check(inst: Usage, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int:  # bool and float are rejected on purpose
        raise InvalidUsage(attribute.name, value, "must be an integer count")
    if value < 0:
        raise InvalidUsage(attribute.name, value, "must not be negative")
    if value > MAX_COUNT:
        raise InvalidUsage(attribute.name, value, f"is larger than the sanity limit of {MAX_COUNT:,}")


def _field() -> Any:
    return attrs.field(default=0, validator=_check)


@attrs.frozen(kw_only=True, slots=True, cache_hash=False)
class Usage:
    """Disjoint meters consumed by one provider call (or one aggregate bucket).

    All counts are non-negative integers; ``reasoning`` is a breakdown of
    ``output`` and may not exceed it. Two usages add meter by meter.

    >>> u = Usage(input=4_000, cached_input=1_000, output=800)
    >>> u.prompt_tokens, u.total_tokens
    (5000, 5800)
    >>> (u + u).output
    1600
    >>> Usage(input=-1)
    Traceback (most recent call last):
    ...
    attribution.exceptions.InvalidUsage: usage meter 'input': must not be negative (got -1)
    """

    input: int = _field()
    cached_input: int = _field()
    cache_write: int = _field()
    cache_write_1h: int = _field()
    output: int = _field()
    reasoning: int = _field()
    input_audio: int = _field()
    output_audio: int = _field()
    input_image: int = _field()
    output_image: int = _field()
    web_search: int = _field()
    # True when any meter other than input, cached_input, cache_write, output and
    # reasoning is used: lets hot loops (rollups) skip the rarely used meters.
    _rare: bool = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.reasoning > self.output:
            raise InvalidUsage(
                "reasoning", self.reasoning,
                f"reasoning tokens are part of output and cannot exceed it ({self.output})",
            )
        _set_rare(self, bool(self.cache_write_1h or self.input_audio or self.output_audio
                             or self.input_image or self.output_image or self.web_search))

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage.total({m: getattr(self, m) + getattr(other, m) for m in METERS})

    @classmethod
    def total(cls, counts: Mapping[str, int]) -> Usage:
        """A sum of usages: like the constructor, without the per-record sanity limit.

        ``MAX_COUNT`` guards single records against corrupt counters; a month's
        total for a busy model legitimately exceeds it.

        >>> Usage.total({"input": 3 * MAX_COUNT}).input == 3 * MAX_COUNT
        True
        """
        unknown = sorted(set(counts) - set(METERS))
        if unknown:
            raise InvalidUsage(unknown[0], counts[unknown[0]], f"unknown meter; known meters: {', '.join(METERS)}")
        inst = object.__new__(cls)
        for m in METERS:
            n = counts.get(m, 0)
            if type(n) is not int or n < 0:
                raise InvalidUsage(m, n, "must be a non-negative integer count")
            object.__setattr__(inst, m, n)
        if inst.reasoning > inst.output:
            raise InvalidUsage("reasoning", inst.reasoning, "reasoning tokens are part of output and cannot exceed it")
        object.__setattr__(inst, "_rare", bool(inst.cache_write_1h or inst.input_audio or inst.output_audio
                                               or inst.input_image or inst.output_image or inst.web_search))
        return inst

    def __radd__(self, other: object) -> Usage:
        # Lets sum(usages) start from 0.
        if other == 0:
            return self
        return NotImplemented

    @property
    def prompt_tokens(self) -> int:
        """Every input-side token, cached or not: what context tiers measure."""
        return (self.input + self.cached_input + self.cache_write + self.cache_write_1h
                + self.input_audio + self.input_image)

    @property
    def total_tokens(self) -> int:
        """Prompt tokens plus output tokens (reasoning is inside output)."""
        return self.prompt_tokens + self.output + self.output_audio + self.output_image

    def items(self) -> Iterator[tuple[str, int]]:
        """The non-zero meters as ``(meter, count)`` pairs, in meter order."""
        for m in METERS:
            n = getattr(self, m)
            if n:
                yield m, n

    def as_dict(self) -> dict[str, int]:
        """The non-zero meters as a plain dict (for JSON output)."""
        return dict(self.items())

    @classmethod
    def from_mapping(cls, counts: Mapping[str, int]) -> Usage:
        """Build a usage from ``{meter: count}``; unknown meter names raise.

        >>> Usage.from_mapping({"input": 10, "output": 2}).output
        2
        """
        unknown = sorted(set(counts) - set(METERS))
        if unknown:
            raise InvalidUsage(unknown[0], counts[unknown[0]], f"unknown meter; known meters: {', '.join(METERS)}")
        return cls(**counts)


_set_rare = vars(Usage)["_rare"].__set__
# Built for every record normalized: all eleven counts are checked in one expression.
speed_up_init(Usage, dict.fromkeys(METERS, "type({v}) is int and 0 <= {v} <= _MAX"), {"_MAX": MAX_COUNT})
