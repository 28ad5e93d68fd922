"""Reading AWS Bedrock's answers into OpenAI's: Converse JSON, ConverseStream's eventstream
(translated frame by frame), InvokeModel embeddings and AWS errors. ``bedrock.py`` builds the
requests these answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamBroken
from gateway.providers import extras
from gateway.providers.base import NativeRequest
from gateway.providers.openai_format import (
    completion,
    embeddings,
    error,
    new_id,
    tool_call,
    upstream_error,
    usage,
)
from gateway.providers.translated import json_object
from gateway.providers.translated_stream import TranslatedStream
from gateway.streaming.eventstream import EventStreamDecoder, EventStreamError, Frame

__all__ = [
    "EXCEPTION_STATUS",
    "SLUG",
    "ConverseStream",
    "read_converse",
    "read_embeddings",
    "read_error",
]

SLUG = "bedrock"
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: Stream exception types (lowercased) → the HTTP status Bedrock documents for the same exception.
EXCEPTION_STATUS = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "modelstreamerrorexception": 424,
    "modelerrorexception": 424,
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}


# --- chat -------------------------------------------------------------------------------------


def read_converse(status: int, body: bytes, model: str, strict: bool = True) -> bytes:
    """An OpenAI chat completion (or error) from a Converse answer; not ``strict``, as Portkey has
    it: the raw ``stopReason`` and ``content_blocks`` (text and thinking, in Anthropic's shape)."""
    if status >= 400:
        return read_error(status, body)
    answer = json_object(SLUG, body)
    message = (answer.get("output") or {}).get("message") or {}
    texts: list[str] = []
    thoughts: list[str] = []
    signed: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
            blocks.append({"type": "text", "text": block["text"]})
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input", {})).decode()
            calls.append(tool_call(use.get("toolUseId", ""), use.get("name", ""), arguments))
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]
            text = (reasoning.get("reasoningText") or {}).get("text", "")
            thoughts.append(text)
            signed.append(_thinking_block(reasoning, text))
            blocks.append(signed[-1])
    reason = answer.get("stopReason")
    return completion(
        response_id=new_id(),
        model=model,
        content="".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) or None,
        thinking_blocks=signed,
        tool_calls=calls,
        finish_reason=extras.finish_reason(reason, _FINISH_REASONS.get(reason or "", "stop"), strict),
        usage=_usage(answer.get("usage") or {}),
        content_blocks=None if strict else blocks,
    )


def _thinking_block(reasoning: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Converse's ``reasoningContent`` as the Anthropic-format thinking block clients send back
    (``bedrock.py`` turns it into ``reasoningContent`` again)."""
    if "redactedContent" in reasoning:
        return {"type": "redacted_thinking", "data": reasoning["redactedContent"]}
    signature = (reasoning.get("reasoningText") or {}).get("signature") or reasoning.get("signature", "")
    return {"type": "thinking", "thinking": text, "signature": signature}


def _usage(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Bedrock counts cache reads and writes apart from ``inputTokens``; OpenAI counts them in."""
    cached = counts.get("cacheReadInputTokens") or 0
    written = counts.get("cacheWriteInputTokens") or 0
    prompt = (counts.get("inputTokens") or 0) + cached + written
    return usage(prompt, counts.get("outputTokens") or 0, cached=cached or None, cache_write=written or None)


def read_error(status: int, body: bytes) -> bytes:
    """AWS's ``{"message": ...}`` (``"Message"`` from some services) in OpenAI's shape. The error
    type travels in the ``x-amzn-ErrorType`` header, which a body reader does not see."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    message = (parsed.get("message") or parsed.get("Message")) if isinstance(parsed, dict) else None
    if isinstance(message, str):
        return error(SLUG, status, message)
    return upstream_error(SLUG, status, body, ())


# --- stream ----------------------------------------------------------------------------------


class ConverseStream(TranslatedStream[Frame]):
    """Translates one ConverseStream event stream (see :class:`~gateway.providers.base.StreamTranslator`).

    The finish chunk goes out at ``messageStop``; the usage chunk and ``[DONE]`` at ``metadata``,
    which follows it. A stream that ends after ``messageStop`` without ``metadata`` still closes.
    """

    __slots__ = ("_thinking",)

    def __init__(self, model: str, include_usage: bool, strict: bool = True) -> None:
        # Not strict: deltas also go out as Portkey's ``content_blocks``; the raw stop reason.
        super().__init__(SLUG, model, include_usage, strict, EventStreamDecoder())
        #: The reasoning text being streamed, returned whole with its signature.
        self._thinking: list[str] = []

    def feed(self, data: bytes) -> bytes:
        try:
            frames = self._decoder.feed(data)
        except EventStreamError as exc:
            raise UpstreamBroken(f"Provider {SLUG} sent a corrupt event stream ({exc}).") from None
        return self._chunks.each(frames, self._event)

    def end(self) -> bytes:
        if self._decoder.pending:
            raise UpstreamBroken(f"Provider {SLUG} ended the stream in the middle of an event.")
        return super().end()

    def _event(self, frame: Frame) -> bytes:
        headers = frame.headers
        kind = headers.get(":message-type")
        if kind == "event":
            return self._converse_event(headers.get(":event-type"), _payload(frame))
        if kind == "exception":
            name = str(headers.get(":exception-type") or "exception")
            payload = _payload(frame)
            message = payload.get("message") or payload.get("Message") or name
            raise ProviderError(SLUG, EXCEPTION_STATUS.get(name.lower(), 500), str(message), name)
        if kind == "error":
            code = str(headers.get(":error-code") or "error")
            raise ProviderError(SLUG, 500, str(headers.get(":error-message") or code), code)
        return b""  # message types added after this was written

    def _converse_event(self, kind: object, payload: Mapping[str, Any]) -> bytes:
        chunks = self._chunks
        if kind == "contentBlockDelta":
            return self._delta(payload)
        if kind == "contentBlockStart":
            use = (payload.get("start") or {}).get("toolUse")
            if not use:
                return b""
            return chunks.tool_start(
                payload.get("contentBlockIndex"), use.get("toolUseId", ""), use.get("name", "")
            )
        if kind == "messageStart":
            return chunks.role()
        if kind == "messageStop":
            reason = payload.get("stopReason")
            mapped = _FINISH_REASONS.get(reason or "", "stop")
            return chunks.finish(extras.finish_reason(reason, mapped, self._strict))
        if kind == "metadata":
            chunks.usage = _usage(payload.get("usage") or {})
            return chunks.close()
        return b""  # contentBlockStop, and event types added after this was written

    def _delta(self, payload: Mapping[str, Any]) -> bytes:
        delta = payload.get("delta") or {}
        if "toolUse" in delta:
            fragment = delta["toolUse"].get("input", "")
            return self._chunks.tool_arguments(payload.get("contentBlockIndex"), fragment)
        blocks = None if self._strict else _stream_block(payload.get("contentBlockIndex") or 0, delta)
        if "text" in delta:
            return self._chunks.text(delta["text"], blocks)
        if "reasoningContent" in delta:
            return self._reasoning(delta["reasoningContent"], blocks)
        return b""  # citations, and delta types added after this was written

    def _reasoning(self, reasoning: Mapping[str, Any], blocks: list[dict[str, Any]] | None) -> bytes:
        if "text" in reasoning:
            self._thinking.append(reasoning["text"])
            return self._chunks.reasoning(reasoning["text"], blocks)
        if "signature" in reasoning or "redactedContent" in reasoning:
            block = _thinking_block(reasoning, "".join(self._thinking))
            self._thinking = []
            return self._chunks.thinking_block(block, blocks)
        return b""


def _stream_block(index: int, delta: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Portkey's streamed ``content_blocks`` for a Converse delta: its text, reasoning text,
    signature or redacted content in Anthropic's names; ``None`` for other deltas."""
    reasoning = delta.get("reasoningContent") or {}
    fields = {
        "thinking": reasoning.get("text"),
        "signature": reasoning.get("signature"),
        "text": delta.get("text"),
        "data": reasoning.get("redactedContent"),
    }
    found = {name: value for name, value in fields.items() if value}
    return [{"index": index, "delta": found}] if found else None


def _payload(frame: Frame) -> dict[str, Any]:
    """A frame's JSON payload (its random ``"p"`` padding field is simply never read)."""
    try:
        payload = orjson.loads(frame.payload)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        raise UpstreamBroken(f"Provider {SLUG} sent a stream event that is not a JSON object.")
    return payload


# --- embeddings ---------------------------------------------------------------------------


def read_embeddings(status: int, body: bytes, native: NativeRequest) -> bytes:
    """OpenAI embeddings from a Titan (``embedding``) or Cohere (``embeddings``, as floats or by type)
    answer. Cohere's answer holds no token count (Bedrock sends it in a
    header), so it reports 0."""
    if status >= 400:
        return read_error(status, body)
    answer = json_object(SLUG, body)
    vectors = answer.get("embeddings")
    if isinstance(answer.get("embedding"), list):
        vectors = [answer["embedding"]]
    elif isinstance(vectors, dict):
        vectors = vectors.get("float")
    if not isinstance(vectors, list):
        raise ProviderError(SLUG, 502, "the answer holds no float embeddings.", "bad_upstream_response")
    return embeddings(native, vectors, answer.get("inputTextTokenCount") or 0)
