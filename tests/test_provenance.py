"""Where each price period's numbers came from (attribution._provenance), and that the bundled cards tell the truth.

The bundled-card tests read every card's text as well as its data: a card that says in a
comment or a note that the provider page was not read must not let a period claim that page.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

import attribution as at
from attribution import cli
from attribution._names import PEERS
from attribution._provenance import KINDS, Provenance, count_kinds, provenance, summary
from attribution._registry import bundled_card_paths

BUNDLED = bundled_card_paths()

#: What a card or note says when the provider's page was not read for its numbers.
NOT_READ = re.compile(r"page[^;]{0,60}? (was|were) not (read|retrievable|in the stored copies)"
                      r"|page(s)? (itself )?not read|could not be read", re.IGNORECASE)
#: A note saying some of the period's numbers came from the peers alone.
PEER_ONLY = re.compile(r"\bpeer-only\b|\bpeer-sourced\b", re.IGNORECASE)


def _unread_models(card: at.CardFile) -> set[str]:
    """Model ids the card's comments say were not read on the provider's page.

    A statement before ``[card]`` covers the whole card; one inside the body covers its
    section, up to the next ``# ---`` heading. Comment lines are read as blocks, so a
    sentence may wrap.
    """
    text = card.text or ""
    header, _, body = text.partition("\n[card]\n")
    whole = bool(NOT_READ.search(" ".join(line.lstrip("# ") for line in header.splitlines())))
    unread: set[str] = set()
    section = False
    block: list[str] = []
    for line in (*body.splitlines(), ""):
        if line.startswith("#"):
            if line.startswith("# ---"):
                section = False
            block.append(line.lstrip("# "))
            continue
        if block and NOT_READ.search(" ".join(block)):
            section = True
        block = []
        m = re.match(r'^id = "([^"]+)"', line)
        if m and (whole or section):
            unread.add(m.group(1))
    return unread


@pytest.fixture(scope="module")
def cards() -> list[at.CardFile]:
    return [at.load_card(p) for p in BUNDLED]


def _periods(cards: list[at.CardFile]):  # type: ignore[no-untyped-def]
    for card in cards:
        for model in card.models:
            for j, period in enumerate(model.prices):
                yield card, model, j, period, provenance(period, card)


def test_no_period_claims_a_page_its_card_says_was_not_read(cards: list[at.CardFile]) -> None:
    """A card whose comments say the pricing page was not read lends that page to no period."""
    wrong = []
    for card in cards:
        unread = _unread_models(card)
        for model in card.models:
            if model.id not in unread:
                continue
            for j, period in enumerate(model.prices):
                prov = provenance(period, card)
                if prov.page and prov.inherited:
                    wrong.append(f"{Path(card.path or '').name}: {model.id} prices[{j}] inherits {prov.source}")
    assert not wrong, "\n".join(wrong)


def test_no_period_claims_a_page_its_own_note_says_was_not_read(cards: list[at.CardFile]) -> None:
    wrong = [f"{Path(card.path or '').name}: {model.id} prices[{j}] claims {prov.source}: {period.note}"
             for card, model, j, period, prov in _periods(cards)
             if prov.page and period.note and NOT_READ.search(period.note)]
    assert not wrong, "\n".join(wrong)


def test_a_note_about_peer_only_numbers_names_the_peers(cards: list[at.CardFile]) -> None:
    """'peer-only' / 'peer-sourced' in a note means the period's provenance lists the peers."""
    wrong = [f"{Path(card.path or '').name}: {model.id} prices[{j}]: {period.note}"
             for card, model, j, period, prov in _periods(cards)
             if period.note and PEER_ONLY.search(period.note) and not prov.peers
             and "does not carry" not in period.note]
    assert not wrong, "\n".join(wrong)


def test_no_page_read_before_the_price_it_shows_took_effect(cards: list[at.CardFile]) -> None:
    """A page read on 2026-11-23 cannot show a price first in force later (unless the note says it was announced)."""
    wrong = [f"{Path(card.path or '').name}: {model.id} prices[{j}] from {period.from_.date()} "
             f"read {prov.read_on}"
             for card, model, j, period, prov in _periods(cards)
             if prov.page and prov.read_on is not None and prov.read_on < period.from_.date()
             and not re.search(r"announc|scheduled", period.note or "")]
    assert not wrong, "\n".join(wrong)


def test_a_period_with_its_own_provenance_never_inherits_the_cards_page(cards: list[at.CardFile]) -> None:
    for _card, model, j, period, prov in _periods(cards):
        if period.source is not None or period.peers:
            assert not prov.inherited, f"{model.id} prices[{j}]"
            assert prov.peers == period.peers or not period.peers, f"{model.id} prices[{j}]"
            if period.peers:
                assert prov.source == period.source, f"{model.id} prices[{j}]"


def test_every_named_peer_is_a_known_package_with_a_version(cards: list[at.CardFile]) -> None:
    for _card, model, j, period, prov in _periods(cards):
        for peer in prov.peers:
            name, _, version = peer.partition(" ")
            assert name in PEERS, (model.id, j, peer)
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), (model.id, j, peer)
        if prov.verified:
            assert prov.page, (model.id, j)
            assert prov.peers, (model.id, j)
            assert set(prov.verified) <= set(period.meter_prices()), (model.id, j)


def test_the_counts_add_up_and_name_every_kind(cards: list[at.CardFile]) -> None:
    counts = count_kinds((period, card) for card, _m, _j, period, _p in _periods(cards))
    total = sum(1 for _ in _periods(cards))
    assert set(KINDS) <= set(counts)
    assert sum(counts.values()) == total
    # The peer-sourced additions of issue 19 are peer-only, and some prices were read on provider pages.
    assert counts["peers"] >= 60
    assert counts["page"] >= 50


# --- the rules, on small cards -----------------------------------------------------------

CARD = """
[card]
provider = "acme"
version = "acme-1"
read_on = 2026-01-05
source = "https://acme.example/pricing"

[[models]]
id = "m-page"
  [[models.prices]]
  from = 2025-01-01
  input = 1

[[models]]
id = "m-peers"
  [[models.prices]]
  from = 2025-01-01
  peers = ["genai-prices 0.2.3", "litellm 1.110.2"]
  read_on = 2026-02-01
  input = 1

[[models]]
id = "m-part"
  [[models.prices]]
  from = 2025-01-01
  source = "https://acme.example/models/m-part"
  peers = ["litellm 1.110.2"]
  verified = ["input"]
  input = 1
  output = 2

[[models]]
id = "m-legacy"
  [[models.prices]]
  from = 2025-01-01
  source = "genai-prices 0.2.3 and litellm 1.110.2 (package data), provider page not read"
  input = 1
"""


def _card(tmp_path: Path, text: str = CARD) -> at.CardFile:
    path = tmp_path / "acme.toml"
    path.write_text(text)
    return at.load_card(path)


def _prov(card: at.CardFile, model: str) -> Provenance:
    spec = next(m for m in card.models if m.id == model)
    return provenance(spec.prices[0], card)


def test_a_period_without_provenance_takes_the_cards_page(tmp_path: Path) -> None:
    p = _prov(_card(tmp_path), "m-page")
    assert (p.kind, p.source, p.read_on, p.inherited) == ("page", "https://acme.example/pricing", date(2026, 1, 5), True)


def test_a_peer_only_period_does_not_inherit_the_cards_url(tmp_path: Path) -> None:
    p = _prov(_card(tmp_path), "m-peers")
    assert (p.kind, p.source, p.peers) == ("peers", None, ("genai-prices 0.2.3", "litellm 1.110.2"))
    assert p.read_on == date(2026, 2, 1)
    assert "provider page not read" in p.describe()
    reg = at.load_registry(tmp_path / "acme.toml", bundled=False)
    assert reg.resolve("acme", "m-peers", None).source == \
        "genai-prices 0.2.3 and litellm 1.110.2 (peer data, provider page not read)"


def test_a_partly_verified_period_names_its_verified_meters(tmp_path: Path) -> None:
    p = _prov(_card(tmp_path), "m-part")
    assert p.kind == "page (part)+peers"
    assert p.verified == ("input",)
    assert p.read_on == date(2026, 1, 5)  # the card's read date
    assert p.describe().startswith("verified on https://acme.example/models/m-part (read 2026-01-05): input; "
                                   "the rest from peer data: litellm 1.110.2")


def test_the_older_free_text_spelling_of_peer_data_is_still_understood(tmp_path: Path) -> None:
    p = _prov(_card(tmp_path), "m-legacy")
    assert (p.kind, p.source, p.peers) == ("peers", None, ("genai-prices 0.2.3", "litellm 1.110.2"))


def test_a_users_document_source_is_a_document_not_a_page(tmp_path: Path) -> None:
    card = _card(tmp_path, CARD.replace('source = "https://acme.example/pricing"', 'source = "Order form OF-2291"'))
    p = _prov(card, "m-page")
    assert (p.kind, p.page, p.source) == ("document", False, "Order form OF-2291")


@pytest.mark.parametrize(("edit", "path", "words"), [
    (('peers = ["genai-prices 0.2.3", "litellm 1.110.2"]', 'peers = ["genai-prices"]'),
     "models[1].prices[0].peers[0]", "package version"),
    (('  verified = ["input"]\n', '  verified = ["cached_input"]\n'),
     "models[2].prices[0].verified", "not a meter"),
    (('  peers = ["litellm 1.110.2"]\n  verified', '  verified'),
     "models[2].prices[0].verified", "needs both"),
])
def test_bad_provenance_is_an_error_naming_the_field(tmp_path: Path, edit: tuple[str, str], path: str,
                                                     words: str) -> None:
    with pytest.raises(at.PriceCardError) as err:
        _card(tmp_path, CARD.replace(*edit))
    assert err.value.path == path
    assert words in str(err.value)


def test_a_period_with_neither_a_page_nor_peers_is_refused(tmp_path: Path) -> None:
    text = CARD.replace('source = "https://acme.example/pricing"\n', "")
    with pytest.raises(at.PriceCardError) as err:
        _card(tmp_path, text)
    assert err.value.path == "models[0].prices[0].source"


def test_summary_line() -> None:
    assert summary({"page": 2, "page+peers": 1, "page (part)+peers": 1, "document": 1, "peers": 3}) == (
        "8 price periods: 4 verified against a provider page (3 fully, 1 in part), 3 from peer data only, "
        "1 from other documents")


# --- the command line -----------------------------------------------------------------------


def test_cards_show_says_what_was_verified_and_what_came_from_peers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cards", "show", "claude-opus-4-8", "--provider", "anthropic"]) == 0
    out = capsys.readouterr().out
    expected = ("verified on https://platform.claude.com/docs/en/models/opus-4-8/overview (read 2026-12-03): "
                "input, output; the rest from peer data: genai-prices 0.2.3, litellm 1.110.2")
    assert expected in out
    assert cli.main(["cards", "show", "llama-v3p1-8b-instruct", "--provider", "fireworks"]) == 0
    out = capsys.readouterr().out
    assert "peer data only: genai-prices 0.2.3 (read 2026-11-23); provider page not read" in out
    assert "https://fireworks.ai" not in out


def test_cards_list_provenance_counts_every_bundled_period(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cards", "list", "--provenance"]) == 0
    out = capsys.readouterr().out
    reg = at.load_registry()
    total = sum(len(m.periods) for m in reg.models())
    found = re.search(r"(\d+) price periods: (\d+) verified against a provider page \((\d+) fully, (\d+) in part\), "
                      r"(\d+) from peer data only, (\d+) from other documents", out)
    assert found, out[-400:]
    n, verified, full, part, peers, docs = (int(g) for g in found.groups())
    assert n == total
    assert verified == full + part
    assert verified + peers + docs == total
    assert re.search(r"^fireworks\s+0\s+0\s+0\s+0\s+0\s+0\s+\d+", out, re.M)   # peer-only card
