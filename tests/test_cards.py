"""Price cards: the bundled cards are sound, and a bad card names its file and key path."""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

import attribution as at
from attribution._provenance import provenance
from attribution._registry import bundled_card_paths

UTC = timezone.utc

# --- the bundled cards -------------------------------------------------------------------

BUNDLED = bundled_card_paths()


def test_the_openai_anthropic_and_bedrock_cards_are_bundled():
    names = {p.stem for p in BUNDLED}
    assert {"openai", "anthropic", "bedrock"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_card_loads_and_every_price_period_has_a_source_url_and_read_date(path):
    card = at.load_card(path)
    assert card.card.provider == path.stem
    assert re.fullmatch(r"[A-Z]{3}", card.card.currency)
    assert card.models, f"{path.name} has no models"
    for model in card.models:
        for j, period in enumerate(model.prices):
            where = f"{path.name}: {model.id} prices[{j}]"
            prov = provenance(period, card)
            read_on = prov.read_on
            # A provider page (URL) or a named document, and/or peer data with its version.
            assert prov.source or prov.peers, f"{where}: no source"
            assert prov.source is None or prov.page or not prov.source.startswith("http"), (
                f"{where}: source is not a URL: {prov.source!r}")
            assert all(re.fullmatch(r"(genai-prices|litellm) \d+\.\d+\.\d+", p) for p in prov.peers), (
                f"{where}: peers are not named package versions: {prov.peers}")
            assert isinstance(read_on, date), f"{where}: no read date"
            assert read_on >= period.from_.date() or period.until is not None, (
                f"{where}: read on {read_on} before the price took effect")
            assert period.meter_prices(), f"{where}: no prices"
            assert all(isinstance(v, Decimal) and v >= 0 for v in period.meter_prices().values()), where


def test_bundled_cards_layer_into_one_registry_without_clashes():
    reg = at.load_registry()
    assert {"openai", "anthropic", "bedrock"} <= set(reg.providers())
    versions = [c.card.version for c in reg.cards]
    assert len(versions) == len(set(versions))


# --- a card round-trips ------------------------------------------------------------------

VALID = """\
[card]
provider = "acme"
version = "acme-2026-01-15"
currency = "EUR"
read_on = 2026-01-15
source = "https://acme.example/pricing"
description = "Acme's negotiated EUR prices"

[[models]]
id = "acme-large"
name = "Acme Large"
aliases = ["acme-large-2025-06-01", "acme-l"]

  [[models.prices]]
  from = 2025-06-01
  until = 2026-01-01
  source = "https://acme.example/blog/launch"
  read_on = 2025-06-02
  input = 4.00
  output = 12.00
  tiers.batch = { multiplier = 0.5 }

  [[models.prices]]
  from = 2026-01-01
  note = "price cut"
  input = 2.50
  cached_input = 0.25
  cache_write = 3.125
  output = 10.00
  web_search = 10
  context = [{ above = 128000, input = 5.00, output = 15.00 }]
  tiers.batch = { multiplier = 0.5 }
  tiers.priority = { input = 4.25, output = 17.00 }
  regions = { eu = 1.1, global = 1.0 }
"""


def write(tmp_path, text, name="card.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_valid_card_round_trips_every_field(tmp_path):
    path = write(tmp_path, VALID)
    card = at.load_card(path)
    meta = card.card
    assert (meta.provider, meta.version, meta.currency) == ("acme", "acme-2026-01-15", "EUR")
    assert meta.read_on == date(2026, 1, 15)
    assert meta.source == "https://acme.example/pricing"
    assert card.path == str(path)
    (model,) = card.models
    assert model.id == "acme-large"
    assert model.name == "Acme Large"
    assert model.aliases == ("acme-large-2025-06-01", "acme-l")
    old, new = model.prices
    # dates are UTC midnight; `from` is inclusive, `until` exclusive
    assert old.from_ == datetime(2025, 6, 1, tzinfo=UTC)
    assert old.until == datetime(2026, 1, 1, tzinfo=UTC)
    assert old.source == "https://acme.example/blog/launch"
    assert old.read_on == date(2025, 6, 2)
    assert old.meter_prices() == {"input": Decimal("4.00"), "output": Decimal("12.00")}
    assert old.tiers["batch"].multiplier == Decimal("0.5")
    assert new.from_ == datetime(2026, 1, 1, tzinfo=UTC)
    assert new.until is None
    assert new.note == "price cut"
    assert new.meter_prices() == {"input": Decimal("2.50"), "cached_input": Decimal("0.25"),
                                  "cache_write": Decimal("3.125"), "output": Decimal("10.00"),
                                  "web_search": Decimal("10")}
    # numbers never pass through float
    assert all(type(v) is Decimal for v in new.meter_prices().values())
    (ctx,) = new.context
    assert ctx.above == 128_000
    assert ctx.meter_prices() == {"input": Decimal("5.00"), "output": Decimal("15.00")}
    assert new.tiers["priority"].meter_prices() == {"input": Decimal("4.25"), "output": Decimal("17.00")}
    assert new.tiers["priority"].multiplier is None
    assert dict(new.regions) == {"eu": Decimal("1.1"), "global": Decimal("1.0")}


def test_a_valid_card_prices_through_a_registry(tmp_path):
    reg = at.load_registry(write(tmp_path, VALID))
    u = at.Usage(input=100_000, output=100_000)
    assert at.cost("acme", "acme-l", u, at=date(2025, 12, 31), registry=reg) == Decimal("1.60")
    assert at.cost("acme", "acme-large", u, at=date(2026, 1, 1), registry=reg) == Decimal("1.25")
    # a 128,001-token prompt pays the context tier on all of its tokens
    big = at.Usage(input=128_001, output=1_000)
    assert at.cost("acme", "acme-large", big, at=date(2026, 1, 1), registry=reg) == Decimal("0.655005")
    rate = reg.resolve("acme", "acme-large", date(2026, 2, 1))
    assert rate.currency == "EUR"
    assert rate.card_version == "acme-2026-01-15"
    assert rate.source == "https://acme.example/pricing"   # the period has none: the card's
    assert rate.read_on == date(2026, 1, 15)


def test_parse_card_takes_already_parsed_data():
    from attribution._cards import parse_card

    card = parse_card({"card": {"provider": "acme", "version": "v1", "read_on": date(2026, 1, 1),
                                "source": "https://acme.example"},
                       "models": [{"id": "m", "prices": [{"from": date(2025, 1, 1), "input": Decimal("1")}]}]})
    assert card.models[0].prices[0].input == Decimal("1")
    assert card.card.currency == "USD"


# --- every validation error names the file and the key path -----------------------------

MINIMAL = """\
[card]
provider = "acme"
version = "acme-1"
currency = "USD"
read_on = 2026-01-01
source = "https://acme.example/pricing"

[[models]]
id = "m1"
  [[models.prices]]
  from = 2025-01-01
  input = 1.00
  output = 2.00
"""

SECOND_PERIOD = """
  [[models.prices]]
  from = {start}
  input = 0.50
  output = 1.00
"""

BROKEN = {
    "unknown meter key": (
        MINIMAL.replace("input = 1.00", "inptu = 1.00"),
        "models[0].prices[0].inptu", "unknown key"),
    "unknown card key": (
        MINIMAL.replace('currency = "USD"', 'currency = "USD"\ncurrrency = "EUR"'),
        "card.currrency", "unknown key"),
    "unknown model key": (
        MINIMAL.replace('id = "m1"', 'id = "m1"\nalias = ["m-one"]'),
        "models[0].alias", "unknown key"),
    "negative price": (
        MINIMAL.replace("output = 2.00", "output = -2.00"),
        "models[0].prices[0].output", "negative"),
    "price with too many decimals": (
        MINIMAL.replace("input = 1.00", "input = 0.0000000001"),
        "models[0].prices[0].input", "not exact"),
    "overlapping effective ranges": (
        MINIMAL + SECOND_PERIOD.format(start="2025-06-01"),
        "models[0].prices[1].from", "overlapping"),
    "overlapping a closed range": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  until = 2025-07-01") + SECOND_PERIOD.format(start="2025-06-01"),
        "models[0].prices[1].from", "overlapping"),
    "unordered periods": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  until = 2025-07-01") + SECOND_PERIOD.format(start="2024-01-01"),
        "models[0].prices[1].from", "ascending"),
    "until before from": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  until = 2024-01-01"),
        "models[0].prices[0].until", "not after"),
    "missing source": (
        MINIMAL.replace('source = "https://acme.example/pricing"\n', ""),
        "models[0].prices[0].source", "source"),
    "missing read date": (
        MINIMAL.replace("read_on = 2026-01-01\n", ""),
        "models[0].prices[0].read_on", "read"),
    "duplicate ids (case-insensitive)": (
        MINIMAL + '\n[[models]]\nid = "M1"\n  [[models.prices]]\n  from = 2025-01-01\n  input = 1\n',
        "models[1]", "duplicate"),
    "alias duplicating another model's id": (
        MINIMAL + '\n[[models]]\nid = "m2"\naliases = ["m1"]\n  [[models.prices]]\n  from = 2025-01-01\n  input = 1\n',
        "models[1]", "duplicate"),
    "tier with both multiplier and prices": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  tiers.batch = { multiplier = 0.5, input = 0.40 }"),
        "models[0].prices[0].tiers.batch", "not both"),
    "tier with neither": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  tiers.flex = { }"),
        "models[0].prices[0].tiers.flex", "multiplier or meter prices"),
    "non-positive tier multiplier": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  tiers.batch = { multiplier = 0 }"),
        "models[0].prices[0].tiers.batch.multiplier", "positive"),
    "context thresholds not ascending": (
        MINIMAL.replace("output = 2.00", "output = 2.00\n  context = [{ above = 200000, input = 2 }, { above = 100000, input = 3 }]"),
        "models[0].prices[0].context[1].above", "ascending"),
    "bad currency": (
        MINIMAL.replace('currency = "USD"', 'currency = "usd"'),
        "card.currency", "ISO 4217"),
    "price that is a boolean": (
        MINIMAL.replace("input = 1.00", "input = true"),
        "models[0].prices[0].input", "decimal"),
    "period without prices": (
        MINIMAL.replace("input = 1.00\n", "").replace("output = 2.00\n", ""),
        "models[0].prices[0]", "at least one"),
    "alias entry missing its model": (
        MINIMAL + '\n[[aliases]]\nalias = "m-latest"\n',
        "aliases[0].model", "required"),
}


@pytest.mark.parametrize(("text", "key_path", "words"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_card_raises_price_card_error_naming_the_file_and_key_path(tmp_path, text, key_path, words):
    path = write(tmp_path, text)
    with pytest.raises(at.PriceCardError) as info:
        at.load_card(path)
    err = info.value
    assert err.file == str(path)
    assert err.path == key_path
    message = str(err)
    assert str(path) in message
    assert key_path in message
    assert words.lower() in message.lower()
    assert "\n" not in message          # one line, as the CLI prints it


def test_price_card_error_is_an_attribution_error_and_a_value_error(tmp_path):
    path = write(tmp_path, MINIMAL.replace("output = 2.00", "output = -2.00"))
    with pytest.raises(at.AttributionError):
        at.load_card(path)
    with pytest.raises(ValueError, match="negative price"):
        at.load_card(path)


def test_invalid_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, MINIMAL.replace('version = "acme-1"', "version = acme-1"))
    with pytest.raises(at.PriceCardError, match="TOML") as info:
        at.load_card(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message


def test_a_model_error_points_at_the_line_of_that_model(tmp_path):
    text = MINIMAL + '\n[[models]]\nid = "m2"\n  [[models.prices]]\n  from = 2025-01-01\n  input = 1\n  until = 2024-01-01\n'
    path = write(tmp_path, text)
    with pytest.raises(at.PriceCardError) as info:
        at.load_card(path)
    assert info.value.path == "models[1].prices[0].until"
    expected_line = text.splitlines().index('id = "m2"') + 1
    assert info.value.line == expected_line
    assert f"{path}:{expected_line}" in str(info.value)


def test_every_problem_in_a_card_is_reported_not_only_the_first(tmp_path):
    text = (MINIMAL.replace("output = 2.00", "output = -2.00")
            .replace('currency = "USD"', 'currency = "dollars"'))
    with pytest.raises(at.PriceCardError) as info:
        at.load_card(write(tmp_path, text))
    paths = {info.value.path, *(e.path for e in info.value.others)}
    assert {"card.currency", "models[0].prices[0].output"} <= paths


def test_a_missing_card_file_is_a_price_card_error_naming_it(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(at.PriceCardError) as info:
        at.load_card(path)
    assert info.value.file == str(path)


def test_a_card_that_is_not_utf8_is_a_price_card_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("acme-1", "acme-\xe9").encode("latin-1"))
    with pytest.raises(at.PriceCardError, match="UTF-8"):
        at.load_card(path)


def test_a_datetime_without_offset_is_refused_but_one_with_z_is_taken_as_utc(tmp_path):
    good = at.load_card(write(tmp_path, MINIMAL.replace("from = 2025-01-01", "from = 2025-01-01T12:00:00Z")))
    assert good.models[0].prices[0].from_ == datetime(2025, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(at.PriceCardError, match="offset") as info:
        at.load_card(write(tmp_path, MINIMAL.replace("from = 2025-01-01", "from = 2025-01-01T12:00:00"), "naive.toml"))
    assert info.value.path == "models[0].prices[0].from"
