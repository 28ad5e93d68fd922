"""Cohere's v2 Rerank API behind ``/v1/rerank``, in the rerank shape Cohere, Jina and Voyage share.

Request ``{"model", "query", "documents", "top_n"?, "max_tokens_per_doc"?, "return_documents"?}`` →
``POST {base}/v2/rerank``. v2 takes documents as strings only: a v1-style ``{"text": ...}`` object
is sent as its text (other objects are a 400: v2 dropped ``rank_fields``). v2 no longer returns the
documents, so ``return_documents: true`` is done here: each result gets ``document: {"text"}`` from
the request, as v1 (and Jina) answered. The answer is otherwise Cohere's, relayed as it came
(``id``, ``results[{index, relevance_score}]``, ``meta``); errors are mapped to OpenAI's shape.
Docs: https://docs.cohere.com/reference/rerank
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import openai_request as openai
from gateway.providers.base import NativeRequest
from gateway.providers.cohere_answers import SLUG, read_error
from gateway.providers.translated import json_object

__all__ = [
    "CohereRerankRequest",
    "read_rerank",
    "rerank_body",
    "rerank_request",
]

_PARAMS = frozenset({"query", "documents", "top_n", "max_tokens_per_doc", "return_documents"})


@dataclass(slots=True)
class CohereRerankRequest(NativeRequest):
    """A rerank request that keeps the documents when the client asked for them back."""

    documents: list[str] | None = None


def rerank_request(body: Mapping[str, Any], url: str) -> CohereRerankRequest:
    """The v2 rerank request for ``body``, sent to ``url``."""
    model = openai.model(body)
    native = {"model": model, **rerank_body(body)}
    kept = native["documents"] if body.get("return_documents") is True else None
    headers = {"Content-Type": "application/json"}
    return CohereRerankRequest(url, orjson.dumps(native), headers, model, documents=kept)


def rerank_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 rerank fields (no ``model``); a 400 for what v2 cannot take."""
    openai.check_params(body, SLUG, _PARAMS)
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise InvalidRequest("'query' is required: the text to rank the documents against.", param="query")
    native: dict[str, Any] = {"query": query, "documents": _documents(body.get("documents"))}
    for name in ("top_n", "max_tokens_per_doc"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRequest(f"'{name}' must be a positive integer.", param=name)
        native[name] = value
    if body.get("return_documents") not in (None, True, False):
        raise InvalidRequest("'return_documents' must be a boolean.", param="return_documents")
    return native


def _documents(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'documents' must be a non-empty array of strings.", param="documents")
    texts = []
    for i, document in enumerate(value):
        text = document.get("text") if isinstance(document, dict) and len(document) == 1 else document
        if not isinstance(text, str):
            raise openai.refuse(
                SLUG,
                f"documents[{i}]",
                "documents must be strings (or {'text': ...}): v2 rerank takes text only.",
            )
        texts.append(text)
    return texts


def read_rerank(status: int, body: bytes, native: NativeRequest) -> bytes:
    """Cohere's answer as it came, with each result's document when the request asked for it."""
    if status >= 400:
        return read_error(status, body)
    documents = native.documents if isinstance(native, CohereRerankRequest) else None
    if documents is None:
        json_object(SLUG, body)  # a 502 naming Cohere for an answer that is not JSON
        return body
    answer = json_object(SLUG, body)
    for result in answer.get("results") or []:
        index = result.get("index") if isinstance(result, dict) else None
        if isinstance(index, int) and 0 <= index < len(documents):
            result["document"] = {"text": documents[index]}
    return orjson.dumps(answer)
