"""Exact money: integer money units inside, Decimal at the boundary, rounding only to present."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from attribution._money import (
    CENT,
    PER_MILLION,
    PER_THOUSAND,
    SCALE,
    from_decimal,
    present,
    to_decimal,
    unit_price,
)
from strategies import decimal_amounts

# Money units that fit in Decimal's default 28-digit context: up to about ±$10 trillion.
REALISTIC_UNITS = st.integers(min_value=-(10**27), max_value=10**27)


# --- the seeds' amounts read as people write them --------------------------------------


@pytest.mark.parametrize(("units", "text"), [
    (192_500_000_000_000_000, "192.50"),       # seed 000, search team
    (425 * SCALE, "425.00"),                   # seed 000 total
    (19_250_000_000_000, "0.01925"),           # one GPT-4o request
    (9_923_200_000_000, "0.0099232"),          # seed 002 gateway event
    (1, "0.000000000000001"),                  # the smallest unit is kept, not rounded away
    (0, "0.00"),
    (-7_500_000_000_000_000, "-7.50"),         # credits and variances are negative
])
def test_to_decimal_keeps_every_digit_and_at_least_cents(units, text):
    amount = to_decimal(units)
    assert isinstance(amount, Decimal)
    assert amount == Decimal(text)
    assert str(amount) == text or f"{amount:f}" == text


@given(REALISTIC_UNITS)
@example(1)
@example(-1)
@example(10**27 - 1)
def test_from_decimal_inverts_to_decimal(units):
    assert from_decimal(to_decimal(units)) == units


@given(decimal_amounts())
def test_to_decimal_inverts_from_decimal_for_amounts_with_at_most_15_decimals(amount):
    assert to_decimal(from_decimal(amount)) == amount


def test_to_decimal_is_exact_for_huge_amounts_beyond_the_decimal_context():
    units = 10**40 + 1  # 41 significant digits; Decimal's default context keeps 28
    assert f"{to_decimal(units):f}" == "10000000000000000000000000.000000000000001"


@pytest.mark.parametrize("units", [10**30 + 1, 12_345_678_901_234_567_890_123_456_789_012_345])
def test_from_decimal_is_exact_for_huge_amounts_beyond_the_decimal_context(units):
    """Amounts above ~$10 trillion with femto-dollar digits must not be silently rounded."""
    assert from_decimal(to_decimal(units)) == units


def test_from_decimal_rejects_16_decimals_even_on_a_huge_amount():
    """More than 15 decimals cannot be held exactly; a 36-digit value must not slip through rounded."""
    with pytest.raises(ValueError, match="decimals"):
        from_decimal(Decimal("12345678901234567890.1234567890123456"))


def test_from_decimal_does_not_depend_on_the_callers_decimal_context():
    """A notebook that lowered the Decimal precision must not change what an amount is worth."""
    with localcontext() as ctx:
        ctx.prec = 6
        assert from_decimal(Decimal("1234.5678")) == 1_234_567_800_000_000_000


# --- no float, ever --------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.1, 192.5, 1.0, True, False])
def test_from_decimal_refuses_floats_and_bools(bad):
    with pytest.raises(ValueError, match=r"float|bool"):
        from_decimal(bad)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "abc", "", "1,5"])
def test_from_decimal_refuses_what_is_not_a_finite_number(bad):
    with pytest.raises(ValueError, match="number"):
        from_decimal(bad)


def test_from_decimal_accepts_ints_strings_and_decimals_alike():
    assert from_decimal(2) == from_decimal("2") == from_decimal(Decimal("2.000")) == 2 * SCALE


def test_from_decimal_rejects_a_16th_decimal():
    assert from_decimal(Decimal("0.000000000000001")) == 1
    with pytest.raises(ValueError, match="more than 15 decimals"):
        from_decimal(Decimal("0.0000000000000001"))


# --- unit prices -----------------------------------------------------------------------


def test_unit_price_converts_per_million_and_per_thousand_quotes_to_units_per_token_or_call():
    assert unit_price(Decimal("2.50"), PER_MILLION) == 2_500_000_000
    assert unit_price(Decimal("0.075"), PER_MILLION) == 75_000_000
    assert unit_price(Decimal("10"), PER_THOUSAND) == 10 * SCALE // 1000


def test_unit_price_refuses_a_price_that_is_not_exact_per_token():
    assert unit_price(Decimal("0.000000001"), PER_MILLION) == 1      # nine decimals per million: exact
    with pytest.raises(ValueError, match="not exact"):
        unit_price(Decimal("0.0000000001"), PER_MILLION)              # ten: would need rounding


# --- presentation ----------------------------------------------------------------------


@pytest.mark.parametrize(("exact", "shown"), [
    ("2.675", "2.68"),
    ("2.665", "2.67"),        # half-even (banker's) rounding would give 2.66
    ("0.005", "0.01"),
    ("0.0049999", "0.00"),
    ("0.0099232", "0.01"),
    ("-2.675", "-2.68"),      # half away from zero for credits
    ("192.50", "192.50"),
])
def test_present_rounds_half_up_to_the_cent(exact, shown):
    assert str(present(Decimal(exact))) == shown


def test_present_rounds_to_a_given_quantum():
    assert present(Decimal("12.345"), Decimal("0.1")) == Decimal("12.3")
    assert present(Decimal("12.35"), Decimal("0.1")) == Decimal("12.4")
    assert present(Decimal("0.0000005"), Decimal("0.000001")) == Decimal("0.000001")


@given(decimal_amounts())
def test_present_is_within_half_a_cent_and_leaves_the_exact_amount_alone(amount):
    before = Decimal(amount)
    shown = present(amount)
    assert abs(shown - amount) <= CENT / 2
    assert shown.as_tuple().exponent == -2
    assert amount == before


@given(st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False, allow_infinity=False,
                   places=20))
def test_round_to_units_rounds_half_to_even_like_fractions_do(amount):
    from fractions import Fraction

    from attribution._money import SCALE_EXP, round_to_units

    exact = Fraction(amount) * 10**SCALE_EXP
    assert round_to_units(amount) == round(exact)   # Python's round() of a Fraction is half to even


@pytest.mark.parametrize(("text", "units"), [("0.0000000000000005", 0), ("0.0000000000000015", 2),
                                             ("-0.0000000000000005", 0), ("-0.0000000000000015", -2),
                                             ("0.00000000000000051", 1), ("-0.00000000000000049", 0)])
def test_round_to_units_ties_go_to_the_even_unit(text, units):
    from attribution._money import round_to_units

    assert round_to_units(Decimal(text)) == units
