"""attribution.dask: the cluster's rollup equals the single-process one, exactly.

The month of gateway events in ``examples/`` is split into several JSONL
files (one with Windows line endings, one gzipped, some bad lines and blank
lines added), rolled up on a two-process ``LocalCluster`` and compared with
``rollup(price_many(normalize_many(read_jsonl(...))))`` in this process:
``==`` on the rollups (every key, count, token and money unit, quarantine
counts by reason), and ``records in == priced + quarantined``.
"""

from __future__ import annotations

import gzip
import itertools
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import attribution as at
from attribution.dask import read_jsonl_bag, rollup_bag, rollup_dataframe
from attribution.io import read_jsonl

try:
    import dask
    import dask.bag as db
    import dask.dataframe as dd
    import distributed
    import pandas as pd
except ImportError:  # pragma: no cover - the dev extra installs them
    HAVE_DASK = False
else:
    HAVE_DASK = True

needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="needs the 'dask' extra: pip install 'attribution[dask]'")

ROOT = Path(__file__).resolve().parents[1]
MONTH = ROOT / "examples" / "gateway-month.jsonl"
CARDS = ROOT / "examples" / "pricecards"   # the company's own card: gpt-latest is gpt-4.1-mini

# Lines a crashed logger or a careless caller leaves behind, each with the
# reason it must be quarantined with.
BAD_LINES = {
    "bad_json": '{"timestamp": "2026-06-03T10:00:00Z", "provider": "openai", "model_requested": ',
    "bad_type": "[1, 2, 3]",
    "unknown_model": ('{"timestamp": "2026-06-03T10:00:00Z", "request_id": "req_bad_model", "provider": "openai", '
                      '"model_requested": "gpt-nonexistent", "input_tokens": 100, "output_tokens": 5, '
                      '"team_id": "search"}'),
    "negative_count": ('{"timestamp": "2026-06-04T10:00:00Z", "request_id": "req_negative", "provider": "openai", '
                       '"model_requested": "gpt-4.1-mini", "input_tokens": -100, "output_tokens": 5, '
                       '"team_id": "search"}'),
}


@pytest.fixture(scope="module")
def month_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """About 5,000 events in six files: the example month twice (the second copy with new ids), plus bad lines."""
    folder = tmp_path_factory.mktemp("logs")
    lines = MONTH.read_text(encoding="utf-8").splitlines()
    copy = [line.replace('"req_', '"req2_').replace('"tr_', '"tr2_') for line in lines]
    events = lines + copy
    parts = [events[i::6] for i in range(6)]
    parts[1][10:10] = [BAD_LINES["bad_json"], "", BAD_LINES["bad_type"]]
    parts[3][0:0] = [BAD_LINES["unknown_model"], "   "]
    parts[4].append(BAD_LINES["negative_count"])
    files = []
    for i, part in enumerate(parts):
        text = "".join(f"{line}\n" for line in part)
        if i == 2:
            path = folder / f"part-{i}.jsonl"
            path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))   # written on Windows
        elif i == 5:
            path = folder / f"part-{i}.jsonl.gz"
            path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        else:
            path = folder / f"part-{i}.jsonl"
            path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


@pytest.fixture(scope="module")
def registry() -> at.Registry:
    return at.load_registry(CARDS)


def read_all(files: list[Path]) -> Iterator[Any]:
    return itertools.chain.from_iterable(read_jsonl(f) for f in files)


def single_process(files: list[Path], by: tuple[str, ...], registry: at.Registry) -> at.Rollup:
    return at.rollup(at.price_many(at.normalize_many(read_all(files)), registry), by=by)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes on this machine, one thread each; nothing listens beyond localhost."""
    if not HAVE_DASK:
        pytest.skip("needs the 'dask' extra: pip install 'attribution[dask]'")
    # The scheduler's small HTTP server starts even without a dashboard: on a
    # random localhost port, so a busy 8787 cannot make it warn (an error here).
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster, distributed.Client(cluster) as c:
        yield c


def input_records(files: list[Path]) -> int:
    """Non-blank lines: each holds one gateway event, so each is one record in."""
    return sum(1 for f in files for line in read_lines(f) if line.strip())


def read_lines(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8").splitlines()


# -- on the cluster -------------------------------------------------------------


@needs_dask
def test_bag_of_jsonl_files_rolls_up_on_the_cluster_exactly_as_in_one_process(
        client: Any, month_files: list[Path], registry: at.Registry) -> None:
    by = ("team", "feature", "day")
    expected = single_process(month_files, by, registry)
    with distributed.get_task_stream() as tasks:
        got = rollup_bag(read_jsonl_bag(month_files), by=by, registry_paths=[CARDS])
    assert len({t["worker"] for t in tasks.data}) == 2   # both worker processes took partitions
    assert got == expected
    assert got.total == expected.total
    assert got.total > Decimal("90")   # the month twice, priced with the company's card
    assert got.usage == expected.usage
    # Every line in is priced or quarantined, with the reason the bad lines were planted for.
    assert got.quarantined == {"bad_json": 3, "bad_type": 1, "unknown_model": 1, "negative_count": 1}
    assert got.records + sum(got.quarantined.values()) == input_records(month_files) == 5004 + 4
    assert got.records == 5004 - 2   # the example month's one truncated line, twice


@needs_dask
def test_files_split_into_byte_ranges_give_the_same_rollup_and_the_same_line_numbers(
        client: Any, month_files: list[Path], registry: at.Registry) -> None:
    bag = read_jsonl_bag(str(month_files[0].parent / "part-*"), blocksize="24KiB")
    assert bag.npartitions > 2 * len(month_files)
    by = ("provider", "priced_model", "role", "month")
    assert rollup_bag(bag, by=by, registry=registry, split_every=3) == \
        single_process(month_files, by, registry)
    # The items themselves, payloads parsed to Decimal, with file and line, as read_jsonl yields them.
    assert bag.compute() == list(read_all(month_files))


@needs_dask
def test_custom_price_cards_travel_to_the_workers(client: Any, month_files: list[Path]) -> None:
    """Without the company's card, ``gpt-latest`` is an unknown model on the workers too."""
    bundled = rollup_bag(read_jsonl_bag(month_files), by=("model",))
    assert bundled == single_process(month_files, ("model",), at.default_registry())
    with_card = rollup_bag(read_jsonl_bag(month_files), by=("model",), registry_paths=[CARDS])
    assert bundled.quarantined["unknown_model"] > with_card.quarantined["unknown_model"] == 1
    assert ("gpt-latest",) in with_card
    assert ("gpt-latest",) not in bundled


def usage_frame(records: list[at.UsageRecord]) -> Any:
    """One row per usage record, the columns a warehouse table of LLM calls would have."""
    tags = ("team", "project", "feature", "workflow", "tenant", "environment")
    return pd.DataFrame({
        "provider": [r.provider for r in records],
        "model": [r.model for r in records],
        "model_billed": [r.model_billed for r in records],
        "timestamp": pd.to_datetime([r.at for r in records], utc=True),
        "request_id": [r.request_id for r in records],
        "attempt": [r.attempt for r in records],
        "retry_of": [r.retry_of for r in records],
        "fallback_from": [r.fallback_from for r in records],
        "outcome": [r.outcome for r in records],
        "service_tier": [r.service_tier for r in records],
        **{m: [getattr(r.usage, m) for r in records] for m in at.METERS},
        **{t: [r.tags.get(t) for r in records] for t in tags},
    })


@needs_dask
def test_dataframe_of_usage_columns_rolls_up_on_the_cluster_exactly(
        client: Any, month_files: list[Path], registry: at.Registry) -> None:
    records = [r for r in at.normalize_many(read_all(month_files)) if isinstance(r, at.UsageRecord)]
    frame = usage_frame(records)
    assert str(frame["input"].dtype) == "int64"
    # Two rows that cannot be records: no model, and a negative count.
    bad = frame.iloc[:2].copy()
    bad.loc[bad.index[0], "model"] = None
    bad.loc[bad.index[1], "output"] = -5
    frame = pd.concat([frame, bad], ignore_index=True)
    by = ("team", "model", "role", "day")
    expected = at.rollup(itertools.chain(
        at.price_many(records, registry),
        [at.Quarantined(code="missing_field", message="", stage="normalize"),
         at.Quarantined(code="negative_count", message="", stage="normalize")]), by=by)

    got = rollup_dataframe(dd.from_pandas(frame, npartitions=7), by=by, registry_paths=[CARDS])
    assert got == expected
    assert got.total == expected.total
    assert got.records + sum(got.quarantined.values()) == len(frame)
    assert got.quarantined == {"missing_field": 1, "negative_count": 1, "unknown_model": 1}


# -- without a cluster (the synchronous scheduler) ---------------------------------------


@pytest.fixture
def sync() -> Iterator[None]:
    if not HAVE_DASK:
        pytest.skip("needs the 'dask' extra: pip install 'attribution[dask]'")
    with dask.config.set(scheduler="sync"):
        yield


def test_reading_splits_lines_exactly_at_every_block_size(sync: None, tmp_path: Path) -> None:
    """Ranges may start anywhere: mid-line, on a line break, inside a CRLF pair, on a blank line."""
    lines = [f'{{"n": {i}, "cost": 0.0{i}, "who": "é"}}' for i in range(12)]   # numbers, non-ASCII text
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join([*lines[:4], "", '{"cut": ', "  ", *lines[4:8], "\n"]), encoding="utf-8")
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes("\r\n".join([*lines[8:], "", "[1, 2]"]).encode("utf-8"))   # no final line break
    expected = list(read_all([plain, crlf]))
    assert [x.source.line for x in expected] == [1, 2, 3, 4, 6, 8, 9, 10, 11, 1, 2, 3, 4, 6]
    assert expected[1].payload["cost"] == Decimal("0.01")
    for blocksize in (1, 2, 3, 50, 333, 1000, 10**9):
        bag = read_jsonl_bag([plain, crlf], blocksize=blocksize)
        assert bag.compute() == expected, blocksize


def test_a_glob_that_matches_nothing_or_a_missing_file_fails_on_the_client(sync: None, tmp_path: Path) -> None:
    with pytest.raises(at.NormalizeError, match="no file matches") as info:
        read_jsonl_bag(str(tmp_path / "*.jsonl"))
    assert info.value.code == "no_files"
    with pytest.raises(at.NormalizeError, match="no such file"):
        read_jsonl_bag(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="blocksize"):
        read_jsonl_bag(MONTH, blocksize=0)


def test_a_bag_of_payload_dicts_with_normalize_hints(sync: None) -> None:
    payloads = [{"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1748779200, "model": "gpt-4o",
                 "choices": [], "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}} for i in range(10)]
    bag = db.from_sequence([*payloads, "junk"], npartitions=3)
    r = rollup_bag(bag, by=("team",), tags={"team": "search"})
    assert r[("search",)].cost == Decimal("25.00")   # 10 x 1M input tokens of gpt-4o at $2.50
    assert r.quarantined == {"bad_type": 1}
    with pytest.raises(TypeError, match="unknown normalize hint"):
        rollup_bag(bag, colour="blue")
    with pytest.raises(TypeError, match="not both"):
        rollup_bag(bag, registry=at.default_registry(), registry_paths=[CARDS])


def test_a_bad_price_card_fails_on_the_client_naming_its_file(sync: None, tmp_path: Path) -> None:
    card = tmp_path / "ours.toml"
    card.write_text('[card]\nprovider = "openai"\n', encoding="utf-8")
    with pytest.raises(at.PriceCardError, match=r"ours\.toml"):
        rollup_bag(db.from_sequence([{}], npartitions=1), registry_paths=[card])


def test_an_empty_bag_is_an_empty_rollup(sync: None) -> None:
    assert rollup_bag(db.from_sequence([], npartitions=1), by=("team",)) == at.Rollup(("team",))


def frame_of(**columns: Any) -> Any:
    base: dict[str, Any] = {"provider": ["openai"] * 3, "model": ["gpt-4o"] * 3,
                            "timestamp": pd.to_datetime(["2025-06-01T12:00:00Z"] * 3, utc=True)}
    base.update(columns)
    return dd.from_pandas(pd.DataFrame(base), npartitions=2)


def test_float_token_columns_are_refused_before_any_work(sync: None) -> None:
    with pytest.raises(at.InvalidUsage, match="float") as info:
        rollup_dataframe(frame_of(input=[1000.0, 2000.0, 3000.0]))
    assert info.value.meter == "input"
    assert "astype" in str(info.value)


def test_naive_timestamps_are_refused(sync: None) -> None:
    with pytest.raises(at.InvalidTimestamp, match="tz_localize"):
        rollup_dataframe(frame_of(timestamp=pd.to_datetime(["2025-06-01 12:00"] * 3), input=[1, 2, 3]))


def test_timestamps_in_any_zone_fall_in_utc_day_buckets(sync: None) -> None:
    paris = pd.to_datetime(["2025-06-01 01:30"] * 3).tz_localize("Europe/Paris")   # 23:30 UTC the day before
    r = rollup_dataframe(frame_of(timestamp=paris, input=[1, 2, 3]), by=("day",))
    assert r.keys() == [("2025-05-31",)]


def test_dataframe_columns_by_other_names_nullable_counts_and_object_columns(sync: None) -> None:
    """Columns mapped by name; missing counts are 0; a float in an object column quarantines its row."""
    ddf = frame_of(prompt=pd.array([1_000_000, None, 2_000_000], dtype="Int64"),
                   cached=pd.Series([0, "1000000", 1.5], dtype=object),
                   team_id=["search", None, "support"])
    r = rollup_dataframe(ddf, by=("team",), columns={"input": "prompt", "cached_input": "cached"},
                                 tags={"team": "team_id"})
    when = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    assert r[("search",)].cost == at.cost("openai", "gpt-4o", at.Usage(input=1_000_000), at=when)
    assert r[(None,)].cost == at.cost("openai", "gpt-4o", at.Usage(cached_input=1_000_000), at=when)
    assert r.quarantined == {"bad_type": 1}
    with pytest.raises(KeyError, match="model"):
        rollup_dataframe(dd.from_pandas(pd.DataFrame({"provider": ["openai"]}), npartitions=1))
    with pytest.raises(ValueError, match="unknown record field"):
        rollup_dataframe(ddf, columns={"tokens": "prompt"})


def test_missing_dask_is_a_clear_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("dask", "dask.bag", "dask.dataframe"):
        monkeypatch.setitem(sys.modules, name, None)
    for call in (lambda: read_jsonl_bag(MONTH), lambda: rollup_bag(None),
                 lambda: rollup_dataframe(None)):
        with pytest.raises(at.MissingDependency, match=r"pip install 'attribution\[dask\]'") as info:
            call()
        assert info.value.extra == "dask"


def test_quarantine_reasons_of_the_planted_lines(month_files: list[Path], registry: at.Registry) -> None:
    """The single-process reference itself: each planted line lands where it should."""
    r = single_process(month_files, ("team",), registry)
    assert Counter(r.quarantined) == Counter({"bad_json": 3, "bad_type": 1, "unknown_model": 1, "negative_count": 1})
