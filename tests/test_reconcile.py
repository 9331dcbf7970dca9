"""Reconciliation: a synthetic month with injected faults against its invoice.

The invoice is built from the *true* usage at the provider's true prices; the
attributed side is what a real pipeline sees (a stale card, an alias no card
knows, untagged calls, cache TTLs logged wrongly, a retry storm). The report
must find each fault with its injected amount and account for every cent.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

import attribution as at
from attribution import _reconcile as at_reconcile

UTC = timezone.utc
JUNE = date(2026, 6, 1)
JULY = date(2026, 7, 1)
OWNER = {"team": "support", "project": "helpdesk", "environment": "production"}
M = Decimal(1_000_000)

# The provider's true list prices for the month (USD per 1M tokens).
TRUE_PRICES = {
    ("openai", "gpt-4.1"): {"input": Decimal("2.00"), "output": Decimal("8.00")},
    ("openai", "gpt-4o-mini"): {"input": Decimal("0.15"), "output": Decimal("0.66")},   # card still says 0.60
    ("anthropic", "claude-sonnet-4-5-20250929"): {"input": Decimal("3.00"), "output": Decimal("15.00"),
                                                  "cache_write": Decimal("3.75"), "cache_write_1h": Decimal("6.00")},
}


def _rec(i: int, provider: str, model: str, usage: at.Usage, *, tags: dict[str, str] = OWNER,
         **fields: object) -> at.UsageRecord:
    when = datetime(2026, 6, 1 + i % 30, 12, tzinfo=UTC)
    return at.UsageRecord(provider=provider, model=model, usage=usage, at=when, request_id=f"{provider}-{i}",
                          tags=tags, **fields)


def _month() -> tuple[list[at.UsageRecord], list[at.UsageRecord], dict[str, Decimal]]:
    """(what the pipeline logged, what the provider billed, injected amounts)."""
    logged: list[at.UsageRecord] = []
    billed: list[at.UsageRecord] = []
    injected: dict[str, Decimal] = defaultdict(Decimal)
    for i in range(300):
        # gpt-4.1, owned; every 25th call untagged (8% missing owners)
        tags = {"service": "batch-enricher"} if i % 25 == 0 else OWNER
        rec = _rec(i, "openai", "gpt-4.1", at.Usage(input=20_000, output=2_000), tags=tags)
        logged.append(rec)
        billed.append(rec)
        if tags is not OWNER:
            injected["unowned"] += at.price(rec).cost
        # the same service logs some calls under an internal alias that no card knows
        if i % 30 == 7:
            alias = _rec(1000 + i, "openai", "gpt-latest", at.Usage(input=10_000, output=1_000))
            logged.append(alias)
            billed.append(attrs.evolve(alias, model="gpt-4.1"))
            injected["unpriced_input"] += 10_000 * TRUE_PRICES["openai", "gpt-4.1"]["input"] / M
            injected["unpriced_output"] += 1_000 * TRUE_PRICES["openai", "gpt-4.1"]["output"] / M
        # gpt-4o-mini: the card is stale on output (0.60 vs the billed 0.66)
        mini = _rec(2000 + i, "openai", "gpt-4o-mini", at.Usage(input=5_000, output=1_000))
        logged.append(mini)
        billed.append(mini)
        injected["stale_output"] += 1_000 * (Decimal("0.66") - Decimal("0.60")) / M
        # Claude: 1-hour cache writes that the logger records as 5-minute writes
        claude = _rec(3000 + i, "anthropic", "claude-sonnet-4-5-20250929",
                      at.Usage(input=4_000, cache_write_1h=2_000, output=500))
        logged.append(attrs.evolve(claude, usage=at.Usage(input=4_000, cache_write=2_000, output=500)))
        billed.append(claude)
        injected["ttl_1h"] += 2_000 * Decimal("6.00") / M
        injected["ttl_5m"] -= 2_000 * Decimal("3.75") / M
        # a retry storm on support: billed and logged, so it is overhead, not variance
        if i % 3 == 0 and tags is OWNER:   # (untagged calls stay alone: nothing to inherit an owner from)
            retry = _rec(4000 + i, "openai", "gpt-4.1", at.Usage(input=20_000, output=0), attempt=2,
                         retry_of=rec.request_id, tags=OWNER)
            logged.append(retry)
            billed.append(retry)
            injected["retries"] += at.price(retry).cost
    return logged, billed, injected


def _invoice(billed: list[at.UsageRecord]) -> list[at.InvoiceLine]:
    tokens: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in billed:
        for meter, n in r.usage.items():
            tokens[r.provider, r.model, meter] += n
    lines = []
    for (provider, model, meter), n in sorted(tokens.items()):
        amount = Decimal(n) * TRUE_PRICES[provider, model][meter] / M
        lines.append(at.InvoiceLine(provider=provider, period_start=JUNE, period_end=JULY, model=model, meter=meter,
                                    amount=amount, currency="USD", quantity=Decimal(n), unit="tokens"))
    lines.append(at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("12.34"),
                                currency="USD", charge_category="tax"))
    lines.append(at.InvoiceLine(provider="anthropic", period_start=JUNE, period_end=JULY, amount=Decimal("-5.00"),
                                currency="USD", charge_category="credit"))
    return lines


@pytest.fixture(scope="module")
def month() -> tuple[at.Reconciliation, list[at.InvoiceLine], dict[str, Decimal], at.Coverage]:
    logged, billed, injected = _month()
    items = list(at.price_many(logged))
    trees = at.build_forest(items)
    invoice = _invoice(billed)
    quarantined = [q for q in items if isinstance(q, at.Quarantined)]
    rep = at.reconcile([*trees, *quarantined], invoice)
    return rep, invoice, injected, at.coverage(trees)


def _line(rep: at.Reconciliation, model: str, meter: str) -> at.ReconciledLine:
    [line] = [r for r in rep.lines if r.line.model == model and r.line.meter == meter]
    return line


def test_every_invoice_cent_lands_in_exactly_one_bucket(month) -> None:  # type: ignore[no-untyped-def]
    rep, invoice, injected, _ = month
    invoiced_total = sum((line.amount for line in invoice), Decimal(0))
    buckets = rep.attributed + sum((r.unowned for r in rep.lines), Decimal(0)) + rep.variance
    assert buckets + sum(rep.other_total.values(), Decimal(0)) == invoiced_total
    for r in rep.lines:
        assert r.attributed + r.unowned + r.variance == r.invoiced
    assert rep.other_total == {"tax": Decimal("12.34"), "credit": Decimal("-5.00")}
    # the logged 5-minute writes have no invoice line: they are the only unmatched usage
    assert {u.meter for u in rep.unmatched} == {"cache_write"}
    assert rep.unmatched_cost == -injected["ttl_5m"]


def test_missing_owners_are_the_unowned_bucket_with_the_injected_amount(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, injected, cov = month
    assert sum((r.unowned for r in rep.lines), Decimal(0)) == injected["unowned"]
    assert cov.unattributed == injected["unowned"]
    assert rep.unattributed == rep.invoiced - rep.attributed


def test_unpriced_alias_explains_the_gpt_4_1_variance(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, injected, _ = month
    for meter in ("input", "output"):
        line = _line(rep, "gpt-4.1", meter)
        assert line.variance == injected[f"unpriced_{meter}"]
        causes = {c.code: c for c in line.causes}
        assert "unpriced_records" in causes
        assert "gpt-latest" in causes["unpriced_records"].message
    assert rep.quarantined == {"unknown_model": 10}


def test_stale_card_is_named_with_the_implied_price(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, injected, _ = month
    line = _line(rep, "gpt-4o-mini", "output")
    assert line.variance == injected["stale_output"]
    assert not line.matched                        # 10% off: far beyond the 2% tolerance
    [cause] = [c for c in line.causes if c.code == "price_card_out_of_date"]
    assert "0.66" in cause.message
    assert "openai-2026-11-23" in cause.message
    assert _line(rep, "gpt-4o-mini", "input").matched


def test_cache_writes_billed_at_the_1h_rate_are_found_on_both_lines(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, injected, _ = month
    one_hour = _line(rep, "claude-sonnet-4-5-20250929", "cache_write_1h")
    assert one_hour.priced == 0
    assert one_hour.variance == injected["ttl_1h"]
    assert "cache_ttl_mismatch" in {c.code for c in one_hour.causes}
    # the 5-minute line does not exist on the invoice: the logged 5m writes are unmatched usage instead
    assert not [r for r in rep.lines if r.line.meter == "cache_write"]


def test_retry_storm_is_billed_overhead_not_variance(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, injected, cov = month
    assert cov.retry_cost == injected["retries"]
    # retries were billed and logged: they do not show up as a gpt-4.1 input variance beyond the alias
    assert _line(rep, "gpt-4.1", "input").variance == injected["unpriced_input"]


def test_seed_004_figures() -> None:
    owned = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=9_790_000_000),
                           at=datetime(2026, 6, 10, tzinfo=UTC), tags=OWNER)
    line = at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("22000.00"), currency="USD")
    rep = at.reconcile([at.price(owned)], [line])
    assert rep.invoiced == Decimal("22000.00")
    assert rep.attributed == Decimal("19580.00")
    assert rep.unattributed == Decimal("2420.00")
    assert rep.coverage == Decimal("0.89")
    assert "coverage 89.0%" in rep.summary()


def test_overlapping_lines_never_count_a_call_twice() -> None:
    rec = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
                                  at=datetime(2026, 6, 10, tzinfo=UTC), tags=OWNER))
    month_line = at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("2.00"), currency="USD")
    day_line = at.InvoiceLine(provider="openai", period_start=date(2026, 6, 10), period_end=date(2026, 6, 11),
                              model="gpt-4.1", amount=Decimal("2.00"), currency="USD")
    rep = at.reconcile([rec], [month_line, day_line])
    assert [r.priced for r in rep.lines] == [Decimal("0"), Decimal("2.00")]   # the more specific line wins
    assert rep.priced == Decimal("2.00")


def test_usage_outside_every_line_is_reported_as_unmatched() -> None:
    rec = at.price(at.UsageRecord(provider="anthropic", model="claude-haiku-4-5", usage=at.Usage(input=1_000_000),
                                  at=datetime(2026, 7, 2, tzinfo=UTC), tags=OWNER))
    line = at.InvoiceLine(provider="anthropic", period_start=JUNE, period_end=JULY, amount=Decimal("0"), currency="USD")
    rep = at.reconcile([rec], [line])
    [unmatched] = rep.unmatched
    assert unmatched.cost == Decimal("1.00")
    assert unmatched.day == date(2026, 7, 2)
    assert not rep.passed


def test_line_in_another_currency_is_never_added_to_usd_usage() -> None:
    rec = at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
                                  at=datetime(2026, 6, 10, tzinfo=UTC), tags=OWNER))
    line = at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("1.85"),
                          currency="EUR")
    [r] = at.reconcile([rec], [line]).lines
    assert r.priced == Decimal("0")
    assert next(c.code for c in r.causes) == "currency"


def test_late_data_is_named_when_usage_stops_before_the_period_ends() -> None:
    recs = [at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
                                    at=datetime(2026, 6, d, tzinfo=UTC), tags=OWNER)) for d in range(1, 21)]
    line = at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("60.00"), currency="USD")
    [r] = at.reconcile(recs, [line]).lines
    assert r.variance == Decimal("20.00")
    assert "late_data" in {c.code for c in r.causes}


def test_missing_cache_read_tokens_are_named() -> None:
    # The invoice bills cache reads; the logger never captured cached tokens.
    recs = [at.price(at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_000_000),
                                    at=datetime(2026, 6, 1, tzinfo=UTC) + timedelta(days=d), tags=OWNER))
            for d in range(30)]
    lines = [at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, model="gpt-4.1", meter="input",
                            amount=Decimal("60.00"), quantity=Decimal(30_000_000), currency="USD"),
             at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, model="gpt-4.1",
                            meter="cached_input", amount=Decimal("5.00"), quantity=Decimal(10_000_000), currency="USD")]
    rep = at.reconcile(recs, lines)
    cached = _line(rep, "gpt-4.1", "cached_input")
    assert "missing_meter" in {c.code for c in cached.causes}
    assert _line(rep, "gpt-4.1", "input").matched


def test_true_up_makes_owner_totals_equal_the_invoice_exactly(month) -> None:  # type: ignore[no-untyped-def]
    rep, _, _, _ = month
    logged, _, _ = _month()
    by_team = at.rollup(at.build_forest(at.price_many(logged)), by=("team",))
    t = at.true_up(by_team, rep)
    assert sum((r.total for r in t.rows), Decimal(0)) == rep.invoiced
    assert t.variance == rep.invoiced - by_team.total
    assert sum((r.true_up for r in t.rows), Decimal(0)) == t.variance
    for row in t.rows:
        assert row.attributed + row.true_up == row.total
        assert row.total == row.total.quantize(Decimal("0.001"))   # the invoice is itemised to a tenth of a cent
    assert t[None].attributed == by_team[(None,)].cost      # unowned spend is shown, not hidden


def test_true_up_is_proportional_to_attributed_cost() -> None:
    t = at.true_up({"a": Decimal("75"), "b": Decimal("25")}, Decimal("120.00"))
    assert t["a"].total == Decimal("90.00")
    assert t["b"].total == Decimal("30.00")
    assert t["a"].true_up == Decimal("15.00")


# --- repeated request ids in a stream ---------------------------------------------------------


def test_recent_ids_find_repeats_within_the_window_and_stay_bounded():
    recent = at_reconcile.RecentIds(limit=1_000)
    assert not recent.seen("req-1")
    assert recent.seen("req-1")
    for i in range(50_000):            # a long stream of distinct ids
        assert not recent.seen(f"other-{i}")
    held = len(recent._current) + len(recent._previous)
    assert held <= 2 * 1_000          # memory does not grow with the stream
    recent.seen("late")
    for i in range(999):
        recent.seen(f"gap-{i}")
    assert recent.seen("late")         # a copy fewer than `limit` calls later is still found


def test_a_call_logged_twice_in_different_chunks_is_counted_once():
    """Duplicates are found over the whole stream, so streaming and in-memory audits bill the same."""
    events = [{"timestamp": f"2026-06-{1 + i % 28:02d}T10:00:00Z", "provider": "openai", "model_actual": "gpt-4.1",
               "request_id": f"req-{i}", "input_tokens": 1_000_000, "output_tokens": 0, "team_id": "search"}
              for i in range(4)]
    logged = [*events, events[0]]      # the first call replayed at the end of the log
    invoice = [at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("8.00"),
                              currency="USD", model="gpt-4.1")]
    for chunk_size in (2, None):
        report = at.run_audit(logged, invoices=invoice, chunk_size=chunk_size)
        assert report.total == Decimal("8.00")
        assert report.coverage.duplicates == 1
        [line] = report.reconciliation.lines
        assert line.priced == line.line.amount


def test_copies_of_one_attempt_that_disagree_are_kept_and_named():
    """The same attempt logged twice with different tokens is not a byte-for-byte repeat: both bill, reconciliation names it."""
    events = [{"timestamp": f"2026-06-{1 + i % 28:02d}T10:00:00Z", "provider": "openai", "model_actual": "gpt-4.1",
               "request_id": f"req-{i}", "input_tokens": 1_000_000, "output_tokens": 0, "team_id": "search"}
              for i in range(4)]
    logged = [*events, {**events[0], "input_tokens": 1_500_000}]
    invoice = [at.InvoiceLine(provider="openai", period_start=JUNE, period_end=JULY, amount=Decimal("8.00"),
                              currency="USD", model="gpt-4.1")]
    report = at.run_audit(logged, invoices=invoice, chunk_size=2)
    assert report.total == Decimal("11.00")
    assert report.coverage.duplicates == 0
    [line] = report.reconciliation.lines
    [cause] = [c for c in line.causes if c.code == "duplicates"]
    assert cause.message.startswith("1 repeated request ids")
