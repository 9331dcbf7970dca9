"""Integrations: the LiteLLM callback, the OpenTelemetry span processor and the pytest fixtures.

LiteLLM is too heavy for CI, so its callback runs here against a stand-in ``CustomLogger`` with the
real one's constructor and hooks (litellm 1.110.2, ``litellm/integrations/custom_logger.py``), fed
the ``kwargs`` LiteLLM 1.110.2 really passed (tests/fixtures/litellm/SOURCES.md). The span processor
runs on the real opentelemetry-sdk (the dev extra installs it).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import types
from decimal import Decimal
from pathlib import Path

import pytest

import attribution as at

KWARGS = Path(__file__).parent / "fixtures" / "litellm" / "callback-kwargs-gpt-4o-mini.json"


# --- LiteLLM ---------------------------------------------------------------------------------------


class StandInCustomLogger:
    """LiteLLM's CustomLogger, as far as a callback subclass sees it: the constructor and the four hooks."""

    def __init__(self, turn_off_message_logging: bool = False, message_logging: bool = True, **kwargs):
        self.message_logging = message_logging
        self.turn_off_message_logging = turn_off_message_logging

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass


@pytest.fixture
def litellm_module(monkeypatch):
    """``attribution.integrations.litellm`` imported over the stand-in (never the real, heavy package)."""
    fake = types.ModuleType("litellm.integrations.custom_logger")
    fake.CustomLogger = StandInCustomLogger
    monkeypatch.setitem(sys.modules, "litellm", types.ModuleType("litellm"))
    monkeypatch.setitem(sys.modules, "litellm.integrations", types.ModuleType("litellm.integrations"))
    monkeypatch.setitem(sys.modules, "litellm.integrations.custom_logger", fake)
    monkeypatch.delitem(sys.modules, "attribution.integrations.litellm", raising=False)
    module = importlib.import_module("attribution.integrations.litellm")
    yield module
    sys.modules.pop("attribution.integrations.litellm", None)


@pytest.fixture
def recorded():
    data = json.loads(KWARGS.read_text())
    kwargs = {"standard_logging_object": data["standard_logging_object"],
              "custom_llm_provider": data["custom_llm_provider"]}
    return kwargs, data["response_obj"]


def test_the_litellm_callback_prices_a_call_into_jsonl_and_a_function(litellm_module, recorded, tmp_path):
    kwargs, response = recorded
    got = []
    path = tmp_path / "calls.jsonl"
    logger = litellm_module.CostLogger(path, on_record=got.append, tags={"environment": "prod"},
                                       turn_off_message_logging=True)
    assert isinstance(logger, StandInCustomLogger)
    assert logger.turn_off_message_logging is True                 # LiteLLM's own options still reach it
    logger.log_success_event(kwargs, response, None, None)
    (p,) = got
    # gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output; 10 in, 20 out
    assert p.cost == Decimal("0.0000135")
    assert p.record.provider == "openai"
    assert p.record.stated_cost == Decimal("0.0000135")             # LiteLLM's response_cost, kept
    assert "stated_cost_drift" not in p.flags
    assert dict(p.record.tags)["team"] == "search"                  # from the request's key:value tags
    assert dict(p.record.tags)["environment"] == "prod"
    (line,) = path.read_text().splitlines()
    doc = json.loads(line)
    assert doc["kind"] == "priced"
    assert doc["cost"] == "0.0000135"
    assert doc["meters"] == {"input": 10, "output": 20}
    assert sum(Decimal(x["amount"]) for x in doc["lines"]) == Decimal(doc["cost"])
    assert logger.sink.counts == {"priced": 1, "quarantined": 0, "sink_errors": 0}


def test_the_litellm_callback_reads_the_response_when_there_is_no_logging_payload(litellm_module, recorded):
    _, response = recorded
    got = []
    logger = litellm_module.CostLogger(on_record=got.append)
    logger.log_success_event({"custom_llm_provider": "openai"}, response, None, None)
    assert [p.cost for p in got] == [Decimal("0.0000135")]


def test_async_and_failure_hooks_record_too(litellm_module, recorded):
    kwargs, response = recorded
    got = []
    logger = litellm_module.CostLogger(on_record=got.append)

    async def run():
        await logger.async_log_success_event(kwargs, response, None, None)
        await logger.async_log_failure_event(kwargs, response, None, None)

    asyncio.run(run())
    logger.log_failure_event(kwargs, response, None, None)
    assert len(got) == 3


def test_an_unknown_model_is_quarantined_never_zero_and_never_raises(litellm_module, recorded, tmp_path):
    kwargs, response = recorded
    payload = json.loads(json.dumps(kwargs["standard_logging_object"]))
    payload["model"] = "gpt-nonexistent-9"
    payload["response"]["model"] = "gpt-nonexistent-9"
    path = tmp_path / "calls.jsonl"
    logger = litellm_module.CostLogger(path)
    logger.log_success_event({"standard_logging_object": payload}, response, None, None)
    doc = json.loads(path.read_text())
    assert doc["kind"] == "quarantined"
    assert doc["code"] == "unknown_model"
    logger.log_success_event({"standard_logging_object": "not a payload"}, None, None, None)
    assert logger.sink.counts["quarantined"] == 2
    assert logger.sink.counts["priced"] == 0


def test_a_broken_user_function_is_counted_and_does_not_break_the_call(litellm_module, recorded):
    kwargs, response = recorded

    def broken(item):
        raise RuntimeError("disk full")

    logger = litellm_module.CostLogger(on_record=broken)
    logger.log_success_event(kwargs, response, None, None)
    assert logger.sink.counts == {"priced": 1, "quarantined": 0, "sink_errors": 1}
    assert str(logger.sink.last_error) == "disk full"
    with pytest.raises(ValueError, match="JSONL path"):
        litellm_module.CostLogger()


def test_without_litellm_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)
    monkeypatch.delitem(sys.modules, "attribution.integrations.litellm", raising=False)
    module = importlib.import_module("attribution.integrations.litellm")   # importable: litellm loads on use
    with pytest.raises(at.MissingDependency, match=r"pip install 'attribution\[litellm\]'"):
        module.CostLogger  # noqa: B018
    sys.modules.pop("attribution.integrations.litellm", None)


def test_without_the_sdk_the_span_processor_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    monkeypatch.delitem(sys.modules, "attribution.integrations.otel", raising=False)
    module = importlib.import_module("attribution.integrations.otel")
    with pytest.raises(at.MissingDependency, match=r"pip install 'attribution\[otel\]'"):
        module.CostSpanProcessor  # noqa: B018
    sys.modules.pop("attribution.integrations.otel", None)


# --- OpenTelemetry ---------------------------------------------------------------------------------


@pytest.fixture
def tracing():
    pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra (opentelemetry-sdk)")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from attribution.integrations.otel import CostSpanProcessor

    exporter = InMemorySpanExporter()
    got = []
    processor = CostSpanProcessor(on_record=got.append, downstream=SimpleSpanProcessor(exporter))
    provider = TracerProvider(resource=Resource.create({"service.name": "search-api", "team": "search"}))
    provider.add_span_processor(processor)
    yield provider.get_tracer("test"), processor, exporter, got
    provider.shutdown()


def chat_span(tracer, *, model="gpt-4o", response_id="chatcmpl-1", inp=1200, out=300, cached=200):
    with tracer.start_as_current_span(f"chat {model}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.response.id", response_id)
        span.set_attribute("gen_ai.usage.input_tokens", inp)
        span.set_attribute("gen_ai.usage.output_tokens", out)
        span.set_attribute("gen_ai.usage.cache_read.input_tokens", cached)


def test_the_span_processor_prices_genai_spans_and_exports_their_cost(tracing):
    tracer, processor, exporter, got = tracing
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        chat_span(tracer)
        with tracer.start_as_current_span("GET /search"):
            pass
        agent.set_attribute("gen_ai.usage.input_tokens", 1200)   # the agent sums its model call: a roll-up
        agent.set_attribute("gen_ai.usage.output_tokens", 300)
    (p,) = got
    # gpt-4o: 1,000 uncached x $2.50/1M + 200 cached x $1.25/1M + 300 out x $10/1M
    assert p.cost == Decimal("0.00575")
    assert dict(p.record.tags) == {"service": "search-api", "team": "search"}
    spans = {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}
    assert spans["chat gpt-4o"]["attribution.cost"] == "0.00575"
    assert spans["chat gpt-4o"]["attribution.currency"] == "USD"
    assert spans["chat gpt-4o"]["gen_ai.usage.input_tokens"] == 1200      # the span's own attributes kept
    assert not any(k.startswith("attribution.") for k in spans["GET /search"])
    assert not any(k.startswith("attribution.") for k in spans["invoke_agent planner"])
    assert processor.skipped == 1
    assert processor.sink.counts == {"priced": 1, "quarantined": 0, "sink_errors": 0}


def test_a_second_span_of_the_same_response_is_not_priced_twice(tracing):
    tracer, processor, _, got = tracing
    with tracer.start_as_current_span("request"):
        chat_span(tracer, response_id="chatcmpl-7")
        chat_span(tracer, response_id="chatcmpl-7")       # a second instrumentation of the same call
        chat_span(tracer, response_id="chatcmpl-8")
    assert len(got) == 2
    assert processor.skipped == 1


def test_an_unpriceable_span_is_quarantined_and_says_so_on_the_span(tracing, tmp_path):
    tracer, _, exporter, got = tracing
    chat_span(tracer, model="gpt-nonexistent-9")
    (q,) = got
    assert isinstance(q, at.Quarantined)
    assert q.code == "unknown_model"
    (span,) = exporter.get_finished_spans()
    assert span.attributes["attribution.quarantined"] == "unknown_model"
    assert "attribution.cost" not in span.attributes


def test_the_span_processor_writes_jsonl_without_a_downstream(tmp_path):
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace import TracerProvider

    from attribution.integrations.otel import CostSpanProcessor

    path = tmp_path / "spans.jsonl"
    processor = CostSpanProcessor(path, tags={"team": "search"})
    provider = TracerProvider()
    provider.add_span_processor(processor)
    chat_span(provider.get_tracer("t"))
    provider.shutdown()
    doc = json.loads(path.read_text())
    assert doc["cost"] == "0.00575"
    assert doc["tags"]["team"] == "search"
    assert processor.force_flush() is True


# --- the pytest plugin -----------------------------------------------------------------------------


def test_the_pytest_fixtures_layer_a_users_cards(tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "acme.toml").write_text(textwrap.dedent("""
        [card]
        provider = "openai"
        version = "acme-2026"
        read_on = 2026-01-05
        source = "Order form OF-2291"
        [[aliases]]
        alias = "gpt-latest"
        model = "gpt-4.1-mini"
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\nattribution_cards = cards\n")
    (tmp_path / "test_pricing.py").write_text(textwrap.dedent('''
        from decimal import Decimal

        import pytest

        import attribution as at

        CHAT = {"object": "chat.completion", "model": "gpt-latest", "created": 1780000000,
                "usage": {"prompt_tokens": 1000000, "completion_tokens": 0}}
        DISCOUNT = """
        [card]
        provider = "openai"
        version = "acme-discount"
        read_on = 2026-01-05
        source = "Order form OF-2291"
        [[discounts]]
        models = ["gpt-4.1*"]
        multiplier = 0.8
        from = 2026-01-01
        """

        def test_ini_cards_give_the_alias(attribution_registry, attribution_price):
            assert attribution_registry.resolve("openai", "gpt-latest").model == "gpt-4.1-mini"
            assert attribution_price(CHAT).cost == Decimal("0.40")

        def test_a_card_written_in_the_test(attribution_card, attribution_price):
            reg = attribution_card(DISCOUNT)
            assert attribution_price(CHAT, registry=reg).cost == Decimal("0.32")

        @pytest.mark.attribution_cards()
        def test_the_marker_replaces_the_ini_cards(attribution_price):
            with pytest.raises(at.UnknownModel):
                attribution_price(CHAT)
    '''))
    plugin = [] if any(e.name == "attribution" for e in importlib.metadata.entry_points(group="pytest11")) \
        else ["-p", "attribution.integrations.pytest_plugin"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                             *plugin, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@pytest.mark.filterwarnings("ignore")      # litellm's own import warns (pydantic ReadOnly TypedDicts)
def test_the_callback_inside_the_real_litellm(tmp_path, monkeypatch):
    """With the litellm extra installed: a real ``litellm.completion`` (``mock_response``: no network) calls it."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")   # LiteLLM's bundled prices, no download
    litellm = pytest.importorskip("litellm", reason="needs the litellm extra (too heavy for CI)")
    from attribution.integrations.litellm import CostLogger

    got = []
    logger = CostLogger(tmp_path / "calls.jsonl", on_record=got.append)
    monkeypatch.setattr(litellm, "callbacks", [logger])
    litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                       mock_response="Hello there, how can I help?", metadata={"tags": ["team:search"]})
    for _ in range(100):                 # LiteLLM runs success callbacks on a thread of its own
        if got:
            break
        import time

        time.sleep(0.05)
    (p,) = got
    assert p.record.provider == "openai"
    assert p.cost == p.record.stated_cost          # LiteLLM's price and the card's agree for gpt-4o-mini
    assert dict(p.record.tags)["team"] == "search"
