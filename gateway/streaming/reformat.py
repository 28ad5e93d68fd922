"""A chat answer written as a client format's answer (``formats/``), on its way to the client.

The relays (``relay.py``, ``translated.py``) write every answer in the chat form: bytes passed
through from an OpenAI-format provider, or chunks a translating relay made. For a request that came
in another format, the response they write to is a :class:`ReformattingResponse`: a chat event
stream is parsed as it is written and each chunk goes out at once as the client format's events
(an in-band ``{"error": ...}`` event as the format's error event); a JSON body (a small one is
never written here: :func:`reformatted_body` converts it whole) is collected and converted at its
end. The chat bytes the relay saw stay its own: usage accounting and the cache keep reading them.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.formats.base import FormatStream, InboundFormat
from gateway.streaming.sse import SseDecoder, SseEvent

__all__ = [
    "FormatEvents",
    "ReformattingResponse",
    "reformatted_body",
    "reformatted_events",
]

_DONE = b"[DONE]"


class ReformattingResponse(web.StreamResponse):
    """A relay's response for a client format: chat in, the format out, nothing buffered but a
    JSON answer (which is converted whole when it ends)."""

    def __init__(
        self,
        status: int,
        reason: str | None,
        headers: CIMultiDict[str],
        *,
        format: InboundFormat,
        request: dict[str, Any],
    ) -> None:
        headers["X-Accel-Buffering"] = "no"
        super().__init__(status=status, reason=reason, headers=headers)
        self._format = format
        self._request = request
        streamed = status < 300 and headers.get("Content-Type", "").startswith("text/event-stream")
        self._stream: FormatEvents | None = FormatEvents(format.stream(request)) if streamed else None
        self._held = bytearray()

    async def prepare(self, request: web.BaseRequest) -> Any:
        # The converted body's length is not the provider's.
        self.content_length = None
        return await super().prepare(request)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._stream is None:
            self._held += data
            return
        out = self._stream.feed(bytes(data))
        if out:
            await super().write(out)

    async def write_eof(self, data: bytes = b"") -> None:
        if self._stream is None:
            converted = reformatted_body(self.status, bytes(self._held), self._format, self._request)
            await super().write(converted)
        await super().write_eof(data)


class FormatEvents:
    """Chat SSE bytes, as they come, → the format's events."""

    __slots__ = ("_decoder", "_ended", "_stream")

    def __init__(self, stream: FormatStream) -> None:
        self._decoder = SseDecoder()
        self._stream = stream
        self._ended = False

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._event(event) for event in self._decoder.feed(data))

    def _event(self, event: SseEvent) -> bytes:
        if self._ended:
            return b""
        if event.data == _DONE:
            self._ended = True
            return self._stream.end()
        chunk = _json(event.data)
        if chunk is None:
            return b""  # not a chat chunk (a comment-like keep-alive): nothing the format has
        if "error" in chunk and not chunk.get("choices"):
            self._ended = True
            return self._stream.end(chunk)
        return self._stream.feed(chunk)


def reformatted_events(body: bytes, format: InboundFormat, request: dict[str, Any]) -> bytes:
    """A whole chat event stream (a cache HIT, a checked answer) as the format's events."""
    return FormatEvents(format.stream(request)).feed(body)


def reformatted_body(status: int, body: bytes, format: InboundFormat, request: dict[str, Any]) -> bytes:
    """A whole chat JSON answer, or an error of any shape, as the format's JSON."""
    parsed = _json(body)
    if status < 300 and parsed is not None and "choices" in parsed:
        answer = format.from_chat(parsed, request)
        if "hook_results" in parsed:
            answer["hook_results"] = parsed["hook_results"]
        return orjson.dumps(answer)
    if parsed is None or "error" not in parsed:
        parsed = {"error": {"message": f"The provider answered with status {status} and no readable error."}}
    return orjson.dumps(format.error(status, parsed))


def _json(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
