"""Request trees: one user action, many provider calls, one owner.

A user action fans out through gateways, routers, agent loops and queues into
several provider calls, some of them retries or fallbacks. ``build_forest``
groups priced calls back into trees: by trace id, and by parent / retry links
where there is no trace id. A tree's cost is exactly the sum of its calls;
retries and fallbacks stay in the tree with their role, so their cost shows
as overhead and is never double counted; the same provider request logged
twice (gateway and SDK, or a replayed log) is kept once and reported as a
duplicate; a call whose parent is missing becomes its own root, flagged.

Owner fields flow down (late enrichment): a call that lacks an owner field
takes it from its tree's root, and is flagged ``owner_inherited``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._money import to_decimal
from ._records import PricedRecord, Quarantined, reduce_frozen
from .normalize._common import OWNER_DIMENSIONS

__all__ = ["ROLES", "RequestTree", "build_forest", "call_role"]

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


def _dedupe_key(p: PricedRecord) -> tuple[str, str] | None:
    rid = p.record.request_id
    return (p.record.provider, rid) if rid else None


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
    request id). A provider request seen twice (same provider and request id)
    is kept once; the copy is listed in ``duplicates``. ``Quarantined`` items
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
    seen: dict[tuple[str, str], int] = {}
    for p in priced:
        if isinstance(p, Quarantined):
            continue
        key = _dedupe_key(p)
        if key is not None:
            first = seen.get(key)
            if first is not None:
                duplicates.setdefault(first, []).append(p)
                continue
            seen[key] = len(calls)
        calls.append(p)

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


def _owner(root: PricedRecord, calls: Sequence[PricedRecord], fields: Sequence[str]) -> dict[str, str]:
    """The root's owner fields; where the root lacks one, the value every other call that has it agrees on.

    Calls that disagree (two teams inside one trace) leave the field unset
    rather than guessing: those calls keep their own values and the rest stay
    visibly unowned.
    """
    owner = {f: v for f in fields if (v := root.record.tags.get(f))}
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
    record = attrs.evolve(p.record, tags={**tags, **missing})
    flags = p.flags if "owner_inherited" in p.flags else (*p.flags, "owner_inherited")
    return PricedRecord(record, p.units, p.rate, flags)
