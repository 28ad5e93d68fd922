"""Anthropic Messages API behind OpenAI's chat completions.

Request: system and developer messages become ``system`` blocks; tool results become
``tool_result`` blocks in a user turn (consecutive ones merged, as parallel results must be);
``max_tokens`` is required by Anthropic, so :data:`DEFAULT_MAX_TOKENS` is sent when the client
gives none; ``reasoning_effort`` becomes an extended-thinking budget
(``openai_request.THINKING_BUDGETS``). Vertex AI serves the same format (``vertex.py`` reuses
these pieces); ``anthropic_answers.py`` reads the answers.

Anthropic's own ``/v1/messages`` and ``/v1/messages/count_tokens`` are served natively
(:class:`AnthropicNative`): the client's body and Anthropic's answer pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.providers import model_lists
from gateway.providers import openai_request as openai
from gateway.providers.anthropic_answers import MessagesStream, read_message
from gateway.providers.base import (
    CHAT,
    MESSAGES,
    MODELS,
    ClientBody,
    Credentials,
    NativeRequest,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.option_headers import ANTHROPIC as ANTHROPIC_OPTIONS
from gateway.providers.translated import TranslatedProvider

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicNative",
    "MessagesStream",
    "messages_body",
    "provider",
    "read_message",
    "stream_of",
    "version_headers",
]

SPEC = ProviderSpec(
    slug="anthropic",
    name="Anthropic",
    base_url="https://api.anthropic.com/v1",
    docs="https://docs.anthropic.com/en/api/messages",
    endpoints=frozenset({CHAT, MESSAGES, MODELS}),
)
#: Sent as ``anthropic-version`` unless the client sends its own.
API_VERSION = "2023-06-01"
#: Anthropic requires ``max_tokens``; this is sent when the client sets neither max_tokens field.
DEFAULT_MAX_TOKENS = 4096

SUPPORTED = frozenset(
    {"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "n", "tools"}
    | {"tool_choice", "parallel_tool_calls", "response_format", "user", "metadata", "reasoning_effort"}
    | {"thinking"}
)


class AnthropicMessages:
    """``chat/completions`` → ``POST {base}/messages``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = {"model": model, **messages_body(body, SPEC.slug)}
        headers = version_headers(call)
        strict = call.strict_open_ai_compliance
        stream = stream_of(body, model, SPEC.slug, strict)
        if stream is not None:
            native["stream"] = True
        url = (call.base_url or SPEC.base_url).rstrip("/") + "/messages"
        return NativeRequest(url, orjson.dumps(native), headers, model, stream, strict)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["x-api-key"] = credentials.api_key

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_message(SPEC.slug, status, body, native.model, native.strict_open_ai_compliance)


class AnthropicNative:
    """``messages`` and ``messages/count_tokens`` → ``POST {base}/{endpoint}`` as the client sent
    them: its bytes (re-encoded only when a config edited a field), its query (the SDK's
    ``?beta=true``), its ``anthropic-version`` and ``anthropic-beta``; the key as ``x-api-key``.
    No translation is set, so the answer and its stream are relayed byte for byte."""

    __slots__ = ()

    def serves(self, model: str) -> bool:
        return True

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        headers = version_headers(call)
        headers["Content-Type"] = "application/json"
        if call.api_key:
            headers["x-api-key"] = call.api_key
        url = f"{(call.base_url or SPEC.base_url).rstrip('/')}/{call.endpoint}"
        return PreparedRequest(f"{url}?{call.query}" if call.query else url, headers, body.payload())


def version_headers(call: UpstreamCall) -> dict[str, str]:
    """``anthropic-version`` (the client's, else :data:`API_VERSION`) and ``anthropic-beta`` when
    set: each from the config key or ``x-portkey-<name>``, else the client's own header."""
    headers = {"anthropic-version": _header(call, "anthropic-version") or API_VERSION}
    beta = _header(call, "anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return headers


def _header(call: UpstreamCall, name: str) -> str:
    return call.options.get(name) or call.client_headers.get(name, "")


def provider() -> TranslatedProvider:
    native = AnthropicNative()
    natives = {"messages": native, "messages/count_tokens": native}
    models = model_lists.anthropic(SPEC.base_url, API_VERSION)
    return TranslatedProvider(
        SPEC, {"chat/completions": AnthropicMessages()}, ANTHROPIC_OPTIONS, natives, models
    )


def stream_of(body: Mapping[str, Any], model: str, provider: str, strict: bool) -> MessagesStream | None:
    if not openai.is_stream(body):
        return None
    return MessagesStream(provider, model, openai.include_usage(body), strict)


# --- request ---------------------------------------------------------------------------------


def messages_body(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The Messages API fields for an OpenAI chat request (no ``model`` or ``stream``)."""
    openai.check_params(body, provider, SUPPORTED)
    openai.single_choice(body, provider)
    system, turns = openai.conversation(openai.messages(body), provider, _system_block, _TURNS)
    native: dict[str, Any] = {"messages": turns}
    if system:
        native["system"] = system
    thinking = openai.thinking(body, provider, "budget_tokens")
    max_tokens = openai.max_tokens(body)
    if thinking is not None:
        native["thinking"] = thinking
        budget = thinking.get("budget_tokens", 0)
        max_tokens = max_tokens or DEFAULT_MAX_TOKENS + budget
    native["max_tokens"] = max_tokens or DEFAULT_MAX_TOKENS
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        if body.get(ours) is not None:
            native[theirs] = body[ours]
    stop = openai.stop_sequences(body)
    if stop:
        native["stop_sequences"] = stop
    native.update(_tools(body, provider))
    schema = openai.json_schema(body)
    if schema is not None:
        if schema[0] == "json_object":
            raise openai.refuse(
                provider, "response_format", "JSON mode needs a schema: use {'type': 'json_schema', ...}."
            )
        native["output_config"] = {"format": {"type": "json_schema", "schema": schema[1]}}
    user = _user_id(body, provider)
    if user:
        native["metadata"] = {"user_id": user}
    return native


def _system_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(message: Mapping[str, Any], where: str, provider: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(openai.parts_of(message.get("content"), where)):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = openai.image_of(part, f"{where}.content[{j}]")
            source = (
                {"type": "url", "url": image.url}
                if image.url
                else {"type": "base64", "media_type": image.media_type, "data": image.data}
            )
            blocks.append({"type": "image", "source": source})
        else:
            raise openai.refuse(provider, f"{where}.content[{j}]", f"content part {kind!r} is not supported.")
    return blocks


def _assistant_blocks(message: Mapping[str, Any], where: str, _provider: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [*openai.thinking_blocks_of(message, where)]
    text = openai.text_of(message.get("content"), where)
    if text:
        blocks.append({"type": "text", "text": text})
    for call_id, name, arguments in openai.tool_calls_of(message, where):
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return blocks


def _tool_results(message: Mapping[str, Any], where: str, provider: str) -> list[dict[str, Any]]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise openai.refuse(provider, where, "a tool message needs 'tool_call_id'.")
    text = openai.text_of(message.get("content"), where)
    return [{"type": "tool_result", "tool_use_id": call_id, "content": text}]


#: Each role's turn; tool results go in a user turn, as Anthropic requires.
_TURNS: Mapping[str, openai.TurnOf] = {
    "user": ("user", _user_blocks),
    "assistant": ("assistant", _assistant_blocks),
    "tool": ("user", _tool_results),
}


def _tools(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    functions = openai.tools(body)
    choice = openai.tool_choice(body)
    if not functions:
        return {}
    native: dict[str, Any] = {
        "tools": [
            {
                "name": f.name,
                "input_schema": f.parameters,
                **({"description": f.description} if f.description else {}),
            }
            for f in functions
        ]
    }
    mode, name = choice or ("auto", "")
    tool_choice: dict[str, Any] = {
        "auto": {"type": "auto"},
        "required": {"type": "any"},
        "none": {"type": "none"},
    }.get(mode, {"type": "tool", "name": name})
    if body.get("parallel_tool_calls") is False and mode != "none":
        tool_choice["disable_parallel_tool_use"] = True
    if choice is not None or "disable_parallel_tool_use" in tool_choice:
        native["tool_choice"] = tool_choice
    return native


def _user_id(body: Mapping[str, Any], provider: str) -> str | None:
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
            raise openai.refuse(provider, "metadata", "metadata may hold only 'user_id' here.")
        return str(metadata["user_id"]) if "user_id" in metadata else None
    user = body.get("user")
    return user if isinstance(user, str) and user else None
