"""Anthropic Messages API behind OpenAI's chat completions.

Request: system and developer messages become ``system`` blocks; tool results become
``tool_result`` blocks in a user turn (consecutive ones merged, as parallel results must be);
``max_tokens`` is required by Anthropic, so :data:`DEFAULT_MAX_TOKENS` is sent when the client
gives none; ``reasoning_effort`` becomes an extended-thinking budget
(``openai_request.THINKING_BUDGETS``).
Answer: text, ``thinking`` as ``reasoning_content``, ``tool_use`` as ``tool_calls``; cache reads and
writes are counted in ``prompt_tokens`` (as OpenAI counts cached tokens) and detailed apart.
Streams: the named events (``message_start``, ``content_block_*``, ``message_delta``, ...) are
translated one by one; ``error`` events become OpenAI error events. Vertex AI serves the same
format (``vertex.py`` reuses these pieces).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers import openai_request as openai
from gateway.providers.base import CHAT, Credentials, NativeRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_format import (
    ChunkWriter,
    completion,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.option_headers import ANTHROPIC as ANTHROPIC_OPTIONS
from gateway.providers.translated import TranslatedProvider, json_object
from gateway.streaming.sse import SseDecoder, SseEvent

SPEC = ProviderSpec(
    slug="anthropic",
    name="Anthropic",
    base_url="https://api.anthropic.com/v1",
    docs="https://docs.anthropic.com/en/api/messages",
    endpoints=frozenset({CHAT}),
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
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
#: Anthropic's error types → the status of the HTTP answer they come with.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicMessages:
    """``chat/completions`` → ``POST {base}/messages``."""

    __slots__ = ()

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        model = openai.model(body)
        native = {"model": model, **messages_body(body, SPEC.slug)}
        headers = {"anthropic-version": self._header(call, "anthropic-version") or API_VERSION}
        beta = self._header(call, "anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        strict = call.strict_open_ai_compliance
        stream = stream_of(body, model, SPEC.slug, strict)
        if stream is not None:
            native["stream"] = True
        url = (call.base_url or SPEC.base_url).rstrip("/") + "/messages"
        return NativeRequest(url, orjson.dumps(native), headers, model, stream, strict)

    @staticmethod
    def _header(call: UpstreamCall, name: str) -> str:
        """The config key or ``x-portkey-<name>`` (``call.options``), else the client's own header."""
        return call.options.get(name) or call.client_headers.get(name, "")

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["x-api-key"] = credentials.api_key

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        return read_message(SPEC.slug, status, body, native.model, native.strict_open_ai_compliance)


def provider() -> TranslatedProvider:
    return TranslatedProvider(SPEC, {"chat/completions": AnthropicMessages()}, ANTHROPIC_OPTIONS)


def stream_of(body: Mapping[str, Any], model: str, provider: str, strict: bool) -> MessagesStream | None:
    if not openai.is_stream(body):
        return None
    return MessagesStream(provider, model, openai.include_usage(body), strict)


# --- request ---------------------------------------------------------------------------------


def messages_body(body: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The Messages API fields for an OpenAI chat request (no ``model`` or ``stream``)."""
    openai.check_params(body, provider, SUPPORTED)
    openai.single_choice(body, provider)
    system, turns = _conversation(openai.messages(body), provider)
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


def _conversation(
    messages: list[dict[str, Any]], provider: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns) with consecutive turns of one role merged, as Anthropic requires."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message["role"]
        if role in ("system", "developer"):
            system.append({"type": "text", "text": openai.text_of(message.get("content"), where)})
            continue
        if role == "user":
            role, blocks = "user", _user_blocks(message, where, provider)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, where, provider)]
        else:
            raise openai.refuse(provider, where, f"message role {role!r} is not supported.")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


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


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [*openai.thinking_blocks_of(message, where)]
    text = openai.text_of(message.get("content"), where)
    if text:
        blocks.append({"type": "text", "text": text})
    for call_id, name, arguments in openai.tool_calls_of(message, where):
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str, provider: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise openai.refuse(provider, where, "a tool message needs 'tool_call_id'.")
    return {
        "type": "tool_result",
        "tool_use_id": call_id,
        "content": openai.text_of(message.get("content"), where),
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


# --- answer ----------------------------------------------------------------------------------


def read_message(provider: str, status: int, body: bytes, model: str, strict: bool = True) -> bytes:
    """An OpenAI chat completion (or error) from a Messages API answer; not ``strict``, as Portkey
    has it: the provider's ``stop_reason`` and its content blocks but tool uses, as sent."""
    if status >= 400:
        return upstream_error(provider, status, body, ("error",))
    message = json_object(provider, body)
    texts: list[str] = []
    thoughts: list[str] = []
    signed: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thoughts.append(block.get("thinking", ""))
            signed.append({"type": kind, "thinking": thoughts[-1], "signature": block.get("signature", "")})
        elif kind == "redacted_thinking":
            signed.append({"type": kind, "data": block.get("data", "")})
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input", {})).decode()
            calls.append(tool_call(block.get("id") or new_id("toolu_"), block.get("name", ""), arguments))
    reason = message.get("stop_reason")
    blocks = None if strict else [b for b in message.get("content") or [] if b.get("type") != "tool_use"]
    return completion(
        response_id=message.get("id") or "",
        model=message.get("model") or model,
        content="".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) or None,
        thinking_blocks=signed,
        tool_calls=calls,
        finish_reason=extras.finish_reason(reason, _FINISH_REASONS.get(reason or "", "stop"), strict),
        usage=_usage(message.get("usage") or {}),
        content_blocks=blocks,
    )


def _usage(counts: Mapping[str, Any]) -> dict[str, Any]:
    cached = counts.get("cache_read_input_tokens") or 0
    written = counts.get("cache_creation_input_tokens") or 0
    prompt = (counts.get("input_tokens") or 0) + cached + written
    if not cached and not written:
        return usage(prompt, counts.get("output_tokens") or 0)
    return usage(prompt, counts.get("output_tokens") or 0, cached=cached, cache_write=written)


class MessagesStream:
    """Translates one Messages API event stream (see :class:`~gateway.providers.base.StreamTranslator`)."""

    __slots__ = ("_chunks", "_counts", "_provider", "_sse", "_strict", "_thinking")

    def __init__(self, provider: str, model: str, include_usage: bool, strict: bool = True) -> None:
        self._provider = provider
        #: ``False``: block starts and deltas also go out as Portkey's ``content_blocks``.
        self._strict = strict
        self._sse = SseDecoder()
        self._chunks = ChunkWriter(model, include_usage)
        self._counts: dict[str, Any] = {}
        #: The text of the thinking block being streamed, returned whole with its signature.
        self._thinking: list[str] = []

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._chunks.usage

    def feed(self, data: bytes) -> bytes:
        return self._chunks.each(self._sse.feed(data), self._event)

    def end(self) -> bytes:
        # Only ``message_stop`` completes the stream (and wrote [DONE]): a body that ended after
        # ``message_delta``, or inside the ``message_stop`` event, was still cut.
        return self._chunks.end(self._provider, finished_by_close=True)

    def _event(self, event: SseEvent) -> bytes:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamBroken(f"Provider {self._provider} sent a stream event that is not JSON.") from None
        kind = payload.get("type") if isinstance(payload, dict) else None
        chunks = self._chunks
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "message_start":
            message = payload.get("message") or {}
            chunks.start(message.get("id") or new_id(), message.get("model"))
            self._count(message.get("usage"))
            return chunks.role()
        if kind == "message_delta":
            self._count(payload.get("usage"))
            reason = (payload.get("delta") or {}).get("stop_reason")
            if not reason:
                return b""
            return chunks.finish(
                extras.finish_reason(reason, _FINISH_REASONS.get(reason, "stop"), self._strict)
            )
        if kind == "message_stop":
            return chunks.close()
        if kind == "error":
            error = payload.get("error") or {}
            kind = error.get("type") or "api_error"
            status = _ERROR_STATUS.get(kind, 500)
            raise ProviderError(self._provider, status, error.get("message") or kind, kind)
        return b""  # ping, content_block_stop, and event types added after this was written

    def _block_start(self, payload: Mapping[str, Any]) -> bytes:
        block = payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            return self._chunks.tool_start(payload.get("index"), block.get("id", ""), block.get("name", ""))
        blocks = None if self._strict else extras.stream_block(payload.get("index"), block)
        if kind == "text":
            return self._chunks.text(block.get("text", ""), blocks)
        if kind == "thinking":
            self._thinking = [block.get("thinking", "")]
            return self._chunks.reasoning(self._thinking[0], blocks)
        if kind == "redacted_thinking":
            return self._chunks.thinking_block({"type": kind, "data": block.get("data", "")}, blocks)
        return self._chunks.content_blocks(blocks)

    def _delta(self, payload: Mapping[str, Any]) -> bytes:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "input_json_delta":
            return self._chunks.tool_arguments(payload.get("index"), delta.get("partial_json", ""))
        blocks = None if self._strict else extras.stream_block(payload.get("index"), delta)
        if kind == "text_delta":
            return self._chunks.text(delta.get("text", ""), blocks)
        if kind == "thinking_delta":
            self._thinking.append(delta.get("thinking", ""))
            return self._chunks.reasoning(self._thinking[-1], blocks)
        if kind == "signature_delta":
            block = {
                "type": "thinking",
                "thinking": "".join(self._thinking),
                "signature": delta.get("signature"),
            }
            return self._chunks.thinking_block(block, blocks)
        # citations_delta and delta types added after this was written: Portkey's blocks only.
        return self._chunks.content_blocks(blocks)

    def _count(self, counts: Mapping[str, Any] | None) -> None:
        """Usage arrives in parts: input counts at the start, output counts at the end."""
        if counts:
            self._counts.update((k, v) for k, v in counts.items() if v is not None)
            self._chunks.usage = _usage(self._counts)
