"""Cold start: lazy public names, the validated-card cache, and what `import attribution` loads.

The 150 ms budget itself is measured in benchmarks/ (timings do not belong in tests);
these tests pin the mechanisms that make it possible, so a stray eager import or a
stale cache entry fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at
from attribution import _cardcache
from attribution._cards import load_card
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


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(_cardcache.CACHE_ENV, str(folder))
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("card-*.pickle")) if folder.exists() else []


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


def test_an_edited_card_is_never_served_stale(cache: Path, tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(CARD)
    registry = at.load_registry(card, bundled=False)
    assert at.cost("acme", "acme-large", at.Usage(input=1_000_000), registry=registry) == Decimal("1.00")
    card.write_text(CARD.replace("input = 1.00", "input = 1.50"))
    registry = at.load_registry(card, bundled=False)
    assert at.cost("acme", "acme-large", at.Usage(input=1_000_000), registry=registry) == Decimal("1.50")
    assert len(_entries(cache)) == 2


def test_a_corrupt_entry_is_a_miss_not_an_error(cache: Path, tmp_path: Path) -> None:
    card = tmp_path / "acme.toml"
    card.write_text(CARD)
    load_card(card)
    (entry,) = _entries(cache)
    entry.write_bytes(b"not a pickle")
    assert load_card(card).models[0].id == "acme-large"
    entry.write_bytes(__import__("pickle").dumps({"not": "a card"}))
    assert load_card(card).models[0].id == "acme-large"


def test_an_invalid_card_is_not_cached(cache: Path, tmp_path: Path) -> None:
    card = tmp_path / "bad.toml"
    card.write_text(CARD.replace("input = 1.00", "input = -1.00"))
    with pytest.raises(at.PriceCardError):
        load_card(card)
    with pytest.raises(at.PriceCardError):   # still rejected the second time
        load_card(card)
    assert _entries(cache) == []


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_cache_can_be_turned_off(value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_cardcache.CACHE_ENV, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    card = tmp_path / "acme.toml"
    card.write_text(CARD)
    load_card(card)
    assert not (tmp_path / "xdg").exists()


def test_an_unwritable_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")            # a cache "directory" below a file cannot be created, even by root
    monkeypatch.setenv(_cardcache.CACHE_ENV, str(blocker / "cache"))
    card = tmp_path / "acme.toml"
    card.write_text(CARD)
    assert load_card(card).card.version == "acme-2026-12-01"


def test_cache_directory_is_private(cache: Path) -> None:
    load_card(bundled_card_paths()[0])
    assert cache.stat().st_mode & 0o077 == 0


def _fresh(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return out.stdout.strip()


def test_import_loads_only_the_core() -> None:
    """`import attribution` must not pull in the heavy stages; the first use of a name does."""
    loaded = json.loads(_fresh(
        "import sys, json, attribution\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('attribution', 'cattrs', 'tomllib')))))"))
    assert "cattrs" not in loaded
    assert "tomllib" not in loaded
    for heavy in ("attribution._allocate", "attribution._audit", "attribution.normalize",
                  "attribution.invoices", "attribution._reconcile", "attribution._registry"):
        assert heavy not in loaded


def test_warm_cost_needs_neither_toml_nor_cattrs(tmp_path: Path) -> None:
    code = ("import sys, attribution as a\n"
            "print(a.cost('openai', 'gpt-4o', a.Usage(input=1_000_000)),"
            " 'cattrs' in sys.modules, 'tomllib' in sys.modules, 'attribution._records' in sys.modules)")
    cold = _fresh(code, ATTRIBUTION_CACHE_DIR=str(tmp_path))
    warm = _fresh(code, ATTRIBUTION_CACHE_DIR=str(tmp_path))
    assert cold == "2.50 True True False"
    assert warm == "2.50 False False False"   # nor the record types: cost() needs only the registry


def test_every_public_name_resolves() -> None:
    for name in at.__all__:
        assert getattr(at, name) is not None, name
    assert set(at.__all__) <= set(dir(at))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        at.nonsense  # noqa: B018


def test_normalize_stays_the_function_after_its_subpackage_is_imported() -> None:
    out = _fresh("import attribution.normalize.openai, attribution as a, sys\n"
                 "print(callable(a.normalize), a.normalize.__name__, type(sys.modules['attribution.normalize']).__name__)")
    assert out == "True normalize module"


def test_the_command_line_imports_only_what_its_command_runs() -> None:
    """`attribution --help` and `attribution price` must not import the audit, the reconciler or the writers."""
    code = ("import sys, json, contextlib, io\n"
            "from attribution import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    code = cli.main(['price', '--provider', 'openai', '--model', 'gpt-4o', '--input', '1000'])\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('attribution'))]))")
    code_, loaded = json.loads(_fresh(code))
    assert code_ == 0
    for heavy in ("attribution._audit", "attribution._reconcile", "attribution.reports", "attribution.normalize",
                  "attribution.invoices", "attribution._allocate", "attribution._carddiff"):
        assert heavy not in loaded


def test_the_command_lines_names_match_the_stages_that_use_them() -> None:
    from attribution import _names
    from attribution._audit import PERIODS
    from attribution._rollup import BUILTIN_DIMENSIONS
    from attribution.reports import BINARY_FORMATS, WRITERS

    assert set(_names.REPORT_FORMATS) == set(WRITERS)
    assert BINARY_FORMATS is _names.BINARY_FORMATS
    assert set(PERIODS) <= set(BUILTIN_DIMENSIONS)   # an audit's period is also a rollup dimension
