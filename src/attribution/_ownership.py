"""The ownership contract: which owner fields every call must carry, and who they map to.

Two pieces of configuration, both plain data:

* the **required owner fields** (default ``team``, ``project`` and
  ``environment``, the minimum seed 001 asks gateways to enforce), and
* an **owner map** (TOML or CSV) from an owner field value (an API key, a
  project, a team) to a cost center, a budget line, a named owner and an
  optional monthly budget.

:func:`apply_ownership` checks each priced call against the contract and
stamps the mapped fields onto it. A call that misses a required field is
flagged ``missing_owner`` (or quarantined, or rejected, per the contract's
``on_missing`` policy); a call whose owner value has no map entry is flagged
``unmapped_owner``. Both are reported by name in the coverage report, never
folded silently into "unattributed".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

from ._money import check_currency, from_decimal
from ._names import DEFAULT_REQUIRED
from ._records import PricedRecord, Quarantined, with_tags
from ._tree import RequestTree
from .exceptions import OwnershipError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_REQUIRED",
    "OwnerEntry",
    "OwnerMap",
    "OwnershipContract",
    "apply_ownership",
    "check_owner",
    "load_owner_map",
]

OnMissing = Literal["flag", "quarantine", "reject"]


@attrs.frozen(kw_only=True)
class OwnerEntry:
    """One row of the owner map: calls whose ``field`` equals ``value`` belong here."""

    field: str
    value: str
    cost_center: str | None = None
    budget_line: str | None = None
    owner: str | None = None
    monthly_budget: Decimal | None = None
    currency: str = "USD"

    def stamps(self) -> dict[str, str]:
        """The tags this entry adds to a call it matches."""
        out = {}
        for name in ("cost_center", "budget_line", "owner"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out


@attrs.frozen(kw_only=True)
class OwnerMap:
    """Owner map entries, looked up in file order (the first match wins)."""

    entries: tuple[OwnerEntry, ...] = ()
    path: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The owner fields the map is keyed on, in first-seen order."""
        return tuple(dict.fromkeys(e.field for e in self.entries))

    def lookup(self, tags: Mapping[str, str]) -> OwnerEntry | None:
        """The first entry whose field value the tags carry."""
        for e in self.entries:
            if tags.get(e.field) == e.value:
                return e
        return None

    def budgets(self) -> dict[str, tuple[Decimal, str]]:
        """Monthly budget per budget line (or cost center, when no budget line): ``{name: (amount, currency)}``."""
        out: dict[str, tuple[Decimal, str]] = {}
        for e in self.entries:
            name = e.budget_line or e.cost_center
            if name and e.monthly_budget is not None:
                out.setdefault(name, (e.monthly_budget, e.currency))
        return out


@attrs.frozen(kw_only=True)
class OwnershipContract:
    """What a call must carry to count as owned.

    ``on_missing``: ``flag`` keeps the call and flags it ``missing_owner``;
    ``quarantine`` turns it into a ``Quarantined`` item (code
    ``missing_owner``); ``reject`` raises :class:`OwnershipError`, for
    gateways that refuse untagged calls.
    """

    required: tuple[str, ...] = DEFAULT_REQUIRED
    owner_map: OwnerMap | None = None
    on_missing: OnMissing = "flag"

    def __attrs_post_init__(self) -> None:
        if self.on_missing not in ("flag", "quarantine", "reject"):
            raise OwnershipError(f"on_missing must be flag, quarantine or reject, not {self.on_missing!r}")

    def missing(self, tags: Mapping[str, str]) -> tuple[str, ...]:
        """Required fields the tags do not carry (empty strings count as missing)."""
        return tuple(f for f in self.required if not tags.get(f))

    def is_owned(self, p: PricedRecord) -> bool:
        """True when the call carries every required field and, with a map, maps to an entry."""
        tags = p.record.tags
        if self.missing(tags):
            return False
        return self.owner_map is None or not self.owner_map.entries or self.owner_map.lookup(tags) is not None


def check_owner(tags: Mapping[str, str], contract: OwnershipContract | None = None) -> None:
    """Raise :class:`OwnershipError` unless ``tags`` satisfy the contract: the gateway check.

    >>> check_owner({"team": "search", "project": "web", "environment": "production"})
    >>> check_owner({"team": "search"})
    Traceback (most recent call last):
    ...
    attribution.exceptions.OwnershipError: missing required owner field(s): project, environment
    """
    c = contract or OwnershipContract()
    missing = c.missing(tags)
    if missing:
        raise OwnershipError(f"missing required owner field(s): {', '.join(missing)}", fields=missing)
    if c.owner_map is not None and c.owner_map.entries and c.owner_map.lookup(tags) is None:
        keys = ", ".join(f"{f}={tags.get(f)!r}" for f in c.owner_map.fields if tags.get(f))
        raise OwnershipError(f"no owner map entry for {keys or 'this call'}", fields=c.owner_map.fields)


def apply_ownership(items: Iterable[PricedRecord | Quarantined | RequestTree],
                    contract: OwnershipContract | None = None) -> Iterator[PricedRecord | Quarantined]:
    """Check each priced call against the contract and stamp its mapped owner fields.

    Yields one item per call (request trees are flattened to their calls,
    which already carry inherited owner fields). Mapped fields
    (``cost_center``, ``budget_line``, ``owner``) are added where the call
    does not carry them; a call whose own value disagrees with the map keeps
    its value and is flagged ``owner_conflict``.

    Raises:
        OwnershipError: under ``on_missing="reject"``, at the first call that fails.
    """
    c = contract or OwnershipContract()
    omap = c.owner_map
    for item in items:
        calls: Iterable[PricedRecord | Quarantined] = item.calls if isinstance(item, RequestTree) else (item,)
        for p in calls:
            if isinstance(p, Quarantined):
                yield p
                continue
            yield from _apply_one(p, c, omap)


def stamp_owner(tags: Mapping[str, str], omap: OwnerMap | None, flags: list[str]) -> dict[str, str] | None:
    """The owner map's verdict on one call's ``tags``: appends ``unmapped_owner`` or ``owner_conflict``
    to ``flags`` and returns the tags with the entry's missing fields stamped (``None``: nothing to add).

    Shared by the Python audit and the fast engine, so both flag and stamp a call the same way.
    """
    if omap is None or not omap.entries:
        return None
    entry = omap.lookup(tags)
    if entry is None:
        if any(tags.get(f) for f in omap.fields):
            flags.append("unmapped_owner")
        return None
    stamps = entry.stamps()
    if any(tags.get(k) and tags[k] != v for k, v in stamps.items()):
        flags.append("owner_conflict")
    add = {k: v for k, v in stamps.items() if not tags.get(k)}
    return {**tags, **add} if add else None


def _apply_one(p: PricedRecord, c: OwnershipContract, omap: OwnerMap | None) -> Iterator[PricedRecord | Quarantined]:
    tags = p.record.tags
    flags = list(p.flags)
    missing = c.missing(tags)
    if missing:
        message = f"missing required owner field(s): {', '.join(missing)}"
        if c.on_missing == "reject":
            raise OwnershipError(message, fields=missing)
        if c.on_missing == "quarantine":
            yield Quarantined(code="missing_owner", message=message, stage="ownership", source=p.record.source, raw=p)
            return
        flags.append("missing_owner")
    new_tags = stamp_owner(tags, omap, flags)
    if new_tags is None and len(flags) == len(p.flags):
        yield p
        return
    record = with_tags(p.record, new_tags) if new_tags is not None else p.record
    yield PricedRecord(record, p.units, p.rate, tuple(dict.fromkeys(flags)))


# -- loading -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _TomlEntry:
    match: Mapping[str, str]
    cost_center: str | None = None
    budget_line: str | None = None
    owner: str | None = None
    monthly_budget: Decimal | None = None
    currency: str = "USD"


@attrs.frozen(kw_only=True)
class _TomlMap:
    owners: tuple[_TomlEntry, ...] = ()


_CONVERTER = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


class _Invalid(ValueError):
    """A value a structuring hook refused; its message (what was expected, what came) is shown as is."""


def _got(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _Invalid(f"expected a decimal amount, got {_got(value)}")
    try:
        dec = Decimal(value)
    except ArithmeticError:
        raise _Invalid(f"expected a decimal amount, got {_got(value)}") from None
    if not dec.is_finite():
        raise _Invalid(f"expected a finite decimal amount, got {_got(value)}")
    return dec


def _string(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_got(value)}")
    return value


def _format_exception(exc: BaseException, type_: type | None) -> str:
    import cattrs.v

    if isinstance(exc, _Invalid):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


_CONVERTER.register_structure_hook(Decimal, _decimal)
_CONVERTER.register_structure_hook(str, _string)


def _budget(value: Decimal | None, file: str, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        from_decimal(value)
    except ValueError as exc:
        raise OwnershipError(str(exc), file=file, path=where) from None
    if value < 0:
        raise OwnershipError(f"monthly_budget must not be negative, got {value}", file=file, path=where)
    return value


def _currency(value: str, file: str, where: str, line: int | None = None) -> str:
    try:
        return check_currency(value)
    except ValueError as exc:
        raise OwnershipError(f"budget {exc}", file=file, line=line, path=where) from None


def load_owner_map(path: str | Path, *, max_file_bytes: int | None = None) -> OwnerMap:
    """Read an owner map from TOML (``[[owners]]`` tables) or CSV.

    At most ``max_file_bytes`` are read (default
    :data:`~attribution.io.MAX_FILE_BYTES`, or the cap set with
    :func:`~attribution.io.limits`); a CSV row with an unclosed quote or the
    wrong number of cells is an error naming its line.

    TOML::

        [[owners]]
        match = { team = "search" }     # exactly one field = value
        cost_center = "CC-1001"
        budget_line = "search-ai"
        owner = "Dana Chen"
        monthly_budget = 2500.00

    CSV: a header with ``field,value,cost_center,budget_line,owner,monthly_budget[,currency]``.

    Raises:
        OwnershipError: naming the file and the key path or CSV line.
    """
    from ._bounded import read_file_text

    p = Path(path)
    text = read_file_text(p, what="owner map", max_file_bytes=max_file_bytes,
                          error=lambda message, line: OwnershipError(message, file=str(p), line=line))
    entries = _read_csv(text, str(p)) if p.suffix.lower() == ".csv" else _read_toml(text, str(p))
    seen: dict[tuple[str, str], int] = {}
    for i, e in enumerate(entries):
        if (e.field, e.value) in seen:
            raise OwnershipError(f"duplicate entry for {e.field} = {e.value!r} (also entry {seen[e.field, e.value]})",
                                 file=str(p), path=f"owners[{i}]")
        seen[e.field, e.value] = i
    return OwnerMap(entries=tuple(entries), path=str(p))


def _read_toml(text: str, file: str) -> list[OwnerEntry]:
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise OwnershipError(f"invalid TOML: {exc}", file=file) from None
    except RecursionError:
        raise OwnershipError("invalid TOML: arrays or inline tables nested too deeply", file=file) from None
    try:
        parsed = _CONVERTER.structure(data, _TomlMap)
    except cattrs.BaseValidationError as exc:
        msg = (cattrs.transform_error(exc, format_exception=_format_exception) or [str(exc)])[0]
        reason, _, where = msg.rpartition(" @ ")
        raise OwnershipError(reason or msg, file=file, path=where.removeprefix("$.") or None) from None
    out = []
    for i, e in enumerate(parsed.owners):
        if len(e.match) != 1:
            raise OwnershipError("match must name exactly one field, e.g. { team = \"search\" }",
                                 file=file, path=f"owners[{i}].match")
        [(field, value)] = e.match.items()
        out.append(OwnerEntry(field=field, value=value, cost_center=e.cost_center, budget_line=e.budget_line,
                              owner=e.owner, currency=_currency(e.currency, file, f"owners[{i}].currency"),
                              monthly_budget=_budget(e.monthly_budget, file, f"owners[{i}].monthly_budget")))
    return out


_CSV_COLUMNS = ("field", "value", "cost_center", "budget_line", "owner", "monthly_budget", "currency")


def _csv_table(text: str, file: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the ``(line, row)`` pairs of a CSV owner map; a malformed row is an error."""
    import io

    from ._bounded import CsvSplitter, current_limits

    rows = CsvSplitter(io.BytesIO(text.encode()), current_limits().max_line_bytes)
    header: list[str] | None = None
    table: list[tuple[int, dict[str, str]]] = []
    for row in rows:
        if row.cells is None:
            raise OwnershipError(f"malformed CSV: {row.error}", file=file, line=row.line)
        if not any(cell.strip() for cell in row.cells):
            continue
        if header is None:
            header = row.cells
            rows.width = len(header)
            continue
        if len(row.cells) != len(header):
            raise OwnershipError(f"row has {len(row.cells)} cells, the header has {len(header)}",
                                 file=file, line=row.line)
        table.append((row.line, dict(zip(header, row.cells, strict=True))))
    return header or [], table


def _read_csv(text: str, file: str) -> list[OwnerEntry]:
    header, table = _csv_table(text, file)
    unknown = [h for h in header if h not in _CSV_COLUMNS]
    if unknown or "field" not in header or "value" not in header:
        raise OwnershipError(f"CSV header must have field,value and only {', '.join(_CSV_COLUMNS)}; "
                             f"got {', '.join(header)}", file=file, line=1)
    out = []
    for line, row in table:
        field, value = (row.get("field") or "").strip(), (row.get("value") or "").strip()
        if not field or not value:
            raise OwnershipError("field and value must not be empty", file=file, line=line)
        budget = None
        raw = (row.get("monthly_budget") or "").strip()
        if raw:
            try:
                budget = _budget(_decimal(raw, Decimal), file, "monthly_budget")
            except _Invalid as exc:
                raise OwnershipError(str(exc), file=file, line=line, path="monthly_budget") from None
        out.append(OwnerEntry(field=field, value=value, cost_center=(row.get("cost_center") or None),
                              budget_line=(row.get("budget_line") or None), owner=(row.get("owner") or None),
                              monthly_budget=budget,
                              currency=_currency(row.get("currency") or "USD", file, "currency", line)))
    return out
