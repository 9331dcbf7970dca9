"""Price history is append-only: a past price never changes silently.

``tests/fixtures/price_snapshot.json`` holds every price period of every bundled
model as the previous release shipped it. This test fails when a period in the
snapshot has disappeared or its prices changed. New models and new periods are
fine, and so is closing the snapshot's open-ended period with ``until`` when a
new price starts (docs/price-cards.md, "Keeping cards current").

After a deliberate, reviewed change (a new release of the cards), regenerate the
snapshot with ``python tests/test_price_history.py`` and commit it.

The repricing tests pin one historical price change per provider that has one:
a request dated before the change prices at the old rate.
"""

from __future__ import annotations

import io
import json
import re
import sys
from contextlib import redirect_stdout
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import attribution as at
from attribution import cli
from attribution._cards import PricePeriod, ServiceTier, _Meters
from attribution._provenance import provenance
from attribution._registry import load_registry

UTC = timezone.utc
SNAPSHOT = Path(__file__).parent / "fixtures" / "price_snapshot.json"


def _meters(table: _Meters) -> dict[str, str]:
    return {m: str(v.normalize()) for m, v in table.meter_prices().items()}


def _tier(tier: ServiceTier) -> dict[str, Any]:
    out: dict[str, Any] = {"prices": _meters(tier)}
    if tier.multiplier is not None:
        out["multiplier"] = str(tier.multiplier.normalize())
    if tier.context:
        out["context"] = [{"above": c.above, **_meters(c)} for c in tier.context]
    return out


def _period(period: PricePeriod) -> dict[str, Any]:
    return {
        "from": period.from_.isoformat(),
        "until": period.until.isoformat() if period.until else None,
        "prices": _meters(period),
        "context": [{"above": c.above, **_meters(c)} for c in period.context],
        "tiers": {name: _tier(t) for name, t in sorted(period.tiers.items())},
        "regions": {r: str(m.normalize()) for r, m in sorted(period.regions.items())},
        "regional": {r: {"prices": _meters(t), "tiers": {n: _tier(x) for n, x in sorted(t.tiers.items())}}
                     for r, t in sorted(period.regional.items())},
        "time_windows": [{"days": list(w.days), "hours": list(w.hours), "prices": _meters(w),
                          "multiplier": None if w.multiplier is None else str(w.multiplier.normalize())}
                         for w in period.time_windows],
    }


def snapshot(registry: at.Registry) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every bundled model's price periods, keyed by provider and model id."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for info in registry.models():
        out.setdefault(info.provider, {})[info.id] = [_period(p) for p in info.periods]
    return out


@pytest.fixture(scope="module")
def bundled() -> at.Registry:
    return load_registry()


@pytest.fixture(scope="module")
def current(bundled: at.Registry) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return snapshot(bundled)


def _load_snapshot() -> dict[str, dict[str, list[dict[str, Any]]]]:
    data: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return data


#: What a key absent from an older snapshot means (periods recorded before the key existed).
_EMPTY: dict[str, Any] = {"prices": {}, "context": [], "tiers": {}, "regions": {}, "regional": {}, "time_windows": []}


def history_problems(old: dict[str, dict[str, list[dict[str, Any]]]],
                     now: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Every way ``now`` rewrites a period of ``old`` (adding periods or models is fine)."""
    problems = []
    for prov, models in sorted(old.items()):
        for model, periods in sorted(models.items()):
            current = now.get(prov, {}).get(model)
            if current is None:
                problems.append(f"{prov}/{model}: model disappeared")
                continue
            for before in periods:
                after = next((p for p in current if p["from"] == before["from"]), None)
                if after is None:
                    problems.append(f"{prov}/{model}: period from {before['from']} disappeared")
                    continue
                if before["until"] is not None and after["until"] != before["until"]:
                    problems.append(f"{prov}/{model}: period from {before['from']} now ends {after['until']}, "
                                    f"was {before['until']}")
                problems.extend(f"{prov}/{model}: period from {before['from']}: {key} changed "
                                f"{before[key]} -> {after[key]}"
                                for key in ("prices", "context", "tiers", "regions", "regional", "time_windows")
                                if after.get(key, _EMPTY[key]) != before.get(key, _EMPTY[key]))
    return problems


def test_snapshot_is_not_empty() -> None:
    assert sum(len(models) for models in _load_snapshot().values()) >= 150


def test_no_past_price_changed_or_disappeared(current: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    problems = history_problems(_load_snapshot(), current)
    assert not problems, "past prices changed (history is append-only):\n" + "\n".join(problems)


def test_the_history_check_catches_edits_but_allows_appends(
        current: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    old = _load_snapshot()
    edited = json.loads(json.dumps(current))
    edited["openai"]["gpt-4o"][0]["prices"]["input"] = "4.99"
    del edited["google"]["gemini-1.5-flash"][0]
    del edited["mistral"]["mistral-embed"]
    problems = history_problems(old, edited)
    assert any("openai/gpt-4o" in p and "prices changed" in p for p in problems)
    assert any("google/gemini-1.5-flash: period from 2024-05-30" in p for p in problems)
    assert "mistral/mistral-embed: model disappeared" in problems
    # Closing the open period and adding a new one, or a new model, is an append.
    appended = json.loads(json.dumps(current))
    last = appended["openai"]["gpt-4.1"][-1]
    last["until"] = "2030-01-01T00:00:00+00:00"
    appended["openai"]["gpt-4.1"].append({**last, "from": "2030-01-01T00:00:00+00:00", "until": None,
                                          "prices": {"input": "1"}})
    appended["openai"]["gpt-new"] = [last]
    assert history_problems(old, appended) == []


# --- every bundled price is sourced and dated -----------------------------------------


def test_every_bundled_price_has_a_source_url_and_a_date(bundled: at.Registry) -> None:
    missing = []
    for info in bundled.models():
        for i, period in enumerate(info.periods):
            prov = provenance(period, info.card)
            # Provenance is a provider page (an https URL) or a named document, and/or named
            # peer data with its version (peers = ["genai-prices 0.2.3", "litellm 1.110.2"]).
            if not (prov.page or prov.peers or prov.source):
                missing.append(f"{info.provider}/{info.id} period {i}: no source or peers")
            if prov.source is not None and prov.source.startswith("http") and not prov.page:
                missing.append(f"{info.provider}/{info.id} period {i}: source {prov.source!r}")
            if any(not re.fullmatch(r"(genai-prices|litellm) \d+\.\d+\.\d+", p) for p in prov.peers):
                missing.append(f"{info.provider}/{info.id} period {i}: peers {prov.peers}")
            if prov.read_on is None:
                missing.append(f"{info.provider}/{info.id} period {i}: no read_on date")
            if period.from_ is None:
                missing.append(f"{info.provider}/{info.id} period {i}: no effective-from date")
    assert not missing, "\n".join(missing)


def test_cards_list_shows_at_least_150_models_across_10_providers() -> None:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli.main(["cards", "list"]) == 0
    found = re.search(r"(\d+) models across (\d+) providers", buf.getvalue())
    assert found, buf.getvalue()[-300:]
    models, providers = int(found.group(1)), int(found.group(2))
    assert models >= 150
    assert providers >= 10


# --- repricing history: a request before a change pays the old rate ------------------


def _input_price(provider: str, model: str, when: datetime, meter: str = "input") -> Decimal:
    return load_registry().resolve(provider, model, when).unit_prices()[meter]


@pytest.mark.parametrize(("provider", "model", "before", "old", "after", "new"), [
    # OpenAI: the gpt-4o alias moved from the 2024-05-13 snapshot to 2024-08-06 on 2024-10-02.
    ("openai", "gpt-4o", datetime(2024, 9, 1, tzinfo=UTC), "5", datetime(2024, 11, 1, tzinfo=UTC), "2.5"),
    # OpenAI: o3's 80% cut of 2025-06-10.
    ("openai", "o3", datetime(2025, 5, 1, tzinfo=UTC), "10", datetime(2025, 7, 1, tzinfo=UTC), "2"),
    # OpenAI: the gpt-3.5-turbo alias moved to 0125 on 2024-02-16.
    ("openai", "gpt-3.5-turbo", datetime(2024, 1, 1, tzinfo=UTC), "1.5", datetime(2024, 3, 1, tzinfo=UTC), "0.5"),
    # Google: Gemini 1.5 Flash cut of 2024-08-12, Gemini 1.5 Pro cut of 2024-10-01.
    ("google", "gemini-1.5-flash", datetime(2024, 8, 1, tzinfo=UTC), "0.35", datetime(2024, 9, 1, tzinfo=UTC), "0.075"),
    ("google", "gemini-1.5-pro-002", datetime(2024, 9, 30, 23, tzinfo=UTC), "3.5", datetime(2024, 10, 1, tzinfo=UTC),
     "1.25"),
    # Azure: o3 followed OpenAI's cut.
    ("azure", "o3-2025-04-16", datetime(2025, 5, 1, tzinfo=UTC), "11", datetime(2025, 7, 1, tzinfo=UTC), "2.2"),
    # DeepSeek: V3 promotional price to 2025-02-08 16:00 UTC, then the standard price.
    ("deepseek", "deepseek-chat", datetime(2025, 2, 8, 15, 59, tzinfo=UTC), "0.14",
     datetime(2025, 2, 8, 16, 0, tzinfo=UTC), "0.27"),
    # DeepSeek: reasoner's unified price from 2025-09-05 16:00 UTC.
    # 12:00 UTC: outside the 2025 off-peak window (16:30-00:30), which tests/test_card_structures.py covers.
    ("deepseek", "deepseek-reasoner", datetime(2025, 9, 1, 12, tzinfo=UTC), "0.55", datetime(2025, 9, 6, tzinfo=UTC),
     "0.56"),
    # xAI: Grok 4.20 cut of 2026-04-30.
    ("xai", "grok-4.20-0309-reasoning", datetime(2026, 4, 1, tzinfo=UTC), "2", datetime(2026, 5, 1, tzinfo=UTC), "1.25"),
    # Mistral: NeMo cut of 2024-09-17; mistral-medium-latest moved to Medium 3.5 on 2026-06-16.
    ("mistral", "mistral-nemo", datetime(2024, 8, 1, tzinfo=UTC), "0.3", datetime(2024, 10, 1, tzinfo=UTC), "0.15"),
    ("mistral", "mistral-medium-latest", datetime(2026, 1, 1, tzinfo=UTC), "0.4", datetime(2026, 7, 1, tzinfo=UTC), "1.5"),
])
def test_a_request_before_a_price_change_pays_the_old_rate(provider: str, model: str, before: datetime, old: str,
                                                           after: datetime, new: str) -> None:
    # Azure's bare ids carry the regional +10%; the others are list prices.
    assert _input_price(provider, model, before) == Decimal(old)
    assert _input_price(provider, model, after) == Decimal(new)


def test_repricing_an_old_month_gives_what_was_billed_then() -> None:
    usage = at.Usage(input=100_000, output=100_000)   # below the 128K long-context threshold
    # Gemini 1.5 Pro, July 2024: $3.50 + $10.50 per 1M; the same usage after the cut: $1.25 + $5.00.
    assert at.cost("google", "gemini-1.5-pro", usage, at=datetime(2024, 7, 15, tzinfo=UTC)) == Decimal("1.40")
    assert at.cost("google", "gemini-1.5-pro", usage, at=datetime(2024, 11, 15, tzinfo=UTC)) == Decimal("0.625")
    # DeepSeek cache hits: one tenth of the launch price from 2026-04-26 12:15 UTC.
    hits = at.Usage(cached_input=1_000_000_000)
    assert at.cost("deepseek", "deepseek-v4-flash", hits, at=datetime(2026, 4, 25, tzinfo=UTC)) == Decimal("28")
    assert at.cost("deepseek", "deepseek-v4-flash", hits, at=datetime(2026, 4, 27, tzinfo=UTC)) == Decimal("2.80")


def test_a_gap_in_history_is_not_priced() -> None:
    # DeepSeek V4 Flash between the 2026-08-17 peak/off-peak switch and V4.1 Flash has no
    # confirmed peak price: requests then are refused rather than guessed.
    with pytest.raises(at.PriceNotInForce):
        load_registry().resolve("deepseek", "deepseek-v4-flash", datetime(2026, 8, 20, tzinfo=UTC))


if __name__ == "__main__":  # regenerate the snapshot after a reviewed release of the cards
    SNAPSHOT.write_text(json.dumps(snapshot(load_registry()), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
