"""Golden corpus of real, recorded provider payloads (issue 18).

Each entry of ``tests/fixtures/real/corpus/*.ndjson.gz`` is one response body,
stream event or OpenTelemetry span, recorded by a public test suite (VCR
cassettes shipped in PyPI sdists, files of public repositories) or produced
by running the real instrumentation packages on recorded bodies, with its
source (package, version, path, sdist sha256; or repository, path, commit) and
the meters that the payload's own usage fields mean under the provider's
documented semantics (see ``tests/fixtures/real/README.md``). Every entry is
normalized twice, with the provider as hint and without, and must give exactly
those meters, the billed model and the provider, the cost the payload itself
states (``stated_cost``) and, where the model is priced, a bill of exactly
those meters at the card's unit prices; a payload without billable usage must
be rejected with a typed error. SDK-object entries are handed over as objects
with ``model_dump()`` / ``to_dict()``, whole streams go to ``normalize_stream``
(``measure.payload_of``).

What fails today is listed in ``tests/fixtures/real/known_gaps.json`` (entry id
-> gap category, per mode). Such an entry is marked xfail only while it still
fails: once a fix makes it pass, the test passes and ``test_known_gaps_are_current``
names it so the list can be pruned (``python tests/fixtures/real/measure.py
--write-gaps`` rewrites it). An entry not in the list must pass.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

_MEASURE = Path(__file__).parent / "fixtures" / "real" / "measure.py"
_spec = importlib.util.spec_from_file_location("_real_corpus_measure", _MEASURE)
assert _spec is not None
assert _spec.loader is not None
measure: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(measure)

ENTRIES = measure.load_entries()
GAPS = measure.load_gaps()


def test_corpus_is_present() -> None:
    """The committed corpus is there: a missing corpus fails, it never skips."""
    files = measure.corpus_files()
    assert files, f"no corpus files under {measure.CORPUS}"
    assert ENTRIES, f"the corpus files under {measure.CORPUS} hold no entries"


@pytest.mark.parametrize("entry", [pytest.param(entry, id=entry["id"]) for entry in ENTRIES])
def test_real_payload(entry: dict[str, Any]) -> None:
    """Hinted and unhinted: correct, or a gap listed for that mode (xfail while it still fails)."""
    unexpected, known = [], []
    for mode in measure.MODES:
        category, detail, _rec = measure.check(entry, mode)
        if category is None:
            continue  # correct (a listed gap that now passes is named by test_known_gaps_are_current)
        if entry["id"] in GAPS[mode]:
            known.append(f"{mode}={category}")
        else:
            unexpected.append(f"{mode}: {category}: {detail}")
    if unexpected:
        pytest.fail(f"{entry['id']} ({entry['_file']}): " + "; ".join(unexpected))
    if known:
        pytest.xfail("known gap: " + ", ".join(known))


def test_no_untyped_exception() -> None:
    """No payload, hinted or not, makes the library raise anything but an AttributionError."""
    escaped = [f"{mode}:{entry['id']}: {detail}" for entry, mode, category, detail, _ in measure.run(ENTRIES)
               if category == "exception"]
    assert not escaped, "\n".join(escaped[:20])


def test_known_gaps_are_current() -> None:
    """Every listed gap names a corpus entry, and the gaps fixed since the list was written are named."""
    ids = {entry["id"] for entry in ENTRIES}
    for mode in measure.MODES:
        stale = sorted(set(GAPS[mode]) - ids)
        assert not stale, f"known_gaps.json[{mode!r}] names entries not in the corpus: {stale[:10]}"
    fixed = [f"{mode}:{entry['id']}" for entry, mode, category, _d, _r in measure.run(ENTRIES)
             if category is None and entry["id"] in GAPS[mode]]
    if fixed:
        print(f"\n{len(fixed)} known gaps now pass; prune known_gaps.json (measure.py --write-gaps):")
        print("\n".join(f"  {f}" for f in fixed[:50]))


def test_corpus_shape() -> None:
    """Ids are unique, every entry names its source, and the corpus keeps the breadth issue 18 asks for."""
    ids = Counter(entry["id"] for entry in ENTRIES)
    assert [i for i, n in ids.items() if n > 1] == []
    for entry in ENTRIES:
        src = entry["source"]
        if "generator" in src:  # a span made by published packages from a recorded body
            assert src["generated_with"], entry["id"]
            src = src["from"]
        assert src["path"], entry["id"]
        if "package" in src:  # a file of a PyPI sdist
            assert src["version"], entry["id"]
            assert len(src["sdist_sha256"]) == 64, entry["id"]
        else:  # a file of a public repository, read with the search tool
            assert src["repo"], entry["id"]
            assert len(src["commit"]) == 40, entry["id"]
        assert isinstance(entry["billable"], bool), entry["id"]
        if entry["billable"]:
            meters = entry["expected"]["meters"]
            assert meters, entry["id"]
            assert all(type(v) is int and v >= 0 for v in meters.values()), entry["id"]
    billable = [e for e in ENTRIES if e["billable"]]
    assert len(billable) >= 500
    assert len({e["provider"] for e in billable}) >= 12
    assert len({(e["provider"], e["format"]) for e in billable}) >= 12
    assert sum(1 for e in billable if e["source"].get("stream")) >= 50
    assert any(not e["billable"] for e in ENTRIES)


def _any(pred: Any) -> bool:
    return any(pred(entry) for entry in ENTRIES if entry["billable"])


def _otel_keys(entry: dict[str, Any]) -> set[str]:
    """Attribute names of an OpenTelemetry entry (console JSON or OTLP JSON)."""
    payload = entry["payload"]
    if entry["format"] == "otel.console":
        return set(payload.get("attributes") or {})
    return {attr["key"] for rs in payload.get("resourceSpans") or [] for ss in rs.get("scopeSpans") or []
            for span in ss.get("spans") or [] for attr in span.get("attributes") or []}


def test_corpus_covers_every_defect_class_of_issue_18() -> None:
    """Each defect class of issue 18 has real cases in the corpus (a shrunk corpus fails here)."""
    meters = lambda e: e["expected"]["meters"]  # noqa: E731
    usage = lambda e: (e["payload"].get("usage") or {}) if isinstance(e["payload"], dict) else {}  # noqa: E731
    # 1a: Anthropic server-side iterations billed from usage.iterations
    assert _any(lambda e: e["provider"] == "anthropic" and len(usage(e).get("iterations") or []) > 1)
    # 1b: OpenAI-shaped cache_write_tokens
    assert _any(lambda e: meters(e).get("cache_write") and "cache_write_tokens" in str(usage(e)))
    # 1c: a cost stated by the gateway (OpenRouter usage.cost, LiteLLM response_cost)
    assert {e["provider"] for e in ENTRIES if "stated_cost" in e.get("expected", {})} >= {"openrouter", "anthropic"}
    # 2: spans of the real instrumentations, both encodings, duplicates, old and new attribute names
    formats = {e["format"] for e in ENTRIES}
    assert {"otel.otlp", "otel.console", "otel.otlp.duplicate_spans"} <= formats
    keys = set().union(*(_otel_keys(e) for e in ENTRIES if e["format"].startswith("otel.")))
    assert {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation_input_tokens"} <= keys
    # 3: OpenAI-compatible hosts and look-alikes
    billable = {e["provider"] for e in ENTRIES if e["billable"]}
    assert {"groq", "cerebras", "huggingface", "zai", "together", "ollama", "snowflake", "deepseek", "azure",
            "openrouter", "mistral", "xai"} <= billable
    # 4: rejected real shapes
    assert {"anthropic.stream", "openai.chat.stream", "openai.responses.stream"} <= {
        e["format"] for e in ENTRIES if e["billable"] and (e.get("call") or {}).get("as") == "stream"}
    assert {"anthropic.stream.message_delta", "openai.responses.compaction", "bare.model_usage",
            "litellm.standard_logging_payload", "litellm.model_response", "xai.sdk.chat_response"} <= formats
    # 5: SDK objects handed over as objects
    assert {(e.get("call") or {}).get("as") for e in ENTRIES} >= {"model_dump", "to_dict"}
    # 6: web-search fees
    assert {e["provider"] for e in ENTRIES if e["billable"] and meters(e).get("web_search")} >= {
        "openai", "anthropic", "google", "openrouter"}
