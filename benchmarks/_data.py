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


def payloads(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Provider-shaped payloads for the same rows: OpenAI Chat Completions and Anthropic Messages."""
    out: list[dict[str, object]] = []
    for r in rows:
        at_ = r["at"]
        if r["provider"] == "openai":
            inp, cached, output = int(r["input"]), int(r["cached_input"]), int(r["output"])  # type: ignore[call-overload]
            out.append({
                "id": f"chatcmpl-{r['i']}", "object": "chat.completion", "created": int(at_.timestamp()),  # type: ignore[attr-defined]
                "model": r["model"], "choices": [],
                "usage": {"prompt_tokens": inp + cached, "completion_tokens": output,
                          "total_tokens": inp + cached + output,
                          "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
                "metadata": {"team": r["team"]},
            })
        else:
            out.append({
                "id": f"msg_{r['i']}", "type": "message", "role": "assistant", "model": r["model"], "content": [],
                "usage": {"input_tokens": r["input"], "cache_read_input_tokens": r["cached_input"],
                          "cache_creation_input_tokens": r["cache_write"], "output_tokens": r["output"]},
                "metadata": {"team": r["team"]},
            })
    return out


def traced_rows(n: int, traces: int, seed: int = SEED) -> list[dict[str, object]]:
    """Rows grouped into ``traces`` request trees, some calls retries of earlier ones."""
    rng = random.Random(seed + 1)
    rows = raw_rows(n, seed)
    for r in rows:
        t = rng.randrange(traces)
        r["trace_id"] = f"t{t}"
        r["request_id"] = f"r{r['i']}"
        r["attempt"] = 2 if rng.random() < 0.05 else 1
    return rows


def traced_records(rows: list[dict[str, object]]) -> list[at.UsageRecord]:
    return [
        at.UsageRecord(
            provider=str(r["provider"]), model=str(r["model"]), at=r["at"],  # type: ignore[arg-type]
            usage=at.Usage(input=int(r["input"]), output=int(r["output"])),  # type: ignore[call-overload]
            trace_id=str(r["trace_id"]), request_id=str(r["request_id"]), attempt=int(r["attempt"]),  # type: ignore[call-overload]
            tags={"team": str(r["team"])},
        )
        for r in rows
    ]
