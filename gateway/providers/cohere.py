"""Cohere's v2 Chat and Embed APIs behind OpenAI's chat completions and embeddings.

Request: messages keep their roles (``developer`` becomes ``system``); images go as Cohere's own
``image_url`` parts (a web URL or a ``data:`` URL, both accepted by its vision models); ``top_p``
and ``top_k`` become ``p`` and ``k``; ``tool_choice`` ``required``/``none`` become ``REQUIRED``/
``NONE`` (Cohere cannot force one named function: that is a 400); ``reasoning_effort`` becomes a
``thinking`` token budget (``openai_request.THINKING_BUDGETS``). Embeddings: ``POST /v2/embed``
with ``input_type`` ``search_document`` unless the request names another. Rerank: ``POST /v2/rerank``
(``cohere_rerank.py``). ``cohere_answers.py`` reads the answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers import model_lists
from gateway.providers import openai_request as openai
from gateway.providers.base import (
    CHAT,
    EMBEDDINGS,
    MODELS,
    RERANK,
    Credentials,
    NativeRequest,
    ProviderSpec,
    Translation,
    UpstreamCall,
)
from gateway.providers.cohere_answers import SLUG, ChatStream, read_chat, read_embeddings
from gateway.providers.cohere_rerank import read_rerank, rerank_request
from gateway.providers.openai_format import tool_call
from gateway.providers.translated import TranslatedProvider

__all__ = [
    "provider",
]

SPEC = ProviderSpec(
    slug=SLUG,
    name="Cohere",
    base_url="https://api.cohere.com",
    docs="https://docs.cohere.com/reference/chat",
    endpoints=frozenset({CHAT, EMBEDDINGS, MODELS, RERANK}),
)
#: Sent as ``input_type`` (Cohere requires one) unless the request names another.
DEFAULT_INPUT_TYPE = "search_document"

SUPPORTED = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "seed"}
    | {"frequency_penalty", "presence_penalty", "tools", "tool_choice", "parallel_tool_calls"}
    | {"response_format", "reasoning_effort", "thinking"}
)
SUPPORTED_EMBEDDINGS = frozenset({"input", "encoding_format", "dimensions", "input_type"})
#: OpenAI name → Cohere name, for the sampling fields carried as they are.
_SAMPLING = {"top_p": "p", "top_k": "k"} | {
    name: name for name in ("temperature", "seed", "frequency_penalty", "presence_penalty")
}


class _CohereApi:
    __slots__ = ()

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["Authorization"] = f"Bearer {credentials.api_key}"


class CohereChat(_CohereApi):
    """``chat/completions`` → ``POST {base}/v2/chat``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = {"model": model, **chat_body(body)}
        strict = call.strict_open_ai_compliance
        stream = None
        if openai.is_stream(body):
            native["stream"] = True
            stream = ChatStream(model, openai.include_usage(body), strict)
        return NativeRequest(_url(call, "/v2/chat"), orjson.dumps(native), {}, model, stream, strict)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_chat(status, body, native.model, native.strict_open_ai_compliance)


class CohereEmbed(_CohereApi):
    """``embeddings`` → ``POST {base}/v2/embed``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = {"model": model, **embed_body(body)}
        return NativeRequest(_url(call, "/v2/embed"), orjson.dumps(native), {}, model)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_embeddings(status, body, native)


class CohereRerank(_CohereApi):
    """``rerank`` → ``POST {base}/v2/rerank``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        return rerank_request(body, _url(call, "/v2/rerank"))

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_rerank(status, body, native)


def provider() -> TranslatedProvider:
    translations: dict[str, Translation] = {
        "chat/completions": CohereChat(),
        "embeddings": CohereEmbed(),
        "rerank": CohereRerank(),
    }
    return TranslatedProvider(SPEC, translations, models=model_lists.cohere(SPEC.base_url))


def _url(call: UpstreamCall, path: str) -> str:
    return (call.base_url or SPEC.base_url).rstrip("/") + path


# --- request ---------------------------------------------------------------------------------


def chat_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 Chat fields for an OpenAI chat request (no ``model`` or ``stream``)."""
    provider = SPEC.slug
    openai.check_params(body, provider, SUPPORTED)
    openai.single_choice(body, provider)
    # One message for each of OpenAI's, unlike openai_request.conversation: v2 Chat takes system
    # messages in the list and one tool message per result, so there is nothing to merge.
    native: dict[str, Any] = {
        "messages": [_message(m, f"messages[{i}]") for i, m in enumerate(openai.messages(body))]
    }
    max_tokens = openai.max_tokens(body)
    if max_tokens is not None:
        native["max_tokens"] = max_tokens
    native.update((theirs, body[ours]) for ours, theirs in _SAMPLING.items() if body.get(ours) is not None)
    stop = openai.stop_sequences(body)
    if stop:
        native["stop_sequences"] = stop
    native.update(_tools(body))
    schema = openai.json_schema(body)
    if schema is not None:
        kind, json_schema = schema
        native["response_format"] = {"type": "json_object"}
        if kind == "json_schema":
            native["response_format"]["json_schema"] = json_schema
    thinking = openai.thinking(body, SPEC.slug, "token_budget")
    if thinking is not None:
        native["thinking"] = thinking
    return native


def _message(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = message["role"]
    if role in ("system", "developer"):
        return {"role": "system", "content": openai.text_of(message.get("content"), where)}
    if role == "user":
        return {"role": "user", "content": _user_content(message.get("content"), where)}
    if role == "assistant":
        return _assistant(message, where)
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str):
            raise openai.refuse(SPEC.slug, where, "a tool message needs 'tool_call_id'.")
        return {
            "role": "tool",
            "tool_call_id": call_id,
            "content": openai.text_of(message.get("content"), where),
        }
    raise openai.refuse(SPEC.slug, where, f"message role {role!r} is not supported.")


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(openai.parts_of(content, where)):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            openai.image_of(part, f"{where}.content[{j}]")  # validates; Cohere takes data: URLs as they are
            image = part["image_url"]
            parts.append(
                {"type": "image_url", "image_url": image if isinstance(image, dict) else {"url": image}}
            )
        else:
            raise openai.refuse(
                SPEC.slug, f"{where}.content[{j}]", f"content part {kind!r} is not supported."
            )
    return parts


def _assistant(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    native: dict[str, Any] = {"role": "assistant"}
    text = openai.text_of(message.get("content"), where)
    if text:
        native["content"] = text
    calls = openai.tool_calls_of(message, where)
    if calls:
        native["tool_calls"] = [
            tool_call(call_id, name, orjson.dumps(arguments).decode()) for call_id, name, arguments in calls
        ]
        # The plan answered as reasoning_content goes back as the plan, as Cohere's multi-step use expects.
        plan = message.get("reasoning_content")
        if isinstance(plan, str) and plan:
            native["tool_plan"] = plan
    return native


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    functions = openai.tools(body)
    choice = openai.tool_choice(body)
    if body.get("parallel_tool_calls") is False:
        raise openai.refuse(SPEC.slug, "parallel_tool_calls", "Cohere cannot be limited to one tool call.")
    if not functions:
        return {}
    native: dict[str, Any] = {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": f.name,
                    "parameters": f.parameters,
                    **({"description": f.description} if f.description else {}),
                },
            }
            for f in functions
        ]
    }
    mode = choice[0] if choice else "auto"
    if mode == "function":
        raise openai.refuse(
            SPEC.slug, "tool_choice", "Cohere cannot force one named function: use 'required' or 'auto'."
        )
    if mode != "auto":
        native["tool_choice"] = mode.upper()  # REQUIRED | NONE
    return native


def embed_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 Embed fields for an OpenAI embeddings request (no ``model``). ``base64`` (what the
    OpenAI SDKs ask for by default) is asked of Cohere, which encodes as OpenAI does."""
    openai.check_params(body, SPEC.slug, SUPPORTED_EMBEDDINGS)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise openai.refuse(SPEC.slug, "encoding_format", "encoding_format must be 'float' or 'base64'.")
    input_type = body.get("input_type") or DEFAULT_INPUT_TYPE
    if not isinstance(input_type, str):
        raise openai.refuse(SPEC.slug, "input_type", "'input_type' must be a string.")
    native: dict[str, Any] = {
        "texts": openai.embedding_inputs(body),
        "input_type": input_type,
        "embedding_types": [encoding],
    }
    dimensions = openai.dimensions(body)
    if dimensions is not None:
        native["output_dimension"] = dimensions
    return native
