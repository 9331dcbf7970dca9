"""Allocation (seeds 002, 003): shared cost to owners by an explicit policy, to the cent.

``allocate`` splits one amount exactly; ``apply_policy`` turns a rollup plus a
policy (TOML) into per-owner direct cost, pool shares and totals. Every test
here checks conservation: nothing is created, lost or counted twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import attribution as at
from attribution._allocate import (
    MISSING,
    Allocation,
    Policy,
    Pool,
    allocate,
    apply_policy,
    load_policy,
    parse_policy,
)
from attribution.exceptions import PolicyError

D = Decimal
UTC = timezone.utc
JUNE = datetime(2025, 6, 15, tzinfo=UTC)
#: gpt-4o input costs $2.50 per 1M tokens in June 2025: 400,000 tokens to the dollar.
TOKENS_PER_DOLLAR = 400_000
ZERO = D(0)


def spend(dollars: str, requests: int, **tags: str) -> at.PricedRecord:
    """A month of one owner's requests as one aggregate usage bucket costing exactly ``dollars``."""
    tokens = D(dollars) * TOKENS_PER_DOLLAR
    assert tokens == tokens.to_integral_value(), dollars
    rec = at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE, requests=requests,
                         usage=at.Usage(input=int(tokens)), tags=tags)
    return at.price(rec)


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def conserved(alloc: Allocation, rollup: at.Rollup, external: Decimal = ZERO) -> None:
    """Totals = direct + pools, and = the rollup plus amounts brought in from outside it."""
    assert alloc.total == alloc.direct_total + alloc.pools_total
    assert alloc.total == rollup.total + external
    assert sum((r.total for r in alloc.rows), D(0)) == alloc.total
    for pool in alloc.pools:
        assert sum(pool.shares.values(), D(0)) == pool.amount, pool.id


# -- allocate: the acceptance cases -------------------------------------------------


def test_acceptance_1500_overhead_by_request_volume_is_900_450_150() -> None:
    shares = allocate(D("1500.00"), {"search": 600_000, "support": 300_000, "ops": 100_000}, method="proportional")
    assert shares == {"search": D("900.00"), "support": D("450.00"), "ops": D("150.00")}


def test_acceptance_100_evenly_over_three_sums_to_100_and_differs_by_at_most_a_cent() -> None:
    shares = allocate(D("100.00"), {"a": 1, "b": 1, "c": 1}, method="even")
    assert sum(shares.values()) == D("100.00")
    assert sorted(shares.values()) == [D("33.33"), D("33.33"), D("33.34")]


# -- allocate: rounding, tie-break, methods -----------------------------------------


def test_leftover_cent_goes_to_the_larger_remainder_first() -> None:
    # 10.00 * 2/3 = 6.666.. (remainder .666), 10.00 * 1/3 = 3.333.. (remainder .333)
    assert allocate(D("10.00"), {"a": 2, "b": 1}) == {"a": D("6.67"), "b": D("3.33")}
    assert allocate(D("10.00"), {"a": 1, "b": 2}) == {"a": D("3.33"), "b": D("6.67")}


def test_equal_remainders_go_to_the_larger_weight_then_the_name_ascending() -> None:
    # 0.02 over 1:3 -> quotas 0.5 and 1.5 cents: equal remainders, the larger weight gets the cent.
    assert allocate(D("0.02"), {"a": 1, "b": 3}) == {"a": D("0.00"), "b": D("0.02")}
    # 0.01 over 3:3:3 -> equal remainders and weights: the name decides, ascending by code point.
    assert allocate(D("0.01"), {"zed": 3, "amy": 3, "bob": 3}) == {"zed": D("0.00"), "amy": D("0.01"),
                                                                   "bob": D("0.00")}
    # 0.02 over 1:1:2 -> quotas 0.5, 0.5, 1 cent: c is whole, a wins the .5 tie with b by name.
    assert allocate(D("0.02"), {"b": 1, "a": 1, "c": 2}) == {"b": D("0.00"), "a": D("0.01"), "c": D("0.01")}
    # 0.03 over 1:1:2 -> quotas .75, .75, 1.5 cents: the two leftover cents go to the .75 remainders.
    assert allocate(D("0.03"), {"b": 1, "a": 1, "c": 2}) == {"b": D("0.01"), "a": D("0.01"), "c": D("0.01")}


def test_result_keeps_the_callers_key_order_but_not_its_outcome() -> None:
    forward = allocate(D("1.00"), {"a": 1, "b": 1, "c": 1}, method="even")
    backward = allocate(D("1.00"), {"c": 1, "b": 1, "a": 1}, method="even")
    assert list(forward) == ["a", "b", "c"]
    assert list(backward) == ["c", "b", "a"]
    assert forward == backward == {"a": D("0.34"), "b": D("0.33"), "c": D("0.33")}


def test_a_credit_is_split_as_the_mirror_image_of_the_charge() -> None:
    charge = allocate(D("100.00"), {"a": 1, "b": 1, "c": 1}, method="even")
    credit = allocate(D("-100.00"), {"a": 1, "b": 1, "c": 1}, method="even")
    assert credit == {k: -v for k, v in charge.items()}
    assert sum(credit.values()) == D("-100.00")


def test_even_ignores_the_weight_values_but_uses_the_keys() -> None:
    assert allocate(D("9.00"), {"a": 0, "b": 5, "c": D("0.5")}, method="even") == {
        "a": D("3.00"), "b": D("3.00"), "c": D("3.00")}


def test_fixed_weights_are_percentages_summing_to_exactly_100() -> None:
    assert allocate(D("1000.00"), {"search": 60, "support": D("32.5"), "ops": D("7.5")}, method="fixed") == {
        "search": D("600.00"), "support": D("325.00"), "ops": D("75.00")}
    with pytest.raises(PolicyError, match=r"sum to exactly 100, got 99\.9"):
        allocate(D("1000.00"), {"search": 60, "support": D("39.9")}, method="fixed")


def test_zero_weight_gets_zero_and_quantum_can_be_whole_dollars() -> None:
    assert allocate(D("7"), {"a": 1, "b": 0, "c": 1}, quantum=1) == {"a": D("4"), "b": D("0"), "c": D("3")}
    assert allocate(D("0.00"), {"a": 1, "b": 3}) == {"a": D("0.00"), "b": D("0.00")}


@pytest.mark.parametrize(("args", "kwargs", "path", "message"), [
    ((D("10.00"), {"a": 0, "b": 0}), {}, "weights", "sum to zero"),
    ((D("10.00"), {"a": 0, "b": 0}), {"method": "fixed"}, "weights", "sum to exactly 100, got 0"),
    ((D("10.00"), {}), {"method": "even"}, "weights", "no owners"),
    ((D("10.00"), {"a": -1, "b": 3}), {}, "weights['a']", "must not be negative"),
    ((D("10.00"), {"a": -1, "b": 3}), {"method": "even"}, "weights['a']", "must not be negative"),
    ((D("10.00"), {"a": 1.5}), {}, "weights['a']", "not float"),
    ((10.0, {"a": 1}), {}, "amount", "not float"),
    ((D("10.00"), {"a": 1}), {"quantum": 0.01}, "quantum", "not float"),
    ((D("10.00"), {"a": 1}), {"quantum": D(0)}, "quantum", "must be positive"),
    ((D("10.005"), {"a": 1}), {}, "amount", "not a whole number of quanta of 0.01"),
    ((D("NaN"), {"a": 1}), {}, "amount", "finite"),
    ((D("10.00"), {"a": True}), {}, "weights['a']", "not bool"),
    ((D("10.00"), {1: 1}), {}, "weights", "owner names must be strings"),
    ((D("10.00"), {"a": 1}), {"method": "retain"}, "method", "unknown method 'retain'"),
])
def test_invalid_allocations_raise_a_policy_error_naming_the_argument(
        args: tuple[object, ...], kwargs: dict[str, object], path: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        allocate(*args, **kwargs)  # type: ignore[arg-type]
    assert info.value.path == path
    assert isinstance(info.value, at.AttributionError)
    assert isinstance(info.value, ValueError)


# -- allocate: properties ----------------------------------------------------------

QUANTA = (D("0.01"), D("1"), D("0.05"), D("0.000001"))
owner_names = st.text(min_size=1, max_size=6)
weight_values = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)


@st.composite
def allocations(draw: st.DrawFn, *, non_negative: bool = False) -> tuple[Decimal, dict[str, int | Decimal], str, Decimal]:
    """(amount, weights, method, quantum): any method, weights fit for it, amount a multiple of the quantum."""
    quantum = draw(st.sampled_from(QUANTA))
    quanta = draw(st.integers(min_value=0 if non_negative else -(10**12), max_value=10**12))
    amount = quantum * quanta
    method = draw(st.sampled_from(("even", "proportional", "fixed")))
    names = draw(st.lists(owner_names, min_size=1, max_size=10, unique=True))
    weights: dict[str, int | Decimal]
    if method == "fixed":
        # Percentages in basis points, cut from 100.00 so they sum to it exactly.
        cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=len(names) - 1, max_size=len(names) - 1)))
        bounds = [0, *cuts, 10_000]
        weights = {n: D(hi - lo).scaleb(-2) for n, lo, hi in zip(names, bounds, bounds[1:], strict=False)}
    else:
        weights = {n: draw(weight_values) for n in names}
        assume(sum(Fraction(w) for w in weights.values()) > 0)
    return amount, weights, method, quantum


def exact_quota(amount: Decimal, weights: dict[str, int | Decimal], method: str, owner: str) -> Fraction:
    if method == "even":
        return Fraction(amount) / len(weights)
    total = sum(Fraction(w) for w in weights.values())
    return Fraction(amount) * Fraction(weights[owner]) / total


@given(allocations())
def test_property_shares_sum_exactly_to_the_amount(case: tuple[Decimal, dict[str, int | Decimal], str, Decimal]) -> None:
    amount, weights, method, quantum = case
    shares = allocate(amount, weights, method=method, quantum=quantum)
    assert set(shares) == set(weights)
    assert sum(Fraction(s) for s in shares.values()) == Fraction(amount)
    assert all((Fraction(s) / Fraction(quantum)).denominator == 1 for s in shares.values())


@given(allocations(non_negative=True))
def test_property_no_share_is_negative(case: tuple[Decimal, dict[str, int | Decimal], str, Decimal]) -> None:
    amount, weights, method, quantum = case
    assert all(s >= 0 for s in allocate(amount, weights, method=method, quantum=quantum).values())


@given(allocations())
def test_property_each_share_is_within_one_quantum_of_its_exact_ratio(
        case: tuple[Decimal, dict[str, int | Decimal], str, Decimal]) -> None:
    amount, weights, method, quantum = case
    shares = allocate(amount, weights, method=method, quantum=quantum)
    for owner, share in shares.items():
        assert abs(Fraction(share) - exact_quota(amount, weights, method, owner)) < Fraction(quantum)


@given(allocations(), st.randoms(use_true_random=False))
def test_property_result_does_not_depend_on_weight_order(
        case: tuple[Decimal, dict[str, int | Decimal], str, Decimal], rnd: object) -> None:
    amount, weights, method, quantum = case
    items = list(weights.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    assert allocate(amount, dict(items), method=method, quantum=quantum) == allocate(
        amount, weights, method=method, quantum=quantum)


@given(allocations())
def test_property_a_credit_mirrors_the_charge(case: tuple[Decimal, dict[str, int | Decimal], str, Decimal]) -> None:
    amount, weights, method, quantum = case
    charge = allocate(amount, weights, method=method, quantum=quantum)
    credit = allocate(-amount, weights, method=method, quantum=quantum)
    assert credit == {k: -v for k, v in charge.items()}


@given(st.lists(owner_names, min_size=1, max_size=8, unique=True), st.sampled_from(("proportional", "fixed")))
def test_property_zero_sum_weights_raise(names: list[str], method: str) -> None:
    with pytest.raises(PolicyError, match="sum"):
        allocate(D("10.00"), dict.fromkeys(names, 0), method=method)


# -- seed 002: the $12,000 month --------------------------------------------------

SEED_002_POLICY = """\
[policy]
name = "ai-platform-2026-06"
owner = "team"
central_owner = "platform"

[[pools]]
id = "observability-routing"
description = "Shared observability and routing overhead"
amount = 1500.00
method = "proportional"
by = "requests"

[[pools]]
id = "experimentation"
description = "Central experimentation, kept in the platform budget"
amount = 1000.00
method = "retain"
"""


def seed_002_rollup() -> at.Rollup:
    return at.rollup([
        spend("5000.00", 600_000, team="search"),
        spend("3000.00", 300_000, team="support"),
        spend("1500.00", 100_000, team="ops"),
    ], by=("team",))


def test_seed_002_month_9500_direct_1500_by_request_volume_1000_retained_is_12000(tmp_path: Path) -> None:
    rollup = seed_002_rollup()
    assert rollup.total == D("9500.00")
    alloc = apply_policy(rollup, load_policy(write(tmp_path, SEED_002_POLICY)))
    assert alloc.total == D("12000.00")
    assert alloc.direct_total == D("9500.00")
    assert alloc.pools_total == D("2500.00")
    assert alloc.pool("observability-routing").shares == {
        "search": D("900.00"), "support": D("450.00"), "ops": D("150.00")}
    assert [(r.owner, r.direct, r.shared, r.total) for r in alloc.rows] == [
        ("search", D("5000.00"), D("900.00"), D("5900.00")),
        ("support", D("3000.00"), D("450.00"), D("3450.00")),
        ("ops", D("1500.00"), D("150.00"), D("1650.00")),
        ("platform", D("0.00"), D("1000.00"), D("1000.00")),
    ]
    conserved(alloc, rollup, external=D("2500.00"))


def test_seed_002_every_share_keeps_its_method_and_ratio(tmp_path: Path) -> None:
    alloc = apply_policy(seed_002_rollup(), load_policy(write(tmp_path, SEED_002_POLICY)))
    (share,) = alloc["support"].shares
    assert (share.pool, share.method, share.basis, share.unit) == (
        "observability-routing", "proportional", "requests", "Requests")
    assert (share.weight, share.weight_total, share.ratio) == (D(300_000), D(1_000_000), Fraction(3, 10))
    assert share.method_id == "proportional:requests"
    (kept,) = alloc["platform"].shares
    assert (kept.method_id, kept.ratio, kept.amount) == ("retain", Fraction(1), D("1000.00"))


def test_seed_002_records_carry_focus_allocation_fields_as_json_ready_data(tmp_path: Path) -> None:
    alloc = apply_policy(seed_002_rollup(), load_policy(write(tmp_path, SEED_002_POLICY)))
    records = alloc.to_records()
    assert sum((r["cost"] for r in records), D(0)) == D("12000.00")
    direct = [r for r in records if r["component"] == "direct"]
    assert {r["team"] for r in direct} == {"search", "support", "ops"}
    assert all(r["AllocatedMethodId"] is None and r["AllocatedMethodDetails"] is None for r in direct)
    allocated = [r for r in records if r["component"] == "observability-routing"]
    search = next(r for r in allocated if r["team"] == "search")
    assert search["AllocatedMethodId"] == "proportional:requests"
    assert search["AllocatedTags"] == {"team": "search"}
    assert search["x_AllocationOrigin"] == "observability-routing"
    details = json.loads(json.dumps(search["AllocatedMethodDetails"]))  # JSON-ready as it is
    assert details["Elements"] == [{"AllocatedRatio": "0.6", "UsageUnit": "Requests", "UsageQuantity": "600000"}]
    assert details["x_PoolAmount"] == "1500.00"
    assert details["x_Policy"] == "ai-platform-2026-06"
    # FOCUS: the ratios of all charges allocated from one origin charge sum to 1.
    ratios = [D(r["AllocatedMethodDetails"]["Elements"][0]["AllocatedRatio"]) for r in allocated]
    assert sum(ratios) == 1


def test_summary_is_one_wide_row_per_owner(tmp_path: Path) -> None:
    alloc = apply_policy(seed_002_rollup(), load_policy(write(tmp_path, SEED_002_POLICY)))
    assert alloc.summary()[0] == {"team": "search", "direct": D("5000.00"), "observability-routing": D("900.00"),
                                  "experimentation": D("0.00"), "total": D("5900.00"), "currency": "USD"}


def test_allocation_is_frozen(tmp_path: Path) -> None:
    alloc = apply_policy(seed_002_rollup(), load_policy(write(tmp_path, SEED_002_POLICY)))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        alloc.rows = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        alloc.pools[0].shares["search"] = D(0)  # type: ignore[index]


# -- seed 003: three ways to handle shared infrastructure --------------------------
# A month: search and support (downstream features), the platform team's own
# evaluation runs, requests that arrived without a team, and a $400 gateway and
# tracing bill that belongs to nobody in particular.


def seed_003_rollup() -> at.Rollup:
    return at.rollup([
        spend("1200.00", 60_000, team="search"),
        spend("700.00", 30_000, team="support"),
        spend("100.00", 10_000, team="platform"),
        spend("50.00", 5_000),  # no team tag
    ], by=("team",))


def seed_003_policy(central_owner: str, method: str, extra: str = "") -> Policy:
    return parse_policy({
        "policy": {"owner": "team", "central_owner": central_owner},
        "pools": [
            {"id": "untagged", "where": {"team": MISSING}, "method": method, **_extra(method, extra)},
            {"id": "gateway", "amount": D("400.00"), "method": method, **_extra(method, extra)},
        ],
    })


def _extra(method: str, extra: str) -> dict[str, object]:
    return {"by": "requests", "exclude": [extra]} if method == "proportional" else {}


def test_seed_003_platform_bucket_keeps_shared_cost_with_the_platform_team() -> None:
    rollup = seed_003_rollup()
    alloc = apply_policy(rollup, seed_003_policy("platform", "retain"))
    assert [(r.owner, r.direct, r.total) for r in alloc.rows] == [
        ("search", D("1200.00"), D("1200.00")),
        ("support", D("700.00"), D("700.00")),
        ("platform", D("100.00"), D("550.00")),
    ]
    assert alloc.unattributed == D("0.00")  # the untagged $50 went to the bucket, not lost
    conserved(alloc, rollup, external=D("400.00"))


def test_seed_003_split_by_request_volume_across_downstream_teams() -> None:
    rollup = seed_003_rollup()
    alloc = apply_policy(rollup, seed_003_policy("platform", "proportional", extra="platform"))
    # 60,000 : 30,000 requests. $50: 33.33 / 16.67; $400: 266.67 / 133.33 (leftover cents to larger remainders).
    assert alloc.pool("untagged").shares == {"search": D("33.33"), "support": D("16.67")}
    assert alloc.pool("gateway").shares == {"search": D("266.67"), "support": D("133.33")}
    assert [(r.owner, r.total) for r in alloc.rows] == [
        ("search", D("1500.00")), ("support", D("850.00")), ("platform", D("100.00"))]
    conserved(alloc, rollup, external=D("400.00"))


def test_seed_003_separate_reporting_keeps_team_numbers_to_direct_model_spend() -> None:
    rollup = seed_003_rollup()
    alloc = apply_policy(rollup, seed_003_policy("shared-platform", "retain"))
    for team in ("search", "support", "platform"):
        assert alloc[team].total == alloc[team].direct == rollup[team].cost
        assert alloc[team].shares == ()
    assert alloc["shared-platform"].direct == D("0.00")
    assert alloc["shared-platform"].total == D("450.00")
    conserved(alloc, rollup, external=D("400.00"))


# -- apply_policy: sources, bases, order -----------------------------------------------


def test_a_sliced_cost_leaves_direct_cost_so_it_is_never_counted_twice() -> None:
    rollup = seed_003_rollup()
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team"},
        "pools": [{"id": "platform-evals", "where": {"team": "platform"}, "method": "even"}]}))
    assert "platform" not in alloc  # all its keys were pooled and it received nothing
    assert alloc.pool("platform-evals").origin == (("platform",),)
    # even over the direct owners left; the untagged row is never an owner that receives
    assert alloc.pool("platform-evals").shares == {"search": D("50.00"), "support": D("50.00")}
    assert alloc.unattributed == D("50.00")
    conserved(alloc, rollup)


def test_where_matches_several_values_and_several_dimensions() -> None:
    rollup = at.rollup([
        spend("10.00", 1, team="search", feature="gateway"),
        spend("20.00", 1, team="support", feature="gateway"),
        spend("30.00", 1, team="support", feature="answer"),
        spend("5.00", 1, feature="gateway"),
    ], by=("team", "feature"))
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team", "central_owner": "platform"},
        "pools": [{"id": "gw", "where": {"feature": "gateway", "team": ["search", MISSING]}, "method": "retain"}]}))
    assert set(alloc.pool("gw").origin) == {("search", "gateway"), (None, "gateway")}
    assert alloc["platform"].total == D("15.00")
    assert alloc["support"].direct == D("50.00")
    conserved(alloc, rollup)


def test_a_split_slice_moves_whole_cents_and_leaves_the_sub_cent_residue_where_it_was() -> None:
    # 4,000,001 tokens at $2.50/M = $10.0000025 of untagged spend.
    rollup = at.rollup([spend("100.00", 10, team="a"), spend("100.00", 10, team="b"), spend("10.0000025", 1)],
                       by=("team",))
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team"},
        "pools": [{"id": "untagged", "where": {"team": MISSING}, "method": "even"}]}))
    pool = alloc.pool("untagged")
    assert (pool.amount, pool.residue, pool.residue_owner) == (D("10.00"), D("0.0000025"), None)
    assert alloc["a"].share("untagged") == alloc["b"].share("untagged") == D("5.00")
    assert alloc.unattributed == D("0.0000025")
    conserved(alloc, rollup)


def test_a_retained_slice_moves_whole_to_the_sub_cent() -> None:
    rollup = at.rollup([spend("100.00", 10, team="a"), spend("10.0000025", 1)], by=("team",))
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team", "central_owner": "platform"},
        "pools": [{"id": "untagged", "where": {"team": MISSING}, "method": "retain"}]}))
    assert alloc["platform"].total == D("10.0000025")
    assert None not in alloc
    conserved(alloc, rollup)


def test_a_slice_that_matches_nothing_shares_zero_and_is_flagged() -> None:
    rollup = seed_002_rollup()
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team"},
        "pools": [{"id": "untagged", "where": {"team": MISSING}, "method": "proportional", "by": "requests"}]}))
    assert alloc.pool("untagged").flags == ("empty_slice",)
    assert alloc.pool("untagged").amount == D("0.00")
    conserved(alloc, rollup)


def test_proportional_to_tokens_direct_cost_and_a_metric_table() -> None:
    rollup = at.rollup([spend("30.00", 1, team="a"), spend("10.00", 99, team="b")], by=("team",))
    policy = parse_policy({
        "policy": {"owner": "team"},
        "metrics": {"seats": {"a": 1, "b": 3, "c": 4}},
        "pools": [
            {"id": "by-tokens", "amount": D("100.00"), "method": "proportional", "by": "tokens"},
            {"id": "by-cost", "amount": D("100.00"), "method": "proportional", "by": "direct_cost"},
            {"id": "by-seats", "amount": D("100.00"), "method": "proportional", "by": "metric", "metric": "seats"},
        ]})
    alloc = apply_policy(rollup, policy)
    assert alloc.pool("by-tokens").shares == {"a": D("75.00"), "b": D("25.00")}
    assert alloc.pool("by-cost").shares == {"a": D("75.00"), "b": D("25.00")}
    assert alloc.pool("by-seats").shares == {"a": D("25.00"), "b": D("75.00")}  # c is not a direct owner
    assert alloc["b"].shares[2].method_id == "proportional:metric:seats"
    assert alloc["b"].shares[2].unit == "seats"
    conserved(alloc, rollup, external=D("300.00"))
    # a metric table passed at apply time replaces the policy's
    again = apply_policy(rollup, policy, metrics={"seats": {"a": 1, "b": 1}})
    assert again.pool("by-seats").shares == {"a": D("50.00"), "b": D("50.00")}


def test_by_cost_weighs_cost_so_far_so_pool_order_is_a_step_down() -> None:
    rollup = at.rollup([spend("100.00", 1, team="a"), spend("100.00", 1, team="b")], by=("team",))
    policy = parse_policy({
        "policy": {"owner": "team"},
        "pools": [
            {"id": "first", "amount": D("100.00"), "method": "fixed", "shares": {"a": 100}},
            {"id": "second", "amount": D("90.00"), "method": "proportional", "by": "cost"},
        ]})
    alloc = apply_policy(rollup, policy)
    # after "first", a has cost 200 and b 100: "second" splits 2:1
    assert alloc.pool("second").shares == {"a": D("60.00"), "b": D("30.00")}
    assert alloc["a"].shares[1].weight == D("200.00")
    flipped = apply_policy(rollup, attrs.evolve(policy, pools=policy.pools[::-1]))
    assert flipped.pool("second").shares == {"a": D("45.00"), "b": D("45.00")}


def test_even_over_listed_owners_and_fixed_shares_reach_owners_without_usage() -> None:
    rollup = seed_002_rollup()
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team"},
        "pools": [
            {"id": "licence", "amount": D("100.00"), "method": "even", "owners": ["search", "research"]},
            {"id": "contract", "amount": D("90.00"), "method": "fixed", "shares": {"legal": 50, "ops": 50}},
        ]}))
    assert alloc["research"].total == D("50.00")
    assert alloc["research"].direct == D("0.00")
    assert alloc["legal"].total == D("45.00")
    assert alloc["ops"].share("contract") == D("45.00")
    conserved(alloc, rollup, external=D("190.00"))


def test_an_idle_pool_from_an_invoice_line_is_its_own_kind() -> None:
    rollup = seed_002_rollup()
    policy = parse_policy({
        "policy": {"owner": "team", "central_owner": "platform"},
        "pools": [{"id": "pt-idle", "kind": "idle", "invoice_line": "bedrock-provisioned-throughput-idle",
                   "method": "proportional", "by": "direct_cost"}]})
    alloc = apply_policy(rollup, policy, amounts={"bedrock-provisioned-throughput-idle": D("950.00")})
    assert alloc.idle_total == D("950.00")
    assert alloc.pool("pt-idle").shares == {"search": D("500.00"), "support": D("300.00"), "ops": D("150.00")}
    (share,) = alloc["ops"].shares
    assert share.kind == "idle"
    assert share.method_details["x_PoolKind"] == "idle"
    assert share.method_details["x_PoolSource"] == "invoice_line bedrock-provisioned-throughput-idle"
    conserved(alloc, rollup, external=D("950.00"))


def test_a_credit_pool_reduces_owners_totals_symmetrically() -> None:
    rollup = seed_002_rollup()
    alloc = apply_policy(rollup, parse_policy({
        "policy": {"owner": "team"},
        "pools": [{"id": "credit", "amount": D("-100.00"), "method": "even"}]}))
    assert alloc.pool("credit").shares == {"ops": D("-33.34"), "search": D("-33.33"), "support": D("-33.33")}
    conserved(alloc, rollup, external=D("-100.00"))


def test_untagged_spend_no_pool_takes_stays_visible_as_unattributed() -> None:
    rollup = seed_003_rollup()
    alloc = apply_policy(rollup, parse_policy({"policy": {"owner": "team"}}))
    assert alloc.unattributed == D("50.00")
    assert alloc.rows[-1].owner is None
    conserved(alloc, rollup)


# -- apply_policy: errors ------------------------------------------------------------


def test_a_rollup_without_the_owner_dimension_is_an_error(tmp_path: Path) -> None:
    rollup = at.rollup([spend("1.00", 1, team="a")], by=("feature",))
    with pytest.raises(PolicyError, match="not grouped by the owner dimension 'team'") as info:
        apply_policy(rollup, load_policy(write(tmp_path, SEED_002_POLICY)))
    assert info.value.file == str(tmp_path / "policy.toml")
    assert info.value.path == "policy.owner"


def test_errors_at_apply_time_name_the_file_and_the_pool(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[policy]
owner = "team"

[[pools]]
id = "untagged"
where = { team = "__missing__" }
method = "even"

[[pools]]
id = "untagged-again"
where = { team = "__missing__", feature = "x" }
method = "even"
""")
    rollup = at.rollup([spend("1.00", 1, team="a")], by=("team",))
    with pytest.raises(PolicyError, match="not grouped by 'feature'") as info:
        apply_policy(rollup, load_policy(path))
    assert (info.value.file, info.value.line, info.value.path) == (str(path), 10, "pools[1].where.feature")
    assert str(info.value).startswith(f"{path}:10: pools[1].where.feature: ")


def test_two_pools_cannot_take_the_same_cost() -> None:
    rollup = seed_003_rollup()
    policy = parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "one", "where": {"team": MISSING}, "method": "even"},
        {"id": "two", "where": {"team": [MISSING, "platform"]}, "method": "even"}]})
    with pytest.raises(PolicyError, match="already taken by pool 'one'") as info:
        apply_policy(rollup, policy)
    assert info.value.path == "pools[1].where"


def test_invoice_line_amounts_must_be_given_and_must_be_used() -> None:
    policy = parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "pt", "invoice_line": "pt-june", "method": "even"}]})
    with pytest.raises(PolicyError, match="no amount given for invoice line 'pt-june'") as info:
        apply_policy(seed_002_rollup(), policy)
    assert info.value.path == "pools[0].invoice_line"
    with pytest.raises(PolicyError, match=r"no pool takes its amount from invoice line.*'pt-july'") as info:
        apply_policy(seed_002_rollup(), policy, amounts={"pt-june": D("1.00"), "pt-july": D("2.00")})
    assert info.value.path == "amounts"
    with pytest.raises(PolicyError, match="must be a Decimal"):
        apply_policy(seed_002_rollup(), policy, amounts={"pt-june": 1.0})  # type: ignore[dict-item]
    with pytest.raises(PolicyError, match="not a whole number of quanta"):
        apply_policy(seed_002_rollup(), policy, amounts={"pt-june": D("1.001")})


def test_a_pool_that_cannot_be_split_names_the_pool() -> None:
    rollup = at.rollup([spend("1.00", 0, team="a")], by=("team",))  # no requests at all
    policy = parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "overhead", "amount": D("10.00"), "method": "proportional", "by": "requests"}]})
    with pytest.raises(PolicyError, match="pool 'overhead' cannot be split: weights: the weights sum to zero") as info:
        apply_policy(rollup, policy)
    assert info.value.path == "pools[0].by"


def test_a_metric_table_must_cover_every_owner_sharing_the_pool() -> None:
    policy = parse_policy({"policy": {"owner": "team"}, "metrics": {"seats": {"search": 3}}, "pools": [
        {"id": "seats", "amount": D("10.00"), "method": "proportional", "by": "metric", "metric": "seats"}]})
    with pytest.raises(PolicyError, match="metric 'seats' has no value for ops, support") as info:
        apply_policy(seed_002_rollup(), policy)
    assert info.value.path == "pools[0].metric"
    with pytest.raises(PolicyError, match="no metric table 'headcount'"):
        apply_policy(seed_002_rollup(), attrs.evolve(policy, pools=(attrs.evolve(policy.pools[0], metric="headcount"),)))


def test_policy_currency_must_match_the_rollup() -> None:
    policy = parse_policy({"policy": {"owner": "team", "currency": "EUR"}})
    with pytest.raises(at.CurrencyMismatch):
        apply_policy(seed_002_rollup(), policy)


def test_a_policy_built_in_python_is_validated_when_applied() -> None:
    policy = Policy(owner="team", pools=(Pool(id="x", amount=1.5, method="even"),))  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="expected an int or a Decimal, got float") as info:
        apply_policy(seed_002_rollup(), policy)
    assert info.value.path == "pools[0].amount"
    policy = Policy(owner="team", pools=(Pool(id="x", amount=D(1), method="retain"),))
    with pytest.raises(PolicyError, match=r"needs policy\.central_owner"):
        apply_policy(seed_002_rollup(), policy)


# -- policy files: validation names the file and the key path ------------------------


def test_load_policy_reads_the_seed_002_policy(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, SEED_002_POLICY))
    assert policy.owner == "team"
    assert policy.central_owner == "platform"
    assert policy.quantum == D("0.01")
    assert [p.id for p in policy.pools] == ["observability-routing", "experimentation"]
    assert policy.pools[0].amount == D("1500.00")
    assert isinstance(policy.pools[0].amount, Decimal)
    assert policy.pools[0].owners is None  # "all direct owners" by default
    assert policy.path == str(tmp_path / "policy.toml")


BASE = '[policy]\nowner = "team"\ncentral_owner = "platform"\n\n[[pools]]\nid = "p"\n'


@pytest.mark.parametrize(("body", "path", "message"), [
    ('amount = 10.00\nmethod = "even"\ncolour = "red"\n', "pools[0]", "extra fields found (colour)"),
    ('amount = 10.00\n', "pools[0].method", "required field missing"),
    ('amount = 10.00\nmethod = "split"\n', "pools[0].method", "method must be one of"),
    ('amount = 10.005\nmethod = "even"\n', "pools[0].amount", "not a whole number of quanta of 0.01"),
    ('amount = "ten"\nmethod = "even"\n', "pools[0].amount", "not a number"),
    ('method = "even"\n', "pools[0]", "exactly one source"),
    ('amount = 1.00\ninvoice_line = "x"\nmethod = "even"\n', "pools[0]", "exactly one source"),
    ('amount = 1.00\nmethod = "proportional"\n', "pools[0].by", "needs by = one of"),
    ('amount = 1.00\nmethod = "proportional"\nby = "vibes"\n', "pools[0].by", "needs by = one of"),
    ('amount = 1.00\nmethod = "proportional"\nby = "metric"\n', "pools[0].metric", "goes with by"),
    ('amount = 1.00\nmethod = "even"\nby = "requests"\n', "pools[0].by", "proportional pools only"),
    ('amount = 1.00\nmethod = "fixed"\nshares = { a = 60, b = 30 }\n', "pools[0].shares",
     "sum to exactly 100, got 90"),
    ('amount = 1.00\nmethod = "fixed"\n', "pools[0].shares", "needs shares"),
    ('amount = 1.00\nmethod = "fixed"\nshares = { a = 110, b = -10 }\n', "pools[0].shares.b", "must not be negative"),
    ('amount = 1.00\nmethod = "even"\nshares = { a = 100 }\n', "pools[0].shares", "fixed pools only"),
    ('amount = 1.00\nmethod = "retain"\nowners = ["a"]\n', "pools[0].owners", "central_owner"),
    ('amount = 1.00\nmethod = "even"\nowners = "everyone"\n', "pools[0].owners", 'must be "all" or a list'),
    ('amount = 1.00\nmethod = "even"\nowners = []\n', "pools[0].owners", "at least one owner"),
    ('amount = 1.00\nmethod = "even"\nowners = ["a", "a"]\n', "pools[0].owners", "repeat: a"),
    ('amount = 1.00\nmethod = "even"\nowners = ["__missing__"]\n', "pools[0].owners", "cannot receive a share"),
    ('amount = 1.00\nmethod = "even"\nowners = ["a"]\nexclude = ["b"]\n', "pools[0].exclude", 'owners = "all" only'),
    ('where = "team"\nmethod = "even"\n', "pools[0].where", "must be a table"),
    ('where = {}\nmethod = "even"\n', "pools[0].where", "at least one dimension"),
    ('where = { team = [] }\nmethod = "even"\n', "pools[0].where.team", "at least one value"),
    ('kind = "idle"\nwhere = { team = "a" }\nmethod = "even"\n', "pools[0].where", "an idle pool"),
    ('kind = "spare"\namount = 1.00\nmethod = "even"\n', "pools[0].kind", "kind must be one of"),
])
def test_policy_errors_name_the_file_and_the_key_path(tmp_path: Path, body: str, path: str, message: str) -> None:
    file = write(tmp_path, BASE + body)
    with pytest.raises(PolicyError) as info:
        load_policy(file)
    assert info.value.file == str(file)
    assert info.value.path == path, str(info.value)
    assert message in info.value.message
    assert str(info.value).startswith(str(file))


def test_policy_errors_are_all_reported_with_the_pool_line(tmp_path: Path) -> None:
    file = write(tmp_path, """\
[policy]
owner = "team"

[[pools]]
id = "fine"
amount = 1.00
method = "even"

[[pools]]
id = "fees"
amount = 1.00
method = "retain"

[[pools]]
id = "fees"
amount = 1.00
method = "fixed"
shares = { a = 1 }
""")
    with pytest.raises(PolicyError) as info:
        load_policy(file)
    first = info.value
    assert (first.line, first.path) == (10, "pools[1].method")
    assert "central_owner" in first.message
    assert [(e.line, e.path) for e in first.others] == [(10, "pools[2].id"), (10, "pools[2].shares")]


@pytest.mark.parametrize(("text", "path", "message"), [
    ('[pools]\n', "policy", "required field missing"),
    ('[policy]\n', "policy.owner", "required field missing"),
    ('[policy]\nowner = "team"\nquantum = 0\n', "policy.quantum", "must be positive"),
    ('[policy]\nowner = "team"\nquantum = 1e-16\n', "policy.quantum", "more than 15 decimals"),
    ('[policy]\nowner = "team"\ncurrency = "usd"\n', "policy.currency", "ISO 4217"),
    ('[policy]\nowner = "team"\ncentral_owner = "__missing__"\n', "policy.central_owner", "real owner"),
    ('[policy]\nowner = "team"\n[metrics.seats]\nsearch = -1\n', "metrics.seats.search", "must not be negative"),
    ('[policy]\nowner = "team"\n[[pools]]\nid = "total"\namount = 1.00\nmethod = "even"\n', "pools[0].id",
     "pool id must be"),
])
def test_policy_header_and_metric_errors_name_the_key_path(tmp_path: Path, text: str, path: str, message: str) -> None:
    file = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(file)
    assert (info.value.file, info.value.path) == (str(file), path)
    assert message in info.value.message


def test_unreadable_and_malformed_policy_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy") as info:
        load_policy(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="invalid TOML"):
        load_policy(write(tmp_path, "[policy\nowner = 1\n"))


def test_parse_policy_from_python_rejects_floats_with_the_key_path() -> None:
    with pytest.raises(PolicyError, match=r"expected a number, got float 60\.0") as info:
        parse_policy({"policy": {"owner": "team"},
                      "pools": [{"id": "x", "amount": D(1), "method": "fixed", "shares": {"a": 60.0, "b": 40}}]})
    assert info.value.path == "pools[0].shares.a"


# -- apply_policy: conservation, whatever the policy ----------------------------------

TEAMS = ("search", "support", "ops", "growth")


@st.composite
def months(draw: st.DrawFn) -> tuple[at.Rollup, Policy, Decimal]:
    """A rollup over a few teams (and untagged spend), a policy mixing every method and source."""
    records = []
    for team in (*TEAMS, None):
        if draw(st.booleans()):
            tokens = draw(st.integers(min_value=0, max_value=10**10))
            requests = draw(st.integers(min_value=1, max_value=10**6))
            tags = {"team": team} if team else {}
            records.append(at.price(at.UsageRecord(provider="openai", model="gpt-4o", at=JUNE, requests=requests,
                                                   usage=at.Usage(input=tokens), tags=tags)))
    assume(any(r.record.tags for r in records))
    rollup = at.rollup(records, by=("team",))
    cents = st.integers(min_value=-(10**8), max_value=10**9).map(lambda c: D(c).scaleb(-2))
    pools: list[dict[str, object]] = []
    external = D(0)
    if draw(st.booleans()):
        pools.append({"id": "untagged", "where": {"team": MISSING},
                      "method": draw(st.sampled_from(("retain", "even", "proportional"))), "by": "requests"})
    for i in range(draw(st.integers(min_value=0, max_value=4))):
        amount = draw(cents)
        external += amount
        method = draw(st.sampled_from(("retain", "even", "proportional", "fixed")))
        pool: dict[str, object] = {"id": f"p{i}", "amount": amount, "method": method}
        if method == "proportional":
            pool["by"] = draw(st.sampled_from(("requests", "tokens", "direct_cost")))
        if method == "fixed":
            pool["shares"] = {"search": 25, "growth": D("74.99"), "legal": D("0.01")}
        pools.append(pool)
    for pool in pools:
        if pool["method"] != "proportional":
            pool.pop("by", None)
    policy = parse_policy({"policy": {"owner": "team", "central_owner": "platform"}, "pools": pools})
    return rollup, policy, external


@given(months())
def test_property_allocation_total_is_direct_plus_pools_to_the_cent(case: tuple[at.Rollup, Policy, Decimal]) -> None:
    rollup, policy, external = case
    try:
        alloc = apply_policy(rollup, policy)
    except PolicyError as exc:  # a proportional pool over owners with zero tokens or cost
        assume("sum to zero" not in exc.message)
        raise
    conserved(alloc, rollup, external)
    for pool in alloc.pools:
        if pool.method != "retain" or pool.source == "amount":
            assert (pool.amount * 100) == (pool.amount * 100).to_integral_value()


# -- the Allocation object ------------------------------------------------------------


def test_owners_all_may_be_spelled_out_and_the_allocation_reads_like_a_mapping() -> None:
    rollup = seed_002_rollup()
    alloc = apply_policy(rollup, parse_policy({"policy": {"owner": "team", "name": "june"}, "pools": [
        {"id": "licence", "amount": D("100.00"), "method": "even", "owners": "all"}]}))
    assert list(alloc) == ["search", "support", "ops"] == list(alloc.owners)
    assert len(alloc) == 3
    assert repr(alloc) == "Allocation(by='team', owners=3, pools=1, total=9600.00 USD)"
    assert alloc.policy == "june"
    with pytest.raises(KeyError):
        alloc["legal"]
    with pytest.raises(KeyError):
        alloc.pool("nope")


def test_ratios_that_do_not_terminate_are_given_to_12_places_and_stay_exact_on_the_share() -> None:
    alloc = apply_policy(seed_002_rollup(), parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "licence", "amount": D("100.00"), "method": "even"}]}))
    share = alloc["ops"].shares[0]
    assert share.ratio == Fraction(1, 3)
    assert share.method_details["Elements"] == [{"AllocatedRatio": "0.333333333333", "UsageUnit": "Owners",
                                                 "UsageQuantity": "1"}]
    assert share.method_details["x_UsageQuantityTotal"] == "3"
    assert alloc["ops"].share("licence") == D("33.34")  # o < s: the name breaks the tie


def test_a_pool_with_nobody_left_to_share_it_is_an_error() -> None:
    rollup = at.rollup([spend("10.00", 1, team="platform")], by=("team",))
    policy = parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "gw", "amount": D("1.00"), "method": "even", "exclude": ["platform"]}]})
    with pytest.raises(PolicyError, match="no direct owners left") as info:
        apply_policy(rollup, policy)
    assert info.value.path == "pools[0].owners"


def test_owner_lists_must_hold_names() -> None:
    with pytest.raises(PolicyError, match="must be a string or a list of strings") as info:
        parse_policy({"policy": {"owner": "team"}, "pools": [
            {"id": "x", "amount": D(1), "method": "even", "owners": ["a", 2]}]})
    assert info.value.path == "pools[0].owners"


def test_an_empty_slice_over_owners_with_zero_weights_still_explains_itself() -> None:
    rollup = at.rollup([spend("0.00", 3, team="a"), spend("0.00", 1, team="b")], by=("team",))
    alloc = apply_policy(rollup, parse_policy({"policy": {"owner": "team"}, "pools": [
        {"id": "untagged", "where": {"team": MISSING}, "method": "proportional", "by": "direct_cost"}]}))
    assert alloc.pool("untagged").shares == {"a": D("0.00"), "b": D("0.00")}
    assert alloc["a"].shares[0].ratio == 0
    details = [r["AllocatedMethodDetails"] for r in alloc.to_records() if r["component"] == "untagged"]
    assert [d["Elements"][0]["AllocatedRatio"] for d in details] == ["0", "0"]
