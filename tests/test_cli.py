"""The CLI: a thin shell over the library; errors are one line on stderr, never a traceback."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

import attribution as at
from attribution.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def line_with(text, *needles):
    """The first output line containing every needle (fails the test if none does)."""
    for line in text.splitlines():
        if all(n in line for n in needles):
            return line
    raise AssertionError(f"no line with {needles!r} in:\n{text}")


# --- price -----------------------------------------------------------------------------------


def test_price_prints_each_meters_line_item_and_the_exact_total(capsys):
    code, out, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--at", "2025-06-01",
                         "--input", "4000", "--cached-input", "1000", "--output", "800")
    assert code == 0
    assert err == ""
    assert "gpt-4o" in out
    assert re.search(r"\b2\.5\b", line_with(out, "input", "4,000"))
    assert "0.01" in line_with(out, "input", "4,000")
    assert "0.00125" in line_with(out, "cached_input", "1,000")
    assert "0.008" in line_with(out, "output", "800")
    assert "0.01925" in line_with(out, "total")
    assert "https://" in out                         # where the unit prices come from


def test_price_at_an_old_date_uses_the_old_card_period(capsys):
    code, out, _ = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--at", "2024-09-01",
                       "--input", "1000000", "--output", "1000000")
    assert code == 0
    assert "20" in line_with(out, "total")
    assert not re.search(r"\b12\.5", line_with(out, "total"))


def test_price_with_a_batch_tier_halves_the_total(capsys):
    code, out, _ = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--at", "2025-06-01",
                       "--tier", "batch", "--input", "4000", "--cached-input", "1000", "--output", "800")
    assert code == 0
    assert "0.009625" in line_with(out, "total")


def test_price_of_an_unknown_model_exits_2_with_one_line_on_stderr_and_no_traceback(capsys):
    code, out, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o-mnii", "--input", "5")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "gpt-4o-mnii" in lines[0]
    assert "gpt-4o-mini" in lines[0]                 # the close match
    assert "Traceback" not in err


def test_price_with_a_naive_bad_date_exits_2_with_one_line(capsys):
    code, _, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--at", "June 1st",
                       "--input", "5")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "June 1st" in err
    assert "Traceback" not in err


def test_price_of_audio_tokens_on_a_text_model_exits_2_naming_the_meter(capsys):
    code, _, err = run(capsys, "price", "--provider", "openai", "--model", "gpt-4o", "--input-audio", "100")
    assert code == 2
    assert "input_audio" in err
    assert "Traceback" not in err


# --- cards ----------------------------------------------------------------------------------------


def test_cards_list_shows_at_least_150_models_across_10_providers(capsys):
    code, out, _ = run(capsys, "cards", "list")
    assert code == 0
    providers = set(at.default_registry().providers())
    assert len(providers) >= 10
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in providers]
    assert len(rows) >= 150
    assert {r[0] for r in rows} == providers
    listed = {r[1] for r in rows}
    assert {m.id for m in at.default_registry().models()} <= listed
    gpt41 = next(r for r in rows if r[1] == "gpt-4.1")
    assert gpt41[2:5] == ["2", "0.5", "8"]           # input, cached, output per 1M


def test_cards_list_filters_by_provider(capsys):
    code, out, _ = run(capsys, "cards", "list", "--provider", "anthropic")
    assert code == 0
    assert "claude-sonnet-4-20250514" in out
    assert "gpt-4o" not in out


def test_cards_show_gpt_4o_shows_both_price_periods_with_their_sources(capsys):
    code, out, _ = run(capsys, "cards", "show", "gpt-4o", "--provider", "openai")
    assert code == 0
    old = line_with(out, "2024-05-13")
    new = line_with(out, "2024-10-02", "now")
    assert "2024-10-02" in old                     # the old period closes where the new one opens
    assert "verified on https://" in old             # provenance: a provider page, with its read date
    assert "verified on https://" in new
    assert "(read 2026-11-23)" in new
    assert "https://openai.com/index/hello-gpt-4o/" in old
    input_prices = [line.split()[1] for line in out.splitlines() if line.split()[:1] == ["input"]]
    assert input_prices == ["5", "2.5"]
    output_prices = [line.split()[1] for line in out.splitlines() if line.split()[:1] == ["output"]]
    assert output_prices == ["15", "10"]


def test_cards_show_finds_a_model_by_alias_or_bedrock_profile(capsys):
    code, out, _ = run(capsys, "cards", "show", "claude-sonnet-4")
    assert code == 0
    assert "claude-sonnet-4-20250514" in out
    code, out, _ = run(capsys, "cards", "show", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "--provider", "bedrock")
    assert code == 0
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in out


def test_cards_show_of_an_unknown_model_exits_2(capsys):
    code, _, err = run(capsys, "cards", "show", "gpt-nope")
    assert code == 2
    assert "gpt-nope" in err
    assert "Traceback" not in err


BROKEN_CARD = """\
[card]
provider = "acme"
version = "acme-1"
read_on = 2026-01-01
source = "https://acme.example/pricing"

[[models]]
id = "acme-large"
  [[models.prices]]
  from = 2025-01-01
  input = -1.00
  output = 2.00
"""


def test_cards_validate_on_a_broken_card_exits_1_naming_the_file_and_key_path(tmp_path, capsys):
    path = tmp_path / "acme.toml"
    path.write_text(BROKEN_CARD, encoding="utf-8")
    code, out, _ = run(capsys, "cards", "validate", str(path))
    assert code == 1
    fail = line_with(out, "FAIL")
    assert str(path) in fail
    assert "models[0].prices[0].input" in fail
    assert "negative" in fail


def test_cards_validate_reports_an_unknown_key_with_its_table(tmp_path, capsys):
    path = tmp_path / "acme.toml"
    path.write_text(BROKEN_CARD.replace("input = -1.00", "inptu = 1.00"), encoding="utf-8")
    code, out, _ = run(capsys, "cards", "validate", str(path))
    assert code == 1
    fail = line_with(out, "FAIL")
    assert str(path) in fail
    assert "models[0].prices[0]" in fail
    assert "inptu" in fail


def test_cards_validate_catches_a_clash_with_the_bundled_cards(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent("""\
        [card]
        provider = "openai"
        version = "acme-openai-1"
        read_on = 2026-01-01
        source = "https://acme.example/contract"

        [[aliases]]
        alias = "gpt-latest"
        model = "gpt-9"
        """), encoding="utf-8")
    code, out, _ = run(capsys, "cards", "validate", str(path))
    assert code == 1
    assert "aliases[0].model" in line_with(out, "FAIL")


def test_cards_validate_passes_a_good_card_and_the_bundled_cards(tmp_path, capsys):
    path = tmp_path / "acme.toml"
    path.write_text(BROKEN_CARD.replace("input = -1.00", "input = 1.00"), encoding="utf-8")
    code, out, _ = run(capsys, "cards", "validate", str(path))
    assert code == 0, out
    assert "FAIL" not in out
    from attribution._registry import bundled_card_paths

    code, out, _ = run(capsys, "cards", "validate", *map(str, bundled_card_paths()))
    assert code == 0, out


def test_a_user_card_layered_with_pricecards_is_used_by_price(tmp_path, capsys):
    path = tmp_path / "alias.toml"
    path.write_text(textwrap.dedent("""\
        [card]
        provider = "openai"
        version = "acme-openai-1"
        read_on = 2026-01-01
        source = "https://acme.example/contract"

        [[aliases]]
        alias = "gpt-latest"
        model = "gpt-4.1"
        """), encoding="utf-8")
    code, out, _ = run(capsys, "price", "--provider", "openai", "--model", "gpt-latest", "--at", "2025-06-01",
                       "--input", "1000000", "--pricecards", str(path))
    assert code == 0
    assert "gpt-4.1" in out
    assert re.search(r"\b2(\.0+)?\b", line_with(out, "total"))


# --- audit ------------------------------------------------------------------------------------------


@pytest.fixture
def usage_file(tmp_path):
    """Four gateway events a day's log might hold, one malformed line and a blank one."""
    def event(i, model, team, inp=10_000, out=2_000):
        return json.dumps({"timestamp": "2025-06-01T12:00:00Z", "request_id": f"r{i}", "provider": "openai",
                           "model_requested": model, "input_tokens": inp, "output_tokens": out, "team_id": team})
    lines = [
        event(1, "gpt-4.1", "search"),                 # $0.036
        '{"timestamp": "2025-06-01T12:00:00Z", "provider": "openai", ',   # line 2: cut off
        event(3, "gpt-nope", "search"),                # line 3: unknown model
        "",
        event(5, "gpt-4.1", "support"),                # $0.036
        event(6, "gpt-4.1-mini", "support", 100_000, 10_000),   # $0.056
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_audit_prints_spend_by_team_and_the_total(usage_file, capsys):
    code, out, err = run(capsys, "audit", str(usage_file))
    assert code == 0, err
    assert "$0.04" in line_with(out, "search")
    assert "$0.09" in line_with(out, "support")       # 0.036 + 0.056 = 0.092, shown to the cent
    assert re.search(r"(?i)total[^\n]*\$0\.13\b", out)


def test_audit_reports_quarantined_records_by_reason_with_their_line_numbers(usage_file, capsys):
    code, out, _ = run(capsys, "audit", str(usage_file))
    assert code == 0
    assert f"{usage_file}:2" in line_with(out, "bad_json")
    assert f"{usage_file}:3" in line_with(out, "unknown_model")
    assert "gpt-nope" in line_with(out, "unknown_model")
    counts = line_with(out, "priced", "quarantined")
    assert re.search(r"\b5\b", counts)
    assert re.search(r"\b3 priced\b", counts)
    assert re.search(r"\b2 quarantined", counts)


def test_audit_json_output_is_exact_and_lists_every_quarantined_record(usage_file, capsys):
    code, out, _ = run(capsys, "audit", str(usage_file), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "attribution.audit/1"
    assert doc["totals"]["cost"] == "0.128"
    assert doc["totals"]["priced_records"] == 3
    assert doc["totals"]["records_read"] == 5
    by_team = {row["team"]: row["cost"] for row in doc["rows"]}
    assert by_team == {"search": "0.036", "support": "0.092"}
    assert doc["quarantined"]["by_reason"] == {"bad_json": 1, "unknown_model": 1}
    quarantined = {(q["code"], q["source"]) for q in doc["quarantined"]["examples"]}
    assert quarantined == {("bad_json", f"{usage_file}:2"), ("unknown_model", f"{usage_file}:3")}


def test_audit_of_a_missing_file_exits_2_with_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "audit", str(tmp_path / "nope.jsonl"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "nope.jsonl" in err
    assert "Traceback" not in err


def test_cards_diff_without_the_peer_installed_exits_2_with_one_line(capsys):
    import importlib.util

    if importlib.util.find_spec("litellm") is not None:
        pytest.skip("litellm is installed here; this checks the message when it is not")
    code, out, err = run(capsys, "cards", "diff", "--against", "litellm")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "pip install litellm" in err
