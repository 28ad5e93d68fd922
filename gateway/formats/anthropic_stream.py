"""A chat completion stream as Anthropic's Messages event stream, chunk by chunk.

``message_start`` (then a ``ping``) goes out with the first chunk; each run of text, thinking or
one tool call's arguments is a content block (``content_block_start``, its deltas,
``content_block_stop``), a new kind of content closing the one before; ``message_delta`` (the
stop reason and the usage, which the chat stream sends last) and ``message_stop`` go out at the
end. Nothing is held back but that last usage: each chunk's events are returned at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "MessagesEvents",
    "anthropic_error",
    "error_type",
    "message_id",
    "stop_reason",
    "usage_of",
]

Json = dict[str, Any]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    "stop_sequence": "stop_sequence",
}


#: Anthropic's error type for each status (the SDK raises by status; the type is for the reader).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_ANTHROPIC_TYPES = frozenset(_ERROR_TYPES.values()) | {"api_error"}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP ``status``."""
    return _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def anthropic_error(status: int | None, openai_error: Mapping[str, Any]) -> Json:
    """An OpenAI-shaped error body in Anthropic's shape; without a ``status`` (an error in a
    stream already under way), the type comes from the OpenAI one where Anthropic has it."""
    error = openai_error.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    if status is not None:
        kind = error_type(status)
    else:
        theirs = error.get("type") if isinstance(error, dict) else None
        kind = theirs if theirs in _ANTHROPIC_TYPES else "api_error"
    out: Json = {
        "type": "error",
        "error": {"type": kind, "message": message if isinstance(message, str) else ""},
    }
    if "hook_results" in openai_error:  # a guardrail's verdict stays readable
        out["hook_results"] = openai_error["hook_results"]
    return out


def message_id(chat_id: Any) -> str:
    """A Message id (``msg_…``) for a chat completion's id."""
    text = chat_id if isinstance(chat_id, str) and chat_id else "gateway"
    return text if text.startswith("msg_") else f"msg_{text.removeprefix('chatcmpl-')}"


def stop_reason(finish: Any, matched: Any, request: Mapping[str, Any]) -> tuple[str, str | None]:
    """The Message's ``stop_reason`` and ``stop_sequence`` for a chat ``finish_reason``. A stop
    sequence is told apart from the end of a turn only when the provider names the one it
    matched (vLLM's ``stop_reason``)."""
    if isinstance(matched, str) and matched in (request.get("stop_sequences") or ()):
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish if isinstance(finish, str) else "stop", "end_turn"), None


def usage_of(usage: Any) -> Json:
    """Anthropic's usage for a chat usage: cached and cache-written tokens apart from the input
    (OpenAI counts them in ``prompt_tokens``)."""
    if not isinstance(usage, dict):
        usage = {}
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_creation_tokens") or 0
    return {
        "input_tokens": max((usage.get("prompt_tokens") or 0) - cached - written, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def _event(name: str, payload: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


_PING = _event("ping", {"type": "ping"})


class MessagesEvents:
    """One streamed answer's translator (a :class:`gateway.formats.base.FormatStream`)."""

    __slots__ = ("_block", "_finish", "_index", "_matched", "_request", "_started", "_tools", "_usage")

    def __init__(self, request: Mapping[str, Any]) -> None:
        self._request = request
        self._started = False
        #: The open block's kind (``text``, ``thinking``, ``tool:<n>``), ``""`` when none is open.
        self._block = ""
        #: The index the next block gets.
        self._index = 0
        #: A chat tool call's index → its block's index.
        self._tools: dict[int, int] = {}
        self._finish: Any = None
        self._matched: Any = None
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self._started else self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # Messages has one answer: n > 1 is not asked for
            delta = choice.get("delta") or {}
            if delta:
                out += self._delta(delta)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
                self._matched = choice.get("stop_reason")
        return out

    def end(self, error: dict[str, Any] | None = None) -> bytes:
        if error is not None:
            return _event("error", anthropic_error(None, error))
        out = b"" if self._started else self._start({})
        out += self._close()
        reason, sequence = stop_reason(self._finish, self._matched, self._request)
        usage = usage_of(self._usage)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + _event("message_stop", {"type": "message_stop"})

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        self._started = True
        message = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": chunk.get("model") or self._request.get("model", ""),
            "stop_reason": None,
            "stop_sequence": None,
            # The chat stream reports usage at its end: message_delta carries it.
            "usage": usage_of(None),
        }
        return _event("message_start", {"type": "message_start", "message": message}) + _PING

    def _delta(self, delta: Mapping[str, Any]) -> bytes:
        out = b""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._block_delta({"type": "thinking_delta", "thinking": reasoning})
        for block in delta.get("thinking_blocks") or ():
            out += self._signed(block)
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            out += self._open("text", {"type": "text", "text": ""})
            out += self._block_delta({"type": "text_delta", "text": text})
        for call in delta.get("tool_calls") or ():
            out += self._tool(call)
        return out

    def _signed(self, block: Mapping[str, Any]) -> bytes:
        """A whole thinking block from the chat form: its signature closes the thinking streamed
        so far; a redacted one is a block of its own."""
        if block.get("type") == "redacted_thinking":
            return (
                self._open("redacted", {"type": "redacted_thinking", "data": block.get("data", "")})
                + self._close()
            )
        out = b""
        if self._block != "thinking":
            out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._block_delta({"type": "thinking_delta", "thinking": block.get("thinking", "")})
        return out + self._block_delta({"type": "signature_delta", "signature": block.get("signature", "")})

    def _tool(self, call: Mapping[str, Any]) -> bytes:
        position = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if position not in self._tools:
            block = {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name", ""),
                "input": {},
            }
            out += self._open(f"tool:{position}", block)
            self._tools[position] = self._index - 1
        fragment = function.get("arguments")
        if isinstance(fragment, str) and fragment:
            index = self._tools[position]
            payload = {"type": "input_json_delta", "partial_json": fragment}
            out += _event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload}
            )
        return out

    def _open(self, kind: str, block: Json) -> bytes:
        if self._block == kind:
            return b""
        out = self._close()
        self._block = kind
        self._index += 1
        start = {"type": "content_block_start", "index": self._index - 1, "content_block": block}
        return out + _event("content_block_start", start)

    def _block_delta(self, delta: Json) -> bytes:
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": self._index - 1, "delta": delta}
        )

    def _close(self) -> bytes:
        if not self._block:
            return b""
        self._block = ""
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index - 1})
