"""Usage: disjoint, validated meters that add meter by meter."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution._usage import BILLED_METERS, MAX_COUNT, METERS, PROMPT_METERS
from strategies import usages


@pytest.mark.parametrize("meter", METERS)
def test_a_negative_count_on_any_meter_is_invalid_usage(meter):
    with pytest.raises(at.InvalidUsage, match="negative") as info:
        at.Usage(**{meter: -1})
    assert info.value.meter == meter
    assert info.value.value == -1


@pytest.mark.parametrize("bad", [1.0, 12.5, True, False, "12", None])
@pytest.mark.parametrize("meter", ["input", "output", "web_search"])
def test_a_count_that_is_not_an_int_is_invalid_usage(meter, bad):
    """Floats and bools are refused even when they look integral (True is 1, 1.0 == 1)."""
    with pytest.raises(at.InvalidUsage, match="integer") as info:
        at.Usage(**{meter: bad})
    assert info.value.meter == meter


def test_a_count_above_the_sanity_limit_is_invalid_usage():
    assert at.Usage(input=MAX_COUNT).input == MAX_COUNT
    with pytest.raises(at.InvalidUsage, match="sanity limit"):
        at.Usage(input=MAX_COUNT + 1)


def test_reasoning_may_equal_output_but_not_exceed_it():
    assert at.Usage(output=500, reasoning=500).reasoning == 500
    with pytest.raises(at.InvalidUsage, match="reasoning") as info:
        at.Usage(output=500, reasoning=501)
    assert info.value.meter == "reasoning"
    with pytest.raises(at.InvalidUsage):
        at.Usage(reasoning=1)


def test_invalid_usage_is_an_attribution_error_and_a_value_error():
    with pytest.raises(at.AttributionError):
        at.Usage(input=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        at.Usage(input=-1)


def test_usage_is_immutable():
    u = at.Usage(input=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        u.input = 2  # type: ignore[misc]


def test_prompt_tokens_count_every_input_side_meter_and_total_adds_every_output_side_meter():
    u = at.Usage(input=4_000, cached_input=1_000, cache_write=300, cache_write_1h=200, input_audio=50,
                 input_image=25, output=800, reasoning=600, output_audio=40, output_image=10, web_search=3)
    assert u.prompt_tokens == 4_000 + 1_000 + 300 + 200 + 50 + 25
    # reasoning is inside output and web searches are calls, not tokens: neither is added again
    assert u.total_tokens == u.prompt_tokens + 800 + 40 + 10


def test_seed_000_request_has_5000_prompt_and_5800_total_tokens():
    u = at.Usage(input=4_000, cached_input=1_000, output=800)
    assert (u.prompt_tokens, u.total_tokens) == (5_000, 5_800)


@given(usages(), usages())
def test_usages_add_meter_by_meter(a, b):
    total = a + b
    for m in METERS:
        assert getattr(total, m) == getattr(a, m) + getattr(b, m)
    assert total.prompt_tokens == a.prompt_tokens + b.prompt_tokens
    assert total.total_tokens == a.total_tokens + b.total_tokens


@given(st.lists(usages(), max_size=5))
def test_sum_of_usages_starts_from_zero_and_equals_repeated_addition(us):
    expected = at.Usage()
    for u in us:
        expected = expected + u
    assert sum(us, at.Usage()) == expected
    if us:
        assert sum(us) == expected


def test_adding_a_non_usage_is_a_type_error():
    with pytest.raises(TypeError):
        at.Usage(input=1) + 1
    with pytest.raises(TypeError):
        1 + at.Usage(input=1)


@given(usages())
def test_items_lists_exactly_the_non_zero_meters_in_meter_order(u):
    items = list(u.items())
    assert [m for m, _ in items] == [m for m in METERS if getattr(u, m)]
    assert all(n > 0 for _, n in items)
    assert at.Usage.from_mapping(u.as_dict()) == u


def test_from_mapping_rejects_an_unknown_meter_by_name():
    with pytest.raises(at.InvalidUsage, match="unknown meter") as info:
        at.Usage.from_mapping({"input": 1, "inptu": 2})
    assert info.value.meter == "inptu"


def test_every_billed_meter_is_a_meter_and_reasoning_is_not_billed():
    assert set(BILLED_METERS) | {"reasoning"} == set(METERS)
    assert "reasoning" not in BILLED_METERS
    assert set(PROMPT_METERS) <= set(BILLED_METERS)
