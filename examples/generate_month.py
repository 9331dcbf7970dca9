"""Generate the bundled example month: gateway events for June 2026.

Deterministic (fixed seed), so the committed ``gateway-month.jsonl`` is
reproducible: ``python examples/generate_month.py > examples/gateway-month.jsonl``.

What is in it, on purpose:

- four teams (search, support, growth, platform) with features and tenants;
- three providers (OpenAI, Anthropic, Amazon Bedrock) and seven models, with
  cached input, cache writes and reasoning tokens where those models have them;
- retries (a failed attempt that still billed its prompt, then a retry) and
  fallbacks to a bigger model, marked as gateways mark them;
- about 8% of events with no owner fields (a service that forgot to tag);
- a few events logging an internal alias (``gpt-latest``) that no price card
  knows, and one malformed line, which the audit quarantines with a reason
  instead of dropping or pricing at $0.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone

SEED = 20260601
START = datetime(2026, 6, 1, tzinfo=timezone.utc)

# (team, feature, workflow, provider, model, weight, prompt range, output range, cache share)
WORKLOADS = [
    ("search", "autocomplete", "search-suggest-v2", "openai", "gpt-4.1-mini", 30, (600, 2_500), (20, 120), 0.5),
    ("search", "answer", "search-answer-v3", "openai", "gpt-5.4", 12, (4_000, 18_000), (300, 1_500), 0.3),
    ("support", "ticket-triage", "ticket-triage-v4", "bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", 14,
     (6_000, 20_000), (200, 2_200), 0.0),
    ("support", "draft-reply", "draft-reply-v1", "anthropic", "claude-sonnet-4-5-20250929", 10, (3_000, 12_000),
     (400, 1_800), 0.6),
    ("growth", "lifecycle-email", "email-gen-v2", "openai", "gpt-4o-mini", 16, (800, 3_000), (200, 700), 0.0),
    ("growth", "segment-summary", "segments-v1", "anthropic", "claude-haiku-4-5-20251001", 8, (2_000, 9_000),
     (150, 600), 0.4),
    ("platform", "eval-harness", "nightly-evals", "openai", "gpt-4.1", 6, (2_000, 8_000), (100, 900), 0.2),
]
PROJECTS = {"search": "proj_search", "support": "proj_support", "growth": "proj_growth", "platform": "proj_platform"}
TENANTS = ["t_acme", "t_globex", "t_initech", "t_umbrella", "t_hooli"]
ENVS = ["production"] * 9 + ["staging"]
FALLBACK = {"gpt-4.1-mini": "gpt-4.1", "claude-haiku-4-5-20251001": "claude-sonnet-4-5-20250929"}


def events(n: int = 2_400) -> list[dict[str, object]]:
    rng = random.Random(SEED)
    weights = [w[5] for w in WORKLOADS]
    out: list[dict[str, object]] = []
    for i in range(n):
        team, feature, workflow, provider, model, _, prompt_r, out_r, cache_share = rng.choices(WORKLOADS, weights)[0]
        at = START + timedelta(seconds=rng.randrange(30 * 24 * 3600))
        prompt = rng.randint(*prompt_r)
        output = rng.randint(*out_r)
        cached = int(prompt * cache_share * rng.random()) // 128 * 128
        event: dict[str, object] = {
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "request_id": f"req_{i:05d}",
            "trace_id": f"tr_{i:05d}",
            "provider": provider,
            "model_requested": model,
            "model_actual": model,
            "retry_count": 0,
            "fallback_from": None,
        }
        if provider == "anthropic":
            # Anthropic-style counts: input excludes cache reads and writes.
            write = rng.choice([0, 0, 0, 1_024, 2_048]) if cache_share else 0
            event.update(input_tokens=prompt - cached, cache_read_input_tokens=cached,
                         cache_creation_input_tokens=write, output_tokens=output)
        else:
            # OpenAI-style counts: input includes the cached tokens.
            event.update(input_tokens=prompt, cached_input_tokens=cached if provider == "openai" else 0,
                         output_tokens=output)
            if model == "gpt-5.4":
                event["reasoning_tokens"] = output // 3
        if rng.random() >= 0.08:
            event.update(team_id=team, project_id=PROJECTS[team], feature=feature, workflow_id=workflow,
                         tenant_id=rng.choice(TENANTS), environment=rng.choice(ENVS))
        else:  # ~8% of calls come from two services that forgot the ownership contract
            event["metadata"] = {"service": rng.choice(["ingest-worker", "ingest-worker", "legacy-cron"])}
        roll = rng.random()
        if roll < 0.04:
            # A failed first attempt that billed its prompt, then the retry.
            failed = dict(event, request_id=f"{event['request_id']}_a1", output_tokens=0, status="error")
            failed.pop("reasoning_tokens", None)
            out.append(failed)
            event.update(retry_count=1, retry_of=failed["request_id"])
        elif roll < 0.07 and model in FALLBACK:
            event.update(model_actual=FALLBACK[model], fallback_from=model)
        elif roll < 0.075 and provider == "openai":
            event.update(model_requested="gpt-latest", model_actual="gpt-latest")
        out.append(event)
    return out


def main() -> None:
    rows = events()
    for n, row in enumerate(rows):
        sys.stdout.write(json.dumps(row) + "\n")
        if n == 1_000:
            sys.stdout.write('{"timestamp": "2026-06-14T09:00:00Z", "provider": "openai", "model_requested": \n')


if __name__ == "__main__":
    main()
