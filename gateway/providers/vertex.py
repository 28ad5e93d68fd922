"""Google Vertex AI behind OpenAI's chat completions and embeddings.

Every model lives under ``{base}/v1/projects/{project}/locations/{region}/publishers/{publisher}``:
Gemini models (publisher ``google``) speak the Gemini API's format (``gemini.py``); Claude models
(names starting with ``claude``, publisher ``anthropic``) speak Anthropic's Messages API through
``rawPredict`` (``anthropic.py``), with ``anthropic_version`` in the body instead of a header and
the model in the URL instead of the body; ``/v1/messages`` for Claude models is that API natively
(:class:`VertexMessages`: the client's body, Anthropic's answer relayed byte for byte), and
``/v1/messages/count_tokens`` Vertex's ``count-tokens:rawPredict`` for Claude, ``countTokens`` for
Gemini (:class:`VertexCountTokens`).
Embeddings use the ``predict`` method of Google's models, and so do images (Imagen, ``vertex_images.py``).

Where the requests go and their auth: ``vertex_access.py``; files and batches (Cloud Storage and
batch prediction jobs): ``vertex_jobs.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import anthropic, gemini, vertex_jobs
from gateway.providers import openai_request as openai
from gateway.providers.anthropic_answers import read_message
from gateway.providers.base import (
    BATCHES,
    CHAT,
    EMBEDDINGS,
    FILES,
    IMAGES,
    MESSAGES,
    ClientBody,
    NativeRequest,
    PreparedRequest,
    ProviderSpec,
    Translation,
    UpstreamCall,
)
from gateway.providers.gemini_answers import read_response, vectors
from gateway.providers.google_auth import ServiceAccountTokens
from gateway.providers.openai_format import EmbeddingsRequest, embeddings, upstream_error
from gateway.providers.translated import NativeEndpoint, json_object, prepared_through
from gateway.providers.vertex_access import PROVIDER, REGIONAL_BASE, VertexAuth, location_path
from gateway.providers.vertex_images import imagen_body, read_imagen

__all__ = [
    "provider",
]

SPEC = ProviderSpec(
    slug=PROVIDER,
    name="Google Vertex AI",
    base_url=REGIONAL_BASE,
    docs="https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference",
    endpoints=frozenset({CHAT, EMBEDDINGS, IMAGES, MESSAGES, FILES, BATCHES}),
)
OPTION_HEADERS = ("vertex-project-id", "vertex-region", "vertex-service-account-json", *vertex_jobs.OPTIONS)
#: Sent in the body of Claude requests, as Vertex requires.
ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexChat(VertexAuth):
    """``chat/completions`` → ``generateContent`` (Gemini) or ``rawPredict`` (Claude), or their streams."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        name = gemini.model_id(body)
        model = openai.model(body)
        strict = call.strict_open_ai_compliance
        if not _is_claude(name):
            stream = gemini.stream_of(body, SPEC.slug, strict)
            url = f"{_publishers(call)}/google/models/{name}:{gemini.method(stream)}"
            content = orjson.dumps(gemini.content_body(body, SPEC.slug))
            return NativeRequest(url, content, {}, model, stream, strict)
        native = {"anthropic_version": ANTHROPIC_VERSION, **anthropic.messages_body(body, SPEC.slug)}
        claude_stream = anthropic.stream_of(body, model, SPEC.slug, strict)
        if claude_stream is not None:
            native["stream"] = True
        verb = "rawPredict" if claude_stream is None else "streamRawPredict"
        url = f"{_publishers(call)}/anthropic/models/{name}:{verb}"
        return NativeRequest(url, orjson.dumps(native), {}, model, claude_stream, strict)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        # Errors come in Google's shape or Anthropic's: both keep the message at error.message.
        strict = native.strict_open_ai_compliance
        if "/publishers/anthropic/" in native.url:
            return read_message(SPEC.slug, status, body, native.model, strict)
        return read_response(SPEC.slug, status, body, native.model, strict)


class VertexMessages(VertexAuth):
    """``messages`` → ``…/publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``
    for a stream): the client's Messages body minus ``model``, plus ``anthropic_version``. No
    translation is set: the answer and its stream are Anthropic's already, relayed byte for byte."""

    __slots__ = ()

    def serves(self, model: str) -> bool:
        return _is_claude(model)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        params = body.params or {}
        name = gemini.model_id(params)
        if not self.serves(name):
            raise InvalidRequest(
                "Provider vertex-ai serves /v1/messages for Claude models (claude-…); name one in 'model'.",
                param="model",
                code="unsupported_model",
            )
        native = {key: value for key, value in params.items() if key != "model"}
        native.setdefault("anthropic_version", ANTHROPIC_VERSION)
        verb = "streamRawPredict" if params.get("stream") is True else "rawPredict"
        url = f"{_publishers(call)}/anthropic/models/{name}:{verb}"
        headers = {"Content-Type": "application/json"}
        beta = anthropic.version_headers(call).get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        request = NativeRequest(url, orjson.dumps(native), headers, openai.model(params))
        # The auth step adds the token to the request's headers, which are the prepared ones.
        step = functools.partial(self.authorize, request)
        return PreparedRequest(url, request.headers, request.body, authorize=step)


class VertexCountTokens(VertexAuth):
    """``messages/count_tokens``. Claude: ``…/publishers/anthropic/models/count-tokens:rawPredict``,
    one endpoint for every Claude model, so the body keeps ``model``; it is the client's,
    untouched, and Vertex answers Anthropic's ``{"input_tokens": n}``, relayed as is. Gemini:
    :class:`VertexGeminiCount`."""

    __slots__ = ("_gemini",)

    def __init__(self, tokens: ServiceAccountTokens) -> None:
        super().__init__(tokens)
        self._gemini = VertexGeminiCount(tokens)

    def serves(self, model: str) -> bool:
        return True

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        params = body.params or {}
        if not _is_claude(gemini.model_id(params)):
            return prepared_through(self._gemini, call, body)
        url = f"{_publishers(call)}/anthropic/models/count-tokens:rawPredict"
        headers = {"Content-Type": "application/json"}
        beta = anthropic.version_headers(call).get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        request = NativeRequest(url, b"", headers, openai.model(params))
        step = functools.partial(self.authorize, request)
        return PreparedRequest(url, request.headers, body.payload(), authorize=step)


class VertexGeminiCount(VertexAuth):
    """Anthropic's count for a Gemini model → ``…/publishers/google/models/{model}:countTokens``
    with ``contents``, ``systemInstruction`` and ``tools`` at the top level
    (``gemini.count_body``); ``totalTokens`` answered as ``input_tokens``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        url = f"{_publishers(call)}/google/models/{gemini.model_id(body)}:countTokens"
        counted = orjson.dumps(gemini.count_body(body, SPEC.slug))
        return NativeRequest(url, counted, {"Content-Type": "application/json"}, openai.model(body))

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return gemini.read_count(SPEC.slug, status, body)


class VertexEmbeddings(VertexAuth):
    """``embeddings`` → ``predict``; the token count is the sum of each prediction's statistics."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        openai.check_params(body, SPEC.slug, gemini.EMBEDDING_PARAMS)
        encoding = openai.encoding_format(body, SPEC.slug)
        native: dict[str, Any] = {"instances": [{"content": text} for text in openai.embedding_inputs(body)]}
        dimensions = openai.dimensions(body)
        if dimensions:
            native["parameters"] = {"outputDimensionality": dimensions}
        url = f"{_publishers(call)}/google/models/{gemini.model_id(body)}:predict"
        return EmbeddingsRequest(url, orjson.dumps(native), {}, openai.model(body), encoding_format=encoding)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return upstream_error(SPEC.slug, status, body, ("error",))
        answer = json_object(SPEC.slug, body)
        found = vectors(SPEC.slug, answer.get("predictions"), ("embeddings", "values"))
        return embeddings(native, found, sum(map(_token_count, answer["predictions"])))


class VertexImages(VertexAuth):
    """``images/generations`` → Imagen's ``predict``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        native = orjson.dumps(imagen_body(body, SPEC.slug))
        url = f"{_publishers(call)}/google/models/{gemini.model_id(body)}:predict"
        return NativeRequest(url, native, {}, openai.model(body))

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_imagen(SPEC.slug, status, body)


def provider() -> vertex_jobs.VertexProvider:
    tokens = ServiceAccountTokens()  # one cache for the adapter's life, shared by every endpoint
    translations: dict[str, Translation] = {
        "chat/completions": VertexChat(tokens),
        "embeddings": VertexEmbeddings(tokens),
        "images/generations": VertexImages(tokens),
    }
    natives: dict[str, NativeEndpoint] = {
        "messages": VertexMessages(tokens),
        "messages/count_tokens": VertexCountTokens(tokens),
    }
    return vertex_jobs.VertexProvider(SPEC, tokens, translations, OPTION_HEADERS, natives)


def _is_claude(model: str) -> bool:
    return model.startswith("claude")


def _token_count(prediction: Mapping[str, Any]) -> int:
    count = (prediction["embeddings"].get("statistics") or {}).get("token_count")
    return int(count) if isinstance(count, int | float) else 0


def _publishers(call: UpstreamCall) -> str:
    """``{base}/v1/projects/{project}/locations/{region}/publishers``."""
    return f"{location_path(call)}/publishers"
