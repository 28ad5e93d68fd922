"""Reading Cohere's v2 answers into OpenAI's: Chat bodies, their named-event stream, Embed bodies
and Cohere's errors. ``cohere.py`` builds the requests these answer.

Chat: text, ``thinking`` content and the ``tool_plan`` (the model's plan written before it calls
tools) as ``reasoning_content``, tool calls as they are; usage from ``usage.tokens`` (what the model
processed) when present, else ``billed_units``. ``finish_reason`` ``ERROR`` is an error (status
500), ``TIMEOUT`` a ``length`` stop. Streams: the named events (``message-start``,
``content-delta``, ``tool-call-*``, ``message-end``, ...) are translated one by one; the
``data: [DONE]`` Cohere still sends after ``message-end`` is not JSON and is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers.base import NativeRequest
from gateway.providers.openai_format import (
    ChunkWriter,
    completion,
    embeddings,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "SLUG",
    "ChatStream",
    "read_chat",
    "read_embeddings",
    "read_error",
]

SLUG = "cohere"
_FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    # Cut short by Cohere's time limit: what came is valid, like a max_tokens stop.
    "TIMEOUT": "length",
    "TOOL_CALL": "tool_calls",
}
#: Streams whose finish reason is an error carry no status: a failed generation is the server's.
_ERROR_STATUS = 500


def read_error(status: int, body: bytes) -> bytes:
    """Cohere's v2 errors are ``{"id", "message"}``; older ones ``{"message"}``."""
    return upstream_error(SLUG, status, body, ())


# --- chat ------------------------------------------------------------------------------------


def read_chat(status: int, body: bytes, model: str, strict: bool = True) -> bytes:
    """An OpenAI chat completion (or error) from a v2 Chat answer; not ``strict``, with Cohere's
    own ``finish_reason`` (``COMPLETE``...), as Portkey has it."""
    if status >= 400:
        return read_error(status, body)
    answer = json_object(SLUG, body)
    reason = answer.get("finish_reason") or "COMPLETE"
    if reason == "ERROR":
        raise ProviderError(SLUG, _ERROR_STATUS, "the generation failed (finish_reason ERROR).", reason)
    message = answer.get("message") or {}
    texts: list[str] = []
    thoughts: list[str] = []
    for part in message.get("content") or []:
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "thinking":
            thoughts.append(part.get("thinking", ""))
    if message.get("tool_plan"):
        thoughts.append(message["tool_plan"])
    functions = [
        (call.get("id") or "", call.get("function") or {}) for call in message.get("tool_calls") or []
    ]
    calls = [tool_call(i, f.get("name") or "", f.get("arguments") or "{}") for i, f in functions]
    return completion(
        response_id=answer.get("id") or new_id(),
        model=model,
        content="".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) or None,
        tool_calls=calls,
        finish_reason=extras.finish_reason(reason, _FINISH_REASONS.get(reason, "stop"), strict),
        usage=_usage(answer.get("usage") or {}),
    )


def _usage(counts: Mapping[str, Any]) -> dict[str, Any]:
    """``tokens`` counts what the model read and wrote (Cohere's own preamble included); the
    ``billed_units`` subset is used only when ``tokens`` is missing."""
    tokens = counts.get("tokens") or counts.get("billed_units") or {}
    prompt = int(tokens.get("input_tokens") or 0)
    output = int(tokens.get("output_tokens") or 0)
    cached = counts.get("cached_tokens")
    return usage(prompt, output, cached=int(cached)) if cached is not None else usage(prompt, output)


class ChatStream(TranslatedStream[SseEvent]):
    """Translates one v2 Chat event stream (see :class:`~gateway.providers.base.StreamTranslator`)."""

    __slots__ = ()

    def __init__(self, model: str, include_usage: bool, strict: bool = True) -> None:
        # Not strict: the finish chunk carries Cohere's own reason.
        super().__init__(SLUG, model, include_usage, strict, SseDecoder())

    def _event(self, event: SseEvent) -> bytes:
        if event.data == b"[DONE]":
            return b""  # Cohere's closing marker: message-end already closed the stream
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not JSON.") from None
        if not isinstance(payload, dict):
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not an object.")
        kind = payload.get("type") or event.event.decode("utf-8", "replace")
        message = (payload.get("delta") or {}).get("message") or {}
        chunks = self._chunks
        if kind in ("content-delta", "content-start"):
            return _content(chunks, message.get("content") or {})
        if kind == "tool-call-delta":
            function = (message.get("tool_calls") or {}).get("function") or {}
            return chunks.tool_arguments(payload.get("index"), function.get("arguments") or "")
        if kind == "tool-plan-delta":
            return chunks.reasoning(message.get("tool_plan") or "")
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            return chunks.tool_start(
                payload.get("index"),
                call.get("id") or "",
                function.get("name") or "",
                function.get("arguments") or "",
            )
        if kind == "message-start":
            chunks.start(payload.get("id") or new_id())
            return chunks.role()
        if kind == "message-end":
            return self._message_end(payload.get("delta") or {})
        if kind == "error":
            error = payload.get("error")
            text = error.get("message") if isinstance(error, dict) else error or payload.get("message")
            raise ProviderError(SLUG, _ERROR_STATUS, str(text or "stream error"), "stream_error")
        return b""  # content-end, tool-call-end, citations, and event types added after this was written

    def _message_end(self, delta: Mapping[str, Any]) -> bytes:
        reason = delta.get("finish_reason") or "COMPLETE"
        if delta.get("error") or reason == "ERROR":
            message = delta.get("error") or "the generation failed (finish_reason ERROR)."
            raise ProviderError(SLUG, _ERROR_STATUS, str(message), "ERROR")
        if delta.get("usage"):
            self._chunks.usage = _usage(delta["usage"])
        finish = extras.finish_reason(reason, _FINISH_REASONS.get(reason, "stop"), self._strict)
        return self._chunks.finish(finish) + self._chunks.close()


def _content(chunks: ChunkWriter, content: Mapping[str, Any]) -> bytes:
    """A content block's text or thinking (a block carries one of them)."""
    if "thinking" in content:
        return chunks.reasoning(content.get("thinking") or "")
    return chunks.text(content.get("text") or "")


# --- embeddings ---------------------------------------------------------------------------


def read_embeddings(status: int, body: bytes, native: NativeRequest) -> bytes:
    """OpenAI embeddings from a v2 Embed answer (floats, or base64 as the request asked); the token
    count from ``meta.tokens`` when present, else ``meta.billed_units``."""
    if status >= 400:
        return read_error(status, body)
    answer = json_object(SLUG, body)
    by_type = answer.get("embeddings") or {}
    vectors = by_type.get("float") or by_type.get("base64") or []
    meta = answer.get("meta") or {}
    counts = meta.get("tokens") or meta.get("billed_units") or {}
    return embeddings(native, vectors, int(counts.get("input_tokens") or 0))
