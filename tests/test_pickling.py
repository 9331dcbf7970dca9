"""Values cross process boundaries: multiprocessing pools, Dask tasks, caches on disk.

Frozen values keep their tags and owners as read-only mappings, and a rate keeps a
compiled pricing function; neither pickles as it is, so each type says how it travels.
These tests pin the round trips and a real pool doing the pricing.
"""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timezone
from decimal import Decimal
from types import MappingProxyType

import attribution as at
from attribution.normalize import SourceLocation

UTC = timezone.utc


def _records(n: int = 40) -> list[at.UsageRecord]:
    return [at.UsageRecord(provider="openai" if i % 2 else "anthropic",
                           model="gpt-4.1" if i % 2 else "claude-sonnet-4-5",
                           usage=at.Usage(input=10_000 + i, cached_input=i * 10, output=500 + i),
                           at=datetime(2026, 6, 1 + i % 28, 9, tzinfo=UTC), request_id=f"req-{i}",
                           trace_id=f"tr-{i // 4}", tags={"team": f"team-{i % 3}", "feature": "chat"},
                           source=SourceLocation(file="calls.jsonl", line=i + 1))
            for i in range(n)]


def _round_trip(value: object) -> object:
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def test_usage_record_keeps_its_fields_and_read_only_tags() -> None:
    rec = _records(1)[0]
    back = _round_trip(rec)
    assert back == rec
    assert isinstance(back.tags, MappingProxyType)


def test_priced_record_keeps_cost_rate_and_line_items() -> None:
    priced = at.price(_records(2)[1])
    back = _round_trip(priced)
    assert back == priced
    assert back.cost == priced.cost
    assert back.lines == priced.lines
    # The rate's compiled pricing function is rebuilt, and prices the same.
    assert back.rate.units(at.Usage(input=1_000_000)) == priced.rate.units(at.Usage(input=1_000_000))


def test_a_used_registry_pickles_and_prices_the_same() -> None:
    registry = at.load_registry()
    recs = _records()
    before = [at.price(r, registry).cost for r in recs]     # fills the registry's memo of rates
    back = _round_trip(registry)
    assert [at.price(r, back).cost for r in recs] == before


def test_trees_invoices_and_rollups_round_trip() -> None:
    trees = at.build_forest([at.price(r) for r in _records()])
    assert _round_trip(trees) == trees
    assert isinstance(_round_trip(trees)[0].owner, MappingProxyType)
    line = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 1), period_end=date(2026, 7, 1),
                          amount=Decimal("12.34"), currency="USD", tags={"project": "helpdesk"})
    assert _round_trip(line) == line
    roll = at.rollup(trees, by=("team",))
    assert _round_trip(roll) == roll


def test_errors_from_a_worker_arrive_whole() -> None:
    bad = at.UsageRecord(provider="openai", model="gpt-9-imaginary", usage=at.Usage(input=1))
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(at.price, bad)
        error = future.exception()
    assert isinstance(error, at.UnknownModel)
    assert error.model == "gpt-9-imaginary"


def _price_chunk(chunk: list[at.UsageRecord]) -> list[at.PricedRecord]:
    return [at.price(r) for r in chunk]


def test_pricing_in_a_process_pool_equals_pricing_here() -> None:
    recs = _records(200)
    chunks = [recs[i:i + 50] for i in range(0, len(recs), 50)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        priced = [p for part in pool.map(_price_chunk, chunks) for p in part]
    here = [at.price(r) for r in recs]
    assert priced == here
    assert at.rollup(priced, by=("team",)) == at.rollup(here, by=("team",))
