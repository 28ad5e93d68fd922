"""Bridge one client websocket to one provider websocket: every message relayed as it arrives.

Messages keep their type and bytes (text frames are read undecoded and sent as text: no UTF-8
round trip) and their order (one pump per direction, each sending before it reads the next).
Backpressure holds end to end: a pump waits for its send to drain before reading again, and
aiohttp stops reading a socket whose unread messages pile up, so a slow reader slows its sender
instead of growing memory. Each side's close code and reason are passed to the other. The only
message looked into is a provider's ``response.done`` (found by its first bytes), for usage.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import ClientWebSocketResponse, WSMsgType, web

from gateway.observability.realtime import RealtimeCounters

__all__ = [
    "GOING_AWAY",
    "INTERNAL_ERROR",
    "Session",
    "bridge",
    "close_both",
    "close_reason",
]

#: ``response.done`` events carry the usage; the event type is among the first bytes of the JSON.
_RESPONSE_DONE = b'"response.done"'
_TYPE_WITHIN = 96
#: A close reason is at most 123 bytes (RFC 6455 §5.5: control frames carry ≤ 125 bytes).
_MAX_REASON = 123
#: Close codes a peer may not send (1005 no code, 1006 abnormal, 1015 TLS) → what is sent instead.
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}
GOING_AWAY = 1001
INTERNAL_ERROR = 1011

WebSocket = web.WebSocketResponse | ClientWebSocketResponse[bool]


@dataclass(slots=True)
class Session:
    """What one bridged session did, for its access-log record."""

    #: Token counts summed over every ``response.done`` (OpenAI's usage field names).
    usage: dict[str, int] = field(default_factory=dict)
    #: The part of ``input_tokens`` read from the provider's prompt cache, summed likewise.
    cached_tokens: int = 0
    #: Loop time of the last message either way (the idle timeout counts from it).
    last_message: float = 0.0
    #: ``client`` or ``upstream`` (which closed first), or ``idle``.
    ended_by: str = ""
    close_code: int | None = None
    #: The close (code, reason) being passed on: a cancellation mid-close (the gateway closing the
    #: client's connection cancels the handler) must still send this one, not a generic one.
    closing: tuple[int, bytes] | None = None

    def count_usage(self, event: bytes) -> None:
        try:
            usage = orjson.loads(event).get("response", {}).get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return  # not the event it looked like: nothing to count
        for name in ("input_tokens", "output_tokens", "total_tokens"):
            if isinstance(usage.get(name), int):
                self.usage[name] = self.usage.get(name, 0) + usage[name]
        cached = (usage.get("input_token_details") or {}).get("cached_tokens")
        if isinstance(cached, int):
            self.cached_tokens += cached

    def usage_report(self) -> dict[str, Any]:
        """The session's usage in the Responses naming (``input_tokens_details.cached_tokens``)."""
        return {**self.usage, "input_tokens_details": {"cached_tokens": self.cached_tokens}}


async def bridge(
    client: web.WebSocketResponse,
    upstream: ClientWebSocketResponse[bool],
    counters: RealtimeCounters,
    idle_timeout: float,
    session: Session,
) -> None:
    """Relay until either side closes (its code and reason passed on), or the session stays idle past
    ``idle_timeout`` s (0: never; both sides closed with 1000). When this task is cancelled (a
    drain, a client connection lost), the relaying stops and the caller closes both sides
    (:func:`close_both`). ``session`` is filled in as it goes, so the caller has it either way."""
    loop = asyncio.get_running_loop()
    session.last_message = loop.time()
    down = loop.create_task(_pump(upstream, client, session, counters, up=False))
    idle = _IdleWatch(session, client, upstream, idle_timeout) if idle_timeout else None
    try:
        await _pump(client, upstream, session, counters, up=True)
        await down
    finally:
        down.cancel()
        if idle is not None:
            await idle.stop()


async def _pump(
    source: WebSocket, sink: WebSocket, session: Session, counters: RealtimeCounters, *, up: bool
) -> None:
    """Relay ``source``'s messages to ``sink`` until ``source`` closes, then pass its close on."""
    receive = source.receive
    send = sink.send_frame
    clock = asyncio.get_running_loop().time
    text, binary = WSMsgType.TEXT, WSMsgType.BINARY
    while True:
        message = await receive()
        kind = message.type
        if kind is not text and kind is not binary:
            break
        data: bytes = message.data
        session.last_message = clock()
        if up:
            counters.frames_up += 1
            counters.bytes_up += len(data)
        else:
            counters.frames_down += 1
            counters.bytes_down += len(data)
            if kind is text and data.find(_RESPONSE_DONE, 0, _TYPE_WITHIN) >= 0:
                session.count_usage(data)
        try:
            await send(data, kind)
        except ConnectionResetError:
            return  # the sink is gone; its own pump passes its close on
    if kind is WSMsgType.CLOSING:
        return  # closed from here (the other pump passed a close on, or the idle timeout)
    # This side ended the session (a close, an error, a lost connection): the other side gets
    # its code and reason.
    if kind is WSMsgType.CLOSE:
        code = message.data
    else:  # an error carries its code (1009 too big, 1007 bad UTF-8); the socket's is reset to 1006
        code = getattr(message.data, "code", None) or source.close_code or INTERNAL_ERROR
    reason = message.extra if kind is WSMsgType.CLOSE else ("" if message.data is None else f"{message.data}")
    if not session.ended_by:
        session.ended_by, session.close_code = ("client" if up else "upstream"), code
    session.closing = (_UNSENDABLE.get(code, code), close_reason(str(reason or "")))
    await sink.close(code=session.closing[0], message=session.closing[1])


def close_reason(text: str) -> bytes:
    """``text`` as a close reason: UTF-8, cut to the 123 bytes a close frame holds."""
    return text.encode()[:_MAX_REASON].decode("utf-8", "ignore").encode()


async def close_both(client: WebSocket, upstream: WebSocket, code: int, reason: bytes) -> None:
    for side in (client, upstream):
        with contextlib.suppress(ConnectionError):
            await side.close(code=code, message=reason)


class _IdleWatch:
    """Closes a session once no message went either way for ``seconds``: one timer, re-armed
    lazily (the pumps only stamp ``last_message``, at no cost per message)."""

    __slots__ = ("_client", "_handle", "_seconds", "_session", "_upstream", "closing")

    def __init__(self, session: Session, client: WebSocket, upstream: WebSocket, seconds: float) -> None:
        self._session, self._client, self._upstream = session, client, upstream
        self._seconds = seconds
        self.closing: asyncio.Task[None] | None = None
        self._handle = asyncio.get_running_loop().call_later(seconds, self._check)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        left = self._session.last_message + self._seconds - loop.time()
        if left > 0:
            self._handle = loop.call_later(left, self._check)
            return
        self._session.ended_by, self._session.close_code = "idle", 1000
        reason = close_reason(f"idle timeout: no message for {self._seconds:g} s")
        self._session.closing = (1000, reason)
        self.closing = loop.create_task(close_both(self._client, self._upstream, 1000, reason))

    async def stop(self) -> None:
        """Disarm; wait for an idle close already under way."""
        self._handle.cancel()
        if self.closing is not None:
            await self.closing
