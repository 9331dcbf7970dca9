"""Pricing throughput: our engine vs a bare loop and the peers, in one process.

Usage::

    python benchmarks/bench_price.py            # 1,000,000 records
    python benchmarks/bench_price.py --n 200000 --peer-n 20000

Each stage runs in a fresh subprocess so its peak RSS is its own. Reported:
records/s, the ratio to the bare-loop baseline measured in the same
subprocess run (ratios, because absolute times are noisy on shared machines),
and peak RSS. Peers (genai-prices, litellm, tokencost; ``pip install -e
'.[bench]'``) run on the first ``--peer-n`` records of the same data.
Results go to ``benchmarks/results/price.json`` and ``price.md``.

The run also checks exactness: the grand total from the fast path must equal
a slow, obviously-correct ``Decimal`` computation over the same records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import attribution as at  # noqa: E402

METERS = ("input", "cached_input", "cache_write", "output")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Any, n: int, repeat: int = 3) -> float:
    """Best records/s over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def _int_prices(reg: at.Registry) -> dict[str, tuple[int, ...]]:
    """Per-token integer unit prices per model, as a hand-written loop would keep them."""
    out = {}
    for provider, model, _, _ in _data.MODELS:
        rate = reg.resolve(provider, model, _data.START)
        out[model] = tuple(max(rate.prices[at.METERS.index(m)], 0) for m in METERS)
    return out


def bare_loop(rows: list[dict[str, Any]], prices: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """The baseline: integer unit prices by model, multiply and add, sum by team; nothing else."""
    totals: dict[str, int] = {}
    for r in rows:
        p = prices[r["model"]]
        c = r["input"] * p[0] + r["cached_input"] * p[1] + r["cache_write"] * p[2] + r["output"] * p[3]
        team = r["team"]
        totals[team] = totals.get(team, 0) + c
    return totals


def stage_baseline(n: int) -> dict[str, Any]:
    rows = _data.raw_rows(n)
    prices = _int_prices(at.load_registry())
    return {"records_per_s": _timed(lambda: bare_loop(rows, prices), n), "rss_mb": _peak_rss_mb()}


def stage_ours(n: int) -> dict[str, Any]:
    rows = _data.raw_rows(n)
    recs = _data.records(rows)
    reg = at.load_registry()
    price = at.price
    result: dict[str, Any] = {}

    def price_only() -> None:
        for r in recs:
            price(r, reg)

    def price_rollup() -> at.Rollup:
        return at.rollup((price(r, reg) for r in recs), by=("team",))

    # The bare loop runs here too, interleaved with ours, so that both ratios come from the
    # same process and the same moments of a noisy machine (best of each).
    prices = _int_prices(reg)

    def bare() -> dict[str, int]:
        return bare_loop(rows, prices)

    best = {"baseline_per_s": 0.0, "price_only_per_s": 0.0, "price_rollup_per_s": 0.0}
    for _ in range(3):
        for key, fn in (("baseline_per_s", bare), ("price_only_per_s", price_only),
                        ("price_rollup_per_s", price_rollup)):
            best[key] = max(best[key], _timed(fn, n, repeat=1))
    result.update(best)
    total = price_rollup().total
    result["total"] = str(total)
    result["reference_total"] = str(_reference_total(rows, reg))
    result["exact"] = total == _reference_total(rows, reg)
    result["rss_mb"] = _peak_rss_mb()
    return result


def _reference_total(rows: list[dict[str, Any]], reg: at.Registry) -> Decimal:
    """Slow and obvious: Decimal price per 1M tokens from the card, times tokens, summed."""
    per_model: dict[str, dict[str, Decimal]] = {}
    for info in reg.models():
        period = info.periods[-1]
        per_model[info.id] = period.meter_prices()
    total = Decimal(0)
    for r in rows:
        p = per_model[r["model"]]
        amounts = {
            "input": Decimal(r["input"]) * p.get("input", Decimal(0)),
            "cached_input": Decimal(r["cached_input"]) * p.get("cached_input", Decimal(0)),
            "cache_write": Decimal(r["cache_write"]) * p.get("cache_write", Decimal(0)),
            "output": Decimal(r["output"]) * p.get("output", Decimal(0)),
        }
        total += sum(amounts.values(), Decimal(0)) / Decimal(1_000_000)
    return at._money.to_decimal(at._money.from_decimal(total))


def stage_genai_prices(n: int) -> dict[str, Any]:
    from genai_prices import Usage, calc_price

    rows = _data.raw_rows(n)

    def loop() -> Decimal:
        total = Decimal(0)
        for r in rows:
            # genai-prices counts the whole prompt as input, cache reads and writes included.
            u = Usage(input_tokens=r["input"] + r["cached_input"] + r["cache_write"],
                      cache_read_tokens=r["cached_input"],
                      cache_write_tokens=r["cache_write"], output_tokens=r["output"])
            total += calc_price(u, r["model"], provider_id=r["provider"],
                                genai_request_timestamp=r["at"]).total_price
        return total

    return {"records_per_s": _timed(loop, n, repeat=1), "rss_mb": _peak_rss_mb()}


def stage_litellm(n: int) -> dict[str, Any]:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no network at import
    import litellm

    rows = _data.raw_rows(n)

    def loop() -> float:
        total = 0.0
        for r in rows:
            p, c = litellm.cost_per_token(
                model=r["model"], prompt_tokens=r["input"] + r["cached_input"] + r["cache_write"],
                completion_tokens=r["output"],
                cache_read_input_tokens=r["cached_input"], cache_creation_input_tokens=r["cache_write"],
                custom_llm_provider=r["provider"])
            total += p + c
        return total

    return {"records_per_s": _timed(loop, n, repeat=1), "rss_mb": _peak_rss_mb()}


def stage_tokencost(n: int) -> dict[str, Any]:
    from tokencost import calculate_cost_by_tokens as cbt

    rows = []
    for r in _data.raw_rows(n):
        try:  # tokencost's table predates some of the models; keep the rows it can price
            cbt(1, r["model"], "input")
        except KeyError:
            continue
        rows.append(r)

    def loop() -> Decimal:
        total = Decimal(0)
        for r in rows:
            total += cbt(r["input"], r["model"], "input")
            total += cbt(r["cached_input"], r["model"], "cached")
            total += cbt(r["output"], r["model"], "output")
        return total

    return {"records_per_s": _timed(loop, len(rows), repeat=1), "rss_mb": _peak_rss_mb(), "rows": len(rows)}


STAGES = {
    "baseline": stage_baseline,
    "ours": stage_ours,
    "genai-prices": stage_genai_prices,
    "litellm": stage_litellm,
    "tokencost": stage_tokencost,
}


def _run_stage(name: str, n: int) -> dict[str, Any] | None:
    proc = subprocess.run([sys.executable, __file__, "--stage", name, "--n", str(n)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"  {name}: skipped ({last})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--peer-n", type=int, default=20_000)
    ap.add_argument("--stage", choices=sorted(STAGES))
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(STAGES[args.stage](args.n)))
        return 0

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "n": args.n, "peer_n": args.peer_n,
    }
    for name in STAGES:
        n = args.n if name in ("baseline", "ours") else args.peer_n
        print(f"running {name} on {n:,} records...", file=sys.stderr)
        results[name] = _run_stage(name, n)
    base = results["baseline"]["records_per_s"]
    ours = results["ours"]
    rows = [("bare loop (dict rows, int prices, sum by team)", base, results["baseline"]["rss_mb"])]
    rows.append(("attribution price() only", ours["price_only_per_s"], ours["rss_mb"]))
    rows.append(("attribution rollup(price(r) ...) by team", ours["price_rollup_per_s"], ours["rss_mb"]))
    rows.extend((f"{peer} (price only)", results[peer]["records_per_s"], results[peer]["rss_mb"])
                for peer in ("genai-prices", "litellm", "tokencost") if results.get(peer))
    lines = [f"Machine: {results['machine']}; {args.n:,} records (peers: {args.peer_n:,}).", "",
             "| benchmark | records/s | vs bare loop | ours (price+rollup) vs it | peak RSS MB |",
             "|---|---:|---:|---:|---:|"]
    for label, rps, rss in rows:
        lines.append(f"| {label} | {rps:,.0f} | {rps / base:.2f}x | {ours['price_rollup_per_s'] / rps:.1f}x "
                     f"| {rss:,.0f} |")
    lines += ["", (f"Exactness: fast total {ours['total']} == Decimal reference {ours['reference_total']}: "
              f"{'yes' if ours['exact'] else 'NO'}")]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "price.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "price.md").write_text(table + "\n")
    return 0 if ours["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
