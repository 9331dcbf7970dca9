"""Where each price period's numbers came from: a provider page, peer data, or both.

A price card is reviewed data, and a reviewer (or an auditor reading a priced
record) needs to know what was checked against the provider and what was taken
from another library's data. Each price period carries its own provenance:

* ``source`` and ``read_on``: the provider page (or a document, such as an
  order form) the numbers were read on, and the day;
* ``peers``: the peer data sets, each ``"package version"``
  (``"genai-prices 0.2.3"``), the numbers were taken from or agree with;
* ``verified``: when the page showed only some of the period's prices, the
  meters it showed (the rest come from ``peers``).

The card's ``[card] source`` / ``peers`` are defaults for periods that state
neither: a period that names its own ``source`` or ``peers`` never inherits
the card's, so a peer-only period can never borrow the card's URL and read
date and claim a page that nobody read. ``read_on`` falls back to the card's.

This module reads cards and says what they claim; it never changes a price.
Older cards spelled peer provenance as free text in ``source``
(``"genai-prices 0.2.3 and litellm 1.110.2 (package data), provider page not
read"``); that spelling is still understood.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

import attrs

from ._cards import CardFile, PricePeriod

__all__ = ["KINDS", "Provenance", "count_kinds", "provenance", "summary"]

#: Provenance kinds: a provider page (URL) alone, with peers that agree, or for only some
#: meters (the rest from peers); another document (an order form, announcements, copies
#: of a page), alone or with peers; peer data only.
KINDS = ("page", "page+peers", "page (part)+peers", "document", "document+peers", "document (part)+peers", "peers")

_URL = re.compile(r"^https?://\S+$")
#: The free-text spelling of peer data: ``genai-prices 0.2.3``, ``litellm 1.110.2``.
_PEER_IN_TEXT = re.compile(r"\b(genai-prices|litellm) ([0-9][0-9a-z.]*[0-9a-z])")


@attrs.frozen(kw_only=True)
class Provenance:
    """What one price period claims about where its numbers came from.

    ``source`` is the page or document read (``None`` when none was);
    ``peers`` the peer data sets; ``verified`` the meters the page showed when
    it showed only some (``()`` means every price of the period); ``inherited``
    says the card's ``[card]`` defaults supplied ``source`` / ``peers``, and
    ``read_on_inherited`` the same for the date.
    """

    source: str | None
    read_on: date | None
    peers: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()
    inherited: bool = False
    read_on_inherited: bool = False

    @property
    def page(self) -> bool:
        """A provider page (an http(s) URL) was read for (some of) these numbers."""
        return self.source is not None and _URL.match(self.source) is not None

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`.

        >>> Provenance(source="https://example.com/pricing", read_on=None, peers=("litellm 1.110.2",)).kind
        'page+peers'
        """
        if self.source is None:
            return "peers"
        base = "page" if self.page else "document"
        if not self.peers:
            return base
        return f"{base} (part)+peers" if self.verified else f"{base}+peers"

    @property
    def label(self) -> str:
        """One line for a priced record or a listing.

        >>> Provenance(source=None, read_on=date(2026, 12, 3), peers=("genai-prices 0.2.3",)).label
        'genai-prices 0.2.3 (peer data, provider page not read)'
        """
        peers = " and ".join(self.peers)
        if self.source is None:
            return f"{peers} (peer data, provider page not read)"
        if not self.peers:
            return self.source
        if self.verified:
            return f"{self.source} ({', '.join(self.verified)}); the rest: {peers} (peer data)"
        return f"{self.source}; {peers} agree"


    def describe(self) -> str:
        """A sentence for ``attribution cards show``: what was verified against the provider.

        >>> Provenance(source="https://example.com/p", read_on=date(2026, 11, 23),
        ...            peers=("litellm 1.110.2",), verified=("input",)).describe()
        'verified on https://example.com/p (read 2026-11-23): input; the rest from peer data: litellm 1.110.2'
        """
        read = f" (read {self.read_on.isoformat()})" if self.read_on else ""
        peers = ", ".join(self.peers)
        default = " [card default]" if self.inherited else ""
        if self.source is None:
            return f"peer data only: {peers}{read}; provider page not read{default}"
        where = f"verified on {self.source}{read}" if self.page else f"from {self.source}{read}"
        if not self.peers:
            return where + default
        if self.verified:
            return f"{where}: {', '.join(self.verified)}; the rest from peer data: {peers}{default}"
        return f"{where}; peer data agrees: {peers}{default}"


def _legacy(text: str) -> tuple[str | None, tuple[str, ...]]:
    """Split a free-text source (the older spelling) into (page, peers).

    >>> _legacy("genai-prices 0.2.3 and litellm 1.110.2 (package data), provider page not read")
    (None, ('genai-prices 0.2.3', 'litellm 1.110.2'))
    >>> _legacy("Order form OF-2291")
    ('Order form OF-2291', ())
    """
    if _URL.match(text):
        return text, ()
    peers = tuple(dict.fromkeys(f"{m.group(1)} {m.group(2)}" for m in _PEER_IN_TEXT.finditer(text)))
    if not peers:
        return text, ()    # a document: an order form, a contract
    head = text.split()[0]
    return (head if _URL.match(head) else None), peers


def provenance(period: PricePeriod, card: CardFile) -> Provenance:
    """The effective provenance of ``period`` on ``card``.

    A period that states ``source`` or ``peers`` keeps exactly what it states;
    only a period that states neither takes the card's ``source`` / ``peers``.

    >>> import attribution as at
    >>> reg = at.load_registry()
    >>> info = next(m for m in reg.models("openai") if m.id == "gpt-6-sol")
    >>> p = provenance(info.periods[-1], info.card)
    >>> (p.kind, p.source, p.peers)
    ('peers', None, ('genai-prices 0.2.3', 'litellm 1.110.2'))
    """
    meta = card.card
    own = period.source is not None or bool(period.peers)
    source, peers = (period.source, period.peers) if own else (meta.source, meta.peers)
    if source is not None and not peers:
        source, peers = _legacy(source)
    read_on = period.read_on or meta.read_on
    return Provenance(source=source, read_on=read_on, peers=tuple(peers),
                      verified=period.verified if own else (), inherited=not own,
                      read_on_inherited=period.read_on is None)


def count_kinds(items: Iterable[tuple[PricePeriod, CardFile]]) -> Mapping[str, int]:
    """How many periods have each provenance kind, every kind of :data:`KINDS` present.

    >>> import attribution as at
    >>> reg = at.load_registry()
    >>> counts = count_kinds((p, m.card) for m in reg.models() for p in m.periods)
    >>> sorted(counts) == sorted(KINDS)
    True
    """
    counts = Counter(dict.fromkeys(KINDS, 0))
    for period, card in items:
        counts[provenance(period, card).kind] += 1
    return dict(counts)


def summary(counts: Mapping[str, int]) -> str:
    """The one-line totals the cross-check doc and ``cards list --provenance`` print.

    >>> summary({"page": 3, "page+peers": 1, "page (part)+peers": 1, "peers": 5})
    '10 price periods: 5 verified against a provider page (4 fully, 1 in part), 5 from peer data only, 0 from other documents'
    """
    total = sum(counts.values())
    full = counts.get("page", 0) + counts.get("page+peers", 0)
    part = counts.get("page (part)+peers", 0)
    docs = sum(v for k, v in counts.items() if k.startswith("document"))
    return (f"{total} price periods: {full + part} verified against a provider page ({full} fully, {part} in part), "
            f"{counts.get('peers', 0)} from peer data only, {docs} from other documents")
