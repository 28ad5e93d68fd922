"""Reading OCI Generative AI's GENERIC chat answers into OpenAI's: whole answers, their stream and
OCI's errors. ``oracle.py`` builds the requests these answer.

A whole answer is ``{"modelId", "chatResponse": {"choices": [{"message": {"content": [{"type":
"TEXT", "text"}], "toolCalls"}, "finishReason"}], "usage"}}``; usage counts are camelCase.
A stream is data-only SSE: each event is one choice's delta (``{"index", "message"}``), the last
one carries ``finishReason``, and one more carries only ``usage`` (asked for with
``streamOptions.isIncludeUsage``); the body then ends. Errors are ``{"code", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers.openai_format import ChunkWriter, completion, new_id, tool_call, upstream_error, usage
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "SLUG",
    "ChatStream",
    "read_chat",
]

SLUG = "oracle"
#: OCI passes on the serving model's own reason (lower case for Meta, xAI and OpenAI models).
_FINISH_REASONS = {
    "stop": "stop",
    "complete": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
}
#: An error event inside a stream carries no status: a failed generation is the server's.
_ERROR_STATUS = 500


def _finish(raw: object, strict: bool) -> str:
    mapped = _FINISH_REASONS.get(str(raw).lower(), "stop")
    return extras.finish_reason(raw, mapped, strict)


def read_chat(status: int, body: bytes, model: str, strict: bool = True) -> bytes:
    """An OpenAI chat completion (or error) from a GENERIC chat answer; not ``strict``, with the
    finish reason as OCI sent it, as Portkey has it."""
    if status >= 400:
        return upstream_error(SLUG, status, body, ())
    answer = json_object(SLUG, body).get("chatResponse")
    if not isinstance(answer, dict) or not _first_choice(answer.get("choices")):
        raise ProviderError(SLUG, 502, "the answer holds no chatResponse.choices.", "bad_upstream_response")
    choice = answer["choices"][0]
    message = choice.get("message") or {}
    text = "".join(_texts(message.get("content")))
    calls = [
        tool_call(
            call.get("id") or new_id("call_"), call.get("name") or "", _arguments(call.get("arguments"))
        )
        for call in message.get("toolCalls") or []
    ]
    counts = answer.get("usage")
    return completion(
        response_id=new_id(),
        model=model,
        content=text if text or not calls else None,
        reasoning=message.get("reasoningContent") or None,
        tool_calls=calls,
        finish_reason=_finish(choice.get("finishReason") or "stop", strict),
        usage=_usage(counts) if isinstance(counts, dict) else None,
    )


def _first_choice(choices: Any) -> bool:
    return isinstance(choices, list) and bool(choices) and isinstance(choices[0], dict)


def _texts(content: Any) -> list[str]:
    return [part.get("text") or "" for part in content or () if part.get("type") == "TEXT"]


def _arguments(value: Any) -> str:
    """Tool-call arguments are a JSON string in OCI's reference; an object is encoded as one."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value if value is not None else {}).decode()


def _usage(counts: Mapping[str, Any]) -> dict[str, Any]:
    prompt = int(counts.get("promptTokens") or 0)
    output = int(counts.get("completionTokens") or 0)
    cached = (counts.get("promptTokensDetails") or {}).get("cachedTokens")
    reasoning = (counts.get("completionTokensDetails") or {}).get("reasoningTokens")
    return usage(
        prompt,
        output,
        cached=int(cached) if cached is not None else None,
        reasoning=int(reasoning) if reasoning is not None else None,
    )


class ChatStream(TranslatedStream[SseEvent]):
    """Translates one GENERIC chat stream (see :class:`~gateway.providers.base.StreamTranslator`).

    Tool calls arrive as a delta naming the call (``id``, ``name``) and deltas with more of its
    ``arguments`` (without the id, or repeating it); the later ones belong to the call last named.
    """

    __slots__ = ("_call", "_started")

    def __init__(self, model: str, include_usage: bool, strict: bool = True) -> None:
        super().__init__(SLUG, model, include_usage, strict, SseDecoder())
        self._started = False
        #: The key of the tool call that argument deltas continue.
        self._call: object = None

    def _event(self, event: SseEvent) -> bytes:
        if event.data == b"[DONE]":
            return b""
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not JSON.") from None
        if not isinstance(payload, dict):
            raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not an object.")
        out = b""
        if not self._started:
            self._started = True
            out = self._chunks.role()
        message = payload.get("message")
        if isinstance(message, dict):
            out += self._message(message)
        elif isinstance(message, str) and "code" in payload:  # OCI's error shape, sent mid-stream
            raise ProviderError(SLUG, _ERROR_STATUS, message, str(payload["code"]))
        # Membership first: the text deltas (nearly every event) carry neither.
        if "usage" in payload and isinstance(payload["usage"], dict):
            self._chunks.usage = _usage(payload["usage"])
        reason = payload.get("finishReason")
        if reason:
            out += self._chunks.finish(_finish(reason, self._strict))
        return out

    def _message(self, message: Mapping[str, Any]) -> bytes:
        chunks = self._chunks
        out = b""
        for part in message.get("content") or ():
            if part.get("type") == "TEXT":
                out += chunks.text(part.get("text") or "")
        thought = message.get("reasoningContent")
        if thought:
            out += chunks.reasoning(thought)
        if "toolCalls" in message:
            for call in message["toolCalls"] or ():
                out += self._tool_call(chunks, call)
        return out

    def _tool_call(self, chunks: ChunkWriter, call: Mapping[str, Any]) -> bytes:
        arguments = _arguments(call.get("arguments")) if call.get("arguments") is not None else ""
        call_id = call.get("id")
        if call_id is not None and call_id == self._call:  # a model that repeats the id on each delta
            return chunks.tool_arguments(call_id, arguments)
        if call_id or call.get("name"):
            self._call = call_id or object()
            return chunks.tool_start(
                self._call, call_id or new_id("call_"), call.get("name") or "", arguments
            )
        return chunks.tool_arguments(self._call, arguments)
