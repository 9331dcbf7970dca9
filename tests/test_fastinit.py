"""The generated constructors of Usage and UsageRecord behave exactly as attrs' own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution._fastinit import speed_up_init
from attribution._usage import MAX_COUNT, METERS

# Valid counts, and each kind of invalid one the validators must name.
count_values = st.one_of(
    st.integers(min_value=0, max_value=MAX_COUNT),
    st.sampled_from([-1, MAX_COUNT + 1, True, False, 1.0, Decimal(3), "12", None]),
)


def both(cls, **kwargs):
    """(outcome of the fast constructor, outcome of attrs' generated one): a value or (error type, message)."""
    def run(make):
        try:
            return make()
        except Exception as exc:
            return type(exc), str(exc)

    def original():
        obj = object.__new__(cls)
        cls._attrs_init(obj, **kwargs)
        return obj

    return run(lambda: cls(**kwargs)), run(original)


@given(st.dictionaries(st.sampled_from(METERS), count_values, max_size=6))
def test_usage_fast_constructor_accepts_and_rejects_exactly_what_attrs_does(kwargs):
    fast, slow = both(at.Usage, **kwargs)
    assert fast == slow
    if isinstance(fast, at.Usage):
        assert fast._rare == slow._rare
        assert all(type(getattr(fast, m)) is int for m in METERS)


UTC = timezone.utc
record_fields = st.fixed_dictionaries(
    {"provider": st.sampled_from(["openai", "anthropic"]), "model": st.sampled_from(["gpt-4o", "x"]),
     "usage": st.builds(at.Usage, input=st.integers(0, 10**6))},
    optional={
        "at": st.sampled_from([None, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 1),
                               datetime(2026, 6, 1, tzinfo=timezone(timedelta(hours=-5))), "2026-06-01"]),
        "tags": st.one_of(st.none(), st.dictionaries(st.sampled_from(["team", "tenant"]), st.text(max_size=5))),
        "request_id": st.none() | st.text(max_size=5),
        "attempt": st.integers(1, 3),
        "requests": st.integers(0, 5),
        "flags": st.sampled_from([(), ("email_in_tags",)]),
        "estimate": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=4),
    },
)


@given(record_fields)
def test_usage_record_fast_constructor_matches_attrs_fields_converters_and_validators(kwargs):
    fast, slow = both(at.UsageRecord, **kwargs)
    assert fast == slow
    if isinstance(fast, at.UsageRecord):
        assert type(fast.tags) is type(slow.tags)   # converted to a read-only mapping either way
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            fast.model = "changed"  # type: ignore[misc]


def test_unknown_and_missing_arguments_fail_as_a_constructor_call_does():
    with pytest.raises(TypeError, match="unexpected keyword"):
        at.Usage(tokens=1)   # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing"):
        at.UsageRecord(provider="openai", model="gpt-4o")   # type: ignore[call-arg]
    with pytest.raises(TypeError):
        at.Usage(1)   # type: ignore[misc]  # keyword-only, as before


def test_speed_up_init_refuses_shapes_it_does_not_generate():
    @attrs.frozen(slots=True)
    class Positional:
        x: int

    with pytest.raises(TypeError, match="keyword-only"):
        speed_up_init(Positional)

    @attrs.frozen(slots=True, kw_only=True)
    class Private:
        _x: int = 0

    with pytest.raises(TypeError, match="own names"):
        speed_up_init(Private)

    @attrs.frozen(slots=True, kw_only=True)
    class NoValidator:
        x: int = 0

    with pytest.raises(TypeError, match="no validator"):
        speed_up_init(NoValidator, {"x": "{v} > 0"})
    with pytest.raises(TypeError, match="no init fields named y"):
        speed_up_init(NoValidator, {"y": "{v} > 0"})
