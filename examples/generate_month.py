"""Generate the bundled example month: June 2026 for a company with four teams.

Deterministic (fixed seed), so the committed files are reproducible::

    python examples/generate_month.py      # rewrites every file below

Files written next to this script:

- ``gateway-month.jsonl``: one gateway event per provider call (seed 002's shape);
- ``owners.toml``: the owner map (team -> cost center, budget line, owner, budget);
- ``pricecards/acme-openai.toml``: the company's own card: ``gpt-latest``,
  an internal alias some services log, is the billable ``gpt-4.1-mini``
  (without this card those calls are quarantined as ``unknown_model``);
- ``policy.toml``: the shared-cost policy (platform fee by request volume,
  untagged spend retained centrally by the platform team);
- ``invoices/``: what the providers billed, in their own export formats: the
  OpenAI Costs API (one page of daily buckets), the Anthropic cost report,
  and AWS CUR 2.0 rows for Bedrock. They are computed from the true usage at
  the bundled card prices, with the two differences a real month has (so the
  reconciliation shows a variance and its causes rather than matching by
  construction): a **usage gap** (calls the providers billed that never
  reached the gateway log: the log shipper was down on 2026-06-19 from
  10:00 to 18:00 UTC) and a **price change** (from 2026-06-22 AWS bills
  Claude Sonnet 4 input tokens at $3.30 per 1M instead of the card's $3.00;
  made up for the example, no such change was announced). The alias no card
  knows is billed as the model it stands for.

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
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent

SEED = 20260601
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
#: The usage gap: the gateway's log shipper was down for these hours; the calls were made and billed.
GAP_START = datetime(2026, 6, 19, 10, tzinfo=timezone.utc)
GAP_HOURS = 8
#: The price change the bundled card does not know (made up for the example): from this day AWS bills
#: Claude Sonnet 4 input tokens at 1.1 x the card's price ($3.30 instead of $3.00 per 1M).
PRICE_CHANGE_DAY = "2026-06-22"
PRICE_CHANGE = ("bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "input", Decimal("1.1"))

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


def events(n: int = 2_400, seed: int = SEED, start: datetime = START,
           seconds: int = 30 * 24 * 3600) -> list[dict[str, object]]:
    rng = random.Random(seed)
    weights = [w[5] for w in WORKLOADS]
    out: list[dict[str, object]] = []
    for i in range(n):
        team, feature, workflow, provider, model, _, prompt_r, out_r, cache_share = rng.choices(WORKLOADS, weights)[0]
        at = start + timedelta(seconds=rng.randrange(seconds))
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


ALIAS_TARGET = "gpt-4.1-mini"   # what the internal alias gpt-latest really runs
OWNERS = """# Owner map for the example month: team -> cost center, budget line, named owner, monthly budget.
[[owners]]
match = { team = "search" }
cost_center = "CC-1001"
budget_line = "search-ai"
owner = "Dana Chen"
monthly_budget = 25.00

[[owners]]
match = { team = "support" }
cost_center = "CC-2002"
budget_line = "support-ai"
owner = "Sam Ortiz"
monthly_budget = 24.00

[[owners]]
match = { team = "growth" }
cost_center = "CC-3003"
budget_line = "growth-ai"
owner = "Priya Natarajan"
monthly_budget = 5.00

[[owners]]
match = { team = "platform" }
cost_center = "CC-9000"
budget_line = "ai-platform"
owner = "Lee Morgan"
monthly_budget = 10.00
"""
ACME_CARD = """# The company's own card, layered over the bundled ones: internal aliases its services log.
[card]
provider = "openai"
version = "acme-openai-2026-06"
read_on = 2026-06-01
source = "ACME platform team: model routing table (internal wiki)"

[[aliases]]
alias = "gpt-latest"
model = "gpt-4.1-mini"
note = "the gateway's default route in June 2026"
"""
POLICY = """# Shared-cost policy for the example month (seed 002's approach).
[policy]
name = "example-2026-06"
owner = "team"
central_owner = "platform"

[[pools]]
id = "gateway-and-tracing"
description = "LLM gateway, tracing backend and evaluation harness: a fixed monthly bill"
amount = 12.00
method = "proportional"
by = "requests"
exclude = ["platform"]

[[pools]]
id = "untagged"
description = "Calls from services that do not send the ownership contract yet"
where = { team = "__missing__" }
method = "retain"
"""


def _money(value: Decimal, places: str = "0.000001") -> Decimal:
    return value.quantize(Decimal(places))


def gap_events() -> list[dict[str, object]]:
    """The calls made while the log shipper was down: billed by the providers, absent from the log.

    As many as the month's rate gives those hours (2,400 user requests in 720 hours), drawn from
    the same workloads with their own seed.
    """
    return events(n=round(2_400 * GAP_HOURS / 720), seed=SEED + 19, start=GAP_START, seconds=GAP_HOURS * 3600)


def invoices(rows: list[dict[str, object]], unlogged: Sequence[dict[str, object]] = ()) -> dict[str, str]:
    """Provider exports for the month: the true usage (``rows`` plus the ``unlogged`` calls) at the
    bundled card prices, except for :data:`PRICE_CHANGE` from :data:`PRICE_CHANGE_DAY`."""
    sys.path.insert(0, str(HERE.parent / "src"))
    import attribution as at

    billed: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])  # (prov, day, model, meter, project)
    for row in [*rows, *unlogged]:
        model = str(row["model_actual"])
        if model == "gpt-latest":
            model = ALIAS_TARGET
        rec = at.normalize({**row, "model_actual": model, "model_requested": model})
        p = at.price(rec)
        day = str(row["timestamp"])[:10]
        project = str(row.get("project_id") or "proj_default")
        for line in p.lines:
            amount = line.amount
            if (rec.provider, p.rate.model, line.meter) == PRICE_CHANGE[:3] and day >= PRICE_CHANGE_DAY:
                amount = amount * PRICE_CHANGE[3]
            units = at._money.from_decimal(amount)
            cell = billed[(rec.provider, day, p.rate.model, line.meter, project)]
            cell[0] += line.quantity
            cell[1] += units
    out = {}
    # OpenAI Costs API: one page, a bucket per day, results per line item and project.
    names = {"gpt-4.1-mini": "gpt-4.1-mini-2025-04-14", "gpt-4.1": "gpt-4.1-2025-04-14", "gpt-4o-mini":
             "gpt-4o-mini-2024-07-18", "gpt-5.4": "gpt-5.4-2026-03-05"}
    words = {"input": "input", "cached_input": "cached input", "output": "output"}
    buckets: dict[str, list[dict[str, object]]] = defaultdict(list)
    for (prov, day, model, meter, project), (_, units) in sorted(billed.items()):
        if prov == "openai":
            amount = Decimal(units).scaleb(-15)
            buckets[day].append({"object": "organization.costs.result",
                                 "amount": {"value": float(_money(amount)), "currency": "usd"},
                                 "line_item": f"{names.get(model, model)}, {words[meter]}", "project_id": project})
    page = {"object": "page", "has_more": False, "next_page": None, "data": []}
    for day, results in sorted(buckets.items()):
        start = int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())
        page["data"].append({"object": "bucket", "start_time": start, "end_time": start + 86_400,  # type: ignore[union-attr]
                             "results": results})
    out["invoices/openai-costs-2026-06.json"] = json.dumps(page, indent=1) + "\n"
    # Anthropic cost report: amounts in cents as decimal strings.
    token_types = {"input": "uncached_input_tokens", "cached_input": "cache_read_input_tokens", "output": "output_tokens",
                   "cache_write": "cache_creation.ephemeral_5m_input_tokens",
                   "cache_write_1h": "cache_creation.ephemeral_1h_input_tokens"}
    merged: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])  # no projects here
    for (prov, day, model, meter, _project), (qty, units) in billed.items():
        merged[(prov, day, model, meter)][0] += qty
        merged[(prov, day, model, meter)][1] += units
    days: dict[str, list[dict[str, object]]] = defaultdict(list)
    for (prov, day, model, meter), (_, units) in sorted(merged.items()):
        if prov == "anthropic":
            cents = Decimal(units).scaleb(-13)
            days[day].append({"amount": str(_money(cents, "0.0001")), "currency": "USD", "cost_type": "tokens",
                              "token_type": token_types[meter], "model": model, "service_tier": "standard",
                              "context_window": "0-200k", "workspace_id": None, "description": None})
    report = {"data": [{"starting_at": f"{d}T00:00:00Z", "ending_at": f"{next_day(d)}T00:00:00Z", "results": r}
                       for d, r in sorted(days.items())], "has_more": False, "next_page": None}
    out["invoices/anthropic-cost-report-2026-06.json"] = json.dumps(report, indent=1) + "\n"
    # AWS CUR 2.0 rows for Bedrock: quantities in 1K tokens, a daily row per usage type.
    kinds = {"input": "input-tokens", "output": "output-tokens", "cached_input": "cache-read-input-token-count",
             "cache_write": "cache-write-input-token-count"}
    header = ("identity_line_item_id,line_item_line_item_type,line_item_usage_start_date,line_item_usage_end_date,"
              "line_item_product_code,line_item_usage_type,line_item_usage_amount,line_item_currency_code,"
              "line_item_unblended_cost,pricing_unit,product_region_code,bill_payer_account_id,"
              "line_item_usage_account_id")
    lines = [header]
    n = 0
    for (prov, day, model, meter), (qty, units) in sorted(merged.items()):
        if prov == "bedrock":
            n += 1
            token = "Claude4Sonnet" if "sonnet-4-2025" in model else model
            cost = _money(Decimal(units).scaleb(-15), "0.0000000001")
            lines.append(f"li-{n:05d},Usage,{day}T00:00:00Z,{next_day(day)}T00:00:00Z,AmazonBedrock,"
                         f"USE1-{token}-{kinds[meter]},{Decimal(qty) / 1000},USD,{cost},1K tokens,us-east-1,"
                         "999988887777,111122223333")
    lines.append(f"li-{n + 1:05d},Tax,2026-06-01T00:00:00Z,2026-07-01T00:00:00Z,AmazonBedrock,Tax,0,USD,1.1800000000,,,"
                 "999988887777,111122223333")
    out["invoices/bedrock-cur-2026-06.csv"] = "\n".join(lines) + "\n"
    return out


def next_day(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()


def main() -> None:
    rows = events()
    with (HERE / "gateway-month.jsonl").open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows):
            fh.write(json.dumps(row) + "\n")
            if n == 1_000:  # one line cut short, as a crashed logger leaves it
                fh.write('{"timestamp": "2026-06-14T09:00:00Z", "provider": "openai", "model_requested": \n')
    (HERE / "owners.toml").write_text(OWNERS, encoding="utf-8")
    (HERE / "policy.toml").write_text(POLICY, encoding="utf-8")
    (HERE / "pricecards").mkdir(exist_ok=True)
    (HERE / "pricecards" / "acme-openai.toml").write_text(ACME_CARD, encoding="utf-8")
    (HERE / "invoices").mkdir(exist_ok=True)
    for name, text in invoices(rows, gap_events()).items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
