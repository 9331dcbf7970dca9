"""The monthly card update (attribution._cardsync, ``attribution cards sync``), with hand-made peers.

No peer package is needed: every test feeds a StaticPeer (or a tiny Peer) through the
loader, the way ``cards sync`` reads an installed genai-prices or litellm.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
import attribution._carddiff as carddiff
from attribution import cli
from attribution._carddiff import PeerModel, StaticPeer
from attribution._cardsync import (
    BEGIN,
    END,
    crosscheck_section,
    parse_explanations,
    replace_section,
    sync_cards,
)
from attribution._registry import bundled_card_paths

UTC = timezone.utc
D = Decimal
DAY = date(2026, 12, 4)


@pytest.fixture(scope="module")
def reg() -> at.Registry:
    return at.load_registry()


def loader(peer: object):  # type: ignore[no-untyped-def]
    return lambda name, when: peer


#: gpt-4.1 exactly as the card prices it; a new model with the full structure; a price change.
TABLE = {
    "openai": {
        "gpt-4.1": {"input": "2.00", "cached_input": "0.50", "output": "8.00"},
        "gpt-9": {"input": "3", "cached_input": "0.3", "cache_write": "3.75", "output": "15",
                  "context": [(272000, {"input": "6", "output": "22.5"})],
                  "tiers": {"batch": {"input": "1.5", "output": "7.5"}, "priority": {"input": "6", "output": "30"}},
                  "since": "2026-11-02", "cites": "https://example.com/gpt-9"},
    },
}


def peer(table: dict = TABLE, version: str = "9.9.9") -> StaticPeer:  # type: ignore[type-arg]
    return StaticPeer("genai-prices", table, version=version)


def test_a_peer_equal_to_the_cards_is_in_sync(reg: at.Registry) -> None:
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"],
                     loader=loader(peer({"openai": {"gpt-4.1": TABLE["openai"]["gpt-4.1"]}})))
    assert rep.in_sync
    assert rep.patches() == {}
    assert "| models whose prices differ | 0 (0 prices) |" in rep.markdown()


def test_a_missing_model_is_proposed_with_its_full_price_structure(reg: at.Registry) -> None:
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer()))
    assert not rep.in_sync
    assert [m.peer_model for m in rep.missing] == ["gpt-9"]
    patch = rep.patches()["openai"]
    block = patch[patch.index('id = "gpt-9"'):]
    for line in ('  from = 2026-11-02\n', '  peers = ["genai-prices 9.9.9"]\n', "  read_on = 2026-12-04\n",
                 "  input = 3\n", "  cached_input = 0.3\n", "  cache_write = 3.75\n", "  output = 15\n",
                 "  context = [{ above = 272000, input = 6, output = 22.5 }]\n",
                 "  tiers.batch = { input = 1.5, output = 7.5 }\n", "  tiers.priority = { input = 6, output = 30 }\n"):
        assert line in block, line
    assert "provider page not read" in block
    assert "the peer cites https://example.com/gpt-9" in block
    assert "source =" not in block   # the peer is the provenance; no page is claimed


def test_the_proposed_toml_is_valid_card_syntax_once_appended(tmp_path: Path, reg: at.Registry,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer()))
    cards = tmp_path / "cards"
    cards.mkdir()
    for path in bundled_card_paths():
        shutil.copy(path, cards / path.name)
    with (cards / "openai.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + rep.patches()["openai"])
    assert cli.main(["cards", "validate", str(cards), "--alone"]) == 0, capsys.readouterr().out
    # Appended, the model prices from the peer's start date, with peer provenance.
    appended = at.load_registry(*sorted(cards.glob("*.toml")), bundled=False)
    rate = appended.resolve("openai", "gpt-9", datetime(2026, 11, 15, tzinfo=UTC))
    assert rate.unit_prices()["output"] == D("15")
    assert rate.source == "genai-prices 9.9.9 (peer data, provider page not read)"
    with pytest.raises(at.PriceNotInForce):
        appended.resolve("openai", "gpt-9", datetime(2026, 11, 1, tzinfo=UTC))


def test_a_price_that_differs_is_a_commented_proposal_never_an_edit(reg: at.Registry) -> None:
    table = {"openai": {"gpt-4.1": {"input": "2.00", "cached_input": "0.50", "output": "9.00", "since": "2026-11-20"}}}
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer(table)))
    (d,) = rep.check.diffs
    assert (d.model, d.meter, d.ours, d.theirs, d.theirs_since) == ("gpt-4.1", "output", D("8"), D("9"),
                                                                    date(2026, 11, 20))
    assert d.ours_from is not None
    assert d.ours_until is None
    patch = rep.patches()["openai"]
    assert all(line.startswith("#") or not line.strip() for line in patch.splitlines())
    assert "#   output: cards 8, genai-prices 9 per 1M tokens (peer since 2026-11-20)" in patch
    assert "#   from = 2026-11-20\n" in patch
    assert "#   output = 9\n" in patch
    assert "#   input = 2\n" in patch
    row = next(line for line in rep.markdown().splitlines() if line.startswith("| openai | gpt-4.1 |"))
    assert f"| {d.ours_from.date().isoformat()} .. now |" in row
    assert "| 2026-11-20 |" in row


def test_provider_prefixes_are_removed_and_known_bare_names_skipped(reg: at.Registry) -> None:
    table = {"google": {"gemini/gemini-9-flash": {"input": "1", "output": "2"},
                        "gemini/gemini-2.5-flash": {"input": "0.30", "output": "2.50"}}}
    rep = sync_cards(reg, "litellm", read_on=DAY, providers=["google"],
                     loader=loader(StaticPeer("litellm", table, version="1.0.0")))
    patch = rep.patches()["google"]
    assert 'id = "gemini-9-flash"' in patch
    assert 'note = "litellm id gemini/gemini-9-flash"' in patch
    assert "gemini-2.5-flash" not in patch


def test_prices_a_card_cannot_hold_are_left_out_and_said_so(reg: at.Registry) -> None:
    table = {"openai": {"gpt-tiny": {"input": "0.0000000001", "output": "1"},
                        "gpt-image-only": {"input": "0.00000000001"}}}
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer(table)))
    patch = rep.patches()["openai"]
    tiny = patch[patch.index('id = "gpt-tiny"'):]
    assert "  output = 1\n" in tiny
    assert "\n  input =" not in tiny.split("[[models]]")[0]
    assert "not proposed (more decimals than a card holds): input 0.0000000001" in tiny
    assert "#   gpt-image-only: no token or web-search price the card format can hold" in patch


def test_a_model_a_card_excludes_is_not_proposed_and_the_report_gives_the_reason(tmp_path: Path) -> None:
    card = tmp_path / "acme-openai.toml"
    card.write_text('[card]\nprovider = "openai"\nversion = "acme-excl"\nread_on = 2026-12-01\n'
                    'source = "internal review"\n\n[[excluded]]\nid = "gpt-nope"\n'
                    'reason = "billed per image, a unit the card format cannot express"\n')
    reg = at.load_registry(card)
    table = {"openai": {"gpt-nope": {"input": "1", "output": "2"}}}
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer(table)))
    assert rep.missing == ()
    assert rep.excluded == (("openai", "gpt-nope", "gpt-nope", "billed per image, a unit the card format cannot express"),)
    assert rep.in_sync
    assert "| openai | gpt-nope | gpt-nope | billed per image, a unit the card format cannot express |" in rep.markdown()


def test_a_peers_regional_variant_of_a_known_model_is_a_comment_not_a_model(reg: at.Registry) -> None:
    table = {"azure": {"azure/us-gov/gpt-4o": {"input": "3", "output": "12"}}}
    rep = sync_cards(reg, "litellm", read_on=DAY, providers=["azure"],
                     loader=loader(StaticPeer("litellm", table, version="1.0.0")))
    patch = rep.patches()["azure"]
    assert "[[models]]" not in patch
    assert "#   azure/us-gov/gpt-4o: gpt-4o's price in region us-gov (not compared" in patch
    assert "| azure | azure/us-gov/gpt-4o | - (gpt-4o in us-gov) |" in rep.markdown()


def test_a_peer_tier_name_a_card_cannot_use_is_a_comment(reg: at.Registry) -> None:
    table = {"openai": {"gpt-9": {"input": "3", "output": "15", "tiers": {"Scale Tier": {"input": "9"}}}}}
    patch = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"],
                       loader=loader(peer(table))).patches()["openai"]
    assert '  # tier "Scale Tier" not proposed (not a card tier name): { input = 9 }' in patch
    assert "tiers." not in patch


class _HistoryPeer:
    """A peer with a dated price history, as genai-prices keeps one."""

    name = "genai-prices"
    version = "9.9.9"

    def __init__(self) -> None:
        self.model = PeerModel(
            provider="openai", id="gpt-hist", prices={"input": D("2"), "output": D("8")},
            since=date(2026, 9, 1),
            history=((None, {"input": D("4"), "output": D("16")}, ()),
                     (date(2026, 9, 1), {"input": D("2"), "output": D("8")}, ())))

    def find(self, provider: str, name: str) -> PeerModel | None:
        return self.model if name == "gpt-hist" else None

    def models(self, provider: str) -> Iterable[PeerModel]:
        return [self.model] if provider == "openai" else []


def test_a_peer_history_becomes_dated_periods_and_an_undated_launch_price_is_not_guessed(
        tmp_path: Path, reg: at.Registry) -> None:
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(_HistoryPeer()))
    patch = rep.patches()["openai"]
    block = patch[patch.index('id = "gpt-hist"'):]
    assert block.count("[[models.prices]]") == 1      # the launch price has no start date: not proposed
    assert "  from = 2026-09-01\n" in block
    card = tmp_path / "openai.toml"
    card.write_text(Path(bundled_card_paths()[0]).parent.joinpath("openai.toml").read_text() + "\n" + patch)
    loaded = at.load_card(card)
    (model,) = [m for m in loaded.models if m.id == "gpt-hist"]
    assert model.prices[0].peers == ("genai-prices 9.9.9",)


def test_a_dated_history_closes_each_period_where_the_next_starts(reg: at.Registry) -> None:
    hist = _HistoryPeer()
    hist.model = PeerModel(provider="openai", id="gpt-hist", prices={"input": D("2")}, since=date(2026, 9, 1),
                           history=((date(2026, 3, 1), {"input": D("4")}, ()),
                                    (date(2026, 9, 1), {"input": D("2")}, ())))
    patch = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(hist)).patches()["openai"]
    block = patch[patch.index('id = "gpt-hist"'):]
    assert "  from = 2026-03-01\n  until = 2026-09-01\n" in block
    assert "  from = 2026-09-01\n  peers" in block


# --- the command line -------------------------------------------------------------------------------


@pytest.fixture
def fake_peers(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    tables: dict[str, dict] = {}  # type: ignore[type-arg]

    def load(name: str, when: object) -> StaticPeer:
        return StaticPeer(name, tables.get(name, {}), version="9.9.9")

    monkeypatch.setattr(carddiff, "load_peer", load)
    return tables


def test_cli_exit_0_when_in_sync_1_when_there_is_work(fake_peers: dict, capsys: pytest.CaptureFixture[str],  # type: ignore[type-arg]
                                                      tmp_path: Path) -> None:
    fake_peers["genai-prices"] = {"openai": {"gpt-4.1": TABLE["openai"]["gpt-4.1"]}}
    assert cli.main(["cards", "sync", "--from", "genai-prices", "--provider", "openai", "--read-on", "2026-12-04"]) == 0
    assert "# Price cards vs genai-prices 9.9.9" in capsys.readouterr().out
    fake_peers["genai-prices"] = TABLE
    out_dir = tmp_path / "sync"
    assert cli.main(["cards", "sync", "--from", "genai-prices", "--provider", "openai", "--read-on", "2026-12-04",
                     "-o", str(out_dir)]) == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["genai-prices-openai.toml", "genai-prices-sync.md"]
    assert 'id = "gpt-9"' in (out_dir / "genai-prices-openai.toml").read_text()
    err = capsys.readouterr().err
    assert "genai-prices 9.9.9: 0 models with 0 differing prices, 1 peer models no card knows" in err


def test_cli_bad_usage_and_a_missing_peer_are_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["cards", "sync"]) == 2
    assert cli.main(["cards", "sync", "--from", "nonsense"]) == 2
    capsys.readouterr()

    def absent(name: str, when: object) -> None:
        raise carddiff.PeerNotInstalled(name, name)

    monkeypatch.setattr(carddiff, "load_peer", absent)
    assert cli.main(["cards", "sync", "--from", "litellm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the 'litellm' package is not installed (pip install litellm)" in err
    assert cli.main(["cards", "sync", "--from", "litellm", "--provider", "nosuch"]) == 2
    assert "no cards for provider 'nosuch'" in capsys.readouterr().err


# --- the cross-check document -------------------------------------------------------------------


DOC = f"""# Cross-check

Human-written introduction, kept.

{BEGIN}
stale tables
{END}

## Explanations

| peer | model | meter | explanation |
|---|---|---|---|
| * | `openai/gpt-4.1` | output | **peer stale**: the card has the newer price |

Human-written closing text, kept.
"""


def test_explanations_are_read_from_the_document() -> None:
    (e,) = parse_explanations(DOC)
    assert (e.peer, e.model, e.meter) == ("*", "openai/gpt-4.1", "output")
    assert e.text.startswith("**peer stale**")


def test_the_generated_section_explains_each_difference_or_flags_it(reg: at.Registry) -> None:
    table = {"openai": {"gpt-4.1": {"input": "2.10", "cached_input": "0.50", "output": "9.00"}}}
    rep = sync_cards(reg, "genai-prices", read_on=DAY, providers=["openai"], loader=loader(peer(table)))
    section, unexplained = crosscheck_section([rep], parse_explanations(DOC), {"page": 2, "peers": 1})
    assert unexplained == 1   # input has no explanation; output has
    assert "| openai/gpt-4.1 | gpt-4.1 | output 8 -> 9 | **peer stale**: the card has the newer price |" in section
    assert "| openai/gpt-4.1 | gpt-4.1 | input 2 -> 2.1 | **unexplained** |" in section
    assert "3 price periods: 2 verified against a provider page" in section
    new = replace_section(DOC, section)
    assert "stale tables" not in new
    assert "Human-written introduction, kept." in new
    assert "Human-written closing text, kept." in new
    assert new.count(BEGIN) == 1
    assert replace_section(new, section) == new   # regenerating is idempotent


def test_cli_crosscheck_doc_exit_1_until_every_difference_is_explained(
        fake_peers: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    fake_peers["genai-prices"] = {"openai": {"gpt-4.1": {"input": "2.00", "cached_input": "0.50", "output": "9.00"}}}
    doc = tmp_path / "crosscheck.md"
    doc.write_text(DOC.replace("output |", "input |"))
    args = ["cards", "sync", "--from", "genai-prices", "--provider", "openai", "--read-on", "2026-12-04",
            "--crosscheck-doc", str(doc)]
    assert cli.main(args) == 1
    assert "0 of 1 differences explained, 1 unexplained" in capsys.readouterr().err
    doc.write_text(DOC)
    assert cli.main(args) == 0
    assert "1 of 1 differences explained" in capsys.readouterr().err
    assert "**peer stale**: the card has the newer price |" in doc.read_text().split(END)[0]
