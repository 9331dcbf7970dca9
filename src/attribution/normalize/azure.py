"""Azure OpenAI: Chat Completions responses (including a streamed final chunk with usage).

Azure OpenAI returns OpenAI's Chat Completion object, so ``usage`` has OpenAI's
semantics: ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``
(and audio input), ``completion_tokens`` *includes* reasoning (and audio
output) tokens. What differs is *which model*: the response's ``model`` is the
underlying model and version (``o1-preview-2024-09-12``), while the deployment
name the caller chose appears only in the request URL. Pass it as ``model=``:
the record's ``model`` is then the deployment and ``model_billed`` the
response's model, which is what Azure bills. Region and deployment type
(global, data zone, regional, provisioned) are not in the payload either: pass
``region=`` and ``service_tier=``.

Azure adds content-safety annotations that OpenAI never sends:
``prompt_filter_results`` on the response (``prompt_annotations`` in 2023
preview API versions) and ``content_filter_results`` on each choice; their
presence identifies an Azure payload. A payload without
them (e.g. the final usage chunk of a stream, whose ``choices`` is empty) is
read as Azure only when the caller says ``provider="azure"``.

Sources: Microsoft Learn, Azure OpenAI REST API reference, "Chat completions -
Create" (response: ``usage``, ``prompt_filter_results``,
``content_filter_results``); "Prompt caching" (``cached_tokens`` under
``prompt_tokens_details``); "Azure OpenAI models" (o1 example response).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import UsageRecord
from ._common import Hints, Schema, is_mapping
from .compat import openai_shaped_schemas
from .openai import (
    chat_record,
    chat_usage,
    is_chat_completion,
    is_response,
    normalize_response_with,
    require_usage,
    response_of,
)

__all__ = ["SCHEMAS", "is_azure_chat_completion", "is_azure_response", "normalize_azure_chat_completion",
           "normalize_azure_response"]

PROVIDER = "azure"


def _has_filter_results(payload: Mapping[str, Any]) -> bool:
    if "prompt_filter_results" in payload or "prompt_annotations" in payload:
        return True
    choices = payload.get("choices")
    return isinstance(choices, list) and any(
        is_mapping(choice) and "content_filter_results" in choice for choice in choices)


def is_azure_chat_completion(payload: Mapping[str, Any]) -> bool:
    """A Chat Completion (or chunk) carrying Azure's content-filter annotations.

    Also the first chunk of an Azure stream, which has ``object: ""`` and only
    the prompt's filter results (it carries no usage and is reported as such).
    """
    if is_chat_completion(payload):
        return _has_filter_results(payload)
    return payload.get("object") == "" and _has_filter_results(payload)


def normalize_azure_chat_completion(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an Azure OpenAI chat completion or final stream chunk.

    ``model=`` (the deployment name) becomes ``model``; the response's
    ``model`` becomes ``model_billed`` when it differs. Source: Azure OpenAI
    REST API reference, "Chat completions - Create", response ``usage``.
    """
    usage = require_usage(payload, "", "for streams, request stream_options.include_usage and keep the final chunk")
    return [chat_record(payload, hints, chat_usage(usage, "usage"), provider=PROVIDER, schema="azure.chat")]


def is_azure_response(payload: Mapping[str, Any]) -> bool:
    """A Responses body (or terminal stream event) with Azure's ``content_filters`` annotations and a ``resp_`` id.

    (DeepSeek's Responses bodies carry ``content_filters`` too, with UUID ids.)
    """
    if not is_response(payload):
        return False
    body = response_of(payload)
    body = payload if body is None else body
    ident = body.get("id")
    return "content_filters" in body and isinstance(ident, str) and ident.startswith("resp_")


def normalize_azure_response(payload: Mapping[str, Any], hints: Hints) -> list[UsageRecord]:
    """One record from an Azure OpenAI / Azure AI Foundry Responses API body.

    The usage is OpenAI's Responses usage (cached and cache-write tokens
    inside ``input_tokens``, reasoning inside ``output_tokens``; each
    ``web_search_call`` item one web search). As for chat, ``model=`` (the
    deployment) becomes ``model`` and the response's model ``model_billed``.
    Source: Microsoft Learn, "Azure OpenAI Responses API" (response object,
    ``content_filters``).
    """
    return [normalize_response_with(payload, hints, provider=PROVIDER, schema="azure.responses")]


SCHEMAS = (
    Schema("azure.responses", PROVIDER, is_azure_response, normalize_azure_response,
           "Azure OpenAI Responses body (object response with content_filters)", specificity=20,
           keys=frozenset({"object", "type"})),
    # Responses without content_filters, embeddings, legacy completions and bare {"model", "usage"}
    # bodies: only with provider="azure".
    *openai_shaped_schemas(PROVIDER, "Azure OpenAI", reader=chat_usage, chat=False),
    Schema("azure.chat", PROVIDER, is_azure_chat_completion, normalize_azure_chat_completion,
           "Azure OpenAI chat completion (chat.completion[.chunk] with prompt_filter_results / "
           "content_filter_results)", specificity=20, keys=frozenset({"object"})),
    # The same shape without Azure's annotations: reachable only with provider="azure" (at specificity 5 it
    # never wins over openai.chat when no provider is given). Its records also say schema="azure.chat".
    Schema("azure.chat.hinted", PROVIDER, is_chat_completion, normalize_azure_chat_completion,
           'Azure OpenAI chat completion without content-filter fields (only with provider="azure")',
           specificity=5, keys=frozenset({"object"})),
)
