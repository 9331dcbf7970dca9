"""Cross-checking the cards against a peer's price data (attribution._carddiff).

Most tests feed a small fake peer through the injectable loader, so they run
without genai-prices or litellm installed; the last ones compare against the
real peers and are skipped when those are not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution._carddiff import (
    CardDiff,
    PeerNotInstalled,
    StaticPeer,
    compare_cards,
    diff_cards,
    load_peer,
    missing_models,
    rows,
)

UTC = timezone.utc
D = Decimal


@pytest.fixture(scope="module")
def reg() -> at.Registry:
    return at.load_registry()


def fake(table: dict, name: str = "fake"):  # type: ignore[no-untyped-def]
    peer = StaticPeer(name, table, version="0.0-test")
    return lambda against, at_: peer


def test_equal_prices_give_no_rows(reg: at.Registry) -> None:
    loader = fake({"openai": {"gpt-4.1": {"input": "2.00", "cached_input": "0.5", "output": "8"}}})
    assert diff_cards(reg, "fake", loader=loader) == []


def test_a_different_price_is_one_row_side_by_side(reg: at.Registry) -> None:
    loader = fake({"openai": {"gpt-4.1": {"input": "2.00", "cached_input": "0.5", "output": "9"}}})
    (row,) = diff_cards(reg, "fake", loader=loader)
    assert isinstance(row, CardDiff)
    assert (row.provider, row.model, row.peer_model, row.meter) == ("openai", "gpt-4.1", "gpt-4.1", "output")
    assert (row.ours, row.theirs, row.per, row.kind) == (D("8"), D("9"), "1M tokens", "differs")
    assert row.ratio == D("1.125")
    assert row.source is not None
    assert row.source.startswith("https://")
    assert list(rows([row])) == [["openai", "gpt-4.1", "gpt-4.1", "output", "8", "9", "1M tokens"]]


def test_models_pair_through_the_cards_aliases(reg: at.Registry) -> None:
    # The peer knows the model only under a dated snapshot name that is an alias on the card.
    loader = fake({"openai": {"gpt-4.1-2025-04-14": {"input": "2.10"}}})
    cc = compare_cards(reg, "fake", loader=loader)
    assert ("openai", "gpt-4.1", "gpt-4.1-2025-04-14") in cc.compared
    assert [(d.model, d.meter, d.theirs) for d in cc.diffs] == [("gpt-4.1", "input", D("2.1"))]


def test_provider_synonyms_and_unmatched_models(reg: at.Registry) -> None:
    loader = fake({"gemini": {"gemini-2.5-flash": {"input": "0.30", "output": "2.50"}}})
    cc = compare_cards(reg, "fake", providers=["google"], loader=loader)
    assert cc.compared == (("google", "gemini-2.5-flash", "gemini-2.5-flash"),)
    assert cc.diffs == ()
    assert ("google", "gemini-2.5-pro") in cc.unmatched
    assert all(p == "google" for p, _ in cc.unmatched)


def test_one_sided_meters_only_when_asked(reg: at.Registry) -> None:
    loader = fake({"openai": {"text-embedding-3-small": {"input": "0.02", "output": "0"}}})
    assert diff_cards(reg, "fake", loader=loader) == []
    (row,) = diff_cards(reg, "fake", one_sided=True, loader=loader)
    assert (row.meter, row.ours, row.theirs, row.kind) == ("output", None, D("0"), "peer_only")
    assert row.ratio is None


def test_long_context_tiers_are_compared_at_each_threshold(reg: at.Registry) -> None:
    # A peer without the >200K tier on Gemini 2.5 Pro: one row per meter the tier changes.
    loader = fake({"google": {"gemini-2.5-pro": {"input": "1.25", "input_image": "1.25", "input_audio": "1.25",
                                                 "cached_input": "0.125", "output": "10", "web_search": "35"}}})
    diffs = diff_cards(reg, "fake", loader=loader)
    assert {(d.meter, d.context_above, d.ours, d.theirs) for d in diffs} == {
        ("input", 200000, D("2.5"), D("1.25")), ("input_image", 200000, D("2.5"), D("1.25")),
        ("input_audio", 200000, D("2.5"), D("1.25")), ("cached_input", 200000, D("0.25"), D("0.125")),
        ("output", 200000, D("15"), D("10"))}
    assert next(iter(rows(diffs)))[3].endswith("(>200,000)")


def test_a_threshold_off_by_one_shows_up(reg: at.Registry) -> None:
    # xAI bills ">= 200k"; a peer with "> 200000" disagrees for a 200,000-token prompt.
    tier = {"input": "2.5", "cached_input": "0.4", "output": "5"}
    loader = fake({"xai": {"grok-4.3": {"input": "1.25", "cached_input": "0.2", "output": "2.5",
                                        "context": [(200000, tier)]}}})
    diffs = diff_cards(reg, "fake", loader=loader)
    assert {(d.meter, d.context_above) for d in diffs} == {("input", 199999), ("cached_input", 199999),
                                                           ("output", 199999)}


def test_prices_are_compared_at_the_requested_instant(reg: at.Registry) -> None:
    loader = fake({"openai": {"o3": {"input": "10", "cached_input": "2.5", "output": "40"}}})
    assert diff_cards(reg, "fake", at=datetime(2025, 5, 1, tzinfo=UTC), providers=["openai"], loader=loader) == []
    later = diff_cards(reg, "fake", providers=["openai"], loader=loader)   # newest read_on: after the cut
    assert {(d.meter, d.ours) for d in later} == {("input", D("2")), ("cached_input", D("0.5")), ("output", D("8"))}


def test_missing_models_lists_what_the_peer_has_and_the_cards_lack(reg: at.Registry) -> None:
    loader = fake({
        "openai": {"gpt-4o": {"input": "2.5"}, "gpt-4o-2024-08-06": {"input": "2.5"},
                   "gpt-9-turbo": {"input": "1", "output": "2"}},
        "mistral": {"mistral-large-latest": {"input": "0.5"}, "mistral-huge-2701": {"input": "9"}},
    })
    missing = missing_models(reg, "fake", providers=["openai", "mistral", "cohere"], loader=loader)
    assert [(m.provider, m.peer_model) for m in missing] == [("mistral", "mistral-huge-2701"),
                                                            ("openai", "gpt-9-turbo")]
    assert missing[1].prices == {"input": D("1"), "output": D("2")}


def test_an_unknown_peer_is_a_clear_error(reg: at.Registry) -> None:
    with pytest.raises(at.AttributionError, match="unknown peer 'tokencount'"):
        diff_cards(reg, "tokencount")


def test_a_peer_that_is_not_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)   # makes the import fail
    with pytest.raises(PeerNotInstalled) as info:
        load_peer("genai-prices")
    assert isinstance(info.value, at.AttributionError)
    assert "pip install genai-prices" in str(info.value)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(PeerNotInstalled, match="litellm"):
        load_peer("litellm")


def test_litellm_is_read_from_its_json_without_importing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model_prices_and_context_window_backup.json").write_text(
        '{"sample_spec": {}, "gemini/gemini-2.5-flash": {"litellm_provider": "gemini", "mode": "chat",'
        ' "input_cost_per_token": 3e-07, "output_cost_per_token": 2.6e-06, "cache_read_input_token_cost": 3e-08,'
        ' "search_context_cost_per_query": {"search_context_size_medium": 0.035}},'
        ' "gpt-4.1": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2e-06,'
        ' "input_cost_per_token_above_200k_tokens": 4e-06}}', encoding="utf-8")

    class Spec:
        submodule_search_locations = (str(tmp_path),)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: Spec() if name == "litellm" else None)
    monkeypatch.setitem(sys.modules, "litellm", None)    # importing it would fail
    peer = load_peer("litellm")
    model = peer.find("google", "gemini-2.5-flash")
    assert model is not None
    assert model.id == "gemini/gemini-2.5-flash"
    assert model.prices == {"input": D("0.3"), "cached_input": D("0.03"), "output": D("2.6"), "web_search": D("35")}
    assert peer.find("openai", "gpt-4.1").context == ((200000, {"input": D("4")}),)  # type: ignore[union-attr]
    assert peer.find("vertex", "gemini-2.5-flash") is None     # another provider's key


# --- against the real peers (skipped when they are not installed) -----------------------

needs_genai = pytest.mark.skipif(importlib.util.find_spec("genai_prices") is None,
                                 reason="genai-prices is not installed")
needs_litellm = pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason="litellm is not installed")


@needs_genai
def test_against_genai_prices(reg: at.Registry) -> None:
    cc = compare_cards(reg, "genai-prices")
    assert len(cc.compared) >= 150
    assert ("openai", "gpt-4.1", "gpt-4.1") in cc.compared
    assert not any(d.provider == "openai" and d.model == "gpt-4.1" for d in cc.diffs)
    assert missing_models(reg, "genai-prices", providers=["openai"])


@needs_litellm
def test_against_litellm(reg: at.Registry) -> None:
    cc = compare_cards(reg, "litellm")
    assert len(cc.compared) >= 100
    assert ("openai", "gpt-5", "gpt-5") in cc.compared
    assert not any(d.provider == "openai" and d.model == "gpt-5" for d in cc.diffs)


def test_a_time_of_day_card_is_compared_at_its_own_standard_rate_whatever_the_hour(reg: at.Registry) -> None:
    """DeepSeek's off-peak window is not a price difference: the period's own (peak) prices are compared."""
    info = next(m for m in reg.models("deepseek") if m.id == "deepseek-v4-pro")
    assert info.periods[-1].time_windows, "the card prices DeepSeek's off-peak hours"
    peak = {m: str(v) for m, v in info.periods[-1].meter_prices().items()}
    saturday_midnight = datetime(2026, 12, 5, tzinfo=UTC)   # off-peak on the card
    assert reg.resolve("deepseek", "deepseek-v4-pro", saturday_midnight).unit_prices() != {
        m: D(v) for m, v in peak.items()}
    loader = fake({"deepseek": {"deepseek-v4-pro": peak}})
    assert diff_cards(reg, "fake", at=saturday_midnight, providers=["deepseek"], loader=loader) == []


def test_litellm_service_tiers_and_cited_source_are_read() -> None:
    from attribution._carddiff import _LitellmPeer

    table = {"gpt-x": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2e-06,
                       "output_cost_per_token": 8e-06, "input_cost_per_token_batches": 1e-06,
                       "output_cost_per_token_batches": 4e-06, "input_cost_per_token_above_272k_tokens": 4e-06,
                       "input_cost_per_token_above_272k_tokens_batches": 2e-06, "input_cost_per_token_priority": 3.5e-06,
                       "source": "https://example.com/pricing"}}
    model = _LitellmPeer(table, "1.0.0").find("openai", "gpt-x")
    assert model is not None
    assert model.prices == {"input": D("2"), "output": D("8")}
    assert model.context == ((272000, {"input": D("4")}),)
    assert model.tiers["batch"] == ({"input": D("1"), "output": D("4")}, ((272000, {"input": D("2")}),))
    assert model.tiers["priority"] == ({"input": D("3.5")}, ())
    assert "flex" not in model.tiers
    assert model.cites == "https://example.com/pricing"
