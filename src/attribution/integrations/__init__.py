"""Integrations that price calls where they happen: a LiteLLM callback, an OpenTelemetry span processor, pytest fixtures.

Each lives in its own module and imports its framework only when that module
is imported, raising :class:`~attribution.MissingDependency` naming the extra
when the framework is absent:

==========================================  ==================================  =====================
module                                      what                                extra
==========================================  ==================================  =====================
:mod:`attribution.integrations.litellm`     ``CostLogger``, a LiteLLM           ``litellm``
                                            ``CustomLogger``
:mod:`attribution.integrations.otel`        ``CostSpanProcessor``, an           ``otel``
                                            OpenTelemetry ``SpanProcessor``
:mod:`attribution.integrations.pytest_plugin`  fixtures for testing your        (pytest itself)
                                            pricing: ``attribution_registry``,
                                            ``attribution_card``...
==========================================  ==================================  =====================

The first two share :class:`RecordSink`: every call becomes one priced record
(or one quarantined record with its reason, never a silent drop), appended as
a JSON line to a file and/or handed to your function.
"""

from __future__ import annotations

from ._sink import RecordSink, record_json

__all__ = ["RecordSink", "record_json"]
