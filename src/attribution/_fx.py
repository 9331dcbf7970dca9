"""Exchange rates the user supplies: the only way money changes currency.

Amounts of different currencies never meet in one sum (see
:mod:`attribution._money`). When an invoice, a pool or a budget is in another
currency than the priced usage, the library either keeps the currencies apart
or refuses with :class:`~attribution.exceptions.CurrencyMismatch`, unless the
caller passes an :class:`FxTable`: explicit, dated rates, read with
``Decimal``. Every converted amount carries the :class:`FxRate` it used, and
the reports print it (``1 EUR = 1.0834 USD on 2026-06-30``).

A table is TOML::

    [[rate]]
    from = "EUR"
    to = "USD"
    rate = "1.0834"        # 1 EUR = 1.0834 USD; a string or a TOML number, read exactly
    date = 2026-06-30

or CSV with the header ``from,to,rate,date``. Rates are used in the direction
written only (an inverse is never computed), and the rate used for an amount
is the latest one dated on or before the amount's date (an invoice line's last
day, a budget's as-of day); with no such rate, nothing is converted.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from ._money import EXACT_CONTEXT, check_currency, round_to_units, to_decimal
from .exceptions import FxTableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["FxRate", "FxTable", "load_fx"]


@attrs.frozen(kw_only=True, slots=True)
class FxRate:
    """``1 source = rate target``, as published on ``date``; ``origin`` says where the rate was read."""

    source: str
    target: str
    rate: Decimal
    date: date
    origin: str | None = None

    def convert(self, amount: Decimal) -> Decimal:
        """``amount`` of ``source`` in ``target``: exact product, rounded half to even at 10^-15.

        >>> FxRate(source="EUR", target="USD", rate=Decimal("1.0834"), date=date(2026, 6, 30)).convert(Decimal("2.00"))
        Decimal('2.1668')
        """
        return to_decimal(round_to_units(EXACT_CONTEXT.multiply(amount, self.rate)))

    def __str__(self) -> str:
        return f"1 {self.source} = {self.rate.normalize():f} {self.target} on {self.date.isoformat()}"


@attrs.frozen(kw_only=True)
class FxTable:
    """Dated exchange rates; :meth:`rate` answers the one in force for a day."""

    rates: tuple[FxRate, ...] = ()
    path: str | None = None

    def rate(self, source: str, target: str, on: date) -> FxRate | None:
        """The latest ``source -> target`` rate dated on or before ``on``; ``None`` when there is none.

        >>> t = FxTable(rates=(FxRate(source="EUR", target="USD", rate=Decimal("1.08"), date=date(2026, 6, 1)),))
        >>> str(t.rate("EUR", "USD", date(2026, 6, 30))), t.rate("USD", "EUR", date(2026, 6, 30))
        ('1 EUR = 1.08 USD on 2026-06-01', None)
        """
        best: FxRate | None = None
        for r in self.rates:
            if r.source == source and r.target == target and r.date <= on and (best is None or r.date > best.date):
                best = r
        return best

    def missing(self, source: str, target: str, on: date) -> str:
        """Why :meth:`rate` found nothing, for error messages and causes."""
        where = f" in {self.path}" if self.path else ""
        return f"no {source} -> {target} rate dated on or before {on.isoformat()}{where}"


_KEYS = ("from", "to", "rate", "date")


def _check(raw: dict[str, Any], file: str, line: int | None, where: str, origin: str) -> FxRate:
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise FxTableError(f"unknown key(s) {', '.join(unknown)}; a rate has {', '.join(_KEYS)}",
                           file=file, line=line, path=f"{where}{unknown[0]}")
    for key in _KEYS:
        if raw.get(key) in (None, ""):
            raise FxTableError(f"{key} is missing", file=file, line=line, path=where + key)
    codes = []
    for key in ("from", "to"):
        try:
            codes.append(check_currency(raw[key]))
        except ValueError as exc:
            raise FxTableError(str(exc), file=file, line=line, path=where + key) from None
    if codes[0] == codes[1]:
        raise FxTableError(f"from and to are both {codes[0]}", file=file, line=line, path=where + "to")
    value = raw["rate"]
    if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
        raise FxTableError(f"rate must be a decimal string, got {type(value).__name__} {value!r}",
                           file=file, line=line, path=where + "rate")
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise FxTableError(f"rate is not a number: {value!r}", file=file, line=line, path=where + "rate") from None
    if not rate.is_finite() or rate <= 0:
        raise FxTableError(f"rate must be a positive number, got {value!r}", file=file, line=line, path=where + "rate")
    day = raw["date"]
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day.strip())
        except ValueError:
            raise FxTableError(f"date must be YYYY-MM-DD, got {raw['date']!r}", file=file, line=line,
                               path=where + "date") from None
    if not isinstance(day, date) or hasattr(day, "hour"):
        raise FxTableError(f"date must be a date (YYYY-MM-DD), got {day!r}", file=file, line=line, path=where + "date")
    return FxRate(source=codes[0], target=codes[1], rate=rate, date=day, origin=origin)


def _unique(rates: Iterable[tuple[FxRate, int | None, str]], file: str) -> tuple[FxRate, ...]:
    seen: dict[tuple[str, str, date], FxRate] = {}
    for r, line, where in rates:
        key = (r.source, r.target, r.date)
        if key in seen:
            raise FxTableError(f"a second {r.source} -> {r.target} rate for {r.date.isoformat()} "
                               f"(the first is at {seen[key].origin})", file=file, line=line, path=where + "date")
        seen[key] = r
    return tuple(seen.values())


def load_fx(path: str | Path) -> FxTable:
    """Read an FX table from TOML (``[[rate]]`` tables) or CSV (``from,to,rate,date``).

    Raises:
        FxTableError: naming the file, line and field of the first bad entry.
    """
    p = Path(path)
    file = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FxTableError(f"cannot read FX table: {exc}", file=file) from None
    return FxTable(rates=_unique(_csv(text, file) if p.suffix.lower() == ".csv" else _toml(text, file), file),
                   path=file)


def _toml(text: str, file: str) -> list[tuple[FxRate, int | None, str]]:
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise FxTableError(f"invalid TOML: {exc}", file=file) from None
    extra = sorted(set(data) - {"rate"})
    if extra:
        raise FxTableError(f"unknown table {extra[0]!r}; an FX table holds [[rate]] entries", file=file, path=extra[0])
    rates = data.get("rate", [])
    if not isinstance(rates, list):
        raise FxTableError("rate must be an array of tables ([[rate]])", file=file, path="rate")
    # tomllib keeps no line numbers: the n-th ``[[rate]]`` header is where entry n starts.
    starts = [i + 1 for i, ln in enumerate(text.splitlines()) if re.match(r"\s*\[\[\s*rate\s*\]\]", ln)]
    out = []
    for i, raw in enumerate(rates):
        line = starts[i] if i < len(starts) else None
        where = f"rate[{i}]."
        if not isinstance(raw, dict):
            raise FxTableError("each rate must be a table", file=file, line=line, path=where.rstrip("."))
        out.append((_check(raw, file, line, where, f"{file}:{line}" if line else f"{file}: rate[{i}]"), line, where))
    return out


def _csv(text: str, file: str) -> list[tuple[FxRate, int | None, str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if sorted(header) != sorted(_KEYS):
        raise FxTableError(f"CSV header must be {','.join(_KEYS)}; got {','.join(header)}", file=file, line=1)
    out: list[tuple[FxRate, int | None, str]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise FxTableError("more cells than the header has columns", file=file, line=line)
        out.append((_check(dict(row), file, line, "", f"{file}:{line}"), line, ""))
    return out
