"""Price cards from Python (``at.price_card``, ``at.model_price``, ``at.price_period``).

A card built in code is the card the same TOML file loads: equal parsed cards,
equal registries and prices, and the same errors with the same key paths.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import attribution as at
from attribution._registry import bundled_card_paths
from attribution.exceptions import PriceCardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

UTC = timezone.utc
D = Decimal

CARD_TOML = """
[card]
provider = "acme"
version  = "acme-2026-01"
currency = "EUR"
read_on  = 2026-01-05
source   = "Order form OF-2291"

[[models]]
id      = "acme-chat"
name    = "Acme Chat"
aliases = ["acme-chat-2026-01"]

  [[models.prices]]
  from   = 2025-06-01
  until  = 2026-01-01
  input  = 1.00
  output = 4.00

  [[models.prices]]
  from   = 2026-01-01
  input  = 0.80
  cached_input = 0.20
  output = 3.20
  context = [{ above = 200000, input = 1.60, output = 6.40 }]
  tiers.batch = { multiplier = 0.5 }
  tiers.priority = { input = 1.40, output = 5.60 }
  regions.eu = 1.1
  assumptions = [{ meter = "cached_input", tier = "batch", assumed = "half of standard, as for input" }]

[[models]]
id = "acme-night"

  [[models.prices]]
  from   = 2026-01-01
  input  = 2.00
  output = 8.00
  regional.apac = { input = 1.80, output = 7.20 }
  time_windows = [{ name = "off-peak", hours = ["16:30-24:00", "00:00-00:30"], multiplier = 0.5 }]

[[aliases]]
alias = "chat-latest"
model = "acme-chat"

[[discounts]]
models = ["acme-chat*"]
multiplier = 0.9
from = 2026-03-01

[[excluded]]
id = "acme-legacy"
reason = "retired before our contract started"
"""


def code_card() -> Any:
    return at.price_card(
        provider="acme", version="acme-2026-01", currency="EUR", read_on="2026-01-05",
        source="Order form OF-2291",
        models=[
            at.model_price("acme-chat", name="Acme Chat", aliases=["acme-chat-2026-01"], prices=[
                at.price_period(from_="2025-06-01", until="2026-01-01", input=D("1.00"), output=D("4.00")),
                at.price_period(from_="2026-01-01", input=D("0.80"), cached_input=D("0.20"), output=D("3.20"),
                                context=[{"above": 200_000, "input": D("1.60"), "output": D("6.40")}],
                                tiers={"batch": {"multiplier": D("0.5")},
                                       "priority": {"input": D("1.40"), "output": D("5.60")}},
                                regions={"eu": D("1.1")},
                                assumptions=[{"meter": "cached_input", "tier": "batch",
                                              "assumed": "half of standard, as for input"}]),
            ]),
            at.model_price("acme-night", from_="2026-01-01", input=2, output=8,
                           regional={"apac": {"input": D("1.80"), "output": D("7.20")}},
                           time_windows=[{"name": "off-peak", "hours": ("16:30-24:00", "00:00-00:30"),
                                          "multiplier": D("0.5")}]),
        ],
        aliases={"chat-latest": "acme-chat"},
        discounts=[{"models": ["acme-chat*"], "multiplier": D("0.9"), "from_": "2026-03-01"}],
        excluded=[{"id": "acme-legacy", "reason": "retired before our contract started"}],
    )


def toml_card(tmp_path: Path, text: str = CARD_TOML) -> Any:
    path = tmp_path / "acme.toml"
    path.write_text(text, encoding="utf-8")
    return at.load_card(path)


def test_code_card_equals_the_toml_card(tmp_path: Path) -> None:
    from_file = toml_card(tmp_path)
    assert code_card() == attrs.evolve(from_file, path=None)


@pytest.mark.parametrize(("model", "when", "tier", "region", "usage"), [
    ("acme-chat", datetime(2025, 7, 1, tzinfo=UTC), None, None, at.Usage(input=1_000_000, output=100_000)),
    ("acme-chat-2026-01", datetime(2026, 2, 1, tzinfo=UTC), None, None,
     at.Usage(input=300_000, cached_input=50_000, output=10_000)),              # context tier
    ("chat-latest", datetime(2026, 4, 1, tzinfo=UTC), "batch", None, at.Usage(input=1_000, output=1_000)),
    ("acme-chat", datetime(2026, 4, 1, tzinfo=UTC), "priority", None, at.Usage(input=7, output=9)),
    ("acme-chat", datetime(2026, 2, 1, tzinfo=UTC), None, "eu", at.Usage(input=1_000_000)),
    ("acme-night", datetime(2026, 2, 1, tzinfo=UTC), None, "apac", at.Usage(input=1_000_000, output=1)),
    ("acme-night", datetime(2026, 2, 1, 17, tzinfo=UTC), None, None, at.Usage(input=1_000_000)),  # off-peak
    ("acme-night", datetime(2026, 2, 1, 12, tzinfo=UTC), None, None, at.Usage(input=1_000_000)),
])
def test_code_and_toml_registries_price_alike(tmp_path: Path, model: str, when: datetime, tier: str | None,
                                              region: str | None, usage: at.Usage) -> None:
    by_file = at.load_registry(toml_card(tmp_path))
    by_code = at.load_registry(code_card())
    a = by_file.resolve("acme", model, when, service_tier=tier, region=region)
    b = by_code.resolve("acme", model, when, service_tier=tier, region=region)
    assert a == b
    assert a.lines(usage) == b.lines(usage)
    cost = at.cost("acme", model, usage, at=when, registry=by_code, service_tier=tier, region=region)
    assert cost == at.cost("acme", model, usage, at=when, registry=by_file, service_tier=tier, region=region)
    assert cost > 0


def test_known_prices_of_a_code_card() -> None:
    reg = at.load_registry(code_card())
    feb = datetime(2026, 2, 1, 12, tzinfo=UTC)
    # 100K input at 0.80 + 50K output at 3.20 = 0.08 + 0.16
    assert at.cost("acme", "acme-chat", at.Usage(input=100_000, output=50_000), at=feb,
                   registry=reg) == D("0.24")
    # A 1M-token prompt is above the 200K context tier: all tokens at 1.60 / 6.40
    assert at.cost("acme", "acme-chat", at.Usage(input=1_000_000, output=500_000), at=feb,
                   registry=reg) == D("4.80")
    # From March the 10% discount applies: 0.24 x 0.9
    assert at.cost("acme", "chat-latest", at.Usage(input=100_000, output=50_000),
                   at=datetime(2026, 3, 2, tzinfo=UTC), registry=reg) == D("0.216")
    # Off-peak at 17:00 UTC: half of 2.00
    assert at.cost("acme", "acme-night", at.Usage(input=1_000_000), at=datetime(2026, 2, 1, 17, tzinfo=UTC),
                   registry=reg) == D("1.00")
    assert reg.excluded("acme")[0][1].id == "acme-legacy"


@pytest.mark.parametrize("path", bundled_card_paths(), ids=lambda p: p.stem)
def test_every_bundled_card_rebuilt_in_code_is_equal(path: Path) -> None:
    """The builder covers the whole schema the bundled cards use."""
    data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    models = [at.model_price(m["id"], name=m.get("name"), aliases=m.get("aliases", ()),
                             override=m.get("override", False), note=m.get("note"),
                             prices=[at.price_period(from_=p["from"], **{k: v for k, v in p.items() if k != "from"})
                                     for p in m["prices"]])
              for m in data.get("models", [])]
    card = at.price_card(**data["card"], models=models, aliases=data.get("aliases", ()),
                         discounts=data.get("discounts", ()), excluded=data.get("excluded", ()))
    assert card == attrs.evolve(at.load_card(path), path=None)


# -- errors -------------------------------------------------------------------------------------------

HEAD = '[card]\nprovider = "acme"\nversion = "v1"\nread_on = 2026-01-05\nsource = "x"\n'
OK_CARD: dict[str, Any] = {"provider": "acme", "version": "v1", "read_on": "2026-01-05", "source": "x"}


def one(**period: Any) -> list[dict[str, Any]]:
    return [at.model_price("m", from_="2026-01-01", **period)]


ERRORS: list[tuple[str, str, dict[str, Any]]] = [
    ("negative price", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = -1\n',
     {"models": one(input=-1)}),
    ("misspelt meter", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninptu = 1\n',
     {"models": one(inptu=1)}),
    ("too fine", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 0.0000000001\n',
     {"models": one(input=D("0.0000000001"))}),
    ("bad currency", HEAD.replace('version = "v1"', 'version = "v1"\ncurrency = "XXY"')
     + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n',
     {"currency": "XXY", "models": one(input=1)}),
    ("unordered periods", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-02-01\ninput = 1\n'
     '[[models.prices]]\nfrom = 2026-01-01\ninput = 2\n',
     {"models": [at.model_price("m", prices=[at.price_period(from_="2026-02-01", input=1),
                                             at.price_period(from_="2026-01-01", input=2)])]}),
    ("overlapping periods", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\n'
     'until = 2026-03-01\ninput = 1\n[[models.prices]]\nfrom = 2026-02-01\ninput = 2\n',
     {"models": [at.model_price("m", prices=[at.price_period(from_="2026-01-01", until="2026-03-01", input=1),
                                             at.price_period(from_="2026-02-01", input=2)])]}),
    ("tier with both", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     'tiers.batch = { multiplier = 0.5, input = 1 }\n',
     {"models": one(input=1, tiers={"batch": {"multiplier": D("0.5"), "input": 1}})}),
    ("context not ascending", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     'context = [{ above = 0, input = 2 }]\n',
     {"models": one(input=1, context=[{"above": 0, "input": 2}])}),
    ("bad window", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     'time_windows = [{ hours = ["18:00-06:00"], multiplier = 0.5, days = ["mon", "funday"] }]\n',
     {"models": one(input=1, time_windows=[{"hours": ["18:00-06:00"], "multiplier": D("0.5"),
                                           "days": ["mon", "funday"]}])}),
    ("regional beside multiplier", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\n'
     'input = 1\nregions.eu = 1.1\nregional.eu = { input = 2 }\n',
     {"models": one(input=1, regions={"eu": D("1.1")}, regional={"eu": {"input": 2}})}),
    ("duplicate id", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     '[[models]]\nid = "M"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n',
     {"models": [*one(input=1), at.model_price("M", from_="2026-01-01", input=1)]}),
    ("no periods", HEAD + '[[models]]\nid = "m"\nprices = []\n', {"models": [at.model_price("m")]}),
    ("unknown assumption", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     'assumptions = [{ meter = "tokens", tier = "flex", assumed = " " }]\n',
     {"models": one(input=1, assumptions=[{"meter": "tokens", "tier": "flex", "assumed": " "}])}),
    ("excluded also priced", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     '[[excluded]]\nid = "m"\nreason = ""\n',
     {"models": one(input=1), "excluded": [{"id": "m", "reason": ""}]}),
    ("discount", HEAD + '[[discounts]]\nmultiplier = 0\nfrom = 2026-02-01\nuntil = 2026-01-01\n',
     {"discounts": [{"multiplier": 0, "from_": "2026-02-01", "until": "2026-01-01"}]}),
    ("alias clash", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = 1\n'
     '[[aliases]]\nalias = "m"\nmodel = "m"\n',
     {"models": one(input=1), "aliases": {"m": "m"}}),
    ("bad provider and empty version", HEAD.replace('"acme"', '"Acme Inc"').replace('"v1"', '" "'),
     {"provider": "Acme Inc", "version": " "}),
    ("float price", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01\ninput = "one"\n',
     {"models": one(input="one")}),
    ("naive datetime", HEAD + '[[models]]\nid = "m"\n[[models.prices]]\nfrom = 2026-01-01T00:00:00\ninput = 1\n',
     {"models": [at.model_price("m", from_=datetime(2026, 1, 1), input=1)]}),
    ("unsourced", ('[card]\nprovider = "acme"\nversion = "v1"\n[[models]]\nid = "m"\n[[models.prices]]\n'
     'from = 2026-01-01\ninput = 1\n'), {"provider": "acme", "version": "v1", "read_on": None, "source": None,
                                        "models": one(input=1)}),
]


def problems(exc: PriceCardError) -> list[tuple[str | None, str]]:
    return [(e.path, e.message) for e in (exc, *exc.others)]


@pytest.mark.parametrize(("text", "kwargs"), [(t, k) for _, t, k in ERRORS], ids=[n for n, _, _ in ERRORS])
def test_code_raises_the_toml_errors_with_the_same_paths(tmp_path: Path, text: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(PriceCardError) as from_file:
        toml_card(tmp_path, text)
    with pytest.raises(PriceCardError) as from_code:
        at.price_card(**{**OK_CARD, **kwargs})
    assert problems(from_code.value) == problems(from_file.value)
    assert from_code.value.path    # every error names where


def test_a_float_price_is_refused_with_its_path() -> None:
    """Money never goes through float: 0.1 would be 0.1000000000000000055511151231257827..."""
    with pytest.raises(PriceCardError) as exc:
        at.price_card(**OK_CARD, models=one(input=0.1))
    assert exc.value.path == "models[0].prices[0].input"
    assert "float" in exc.value.message


def test_a_code_card_layers_like_a_file_and_clashes_are_refused() -> None:
    """Redefining a bundled model needs override=True, exactly as in a file."""
    gpt = at.model_price("gpt-4o", from_="2024-01-01", input=1, output=2)
    with pytest.raises(PriceCardError, match="override"):
        at.load_registry(at.price_card(provider="openai", version="mine", read_on="2026-01-01", source="x",
                                       models=[gpt]))
    gpt = at.model_price("gpt-4o", override=True, from_="2024-01-01", input=1, output=2)
    reg = at.load_registry(at.price_card(provider="openai", version="mine", read_on="2026-01-01", source="x",
                                         models=[gpt]))
    assert at.cost("openai", "gpt-4o", at.Usage(input=1_000_000), at=datetime(2026, 1, 1, tzinfo=UTC),
                   registry=reg) == D("1.00")


def test_model_price_takes_prices_or_one_period_not_both() -> None:
    with pytest.raises(TypeError, match="either"):
        at.model_price("m", prices=[at.price_period(from_="2026-01-01", input=1)], input=2)
