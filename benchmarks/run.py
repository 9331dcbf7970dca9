"""All benchmarks: throughput and memory of every stage, as ratios to a bare loop and the peers.

Usage::

    python benchmarks/run.py                 # every stage at the default sizes
    python benchmarks/run.py --scale 0.1     # a quick run at a tenth of the sizes
    python benchmarks/run.py --only e2e-dicts,forest

Each stage runs in a fresh subprocess so its peak RSS is its own. Results are
written to ``benchmarks/results/run.json`` and ``run.md``. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import attribution as at  # noqa: E402
import bench_price  # noqa: E402
from attribution.io import read_jsonl  # noqa: E402

Result = dict[str, Any]


def _best(fn: Callable[[], object], n: int, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def stage_e2e_dicts(n: int) -> Result:
    """(b) normalize + price + rollup from provider-shaped dicts, vs a bare loop over the same dicts."""
    rows = _data.raw_rows(n)
    payloads = _data.payloads(rows)
    reg = at.load_registry()
    prices = bench_price._int_prices(reg)

    def bare() -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in payloads:
            u = p["usage"]
            model = p["model"]
            if "prompt_tokens" in u:  # type: ignore[operator]
                cached = u["prompt_tokens_details"]["cached_tokens"]  # type: ignore[index]
                inp, out, write = u["prompt_tokens"] - cached, u["completion_tokens"], 0  # type: ignore[index]
            else:
                cached, inp = u["cache_read_input_tokens"], u["input_tokens"]  # type: ignore[index]
                out, write = u["output_tokens"], u["cache_creation_input_tokens"]  # type: ignore[index]
            pr = prices[model]  # type: ignore[index]
            team = p["metadata"]["team"]  # type: ignore[index]
            totals[team] = totals.get(team, 0) + inp * pr[0] + cached * pr[1] + write * pr[2] + out * pr[3]
        return totals

    def ours() -> at.Rollup:
        return at.rollup(at.price_many(at.normalize_many(payloads), reg), by=("team",))

    r = ours()
    assert r.records == n, r
    return {"baseline_per_s": _best(bare, n), "ours_per_s": _best(ours, n), "total": str(r.total),
            "rss_mb": bench_price._peak_rss_mb()}


def stage_e2e_jsonl(n: int) -> Result:
    """(c) the same from a JSONL file on disk (read, parse to Decimal, normalize, price, roll up)."""
    rows = _data.raw_rows(n)
    payloads = _data.payloads(rows)
    reg = at.load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.jsonl"
        with path.open("w") as fh:
            for p in payloads:
                fh.write(json.dumps(p) + "\n")
        del payloads, rows

        def bare() -> int:
            total = 0
            with path.open() as fh:
                for line in fh:
                    p = json.loads(line)
                    total += p["usage"].get("completion_tokens", 0) + p["usage"].get("output_tokens", 0)
            return total

        def ours() -> at.Rollup:
            return at.rollup(at.price_many(at.normalize_many(read_jsonl(path)), reg), by=("team",))

        r = ours()
        assert r.records == n
        return {"baseline_per_s": _best(bare, n, 1), "ours_per_s": _best(ours, n, 1), "total": str(r.total),
                "file_mb": path.stat().st_size / 1e6, "rss_mb": bench_price._peak_rss_mb()}


def stage_forest(n: int) -> Result:
    """(d) build_forest on n calls in n/5 traces."""
    rows = _data.traced_rows(n, max(1, n // 5))
    reg = at.load_registry()
    priced = [at.price(r, reg) for r in _data.traced_records(rows)]
    del rows

    def ours() -> list[at.RequestTree]:
        return at.build_forest(priced)

    trees = ours()
    assert sum(len(t.calls) for t in trees) == n
    assert sum(t.units for t in trees) == sum(p.units for p in priced)
    return {"ours_per_s": _best(ours, n, 1), "trees": len(trees), "rss_mb": bench_price._peak_rss_mb()}


def stage_month(n: int) -> Result:
    """(e) allocation and reconciliation at month scale: n calls, 30 days x models x meters of invoice lines."""
    rows = _data.raw_rows(n)
    reg = at.load_registry()
    priced = [at.price(r, reg) for r in _data.records(rows)]
    teams = at.rollup(priced, by=("team",))
    policy = at.parse_policy({"policy": {"owner": "team", "central_owner": "platform"},
                              "pools": [{"id": "platform-fee", "amount": Decimal("5000.00"), "method": "proportional",
                                         "by": "requests"}]})
    lines = [at.InvoiceLine(provider=c.provider, period_start=c.day,  # type: ignore[arg-type]
                            period_end=date.fromordinal(c.day.toordinal() + 1),  # type: ignore[union-attr]
                            model=c.model, meter=c.meter, amount=c.amount, currency="USD")
             for c in at.charge_lines(priced, ())]
    t = time.perf_counter()
    alloc = at.apply_policy(teams, policy)
    alloc_s = time.perf_counter() - t
    t = time.perf_counter()
    rep = at.reconcile(priced, lines, contract=at.OwnershipContract(required=("team",)))
    rec_s = time.perf_counter() - t
    assert rep.variance == 0, rep.variance
    assert alloc.total == teams.total + Decimal("5000.00")
    return {"allocate_s": alloc_s, "reconcile_per_s": n / rec_s, "invoice_lines": len(lines),
            "rss_mb": bench_price._peak_rss_mb()}


def stage_audit_stream(n: int) -> Result:
    """Peak RSS of `attribution audit --chunk-size 50000` on an n-record JSONL file (a child process)."""

    sys.path.insert(0, str(HERE.parent / "examples"))
    import generate_month

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.jsonl"
        with path.open("w") as fh:
            done = 0
            while done < n:  # in slices, so the parent stays small too
                step = min(200_000, n - done)
                for row in generate_month.events(step, seed=generate_month.SEED + done):
                    fh.write(json.dumps(row) + "\n")
                done += step
        # The child reports its own high-water mark (VmHWM is per process image, reset at exec),
        # so the parent's memory never leaks into the figure.
        child = ("import sys, attribution.cli as c; code = c.main(sys.argv[1:]); "
                 "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
                 "print('VmHWM', hwm, file=sys.stderr); raise SystemExit(code)")
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", child, "audit", str(path), "--chunk-size", "50000",
                               "--format", "json", "-o", str(Path(tmp) / "report.json")],
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t
        if proc.returncode not in (0, 1):
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        hwm_kb = int(next(line for line in proc.stderr.splitlines() if line.startswith("VmHWM")).split()[1])
        doc = json.loads((Path(tmp) / "report.json").read_text())
        return {"ours_per_s": n / seconds, "child_rss_mb": hwm_kb / 1024, "records_read": doc["totals"]["records_read"],
                "file_mb": path.stat().st_size / 1e6, "rss_mb": bench_price._peak_rss_mb()}


# -- the audit with both engines, against a json.loads loop and a hand-written DuckDB query -----------

_CHILD_RSS = ("import resource, sys; hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]"
              ".split()[1]; print('VmHWM', hwm, file=sys.stderr)")


def _child(code: str, *args: str) -> tuple[float, float, str]:
    """Run ``code`` in a fresh interpreter: (seconds, peak RSS MB, stdout)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + "\n" + _CHILD_RSS, *args], capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    hwm_kb = int(next(line for line in proc.stderr.splitlines() if line.startswith("VmHWM")).split()[1])
    return seconds, hwm_kb / 1024, proc.stdout


_JSON_LOOP = """
import json, sys
total = 0
with open(sys.argv[1]) as fh:
    for line in fh:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        total += e.get("input_tokens", 0) if isinstance(e.get("input_tokens"), int) else 0
print(total)
"""

# The query an analyst would write: typed columns, a price table, cached tokens split out, sum by team.
_DUCKDB_QUERY = """
import json, sys, duckdb
path, prices = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute("SET threads = 2; SET memory_limit = '250MB'")
con.execute("CREATE TABLE p (provider VARCHAR, model VARCHAR, included BOOLEAN, pi HUGEINT, pc HUGEINT, pw HUGEINT,"
            " po HUGEINT)")
con.executemany("INSERT INTO p VALUES (?, ?, ?, ?, ?, ?, ?)", prices)
rows = con.execute(f'''
    SELECT team_id, sum(CASE WHEN p.included THEN input_tokens - cached ELSE input_tokens END * p.pi
                        + cached * p.pc + COALESCE(cache_creation_input_tokens, 0) * p.pw + output_tokens * p.po)
    FROM (SELECT *, COALESCE(cached_input_tokens, cache_read_input_tokens, 0) AS cached
          FROM read_json(?, format='newline_delimited', ignore_errors=true,
                         columns={{'provider': 'VARCHAR', 'model_actual': 'VARCHAR', 'input_tokens': 'BIGINT',
                                   'cached_input_tokens': 'BIGINT', 'cache_read_input_tokens': 'BIGINT',
                                   'cache_creation_input_tokens': 'BIGINT', 'output_tokens': 'BIGINT',
                                   'team_id': 'VARCHAR'}})) e
    JOIN p ON p.provider = e.provider AND p.model = e.model_actual
    GROUP BY team_id''', [path]).fetchall()
print(sum(r[1] for r in rows))
"""

_AUDIT = ("import sys, attribution.cli as c; code = c.main(sys.argv[1:])")


def _write_month(path: Path, n: int) -> None:
    sys.path.insert(0, str(HERE.parent / "examples"))
    import generate_month

    with path.open("w") as fh:
        done = 0
        while done < n:  # in slices, so the parent stays small too
            step = min(200_000, n - done)
            for row in generate_month.events(step, seed=generate_month.SEED + done):
                # The generator numbers ids from 0 in every slice: keep them unique across the month.
                for key in ("request_id", "trace_id", "retry_of"):
                    if row.get(key):
                        row[key] = f"s{done}-{row[key]}"
                fh.write(json.dumps(row) + "\n")
            done += step


def _duckdb_prices() -> str:
    from attribution.normalize.gateway import _CACHED_INCLUDED

    sys.path.insert(0, str(HERE.parent / "examples"))
    import generate_month

    reg = at.load_registry(HERE.parent / "examples" / "pricecards")
    out = []
    models = {(w[3], w[4]) for w in generate_month.WORKLOADS} | {(p, m) for p, m in (
        ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5-20250929"), ("openai", "gpt-latest"))}
    for provider, model in sorted(models):
        rate = reg.resolve(provider, model, date(2026, 6, 15))
        pr = dict(zip(at.METERS, rate.prices, strict=False))
        out.append([provider, model, provider in _CACHED_INCLUDED, pr["input"], max(pr["cached_input"], 0),
                    max(pr["cache_write"], 0), pr["output"]])
    return json.dumps(out)


def stage_audit_engines(n: int) -> Result:
    """The audit of an n-record gateway month with both engines, beside a json.loads loop and a DuckDB query."""
    keep = os.environ.get("BENCH_MONTH_FILE")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(keep) if keep and Path(keep).exists() else Path(tmp) / "month.jsonl"
        if not path.exists():
            _write_month(path, n)
            if keep:
                path.rename(keep)
                path = Path(keep)
        with path.open("rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
        cards = str(HERE.parent / "examples" / "pricecards")
        out: Result = {"records": lines, "file_mb": path.stat().st_size / 1e6}
        s, rss, _ = _child(_JSON_LOOP, str(path))
        out["json_loop"] = {"per_s": lines / s, "rss_mb": rss}
        try:
            s, rss, _ = _child(_DUCKDB_QUERY, str(path), _duckdb_prices())
            out["duckdb_query"] = {"per_s": lines / s, "rss_mb": rss}
        except RuntimeError as exc:
            out["duckdb_query"] = {"error": str(exc)}
        runs = [("fast", ["--engine", "fast"])]
        if n <= 1_000_000 or os.environ.get("BENCH_PYTHON_10M"):
            # The Python engine holds every call in memory (exact trees); --chunk-size streams it.
            runs.append(("python", ["--engine", "python"] + (["--chunk-size", "50000"] if n > 1_000_000 else [])))
        totals = {}
        for name, flags in runs:
            report = Path(tmp) / f"{name}.json"
            s, rss, _ = _child(_AUDIT, "audit", str(path), "--pricecards", cards, *flags, "--format", "json",
                               "-o", str(report))
            doc = json.loads(report.read_text())
            totals[name] = doc["totals"]["cost"]
            out[name] = {"per_s": lines / s, "seconds": s, "rss_mb": rss, "engine": doc["engine"]["name"],
                         "note": doc["engine"]["note"], "total": doc["totals"]["cost"],
                         "records_read": doc["totals"]["records_read"]}
        out["totals_identical"] = len(set(totals.values())) == 1
        out["rss_mb"] = bench_price._peak_rss_mb()
        return out


COLD_START = {
    "python -c pass": "pass",
    "import attrs (our one heavy dependency)": "import attrs",
    "attribution, first run (empty card cache)": "import attribution as a; a.cost('openai', 'gpt-4o', a.Usage(input=1000))",
    "attribution": "import attribution as a; a.cost('openai', 'gpt-4o', a.Usage(input=1000))",
    "genai-prices": ("from genai_prices import Usage, calc_price; "
                     "calc_price(Usage(input_tokens=1000), model_ref='gpt-4o', provider_id='openai')"),
    "tokencost": "from tokencost import calculate_cost_by_tokens; calculate_cost_by_tokens(1000, 'gpt-4o', 'input')",
    "litellm": ("import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; import litellm; "
                "litellm.cost_per_token(model='gpt-4o', prompt_tokens=1000, completion_tokens=0)"),
}


def stage_cold_start(n: int) -> Result:
    """`import X` plus one price in a fresh process, median of n runs (wall clock, milliseconds)."""
    out: Result = {}
    for label, code in COLD_START.items():
        times = []
        warm = dict(os.environ)
        warm.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", code], capture_output=True, env=warm, check=False)  # writes .pyc
        for _ in range(n):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ)
                # Bytecode cached, as after `pip install` (which byte-compiles): some sandboxes set this.
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                if "empty card cache" in label:
                    env["ATTRIBUTION_CACHE_DIR"] = cache
                t = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=False)
                times.append(time.perf_counter() - t)
            if proc.returncode != 0:
                break
        if proc.returncode == 0:
            out[label] = sorted(times)[len(times) // 2] * 1000
    return {"median_ms": out, "runs": n, "rss_mb": bench_price._peak_rss_mb()}


STAGES: dict[str, tuple[Callable[[int], Result], int]] = {
    "cold-start": (stage_cold_start, 9),
    "price": (bench_price.stage_ours, 1_000_000),
    "baseline": (bench_price.stage_baseline, 1_000_000),
    "e2e-dicts": (stage_e2e_dicts, 500_000),
    "e2e-jsonl": (stage_e2e_jsonl, 500_000),
    "forest": (stage_forest, 1_000_000),
    "month": (stage_month, 500_000),
    "audit-stream-1m": (stage_audit_stream, 1_000_000),
    "audit-stream-3m": (stage_audit_stream, 3_000_000),
    "audit-stream-10m": (stage_audit_stream, 10_000_000),
    "audit-engines-200k": (stage_audit_engines, 200_000),
    "audit-engines-10m": (stage_audit_engines, 10_000_000),
    "genai-prices": (bench_price.stage_genai_prices, 20_000),
    "litellm": (bench_price.stage_litellm, 20_000),
    "tokencost": (bench_price.stage_tokencost, 20_000),
}


def _run(name: str, n: int) -> Result | None:
    proc = subprocess.run([sys.executable, __file__, "--stage", name, "--n", str(n)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        print(f"  {name}: skipped ({(proc.stderr.strip().splitlines() or ['failed'])[-1]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _table(res: dict[str, Any]) -> str:
    price = res["price"]
    # The ratio uses the bare loop timed in the price stage's own process, interleaved with ours.
    base = price.get("baseline_per_s") or res["baseline"]["records_per_s"]
    ours = price["price_rollup_per_s"]
    out = [f"Machine: {res['machine']}.", "",
           "| benchmark | records | records/s | ratio | peak RSS MB |", "|---|---:|---:|---|---:|"]

    def row(label: str, n: int, rps: float, ratio: str, rss: float) -> None:
        out.append(f"| {label} | {n:,} | {rps:,.0f} | {ratio} | {rss:,.0f} |")

    row("bare loop: dict rows, int prices, sum by team", res["sizes"]["price"], base, "1.00x", res["baseline"]["rss_mb"])
    row("(a) price() only, pre-normalized records", res["sizes"]["price"], price["price_only_per_s"],
        f"{price['price_only_per_s'] / base:.2f}x bare loop", price["rss_mb"])
    row("(a) rollup(price(r) for r in records) by team", res["sizes"]["price"], ours,
        f"{ours / base:.2f}x bare loop", price["rss_mb"])
    for peer in ("genai-prices", "litellm", "tokencost"):
        p = res.get(peer)
        if p:
            row(f"peer: {peer}", p.get("rows", res["sizes"][peer]), p["records_per_s"],
                f"ours is {ours / p['records_per_s']:.0f}x faster", p["rss_mb"])
    for key, label in (("e2e-dicts", "(b) normalize + price + rollup from provider dicts"),
                       ("e2e-jsonl", "(c) the same from a JSONL file")):
        e = res.get(key)
        if e:
            row(label, res["sizes"][key], e["ours_per_s"],
                f"{e['ours_per_s'] / e['baseline_per_s']:.2f}x its bare loop ({e['baseline_per_s']:,.0f}/s)", e["rss_mb"])
    f = res.get("forest")
    if f:
        row(f"(d) build_forest ({f['trees']:,} trees)", res["sizes"]["forest"], f["ours_per_s"], "", f["rss_mb"])
    for key in ("audit-stream-1m", "audit-stream-3m", "audit-stream-10m"):
        a = res.get(key)
        if a:
            out.append(f"| attribution audit --chunk-size 50000 on a {a['file_mb']:,.0f} MB JSONL | "
                       f"{a['records_read']:,} | {a['ours_per_s']:,.0f} | peak RSS of the audit process | "
                       f"{a['child_rss_mb']:,.0f} |")
    for key in ("audit-engines-200k", "audit-engines-10m"):
        a = res.get(key)
        if not a:
            continue
        base, query = a["json_loop"]["per_s"], a["duckdb_query"].get("per_s")
        out.append(f"| json.loads loop over the {a['file_mb']:,.0f} MB gateway JSONL | {a['records']:,} | "
                   f"{base:,.0f} | 1.00x | {a['json_loop']['rss_mb']:,.0f} |")
        if query:
            out.append(f"| hand-written DuckDB price-and-group query, same file | {a['records']:,} | {query:,.0f} | "
                       f"{query / base:.2f}x json.loads | {a['duckdb_query']['rss_mb']:,.0f} |")
        for engine in ("fast", "python"):
            e = a.get(engine)
            if e:
                vs = f"{e['per_s'] / base:.2f}x json.loads" + (f", {e['per_s'] / query:.2f}x DuckDB query" if query
                                                               else "")
                out.append(f"| attribution audit --engine {engine} (ran: {e['engine']}) | {a['records']:,} | "
                           f"{e['per_s']:,.0f} | {vs} | {e['rss_mb']:,.0f} |")
        out.append(f"| totals identical across engines: {'yes' if a['totals_identical'] else 'NO'} | | | | |")
    m = res.get("month")
    if m:
        row(f"(e) reconcile against {m['invoice_lines']:,} invoice lines", res["sizes"]["month"], m["reconcile_per_s"],
            f"apply_policy: {m['allocate_s'] * 1000:.1f} ms", m["rss_mb"])
    cs = res.get("cold-start")
    if cs:
        ms = cs["median_ms"]
        ours = ms.get("attribution")
        out += ["", f"Cold start: `import` + one price in a fresh process, median of {cs['runs']} runs.", "",
                "| process | ms | vs attribution |", "|---|---:|---|"]
        for label, value in ms.items():
            ratio = "" if not ours or label.startswith("attribution") else f"{value / ours:.1f}x"
            out.append(f"| {label} | {value:,.0f} | {ratio} |")
    out += ["", (f"Exactness (a): fast total {price['total']} == Decimal reference {price['reference_total']}: "
            f"{'yes' if price['exact'] else 'NO'}")]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=sorted(STAGES))
    ap.add_argument("--n", type=int)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every default size (e.g. 0.1)")
    ap.add_argument("--only", help="comma-separated stages, or all (the default leaves out audit-stream-10m)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--keep", action="store_true",
                    help="keep earlier results (run.json) of the stages not run this time")
    ap.add_argument("--render", action="store_true", help="only re-render run.md from run.json")
    args = ap.parse_args()
    if args.render:
        table = _table(json.loads((args.out / "run.json").read_text()))
        (args.out / "run.md").write_text(table + "\n")
        print(table)
        return 0
    if args.stage:
        fn, default = STAGES[args.stage]
        print(json.dumps(fn(args.n or default)))
        return 0
    # The 10M-record audit takes about 20 minutes here: run it with --only audit-stream-10m (or all).
    if args.only == "all":
        chosen = list(STAGES)
    elif args.only:
        chosen = [s.strip() for s in args.only.split(",")]
        unknown = [s for s in chosen if s not in STAGES]
        if unknown:
            ap.error(f"unknown stage {', '.join(unknown)}; stages: all, {', '.join(STAGES)}")
    else:
        chosen = [s for s in STAGES if s not in ("audit-stream-10m", "audit-engines-10m")]
    # Every ratio compares the price stage with the bare loop or a peer: time all of them in this
    # run, so that no ratio mixes two runs (two moments of a noisy machine).
    for needed in ("tokencost", "litellm", "genai-prices", "price", "baseline"):
        if needed not in chosen:
            chosen.insert(0, needed)
    res: dict[str, Any] = {"sizes": {}}
    earlier = args.out / "run.json"
    if args.keep and earlier.exists():
        res = json.loads(earlier.read_text())
    res["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                      f"attribution {at.__version__}")
    for name in chosen:
        fixed = ("genai-prices", "litellm", "tokencost", "cold-start")
        n = max(1, int(STAGES[name][1] * (args.scale if name not in fixed else 1)))
        res["sizes"][name] = n
        print(f"running {name} on {n:,} records...", file=sys.stderr)
        res[name] = _run(name, n)
    table = _table(res)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "run.md").write_text(table + "\n")
    return 0 if res["price"] and res["price"]["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
