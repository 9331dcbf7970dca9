"""Exact money: the one place that knows how amounts are represented.

Every amount inside the engine is an ``int`` count of *money units*, where one
money unit is ``10**-15`` of the currency (a femto-dollar for USD). Unit prices
from price cards are converted once, at load time, to integer money units per
token (or per call for per-request fees), so pricing a request is integer
multiplies and adds, and summing a month of requests is integer adds. Nothing
is ever a ``float``.

Why ``10**-15``: card prices are quoted per million tokens with up to six
decimals (``$0.075/M``) and a negotiated discount multiplies them again
(``0.85 * $2.50/M = $2.125/M``). One token at ``$X/M`` costs ``X * 10**9``
money units, so any per-million price with up to nine decimals is exact. A price
that would need more precision is rejected when the card loads, never rounded.

At the public boundary amounts become :class:`decimal.Decimal` with
:func:`to_decimal`, exactly (no context rounding). Rounding happens only when an
amount is *presented* (reports, CSV, allocation to cents) and always through
:func:`present`, which rounds half up to the cent unless told otherwise.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CENT",
    "PER_MILLION",
    "PER_THOUSAND",
    "SCALE",
    "SCALE_EXP",
    "from_decimal",
    "present",
    "ratio",
    "round_to_units",
    "to_decimal",
    "unit_price",
]

SCALE_EXP = 15
#: Money units per currency unit.
SCALE = 10**SCALE_EXP
#: Token meters are priced per million tokens.
PER_MILLION = 1_000_000
#: Per-request fees (web search calls) are priced per thousand calls.
PER_THOUSAND = 1_000
CENT = Decimal("0.01")


def to_decimal(units: int) -> Decimal:
    """Return ``units`` money units as an exact ``Decimal`` of the currency.

    Trailing zeros beyond the cent are dropped, so ``192.5`` dollars reads
    ``Decimal('192.50')`` and ``0.01925`` stays ``Decimal('0.01925')``.

    >>> to_decimal(192_500_000_000_000_000)
    Decimal('192.50')
    >>> to_decimal(19_250_000_000_000)
    Decimal('0.01925')
    """
    if not units:
        return Decimal("0.00")
    negative = units < 0
    digits = str(-units if negative else units)
    # Drop trailing zeros down to the cent, from the digit string itself, so no
    # Decimal context precision (28 digits by default) can ever round the value.
    drop = min(len(digits) - len(digits.rstrip("0")), SCALE_EXP - 2)
    if drop:
        digits = digits[:-drop]
    return Decimal((int(negative), tuple(map(int, digits)), drop - SCALE_EXP))


#: Amounts beyond 10^30 of a currency are rejected as corrupt rather than computed.
_MAX_EXPONENT = 30


def _split(dec: Decimal) -> tuple[int, int]:
    """``(signed integer coefficient, exponent)`` of a finite Decimal, exactly."""
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits)) or "0")
    return (-coefficient if sign else coefficient), int(exponent)


def _parse(amount: Decimal | int | str, what: str) -> Decimal:
    if isinstance(amount, (bool, float)):
        raise ValueError(f"{what} must be a Decimal, int or decimal string, not {type(amount).__name__}")
    try:
        dec = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{what} is not a number: {amount!r}") from None
    if not dec.is_finite():
        raise ValueError(f"{what} is not a finite number: {amount!r}")
    if dec and dec.adjusted() > _MAX_EXPONENT:
        raise ValueError(f"{what} {str(amount)[:40]} is larger than 10^{_MAX_EXPONENT}")
    return dec


def _to_units(amount: Decimal | int | str, what: str) -> tuple[int, int]:
    """``amount`` in money units as the exact fraction ``numerator / denominator`` (a power of ten)."""
    coefficient, exponent = _split(_parse(amount, what))
    shift = exponent + SCALE_EXP
    if shift >= 0:
        up: int = 10**shift
        return coefficient * up, 1
    down: int = 10**-shift
    return coefficient, down


def from_decimal(amount: Decimal | int | str, *, what: str = "amount") -> int:
    """Convert an exact amount of the currency to integer money units.

    Exact whatever the caller's ``decimal`` context: the digits are shifted
    as integers, never through context arithmetic. Raises ``ValueError`` if
    ``amount`` is a float, is not a finite number, is larger than 10^30, or
    has more than 15 decimals (it would not be exact).

    >>> from_decimal(Decimal("0.01925"))
    19250000000000
    """
    coefficient, down = _to_units(amount, what)
    if down == 1:
        return coefficient
    whole, rest = divmod(coefficient, down)
    if rest:
        raise ValueError(f"{what} {amount} has more than {SCALE_EXP} decimals and cannot be held exactly")
    return whole


def round_to_units(amount: Decimal | int | str, *, what: str = "amount") -> int:
    """Like :func:`from_decimal`, but rounds digits beyond 10^-15 half to even.

    For *comparing* with amounts the caller logged themselves (estimates with
    float noise such as ``0.0020480000000000003``), never for amounts that
    are summed.

    >>> round_to_units(Decimal("0.0020480000000000003"))
    2048000000000
    """
    coefficient, down = _to_units(amount, what)
    whole, rest = divmod(coefficient, down)   # floor division: 0 <= rest < down, for negatives too
    if 2 * rest > down or (2 * rest == down and whole % 2):
        whole += 1                            # half to even
    return whole


def unit_price(price: Decimal, per: int, *, what: str = "price") -> int:
    """Money units for *one* token (or call) given a price quoted ``per`` units.

    >>> unit_price(Decimal("2.50"), PER_MILLION)   # $2.50 per million tokens
    2500000000
    >>> unit_price(Decimal("10"), PER_THOUSAND)    # $10 per thousand calls
    10000000000000
    """
    total = from_decimal(price, what=what)
    per_unit, rest = divmod(total, per)
    if rest:
        raise ValueError(
            f"{what} {price} per {per:,} is not exact at 10^-{SCALE_EXP} per unit; "
            "state the price with fewer decimals"
        )
    return per_unit


def present(amount: Decimal, quantum: Decimal = CENT) -> Decimal:
    """Round an exact amount for presentation: half up to ``quantum`` (a cent by default).

    This is the only rounding the library does outside allocation, and it is
    applied to totals as shown, never to the numbers that are summed.

    >>> present(Decimal("0.0099232"))
    Decimal('0.01')
    >>> present(Decimal("2.675"))
    Decimal('2.68')
    >>> present(Decimal("-0.000001"))
    Decimal('0.00')
    """
    shown = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    return shown if shown else shown.copy_abs()  # never "-0.00"


_RATIO = Decimal("0.000001")


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal:
    """``part / whole`` as a share with at most six decimals, trailing zeros dropped.

    Shares (coverage, variance ratios) are not money; six decimals is a
    ten-thousandth of a percent. ``whole == 0`` gives 0.

    >>> ratio(19580, 22000), ratio(1, 3), ratio(5, 0)
    (Decimal('0.89'), Decimal('0.333333'), Decimal('0'))
    """
    if not whole:
        return Decimal(0)
    value = (Decimal(part) / Decimal(whole)).quantize(_RATIO, rounding=ROUND_HALF_UP)
    trimmed = value.normalize()
    exponent = trimmed.as_tuple().exponent
    return trimmed.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else trimmed
