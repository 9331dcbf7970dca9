"""The validated-card cache (attribution._cardcache) under hostile and faulty disks.

An entry on disk must never run code, never change a price and never make a run
write through a link: whatever is wrong with the cache directory or an entry
(planted, edited, truncated, someone else's, writable by others, a symlink),
the card is parsed again and prices are those of the card's text.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import attribution as at
from attribution import _cardcache
from attribution._cards import CardFile, load_card
from attribution._registry import bundled_card_paths

CARD = """\
[card]
provider = "acme"
version = "acme-2026-12-01"
currency = "USD"
read_on = 2026-12-01
source = "https://example.com/acme-pricing"

[[models]]
id = "acme-large"

  [[models.prices]]
  from = 2026-01-01
  input = 1.00
  output = 4.00
"""
PRICE = Decimal("1.00")
OTHER_UID = 12345


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(_cardcache.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(CARD)
    return path


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("card-*") if not p.name.endswith(".tmp")) if folder.exists() else []


def _input_price(card: CardFile) -> Decimal | None:
    return card.models[0].prices[0].input


def _tenth(card: CardFile) -> CardFile:
    """The card with its first model's input price cut to a tenth: what a planted entry would serve."""
    model = card.models[0]
    period = attrs.evolve(model.prices[0], input=model.prices[0].input / 10)  # type: ignore[operator]
    return attrs.evolve(card, models=(attrs.evolve(model, prices=(period, *model.prices[1:])), *card.models[1:]),
                        path=None, text=None)


def _plant_cheap_entry(card_path: Path) -> Path:
    """Write, through the cache's own writer, a *sound* entry for this card's text at a tenth of its price.

    The entry is one the cache would serve if nothing else stopped it; each test then breaks
    one rule (owner, mode, link) and checks that the price stays that of the card text.
    """
    text = card_path.read_text()
    parsed = load_card(card_path)
    _cardcache.put(text, _tenth(parsed))
    assert _input_price(load_card(card_path)) == PRICE / 10   # sanity: as planted, it is served
    (entry,) = _entries(Path(os.environ[_cardcache.CACHE_ENV]))
    return entry


def _give_away(path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root")
    os.chown(path, OTHER_UID, -1, follow_symlinks=False)


# --- the ordinary behaviour ---------------------------------------------------


def test_second_load_comes_from_the_cache_and_keeps_its_own_path(cache: Path, tmp_path: Path) -> None:
    first = tmp_path / "a.toml"
    first.write_text(CARD)
    parsed = load_card(first)
    assert len(_entries(cache)) == 1
    # The same text under another name: served from the cache, but with the new path and text,
    # so later errors still name the file the user gave.
    second = tmp_path / "b.toml"
    second.write_text(CARD)
    cached = load_card(second)
    assert (cached.card, cached.models) == (parsed.card, parsed.models)
    assert cached.path == str(second)
    assert cached.text == CARD
    assert len(_entries(cache)) == 1


def test_an_edited_card_is_never_served_stale(cache: Path, card: Path) -> None:
    registry = at.load_registry(card, bundled=False)
    assert at.cost("acme", "acme-large", at.Usage(input=1_000_000), registry=registry) == Decimal("1.00")
    card.write_text(CARD.replace("input = 1.00", "input = 1.50"))
    registry = at.load_registry(card, bundled=False)
    assert at.cost("acme", "acme-large", at.Usage(input=1_000_000), registry=registry) == Decimal("1.50")
    assert len(_entries(cache)) == 2


def test_an_invalid_card_is_not_cached(cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CARD.replace("input = 1.00", "input = -1.00"))
    with pytest.raises(at.PriceCardError):
        load_card(bad)
    with pytest.raises(at.PriceCardError):   # still rejected the second time
        load_card(bad)
    assert _entries(cache) == []


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_cache_can_be_turned_off(value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, card: Path) -> None:
    monkeypatch.setenv(_cardcache.CACHE_ENV, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_card(card)
    assert not (tmp_path / "xdg").exists()


def test_an_unwritable_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, card: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")            # a cache "directory" below a file cannot be created, even by root
    monkeypatch.setenv(_cardcache.CACHE_ENV, str(blocker / "cache"))
    assert load_card(card).card.version == "acme-2026-12-01"


def test_cache_directory_entries_and_secret_are_private(cache: Path) -> None:
    load_card(bundled_card_paths()[0])
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert files
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)


def test_the_cache_is_off_where_its_checks_cannot_be_made(cache: Path, card: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cardcache, "_SUPPORTED", False)
    assert _cardcache.cache_dir() is None
    load_card(card)
    assert not cache.exists()


def test_a_hit_builds_exactly_the_registry_parsing_builds(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = bundled_card_paths()
    monkeypatch.setenv(_cardcache.CACHE_ENV, "off")
    parsed = [load_card(p) for p in paths]
    monkeypatch.setenv(_cardcache.CACHE_ENV, str(cache))
    for p in paths:
        load_card(p)   # fills the cache
    for p, want in zip(paths, parsed, strict=True):
        assert _cardcache.get(p.read_text()) is not None, p   # these really are hits
        got = load_card(p)
        # == ignores a Decimal's exponent (2.5 == 2.50); repr does not, and shows every field.
        assert got == want, p
        assert repr(got) == repr(want), p
    warm, cold = at.load_registry(), at.Registry(parsed)
    assert repr(warm.models()) == repr(cold.models())
    usage = at.Usage(input=1_234_567, cached_input=34_567, output=7_654_321)
    for info in cold.models():
        for period in info.periods:
            prices = [_price_or_error(reg, info.provider, info.id, usage, period.from_) for reg in (warm, cold)]
            assert prices[0] == prices[1], (info.provider, info.id, period.from_)


def _price_or_error(registry: at.Registry, provider: str, model: str, usage: at.Usage, when: Any) -> str:
    try:
        return repr(at.cost(provider, model, usage, at=when, registry=registry))
    except at.AttributionError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_entries_are_plain_json(cache: Path, card: Path) -> None:
    load_card(card)
    (entry,) = _entries(cache)
    header, mac, payload = entry.read_bytes().split(b"\n", 2)
    assert header == _cardcache.FORMAT.encode()
    assert len(mac) == 64
    assert json.loads(payload)["models"][0]["prices"][0]["input"] == "1.00"   # exact text, never a float


# --- tampered entries -----------------------------------------------------------


class _Boom:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_is_never_executed(cache: Path, card: Path, tmp_path: Path) -> None:
    load_card(card)
    marker = tmp_path / "pwned"
    for entry in _entries(cache):
        entry.write_bytes(pickle.dumps(_Boom(marker)))
    assert _input_price(load_card(card)) == PRICE
    assert not marker.exists()


def test_an_entry_edited_to_a_tenth_of_the_price_is_a_miss(cache: Path) -> None:
    registry = at.load_registry()
    usage = at.Usage(input=1_000_000)
    assert at.cost("openai", "gpt-4o", usage, registry=registry) == Decimal("2.50")
    edited = 0
    for entry in _entries(cache):   # every 2.50 on every card, in whatever form the entry holds it
        raw = entry.read_bytes()
        edited += b"2.50" in raw
        entry.write_bytes(raw.replace(b"2.50", b"0.25"))    # same length: framing and sizes still fit
    assert edited
    assert at.cost("openai", "gpt-4o", usage, registry=at.load_registry()) == Decimal("2.50")


def test_an_entry_re_signed_without_the_secret_is_a_miss(cache: Path, card: Path) -> None:
    """Recomputing a plain digest is not enough: the MAC needs the directory's secret."""
    import hashlib

    load_card(card)
    (entry,) = _entries(cache)
    header, _, payload = entry.read_bytes().split(b"\n", 2)
    forged = payload.replace(b'"1.00"', b'"0.10"')
    for mac in (hashlib.sha256(forged).hexdigest(), hashlib.sha256(entry.stem.encode() + forged).hexdigest()):
        entry.write_bytes(header + b"\n" + mac.encode() + b"\n" + forged)
        assert _input_price(load_card(card)) == PRICE


def test_an_entry_copied_under_another_cards_name_is_a_miss(cache: Path, card: Path, tmp_path: Path) -> None:
    cheap = tmp_path / "cheap.toml"
    cheap.write_text(CARD.replace("input = 1.00", "input = 0.10"))
    load_card(card)
    load_card(cheap)
    right = cache / _cardcache.entry_name(CARD)
    (cache / _cardcache.entry_name(cheap.read_text())).replace(right)   # a sound entry, of the wrong text
    assert _input_price(load_card(card)) == PRICE


@pytest.mark.parametrize("cut", [0, 1, 30, 100, -1])
def test_a_truncated_entry_is_a_miss_and_is_rewritten(cache: Path, card: Path, cut: int) -> None:
    load_card(card)
    (entry,) = _entries(cache)
    whole = entry.read_bytes()
    entry.write_bytes(whole[:cut])
    assert _input_price(load_card(card)) == PRICE
    assert entry.read_bytes() == whole


@pytest.mark.parametrize("payload", [
    b"not json", b"[]", b'{"card": 1}', b'{"card": {"provider": "acme"}}', b"{" * 100_000,
    b'{"card": {"provider": "acme", "version": "v"}, "models": [{"id": "m", "prices": [{"from": 1}]}]}',
])
def test_a_signed_but_malformed_payload_is_a_miss_not_an_error(cache: Path, card: Path, payload: bytes) -> None:
    """Even with a valid MAC (say, a bug in an older writer), a payload must fit the schema exactly."""
    load_card(card)
    (entry,) = _entries(cache)
    fd = os.open(cache, os.O_RDONLY)
    try:
        secret = _cardcache._secret(fd, create=False)
    finally:
        os.close(fd)
    assert secret is not None
    key = entry.stem.removeprefix("card-")
    entry.write_bytes(_cardcache.FORMAT.encode() + b"\n" + _cardcache._mac(secret, key, payload) + b"\n" + payload)
    assert _input_price(load_card(card)) == PRICE


# --- whose files: owner, mode, links -----------------------------------------------


def test_an_entry_owned_by_someone_else_is_refused(cache: Path, card: Path) -> None:
    _give_away(_plant_cheap_entry(card))
    assert _input_price(load_card(card)) == PRICE


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_an_entry_writable_by_others_is_refused(cache: Path, card: Path, mode: int) -> None:
    _plant_cheap_entry(card).chmod(mode)
    assert _input_price(load_card(card)) == PRICE


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_directory_writable_by_others_is_refused_and_not_written(cache: Path, card: Path, tmp_path: Path,
                                                                   mode: int) -> None:
    _plant_cheap_entry(card)
    cache.chmod(mode)
    assert _input_price(load_card(card)) == PRICE
    other = tmp_path / "other.toml"
    other.write_text(CARD.replace("acme-2026-12-01", "acme-2026-12-02"))
    load_card(other)
    assert len(_entries(cache)) == 1     # nothing new is written into a directory others can write


def test_a_directory_owned_by_someone_else_is_refused(cache: Path, card: Path) -> None:
    _plant_cheap_entry(card)
    _give_away(cache)
    assert _input_price(load_card(card)) == PRICE


@pytest.mark.parametrize("fault", ["foreign", "writable", "symlink"])
def test_a_suspect_secret_turns_the_cache_off(cache: Path, card: Path, tmp_path: Path, fault: str) -> None:
    _plant_cheap_entry(card)
    key = cache / "key"
    if fault == "foreign":
        _give_away(key)
    elif fault == "writable":
        key.chmod(0o666)
    else:
        elsewhere = tmp_path / "elsewhere-key"
        key.replace(elsewhere)
        key.symlink_to(elsewhere)
    assert _input_price(load_card(card)) == PRICE


def test_a_symlinked_entry_is_not_followed(cache: Path, card: Path, tmp_path: Path) -> None:
    entry = _plant_cheap_entry(card)
    elsewhere = tmp_path / "elsewhere.json"
    entry.replace(elsewhere)
    entry.symlink_to(elsewhere)
    planted = elsewhere.read_bytes()
    assert _input_price(load_card(card)) == PRICE
    assert not entry.is_symlink()                 # replaced by a real entry of the right price...
    assert elsewhere.read_bytes() == planted      # ...and the link's target was not written


def test_a_run_never_writes_through_a_planted_symlink(cache: Path, card: Path, tmp_path: Path) -> None:
    """Links at the entry's name and at the old, predictable temp name must not lead a write elsewhere."""
    load_card(card)
    (entry,) = _entries(cache)
    entry.unlink()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for name in {entry.name, f"{entry.name}.{os.getpid()}.tmp", f"{entry.with_suffix('.pickle').name}.{os.getpid()}.tmp"}:
        (cache / name).symlink_to(victim)
    assert _input_price(load_card(card)) == PRICE
    assert victim.read_text() == "precious"
    assert not (cache / entry.name).is_symlink()


def test_a_temp_name_taken_by_a_symlink_is_never_written_through(cache: Path, card: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    load_card(card)   # the directory and its secret exist
    for entry in _entries(cache):
        entry.unlink()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (cache / ".tmp-guessed").symlink_to(victim)
    (cache / ".tmp-dangling").symlink_to(tmp_path / "would-be-created")
    for name in (".tmp-guessed", ".tmp-dangling"):
        monkeypatch.setattr(_cardcache, "_temp_name", lambda name=name: name)
        assert _input_price(load_card(card)) == PRICE     # the write is given up, not an error
    assert victim.read_text() == "precious"
    assert not (tmp_path / "would-be-created").exists()
    assert _entries(cache) == []


# --- the key -------------------------------------------------------------------------


def test_the_key_covers_text_library_version_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution import _version

    base = _cardcache.entry_name(CARD)
    assert _cardcache.entry_name(CARD + " ") != base
    try:
        monkeypatch.setattr(_version, "__version__", _version.__version__ + ".post1")
        _cardcache._salt.cache_clear()
        assert _cardcache.entry_name(CARD) != base
        monkeypatch.undo()
        monkeypatch.setattr(_cardcache, "FORMAT", _cardcache.FORMAT + "x")
        _cardcache._salt.cache_clear()
        assert _cardcache.entry_name(CARD) != base
        monkeypatch.undo()
    finally:
        _cardcache._salt.cache_clear()
    assert _cardcache.entry_name(CARD) == base


def test_an_entry_from_another_library_version_is_not_served(cache: Path, card: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution import _version

    try:
        monkeypatch.setattr(_version, "__version__", "0.0.0-old")
        _cardcache._salt.cache_clear()
        _plant_cheap_entry(card)
        monkeypatch.undo()
        _cardcache._salt.cache_clear()
        assert _input_price(load_card(card)) == PRICE
    finally:
        _cardcache._salt.cache_clear()
