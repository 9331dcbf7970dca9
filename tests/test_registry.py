"""The registry: names as logged -> the card price in force at an instant, with user layers."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

import attribution as at

UTC = timezone.utc
JUNE_2025 = datetime(2025, 6, 1, tzinfo=UTC)
JUNE_2026 = datetime(2026, 6, 7, tzinfo=UTC)
ONE_M = at.Usage(input=1_000_000, output=1_000_000)


@pytest.fixture(scope="module")
def reg():
    return at.default_registry()


def input_price(rate):
    return rate.unit_prices()["input"]


# --- names as logged ---------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "name", "canonical"), [
    ("openai", "gpt-4o", "gpt-4o"),
    ("openai", "GPT-4o", "gpt-4o"),                               # case-insensitive
    ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),                   # dated snapshot alias
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai", "openai/gpt-4o", "gpt-4o"),                         # provider prefix, as gateways log it
    ("openai", " gpt-4o ", "gpt-4o"),
    ("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514"),  # alias
    ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
    ("claude", "claude-sonnet-4-0", "claude-sonnet-4-20250514"),   # provider synonym
    ("Anthropic", "anthropic/claude-sonnet-4", "claude-sonnet-4-20250514"),
])
def test_a_model_name_resolves_to_its_canonical_card_id(reg, provider, name, canonical):
    assert reg.canonical_model(provider, name)[1] == canonical


def test_a_snapshot_with_its_own_card_entry_keeps_its_own_prices(reg):
    """gpt-4o-2024-05-13 stayed at $5/$15 after the gpt-4o alias moved to the cheaper snapshot."""
    assert at.cost("openai", "gpt-4o-2024-05-13", ONE_M, at=JUNE_2025, registry=reg) == Decimal("20.00")
    assert at.cost("openai", "gpt-4o", ONE_M, at=JUNE_2025, registry=reg) == Decimal("12.50")


def test_resolve_reports_the_rate_with_its_provenance(reg):
    rate = reg.resolve("openai", "openai/gpt-4o", JUNE_2025)
    assert (rate.provider, rate.model, rate.service_tier, rate.region) == ("openai", "gpt-4o", "standard", None)
    assert rate.currency == "USD"
    assert rate.card_version.startswith("openai-")
    assert rate.source.startswith("https://")
    assert isinstance(rate.read_on, date)
    assert rate.effective_from == datetime(2024, 10, 2, tzinfo=UTC)
    assert rate.unit_prices() == {"input": Decimal("2.5"), "cached_input": Decimal("1.25"), "output": Decimal("10")}


# --- Bedrock ids -------------------------------------------------------------------------

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_AT = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize(("name", "region", "price"), [
    (f"us.{SONNET_45}", "us", Decimal("3.3")),
    (f"eu.{SONNET_45}", "eu", Decimal("3.3")),
    (f"apac.{SONNET_45}", "apac", Decimal("3.3")),
    (f"global.{SONNET_45}", "global", Decimal("3")),
    (f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_45}", "us", Decimal("3.3")),
    (f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.{SONNET_45}", "global", Decimal("3")),
    (f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET_45}", None, None),
])
def test_bedrock_cross_region_profiles_carry_their_geography_and_regional_premium(reg, name, region, price):
    """Claude 4.5 on Bedrock: regional endpoints cost 10% more than the global profile."""
    rate = reg.resolve("bedrock", name, BEDROCK_AT)
    assert rate.model == SONNET_45
    assert rate.region == region
    if price is not None:
        assert input_price(rate) == price


def test_bedrock_us_profile_costs_exactly_1_1x_the_global_profile(reg):
    u = at.Usage(input=18_400, cached_input=1_000, output=2_100)
    us = at.cost("bedrock", f"us.{SONNET_45}", u, at=BEDROCK_AT, registry=reg)
    glob = at.cost("bedrock", f"global.{SONNET_45}", u, at=BEDROCK_AT, registry=reg)
    assert glob == Decimal("0.087")            # 18,400 x $3 + 1,000 x $0.30 + 2,100 x $15, per 1M
    assert us == glob * Decimal("1.1")


def test_bedrock_in_region_id_without_a_profile_pays_the_regional_premium(reg):
    """The card's ``"*" = 1.1`` covers every request not sent through ``global``,
    "including requests with no region recorded" (bedrock.toml): a bare model id
    is an in-region call and must not be priced at the cheaper global rate."""
    bare = reg.resolve("bedrock", SONNET_45, BEDROCK_AT)
    assert input_price(bare) == Decimal("3.3")


def test_the_profile_decides_the_price_not_the_region_the_call_was_logged_in(reg):
    """Invocation logs carry the AWS region of the call; a global-profile call made from
    us-west-2 is billed at the global rate, a us. profile at the US rate (+10%)."""
    assert input_price(reg.resolve("bedrock", f"global.{SONNET_45}", BEDROCK_AT, region="us-west-2")) == Decimal("3")
    arn = f"arn:aws:bedrock:us-west-2:123456789012:inference-profile/global.{SONNET_45}"
    assert input_price(reg.resolve("bedrock", arn, BEDROCK_AT, region="us-west-2")) == Decimal("3")
    assert input_price(reg.resolve("bedrock", f"us.{SONNET_45}", BEDROCK_AT, region="global")) == Decimal("3.3")
    # without a profile, the call's region applies (in-region: the regional premium)
    assert input_price(reg.resolve("bedrock", SONNET_45, BEDROCK_AT, region="us-west-2")) == Decimal("3.3")


def test_a_bedrock_geo_prefix_on_another_provider_is_not_stripped(reg):
    with pytest.raises(at.UnknownModel):
        reg.resolve("openai", "us.gpt-4o", JUNE_2025)


# --- unknown names -----------------------------------------------------------------------


def test_unknown_model_lists_close_matches_and_is_a_lookup_error(reg):
    with pytest.raises(at.UnknownModel) as info:
        reg.resolve("openai", "gpt-4o-mnii", JUNE_2025)
    err = info.value
    assert isinstance(err, at.AttributionError)
    assert isinstance(err, LookupError)
    assert (err.provider, err.model) == ("openai", "gpt-4o-mnii")
    assert "gpt-4o-mini" in err.suggestions
    assert "gpt-4o-mini" in str(err)
    assert "\n" not in str(err)


def test_unknown_model_is_never_priced_at_zero(reg):
    with pytest.raises(at.AttributionError):
        at.cost("openai", "gpt-latest-internal-alias", at.Usage(input=1_000, output=1_000), at=JUNE_2025,
                registry=reg)


def test_unknown_provider_names_the_known_providers(reg):
    with pytest.raises(at.UnknownProvider) as info:
        reg.resolve("acme", "acme-large", JUNE_2025)
    err = info.value
    assert isinstance(err, at.UnknownModel)
    assert isinstance(err, LookupError)
    assert err.provider == "acme"
    assert {"openai", "anthropic", "bedrock"} <= set(err.suggestions)
    assert "acme" in str(err)


# --- history -----------------------------------------------------------------------------


@pytest.mark.parametrize(("when", "expected"), [
    (datetime(2024, 9, 1, tzinfo=UTC), Decimal("20.00")),                 # $5 in + $15 out
    (datetime(2024, 10, 1, 23, 59, 59, tzinfo=UTC), Decimal("20.00")),    # until is exclusive
    (datetime(2024, 10, 2, tzinfo=UTC), Decimal("12.50")),                # from is inclusive: $2.50 + $10
    (datetime(2024, 10, 2, 1, 0, tzinfo=timezone(timedelta(hours=2))), Decimal("20.00")),  # 23:00 UTC the day before
    (date(2024, 10, 2), Decimal("12.50")),                                # a date is UTC midnight
    (JUNE_2025, Decimal("12.50")),
])
def test_gpt_4o_is_repriced_with_the_price_in_force_at_the_request_time(reg, when, expected):
    assert at.cost("openai", "gpt-4o", ONE_M, at=when, registry=reg) == expected


def test_o3_costs_10_40_before_the_june_2025_cut_and_2_8_after(reg):
    before = at.cost("openai", "o3", ONE_M, at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC), registry=reg)
    after = at.cost("openai", "o3-2025-04-16", ONE_M, at=datetime(2025, 6, 10, tzinfo=UTC), registry=reg)
    assert (before, after) == (Decimal("50.00"), Decimal("10.00"))


def test_a_request_before_the_first_price_raises_price_not_in_force(reg):
    with pytest.raises(at.PriceNotInForce) as info:
        reg.resolve("openai", "gpt-4o", datetime(2024, 5, 12, 23, 59, tzinfo=UTC))
    err = info.value
    assert isinstance(err, at.UnknownModel)   # never priced: quarantined like an unknown model
    assert err.known_from == "2024-05-13"
    assert "2024-05-13" in str(err)


def test_no_instant_means_the_newest_price(reg):
    assert reg.resolve("openai", "o3").unit_prices()["input"] == Decimal("2")


def test_a_naive_datetime_is_rejected_not_guessed(reg):
    with pytest.raises(at.InvalidTimestamp, match="timezone"):
        reg.resolve("openai", "gpt-4o", datetime(2025, 6, 1))
    with pytest.raises(at.InvalidTimestamp, match="timezone"):
        at.cost("openai", "gpt-4o", ONE_M, at=datetime(2025, 6, 1), registry=reg)


def test_models_lists_every_card_model_once_with_its_aliases(reg):
    infos = reg.models()
    keys = [(m.provider, m.id) for m in infos]
    assert len(keys) == len(set(keys))
    gpt41 = next(m for m in infos if m.id == "gpt-4.1")
    assert "gpt-4.1-2025-04-14" in gpt41.aliases
    assert [m.provider for m in reg.models("openai")] == ["openai"] * len(reg.models("openai"))


# --- user layers -------------------------------------------------------------------------


def card(tmp_path, name, body, *, provider="openai", version=None, currency="USD"):
    head = f"""\
    [card]
    provider = "{provider}"
    version = "{version or 'acme-' + name}"
    currency = "{currency}"
    read_on = 2026-01-15
    source = "https://acme.example/contracts/{name}"
    """
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(head) + textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_user_alias_prices_as_its_target(tmp_path, reg):
    path = card(tmp_path, "aliases", """
    [[aliases]]
    alias = "gpt-latest"
    model = "gpt-5.4"
    note = "what the gateway's 'latest' routes to"
    """)
    mine = at.load_registry(path)
    u = at.Usage(input=3_000, output=750)      # one of seed 001's requests
    assert mine.canonical_model("openai", "gpt-latest")[1] == "gpt-5.4"
    assert at.cost("openai", "gpt-latest", u, at=JUNE_2026, registry=mine) == Decimal("0.01875")
    assert at.cost("openai", "gpt-latest", u, at=JUNE_2026, registry=mine) == at.cost(
        "openai", "gpt-5.4", u, at=JUNE_2026, registry=reg)
    with pytest.raises(at.UnknownModel):
        reg.resolve("openai", "gpt-latest")   # the bundled registry is not changed


def test_a_negotiated_discount_applies_from_its_start_date(tmp_path):
    path = card(tmp_path, "discount", """
    [[discounts]]
    multiplier = 0.85
    models = ["gpt-4o", "gpt-4.1*"]
    from = 2026-01-01
    note = "15% committed-use discount"
    """)
    mine = at.load_registry(path)
    u = at.Usage(input=1_000_000, cached_input=1_000_000, output=1_000_000)
    before = at.cost("openai", "gpt-4o", u, at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), registry=mine)
    after = at.cost("openai", "gpt-4o", u, at=datetime(2026, 1, 1, tzinfo=UTC), registry=mine)
    assert before == Decimal("13.75")                   # $2.50 + $1.25 + $10
    assert after == Decimal("11.6875")                  # x 0.85, exact: $2.125 + $1.0625 + $8.50
    rate = mine.resolve("openai", "gpt-4o", datetime(2026, 2, 1, tzinfo=UTC))
    assert any("0.85" in n for n in rate.notes)         # the discount explains itself
    assert at.cost("openai", "gpt-4.1-mini", at.Usage(input=1_000_000), at=JUNE_2026, registry=mine) == Decimal("0.34")
    # a model the discount does not name keeps its list price
    assert at.cost("openai", "o3", at.Usage(input=1_000_000), at=JUNE_2026, registry=mine) == Decimal("2.00")


def test_a_discount_with_an_end_date_stops_applying_at_it(tmp_path):
    path = card(tmp_path, "promo", """
    [[discounts]]
    multiplier = 0.5
    models = ["gpt-4o"]
    from = 2026-01-01
    until = 2026-02-01
    """)
    mine = at.load_registry(path)
    u = at.Usage(input=1_000_000)
    assert at.cost("openai", "gpt-4o", u, at=datetime(2026, 1, 31, 23, tzinfo=UTC), registry=mine) == Decimal("1.25")
    assert at.cost("openai", "gpt-4o", u, at=datetime(2026, 2, 1, tzinfo=UTC), registry=mine) == Decimal("2.50")


def test_a_private_fine_tuned_model_is_priced_from_the_users_card(tmp_path):
    path = card(tmp_path, "private", """
    [[models]]
    id = "ft:gpt-4o-mini-2024-07-18:acme:support:9xQ2"
    aliases = ["acme-support-ft"]

      [[models.prices]]
      from = 2025-03-01
      input = 0.30
      cached_input = 0.15
      output = 1.20
    """)
    mine = at.load_registry(path)
    u = at.Usage(input=1_000_000, output=1_000_000)
    assert at.cost("openai", "acme-support-ft", u, at=JUNE_2025, registry=mine) == Decimal("1.50")
    assert at.cost("openai", "ft:gpt-4o-mini-2024-07-18:acme:support:9xQ2", u, at=JUNE_2025,
                   registry=mine) == Decimal("1.50")
    rate = mine.resolve("openai", "acme-support-ft", JUNE_2025)
    assert rate.card_version == "acme-private"
    assert rate.source == "https://acme.example/contracts/private"


GPT_4O_OVERRIDE = """
[[models]]
id = "gpt-4o"
{override}

  [[models.prices]]
  from = 2024-05-13
  input = 2.00
  output = 8.00
"""


def test_redefining_a_bundled_model_without_override_is_a_price_card_error(tmp_path):
    path = card(tmp_path, "clash", GPT_4O_OVERRIDE.format(override=""))
    with pytest.raises(at.PriceCardError, match="override") as info:
        at.load_registry(path)
    assert info.value.file == str(path)
    assert info.value.path == "models[0].id"


def test_override_true_replaces_the_bundled_model(tmp_path):
    path = card(tmp_path, "override", GPT_4O_OVERRIDE.format(override="override = true"))
    mine = at.load_registry(path)
    assert at.cost("openai", "gpt-4o", ONE_M, at=JUNE_2025, registry=mine) == Decimal("10.00")
    assert mine.resolve("openai", "gpt-4o", JUNE_2025).card_version == "acme-override"
    # the replacement is whole: the bundled 2024-09 price period is gone too
    assert at.cost("openai", "gpt-4o", ONE_M, at=datetime(2024, 9, 1, tzinfo=UTC), registry=mine) == Decimal("10.00")


def test_an_alias_pointing_nowhere_is_a_price_card_error_with_suggestions(tmp_path):
    path = card(tmp_path, "dangling", """
    [[aliases]]
    alias = "gpt-latest"
    model = "gpt-5.9"
    """)
    with pytest.raises(at.PriceCardError) as info:
        at.load_registry(path)
    assert info.value.file == str(path)
    assert info.value.path == "aliases[0].model"
    assert "gpt-5.9" in str(info.value)


def test_an_alias_that_would_shadow_a_real_model_is_a_price_card_error(tmp_path):
    path = card(tmp_path, "shadow", """
    [[aliases]]
    alias = "gpt-4o"
    model = "gpt-5.4"
    """)
    with pytest.raises(at.PriceCardError, match="shadow"):
        at.load_registry(path)


def test_loading_the_same_card_version_twice_is_a_price_card_error(tmp_path):
    path = card(tmp_path, "twice", "")
    with pytest.raises(at.PriceCardError, match="already loaded") as info:
        at.load_registry(path, path)
    assert info.value.path == "card.version"


def test_a_directory_of_user_cards_is_read_in_name_order(tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    card(folder, "a-models", """
    [[models]]
    id = "internal-small"
      [[models.prices]]
      from = 2025-01-01
      input = 0.10
    """)
    card(folder, "b-aliases", """
    [[aliases]]
    alias = "small"
    model = "internal-small"
    """)
    mine = at.load_registry(folder)
    assert at.cost("openai", "small", at.Usage(input=1_000_000), at=JUNE_2025, registry=mine) == Decimal("0.10")


def test_a_missing_user_card_path_is_a_price_card_error(tmp_path):
    with pytest.raises(at.PriceCardError, match="no such"):
        at.load_registry(tmp_path / "missing.toml")


def test_a_vendor_model_name_resolves_to_its_bedrock_id_only_when_unambiguous(reg):
    assert reg.canonical_model("bedrock", "claude-3-haiku-20240307")[1] == "anthropic.claude-3-haiku-20240307-v1:0"
    with pytest.raises(at.UnknownModel):       # a prefix of many ids is not a name
        reg.canonical_model("bedrock", "claude")
    with pytest.raises(at.UnknownModel):       # only Bedrock ids are expanded this way
        reg.canonical_model("openai", "claude-3-haiku-20240307")
