"""Reproducible synthetic usage for the benchmarks (fixed seed).

Mixed providers and models, cached and cache-write tokens, a batch share,
owners. The same records feed our engine, the bare-loop baseline and the
peers, so ratios compare like with like.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import attribution as at

SEED = 7
START = datetime(2026, 6, 1, tzinfo=timezone.utc)

# (provider, model, has cache reads, has cache writes)
MODELS = [
    ("openai", "gpt-4o", True, False),
    ("openai", "gpt-4o-mini", True, False),
    ("openai", "gpt-4.1", True, False),
    ("openai", "gpt-4.1-mini", True, False),
    ("openai", "gpt-5", True, False),
    ("openai", "gpt-5-mini", True, False),
    ("anthropic", "claude-sonnet-4-20250514", True, True),
    ("anthropic", "claude-haiku-4-5-20251001", True, True),
]
TEAMS = ["search", "support", "growth", "platform", "data", "risk"]


def raw_rows(n: int, seed: int = SEED) -> list[dict[str, object]]:
    """Plain dict rows: the shape a bare loop and the peers consume."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        provider, model, reads, writes = MODELS[rng.randrange(len(MODELS))]
        inp = rng.randint(200, 20_000)
        rows.append({
            "i": i,
            "provider": provider,
            "model": model,
            "input": inp,
            "cached_input": rng.randint(0, inp // 2) if reads else 0,
            "cache_write": rng.choice((0, 0, 0, 1024)) if writes else 0,
            "output": rng.randint(10, 2_000),
            "team": TEAMS[rng.randrange(len(TEAMS))],
            "at": START + timedelta(seconds=rng.randrange(30 * 86_400)),
        })
    return rows


def records(rows: list[dict[str, object]]) -> list[at.UsageRecord]:
    """Pre-normalized usage records for the same rows."""
    return [
        at.UsageRecord(
            provider=str(r["provider"]), model=str(r["model"]), at=r["at"],  # type: ignore[arg-type]
            usage=at.Usage(input=int(r["input"]), cached_input=int(r["cached_input"]),  # type: ignore[call-overload]
                           cache_write=int(r["cache_write"]), output=int(r["output"])),  # type: ignore[call-overload]
            tags={"team": str(r["team"])},
        )
        for r in rows
    ]
