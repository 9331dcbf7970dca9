"""The columnar audit engine (extra ``fast``): the same report as :func:`~attribution.run_audit`, from SQL.

``run_audit`` reads, normalizes, prices and aggregates one record at a time
in Python: about 10-20 thousand records a second. This engine reads the input
files with DuckDB, normalizes flat gateway events (and other line-per-call
exports of that shape) in vectorized SQL, prices them with the registry's
rates compiled into a table (effective dates, context tiers, service tiers,
regions and discounts are already folded into each resolved rate), removes
repeats, resolves request trees and owner inheritance, and groups the calls
into *classes*: calls that agree on everything an aggregate reads (day, rate,
tier, owner tags, role, flags). The Python side turns the classes into the
very aggregates the Python engine builds (rollups, coverage counters, charge
lines, reconciliation cells, budget spend, flags) and
:func:`attribution._audit.assemble_report` finishes the report, so allocation,
reconciliation and true-up are the same code for both engines.

Why DuckDB (not Polars or Arrow compute): it reads JSON lines, CSV and
Parquet itself, streams and spills to disk under a memory limit (the 10M-call
audit must stay under 300 MB), has exact 128-bit integers (``HUGEINT``) for
money units and ``DECIMAL(38, x)``, window functions for duplicates and
trees, and one wheel with no other dependency. Polars holds frames in
memory and has no 128-bit integer; Arrow compute has no JSON-lines reader
with per-line errors nor window functions.

Exactness: money is integer units of 10^-15 of the currency (``HUGEINT``);
token counts are read as JSON integers or digit strings and checked against
the same limits as the Python normalizer; a float, a negative or absurd
count, a bad timestamp, an unknown model, a non-flat payload, a line that
is not strict JSON, or any field the SQL cannot read exactly as the Python
normalizer would makes that line go to the Python engine (which quarantines
it with its reason, line and file). When such a line turns out to be a
valid call (so it could be a duplicate of, or linked to, a call read here),
or the input has a shape this engine does not resolve (links across traces,
a period comparison, several currencies), the whole input goes to the Python
engine instead, and the report says why (``AuditReport.engine_note``). The
result therefore never depends on which engine ran.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ..exceptions import MissingDependency

__all__ = ["SUFFIXES", "available", "try_fast_audit"]

#: Input formats the fast engine reads (anything else goes to the Python engine).
SUFFIXES = (".jsonl", ".ndjson", ".csv", ".parquet")


def available() -> bool:
    """Whether the ``fast`` extra (DuckDB) is installed.

    >>> isinstance(available(), bool)
    True
    """
    try:
        importlib.import_module("duckdb")
    except ImportError:
        return False
    return True


def try_fast_audit(paths: Sequence[Path], *, registry: Any, contract: Any, by: Sequence[str], period: str | None,
                   since: date | None, until: date | None, invoices: Sequence[Any], policy: Any, top: int,
                   chunk_size: int | None, fx: Any, required: bool = False) -> Any:
    """The audit of ``paths`` by the fast engine, or a sentence saying why it was not used.

    ``required`` (``engine="fast"``) raises :class:`MissingDependency` when
    DuckDB is missing; an input the engine cannot take still falls back to
    the Python engine (the caller runs it), so the result is always exact.
    """
    if not available():
        if required:
            raise MissingDependency("engine='fast'", "fast", "duckdb")
        return "the fast engine is not installed (pip install 'attribution[fast]')"
    if chunk_size is not None:
        return "chunk_size streams through the Python engine"
    if period is not None:
        return "a period comparison (explain_change) needs every call in Python"
    for p in paths:
        name = p.name.lower()
        if not any(name.endswith(s) for s in SUFFIXES):
            return f"{p.name}: the fast engine reads {', '.join(SUFFIXES)} files (not compressed)"
    from ._engine import Decline, fast_audit

    try:
        return fast_audit(paths, registry=registry, contract=contract, by=tuple(by), since=since, until=until,
                          invoices=invoices, policy=policy, top=top, fx=fx)
    except Decline as exc:
        return str(exc)
