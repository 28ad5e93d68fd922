"""One connection of the lean upstream client (``upstream/lean.py``): it writes a request,
parses the response with aiohttp's parser into aiohttp's ``StreamReader``, and watches for silence.

A response whose head arrived resolves :meth:`LeanConnection.exchange`; its body goes on arriving
into the reader. Failures are the aiohttp exceptions the session raises: before the head they fail
the exchange, in the body they fail the reader. :attr:`LeanConnection.reusable` says whether the
connection may serve another request.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import ClientOSError, ClientPayloadError, ServerDisconnectedError, SocketTimeoutError
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import HttpProcessingError, HttpResponseParser, RawResponseMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

__all__ = [
    "LeanConnection",
    "drop",
]

#: Read buffer of a response body, as aiohttp's default (``read_bufsize``).
_READ_BUFFER: Final = 2**16
#: Informational answers before the final one (101 is final: the connection switched protocols).
_INTERIM: Final = frozenset(range(100, 200)) - {101}
#: Statuses whose response never has a body (RFC 9112 §6.3).
_NO_BODY: Final = frozenset((204, 304, *range(100, 200)))


class LeanConnection(BaseProtocol):
    """One upstream connection: writes requests, parses responses, watches for silence."""

    __slots__ = (
        "_idle_timeout",
        "_last_read",
        "_payload",
        "_should_close",
        "_waiter",
        "_watchdog",
        "idle_since",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, idle_timeout: float) -> None:
        super().__init__(loop)
        self._idle_timeout = idle_timeout
        self._waiter: asyncio.Future[tuple[RawResponseMessage, StreamReader]] | None = None
        self._payload: StreamReader | None = None
        self._should_close = False
        self._last_read = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        #: Idle since (loop time), while pooled.
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._parser = HttpResponseParser(
            self,
            self._loop,
            _READ_BUFFER,
            payload_exception=ClientPayloadError,
            read_until_eof=True,  # a body with neither length nor chunks ends with the connection
            auto_decompress=False,  # bytes go back as sent, Content-Encoding and all
        )

    @property
    def reusable(self) -> bool:
        """Open, idle, and its last response was read to its end with nothing after it."""
        transport = self.transport
        return (
            transport is not None
            and not transport.is_closing()
            and not self._should_close
            and self._waiter is None
            and (self._payload is None or (self._payload.is_eof() and self._payload.exception() is None))
        )

    async def exchange(self, head: bytes, body: bytes) -> tuple[RawResponseMessage, StreamReader]:
        """Send one request; its response's head and body reader once the head arrived."""
        assert self.transport is not None
        self._payload = None
        waiter: asyncio.Future[tuple[RawResponseMessage, StreamReader]] = self._loop.create_future()
        self._waiter = waiter
        self._last_read = self._loop.time()
        self._watchdog = self._loop.call_at(self._last_read + self._idle_timeout, self._check_idle)
        self.transport.writelines((head, body))
        if self._paused:  # a big body fills the socket's buffer: wait until it drained
            await self._drain_helper()
        return await waiter

    def data_received(self, data: bytes) -> None:
        # b"" comes from resume_reading (BaseProtocol): the parser goes on with what it held.
        if data:
            self._last_read = self._loop.time()
            if self._waiter is None and (self._payload is None or self._payload.is_eof()):
                self._should_close = True  # bytes nobody asked for: this connection is out of step
                return
        if self._parser is None:
            return
        try:
            messages, _, _ = self._parser.feed_data(data)
        except HttpProcessingError as exc:
            # Before the head: the exchange makes it a ClientResponseError; in the body, the
            # reader fails as the session's does on a malformed body.
            self._fail(exc, ClientPayloadError(f"Response payload is not completed: {exc!r}"))
            return
        for message, payload in messages:
            if message.code in _INTERIM:
                continue  # 100 Continue, 103 Early Hints: the answer follows (aiohttp skips them too)
            # After a 101 the bytes are another protocol's: never reuse the connection.
            self._should_close = self._should_close or message.should_close or message.code == 101
            if message.code in _NO_BODY:
                payload = EMPTY_PAYLOAD
            self._payload = payload
            payload.on_eof(self._stop_watchdog)
            if self._waiter is not None:
                waiter, self._waiter = self._waiter, None
                if not waiter.done():
                    waiter.set_result((message, payload))

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_watchdog()
        self._should_close = True
        parser, self._parser = self._parser, None
        try:
            if parser is not None:
                parser.feed_eof()  # the end of a body read to the end of the connection
        except HttpProcessingError:  # (the parser set ClientPayloadError on the payload itself)
            pass
        payload = self._payload
        if payload is not None and not payload.is_eof():
            payload.set_exception(ClientPayloadError("Response payload is not completed"))
        if self._waiter is not None:
            self._fail(ServerDisconnectedError() if exc is None else ClientOSError(*exc.args))
        super().connection_lost(exc)

    def _fail(self, exc: BaseException, in_body: BaseException | None = None) -> None:
        """End the exchange in flight with ``exc`` (``in_body`` for a body being read), and the
        connection with it."""
        self._should_close = True
        self._stop_watchdog()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._payload is not None and not self._payload.is_eof():
            self._payload.set_exception(in_body or exc)
        if self.transport is not None:
            self.transport.abort()

    def _check_idle(self) -> None:
        """The idle timeout: one timer per silence rather than one rescheduled per read."""
        now = self._loop.time()
        if self._reading_paused:  # the client is slow, not the provider
            self._last_read = now
        due = self._last_read + self._idle_timeout
        if now < due:
            self._watchdog = self._loop.call_at(due, self._check_idle)
            return
        self._watchdog = None
        self._fail(SocketTimeoutError("Timeout on reading data from socket"))

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None


def drop(connection: LeanConnection) -> None:
    """Close ``connection`` (never to be reused)."""
    if connection.transport is not None:
        connection.transport.close()
