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
from .openai import chat_record, chat_usage, is_chat_completion, require_usage

__all__ = ["SCHEMAS", "is_azure_chat_completion", "normalize_azure_chat_completion"]

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


SCHEMAS = (
    Schema("azure.chat", PROVIDER, is_azure_chat_completion, normalize_azure_chat_completion,
           "Azure OpenAI chat completion (chat.completion[.chunk] with prompt_filter_results / "
           "content_filter_results)", specificity=20, keys=frozenset({"object"})),
    # The same shape without Azure's annotations: reachable only with provider="azure" (at specificity 5 it
    # never wins over openai.chat when no provider is given). Its records also say schema="azure.chat".
    Schema("azure.chat.hinted", PROVIDER, is_chat_completion, normalize_azure_chat_completion,
           'Azure OpenAI chat completion without content-filter fields (only with provider="azure")',
           specificity=5, keys=frozenset({"object"})),
)
