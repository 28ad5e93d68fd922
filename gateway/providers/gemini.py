"""Google Gemini API (AI Studio) behind OpenAI's chat completions and embeddings.

Request: system and developer messages become ``systemInstruction``; assistant turns are ``model``
turns; tool results become ``functionResponse`` parts in a user turn, named after the assistant
call they answer; consecutive turns of one role are merged. Tools are declared with
``parametersJsonSchema`` (full JSON Schema, as OpenAI's are; ``parameters`` takes only an OpenAPI
subset) and ``response_format`` becomes ``responseJsonSchema``. ``reasoning_effort`` becomes a
thinking budget (:data:`THINKING_BUDGETS`) with the thoughts returned as ``reasoning_content``.
Gemini 3 needs each function call's ``thoughtSignature`` back in the next turn: it is returned on
the tool call as ``extra_content.google.thought_signature`` (the field Google's own OpenAI layer
uses) and sent back from there. Call ids are not sent: Vertex's v1 API has no ``id`` field, and
Gemini pairs calls and results by order and name.
Answer: ``usageMetadata`` counts thoughts apart; OpenAI counts them in ``completion_tokens``, so
they are added there and detailed as reasoning tokens. Streams are SSE events that each hold a
whole ``GenerateContentResponse`` and no terminal event: a stream is complete once a
``finishReason`` came. Vertex AI serves the same format (``vertex.py`` reuses these pieces);
``gemini_answers.py`` reads the answers.

Anthropic's ``/v1/messages/count_tokens`` is served through ``countTokens`` (:class:`CountTokens`):
the Messages body becomes the chat form (``formats/anthropic_messages.py``), then this module's
Gemini request, of which what counts as input is sent (``contents``, ``systemInstruction``,
``tools``), wrapped as a ``generateContentRequest`` naming its model (bare ``contents`` cannot carry
a system instruction or tools); ``totalTokens`` is answered as Anthropic's ``input_tokens``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from gateway.errors import InvalidRequest, ProviderError
from gateway.formats.anthropic_messages import AnthropicMessages
from gateway.formats.anthropic_stream import anthropic_error
from gateway.providers import model_lists
from gateway.providers import openai_request as openai
from gateway.providers.base import (
    CHAT,
    EMBEDDINGS,
    MODELS,
    ClientBody,
    Credentials,
    NativeRequest,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.gemini_answers import GenerateContentStream, read_response, vectors
from gateway.providers.openai_format import (
    EmbeddingsRequest,
    embeddings,
    upstream_error,
)
from gateway.providers.translated import TranslatedProvider, json_object, prepared_through

__all__ = [
    "EMBEDDING_PARAMS",
    "CountTokens",
    "content_body",
    "count_body",
    "method",
    "model_id",
    "provider",
    "read_count",
    "stream_of",
]

SPEC = ProviderSpec(
    slug="google",
    name="Google Gemini",
    base_url="https://generativelanguage.googleapis.com",
    docs="https://ai.google.dev/api/generate-content",
    endpoints=frozenset({CHAT, EMBEDDINGS, MODELS}),
)
#: ``reasoning_effort`` → ``thinkingConfig.thinkingBudget`` (``none`` → 0: thinking off, where the
#: model allows it). Every budget is inside the range of each Gemini 2.5 model; Gemini 3 takes them too.
THINKING_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

SUPPORTED = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "seed"}
    | {"presence_penalty", "frequency_penalty", "response_format", "reasoning_effort"}
    | {"tools", "tool_choice", "parallel_tool_calls"}
)
EMBEDDING_PARAMS = frozenset({"input", "dimensions", "encoding_format"})
#: OpenAI parameter → ``generationConfig`` field, copied as given.
_GENERATION_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "seed": "seed",
}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}
_JSON = {"Content-Type": "application/json"}
_MESSAGES = AnthropicMessages()


class _ApiKey:
    """The caller's key goes in ``x-goog-api-key``."""

    __slots__ = ()

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["x-goog-api-key"] = credentials.api_key


class GenerateContent(_ApiKey):
    """``chat/completions`` → ``POST {base}/v1beta/models/{model}:generateContent`` (or the stream)."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        strict = call.strict_open_ai_compliance
        stream = stream_of(body, SPEC.slug, strict)
        url = f"{_base(call)}/models/{model_id(body)}:{method(stream)}"
        content = orjson.dumps(content_body(body, SPEC.slug))
        return NativeRequest(url, content, {}, openai.model(body), stream, strict)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_response(SPEC.slug, status, body, native.model, native.strict_open_ai_compliance)


class BatchEmbedContents(_ApiKey):
    """``embeddings`` → ``POST {base}/v1beta/models/{model}:batchEmbedContents``. Gemini reports no
    token count for embeddings: ``usage.prompt_tokens`` is 0."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        openai.check_params(body, SPEC.slug, EMBEDDING_PARAMS)
        encoding = openai.encoding_format(body, SPEC.slug)
        name = model_id(body)
        extra = {"outputDimensionality": dims} if (dims := openai.dimensions(body)) else {}
        requests = [
            {"model": f"models/{name}", "content": {"parts": [{"text": text}]}, **extra}
            for text in openai.embedding_inputs(body)
        ]
        url = f"{_base(call)}/models/{name}:batchEmbedContents"
        native = orjson.dumps({"requests": requests})
        return EmbeddingsRequest(url, native, {}, openai.model(body), encoding_format=encoding)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return upstream_error(SPEC.slug, status, body, ("error",))
        answer = json_object(SPEC.slug, body)
        return embeddings(native, vectors(SPEC.slug, answer.get("embeddings"), ("values",)), 0)


class CountTokens(_ApiKey):
    """``messages/count_tokens`` → ``POST {base}/v1beta/models/{model}:countTokens`` (see the
    module): a :class:`~gateway.providers.translated.NativeEndpoint` and the translation that
    reads its answers."""

    __slots__ = ()

    def serves(self, model: str) -> bool:
        return True

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        return prepared_through(self, call, body)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        name = model_id(body)
        counted = {"generateContentRequest": {"model": f"models/{name}", **count_body(body, SPEC.slug)}}
        url = f"{_base(call)}/models/{name}:countTokens"
        return NativeRequest(url, orjson.dumps(counted), dict(_JSON), openai.model(body))

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_count(SPEC.slug, status, body)


def provider() -> TranslatedProvider:
    return TranslatedProvider(
        SPEC,
        {"chat/completions": GenerateContent(), "embeddings": BatchEmbedContents()},
        natives={"messages/count_tokens": CountTokens()},
        models=model_lists.gemini(SPEC.base_url),
    )


def count_body(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """What counts as input of a Messages request, as Gemini's ``contents``, ``systemInstruction``
    and ``tools`` (the 400s of either translation pass through)."""
    # A count names no max_tokens, which the chat form requires; it does not change the count.
    chat = _MESSAGES.to_chat({**body, "max_tokens": body.get("max_tokens") or 1})
    native = content_body({k: chat[k] for k in ("model", "messages", "tools") if k in chat}, provider)
    return {k: native[k] for k in ("contents", "systemInstruction", "tools") if k in native}


def read_count(provider: str, status: int, body: bytes) -> bytes:
    """``countTokens``' answer as Anthropic's ``{"input_tokens": totalTokens}``; Google's error
    (its message at ``error.message``) in Anthropic's error shape."""
    if status >= 400:
        try:
            google = orjson.loads(body)
        except orjson.JSONDecodeError:
            google = None
        if not isinstance(google, dict) or not isinstance(google.get("error"), dict):
            google = {"error": {"message": f"Provider {provider} answered {status}."}}
        return orjson.dumps(anthropic_error(status, google))
    total = json_object(provider, body).get("totalTokens")
    if not isinstance(total, int):
        raise ProviderError(provider, 502, "countTokens answered no totalTokens.", "bad_upstream_response")
    return orjson.dumps({"input_tokens": total})


def _base(call: UpstreamCall) -> str:
    return (call.base_url or SPEC.base_url).rstrip("/") + "/v1beta"


def stream_of(body: Mapping[str, Any], provider: str, strict: bool) -> GenerateContentStream | None:
    if not openai.is_stream(body):
        return None
    return GenerateContentStream(provider, openai.model(body), openai.include_usage(body), strict)


def method(stream: object) -> str:
    """The model method: ``generateContent``, or its SSE stream."""
    return "generateContent" if stream is None else "streamGenerateContent?alt=sse"


def model_id(body: Mapping[str, Any]) -> str:
    """The model for the URL path: ``models/`` prefix dropped, percent-encoded ('@' kept, as in Vertex
    names like ``claude-sonnet-4@20250514``); a 400 for any other path."""
    name = openai.model(body).removeprefix("models/")
    if not name or "/" in name:
        raise InvalidRequest(
            f"'model' must be a model name such as gemini-2.0-flash, got {openai.model(body)!r}.",
            param="model",
            code="invalid_model",
        )
    return quote(name, safe="@")


# --- request ---------------------------------------------------------------------------------


def content_body(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The ``GenerateContentRequest`` for an OpenAI chat request (the model goes in the URL)."""
    openai.check_params(body, provider, SUPPORTED)
    openai.single_choice(body, provider)
    system, contents = _conversation(openai.messages(body), provider)
    native: dict[str, Any] = {"contents": contents}
    if system:
        native["systemInstruction"] = {"parts": system}
    native.update(_tools(body, provider))
    config = _generation_config(body, provider)
    if config:
        native["generationConfig"] = config
    return native


def _conversation(
    messages: list[dict[str, Any]], provider: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system parts, contents); assistant turns are ``model`` turns, tool results user turns."""
    names: dict[str, str] = {}  # tool call id → function name, for the results that answer them
    # Bound with partial (called in C), not a lambda: no extra Python call per message.
    turns: dict[str, openai.TurnOf] = {
        "user": ("user", _user_parts),
        "assistant": ("model", partial(_model_parts, names)),
        "tool": ("user", partial(_function_responses, names)),
    }
    # Gemini refuses a turn without parts (an assistant message with no content): dropped.
    return openai.conversation(messages, provider, _system_part, turns, blocks_key="parts", drop_empty=True)


def _system_part(text: str) -> dict[str, Any]:
    return {"text": text}


def _user_parts(message: Mapping[str, Any], where: str, provider: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(openai.parts_of(message.get("content"), where)):
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            parts.append(_image(part, f"{where}.content[{j}]", provider))
        else:
            raise openai.refuse(provider, f"{where}.content[{j}]", f"content part {kind!r} is not supported.")
    return parts


def _image(part: Mapping[str, Any], where: str, provider: str) -> dict[str, Any]:
    image = openai.image_of(part, where)
    if image.url is None:
        return {"inlineData": {"mimeType": image.media_type, "data": image.data}}
    media_type, _ = mimetypes.guess_type(urlsplit(image.url).path)
    if media_type is None:
        raise openai.refuse(
            provider,
            where,
            "Gemini needs the media type of an image URL, and this URL's file extension does not "
            "give one: send the image as a data: URL instead.",
        )
    return {"fileData": {"mimeType": media_type, "fileUri": image.url}}


def _model_parts(
    names: dict[str, str], message: Mapping[str, Any], where: str, _provider: str
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = openai.text_of(message.get("content"), where)
    if text:
        parts.append({"text": text})
    raw_calls = message.get("tool_calls") or []
    for raw, (call_id, name, arguments) in zip(raw_calls, openai.tool_calls_of(message, where), strict=True):
        names[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": arguments}}
        # Google's OpenAI layer's place for it, or Portkey's (its non-strict answers put it there).
        signature = ((raw.get("extra_content") or {}).get("google") or {}).get("thought_signature") or (
            raw.get("function") or {}
        ).get("thought_signature")
        if isinstance(signature, str) and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_responses(
    names: Mapping[str, str], message: Mapping[str, Any], where: str, provider: str
) -> list[dict[str, Any]]:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise openai.refuse(
            provider,
            where,
            "a tool message must answer a tool call of an earlier assistant message "
            f"(its 'tool_call_id' {call_id!r} matches none): Gemini names results after their function.",
        )
    text = openai.text_of(message.get("content"), where)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return [{"functionResponse": {"name": name, "response": response}}]


def _tools(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    functions = openai.tools(body)
    choice = openai.tool_choice(body)
    if body.get("parallel_tool_calls") is False:
        raise openai.refuse(provider, "parallel_tool_calls", "Gemini cannot be kept to one call a turn.")
    if not functions:
        return {}
    declarations = [
        {
            "name": f.name,
            **({"description": f.description} if f.description else {}),
            "parametersJsonSchema": f.parameters,
        }
        for f in functions
    ]
    native: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if choice is not None:
        mode, name = choice
        config: dict[str, Any] = {"mode": _TOOL_MODES[mode]}
        if name:
            config["allowedFunctionNames"] = [name]
        native["toolConfig"] = {"functionCallingConfig": config}
    return native


def _generation_config(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    config = {theirs: body[ours] for ours, theirs in _GENERATION_FIELDS.items() if body.get(ours) is not None}
    max_tokens = openai.max_tokens(body)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = openai.stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    schema = openai.json_schema(body)
    if schema is not None:
        config["responseMimeType"] = "application/json"
        if schema[1] is not None:
            config["responseJsonSchema"] = schema[1]
    thinking = _thinking(body, provider)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _thinking(body: Mapping[str, Any], provider: str) -> dict[str, Any] | None:
    budget = openai.thinking_budget(body, provider, THINKING_BUDGETS)
    if budget is None:
        return None
    return {"thinkingBudget": budget, "includeThoughts": True} if budget else {"thinkingBudget": 0}
