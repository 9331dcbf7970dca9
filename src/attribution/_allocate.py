"""Allocation: shared cost to owners by an explicit policy, conserving every cent.

This is the stage after the rollup. A rollup says what each owner spent
directly; some spend has no single owner (platform overhead, observability
and routing, untagged requests, fixed fees, reserved capacity nobody used).
:func:`allocate` splits one amount over weights, exactly;
:func:`apply_policy` applies a :class:`Policy` (data, usually a TOML file) to
a rollup and returns an :class:`Allocation`: per owner, the direct cost, each
pool's share with the method and ratio that produced it, and the total.

Rounding: pools are split at a *quantum* (a cent by default) with the
largest-remainder method. Every owner first gets its exact quota rounded down
to the quantum; the quanta left over go one each to the owners with the
largest remainders, ties broken by the larger weight, then by owner name
(ascending, by code point). So shares always add up to the amount exactly,
no share is ever more than one quantum away from its exact quota, and the
result never depends on the order the owners were given in. A negative amount
(a credit) is split as the mirror image of the positive one.

>>> allocate(Decimal("100.00"), {"c": 1, "b": 1, "a": 1}, method="even")
{'c': Decimal('33.33'), 'b': Decimal('33.33'), 'a': Decimal('33.34')}
>>> allocate(Decimal("-100.00"), {"c": 1, "b": 1, "a": 1}, method="even")
{'c': Decimal('-33.33'), 'b': Decimal('-33.33'), 'a': Decimal('-33.34')}
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from . import _notebook
from ._fx import FxRate, FxTable
from ._invoice import InvoiceLine
from ._money import CENT, ISO_4217, SCALE_EXP, check_amount, exact, from_decimal, to_decimal
from ._rollup import Rollup
from .exceptions import CurrencyMismatch, PolicyError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ALLOCATORS",
    "BASES",
    "METHODS",
    "MISSING",
    "POOL_KINDS",
    "AllocatedShare",
    "Allocation",
    "AllocationRow",
    "Allocator",
    "Policy",
    "Pool",
    "PoolAllocation",
    "allocate",
    "apply_policy",
    "invoice_pool_amounts",
    "load_policy",
    "parse_policy",
]

Key = tuple[str | None, ...]

#: Spelling of "this record has no value for the dimension" in a policy's
#: ``where`` (``where = { team = "__missing__" }`` selects untagged spend).
MISSING = "__missing__"
#: Ways a pool can be shared. ``retain`` keeps it with the policy's central owner.
METHODS = ("even", "proportional", "fixed", "retain")
#: What ``proportional`` pools are proportional to (``by = ...``).
BASES = ("requests", "tokens", "direct_cost", "cost", "metric")
#: ``shared`` cost, or ``idle``: reserved or provisioned capacity nobody used.
POOL_KINDS = ("shared", "idle")

_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
# Column names of Allocation.summary(); a pool id may not take one.
_RESERVED_IDS = ("direct", "total", "currency")
_UNITS = {"requests": "Requests", "tokens": "Tokens", "direct_cost": "Direct Cost", "cost": "Cost"}


# --- allocate --------------------------------------------------------------

#: ``(weights) -> ratios``: each owner's exact fraction of the amount, summing
#: to 1. Raises ``PolicyError`` when the weights cannot be shared by the method.
Allocator = Callable[[Mapping[str, Fraction]], dict[str, Fraction]]


def _even(weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    share = Fraction(1, len(weights))
    return dict.fromkeys(weights, share)


def _proportional(weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    total = sum(weights.values(), Fraction(0))
    if not total:
        raise PolicyError("the weights sum to zero, so there is nothing to be proportional to", path="weights")
    return {k: w / total for k, w in weights.items()}


def _fixed(weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    total = sum(weights.values(), Fraction(0))
    if total != 100:
        raise PolicyError(f"fixed percentages must sum to exactly 100, got {_show(total)}", path="weights")
    return {k: w / 100 for k, w in weights.items()}


#: The split methods of :func:`allocate`, by name.
ALLOCATORS: Mapping[str, Allocator] = MappingProxyType(
    {"even": _even, "proportional": _proportional, "fixed": _fixed})


def _exact(value: object, what: str) -> Fraction:
    """An ``int`` or finite ``Decimal`` as an exact fraction; anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PolicyError(f"must be a Decimal or an int, not {type(value).__name__} {value!r}", path=what)
    if isinstance(value, Decimal) and not value.is_finite():
        raise PolicyError(f"must be a finite number, got {value}", path=what)
    # Not the input bound on amounts (10^15): allocate() also splits sums (true-ups) of many amounts.
    if problem := _out_of_domain(value, amount=False):
        raise PolicyError(problem, path=what)
    return Fraction(value)


def _out_of_domain(value: Decimal | int, *, amount: bool) -> str | None:
    """Why a policy number is out of range (``None`` if it is fine).

    Amounts obey the library's bound (:data:`~attribution._money.MAX_AMOUNT`); every
    number must be above 10^-15 when not zero, and below 10^30: exact
    arithmetic on ``1e-99999999`` would build a hundred-million-digit fraction.
    """
    if not value:
        return None
    if amount:
        try:
            check_amount(value)
        except ValueError as exc:
            return str(exc)
    if not isinstance(value, Decimal):
        return None if abs(value) < 10**30 else f"{str(value)[:40]} is out of range (at most 10^30)"
    if value.adjusted() < -SCALE_EXP:
        return f"{str(value)[:40]} is out of range: below 10^-{SCALE_EXP}, the smallest amount the library holds"
    if value.adjusted() >= 30:
        return f"{str(value)[:40]} is out of range (at most 10^30)"
    return None


def _largest_remainder(quanta: int, ratios: Mapping[str, Fraction]) -> dict[str, int]:
    """Split ``quanta`` whole quanta by ``ratios`` (summing to 1), conserving the total.

    Floors first; the leftover quanta (fewer than the owners with a non-zero
    remainder) go to the largest remainders, then the larger ratio, then the
    owner name ascending. Negative totals mirror the positive split.
    """
    sign = -1 if quanta < 0 else 1
    n = abs(quanta)
    counts: dict[str, int] = {}
    ranked: list[tuple[Fraction, Fraction, str]] = []
    for owner, ratio in ratios.items():
        quota = n * ratio
        floor = quota.numerator // quota.denominator
        counts[owner] = floor
        ranked.append((quota - floor, ratio, owner))
    left = n - sum(counts.values())
    ranked.sort(key=lambda t: (-t[0], -t[1], t[2]))
    for _, _, owner in ranked[:left]:
        counts[owner] += 1
    return {k: sign * v for k, v in counts.items()}


def _times(count: int, quantum: Decimal) -> Decimal:
    """``count * quantum`` built digit by digit, so no context precision can round it."""
    _, digits, exp = quantum.as_tuple()
    assert isinstance(exp, int)  # finite, checked by the caller
    value = count * int("".join(map(str, digits)))
    return Decimal((int(value < 0), tuple(map(int, str(abs(value)))), exp))


@exact
def allocate(amount: Decimal | int, weights: Mapping[str, int | Decimal], method: str = "proportional",
             quantum: Decimal | int = CENT) -> dict[str, Decimal]:
    """Split ``amount`` over owners exactly, in whole quanta (cents by default).

    Methods:

    - ``proportional``: each owner's share is ``amount * weight / sum(weights)``
      (weights are request counts, tokens, direct cost, seats...).
    - ``even``: the same share for every key of ``weights``; the values are
      ignored (but must still be valid numbers).
    - ``fixed``: the weights are percentages and must sum to exactly 100.

    Rounding is largest-remainder at ``quantum`` with a deterministic
    tie-break (larger remainder, then larger weight, then owner name
    ascending), so the shares sum to ``amount`` exactly, each is within one
    quantum of its exact quota, an owner with weight 0 gets 0, and the result
    does not depend on the order of ``weights``. A negative ``amount`` (a
    credit) is split as the mirror image of the positive amount.

    Args:
        amount: the amount to split; a multiple of ``quantum``.
        weights: owner name to a non-negative ``int`` or ``Decimal``.
        method: ``proportional``, ``even`` or ``fixed``.
        quantum: the smallest amount a share is made of.

    Returns:
        A new dict, owner to share, in the order of ``weights``.

    Raises:
        PolicyError: a float anywhere, a negative weight, weights that sum to
            zero (``proportional``) or not to 100 (``fixed``), no owners, an
            unknown method, or an amount that is not a multiple of the quantum.

    >>> allocate(Decimal("1500.00"), {"search": 600_000, "support": 300_000, "ops": 100_000})
    {'search': Decimal('900.00'), 'support': Decimal('450.00'), 'ops': Decimal('150.00')}
    >>> allocate(Decimal("10.00"), {"a": 2, "b": 1}, method="proportional")
    {'a': Decimal('6.67'), 'b': Decimal('3.33')}
    >>> allocate(Decimal("1000"), {"search": 60, "support": 40}, method="fixed", quantum=1)
    {'search': Decimal('600'), 'support': Decimal('400')}
    >>> allocate(Decimal("10.00"), {"a": 0, "b": 0})
    Traceback (most recent call last):
    ...
    attribution.exceptions.PolicyError: weights: the weights sum to zero, so there is nothing to be proportional to
    """
    allocator = ALLOCATORS.get(method) if isinstance(method, str) else None
    if allocator is None:
        raise PolicyError(f"unknown method {method!r}; methods: {', '.join(ALLOCATORS)}", path="method")
    q = _exact(quantum, "quantum")
    if q <= 0:
        raise PolicyError(f"must be positive, got {quantum}", path="quantum")
    quanta = _exact(amount, "amount") / q
    if quanta.denominator != 1:
        raise PolicyError(f"{amount} is not a whole number of quanta of {quantum}", path="amount")
    exact: dict[str, Fraction] = {}
    for owner, weight in weights.items():
        if not isinstance(owner, str):
            raise PolicyError(f"owner names must be strings, got {owner!r}", path="weights")
        what = f"weights[{owner!r}]"
        w = _exact(weight, what)
        if w < 0:
            raise PolicyError(f"weights must not be negative, got {weight}", path=what)
        exact[owner] = w
    if not exact:
        raise PolicyError("there are no owners to allocate to", path="weights")
    counts = _largest_remainder(quanta.numerator, allocator(exact))
    q_dec = quantum if isinstance(quantum, Decimal) else Decimal(quantum)
    return {owner: _times(c, q_dec) for owner, c in counts.items()}


def _terminating(fr: Fraction) -> Decimal | None:
    """``fr`` as an exact Decimal when it has a finite decimal expansion."""
    den = fr.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    value = fr.numerator * 10**places // fr.denominator
    return Decimal((int(value < 0), tuple(map(int, str(abs(value)))), -places))


def _show(fr: Fraction) -> str:
    dec = _terminating(fr)
    return format(dec, "f") if dec is not None else str(fr)


def _ratio_text(fr: Fraction) -> str:
    """A ratio as a decimal string: exact when it terminates, else 12 places, half even."""
    dec = _terminating(fr)
    if dec is None:
        scaled = fr * 10**12
        dec = Decimal(round(scaled)).scaleb(-12)
    return format(dec.normalize(), "f")


# --- policy schema -----------------------------------------------------------


def _freeze(value: Mapping[str, Decimal] | None) -> Mapping[str, Decimal]:
    if not value:
        return _EMPTY
    return MappingProxyType(dict(value))


def _freeze_nested(value: Mapping[str, Mapping[str, Decimal]] | None) -> Mapping[str, Mapping[str, Decimal]]:
    if not value:
        return _EMPTY
    return MappingProxyType({k: _freeze(v) for k, v in value.items()})


def _freeze_where(value: Mapping[str, tuple[str, ...]] | None) -> Mapping[str, tuple[str, ...]] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Pool:
    """One shared cost and how it is shared.

    The source is exactly one of ``amount`` (a fixed amount such as a monthly
    platform fee), ``where`` (a slice of the rollup: every key whose dimension
    values match, e.g. ``{"team": ("platform",)}``; ``MISSING`` matches
    records without a value) or ``invoice_line`` (the name of an amount the
    caller passes to :func:`apply_policy`, e.g. provisioned throughput from
    an invoice).

    ``method`` is ``even``, ``proportional`` (``by`` requests, tokens,
    direct_cost, cost or a ``metric`` table), ``fixed`` (``shares``:
    percentages summing to 100) or ``retain`` (kept by the policy's central
    owner). ``owners`` lists who shares the pool; ``None`` means every direct
    owner of the rollup, less ``exclude``. ``kind`` is ``shared`` or ``idle``
    (unused reserved capacity, kept apart in reports).
    """

    id: str
    method: str
    kind: str = "shared"
    description: str | None = None
    amount: Decimal | None = None
    where: Mapping[str, tuple[str, ...]] | None = attrs.field(default=None, converter=_freeze_where)
    invoice_line: str | None = None
    by: str | None = None
    metric: str | None = None
    owners: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    shares: Mapping[str, Decimal] = attrs.field(default=_EMPTY, converter=_freeze)

    @property
    def source(self) -> str:
        """Where the amount comes from, for people: ``amount``, ``where team=platform``..."""
        if self.where is not None:
            return "where " + ", ".join(f"{d}={'|'.join(v)}" for d, v in self.where.items())
        if self.invoice_line is not None:
            return f"invoice_line {self.invoice_line}"
        return "amount"

    @property
    def basis(self) -> str | None:
        """``requests``, ``tokens``, ``direct_cost``, ``cost`` or ``metric:<name>``; None unless proportional."""
        if self.method != "proportional" or self.by is None:
            return None
        return f"metric:{self.metric}" if self.by == "metric" else self.by


@attrs.frozen(kw_only=True)
class Policy:
    """An allocation policy: who owns what, and the pools applied in order.

    ``owner`` is the rollup dimension whose values are the owners (``team``,
    ``tenant``, ``cost_center``...); ``central_owner`` receives ``retain``
    pools; ``quantum`` is the smallest amount a share is made of; ``metrics``
    holds user-supplied weight tables (``{"seats": {"search": 40, ...}}``).
    """

    owner: str
    pools: tuple[Pool, ...] = ()
    central_owner: str | None = None
    quantum: Decimal = CENT
    currency: str | None = None
    name: str | None = None
    description: str | None = None
    metrics: Mapping[str, Mapping[str, Decimal]] = attrs.field(default=_EMPTY, converter=_freeze_nested)
    path: str | None = None
    text: str | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class _PolicyTable:
    owner: str
    central_owner: str | None = None
    quantum: Decimal = CENT
    currency: str | None = None
    name: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class _PolicyFile:
    policy: _PolicyTable
    pools: tuple[Pool, ...] = ()
    metrics: Mapping[str, Mapping[str, Decimal]] = attrs.field(default=_EMPTY, converter=_freeze_nested)


class _Invalid(ValueError):
    """A structuring problem whose message is already written for people."""


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _Invalid(f"expected a number, got {type(value).__name__} {value!r}")
    try:
        dec = Decimal(value)
    except ArithmeticError:
        raise _Invalid(f"not a number: {value!r}") from None
    if not dec.is_finite():
        raise _Invalid(f"not a finite number: {value!r}")
    return dec


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"{what} must be a string or a list of strings, got {value!r}")
    return tuple(value)


def _structure_owners(value: Any, _: type) -> tuple[str, ...] | None:
    if value == "all":
        return None
    if isinstance(value, str):
        raise _Invalid(f'owners must be "all" or a list of owner names, got {value!r}')
    return _names(value, "owners")


def _structure_where(value: Any, _: type) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise _Invalid(f'where must be a table of dimension = value(s), like {{ team = "platform" }}, got {value!r}')
    return {_structure_str(dim, str): _names(v, f"where.{dim}") for dim, v in value.items()}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(
        Pool,
        make_dict_structure_fn(Pool, conv, _cattrs_forbid_extra_keys=True,
                               owners=override(struct_hook=_structure_owners),
                               where=override(struct_hook=_structure_where)),
    )
    return conv


_CONVERTER = _make_converter()


def _format_exception(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, _Invalid):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _cattrs_path(message: str) -> tuple[str, str]:
    """Split cattrs' ``"reason @ $.pools[0]['x']"`` into (``pools[0].x``, reason)."""
    reason, _, path = message.rpartition(" @ ")
    if not reason:
        return "", message
    path = re.sub(r"\['([^']*)'\]", r".\1", path.removeprefix("$")).removeprefix(".")
    return path, reason


def _line_of(text: str | None, pool_id: str | None) -> int | None:
    if not text or pool_id is None:
        return None
    pattern = re.compile(r"""^\s*id\s*=\s*["']""" + re.escape(pool_id) + r"""["']""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


class _Errors:
    def __init__(self, file: str | None, text: str | None) -> None:
        self.file = file
        self.text = text
        self.items: list[PolicyError] = []

    def add(self, path: str, message: str, pool: str | None = None) -> None:
        self.items.append(PolicyError(message, file=self.file, path=path, line=_line_of(self.text, pool)))

    def raise_first(self) -> None:
        if self.items:
            first = self.items[0]
            first.others = tuple(self.items[1:])
            raise first


def _multiple(amount: Decimal, quantum: Decimal) -> bool:
    return (Fraction(amount) / Fraction(quantum)).denominator == 1


def _is_number(value: object) -> bool:
    """An exact number: an int or a finite Decimal (never a float or a bool)."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(policy: Policy) -> Iterator[tuple[str, object, str | None]]:
    """Every number a policy holds, with its key path and pool id."""
    yield "policy.quantum", policy.quantum, None
    for name, table in policy.metrics.items():
        for owner, value in table.items():
            yield f"metrics.{name}.{owner}", value, None
    for i, pool in enumerate(policy.pools):
        if pool.amount is not None:
            yield f"pools[{i}].amount", pool.amount, pool.id
        for owner, pct in pool.shares.items():
            yield f"pools[{i}].shares.{owner}", pct, pool.id


def _validate(policy: Policy, err: _Errors) -> None:
    # A Policy built in Python skips the converter's type checks; check numbers
    # here so a float never reaches the arithmetic.
    bad = [(path, value, pool_id) for path, value, pool_id in _numbers(policy) if not _is_number(value)]
    for path, value, pool_id in bad:
        err.add(path, f"expected an int or a Decimal, got {type(value).__name__} {value!r}", pool_id)
    if bad:
        return
    absurd = [(path, problem, pool_id) for path, value, pool_id in _numbers(policy) if path != "policy.quantum"
              and (problem := _out_of_domain(value, amount=path.endswith(".amount")))]  # type: ignore[arg-type]
    for path, problem, pool_id in absurd:
        err.add(path, problem, pool_id)
    if absurd:
        return
    if not policy.owner.strip():
        err.add("policy.owner", "the owner dimension must not be empty")
    if policy.central_owner is not None and (not policy.central_owner.strip() or policy.central_owner == MISSING):
        err.add("policy.central_owner", f"the central owner must be a real owner name, got {policy.central_owner!r}")
    quantum_ok = policy.quantum > 0
    if not quantum_ok:
        err.add("policy.quantum", f"quantum must be positive, got {policy.quantum}")
    else:
        try:
            from_decimal(policy.quantum, what="quantum")
        except ValueError as exc:
            err.add("policy.quantum", str(exc))
            quantum_ok = False
    if policy.currency is not None and policy.currency not in ISO_4217:
        err.add("policy.currency", f"currency must be an active ISO 4217 code like USD, got {policy.currency!r}")
    for name, table in policy.metrics.items():
        for owner, value in table.items():
            if value < 0:
                err.add(f"metrics.{name}.{owner}", f"metric values must not be negative, got {value}")
    seen: set[str] = set()
    for i, pool in enumerate(policy.pools):
        _validate_pool(policy, pool, f"pools[{i}]", err, quantum_ok, seen)


def _validate_pool(policy: Policy, pool: Pool, where: str, err: _Errors, quantum_ok: bool, seen: set[str]) -> None:
    def add(key: str, message: str) -> None:
        err.add(f"{where}.{key}" if key else where, message, pool.id)

    if not _ID.match(pool.id) or pool.id in _RESERVED_IDS or pool.id == policy.owner:
        add("id", f"pool id must be letters, digits, '_', '-', '.' or ':' and not one of "
                  f"{', '.join((*_RESERVED_IDS, policy.owner))}; got {pool.id!r}")
    if pool.id in seen:
        add("id", f"duplicate pool id {pool.id!r}")
    seen.add(pool.id)
    if pool.kind not in POOL_KINDS:
        add("kind", f"kind must be one of {', '.join(POOL_KINDS)}, got {pool.kind!r}")
    sources = [s for s in ("amount", "where", "invoice_line") if getattr(pool, s) is not None]
    if len(sources) != 1:
        add("", "a pool needs exactly one source: amount, where or invoice_line"
                + (f" (got {', '.join(sources)})" if sources else ""))
    if pool.kind == "idle" and pool.where is not None:
        add("where", "an idle pool is capacity nobody used, so it has no usage to select: "
                     "give its amount or invoice_line")
    if pool.amount is not None and quantum_ok and not _multiple(pool.amount, policy.quantum):
        add("amount", f"amount {pool.amount} is not a whole number of quanta of {policy.quantum}")
    if pool.where is not None:
        if not pool.where:
            add("where", "where must name at least one dimension")
        for dim, values in pool.where.items():
            if not values:
                add(f"where.{dim}", "give at least one value")
    if pool.invoice_line is not None and not pool.invoice_line.strip():
        add("invoice_line", "the invoice line name must not be empty")
    if pool.method not in METHODS:
        add("method", f"method must be one of {', '.join(METHODS)}, got {pool.method!r}")
        return
    if pool.method == "proportional":
        if pool.by not in BASES:
            add("by", f"a proportional pool needs by = one of {', '.join(BASES)}, got {pool.by!r}")
        if (pool.by == "metric") != (pool.metric is not None):
            add("metric", "metric names a metric table, and goes with by = \"metric\" only")
    else:
        for key in ("by", "metric"):
            if getattr(pool, key) is not None:
                add(key, f"{key} applies to proportional pools only, not {pool.method}")
    if pool.method == "fixed":
        _validate_fixed(pool, add)
    elif pool.shares:
        add("shares", f"shares (fixed percentages) apply to fixed pools only, not {pool.method}")
    if pool.method in ("fixed", "retain"):
        if pool.owners is not None or pool.exclude:
            add("owners", f"a {pool.method} pool names its owners "
                          + ("in shares" if pool.method == "fixed" else "in policy.central_owner"))
        if pool.method == "retain" and policy.central_owner is None:
            add("method", "a retain pool needs policy.central_owner: who keeps it")
        return
    if pool.owners is not None:
        if pool.exclude:
            add("exclude", 'exclude applies to owners = "all" only')
        if not pool.owners:
            add("owners", 'give at least one owner, or "all"')
        _check_names(pool.owners, "owners", add)
    _check_names(pool.exclude, "exclude", add)


def _validate_fixed(pool: Pool, add: Callable[[str, str], None]) -> None:
    if not pool.shares:
        add("shares", "a fixed pool needs shares: owner = percentage, summing to 100")
        return
    _check_names(tuple(pool.shares), "shares", add)
    for owner, pct in pool.shares.items():
        if pct < 0:
            add(f"shares.{owner}", f"percentages must not be negative, got {pct}")
    total = sum((Fraction(p) for p in pool.shares.values()), Fraction(0))
    if total != 100:
        add("shares", f"fixed percentages must sum to exactly 100, got {_show(total)}")


def _check_names(names: tuple[str, ...], key: str, add: Callable[[str, str], None]) -> None:
    if len(set(names)) != len(names):
        add(key, f"owner names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    for name in names:
        if not name.strip() or name == MISSING:
            add(key, f"{name!r} cannot receive a share; give a real owner name")


def parse_policy(data: Mapping[str, Any], *, path: str | None = None, text: str | None = None) -> Policy:
    """Structure and validate a policy from already-parsed TOML (or any mapping).

    Unknown keys, floats, a missing or second source, percentages not summing
    to 100, duplicate pool ids and the like are errors that name the file and
    the key path (``pools[1].shares``).

    Raises:
        PolicyError: the first problem; ``.others`` holds the rest.

    >>> p = parse_policy({"policy": {"owner": "team", "central_owner": "platform"},
    ...                   "pools": [{"id": "fees", "amount": Decimal("1000.00"), "method": "retain"}]})
    >>> p.pools[0].source, p.central_owner
    ('amount', 'platform')
    >>> parse_policy({"policy": {"owner": "team"}, "pools": [{"id": "x", "amount": 5, "method": "split"}]})
    Traceback (most recent call last):
    ...
    attribution.exceptions.PolicyError: pools[0].method: method must be one of even, proportional, fixed, retain, got 'split'
    """
    try:
        raw = _CONVERTER.structure(dict(data), _PolicyFile)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, format_exception=_format_exception)
        key, reason = _cattrs_path(messages[0] if messages else str(exc))
        error = PolicyError(reason, file=path, path=key or None)
        error.others = tuple(PolicyError(r, file=path, path=k or None)
                             for k, r in map(_cattrs_path, messages[1:]))
        raise error from None
    meta = raw.policy
    policy = Policy(owner=meta.owner, pools=raw.pools, central_owner=meta.central_owner, quantum=meta.quantum,
                    currency=meta.currency, name=meta.name, description=meta.description, metrics=raw.metrics,
                    path=path, text=text)
    err = _Errors(path, text)
    _validate(policy, err)
    err.raise_first()
    return policy


def load_policy(path: str | Path, *, max_file_bytes: int | None = None) -> Policy:
    """Read, parse and validate a policy TOML file (numbers are read as exact Decimals).

    At most ``max_file_bytes`` are read (default
    :data:`~attribution.io.MAX_FILE_BYTES`, or the cap set with
    :func:`~attribution.io.limits`).

    Raises:
        PolicyError: naming the file and the key path of the problem.
    """
    from ._bounded import read_file_text

    p = Path(path)
    text = read_file_text(p, what="policy", max_file_bytes=max_file_bytes,
                          error=lambda message, line: PolicyError(message, file=str(p), line=line))
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise PolicyError(f"invalid TOML: {exc}", file=str(p), line=int(found.group(1)) if found else None) from None
    except RecursionError:
        raise PolicyError("invalid TOML: arrays or inline tables nested too deeply", file=str(p)) from None
    return parse_policy(data, path=str(p), text=text)


# --- the allocation ------------------------------------------------------------


def _json_number(value: Decimal) -> str:
    return format(value, "f")


@attrs.frozen(kw_only=True, slots=True)
class AllocatedShare:
    """One owner's share of one pool, with what it takes to explain it.

    ``weight`` out of ``weight_total`` in ``unit`` (``Requests``, ``Tokens``,
    ``Percent``, ``Owners``...) is the ratio the method used; ``amount`` is the
    share after largest-remainder rounding, so it can differ from
    ``ratio * pool_amount`` by less than one quantum.
    """

    pool: str
    kind: str
    method: str
    basis: str | None
    unit: str
    weight: Decimal
    weight_total: Decimal
    amount: Decimal
    pool_amount: Decimal
    source: str
    policy: str | None = None

    @property
    def ratio(self) -> Fraction:
        """The exact fraction of the pool this owner was due (before rounding).

        Zero when every weight was zero, which is allowed only for a pool of
        zero (a ``where`` that matched nothing this month).
        """
        if not self.weight_total:
            return Fraction(0)
        return Fraction(self.weight) / Fraction(self.weight_total)

    @property
    def method_id(self) -> str:
        """FOCUS ``AllocatedMethodId``: ``proportional:requests``, ``even``, ``fixed``, ``retain``..."""
        return f"{self.method}:{self.basis}" if self.basis else self.method

    @property
    def method_details(self) -> dict[str, Any]:
        """FOCUS 1.3 ``AllocatedMethodDetails`` as JSON-ready data.

        Numbers are exact decimal strings (``json.dumps`` works, and
        ``Decimal(s)`` reads them back exactly); ``AllocatedRatio`` is exact
        when it terminates and otherwise given to 12 places (the exact ratio is
        ``UsageQuantity / x_UsageQuantityTotal``). Keys beyond FOCUS's carry
        the ``x_`` prefix.
        """
        return {
            "Elements": [{
                "AllocatedRatio": _ratio_text(self.ratio),
                "UsageUnit": self.unit,
                "UsageQuantity": _json_number(self.weight),
            }],
            "x_UsageQuantityTotal": _json_number(self.weight_total),
            "x_PoolId": self.pool,
            "x_PoolKind": self.kind,
            "x_PoolAmount": _json_number(self.pool_amount),
            "x_PoolSource": self.source,
            "x_Policy": self.policy,
        }


@attrs.frozen(kw_only=True, slots=True)
class AllocationRow:
    """One owner: direct cost, its share of each pool (in policy order), total.

    ``owner`` is ``None`` for spend without an owner that no pool took.
    """

    owner: str | None
    direct: Decimal
    shares: tuple[AllocatedShare, ...]
    total: Decimal

    def share(self, pool: str) -> Decimal:
        """This owner's share of ``pool`` (``0.00`` if it has none)."""
        return next((s.amount for s in self.shares if s.pool == pool), to_decimal(0))

    @property
    @exact
    def shared(self) -> Decimal:
        """The sum of this owner's pool shares."""
        return to_decimal(sum(from_decimal(s.amount) for s in self.shares))


@attrs.frozen(kw_only=True, slots=True)
class PoolAllocation:
    """How one pool was sourced and shared.

    ``amount`` is what was shared. For a pool sourced from a rollup slice and
    split (not retained), that is the slice's exact cost rounded toward zero
    to the quantum; the ``residue`` (less than one quantum) stays as direct
    cost of ``residue_owner`` (the owner of the largest part of the slice), the
    unallocated part of the origin charge. ``origin`` lists the rollup keys the
    slice took. ``flags`` holds ``empty_slice`` when a ``where`` matched nothing.
    """

    id: str
    kind: str
    method: str
    basis: str | None
    source: str
    amount: Decimal
    shares: Mapping[str, Decimal] = attrs.field(converter=_freeze)
    residue: Decimal = attrs.field(factory=lambda: to_decimal(0))
    residue_owner: str | None = None
    origin: tuple[Key, ...] = ()
    flags: tuple[str, ...] = ()
    #: The FX rates that converted the invoice line(s) funding this pool into the allocation's currency.
    fx: tuple[FxRate, ...] = ()


@attrs.frozen(kw_only=True, slots=True)
class Allocation:
    """Direct cost plus shared pools, per owner, conserving every cent.

    ``total == direct_total + pools_total`` exactly; rows are ordered most
    expensive first (ties by owner name, the no-owner row last).
    """

    by: str
    rows: tuple[AllocationRow, ...]
    pools: tuple[PoolAllocation, ...]
    currency: str | None = None
    quantum: Decimal = CENT
    policy: str | None = None

    def __getitem__(self, owner: str | None) -> AllocationRow:
        for row in self.rows:
            if row.owner == owner:
                return row
        raise KeyError(owner)

    def __contains__(self, owner: object) -> bool:
        return any(row.owner == owner for row in self.rows)

    def __iter__(self) -> Iterator[str | None]:
        return (row.owner for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (f"Allocation(by={self.by!r}, owners={len(self.rows)}, pools={len(self.pools)}, "
                f"total={self.total} {self.currency or ''})").replace(" )", ")")

    def pool(self, pool_id: str) -> PoolAllocation:
        """The pool with this id."""
        for p in self.pools:
            if p.id == pool_id:
                return p
        raise KeyError(pool_id)

    @property
    def owners(self) -> tuple[str | None, ...]:
        return tuple(row.owner for row in self.rows)

    @property
    @exact
    def direct_total(self) -> Decimal:
        """Direct cost left with owners after slices were pooled."""
        return to_decimal(sum(from_decimal(r.direct) for r in self.rows))

    @property
    @exact
    def pools_total(self) -> Decimal:
        """Everything the pools shared."""
        return to_decimal(sum(from_decimal(p.amount) for p in self.pools))

    @property
    @exact
    def idle_total(self) -> Decimal:
        """What the ``idle`` pools (unused reserved capacity) shared."""
        return to_decimal(sum(from_decimal(p.amount) for p in self.pools if p.kind == "idle"))

    @property
    @exact
    def total(self) -> Decimal:
        return to_decimal(sum(from_decimal(r.total) for r in self.rows))

    @property
    @exact
    def unattributed(self) -> Decimal:
        """Direct cost with no owner that no pool took (flag it, do not hide it)."""
        return self[None].direct if None in self else to_decimal(0)

    def summary(self) -> list[dict[str, Any]]:
        """One wide row per owner: direct, one column per pool id, total, currency."""
        out = []
        for row in self.rows:
            rec: dict[str, Any] = {self.by: row.owner, "direct": row.direct}
            rec.update((p.id, row.share(p.id)) for p in self.pools)
            rec.update(total=row.total, currency=self.currency)
            out.append(rec)
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One row per owner and component (``direct`` or a pool), FOCUS-ready.

        Allocated rows carry FOCUS 1.3's ``AllocatedMethodId``,
        ``AllocatedMethodDetails`` (JSON-ready, with the ratio) and
        ``AllocatedTags`` (the owner), plus ``x_AllocationOrigin``: the pool
        the charge was allocated from. Direct rows have ``None`` there.
        """
        out: list[dict[str, Any]] = []
        for row in self.rows:
            base = {self.by: row.owner}
            if row.direct or not row.shares:
                out.append({**base, "component": "direct", "kind": "direct", "method": None,
                            "cost": row.direct, "currency": self.currency, "AllocatedMethodId": None,
                            "AllocatedMethodDetails": None, "AllocatedTags": None, "x_AllocationOrigin": None})
            out.extend({**base, "component": s.pool, "kind": s.kind, "method": s.method,
                        "cost": s.amount, "currency": self.currency, "AllocatedMethodId": s.method_id,
                        "AllocatedMethodDetails": s.method_details, "AllocatedTags": {self.by: row.owner},
                        "x_AllocationOrigin": s.pool} for s in row.shares)
        return out

    def _repr_html_(self) -> str:
        """Jupyter's view: owner, direct cost, each pool's share and total, every owner name escaped."""
        return _notebook.html(_notebook.allocation_summary_table(self))

    def to_pandas(self) -> Any:
        """:meth:`to_records` as a ``pandas.DataFrame``; ``cost`` holds exact ``Decimal`` objects (extra ``pandas``)."""
        return _notebook.to_pandas(_notebook.allocation_table(self), "Allocation.to_pandas()")

    def to_arrow(self) -> Any:
        """:meth:`to_records` as a ``pyarrow.Table``; ``cost`` is ``decimal128(38, 15)`` (extra ``arrow``)."""
        return _notebook.to_arrow(_notebook.allocation_table(self), "Allocation.to_arrow()")


# --- apply_policy ------------------------------------------------------------


def _matches(value: str | None, wanted: tuple[str, ...]) -> bool:
    # MISSING selects records without a value; a tag whose value is literally "__missing__" is a
    # real value and never matches it (nor can it be selected by name: the policy refuses it as an owner).
    return (MISSING in wanted) if value is None else (value != MISSING and value in wanted)


class _Run:
    """The state of one apply_policy call, in integer money units."""

    def __init__(self, rollup: Rollup, policy: Policy, amounts: Mapping[str, Decimal],
                 metrics: Mapping[str, Mapping[str, int | Decimal]]) -> None:
        self.rollup = rollup
        self.policy = policy
        self.amounts = amounts
        self.metrics = {**policy.metrics, **metrics}
        self.quantum = from_decimal(policy.quantum)
        self.direct: dict[str | None, int] = {}
        self.requests: dict[str | None, int] = {}
        self.tokens: dict[str | None, int] = {}
        self.direct_owners: list[str] = []
        self.running: dict[str | None, int] = {}
        self.shares: dict[str | None, list[AllocatedShare]] = {}
        self.slices: dict[int, list[Key]] = {}

    def error(self, path: str, message: str, pool: Pool | None = None) -> PolicyError:
        return PolicyError(message, file=self.policy.path, path=path,
                           line=_line_of(self.policy.text, pool.id if pool else None))


def _take_slices(run: _Run) -> None:
    """Find each ``where`` pool's rollup keys; a key may be pooled only once."""
    dims = run.rollup.dims
    taken: dict[Key, str] = {}
    for i, pool in enumerate(run.policy.pools):
        if pool.where is None:
            continue
        for dim in pool.where:
            if dim not in dims:
                raise run.error(f"pools[{i}].where.{dim}",
                                f"the rollup is not grouped by {dim!r} (it groups by {', '.join(dims) or 'nothing'})",
                                pool)
        index = [(dims.index(d), v) for d, v in pool.where.items()]
        keys = [k for k in run.rollup if all(_matches(k[j], v) for j, v in index)]
        for k in keys:
            if k in taken:
                raise run.error(f"pools[{i}].where",
                                f"rollup key {k!r} is already taken by pool {taken[k]!r}; a cost is pooled once", pool)
            taken[k] = pool.id
        run.slices[i] = keys


def _direct_costs(run: _Run, owner_index: int) -> None:
    taken = {k for keys in run.slices.values() for k in keys}
    for key in run.rollup:
        if key in taken:
            continue
        entry = run.rollup[key]
        owner = key[owner_index]
        run.direct[owner] = run.direct.get(owner, 0) + from_decimal(entry.cost)
        run.requests[owner] = run.requests.get(owner, 0) + entry.requests
        run.tokens[owner] = run.tokens.get(owner, 0) + entry.usage.total_tokens
    run.direct_owners = sorted(o for o in run.direct if o is not None)
    run.running = dict(run.direct)


def _pool_amount(run: _Run, i: int, pool: Pool, owner_index: int) -> tuple[int, int, str | None]:
    """The pool's amount in money units, and any sub-quantum residue with its owner."""
    path = f"pools[{i}]"
    if pool.amount is not None:
        return from_decimal(pool.amount), 0, None
    if pool.invoice_line is not None:
        if pool.invoice_line not in run.amounts:
            raise run.error(f"{path}.invoice_line",
                            f"no amount given for invoice line {pool.invoice_line!r}: pass "
                            f"amounts={{{pool.invoice_line!r}: Decimal(...)}} to apply_policy", pool)
        value: object = run.amounts[pool.invoice_line]
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or (
                isinstance(value, Decimal) and not value.is_finite()):
            raise run.error(f"{path}.invoice_line",
                            f"the amount for {pool.invoice_line!r} must be a Decimal, got {value!r}", pool)
        if problem := _out_of_domain(value, amount=True):
            raise run.error(f"{path}.invoice_line", f"the amount for {pool.invoice_line!r}: {problem}", pool)
        if not _multiple(Decimal(value), run.policy.quantum):
            raise run.error(f"{path}.invoice_line", f"the amount {value} for {pool.invoice_line!r} is not a whole "
                                                    f"number of quanta of {run.policy.quantum}", pool)
        return from_decimal(value), 0, None
    by_owner: dict[str | None, int] = {}
    for key in run.slices[i]:
        owner = key[owner_index]
        by_owner[owner] = by_owner.get(owner, 0) + from_decimal(run.rollup[key].cost)
    exact = sum(by_owner.values())
    if pool.method == "retain":
        return exact, 0, None
    # Split pools move whole quanta only; the sub-quantum rest stays where it was.
    whole = (abs(exact) // run.quantum) * run.quantum * (-1 if exact < 0 else 1)
    residue = exact - whole
    if not residue:
        return whole, 0, None
    holder = min(by_owner, key=lambda o: (-by_owner[o], o is None, o or ""))
    return whole, residue, holder


def _recipients(run: _Run, i: int, pool: Pool) -> tuple[str, ...]:
    if pool.method == "retain":
        assert run.policy.central_owner is not None  # validated by parse_policy
        return (run.policy.central_owner,)
    if pool.method == "fixed":
        return tuple(pool.shares)
    if pool.owners is not None:
        return pool.owners
    exclude = set(pool.exclude)
    owners = tuple(o for o in run.direct_owners if o not in exclude)
    if not owners:
        raise run.error(f"pools[{i}].owners", 'owners = "all" but the rollup has no direct owners left to share '
                                              "this pool; list the owners", pool)
    return owners


def _weights(run: _Run, i: int, pool: Pool, owners: tuple[str, ...]) -> tuple[dict[str, int | Decimal], str]:
    """Each recipient's weight for the pool's method, and the unit it is counted in."""
    if pool.method == "retain":
        return dict.fromkeys(owners, 1), "Retained"
    if pool.method == "even":
        return dict.fromkeys(owners, 1), "Owners"
    if pool.method == "fixed":
        return dict(pool.shares), "Percent"
    by = pool.by
    if by == "requests":
        return {o: run.requests.get(o, 0) for o in owners}, _UNITS[by]
    if by == "tokens":
        return {o: run.tokens.get(o, 0) for o in owners}, _UNITS[by]
    if by == "direct_cost":
        return {o: to_decimal(run.direct.get(o, 0)) for o in owners}, _UNITS[by]
    if by == "cost":
        return {o: to_decimal(run.running.get(o, 0)) for o in owners}, _UNITS[by]
    assert pool.metric is not None  # validated by parse_policy
    table = run.metrics.get(pool.metric)
    if table is None:
        raise run.error(f"pools[{i}].metric",
                        f"no metric table {pool.metric!r}: add [metrics.{pool.metric}] to the policy or pass "
                        f"metrics={{{pool.metric!r}: {{...}}}} to apply_policy", pool)
    missing = [o for o in owners if o not in table]
    if missing:
        raise run.error(f"pools[{i}].metric", f"metric {pool.metric!r} has no value for {', '.join(missing)}; "
                                              "give 0 explicitly if that is meant", pool)
    return {o: table[o] for o in owners}, pool.metric


def _apply_pool(run: _Run, i: int, pool: Pool, owner_index: int) -> PoolAllocation:
    amount, residue, holder = _pool_amount(run, i, pool, owner_index)
    if residue:
        run.direct[holder] = run.direct.get(holder, 0) + residue
        run.running[holder] = run.running.get(holder, 0) + residue
    owners = _recipients(run, i, pool)
    weights, unit = _weights(run, i, pool, owners)
    if pool.method == "retain":
        units = {owners[0]: amount}
    elif not amount:
        units = dict.fromkeys(owners, 0)
    else:
        try:
            split = allocate(to_decimal(amount), weights, method=pool.method, quantum=run.policy.quantum)
        except PolicyError as exc:
            key = {"fixed": "shares", "proportional": "metric" if pool.by == "metric" else "by"}.get(
                pool.method, "owners")
            raise run.error(f"pools[{i}].{key}", f"pool {pool.id!r} cannot be split: {exc}", pool) from None
        units = {o: from_decimal(v) for o, v in split.items()}
    total_weight = sum((Fraction(w) for w in weights.values()), Fraction(0))
    weight_total = _terminating(total_weight)
    assert weight_total is not None  # a sum of decimals terminates
    pool_amount = to_decimal(amount)
    for owner in owners:
        share = AllocatedShare(pool=pool.id, kind=pool.kind, method=pool.method, basis=pool.basis, unit=unit,
                               weight=Decimal(weights[owner]), weight_total=weight_total,
                               amount=to_decimal(units[owner]), pool_amount=pool_amount, source=pool.source,
                               policy=run.policy.name)
        run.shares.setdefault(owner, []).append(share)
        run.running[owner] = run.running.get(owner, 0) + units[owner]
    flags = ("empty_slice",) if pool.where is not None and not run.slices[i] else ()
    shares: dict[str, Decimal] = {o: to_decimal(u) for o, u in units.items()}
    return PoolAllocation(id=pool.id, kind=pool.kind, method=pool.method, basis=pool.basis, source=pool.source,
                          amount=pool_amount, shares=shares,
                          residue=to_decimal(residue), residue_owner=holder, origin=tuple(run.slices.get(i, ())),
                          flags=flags)


@exact
def invoice_pool_amounts(lines: Iterable[InvoiceLine], policy: Policy, *, currency: str | None,
                         fx: FxTable | None = None) -> tuple[dict[str, Decimal], dict[str, tuple[FxRate, ...]]]:
    """The amount of each ``invoice_line`` pool, from the invoice lines carrying its id, in ``currency``.

    A line id may repeat (a daily provisioned-capacity charge): its lines are
    added. A line in another currency than ``currency`` (the attributed
    spend's) is converted with ``fx`` at the rate dated on or before its last
    day (rounded half up to the policy's quantum), and the rates used are returned per line id (pass them to
    :func:`apply_policy` so the pool shows them); with no rate it is refused.

    Raises:
        CurrencyMismatch: naming the pool, the invoice line and both currencies.
    """
    funded = {p.invoice_line: p for p in policy.pools if p.invoice_line is not None}
    amounts: dict[str, Decimal] = {}
    rates: dict[str, list[FxRate]] = {}
    target = currency
    for line in lines:
        pool = funded.get(line.line_id or "")
        if pool is None or line.line_id is None:
            continue
        target = target or line.currency
        amount = line.amount
        if line.currency != target:
            day = line.period_end - timedelta(days=1)
            rate = fx.rate(line.currency, target, day) if fx is not None else None
            if rate is None:
                why = fx.missing(line.currency, target, day) if fx is not None else "pass an FX table to convert it"
                raise CurrencyMismatch(line.currency, target, f"pool {pool.id!r}: it is funded by invoice line "
                                       f"{line.line_id!r} in {line.currency} but the attributed spend is in "
                                       f"{target}; {why}")
            # A converted amount is rounded (half up) to the policy's quantum: pools are shared in whole quanta.
            amount = rate.convert(amount).quantize(policy.quantum, rounding=ROUND_HALF_UP)
            rates.setdefault(line.line_id, []).append(rate)
        amounts[line.line_id] = amounts.get(line.line_id, Decimal(0)) + amount
    return amounts, {k: tuple(dict.fromkeys(v)) for k, v in rates.items()}


def apply_policy(rollup: Rollup, policy: Policy, *, amounts: Mapping[str, Decimal] = _EMPTY,
                 metrics: Mapping[str, Mapping[str, int | Decimal]] = _EMPTY,
                 fx: Mapping[str, tuple[FxRate, ...]] = _EMPTY) -> Allocation:
    """Allocate a rollup's cost plus the policy's shared pools to owners.

    Owners are the rollup's values on ``policy.owner``. In order:

    1. Every ``where`` pool takes its slice of the rollup (a key may be pooled
       by one pool only), so pooled spend is never also direct cost.
    2. Direct cost, requests and tokens are summed per owner over the keys left.
       "All direct owners" means the owners with at least one key left (never
       the no-owner value).
    3. Pools are applied in the order listed. ``by = "cost"`` weighs owners by
       their cost so far (direct plus earlier pools), so order matters there
       (step-down allocation); every other basis is independent of order.

    Split pools are shared at ``policy.quantum`` by :func:`allocate`; retained
    pools move whole. ``amounts`` gives the amount of each ``invoice_line``
    pool by name, in the rollup's currency (see :func:`invoice_pool_amounts`,
    whose rates, passed as ``fx``, are kept on the pools they converted);
    ``metrics`` adds or replaces the policy's metric tables.

    Raises:
        PolicyError: the rollup lacks a dimension the policy uses, a pool
            cannot be split (zero weights, a metric table missing an owner), an
            invoice-line amount is missing, or ``amounts`` names a line no pool
            uses; the error names the policy file and the pool's key path.
        CurrencyMismatch: the policy's currency is not the rollup's.
    """
    err = _Errors(policy.path, policy.text)
    _validate(policy, err)  # parse_policy did this already; a Policy built in Python did not
    err.raise_first()
    dims = rollup.dims
    if policy.owner not in dims:
        raise PolicyError(f"the rollup is not grouped by the owner dimension {policy.owner!r} "
                          f"(it groups by {', '.join(dims) or 'nothing'})", file=policy.path, path="policy.owner")
    if policy.currency and rollup.currency and policy.currency != rollup.currency:
        raise CurrencyMismatch(policy.currency, rollup.currency, "an allocation (policy vs rollup)")
    lines = {p.invoice_line for p in policy.pools if p.invoice_line is not None}
    unused = sorted(set(amounts) - lines)
    if unused:
        raise PolicyError(f"no pool takes its amount from invoice line(s) {', '.join(map(repr, unused))}; "
                          "an amount given is an amount that must be allocated", file=policy.path, path="amounts")
    owner_index = dims.index(policy.owner)
    run = _Run(rollup, policy, amounts, metrics)
    _take_slices(run)
    _direct_costs(run, owner_index)
    pools = tuple(_apply_pool(run, i, pool, owner_index) for i, pool in enumerate(policy.pools))
    if fx:
        pools = tuple(attrs.evolve(pa, fx=fx[p.invoice_line]) if p.invoice_line is not None and p.invoice_line in fx
                      else pa
                      for p, pa in zip(policy.pools, pools, strict=True))
    rows = []
    for owner in {*run.direct, *run.shares}:
        shares = tuple(run.shares.get(owner, ()))
        direct = run.direct.get(owner, 0)
        total = direct + sum(from_decimal(s.amount) for s in shares)
        rows.append(AllocationRow(owner=owner, direct=to_decimal(direct), shares=shares, total=to_decimal(total)))
    rows.sort(key=lambda r: (-from_decimal(r.total), r.owner is None, r.owner or ""))
    return Allocation(by=policy.owner, rows=tuple(rows), pools=pools, currency=rollup.currency or policy.currency,
                      quantum=policy.quantum, policy=policy.name)
