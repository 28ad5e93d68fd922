"""Reading the Anthropic Messages API's answers into OpenAI's: message bodies, their named-event
stream (``message_start``, ``content_block_*``, ``message_delta``, ...: translated one by one;
``error`` events become OpenAI error events) and Anthropic's errors. Shared by ``anthropic.py``
and ``vertex.py`` (Claude on Vertex AI), which build the requests these answer.

Text, ``thinking`` as ``reasoning_content``, ``tool_use`` as ``tool_calls``; cache reads and
writes are counted in ``prompt_tokens`` (as OpenAI counts cached tokens) and detailed apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers.openai_format import (
    completion,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "ERROR_STATUS",
    "MessagesStream",
    "read_message",
    "usage_of",
]

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
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


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
        usage=usage_of(message.get("usage") or {}),
        content_blocks=blocks,
    )


def usage_of(counts: Mapping[str, Any]) -> dict[str, Any]:
    cached = counts.get("cache_read_input_tokens") or 0
    written = counts.get("cache_creation_input_tokens") or 0
    prompt = (counts.get("input_tokens") or 0) + cached + written
    if not cached and not written:
        return usage(prompt, counts.get("output_tokens") or 0)
    return usage(prompt, counts.get("output_tokens") or 0, cached=cached, cache_write=written)


class MessagesStream(TranslatedStream[SseEvent]):
    """Translates one Messages API event stream (see :class:`~gateway.providers.base.StreamTranslator`).

    Only ``message_stop`` completes the stream (and writes [DONE]): a body that ended after
    ``message_delta``, or inside the ``message_stop`` event, was still cut.
    """

    __slots__ = ("_counts", "_thinking")

    _finished_by_close = True

    def __init__(self, provider: str, model: str, include_usage: bool, strict: bool = True) -> None:
        # Not strict: block starts and deltas also go out as Portkey's ``content_blocks``.
        super().__init__(provider, model, include_usage, strict, SseDecoder())
        self._counts: dict[str, Any] = {}
        #: The text of the thinking block being streamed, returned whole with its signature.
        self._thinking: list[str] = []

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
            status = ERROR_STATUS.get(kind, 500)
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
            self._chunks.usage = usage_of(self._counts)
