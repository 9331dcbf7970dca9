"""Attribution proper (seeds 001, 002, 004): trees, ownership, coverage, budgets, change.

A generated pair of weeks with known injected faults: the reports must find
each fault with exactly the injected amount.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attribution as at

UTC = timezone.utc
WEEK0 = datetime(2026, 6, 1, tzinfo=UTC)
WEEK1 = datetime(2026, 6, 8, tzinfo=UTC)
OWNED = {"team": "search", "project": "web", "environment": "production"}


def call(i: int, *, when: datetime, model: str = "gpt-4.1-mini", inp: int = 10_000, out: int = 1_000,
         tags: dict[str, str] | None = None, **fields: object) -> at.UsageRecord:
    return at.UsageRecord(provider="openai", model=model, usage=at.Usage(input=inp, output=out), at=when,
                          request_id=f"req_{when:%d}_{i}", tags=OWNED if tags is None else tags, **fields)


# -- seed 004 -------------------------------------------------------------------------


def test_seed_004_coverage_22000_month_with_11_percent_unattributed_fails_the_2_percent_target() -> None:
    # $2.00 per 1M input tokens on gpt-4.1: $19,580 owned and $2,420 without an owner.
    owned = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=9_790_000_000), at=WEEK0,
                           requests=400_000, tags=OWNED)
    unowned = at.UsageRecord(provider="openai", model="gpt-4.1", usage=at.Usage(input=1_210_000_000), at=WEEK0,
                             requests=50_000, tags={"workflow": "nightly-batch"})
    cov = at.coverage([at.price(owned), at.price(unowned)])
    assert cov.total == Decimal("22000.00")
    assert cov.attributed == Decimal("19580.00")
    assert cov.unattributed == Decimal("2420.00")
    assert cov.coverage == Decimal("0.89")
    assert cov.unattributed_share == Decimal("0.11")
    assert not cov.passed
    assert cov.by_source[0].dimension == "workflow"
    assert cov.by_source[0].value == "nightly-batch"
    assert cov.by_reason[0].value == "missing team, project, environment"
    assert "FAIL" in cov.summary()


def test_seed_004_trace_tree_cost_is_the_sum_of_its_calls_and_owner_is_inherited() -> None:
    root = {"trace_id": "tr_9f4c", "timestamp": "2026-06-08T12:15:44Z", "owner_team": "support",
            "workflow_id": "ticket-triage-v4", "feature": "auto-classify", "tenant_id_hash": "t_71b2",
            "provider_calls": [
                {"provider": "bedrock", "model": "anthropic.claude-sonnet-4-20250514-v1:0", "request_id": "br_441",
                 "input_tokens": 18400, "output_tokens": 2100, "service_tier": "standard"},
                {"provider": "openai", "model": "gpt-4.1-mini", "request_id": "oa_882",
                 "input_tokens": 3200, "output_tokens": 480, "service_tier": "standard"}]}
    priced = list(at.price_many(at.normalize_many([root])))
    [tree] = at.build_forest(priced)
    assert tree.id == "tr_9f4c"
    assert tree.cost == Decimal("0.088748") == sum((p.cost for p in priced), Decimal(0))
    assert tree.owner["team"] == "support"
    assert tree.owner["workflow"] == "ticket-triage-v4"
    assert ("support",) in at.rollup([tree], by=("team",))


# -- trees ------------------------------------------------------------------------------


def test_retry_and_fallback_stay_in_the_tree_with_their_role_and_are_not_double_counted() -> None:
    first = call(1, when=WEEK0, trace_id="t1", outcome="error", inp=10_000, out=0)
    retry = call(2, when=WEEK0, trace_id="t1", attempt=2, retry_of=first.request_id)
    fallback = call(3, when=WEEK0, trace_id="t1", model="gpt-4.1", fallback_from="gpt-4.1-mini")
    [tree] = at.build_forest([at.price(first), at.price(retry), at.price(fallback)])
    assert [at.call_role(c) for c in tree.calls] == ["first", "retry", "fallback"]
    overhead = tree.overhead()
    assert overhead["first"] == Decimal("0.004")       # failed call billed its 10k prompt at $0.40/M
    assert overhead["retry"] == Decimal("0.0056")      # 10k in at $0.40/M + 1k out at $1.60/M
    assert overhead["fallback"] == Decimal("0.028")    # gpt-4.1: 10k at $2/M + 1k at $8/M
    assert tree.cost == sum(overhead.values())


def test_same_provider_request_logged_twice_is_counted_once_and_reported() -> None:
    rec = call(1, when=WEEK0, trace_id="t1")
    replay = attrs.evolve(rec, schema="sdk")   # the SDK logged the same provider request
    trees = at.build_forest([at.price(rec), at.price(replay)])
    assert len(trees) == 1
    assert len(trees[0].calls) == 1
    assert len(trees[0].duplicates) == 1
    assert trees[0].cost == at.price(rec).cost
    cov = at.coverage(trees)
    assert cov.duplicates == 1
    assert cov.duplicate_cost == at.price(rec).cost


def test_call_with_missing_parent_becomes_its_own_root_with_a_flag() -> None:
    orphan = call(1, when=WEEK0, span_id="s2", parent_id="s-gone")
    [tree] = at.build_forest([at.price(orphan)])
    assert tree.flags == ("missing_parent",)
    assert tree.root.record.request_id == orphan.request_id


def test_children_without_trace_id_join_their_parent_by_span_and_inherit_its_owner() -> None:
    parent = call(1, when=WEEK0, span_id="s1")
    child = call(2, when=WEEK0, span_id="s2", parent_id="s1", tags={})
    [tree] = at.build_forest([at.price(parent), at.price(child)])
    assert len(tree.calls) == 2
    assert tree.calls[1].record.tags["team"] == "search"
    assert "owner_inherited" in tree.calls[1].flags


def test_conflicting_owners_inside_a_tree_are_not_guessed() -> None:
    root = call(1, when=WEEK0, trace_id="t", tags={})
    a = call(2, when=WEEK0, trace_id="t", tags={"team": "search"})
    b = call(3, when=WEEK0, trace_id="t", tags={"team": "support"})
    [tree] = at.build_forest([at.price(root), at.price(a), at.price(b)])
    assert "team" not in tree.owner
    assert "team" not in tree.calls[0].record.tags


def test_failed_call_without_usage_costs_nothing_but_is_counted() -> None:
    failed = call(1, when=WEEK0, inp=0, out=0, outcome="error")
    r = at.rollup([at.price(failed)], by=("outcome",))
    assert r[("error",)].records == 1
    assert r[("error",)].cost == Decimal("0")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(1, 50_000), st.booleans()),
                min_size=1, max_size=40))
def test_tree_costs_sum_to_the_rollup_total(spec: list[tuple[int, int, int, bool]]) -> None:
    priced = []
    for i, (trace, parent, tokens, dup) in enumerate(spec):
        rec = call(i, when=WEEK0, inp=tokens, trace_id=f"t{trace}" if trace else None,
                   span_id=f"s{i}", parent_id=f"s{parent}" if parent < i else None)
        priced.append(at.price(rec))
        if dup:
            priced.append(at.price(rec))
    trees = at.build_forest(priced)
    assert sum((t.cost for t in trees), Decimal(0)) == at.rollup(trees).total
    unique = {p.record.request_id: p for p in priced}
    assert at.rollup(trees).total == at.rollup(unique.values()).total
    assert sum(len(t.calls) for t in trees) == len(unique)


# -- ownership ---------------------------------------------------------------------------


OWNER_TOML = """
[[owners]]
match = { team = "search" }
cost_center = "CC-1001"
budget_line = "search-ai"
owner = "Dana Chen"
monthly_budget = 300.00

[[owners]]
match = { team = "support" }
cost_center = "CC-2002"
budget_line = "support-ai"
owner = "Sam Ortiz"
monthly_budget = 10.00
"""


@pytest.fixture
def owner_map(tmp_path: Path) -> at.OwnerMap:
    path = tmp_path / "owners.toml"
    path.write_text(OWNER_TOML)
    return at.load_owner_map(path)


def test_owner_map_stamps_cost_center_and_flags_unmapped_teams_by_name(owner_map: at.OwnerMap) -> None:
    contract = at.OwnershipContract(owner_map=owner_map)
    mapped, unmapped = at.apply_ownership([
        at.price(call(1, when=WEEK0)),
        at.price(call(2, when=WEEK0, tags={**OWNED, "team": "ml-research"})),
    ], contract)
    assert isinstance(mapped, at.PricedRecord)
    assert isinstance(unmapped, at.PricedRecord)
    assert mapped.record.tags["cost_center"] == "CC-1001"
    assert mapped.record.tags["owner"] == "Dana Chen"
    assert "unmapped_owner" in unmapped.flags
    cov = at.coverage([unmapped], contract)
    assert cov.by_reason[0].value == "unmapped team=ml-research"


def test_owner_map_csv_reads_the_same_entries(tmp_path: Path) -> None:
    path = tmp_path / "owners.csv"
    path.write_text("field,value,cost_center,budget_line,owner,monthly_budget\n"
                    "team,search,CC-1001,search-ai,Dana Chen,300.00\n")
    omap = at.load_owner_map(path)
    assert omap.lookup({"team": "search"}) == at.OwnerEntry(field="team", value="search", cost_center="CC-1001",
                                                            budget_line="search-ai", owner="Dana Chen",
                                                            monthly_budget=Decimal("300.00"))


@pytest.mark.parametrize(("text", "where"), [
    ('[[owners]]\nmatch = { team = "a", project = "b" }\n', "owners[0].match"),
    ('[[owners]]\nmatch = { team = "a" }\nmonthly_budget = -5\n', "owners[0].monthly_budget"),
    ('[[owners]]\nmatch = { team = "a" }\ncost_centre = "x"\n', "owners[0]"),
])
def test_bad_owner_maps_name_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "owners.toml"
    path.write_text(text)
    with pytest.raises(at.OwnershipError) as err:
        at.load_owner_map(path)
    assert str(path) in str(err.value)
    assert where in str(err.value)


def test_bad_owner_map_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "owners.csv"
    path.write_text("field,value,monthly_budget\nteam,search,12\nteam,support,lots\n")
    with pytest.raises(at.OwnershipError, match=r"owners\.csv:3"):
        at.load_owner_map(path)


def test_require_owner_policies_flag_quarantine_and_reject() -> None:
    bare = at.price(call(1, when=WEEK0, tags={"team": "search"}))
    [flagged] = at.apply_ownership([bare], at.OwnershipContract(on_missing="flag"))
    assert isinstance(flagged, at.PricedRecord)
    assert "missing_owner" in flagged.flags
    [quarantined] = at.apply_ownership([bare], at.OwnershipContract(on_missing="quarantine"))
    assert isinstance(quarantined, at.Quarantined)
    assert quarantined.code == "missing_owner"
    assert "project, environment" in quarantined.message
    with pytest.raises(at.OwnershipError, match="project, environment") as err:
        list(at.apply_ownership([bare], at.OwnershipContract(on_missing="reject")))
    assert err.value.fields == ("project", "environment")


def test_budget_report_forecasts_month_end_from_the_run_rate(owner_map: at.OwnerMap) -> None:
    # support: 10 days of $1.40/day (100k in + 100k out on gpt-4.1 = $1.00 + ... ) by June 10.
    days = [datetime(2026, 6, d, 12, tzinfo=UTC) for d in range(1, 11)]
    support = [at.price(call(i, when=d, model="gpt-4.1", inp=100_000, out=100_000,
                             tags={**OWNED, "team": "support"})) for i, d in enumerate(days)]
    later = at.price(call(99, when=datetime(2026, 6, 20, tzinfo=UTC), tags={**OWNED, "team": "support"}))
    lines = {b.name: b for b in at.budget_report([*support, later], owner_map, date(2026, 6, 10))}
    s = lines["support-ai"]
    assert s.actual == Decimal("10.00")           # 10 x ($0.20 + $0.80); June 20 is after as_of
    assert s.forecast == Decimal("30.00")         # $10 over 10 days of a 30-day month
    assert s.exceeded is False
    assert s.projected_over is True
    assert lines["search-ai"].actual == Decimal("0.00")
    assert not lines["search-ai"].projected_over


# -- a generated pair of weeks with injected faults -----------------------------------------


def _week(start: datetime, *, n: int = 200, faults: bool) -> tuple[list[at.UsageRecord], dict[str, Decimal]]:
    """Two teams on gpt-4.1-mini; in the faulty week: missing owners, a retry storm, fallbacks, duplicates."""
    recs: list[at.UsageRecord] = []
    injected = {"unowned": Decimal(0), "retries": Decimal(0), "fallbacks": Decimal(0), "duplicates": Decimal(0)}
    for i in range(n):
        team = "search" if i % 2 else "support"
        tags = {**OWNED, "team": team}
        when = start + timedelta(minutes=i)
        rec = call(i, when=when, tags=tags, trace_id=f"t{start:%d}-{i}")
        if faults and i % 25 == 0:                 # 8% of requests from a service that forgot its tags
            rec = attrs.evolve(rec, tags={"service": "legacy-worker"})
            injected["unowned"] += at.price(rec).cost
            recs.append(rec)
            continue                               # (alone in its trace: nothing to inherit an owner from)
        recs.append(rec)
        if faults and team == "support" and i % 4 == 0:   # retry storm on support
            retry = call(1000 + i, when=when, tags=tags, trace_id=rec.trace_id, attempt=2,
                         retry_of=rec.request_id)
            recs.append(retry)
            injected["retries"] += at.price(retry).cost
        if faults and team == "search" and i % 10 == 1:   # fallback to the bigger model
            fb = call(2000 + i, when=when, tags=tags, trace_id=rec.trace_id, model="gpt-4.1",
                      fallback_from="gpt-4.1-mini")
            recs.append(fb)
            injected["fallbacks"] += at.price(fb).cost
        if faults and i % 50 == 3:                 # the same request logged by gateway and SDK
            recs.append(attrs.evolve(rec, schema="sdk"))
            injected["duplicates"] += at.price(rec).cost
    return recs, injected


def test_injected_faults_are_found_with_their_exact_amounts() -> None:
    week1, injected = _week(WEEK1, faults=True)
    trees = at.build_forest(at.price(r) for r in week1)
    cov = at.coverage(trees)
    assert cov.unattributed == injected["unowned"]
    assert cov.unowned_records == 8
    assert cov.by_source[0].value == "legacy-worker"
    assert cov.by_source[0].cost == injected["unowned"]
    assert cov.retry_cost == injected["retries"]
    assert cov.fallback_cost == injected["fallbacks"]
    assert cov.duplicates == 4
    assert cov.duplicate_cost == injected["duplicates"]
    assert not cov.passed                      # 8% unowned is far above the 2% target


def test_change_explanation_attributes_the_jump_to_retries_and_fallbacks() -> None:
    week0, _ = _week(WEEK0, faults=False)
    week1, injected = _week(WEEK1, faults=True)
    t0 = at.build_forest(at.price(r) for r in week0)
    t1 = at.build_forest(at.price(r) for r in week1)
    rows = {row.key: row for row in at.explain_change(t0, t1, by=("team",))}
    support = rows[("support",)]
    assert support.parts["retries"] == injected["retries"]
    search = rows[("search",)]
    assert search.parts["retries"] == injected["fallbacks"]      # fallbacks are overhead too
    for row in rows.values():
        assert sum(row.parts.values(), Decimal(0)) == row.change
    assert rows[(None,)].parts["volume"] == injected["unowned"]  # a new, unowned source of traffic
    assert support.driver() == "retries"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["gpt-4.1-mini", "gpt-4.1", "gpt-4o"]), st.integers(0, 200_000),
                          st.integers(0, 20_000), st.booleans(), st.booleans()), max_size=25),
       st.lists(st.tuples(st.sampled_from(["gpt-4.1-mini", "gpt-4.1", "o3"]), st.integers(0, 200_000),
                          st.integers(0, 20_000), st.booleans(), st.booleans()), max_size=25))
def test_decomposition_parts_sum_exactly_to_the_total_change(
        before: list[tuple[str, int, int, bool, bool]], after: list[tuple[str, int, int, bool, bool]]) -> None:
    def priced(spec: list[tuple[str, int, int, bool, bool]], when: datetime) -> list[at.PricedRecord]:
        return [at.price(call(i, when=when, model=m, inp=a, out=b, attempt=2 if retry else 1,
                              tags={"team": "x" if team else "y"}))
                for i, (m, a, b, retry, team) in enumerate(spec)]
    # o3 changed price on 2025-06-10: the price part must carry that.
    rows = at.explain_change(priced(before, datetime(2025, 6, 1, tzinfo=UTC)),
                             priced(after, datetime(2025, 6, 20, tzinfo=UTC)))
    for row in rows:
        assert set(row.parts) == {"volume", "tokens_per_request", "model_mix", "price", "retries"}
        assert sum(row.parts.values(), Decimal(0)) == row.change


def test_price_change_between_periods_is_the_price_part() -> None:
    before = [at.price(call(i, when=datetime(2025, 6, 1, tzinfo=UTC), model="o3")) for i in range(10)]
    after = [at.price(call(i, when=datetime(2025, 6, 20, tzinfo=UTC), model="o3")) for i in range(10)]
    [row] = at.explain_change(before, after)
    # o3: $10/$40 -> $2/$8 per 1M; 10 calls of 10k in + 1k out: $1.40 -> $0.28
    assert row.before == Decimal("1.40")
    assert row.after == Decimal("0.28")
    assert row.parts["price"] == Decimal("-1.12")
    assert row.parts["volume"] == row.parts["model_mix"] == row.parts["tokens_per_request"] == Decimal(0)


def test_anomalies_flag_an_owner_jumping_beyond_the_threshold() -> None:
    weeks = []
    for w, support_calls in enumerate((10, 11, 9, 30)):
        start = WEEK0 + timedelta(weeks=w)
        recs = [call(i, when=start, model="gpt-4.1", inp=100_000, out=100_000, tags={"team": "support"})
                for i in range(support_calls)]
        recs += [call(100 + i, when=start, model="gpt-4.1", inp=100_000, out=100_000, tags={"team": "search"})
                 for i in range(10)]
        weeks.append(at.rollup((at.price(r) for r in recs), by=("team",)))
    [anomaly] = at.find_anomalies(weeks, threshold=Decimal("0.5"))
    assert anomaly.key == ("support",)
    assert anomaly.latest == Decimal("30.00")
    assert anomaly.baseline == Decimal("10.00")
    assert anomaly.change_pct == Decimal("200.0")


def test_rollup_by_iso_week_and_role() -> None:
    recs = [call(1, when=datetime(2026, 6, 7, 23, tzinfo=UTC)), call(2, when=datetime(2026, 6, 8, 1, tzinfo=UTC)),
            call(3, when=datetime(2026, 6, 8, 1, tzinfo=UTC), attempt=2)]
    r = at.rollup((at.price(x) for x in recs), by=("week", "role"))
    assert set(r) == {("2026-W23", "first"), ("2026-W24", "first"), ("2026-W24", "retry")}


# -- the audit, in memory and streamed -----------------------------------------------------


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example_audit(chunk_size: int | None) -> at.AuditReport:
    from attribution.invoices import read_invoice
    from attribution.io import read_jsonl

    invoices = [line for f in sorted((EXAMPLES / "invoices").iterdir()) for line in read_invoice(f)]
    return at.run_audit(read_jsonl(EXAMPLES / "gateway-month.jsonl"),
                        registry=at.load_registry(EXAMPLES / "pricecards"),
                        contract=at.OwnershipContract(owner_map=at.load_owner_map(EXAMPLES / "owners.toml")),
                        invoices=invoices, policy=at.load_policy(EXAMPLES / "policy.toml"), period="week",
                        chunk_size=chunk_size)


def test_streamed_audit_keeps_every_aggregate_of_the_in_memory_audit() -> None:
    whole = _example_audit(None)
    streamed = _example_audit(97)    # small chunks: many boundaries
    assert streamed.rollup == whole.rollup
    assert streamed.periods == whole.periods
    assert streamed.records_read == whole.records_read == 2502
    assert streamed.quarantined == whole.quarantined
    assert streamed.charges == whole.charges
    assert streamed.coverage.attributed == whole.coverage.attributed
    assert streamed.coverage.unattributed == whole.coverage.unattributed
    assert streamed.allocation == whole.allocation
    assert whole.reconciliation is not None
    assert streamed.reconciliation is not None
    assert streamed.reconciliation.to_records() == whole.reconciliation.to_records()
    assert streamed.budgets == whole.budgets
    assert [t.cost for t in streamed.top_trees][:3] == [t.cost for t in whole.top_trees][:3]
    assert whole.changes
    assert not streamed.changes


def _generator() -> Any:
    """examples/generate_month.py as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_month", EXAMPLES / "generate_month.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_month_reconciles_and_trues_up_to_the_invoice() -> None:
    report = _example_audit(None)
    rep = report.reconciliation
    assert rep is not None
    assert rep.priced == report.total                        # every priced call is on an invoice line
    # The month does not reconcile by construction (examples/README.md): the providers billed calls the
    # gateway never logged (the log shipper was down on 2026-06-19, 10:00-18:00 UTC) and AWS billed
    # Claude Sonnet 4 input at $3.30 per 1M from 2026-06-22 where the card has $3.00.
    gen = _generator()
    reg = at.load_registry(EXAMPLES / "pricecards")
    gap = sum((at.price(at.normalize(row), registry=reg).cost for row in gen.gap_events()), Decimal(0))
    provider, model, meter, factor = gen.PRICE_CHANGE
    change = sum((c.amount * (factor - 1) for c in report.charges if (c.provider, c.model, c.meter) ==
                  (provider, model, meter) and c.day is not None and c.day.isoformat() >= gen.PRICE_CHANGE_DAY),
                 Decimal(0))
    assert gap.quantize(Decimal("0.01")) == Decimal("0.38")       # 30 calls (27 requests, 3 retried)
    assert change.quantize(Decimal("0.01")) == Decimal("0.42")    # 10% of Sonnet 4 input, 22-30 June
    # The invoices are rounded per line (to $0.000001 at most), so the parts agree to a tenth of a cent.
    assert abs(rep.variance - (gap + change)) < Decimal("0.001")
    assert not rep.passed
    outside = [r for r in rep.lines if not r.matched]
    days = {r.line.period_start.isoformat() for r in outside}
    assert "2026-06-19" in days                                # the gap day
    assert days - {"2026-06-19"} >= {"2026-06-22", "2026-06-26"}   # after the price change
    codes = {c.code for r in outside for c in r.causes}
    assert {"quantity", "price_card_out_of_date", "unexplained"} <= codes
    for r in outside:
        if r.line.period_start.isoformat() >= gen.PRICE_CHANGE_DAY:
            assert r.line.provider == "bedrock"
            assert any(c.code == "price_card_out_of_date" and "3.3 per 1M" in c.message for c in r.causes)
        else:
            assert r.line.period_start.isoformat() == "2026-06-19"
    assert report.true_up is not None
    t = report.true_up
    assert report.allocation is not None
    # the chargeback is the allocation (usage plus the platform fee) plus the usage variance, to the invoice's precision
    assert t.invoiced == report.allocation.total + rep.invoiced - rep.priced - rep.unmatched_cost
    assert sum((r.total for r in t.rows), Decimal(0)) == t.invoiced
    assert report.coverage.by_source[0].value == "ingest-worker"
    [over] = [b for b in report.budgets if b.projected_over]
    assert over.name == "support-ai"
