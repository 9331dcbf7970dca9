"""OpenTelemetry GenAI spans (OTLP/JSON): one record per span with usage, meters made disjoint.

Fixtures are in tests/fixtures/otel/ (sources in its README). The GenAI
conventions count cache reads and writes *inside* ``gen_ai.usage.input_tokens``
and reasoning inside ``gen_ai.usage.output_tokens``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import attribution as at
from attribution.io import read_payloads
from attribution.normalize import Hints, detect_schema
from attribution.normalize.otel import attribute_map, normalize_otlp_traces

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "otel"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def export(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    res = [attr(k, v) for k, v in (resource or {"service.name": "svc"}).items()]
    return {"resourceSpans": [{"resource": {"attributes": res}, "scopeSpans": [{"spans": list(spans)}]}]}


def span(span_id: str = "1111111111111111", parent: str = "", kind: int = 3, status: dict[str, Any] | None = None,
         **attributes: Any) -> dict[str, Any]:
    return {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": span_id, "parentSpanId": parent,
            "kind": kind, "startTimeUnixNano": "1748779200000000000", "status": status or {},
            "attributes": [attr(k.replace("__", "."), v) for k, v in attributes.items()]}


def chat(**extra: Any) -> dict[str, Any]:
    base = {"gen_ai__provider__name": "openai", "gen_ai__request__model": "gpt-4o",
            "gen_ai__usage__input_tokens": 1000, "gen_ai__usage__output_tokens": 100}
    base.update(extra)
    return base


class TestFixtures:
    def test_openai_chat_span_with_cache_reads_inside_input(self) -> None:
        """input_tokens 100 includes 50 cache reads: 50 uncached + 50 cached; the HTTP span is skipped."""
        rec = at.normalize(load("openai_chat_cached.json"))
        assert rec.usage == at.Usage(input=50, cached_input=50, output=180)
        assert (rec.provider, rec.model, rec.model_billed) == ("openai", "gpt-4", "gpt-4-0613")
        assert rec.request_id == "chatcmpl-123"
        assert rec.service_tier == "default"
        assert rec.at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
        assert (rec.trace_id, rec.span_id, rec.parent_id) == (
            "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173")
        assert rec.outcome == "ok"
        assert rec.schema == "otel"
        assert dict(rec.tags) == {"service": "support-bot", "environment": "production",
                                  "team": "support_automation", "cost_center": "CC-4821"}

    def test_agent_trace_skips_the_internal_agent_rollup_and_keeps_each_model_call(self) -> None:
        """The invoke_agent span repeats its children's usage; counting it would double the cost."""
        recs = list(at.normalize_many([load("agent_trace_anthropic.json")]))
        assert [r.span_id for r in recs] == ["53995c3f42cd8ad8", "b7ad6b7169203331"]
        first, second = recs
        # 100 input = 25 uncached + 50 cache reads + 25 cache writes; reasoning 50 of output 180.
        assert first.usage == at.Usage(input=25, cached_input=50, cache_write=25, output=180, reasoning=50)
        assert first.request_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
        assert first.at == datetime(2025, 8, 1, 0, 0, 0, 500000, tzinfo=UTC)
        assert first.parent_id == "00f067aa0ba902b7"
        assert dict(first.tags) == {"service": "research-agent", "environment": "staging",
                                    "feature": "deep_research", "tenant": "t_acme"}
        # An error span that still reports usage is billed: kept, with outcome "error".
        assert second.usage == at.Usage(input=200, output=220)
        assert second.outcome == "error"
        assert second.request_id is None

    def test_single_payload_with_two_calls_needs_normalize_many(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(load("agent_trace_anthropic.json"))
        assert err.value.code == "multiple_records"

    def test_deprecated_names_base64_ids_and_legacy_envelope(self) -> None:
        """gen_ai.system, prompt/completion_tokens, instrumentationLibrarySpans, base64 ids."""
        rec = at.normalize(load("legacy_gen_ai_system.json"))
        assert rec.usage == at.Usage(input=24, output=8)
        assert (rec.model, rec.model_billed) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
        assert rec.service_tier == "flex"
        assert rec.trace_id == "5b8efff798038103d269b633813fc60c"
        assert rec.span_id == "eee19b7ec3c1b174"
        assert rec.parent_id is None
        assert rec.at == datetime(2024, 10, 27, 3, 33, 20, 123456, tzinfo=UTC)
        assert dict(rec.tags) == {"service": "batch-enricher", "user": "u_7f3a"}

    def test_export_without_genai_spans_is_an_error_not_an_empty_result(self) -> None:
        """opentelemetry-proto's own example trace has no GenAI span."""
        out = list(at.normalize_many(read_payloads(FIXTURES / "proto_example_no_genai.json")))
        assert len(out) == 1
        q = out[0]
        assert isinstance(q, at.Quarantined)
        assert q.code == "missing_usage"
        assert q.source is not None
        assert q.source.line == 1
        assert q.source.path == "resourceSpans"

    def test_detected_without_a_provider_hint(self) -> None:
        assert detect_schema(load("openai_chat_cached.json")).id == "otel"

    def test_file_source_carries_the_span_path(self) -> None:
        recs = list(at.normalize_many(read_payloads(FIXTURES / "agent_trace_anthropic.json")))
        assert [r.source.path for r in recs if isinstance(r, at.UsageRecord) and r.source] == [
            "resourceSpans[0].scopeSpans[0].spans[1]", "resourceSpans[0].scopeSpans[0].spans[3]"]


class TestSemantics:
    def test_cache_counts_beside_input_with_hint(self) -> None:
        """Instrumentations that copy Anthropic's own counts report cache tokens beside input."""
        payload = export(span(**chat(gen_ai__usage__input_tokens=10, gen_ai__usage__cache_read__input_tokens=500)))
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(payload)
        assert err.value.code == "inconsistent_usage"
        assert "cached_in_input=False" in err.value.message
        rec = at.normalize(payload, cached_in_input=False)
        assert rec.usage == at.Usage(input=10, cached_input=500, output=100)

    def test_reasoning_above_output_is_rejected(self) -> None:
        payload = export(span(**chat(gen_ai__usage__reasoning__output_tokens=101)))
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(payload)
        assert err.value.code == "inconsistent_usage"

    def test_missing_output_tokens_on_a_chat_span(self) -> None:
        attrs = chat()
        del attrs["gen_ai__usage__output_tokens"]
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(export(span(**attrs)))
        assert err.value.code == "missing_usage"
        assert err.value.path is not None
        assert err.value.path.endswith("gen_ai.usage.output_tokens")

    def test_embeddings_have_no_output_tokens(self) -> None:
        attrs = chat(gen_ai__operation__name="embeddings", gen_ai__request__model="text-embedding-3-small")
        del attrs["gen_ai__usage__output_tokens"]
        rec = at.normalize(export(span(**attrs)))
        assert rec.usage == at.Usage(input=1000)

    def test_genai_spans_without_usage(self) -> None:
        payload = export(span(gen_ai__operation__name="execute_tool", gen_ai__tool__name="Flights"))
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(payload)
        assert err.value.code == "missing_usage"
        assert "none carries gen_ai.usage" in err.value.message

    def test_remote_agent_without_child_calls_is_the_billed_call(self) -> None:
        agent = span(kind=3, **chat(gen_ai__operation__name="invoke_agent", gen_ai__provider__name="aws.bedrock",
                                    gen_ai__request__model="anthropic.claude-3-5-sonnet-20240620-v1:0"))
        rec = at.normalize(export(agent))
        assert rec.provider == "bedrock"
        assert rec.usage == at.Usage(input=1000, output=100)

    def test_parent_with_usage_above_a_non_genai_span_is_a_rollup(self) -> None:
        """A framework span with usage whose model call sits two levels down is not counted twice."""
        outer = span("aaaaaaaaaaaaaaaa", kind=1, **chat(gen_ai__operation__name="chat"))
        middle = span("bbbbbbbbbbbbbbbb", parent="aaaaaaaaaaaaaaaa", kind=1, http__request__method="POST")
        inner = span("cccccccccccccccc", parent="bbbbbbbbbbbbbbbb", **chat())
        recs = list(at.normalize_many([export(outer, middle, inner)]))
        assert [r.span_id for r in recs] == ["cccccccccccccccc"]

    def test_only_rollups_in_the_export(self) -> None:
        agent = span(kind=1, **chat(gen_ai__operation__name="invoke_agent"))
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(export(agent))
        assert err.value.code == "missing_usage"
        assert "roll-up" in err.value.message

    @pytest.mark.parametrize(("name", "provider"), [
        ("gcp.vertex_ai", "vertex"), ("gcp.gemini", "google"), ("azure.ai.openai", "azure"),
        ("az.ai.inference", "azure"), ("x_ai", "xai"), ("mistral_ai", "mistral"), ("anthropic", "anthropic"),
        ("deepseek", "deepseek"),
    ])
    def test_provider_names(self, name: str, provider: str) -> None:
        assert at.normalize(export(span(**chat(gen_ai__provider__name=name)))).provider == provider

    def test_provider_hint_when_the_span_names_none(self) -> None:
        attrs = chat()
        del attrs["gen_ai__provider__name"]
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(export(span(**attrs)))
        assert err.value.code == "missing_field"
        assert at.normalize(export(span(**attrs)), provider="openai").provider == "openai"

    def test_caller_tags_win_and_aliases_apply(self) -> None:
        payload = export(span(**chat(app__tenant_id="t_span")),
                         resource={"service.name": "svc", "team": "from-resource", "project.id": "p1"})
        rec = at.normalize(payload, tags={"team": "search"})
        assert dict(rec.tags) == {"service": "svc", "team": "search", "project": "p1", "tenant": "t_span"}

    @pytest.mark.parametrize("default", ["unknown_service", "unknown_service:python", "unknown_service:node"])
    def test_the_sdk_default_service_name_is_no_owner(self, default: str) -> None:
        # The OTel SDK reports unknown_service[:executable] when the app set no service.name: not an owner.
        rec = at.normalize(export(span(**chat()), resource={"service.name": default, "team": "search"}))
        assert dict(rec.tags) == {"team": "search"}

    def test_plain_attribute_objects_are_accepted(self) -> None:
        assert attribute_map({"gen_ai.usage.input_tokens": 5}, "a") == {"gen_ai.usage.input_tokens": 5}
        assert attribute_map([{"key": "k", "value": {"arrayValue": {"values": [{"intValue": "3"}]}}}], "a") == {
            "k": [3]}

    @pytest.mark.parametrize(("field", "value", "code"), [
        ("traceId", "not-an-id!", "bad_value"),
        ("startTimeUnixNano", "yesterday", "bad_timestamp"),
        ("attributes", "gen_ai.usage.input_tokens=3", "bad_type"),
    ])
    def test_malformed_span_fields(self, field: str, value: Any, code: str) -> None:
        s = span(**chat())
        s[field] = value
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(export(s))
        assert err.value.code == code

    def test_negative_int_value(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(export(span(**chat(gen_ai__usage__output_tokens=-3))))
        assert err.value.code == "negative_count"


# -- property: meters add up to the span's reported counts, or a coded error ------------------

_counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def genai_spans(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, int]]:
    reported = {
        "gen_ai.usage.input_tokens": draw(_counts),
        "gen_ai.usage.output_tokens": draw(_counts),
        "gen_ai.usage.cache_read.input_tokens": draw(_counts | st.just(0)),
        "gen_ai.usage.cache_creation.input_tokens": draw(_counts | st.just(0)),
        "gen_ai.usage.reasoning.output_tokens": draw(_counts | st.just(0)),
    }
    attrs: list[dict[str, Any]] = [attr("gen_ai.provider.name", "openai"), attr("gen_ai.request.model", "gpt-4o")]
    for key, n in reported.items():
        encoding = draw(st.sampled_from(["str", "int", "double", "junk", "absent"]))
        if encoding == "absent" and key != "gen_ai.usage.input_tokens":
            reported[key] = 0
            continue
        value: Any = {"str": {"intValue": str(n)}, "int": {"intValue": n}, "double": {"doubleValue": float(n)},
                      "absent": {"intValue": str(n)},
                      "junk": draw(st.sampled_from([{"stringValue": "many"}, {"doubleValue": n + 0.5},
                                                    {"intValue": str(-n - 1)}, {"boolValue": True}]))}[encoding]
        attrs.append({"key": key, "value": value})
    return {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "startTimeUnixNano": draw(st.integers(min_value=0, max_value=4 * 10**18)), "attributes": attrs}, reported


@given(genai_spans())
def test_meters_add_up_to_reported_counts_or_coded_error(drawn: tuple[dict[str, Any], dict[str, int]]) -> None:
    one, reported = drawn
    payload = {"resourceSpans": [{"scopeSpans": [{"spans": [one]}]}]}
    code = None
    try:
        (rec,) = normalize_otlp_traces(payload, Hints())
    except at.NormalizeError as exc:
        code = exc.code
    if code is not None:
        assert code
        return
    u = rec.usage
    assert u.input + u.cached_input + u.cache_write == reported["gen_ai.usage.input_tokens"]
    assert u.cached_input == reported["gen_ai.usage.cache_read.input_tokens"]
    assert u.cache_write == reported["gen_ai.usage.cache_creation.input_tokens"]
    assert u.output == reported["gen_ai.usage.output_tokens"]
    assert u.reasoning == reported["gen_ai.usage.reasoning.output_tokens"] <= u.output
    assert all(type(v) is int for v in u.as_dict().values())
    assert rec.estimate is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "attributes", "key", "value",
                                         "intValue", "stringValue", "spanId", "parentSpanId", "traceId", "kind",
                                         "startTimeUnixNano", "status", "code", "resource"]), inner, max_size=4),
                    max_leaves=25))
def test_junk_raises_only_normalize_errors(junk: Any) -> None:
    payload = {"resourceSpans": junk if isinstance(junk, list) else [junk]}
    code = "no error"
    try:
        normalize_otlp_traces(payload, Hints())
    except at.NormalizeError as exc:
        code = exc.code
    assert code
