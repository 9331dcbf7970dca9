"""Price cards from Python: the same card a TOML file describes, built in code.

Tests and notebooks often need a card of their own (a private model, a
negotiated discount, a made-up price to check a formula) without writing a
file. :func:`price_card` takes the TOML schema as keyword arguments and
returns the same validated :class:`~attribution._cards.CardFile` that
:func:`~attribution.load_card` reads from disk. It does so by building the
mapping the TOML file would parse to and handing it to the one validator
(``_cards.parse_card``), so every rule (unknown keys, negative prices,
overlapping periods, unsourced prices, ...) applies unchanged and every error
names the same key path, such as ``models[0].prices[0].input``.
:func:`model_price` and :func:`price_period` build the ``[[models]]`` and
``[[models.prices]]`` tables; ``from_`` stands for the TOML key ``from``.

Prices are per 1M tokens (``web_search`` per 1K calls) and must be exact:
``Decimal``, ``int`` or a decimal string such as ``"2.50"``. A ``float`` is
refused, as everywhere money enters the library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from ._cards import CardFile, parse_card

__all__ = ["model_price", "price_card", "price_period"]

#: Python spellings of TOML keys that are keywords in Python.
_RENAMES = {"from_": "from"}


def _plain(value: Any) -> Any:
    """A copy in TOML's shapes: mappings become dicts (``None`` values dropped, as TOML cannot
    hold them), tuples and lists become lists, and ``from_`` becomes ``from``."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            renamed = _RENAMES.get(key, key) if isinstance(key, str) else key
            out[key if renamed in value else renamed] = _plain(item)   # both spellings: left for the validator
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def price_period(*, from_: date | datetime | str, until: date | datetime | str | None = None,
                 **fields: Any) -> dict[str, Any]:
    """One ``[[models.prices]]`` table: prices in force from ``from_`` (inclusive) until ``until`` (exclusive).

    ``fields`` are the period's TOML keys: meter prices (``input``, ``cached_input``,
    ``output``, ... per 1M tokens), ``source``, ``read_on``, ``peers``, ``note``,
    ``context`` (a list of ``{"above": 200000, "input": ...}``), ``tiers``
    (``{"batch": {"multiplier": Decimal("0.5")}}``), ``regions``, ``regional``,
    ``time_windows`` and ``assumptions``. Nothing is checked here; the card
    checks everything, naming the key path.

    >>> from decimal import Decimal
    >>> price_period(from_="2026-01-01", input=Decimal("2.50"), output=10)
    {'from': '2026-01-01', 'input': Decimal('2.50'), 'output': 10}
    """
    period: dict[str, Any] = _plain({"from_": from_, "until": until, **fields})
    return period


def model_price(id: str, *, prices: Iterable[Mapping[str, Any]] | None = None, aliases: Iterable[str] = (),
                name: str | None = None, override: bool = False, note: str | None = None,
                **period: Any) -> dict[str, Any]:
    """One ``[[models]]`` table: a model id, its aliases and its effective-dated prices.

    Give either ``prices`` (several periods, oldest first, e.g. from
    :func:`price_period`) or the keywords of a single period (``from_``,
    ``input``, ``output``, ``tiers``...). ``override=True`` lets the model
    replace one an earlier card layer defines, as in TOML.

    >>> from decimal import Decimal
    >>> m = model_price("acme-chat", from_="2026-01-01", input=Decimal("0.80"), output=Decimal("3.20"))
    >>> m["id"], m["prices"][0]["input"]
    ('acme-chat', Decimal('0.80'))
    """
    if prices is not None and period:
        # Mirrors TOML, where a model table holds `prices` and nothing priced directly.
        unknown = ", ".join(sorted(_RENAMES.get(k, k) for k in period))
        raise TypeError(f"model_price() takes either prices=[...] or the keywords of one period, not both "
                        f"(got {unknown})")
    periods = list(prices) if prices is not None else ([price_period(**period)] if period else [])
    table: dict[str, Any] = {"id": id, "name": name, "aliases": list(aliases), "note": note,
                             "prices": [_plain(p) for p in periods]}
    if override:
        table["override"] = True
    if not table["aliases"]:
        del table["aliases"]
    plain: dict[str, Any] = _plain(table)
    return plain


def price_card(*, provider: str, version: str, currency: str = "USD", read_on: date | str | None = None,
               source: str | None = None, peers: Iterable[str] = (), description: str | None = None,
               models: Iterable[Mapping[str, Any]] = (),
               aliases: Mapping[str, str] | Iterable[Mapping[str, Any]] = (),
               discounts: Iterable[Mapping[str, Any]] = (),
               excluded: Iterable[Mapping[str, Any]] = ()) -> CardFile:
    """A validated price card built in code, equal to the one the same TOML file loads.

    The keywords are the TOML schema (``docs/price-cards.md``): the ``[card]``
    keys, then ``models`` (see :func:`model_price`), ``aliases`` (a mapping
    ``{"gpt-latest": "gpt-5.4"}`` or TOML-shaped tables with ``override``/``note``),
    ``discounts`` (``{"models": ["gpt-5*"], "multiplier": Decimal("0.85"), "from_": ...}``)
    and ``excluded``. Layer the card over the bundled ones with
    ``load_registry(card)``, exactly like a card file.

    Raises:
        PriceCardError: the first problem, with ``path`` the TOML key path
            (``models[0].prices[0].input``) and ``others`` the rest; the same
            errors, in the same order, as loading the equivalent file.

    >>> import attribution as at
    >>> from decimal import Decimal
    >>> from datetime import datetime, timezone
    >>> card = at.price_card(provider="acme", version="acme-2026-01", read_on="2026-01-05",
    ...                      source="Order form OF-2291",
    ...                      models=[at.model_price("acme-chat", from_="2026-01-01",
    ...                                             input=Decimal("0.80"), output=Decimal("3.20"))])
    >>> reg = at.load_registry(card)
    >>> at.cost("acme", "acme-chat", at.Usage(input=1_000_000, output=250_000),
    ...         at=datetime(2026, 2, 1, tzinfo=timezone.utc), registry=reg)
    Decimal('1.60')
    >>> at.price_card(provider="acme", version="v1", read_on="2026-01-05", source="x",
    ...               models=[at.model_price("m", from_="2026-01-01", input=-1)])
    Traceback (most recent call last):
    attribution.exceptions.PriceCardError: models[0].prices[0].input: negative price -1
    """
    alias_tables: list[Any]
    if isinstance(aliases, Mapping):
        alias_tables = [{"alias": alias, "model": model} for alias, model in aliases.items()]
    else:
        alias_tables = list(aliases)
    data: dict[str, Any] = {
        "card": {"provider": provider, "version": version, "currency": currency, "read_on": read_on,
                 "source": source, "peers": list(peers), "description": description},
    }
    if not data["card"]["peers"]:
        del data["card"]["peers"]
    data.update({key: tables for key, tables in (("models", list(models)), ("aliases", alias_tables),
                                                  ("discounts", list(discounts)), ("excluded", list(excluded)))
                 if tables})
    return parse_card(_plain(data))

