"""Request trees: one user action, many provider calls, one owner.

A user action fans out through gateways, routers, agent loops and queues into
several provider calls, some of them retries or fallbacks. ``build_forest``
groups priced calls back into trees: by trace id, and by parent / retry links
where there is no trace id. A tree's cost is exactly the sum of its calls;
retries and fallbacks stay in the tree with their role, so their cost shows
as overhead and is never double counted; the same provider request logged
twice (gateway and SDK, or a replayed log) is kept once and reported as a
duplicate; a call whose parent is missing becomes its own root, flagged.

What counts as "the same request" (:func:`duplicate_key`): the same attempt
(canonical provider, so ``azure_openai`` and ``azure`` are one provider;
request id; attempt number; outcome) billing the same thing (priced model,
service tier, request count, every meter). Two attempts that share a request
id (retry 0 then 1, an error then a success) are two calls; two copies of one
attempt that disagree on what was billed are both kept (reconciliation names
them). :class:`DuplicateFilter` applies the same rule to a whole stream in
bounded memory (the audit uses it before chunking).

Owner fields flow down (late enrichment): a call that lacks an owner field
takes it from its tree's root, and is flagged ``owner_inherited``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from hashlib import blake2b
from operator import attrgetter
from struct import Struct
from struct import error as struct_error
from types import MappingProxyType
from typing import Any

import attrs

from ._money import to_decimal
from ._records import PricedRecord, Quarantined, reduce_frozen, with_tags
from ._registry import canonical_provider
from ._usage import METERS
from .normalize._common import OWNER_DIMENSIONS

__all__ = ["COPY_FLAGS", "DEDUPE_LIMIT", "ROLES", "DuplicateFilter", "RequestTree", "attempt_key", "build_forest",
           "call_role", "dedupe", "duplicate_key", "is_marked_copy"]

#: Record flags that mark a copy of a call counted already: ``normalize_many`` sets them on span
#: records that repeat a ``gen_ai.response.id`` (``duplicate_span``) or sum model-call spans seen
#: before them (``rollup_span``). Every stage that sums leaves such records out.
COPY_FLAGS = ("duplicate_span", "rollup_span")


def is_marked_copy(p: PricedRecord) -> bool:
    """Whether ``p`` carries a :data:`COPY_FLAGS` flag (a copy of a call counted already).

    >>> import attribution as at
    >>> rec = at.UsageRecord(provider="openai", model="gpt-4o", usage=at.Usage(input=10), flags=("duplicate_span",))
    >>> is_marked_copy(at.price(rec))
    True
    """
    flags = p.flags
    return bool(flags) and ("duplicate_span" in flags or "rollup_span" in flags)

#: Roles of a call inside its tree.
ROLES = ("first", "retry", "fallback")


def call_role(p: PricedRecord) -> str:
    """``retry`` (attempt > 1 or ``retry_of``), ``fallback`` (``fallback_from``), else ``first``."""
    rec = p.record
    if rec.fallback_from:
        return "fallback"
    if rec.attempt > 1 or rec.retry_of:
        return "retry"
    return "first"


@attrs.frozen(slots=True, kw_only=True)
class RequestTree:
    """Priced provider calls that belong to one user action.

    ``calls`` are in arrival order with owner fields already inherited from
    the root; ``duplicates`` are calls dropped because the same provider
    request was already in the tree (they cost nothing here); ``flags`` are
    tree-level codes: ``missing_parent`` (a call named a parent that was not
    in the input), ``no_owner`` (no call in the tree carries an owner field).
    """

    id: str
    calls: tuple[PricedRecord, ...]
    owner: Mapping[str, str]
    duplicates: tuple[PricedRecord, ...] = ()
    flags: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:   # read-only mappings do not pickle as they are
        return reduce_frozen(self)

    @property
    def units(self) -> int:
        """Exact cost in money units."""
        return sum(c.units for c in self.calls)

    @property
    def cost(self) -> Decimal:
        """Exact sum of the calls' costs."""
        return to_decimal(self.units)

    @property
    def currency(self) -> str | None:
        return self.calls[0].currency if self.calls else None

    @property
    def root(self) -> PricedRecord:
        """The first call with no parent in the tree (the earliest call if all have one)."""
        ids = {_node_id(c) for c in self.calls}
        for c in self.calls:
            if not c.record.parent_id or c.record.parent_id not in ids:
                return c
        return self.calls[0]

    def overhead(self) -> dict[str, Decimal]:
        """Cost by role: what first attempts, retries and fallbacks cost."""
        units = dict.fromkeys(ROLES, 0)
        for c in self.calls:
            units[call_role(c)] += c.units
        return {role: to_decimal(n) for role, n in units.items()}


def _node_id(p: PricedRecord) -> str | None:
    return p.record.span_id or p.record.request_id


_meters = attrgetter(*METERS)


def attempt_key(p: PricedRecord) -> tuple[str, str, int, str] | None:
    """Which provider attempt a call is: ``(canonical provider, request id, attempt, outcome)``.

    ``None`` when the call has no request id (it cannot be matched to a copy).
    Provider synonyms fold (``azure_openai`` is ``azure``), and two attempts
    that share a request id (a retry, an error then a success) differ.

    >>> import attribution as at
    >>> rec = at.UsageRecord(provider="azure_openai", model="gpt-4o", usage=at.Usage(input=10), request_id="r1")
    >>> attempt_key(at.price(rec))
    ('azure', 'r1', 1, 'ok')
    """
    rec = p.record
    rid = rec.request_id
    return (canonical_provider(rec.provider), rid, rec.attempt, rec.outcome) if rid else None


def duplicate_key(p: PricedRecord) -> tuple[Any, ...] | None:
    """What makes two priced calls copies of one: the same attempt billing the same thing.

    :func:`attempt_key` plus the priced model (the card id), service tier,
    request count and every meter. Timestamps and tags are left out: a
    gateway and an SDK logging one call stamp and tag it differently. ``None``
    without a request id.
    """
    rec = p.record
    rid = rec.request_id
    if not rid:
        return None
    rate = p.rate
    return (canonical_provider(rec.provider), rid, rec.attempt, rec.outcome, rate.model, rate.service_tier,
            rec.requests, _meters(rec.usage))


def _dedupe_key(p: PricedRecord) -> tuple[Any, ...] | None:
    return duplicate_key(p)


#: How many distinct calls a streaming audit remembers to find duplicates (8-byte digests, about 11 MB,
#: made at once: the 10M-record streaming audit must stay under 300 MB; ``--dedupe-limit`` raises it).
DEDUPE_LIMIT = 1_000_000
_LOAD = 0.75
_FIRST_SLOTS = 1 << 12
_ZERO = (0,)


_INTS = Struct(f"<{2 + len(METERS)}q")  # attempt, requests, then every meter


def _digest(p: PricedRecord) -> int:
    """A stable 64-bit blake2b digest of :func:`duplicate_key` (0: no request id), built without the tuple.

    Not ``hash()``: that is salted per process, so a (rare) collision would
    change a report from one run to the next. Strings an input controls are
    length-prefixed, so no two keys give the same bytes.
    """
    rec = p.record
    rid = rec.request_id
    if not rid:
        return 0
    rate = p.rate
    prov = canonical_provider(rec.provider)
    m = blake2b(f"{len(prov)}:{prov}{len(rid)}:{rid}{len(rec.outcome)}:{rec.outcome}{rate.model}\x1f"
                f"{rate.service_tier}\x1f".encode(), digest_size=8)
    try:
        m.update(_INTS.pack(rec.attempt, rec.requests, *_meters(rec.usage)))
    except struct_error:  # a count beyond 64 bits: spell it out
        m.update(repr((rec.attempt, rec.requests, _meters(rec.usage))).encode())
    return int.from_bytes(m.digest(), "little") or 1


class DuplicateFilter:
    """Finds repeats of one provider call (:func:`duplicate_key`) across a whole stream, in bounded memory.

    Each distinct call is remembered as an 8-byte digest in an open-addressing
    table (an ``array``: about 11 bytes per call, against some 70 for a Python
    set of ints). ``limit=None`` remembers every call. With a ``limit``, once
    that many calls are held, later calls are still checked against them but
    are not remembered: they are counted in ``unchecked`` (a later copy of one
    of them would be counted twice), so a report can say how many calls the
    check did not cover. Digests are 64 bits: two different calls get the same
    one with odds of about ``n**2 / 2**65`` (1 in 370,000 for 10M calls).

    >>> import attribution as at
    >>> rec = at.UsageRecord(provider="openai", model="gpt-4o", usage=at.Usage(input=10), request_id="r1")
    >>> f = DuplicateFilter()
    >>> [f.is_repeat(at.price(r)) for r in (rec, rec, attrs.evolve(rec, provider="OpenAI", attempt=2))]
    [False, True, False]
    >>> f.duplicates, f.held
    (1, 2)
    """

    __slots__ = ("_table", "duplicate_units", "duplicates", "held", "limit", "unchecked")

    def __init__(self, limit: int | None = DEDUPE_LIMIT) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        self.limit = limit
        self.held = self.duplicates = self.duplicate_units = self.unchecked = 0
        # With a limit the whole table is made at once (about 10.7 bytes a call): growing it would hold the
        # old and the new table at the same time, half again the memory at the peak. Always more slots
        # than calls held, so every probe ends.
        slots = _FIRST_SLOTS if limit is None else int(limit / _LOAD) + 2
        self._table = array("Q", _ZERO) * slots

    @property
    def duplicate_cost(self) -> Decimal:
        """Exact cost of the calls found to be repeats (not counted again)."""
        return to_decimal(self.duplicate_units)

    def is_repeat(self, p: PricedRecord) -> bool:
        """Whether ``p`` repeats a call seen before (counted in ``duplicates``); remembers it if not.

        A record marked as a copy on ingest (:data:`COPY_FLAGS`) is a repeat by definition.
        """
        if p.flags and is_marked_copy(p):
            self.duplicates += 1
            self.duplicate_units += p.units
            return True
        h = _digest(p)
        if not h:
            return False
        table = self._table
        n = len(table)
        i = h % n
        while True:
            v = table[i]
            if v == h:
                self.duplicates += 1
                self.duplicate_units += p.units
                return True
            if not v:
                break
            i += 1
            if i == n:
                i = 0
        if self.limit is not None and self.held >= self.limit:
            self.unchecked += 1
            return False
        table[i] = h
        self.held += 1
        if self.held > n * _LOAD:
            self._grow()
        return False

    def _grow(self) -> None:
        size = 2 * len(self._table)
        if self.limit is not None:  # never more slots than the limit needs
            size = min(size, int(self.limit / _LOAD) + 2)
        if size <= len(self._table):
            return
        old, table = self._table, array("Q", _ZERO) * size
        for h in old:
            if h:
                i = h % size
                while table[i]:
                    i += 1
                    if i == size:
                        i = 0
                table[i] = h
        self._table = table


def dedupe(priced: Iterable[PricedRecord | Quarantined], seen: DuplicateFilter | None = None
           ) -> Iterator[PricedRecord | Quarantined]:
    """``priced`` without repeats of one provider call (:func:`duplicate_key`); ``Quarantined`` items pass.

    Records marked as copies on ingest (:data:`COPY_FLAGS`) are dropped too.
    Pass a :class:`DuplicateFilter` to read how many were dropped (and their
    cost) afterwards, or to share one filter across several streams. Use it
    before :func:`rollup` when two instrumentations (a gateway and an SDK)
    both log the same calls; :func:`run_audit` does it already.

    >>> import attribution as at
    >>> rec = at.UsageRecord(provider="azure", model="gpt-4o", usage=at.Usage(input=1000), request_id="r1")
    >>> f = at.DuplicateFilter(limit=None)
    >>> calls = list(at.dedupe([at.price(rec), at.price(attrs.evolve(rec, provider="azure_openai"))], f))
    >>> len(calls), f.duplicates, f.duplicate_cost
    (1, 1, Decimal('0.00275'))
    """
    f = seen if seen is not None else DuplicateFilter(limit=None)
    for p in priced:
        if isinstance(p, Quarantined) or not f.is_repeat(p):
            yield p


class _Union:
    """Union-find over call indexes: calls linked by trace, parent or retry share a tree."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The earlier call stays the representative, so tree order is arrival order.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def build_forest(priced: Iterable[PricedRecord | Quarantined], *,
                 owner_fields: Sequence[str] = OWNER_DIMENSIONS) -> list[RequestTree]:
    """Group priced calls into request trees.

    Calls with the same ``trace_id`` share a tree; calls without one join the
    tree of the call their ``parent_id`` or ``retry_of`` names (by span or
    request id). A provider call seen twice (the same :func:`duplicate_key`:
    canonical provider, request id, attempt, outcome and what it billed) is
    kept once; the copy is listed in ``duplicates``. ``Quarantined`` items
    are skipped (count them with :func:`rollup`). Trees come back in the order
    their first call arrived.

    Owner fields in ``owner_fields`` missing on a call are inherited from the
    tree's root (the first call without a parent in the tree), and the call
    is flagged ``owner_inherited``.

    >>> import attribution as at
    >>> calls = [at.UsageRecord(provider="openai", model="gpt-4.1-mini", usage=at.Usage(input=1000),
    ...                         trace_id="tr_1", request_id=f"r{i}", tags={"team": "search"} if i == 0 else {})
    ...          for i in range(3)]
    >>> [tree] = build_forest(at.price(c) for c in calls)
    >>> len(tree.calls), tree.cost, tree.calls[2].record.tags["team"]
    (3, Decimal('0.0012'), 'search')
    """
    calls: list[PricedRecord] = []
    duplicates: dict[int, list[PricedRecord]] = {}
    seen: dict[tuple[Any, ...], int] = {}
    marked: list[PricedRecord] = []
    for p in priced:
        if isinstance(p, Quarantined):
            continue
        if p.flags and is_marked_copy(p):
            marked.append(p)
            continue
        key = _dedupe_key(p)
        if key is not None:
            first = seen.get(key)
            if first is not None:
                duplicates.setdefault(first, []).append(p)
                continue
            seen[key] = len(calls)
        calls.append(p)

    if marked:
        _place_marked(calls, marked, duplicates)
    uf = _Union(len(calls))
    by_trace: dict[str, int] = {}
    by_id: dict[str, int] = {}
    for i, c in enumerate(calls):
        rec = c.record
        if rec.trace_id:
            uf.union(by_trace.setdefault(rec.trace_id, i), i)
        for ident in (rec.span_id, rec.request_id):
            if ident:
                by_id.setdefault(ident, i)
    missing_parent: set[int] = set()
    for i, c in enumerate(calls):
        rec = c.record
        for link in (rec.parent_id, rec.retry_of):
            if not link:
                continue
            j = by_id.get(link)
            if j is not None:
                uf.union(j, i)
            elif link == rec.parent_id:
                missing_parent.add(i)

    groups: dict[int, list[int]] = {}
    for i in range(len(calls)):
        groups.setdefault(uf.find(i), []).append(i)

    trees = []
    for rep, members in groups.items():
        tree_calls = [calls[i] for i in members]
        if len(tree_calls) == 1:  # most trees are a single call
            root = tree_calls[0]
        else:
            ids = {_node_id(c) for c in tree_calls} | {c.record.request_id for c in tree_calls}
            root = next((c for c in tree_calls if not c.record.parent_id or c.record.parent_id not in ids),
                        tree_calls[0])
        owner = _owner(root, tree_calls, owner_fields)
        # A lone call has nothing to inherit: its owner fields are its own.
        enriched = tuple(tree_calls) if len(tree_calls) == 1 else tuple(_inherit(c, owner, owner_fields)
                                                                       for c in tree_calls)
        flags = []
        if any(i in missing_parent for i in members):
            flags.append("missing_parent")
        if not owner:
            flags.append("no_owner")
        dups = tuple(d for i in members for d in duplicates.get(i, ()))
        head = calls[rep].record
        tree_id = head.trace_id or _node_id(calls[rep]) or f"call-{rep}"
        trees.append(RequestTree(id=tree_id, calls=enriched, owner=MappingProxyType(owner),
                                 duplicates=dups, flags=tuple(flags)))
    return trees


def _place_marked(calls: list[PricedRecord], marked: list[PricedRecord],
                  duplicates: dict[int, list[PricedRecord]]) -> None:
    """Put each marked copy with the call it repeats (same request id, a child span, else its trace).

    A marked record whose call is not in the input is kept as a call: it is
    then the only report of that call, and dropping it would lose its cost.
    """
    by_id: dict[str, int] = {}
    by_parent: dict[str, int] = {}
    by_trace: dict[str, int] = {}
    for i, c in enumerate(calls):
        rec = c.record
        if rec.request_id:
            by_id.setdefault(rec.request_id, i)
        if rec.parent_id:
            by_parent.setdefault(rec.parent_id, i)
        if rec.trace_id:
            by_trace.setdefault(rec.trace_id, i)
    for p in marked:
        rec = p.record
        home = by_id.get(rec.request_id) if rec.request_id else None
        if home is None and rec.span_id:
            home = by_parent.get(rec.span_id)
        if home is None and rec.trace_id:
            home = by_trace.get(rec.trace_id)
        if home is None:
            calls.append(p)
        else:
            duplicates.setdefault(home, []).append(p)


def _owner(root: PricedRecord, calls: Sequence[PricedRecord], fields: Sequence[str]) -> dict[str, str]:
    """The root's owner fields; where the root lacks one, the value every other call that has it agrees on.

    Calls that disagree (two teams inside one trace) leave the field unset
    rather than guessing: those calls keep their own values and the rest stay
    visibly unowned.
    """
    owner = {f: v for f in fields if (v := root.record.tags.get(f))}
    if len(calls) == 1:   # a lone call (most trees): no other call can supply a field the root lacks
        return owner
    for f in fields:
        if f in owner:
            continue
        values = {v for c in calls if (v := c.record.tags.get(f))}
        if len(values) == 1:
            owner[f] = values.pop()
    return owner


def _inherit(p: PricedRecord, owner: Mapping[str, str], fields: Sequence[str]) -> PricedRecord:
    tags = p.record.tags
    missing = {f: owner[f] for f in fields if f in owner and not tags.get(f)}
    if not missing:
        return p
    record = with_tags(p.record, {**tags, **missing})
    flags = p.flags if "owner_inherited" in p.flags else (*p.flags, "owner_inherited")
    return PricedRecord(record, p.units, p.rate, flags)
