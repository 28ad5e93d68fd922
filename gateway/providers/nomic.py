"""Nomic Atlas's text embeddings behind OpenAI's embeddings.

``POST {base}/embedding/text`` (base ``https://api-atlas.nomic.ai/v1``, as Portkey has it) with
``{"texts", "model", "task_type"?, "dimensionality"?}``
(OpenAI's ``dimensions`` is Nomic's ``dimensionality``; ``task_type`` is Nomic's own field, passed
as Portkey passes it), bearer auth; the answer ``{"embeddings", "usage", "model"}`` becomes OpenAI's
embeddings list, base64-encoded when the client asked for that. Errors are FastAPI's
``{"detail": "..."}`` or ``{"detail": [{"loc", "msg", "type"}]}``.
Docs: https://docs.nomic.ai/reference/api/embed-text-v-1-embedding-text-post
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers import openai_request as openai
from gateway.providers.base import EMBEDDINGS, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_format import EmbeddingsRequest, embeddings, error, upstream_error
from gateway.providers.translated import TranslatedProvider, json_object

__all__ = [
    "SPEC",
    "provider",
]

SLUG = "nomic"
SPEC = ProviderSpec(
    slug=SLUG,
    name="Nomic (Atlas embeddings)",
    base_url="https://api-atlas.nomic.ai/v1",
    docs="https://docs.nomic.ai/reference/api/embed-text-v-1-embedding-text-post",
    endpoints=frozenset({EMBEDDINGS}),
)
_PARAMS = frozenset({"input", "encoding_format", "dimensions", "task_type"})


class NomicEmbeddings:
    """``embeddings`` → ``POST {base}/embedding/text``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        openai.check_params(body, SLUG, _PARAMS)
        model = openai.model(body)
        encoding = openai.encoding_format(body, SLUG)
        native: dict[str, Any] = {"texts": openai.embedding_inputs(body), "model": model}
        task_type = body.get("task_type")
        if task_type is not None:
            if not isinstance(task_type, str):
                raise openai.refuse(SLUG, "task_type", "'task_type' must be a string.")
            native["task_type"] = task_type
        dimensions = openai.dimensions(body)
        if dimensions is not None:
            native["dimensionality"] = dimensions
        url = (call.base_url or SPEC.base_url).rstrip("/") + "/embedding/text"
        headers = {"Content-Type": "application/json"}
        return EmbeddingsRequest(url, orjson.dumps(native), headers, model, encoding_format=encoding)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["Authorization"] = f"Bearer {credentials.api_key}"

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return read_error(status, body)
        answer = json_object(SLUG, body)
        usage = answer.get("usage") or {}
        return embeddings(native, answer.get("embeddings") or [], int(usage.get("prompt_tokens") or 0))


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"embeddings": NomicEmbeddings()})


def read_error(status: int, body: bytes) -> bytes:
    """FastAPI's ``detail``: a message, or validation errors (the first one, at its field)."""
    try:
        detail = orjson.loads(body).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return error(SLUG, status, detail)
    first = detail[0] if isinstance(detail, list) and detail and isinstance(detail[0], dict) else None
    if first is not None and isinstance(first.get("msg"), str):
        where = ".".join(map(str, first.get("loc") or []))
        code = first.get("type")
        return error(SLUG, status, f"{where}: {first['msg']}" if where else first["msg"], code and str(code))
    return upstream_error(SLUG, status, body, ())
