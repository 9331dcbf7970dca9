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

import decimal as _decimal
import functools
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import ParamSpec, TypeVar

__all__ = [
    "CENT",
    "EXACT_CONTEXT",
    "ISO_4217",
    "PER_MILLION",
    "PER_THOUSAND",
    "SCALE",
    "SCALE_EXP",
    "check_currency",
    "exact",
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
    if shift < 0 and -shift > len(str(abs(coefficient))) + 1:
        # Below a tenth of a money unit (``1e-99999999``): 10**-shift would be a number with
        # millions of digits (minutes of work). Any such nonzero amount is, exactly, not a whole
        # number of units and rounds to zero, as this stand-in fraction does.
        return (coefficient > 0) - (coefficient < 0), 100
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
    # _WIDE: quantizing to the cent must not raise InvalidOperation once the result
    # has more digits than the caller's context precision (28 by default).
    shown = amount.quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)
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
    value = (Decimal(part) / Decimal(whole)).quantize(_RATIO, rounding=ROUND_HALF_UP, context=_WIDE)
    trimmed = value.normalize(_WIDE)
    exponent = trimmed.as_tuple().exponent
    return trimmed.quantize(Decimal(1), context=_WIDE) if isinstance(exponent, int) and exponent > 0 else trimmed


# --- the library's own decimal context ---------------------------------------

#: Every exact sum runs in this context, whatever the caller's (a notebook's ``getcontext().prec = 6``
#: must not round 22000.007 to 22000.0): enough digits for any bounded amount, and any inexact
#: or invalid operation raises instead of rounding silently.
EXACT_CONTEXT = _decimal.Context(prec=120, rounding=ROUND_HALF_UP, Emax=_decimal.MAX_EMAX, Emin=_decimal.MIN_EMIN,
                                 traps=[InvalidOperation, _decimal.DivisionByZero, _decimal.Overflow])

_P = ParamSpec("_P")
_R = TypeVar("_R")


def exact(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` in :data:`EXACT_CONTEXT`, so its Decimal arithmetic never follows the caller's context.

    >>> import decimal
    >>> @exact
    ... def total(amounts): return sum(amounts, Decimal(0))
    >>> with decimal.localcontext(decimal.Context(prec=6)):
    ...     total([Decimal("22000.007"), Decimal("0.001")])
    Decimal('22000.008')
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _decimal.localcontext(EXACT_CONTEXT):
            return func(*args, **kwargs)

    return wrapper


#: Active ISO 4217 alphabetic codes (the SIX list, 2026), without ``XXX`` (no currency) and ``XTS``
#: (testing). A currency is always one of these, written exactly: never free text, never lower case.
ISO_4217 = frozenset(["AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL"])


def check_currency(value: object) -> str:
    """``value`` if it is an active ISO 4217 code as written (``USD``); ``ValueError`` otherwise.

    Codes are never trimmed or guessed: ``"usd "``, ``"US$"``, ``"€"`` and
    ``"XXY"`` are all refused. Readers whose source format writes codes in
    lower case (OpenAI's ``"usd"``) upper-case them before calling this.

    >>> check_currency("EUR")
    'EUR'
    >>> check_currency("XXY")
    Traceback (most recent call last):
    ...
    ValueError: not an ISO 4217 currency code: 'XXY' (expected an active code such as USD or EUR)
    """
    if isinstance(value, str) and value in ISO_4217:
        return value
    shown = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    raise ValueError(f"not an ISO 4217 currency code: {shown[:40]} (expected an active code such as USD or EUR)")


# --- the domain of amounts read from input (issue 17) ---------------------------

#: The largest magnitude any amount read from input may have: 10^15 of the currency (a
#: quadrillion). Every report can print it, and any sum of a billion such amounts, to the cent
#: and to 10^-15 (``decimal128(38, 15)`` in Parquet holds 23 integer digits). Larger amounts
#: are corrupt data (a unit mix-up, a column shift) and are rejected with the field named.
MAX_AMOUNT_EXP = 15
MAX_AMOUNT = Decimal(10) ** MAX_AMOUNT_EXP

#: A context wide enough that quantizing any finite Decimal for presentation cannot raise.
_WIDE = _decimal.Context(prec=_decimal.MAX_PREC, rounding=ROUND_HALF_UP, Emax=_decimal.MAX_EMAX,
                         Emin=_decimal.MIN_EMIN)


def check_amount(value: Decimal | int, what: str = "amount") -> Decimal:
    """``value`` as a Decimal if it is finite and at most :data:`MAX_AMOUNT` in magnitude; else ``ValueError``.

    The one gate for amounts read from files (invoice lines, policy pools):
    callers turn the ``ValueError`` into their own located error (file, line, field).

    >>> check_amount(Decimal("-1E+15"))
    Decimal('-1E+15')
    >>> check_amount(Decimal("1e26"))
    Traceback (most recent call last):
    ...
    ValueError: 1E+26 is out of range: amounts are at most 10^15 in magnitude
    >>> check_amount(Decimal("NaN"))
    Traceback (most recent call last):
    ...
    ValueError: NaN is not a finite number
    """
    dec = value if isinstance(value, Decimal) else Decimal(value)
    if not dec.is_finite():
        raise ValueError(f"{str(dec)[:40]} is not a finite number")
    # adjusted() first; copy_abs(), not abs(): abs() rounds to the context (28 digits) and
    # overflows its exponent range (1e999999999), where copy_abs() and comparison are exact.
    if dec and dec.adjusted() >= MAX_AMOUNT_EXP and dec.copy_abs() > MAX_AMOUNT:
        raise ValueError(f"{str(dec)[:40]} is out of range: amounts are at most 10^{MAX_AMOUNT_EXP} in magnitude")
    return dec
