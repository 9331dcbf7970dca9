"""Card structures beyond dated prices: time-of-day windows, explicit regional prices,
stated assumptions and models left out on purpose (docs/price-cards.md, "Structure reference").

The DeepSeek tests price real-shaped Chat Completions responses (the shape of
``tests/fixtures/deepseek/chat_cache_hit_miss.json``) whose ``created`` instant
falls either side of an off-peak boundary.
"""

from __future__ import annotations

import io
import json
import pickle
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attribution as at
from attribution import cli
from attribution.exceptions import PriceCardError, UnknownServiceTier

UTC = timezone.utc
FIXTURE = Path(__file__).parent / "fixtures" / "deepseek" / "chat_cache_hit_miss.json"


def deepseek_call(model: str, when: datetime, *, hit: int = 200_000, miss: int = 800_000,
                  completion: int = 1_000_000) -> at.UsageRecord:
    """A DeepSeek response as the API returns it, made at ``when``."""
    payload: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    payload["model"] = model
    payload["created"] = int(when.timestamp())
    payload["usage"] = {"prompt_tokens": hit + miss, "completion_tokens": completion,
                        "total_tokens": hit + miss + completion,
                        "prompt_tokens_details": {"cached_tokens": hit},
                        "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": miss}
    rec = at.normalize(payload, provider="deepseek")
    assert rec.at == when
    return rec


def cost_at(model: str, when: datetime) -> Decimal:
    return at.price(deepseek_call(model, when)).cost


# -- DeepSeek, first era: off-peak UTC 16:30-00:30 daily (2025-02-26 .. 2025-09-05) -------------

# 800K miss, 200K hit, 1M output. Standard 0.27 / 0.07 / 1.10; off-peak 0.135 / 0.035 / 0.55.
CHAT_STANDARD = Decimal("0.216") + Decimal("0.014") + Decimal("1.10")
CHAT_OFF_PEAK = Decimal("0.108") + Decimal("0.007") + Decimal("0.55")
# R1 standard 0.55 / 0.14 / 2.19; off-peak 0.135 / 0.035 / 0.55 (DeepSeek's rounded 75% off).
R1_STANDARD = Decimal("0.44") + Decimal("0.028") + Decimal("2.19")
R1_OFF_PEAK = Decimal("0.108") + Decimal("0.007") + Decimal("0.55")


@pytest.mark.parametrize(("when", "chat", "r1"), [
    (datetime(2025, 6, 2, 16, 29, tzinfo=UTC), CHAT_STANDARD, R1_STANDARD),
    (datetime(2025, 6, 2, 16, 29, 59, tzinfo=UTC), CHAT_STANDARD, R1_STANDARD),
    (datetime(2025, 6, 2, 16, 30, tzinfo=UTC), CHAT_OFF_PEAK, R1_OFF_PEAK),
    (datetime(2025, 6, 2, 16, 31, tzinfo=UTC), CHAT_OFF_PEAK, R1_OFF_PEAK),
    (datetime(2025, 6, 2, 23, 59, 59, tzinfo=UTC), CHAT_OFF_PEAK, R1_OFF_PEAK),
    (datetime(2025, 6, 3, 0, 0, tzinfo=UTC), CHAT_OFF_PEAK, R1_OFF_PEAK),
    (datetime(2025, 6, 3, 0, 29, 59, tzinfo=UTC), CHAT_OFF_PEAK, R1_OFF_PEAK),
    (datetime(2025, 6, 3, 0, 30, tzinfo=UTC), CHAT_STANDARD, R1_STANDARD),
])
def test_deepseek_2025_off_peak_boundaries(when: datetime, chat: Decimal, r1: Decimal) -> None:
    """A call at 16:29 UTC pays the standard price, one at 16:31 the off-peak price (half, for chat)."""
    assert cost_at("deepseek-chat", when) == chat
    assert cost_at("deepseek-reasoner", when) == r1


def test_deepseek_off_peak_starts_on_2025_02_26_at_16_30() -> None:
    """The discount began 2025-02-26 16:30 UTC: the night before is standard, that evening off-peak."""
    assert cost_at("deepseek-chat", datetime(2025, 2, 25, 17, 0, tzinfo=UTC)) == CHAT_STANDARD
    assert cost_at("deepseek-chat", datetime(2025, 2, 26, 0, 10, tzinfo=UTC)) == CHAT_STANDARD
    assert cost_at("deepseek-chat", datetime(2025, 2, 26, 16, 30, tzinfo=UTC)) == CHAT_OFF_PEAK


def test_deepseek_off_peak_ended_with_the_v3_1_price() -> None:
    """From 2025-09-05 16:00 UTC one unified price applies at every hour."""
    evening = cost_at("deepseek-chat", datetime(2025, 9, 6, 17, 0, tzinfo=UTC))
    noon = cost_at("deepseek-chat", datetime(2025, 9, 6, 12, 0, tzinfo=UTC))
    assert evening == noon == Decimal("0.448") + Decimal("0.014") + Decimal("1.68")


def test_window_uses_the_utc_instant_not_the_local_clock() -> None:
    """01:00 in Beijing (+08:00) is 17:00 UTC the day before: off-peak."""
    beijing = timezone(timedelta(hours=8))
    rate = at.load_registry().resolve("deepseek", "deepseek-chat", datetime(2025, 6, 3, 1, 0, tzinfo=beijing))
    assert rate.at_time(datetime(2025, 6, 3, 1, 0, tzinfo=beijing)).unit_prices()["input"] == Decimal("0.135")
    rec = at.UsageRecord(provider="deepseek", model="deepseek-chat", at=datetime(2025, 6, 3, 1, 0, tzinfo=beijing),
                         usage=at.Usage(input=800_000, cached_input=200_000, output=1_000_000))
    assert at.price(rec).cost == CHAT_OFF_PEAK


# -- DeepSeek V4: peak UTC 01:00-04:00 and 06:00-10:00, weekends off-peak from 2026-08-23 --------

# 800K miss, 200K hit, 1M output. Peak 1.32 / 0.044 / 3.96, off-peak 0.66 / 0.022 / 1.98.
PRO_PEAK = Decimal("1.056") + Decimal("0.0088") + Decimal("3.96")
PRO_OFF_PEAK = Decimal("0.528") + Decimal("0.0044") + Decimal("1.98")


@pytest.mark.parametrize(("when", "expected"), [
    (datetime(2026, 11, 30, 0, 59, 59, tzinfo=UTC), PRO_OFF_PEAK),   # Monday
    (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), PRO_PEAK),
    (datetime(2026, 11, 30, 3, 59, 59, tzinfo=UTC), PRO_PEAK),
    (datetime(2026, 11, 30, 4, 0, tzinfo=UTC), PRO_OFF_PEAK),
    (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), PRO_PEAK),
    (datetime(2026, 11, 30, 10, 0, tzinfo=UTC), PRO_OFF_PEAK),
    (datetime(2026, 11, 27, 9, 30, tzinfo=UTC), PRO_PEAK),          # Friday
    (datetime(2026, 11, 28, 2, 0, tzinfo=UTC), PRO_OFF_PEAK),       # Saturday: off-peak all day
    (datetime(2026, 11, 29, 7, 0, tzinfo=UTC), PRO_OFF_PEAK),       # Sunday
    (datetime(2026, 8, 22, 2, 0, tzinfo=UTC), PRO_PEAK),            # Saturday before the weekend rule
    (datetime(2026, 8, 23, 2, 0, tzinfo=UTC), PRO_OFF_PEAK),        # the first off-peak Sunday
])
def test_deepseek_v4_peak_and_off_peak(when: datetime, expected: Decimal) -> None:
    assert cost_at("deepseek-v4-pro", when) == expected


def test_deepseek_flash_off_peak_is_half_of_peak() -> None:
    peak = cost_at("deepseek-flash", datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    off = cost_at("deepseek-flash", datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert peak == Decimal("0.24") + Decimal("0.0012") + Decimal("1.20")
    assert off * 2 == peak


def test_untimed_record_pays_the_peak_price_and_is_flagged() -> None:
    """Without a timestamp the hour is unknown: the period's own (peak) price, never the lower one."""
    rec = at.UsageRecord(provider="deepseek", model="deepseek-v4-pro",
                         usage=at.Usage(input=800_000, cached_input=200_000, output=1_000_000))
    priced = at.price(rec)
    assert priced.cost == PRO_PEAK
    assert "no_timestamp" in priced.flags


def test_windowed_price_explains_itself() -> None:
    priced = at.price(deepseek_call("deepseek-v4-pro", datetime(2026, 11, 28, 2, 0, tzinfo=UTC)))
    assert any("off-peak (weekend)" in note for note in priced.rate.notes)
    assert [str(line.unit_price) for line in priced.lines] == ["0.66", "0.022", "1.98"]
    assert sum(line.amount for line in priced.lines) == priced.cost


def test_cost_helper_applies_windows() -> None:
    u = at.Usage(input=1_000_000, output=1_000_000)
    assert at.cost("deepseek", "deepseek-v4-pro", u, at=datetime(2026, 11, 30, 12, tzinfo=UTC)) == Decimal("2.64")
    assert at.cost("deepseek", "deepseek-v4-pro", u, at=datetime(2026, 11, 30, 2, tzinfo=UTC)) == Decimal("5.28")


_PEAK_HOURS = ((3600, 4 * 3600), (6 * 3600, 10 * 3600))


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 8, 23), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)))
def test_v4_pro_is_peak_exactly_in_weekday_peak_hours(when: datetime) -> None:
    """Property: the peak rate applies iff Monday-Friday and 01-04 or 06-10 UTC; else exactly half."""
    u = at.Usage(input=3, cached_input=5, output=7)
    price = at.cost("deepseek", "deepseek-v4-pro", u, at=when)
    second = when.hour * 3600 + when.minute * 60 + when.second
    peak = when.weekday() < 5 and any(a <= second < b for a, b in _PEAK_HOURS)
    peak_price = at.cost("deepseek", "deepseek-v4-pro", u, at=datetime(2026, 11, 30, 2, tzinfo=UTC))
    assert price == (peak_price if peak else peak_price / 2)


def test_windowed_rate_pickles() -> None:
    rate = at.load_registry().resolve("deepseek", "deepseek-v4-pro", datetime(2026, 11, 30, 2, tzinfo=UTC))
    again = pickle.loads(pickle.dumps(rate))
    when = datetime(2026, 11, 28, 2, tzinfo=UTC)
    assert again.at_time(when).prices == rate.at_time(when).prices
    assert again.windows
    assert again.at_time(when).prices != again.prices


def test_cards_show_prints_the_windows() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cards", "show", "deepseek-v4-pro"]) == 0
    text = out.getvalue()
    assert "off-peak (weekend) (UTC 00:00-24:00; sat, sun): input 0.66" in text
    assert "off-peak (UTC 00:00-01:00, 04:00-06:00, 10:00-24:00; mon, tue, wed, thu, fri)" in text


# -- user cards: validation names file and field ------------------------------------------------

HEAD = """
[card]
provider = "acme"
version = "acme-1"
read_on = 2026-11-01
source = "https://acme.example/pricing"
"""

MODEL = """
[[models]]
id = "m1"

  [[models.prices]]
  from = 2026-01-01
  input = 1.00
  output = 2.00
"""


def _card(tmp_path: Path, body: str, name: str = "acme.toml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def _error(tmp_path: Path, body: str) -> PriceCardError:
    with pytest.raises(PriceCardError) as info:
        at.load_registry(_card(tmp_path, body), bundled=False)
    return info.value


WINDOW = MODEL + """
    [[models.prices.time_windows]]
{window}
"""


@pytest.mark.parametrize(("window", "path", "words"), [
    ('hours = ["25:00-26:00"]\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].hours", "outside"),
    ('hours = ["16:30-00:30"]\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].hours", "crosses midnight"),
    ('hours = ["4pm-5pm"]\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].hours", "16:30-24:00"),
    ('hours = []\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].hours", "at least one span"),
    ('hours = ["01:00-02:00"]\ndays = ["monday"]\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].days",
     "unknown day"),
    ('hours = ["01:00-02:00"]\nmultiplier = 0.5\ninput = 0.5', "models[0].prices[0].time_windows[0]",
     "not both"),
    ('hours = ["01:00-02:00"]', "models[0].prices[0].time_windows[0]", "needs a multiplier"),
    ('hours = ["01:00-02:00"]\nmultiplier = 0', "models[0].prices[0].time_windows[0].multiplier", "positive"),
    ('hours = ["01:00-03:00", "02:00-04:00"]\nmultiplier = 0.5', "models[0].prices[0].time_windows[0].hours",
     "overlap"),
    ('hours = ["01:00-02:00"]\ninput = -1', "models[0].prices[0].time_windows[0].input", "negative"),
    ('hours = ["01:00-02:00"]\nmultiplier = 0.5\nsurcharge = 1', "models[0].prices[0].time_windows[0].surcharge",
     "unknown key"),
])
def test_bad_time_windows_name_the_field(tmp_path: Path, window: str, path: str, words: str) -> None:
    err = _error(tmp_path, WINDOW.format(window="    " + window.replace("\n", "\n    ")))
    assert err.path == path
    assert words in str(err)
    assert err.file is not None
    assert err.file.endswith("acme.toml")


def test_overlapping_windows_on_a_common_day_are_refused(tmp_path: Path) -> None:
    body = MODEL + """
    [[models.prices.time_windows]]
    days = ["mon", "tue"]
    hours = ["01:00-03:00"]
    multiplier = 0.5

    [[models.prices.time_windows]]
    days = ["tue"]
    hours = ["02:00-05:00"]
    multiplier = 0.8
"""
    err = _error(tmp_path, body)
    assert err.path == "models[0].prices[0].time_windows[1].hours"
    assert "time_windows[0]" in str(err)


def test_windows_on_different_days_may_share_hours(tmp_path: Path) -> None:
    body = MODEL + """
    [[models.prices.time_windows]]
    days = ["mon"]
    hours = ["01:00-03:00"]
    multiplier = 0.5

    [[models.prices.time_windows]]
    days = ["tue"]
    hours = ["01:00-03:00"]
    multiplier = 0.25
"""
    reg = at.load_registry(_card(tmp_path, body), bundled=False)
    u = at.Usage(input=1_000_000)
    assert at.cost("acme", "m1", u, at=datetime(2026, 11, 30, 2, tzinfo=UTC), registry=reg) == Decimal("0.5")
    assert at.cost("acme", "m1", u, at=datetime(2026, 12, 1, 2, tzinfo=UTC), registry=reg) == Decimal("0.25")
    assert at.cost("acme", "m1", u, at=datetime(2026, 12, 2, 2, tzinfo=UTC), registry=reg) == Decimal("1")


def test_window_multiplier_scales_context_tiers_and_stacks_with_a_batch_tier(tmp_path: Path) -> None:
    body = """
[[models]]
id = "m1"

  [[models.prices]]
  from = 2026-01-01
  input = 1.00
  output = 2.00
  context = [{ above = 1000, input = 2.00, output = 4.00 }]
  tiers.batch = { multiplier = 0.5 }

    [[models.prices.time_windows]]
    hours = ["00:00-06:00"]
    multiplier = 0.5
"""
    reg = at.load_registry(_card(tmp_path, body), bundled=False)
    night = datetime(2026, 11, 30, 3, tzinfo=UTC)
    big = at.Usage(input=2_000_000)
    assert at.cost("acme", "m1", big, at=night, registry=reg) == Decimal("2")          # 2.00 x 0.5 x 2
    assert at.cost("acme", "m1", big, at=night, registry=reg, service_tier="batch") == Decimal("1")
    assert at.cost("acme", "m1", big, at=night.replace(hour=7), registry=reg) == Decimal("4")


def test_window_with_prices_on_a_context_tiered_period_is_refused(tmp_path: Path) -> None:
    body = MODEL + """  context = [{ above = 1000, input = 2.00 }]

    [[models.prices.time_windows]]
    hours = ["00:00-06:00"]
    input = 0.5
"""
    err = _error(tmp_path, body)
    assert err.path == "models[0].prices[0].time_windows[0]"
    assert "multiplier only" in str(err)


# -- explicit regional prices -------------------------------------------------------------------

REGIONAL = """
[[models]]
id = "nova-x"

  [[models.prices]]
  from = 2026-01-01
  input = 0.30
  cached_input = 0.075
  output = 2.50
  regions = { us = 1.1 }
  tiers.batch = { multiplier = 0.5 }
  tiers.priority = { input = 0.525, output = 4.375 }

    [models.prices.regional.eu]
    input = 0.429
    cached_input = 0.10725
    output = 3.597
    note = "EU endpoint price list"

    [models.prices.regional.apac]
    input = 0.396
    output = 3.311
    tiers.priority = { input = 0.693, output = 5.79425 }
"""


def test_regional_prices_replace_the_base_in_that_region(tmp_path: Path) -> None:
    reg = at.load_registry(_card(tmp_path, REGIONAL), bundled=False)
    u = at.Usage(input=1_000_000, cached_input=1_000_000, output=1_000_000)
    when = datetime(2026, 6, 1, tzinfo=UTC)
    assert at.cost("acme", "nova-x", u, at=when, registry=reg) == Decimal("2.875")
    assert at.cost("acme", "nova-x", u, at=when, registry=reg, region="us") == Decimal("3.1625")
    assert at.cost("acme", "nova-x", u, at=when, registry=reg, region="eu") == Decimal("4.13325")
    # apac lists no cached price: the period's base cached price applies
    assert at.cost("acme", "nova-x", u, at=when, registry=reg, region="apac") == Decimal("3.782")
    rate = reg.resolve("acme", "nova-x", when, region="eu")
    assert "region eu: regional prices" in rate.notes
    assert "EU endpoint price list" in rate.notes


def test_regional_prices_with_tiers(tmp_path: Path) -> None:
    reg = at.load_registry(_card(tmp_path, REGIONAL), bundled=False)
    u = at.Usage(input=1_000_000, output=1_000_000)
    when = datetime(2026, 6, 1, tzinfo=UTC)
    # A multiplier tier applies on top of the regional prices...
    assert at.cost("acme", "nova-x", u, at=when, registry=reg, region="eu", service_tier="batch") == Decimal("2.013")
    # ...a tier with its own prices needs a regional one: apac has it, eu does not.
    assert at.cost("acme", "nova-x", u, at=when, registry=reg, region="apac",
                   service_tier="priority") == Decimal("6.48725")
    with pytest.raises(UnknownServiceTier):
        at.cost("acme", "nova-x", u, at=when, registry=reg, region="eu", service_tier="priority")


def test_regional_prices_via_a_bedrock_profile_prefix() -> None:
    """Bedrock's eu./apac. inference profiles pick the regional prices of Nova on the bundled card."""
    reg = at.load_registry()
    u = at.Usage(input=1_000_000, output=1_000_000)
    when = datetime(2026, 11, 1, tzinfo=UTC)
    eu = at.cost("bedrock", "eu.amazon.nova-pro-v1:0", u, at=when, registry=reg)
    us = at.cost("bedrock", "us.amazon.nova-pro-v1:0", u, at=when, registry=reg)
    assert (eu, us) == (Decimal("5.25"), Decimal("4.00"))


@pytest.mark.parametrize(("region", "body", "path", "words"), [
    ("us", "input = 1", "models[0].prices[0].regional.us", "both a multiplier"),
    ("EU", "input = 1", "models[0].prices[0].regional.EU", "lowercase"),
    ("eu", "note = 'x'", "models[0].prices[0].regional.eu", "at least one meter"),
    ("eu", "input = -1", "models[0].prices[0].regional.eu.input", "negative"),
    ("eu", "tiers.batch = { multiplier = 0 }\ninput = 1", "models[0].prices[0].regional.eu.tiers.batch.multiplier",
     "positive"),
])
def test_bad_regional_prices_name_the_field(tmp_path: Path, region: str, body: str, path: str, words: str) -> None:
    card = MODEL + f"  regions = {{ us = 1.1 }}\n\n    [models.prices.regional.{region}]\n    {body}\n"
    err = _error(tmp_path, card)
    assert err.path == path
    assert words in str(err)


# -- assumptions --------------------------------------------------------------------------------

ASSUMED = MODEL + """  cached_input = 0.25
  tiers.batch = { multiplier = 0.5 }

    [[models.prices.assumptions]]
    tier = "batch"
    meter = "cached_input"
    assumed = "no batch price for cached input is published; the batch multiplier is applied to it"
"""


def test_assumption_travels_with_the_rate_and_cards_show(tmp_path: Path) -> None:
    path = _card(tmp_path, ASSUMED)
    reg = at.load_registry(path, bundled=False)
    batch = reg.resolve("acme", "m1", datetime(2026, 6, 1, tzinfo=UTC), service_tier="batch")
    assert any(n.startswith("assumed (batch cached_input): no batch price") for n in batch.notes)
    standard = reg.resolve("acme", "m1", datetime(2026, 6, 1, tzinfo=UTC))
    assert not any(n.startswith("assumed") for n in standard.notes)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cards", "show", "m1", "--pricecards", str(path)]) == 0
    assert "assumed (batch cached_input): no batch price" in out.getvalue()


def test_bundled_openai_batch_cached_input_assumption_is_stated() -> None:
    rate = at.load_registry().resolve("openai", "gpt-4o", datetime(2026, 6, 1, tzinfo=UTC), service_tier="batch")
    assert any(n.startswith("assumed (batch cached_input)") for n in rate.notes)


@pytest.mark.parametrize(("fields", "path", "words"), [
    ('meter = "cached_inptu"\nassumed = "x"', "models[0].prices[0].assumptions[0].meter", "unknown meter"),
    ('meter = "cached_input"\ntier = "flex"\nassumed = "x"', "models[0].prices[0].assumptions[0].tier",
     "not priced"),
    ('meter = "cached_input"\nassumed = " "', "models[0].prices[0].assumptions[0].assumed", "say what"),
    ('meter = "cached_input"', "models[0].prices[0].assumptions[0]", "assumed"),
])
def test_bad_assumptions_name_the_field(tmp_path: Path, fields: str, path: str, words: str) -> None:
    card = MODEL + "\n    [[models.prices.assumptions]]\n    " + fields.replace("\n", "\n    ") + "\n"
    err = _error(tmp_path, card)
    assert (err.path or "").startswith(path)
    assert words in str(err)


# -- models left out on purpose -----------------------------------------------------------------

EXCLUDED = MODEL + """
[[excluded]]
id = "m1-image"
aliases = ["m1-image-latest"]
reason = "priced per image, a unit the card format cannot express"
"""


def test_excluded_models_are_listed_and_shown(tmp_path: Path) -> None:
    path = _card(tmp_path, EXCLUDED)
    reg = at.load_registry(path, bundled=False)
    assert [(p, e.id) for p, e in reg.excluded()] == [("acme", "m1-image")]
    with pytest.raises(at.UnknownModel):   # excluded is never priced, never $0
        at.cost("acme", "m1-image", at.Usage(input=1), registry=reg)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cards", "list", "--excluded", "--pricecards", str(path)]) == 0
        assert cli.main(["cards", "show", "m1-image-latest", "--pricecards", str(path)]) == 1
    text = out.getvalue()
    assert "acme/m1-image: priced per image" in text
    assert "acme/m1-image: not priced (excluded by the card): priced per image" in text


def test_a_later_layer_that_prices_an_excluded_model_removes_it(tmp_path: Path) -> None:
    first = _card(tmp_path, EXCLUDED, "a.toml")
    second = tmp_path / "b.toml"
    second.write_text(HEAD.replace("acme-1", "acme-2") + MODEL.replace('"m1"', '"m1-image"'), encoding="utf-8")
    reg = at.load_registry(first, second, bundled=False)
    assert reg.excluded() == []


@pytest.mark.parametrize(("body", "path", "words"), [
    ('[[excluded]]\nid = "m1"\nreason = "dup"', "excluded[0].id", "also a model id"),
    ('[[excluded]]\nid = "m9"\nreason = ""', "excluded[0].reason", "say why"),
    ('[[excluded]]\nid = "m9"', "excluded[0]", "reason"),
    ('[[excluded]]\nid = " m9"\nreason = "x"', "excluded[0].id", "surrounding space"),
])
def test_bad_excluded_entries_name_the_field(tmp_path: Path, body: str, path: str, words: str) -> None:
    err = _error(tmp_path, MODEL + "\n" + body + "\n")
    assert (err.path or "").startswith(path)
    assert words in str(err)


def test_bundled_excluded_entries_all_have_reasons() -> None:
    entries = at.load_registry().excluded()
    assert entries, "the bundled cards list the peer models they leave out"
    assert all(len(e.reason) > 10 for _, e in entries)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cards", "list"]) == 0
    assert "left out on purpose, with reasons: attribution cards list --excluded" in out.getvalue()


def test_validate_command_reports_a_bad_window(tmp_path: Path) -> None:
    path = _card(tmp_path, WINDOW.format(window='    hours = ["16:30-00:30"]\n    multiplier = 0.5'))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["cards", "validate", str(path)]) == 1
    text = out.getvalue()
    assert "models[0].prices[0].time_windows[0].hours" in text
    assert "acme.toml" in text


# -- price history and regional premiums on the bundled cards ------------------------------------


@pytest.mark.parametrize(("model", "before", "after"), [
    # 300K prompt + 10K output: 2x input and 1.5x output on the whole request until 2026-03-13.
    ("claude-opus-4-6", Decimal("3.375"), Decimal("1.75")),
    ("claude-sonnet-4-6", Decimal("2.025"), Decimal("1.05")),
])
def test_anthropic_4_6_long_context_premium_ended_on_2026_03_13(model: str, before: Decimal, after: Decimal) -> None:
    u = at.Usage(input=300_000, output=10_000)
    assert at.cost("anthropic", model, u, at=datetime(2026, 3, 12, 23, 59, tzinfo=UTC)) == before
    assert at.cost("anthropic", model, u, at=datetime(2026, 3, 13, tzinfo=UTC)) == after
    small = at.Usage(input=100_000, output=10_000)   # under 200K: the same price either side
    assert (at.cost("anthropic", model, small, at=datetime(2026, 3, 1, tzinfo=UTC))
            == at.cost("anthropic", model, small, at=datetime(2026, 3, 20, tzinfo=UTC)))


def test_claude_3_5_haiku_launch_price_then_the_cut() -> None:
    u = at.Usage(input=1_000_000, cached_input=1_000_000, output=1_000_000)
    assert at.cost("anthropic", "claude-3-5-haiku-20241022", u, at=datetime(2024, 11, 5, tzinfo=UTC)) == Decimal("6.10")
    assert at.cost("anthropic", "claude-3-5-haiku-latest", u, at=datetime(2025, 1, 5, tzinfo=UTC)) == Decimal("4.88")
    with pytest.raises(at.UnknownModel):   # launched 2024-11-04: nothing before
        at.cost("anthropic", "claude-3-5-haiku-20241022", u, at=datetime(2024, 11, 1, tzinfo=UTC))


def test_xai_us_regional_endpoint_costs_ten_percent_more() -> None:
    u = at.Usage(input=100_000, cached_input=50_000, output=10_000)
    rec = at.UsageRecord(provider="xai", model="grok-4.6", at=datetime(2026, 11, 30, tzinfo=UTC), usage=u,
                         region="us")
    glob = at.UsageRecord(provider="xai", model="grok-4.6", at=datetime(2026, 11, 30, tzinfo=UTC), usage=u)
    assert at.price(glob).cost == Decimal("0.285")
    assert at.price(rec).cost == Decimal("0.3135")
    assert any("region us: x1.1" in n for n in at.price(rec).rate.notes)


def test_vertex_embedding_batch_discount_differs_from_the_gemini_api() -> None:
    u = at.Usage(input=10_000_000)
    assert at.cost("vertex", "gemini-embedding-001", u, service_tier="batch") == Decimal("1.20")   # 20% off
    assert at.cost("google", "gemini-embedding-001", u, service_tier="batch") == Decimal("0.75")   # 50% off
    assert at.cost("vertex", "gemini-embedding-2-preview", at.Usage(input=1_000_000, input_image=1_000_000),
                   service_tier="batch") == Decimal("0.325")


def test_grok_build_priced_and_grok_4_7_left_out_with_a_reason() -> None:
    assert at.cost("xai", "grok-build-0.1", at.Usage(input=100_000, output=100_000)) == Decimal("0.30")
    reasons = {e.id: e.reason for p, e in at.load_registry().excluded("xai")}
    assert "no launch date" in reasons["grok-4.7"]
    with pytest.raises(at.UnknownModel):
        at.cost("xai", "grok-4.7", at.Usage(input=1))


# -- resolver: documented Vertex and Bedrock spellings only -------------------------------------


@pytest.mark.parametrize(("provider", "model", "canonical", "region"), [
    ("vertex", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5", None),
    ("vertex", "publishers/anthropic/models/claude-haiku-4-5@20251001", "claude-haiku-4-5", None),
    ("vertex_ai", "vertex_ai/claude-opus-4-5@20251101", "claude-opus-4-5", None),
    ("vertex", "claude-opus-4-6@default", "claude-opus-4-6", None),
    ("vertex", "projects/p/locations/global/publishers/anthropic/models/claude-opus-4-6@default", "claude-opus-4-6",
     None),
    # genai-prices' Bedrock spellings: :0 revision, -v1 on ids AWS gives without a version, India profiles
    ("bedrock", "global.anthropic.claude-opus-4-6-v1:0", "anthropic.claude-opus-4-6-v1", "global"),
    ("bedrock", "global.anthropic.claude-sonnet-4-6-v1:0", "anthropic.claude-sonnet-4-6", "global"),
    ("bedrock", "us.anthropic.claude-opus-5-v1", "anthropic.claude-opus-5", "us"),
    ("bedrock", "in.anthropic.claude-opus-5", "anthropic.claude-opus-5", "in"),
    ("bedrock", "amazon.nova-pro-v1", "amazon.nova-pro-v1:0", None),
    ("bedrock", "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-6-v1:0",
     "anthropic.claude-opus-4-6-v1", None),
])
def test_documented_vertex_and_bedrock_spellings_resolve(provider: str, model: str, canonical: str,
                                                         region: str | None) -> None:
    expected = ({"vertex_ai": "vertex"}.get(provider, provider), canonical, region)
    assert at.load_registry().canonical_model(provider, model) == expected


@pytest.mark.parametrize(("provider", "model"), [
    ("vertex", "claude-sonnet-4-5@20240101"),                 # a version Google never published
    ("vertex", "claude-sonnet-4-5@latest"),                   # not a Vertex version alias for Claude
    ("anthropic", "claude-opus-4-6@default"),                 # @default is Vertex's, not Anthropic's
    ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v2:0"),  # another major version is another model
    ("bedrock", "anthropic.claude-opus-5-v2"),
    ("bedrock", "regional.anthropic.claude-opus-5"),          # genai-prices' own label, not an AWS id
    ("bedrock", "xx.anthropic.claude-opus-5"),
    ("bedrock", "evil/anthropic.claude-opus-5"),
])
def test_undocumented_spellings_stay_unknown(provider: str, model: str) -> None:
    with pytest.raises(at.UnknownModel):
        at.load_registry().canonical_model(provider, model)


# -- coverage: models added from peer data, and the ones left out ---------------------------------


@pytest.mark.parametrize(("provider", "model", "usage", "when", "expected"), [
    # Bedrock OpenAI: the global profile is the list price, a regional profile 1.1x, >272K the long-context rate
    ("bedrock", "global.openai.gpt-6-sol", at.Usage(input=100_000, output=10_000), datetime(2026, 11, 30, tzinfo=UTC),
     Decimal("0.30")),
    ("bedrock", "us.openai.gpt-6-sol", at.Usage(input=100_000, output=10_000), datetime(2026, 11, 30, tzinfo=UTC),
     Decimal("0.330")),
    ("bedrock", "global.openai.gpt-6-sol", at.Usage(input=300_000, output=10_000), datetime(2026, 11, 30, tzinfo=UTC),
     Decimal("1.35")),
    ("openai", "gpt-5.5-cyber", at.Usage(input=1_000_000, cached_input=1_000_000, output=100_000),
     datetime(2026, 10, 20, tzinfo=UTC), Decimal("21.25")),
    ("openai", "o3-deep-research-2025-06-26", at.Usage(input=1_000_000, output=100_000),
     datetime(2025, 7, 1, tzinfo=UTC), Decimal("14")),
    ("fireworks", "accounts/fireworks/models/glm-5p3", at.Usage(input=1_000_000, output=1_000_000),
     datetime(2026, 12, 10, tzinfo=UTC), Decimal("5.8")),
    ("together", "zai-org/glm-5.3", at.Usage(input=1_000_000, output=1_000_000), datetime(2026, 12, 10, tzinfo=UTC),
     Decimal("5.8")),
    ("xai", "xai/grok-4.20-reasoning", at.Usage(input=100_000, output=100_000), datetime(2026, 11, 1, tzinfo=UTC),
     Decimal("0.375")),
    ("mistral", "ministral-8b-latest", at.Usage(input=1_000_000, output=1_000_000), datetime(2026, 11, 1, tzinfo=UTC),
     Decimal("0.30")),
])
def test_models_added_from_peer_data_price_as_both_peers_do(provider: str, model: str, usage: at.Usage,
                                                              when: datetime, expected: Decimal) -> None:
    assert at.cost(provider, model, usage, at=when) == expected


def test_a_model_priced_from_its_read_date_refuses_earlier_calls() -> None:
    """No launch date known: priced from the day the peer data was read, never before."""
    with pytest.raises(at.UnknownModel):   # PriceNotInForce
        at.cost("fireworks", "glm-5p3", at.Usage(input=1), at=datetime(2026, 11, 1, tzinfo=UTC))
    assert at.cost("fireworks", "glm-5p3", at.Usage(input=1_000_000), at=datetime(2026, 12, 4, tzinfo=UTC)) == \
        Decimal("1.4")


def test_one_peer_meters_are_not_carried() -> None:
    """o3-deep-research: only genai-prices prices web search calls, so they are unpriced, not guessed."""
    with pytest.raises(at.UnpricedMeter):
        at.cost("openai", "o3-deep-research", at.Usage(input=1, web_search=1), at=datetime(2026, 1, 1, tzinfo=UTC))


def test_every_bundled_excluded_model_stays_unknown() -> None:
    reg = at.load_registry()
    excluded = reg.excluded()
    assert len(excluded) > 500
    for provider, entry in excluded:
        with pytest.raises(at.UnknownModel):
            reg.canonical_model(provider, entry.id)
