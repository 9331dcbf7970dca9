"""Invoice lines: what the provider actually billed, in one shape for every provider.

Readers in :mod:`attribution.invoices` turn each provider's cost export (OpenAI
Costs API, Anthropic cost report, AWS CUR, GCP billing export, Azure cost
export, or a plain CSV) into :class:`InvoiceLine` objects; reconciliation
compares them with attributed usage. Amounts are exact ``Decimal`` in the
line's own currency; a line's period is half-open ``[period_start,
period_end)`` (a charge day is ``[day, day + 1)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._money import check_currency
from ._records import SourceLocation, reduce_frozen

__all__ = ["CHARGE_CATEGORIES", "InvoiceLine"]

#: What kind of charge a line is. Only ``usage`` lines are matched against
#: attributed usage; the others are reported beside it, never silently netted.
#: ``out_of_scope`` lines sum the rows of a whole-cloud export (a FOCUS file)
#: that are not AI services: counted and shown, never reconciled or totalled
#: with the invoice.
CHARGE_CATEGORIES = ("usage", "tax", "credit", "discount", "fee", "commitment", "refund", "adjustment",
                     "out_of_scope")

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _decimal(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"InvoiceLine.{attribute.name} must be a finite Decimal, got {type(value).__name__} {value!r}")


def _optional_decimal(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _decimal(inst, attribute, value)


def _category(inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in CHARGE_CATEGORIES:
        raise ValueError(f"charge_category must be one of {', '.join(CHARGE_CATEGORIES)}, got {value!r}")


def _currency(inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    check_currency(value)


def _freeze(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value)) if value else _EMPTY


@attrs.frozen(kw_only=True, slots=True)
class InvoiceLine:
    """One billed line: provider, period, what was billed, how much.

    Only ``provider``, the period, ``amount`` and ``currency`` are required
    (the currency has no default: an invoice never silently becomes USD);
    the rest narrows what the line can be matched with. ``model`` is the
    provider's model id as billed (or a SKU description when that is all the
    export has, kept in ``sku``); ``meter`` uses the library's meter names
    (``input``, ``cached_input``, ``cache_write``, ``cache_write_1h``,
    ``output``, ``web_search``...) when the export says which tokens a line is
    for. ``project`` is the provider-side grouping (OpenAI project, Anthropic
    workspace, GCP project, AWS account, Azure subscription or resource).

    >>> InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
    ...             amount=Decimal("22000.00"), currency="USD").charge_category
    'usage'
    """

    provider: str
    period_start: date
    period_end: date
    amount: Decimal = attrs.field(validator=_decimal)
    currency: str = attrs.field(validator=_currency)
    charge_category: str = attrs.field(default="usage", validator=_category)
    model: str | None = None
    meter: str | None = None
    sku: str | None = None
    project: str | None = None
    account: str | None = None
    service_tier: str | None = None
    region: str | None = None
    quantity: Decimal | None = attrs.field(default=None, validator=_optional_decimal)
    unit: str | None = None
    description: str | None = None
    line_id: str | None = None
    tags: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_freeze)
    source: SourceLocation | None = None

    def __reduce__(self) -> tuple[Any, ...]:   # read-only mappings do not pickle as they are
        return reduce_frozen(self)

    def __attrs_post_init__(self) -> None:
        if self.period_end <= self.period_start:
            raise ValueError(f"period_end {self.period_end} must be after period_start {self.period_start} "
                             "(periods are half-open: a day is [day, day + 1))")
