"""Anthropic batch results and the Admin API usage report (and what they share with Messages responses).

Fixtures are in tests/fixtures/anthropic/ (sources in its README). Anthropic
reports cache reads and writes *beside* ``input_tokens``; the usage report's
counts are disjoint as reported (``uncached_input_tokens``).
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
from attribution.normalize.anthropic import (
    is_usage_report,
    normalize_batch_result,
    normalize_usage_report,
)

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
AT = datetime(2025, 10, 1, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


class TestMessages:
    def test_inference_geo_becomes_the_region(self) -> None:
        """US-only inference is priced higher (x1.1 on the cards), so it must reach pricing."""
        rec = at.normalize(load("message_cached_us.json"), at=AT)
        assert rec.usage == at.Usage(input=2095, cached_input=2051, cache_write=51, cache_write_1h=2000,
                                     output=503, web_search=1)
        assert (rec.region, rec.service_tier, rec.schema) == ("us", "standard", "anthropic.messages")

    def test_region_hint_when_the_response_has_no_geo(self) -> None:
        msg = load("message_cached_us.json")
        del msg["usage"]["inference_geo"]
        assert at.normalize(msg, at=AT, region="us").region == "us"
        assert at.normalize(msg, at=AT).region is None


class TestBatchResults:
    def test_results_file_from_the_docs(self) -> None:
        """Succeeded lines are batch-tier calls; errored, canceled and expired lines are quarantined."""
        out = list(at.normalize_many(read_payloads(FIXTURES / "batch_results.jsonl"), at=AT))
        recs = [x for x in out if isinstance(x, at.UsageRecord)]
        quarantined = [x for x in out if isinstance(x, at.Quarantined)]
        assert len(out) == 6
        assert [r.request_id for r in recs] == ["msg_014VwiXbi91y3JMjcpyGBHX5", "msg_01FqfsLoHwgeFbguDgpz48m7",
                                                "msg_01Gv6nLz3XyQ9hH8pD2sT4Wk"]
        assert [r.usage for r in recs] == [at.Usage(input=11, output=36), at.Usage(input=10, output=34),
                                           at.Usage(input=1204, cached_input=24576, output=512)]
        assert {r.service_tier for r in recs} == {"batch"}
        assert {r.model for r in recs} == {"claude-sonnet-4-5-20250929"}
        assert {r.schema for r in recs} == {"anthropic.batch_result"}
        assert [r.tags["custom_id"] for r in recs] == ["my-second-request", "my-first-request",
                                                       "team-search:doc-0007"]
        assert all(r.at == AT for r in recs)
        assert [(q.code, q.source.line if q.source else None) for q in quarantined] == [
            ("batch_errored", 4), ("batch_canceled", 5), ("batch_expired", 6)]
        assert "invalid_request_error (max_tokens: Field required)" in quarantined[0].message

    def test_error_inside_the_message_points_into_the_result(self) -> None:
        line = {"custom_id": "x", "result": {"type": "succeeded", "message": {
            "id": "msg_1", "type": "message", "model": "claude-sonnet-4-5-20250929", "usage": {"input_tokens": 3}}}}
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(line)
        assert (err.value.code, err.value.path) == ("missing_field", "result.message.usage.output_tokens")

    def test_unknown_result_type(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize({"custom_id": "x", "result": {"type": "pending"}})
        assert (err.value.code, err.value.path) == ("bad_value", "result.type")

    def test_caller_tags_and_custom_id(self) -> None:
        line = json.loads((FIXTURES / "batch_results.jsonl").read_text().splitlines()[0])
        rec = at.normalize(line, tags={"team": "search", "custom_id": "mine"})
        assert dict(rec.tags) == {"team": "search", "custom_id": "mine"}

    def test_detected_apart_from_openai_batch_output(self) -> None:
        openai_line = {"id": "batch_req_1", "custom_id": "request-1", "response": {"status_code": 200},
                       "error": None}
        with pytest.raises(at.NormalizeError):
            detect_schema(openai_line, "anthropic")


class TestUsageReport:
    def test_docs_example(self) -> None:
        rec = at.normalize(load("usage_report_docs.json"))
        assert rec.usage == at.Usage(input=1500, cached_input=200, cache_write=500, cache_write_1h=1000,
                                     output=500, web_search=10)
        assert (rec.provider, rec.model) == ("anthropic", "claude-sonnet-4-20250514")
        assert rec.at == datetime(2025, 8, 1, tzinfo=UTC)
        assert rec.requests == 0  # the report has no request count
        assert rec.service_tier == "standard"
        assert rec.region is None
        assert rec.request_id is None
        assert rec.schema == "anthropic.usage_report"
        assert dict(rec.tags) == {"api_key": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
                                  "workspace": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "context_window": "0-200k"}

    def test_hourly_buckets_with_tiers_and_geo(self) -> None:
        out = list(at.normalize_many(read_payloads(FIXTURES / "usage_report_hourly_tiers.json")))
        assert all(isinstance(r, at.UsageRecord) for r in out)
        batch, priority = out
        assert isinstance(batch, at.UsageRecord)
        assert isinstance(priority, at.UsageRecord)
        assert batch.usage == at.Usage(input=2400000, cached_input=9800000, cache_write=150000, output=310000)
        assert (batch.service_tier, batch.region) == ("batch", None)
        assert "workspace" not in batch.tags  # the default workspace is null
        assert priority.usage == at.Usage(input=52000, cache_write_1h=8000, output=4100, web_search=3)
        assert (priority.service_tier, priority.region, priority.model) == ("priority", "us", "claude-opus-4-6")
        assert [r.source.path for r in out if isinstance(r, at.UsageRecord) and r.source] == [
            "data[0].results[0]", "data[0].results[1]"]
        assert {r.at for r in out if isinstance(r, at.UsageRecord)} == {datetime(2026, 3, 2, 14, tzinfo=UTC)}

    def test_report_not_grouped_by_model(self) -> None:
        with pytest.raises(at.NormalizeError) as err:
            at.normalize(load("usage_report_no_model.json"))
        assert (err.value.code, err.value.path) == ("missing_field", "data[0].results[0].model")
        assert "group_by[]=model" in err.value.message
        assert at.normalize(load("usage_report_no_model.json"), model="claude-sonnet-4-20250514").usage == at.Usage(
            input=1500, output=500)

    def test_page_with_only_empty_buckets(self) -> None:
        page = load("usage_report_docs.json")
        page["data"].append({"starting_at": "2025-08-02T00:00:00Z", "ending_at": "2025-08-03T00:00:00Z",
                             "results": []})
        assert is_usage_report(page)
        page["data"][0]["results"] = []
        with pytest.raises(at.NormalizeError) as err:
            normalize_usage_report(page, Hints())
        assert err.value.code == "missing_usage"

    def test_fast_mode_is_not_priced_as_standard(self) -> None:
        page = load("usage_report_docs.json")
        page["data"][0]["results"][0]["speed"] = "fast"
        assert at.normalize(page).service_tier == "fast"

    def test_cost_report_and_openai_usage_pages_are_not_usage_reports(self) -> None:
        cost = {"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
                          "results": [{"currency": "USD", "amount": "123.45", "cost_type": "tokens"}]}],
                "has_more": False, "next_page": None}
        openai_page = {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200,
                                                   "results": [{"input_tokens": 5, "output_tokens": 2}]}],
                       "has_more": False, "next_page": None}
        assert not is_usage_report(cost)
        assert not is_usage_report(openai_page)


# -- properties --------------------------------------------------------------------------------

_n = st.integers(min_value=0, max_value=10**9)


@st.composite
def batch_lines(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["succeeded", "succeeded", "errored", "canceled", "expired"]))
    if kind != "succeeded":
        return {"custom_id": "r", "result": {"type": kind}}
    usage: dict[str, Any] = {"input_tokens": draw(_n), "output_tokens": draw(_n)}
    if draw(st.booleans()):
        usage["cache_read_input_tokens"] = draw(_n)
    if draw(st.booleans()):
        usage["cache_creation_input_tokens"] = draw(_n)
        if draw(st.booleans()):
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": draw(_n), "ephemeral_1h_input_tokens": draw(_n)}
    if draw(st.booleans()):
        usage["server_tool_use"] = {"web_search_requests": draw(st.integers(0, 100))}
    return {"custom_id": "r", "result": {"type": "succeeded", "message": {
        "id": "msg_1", "type": "message", "model": "claude-sonnet-4-5-20250929", "usage": usage}}}


@given(batch_lines())
def test_batch_meters_add_up_to_reported_usage_or_coded_error(line: dict[str, Any]) -> None:
    code = None
    try:
        (rec,) = normalize_batch_result(line, Hints())
    except at.NormalizeError as exc:
        code = exc.code
    if code is not None:
        assert code in ("batch_errored", "batch_canceled", "batch_expired", "inconsistent_usage")
        return
    reported = line["result"]["message"]["usage"]
    u = rec.usage
    assert u.input == reported["input_tokens"]
    assert u.output == reported["output_tokens"]
    assert u.cached_input == reported.get("cache_read_input_tokens", 0)
    assert u.cache_write + u.cache_write_1h == reported.get("cache_creation_input_tokens", 0)
    assert rec.service_tier == "batch"
    assert rec.estimate is None


@st.composite
def report_pages(draw: st.DrawFn) -> dict[str, Any]:
    results = [{
        "uncached_input_tokens": draw(_n), "cache_read_input_tokens": draw(_n),
        "cache_creation": {"ephemeral_5m_input_tokens": draw(_n), "ephemeral_1h_input_tokens": draw(_n)},
        "output_tokens": draw(_n | st.integers(-5, -1)), "server_tool_use": {"web_search_requests": draw(_n)},
        "model": draw(st.sampled_from(["claude-sonnet-4-20250514", None])),
        "service_tier": draw(st.sampled_from(["standard", "batch", "priority", None])),
        "api_key_id": draw(st.sampled_from(["apikey_1", None])),
    } for _ in range(draw(st.integers(1, 3)))]
    return {"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
                      "results": results}], "has_more": False, "next_page": None}


@given(report_pages())
def test_report_meters_equal_reported_counts_or_coded_error(page: dict[str, Any]) -> None:
    assert is_usage_report(page)
    code = None
    try:
        recs = normalize_usage_report(page, Hints())
    except at.NormalizeError as exc:
        code = exc.code
    if code is not None:
        assert code in ("missing_field", "negative_count")
        return
    for rec, result in zip(recs, page["data"][0]["results"], strict=True):
        u = rec.usage
        assert (u.input, u.cached_input, u.output) == (
            result["uncached_input_tokens"], result["cache_read_input_tokens"], result["output_tokens"])
        assert (u.cache_write, u.cache_write_1h) == (result["cache_creation"]["ephemeral_5m_input_tokens"],
                                                     result["cache_creation"]["ephemeral_1h_input_tokens"])
        assert u.web_search == result["server_tool_use"]["web_search_requests"]
        assert rec.requests == 0
        assert rec.at == datetime(2025, 8, 1, tzinfo=UTC)
