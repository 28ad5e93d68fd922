"""A fast OpenAI-compatible mock provider: a raw asyncio protocol on uvloop, run in its own process.

``python -m benchmarks.mock_upstream PORT``. One process serves every scenario; each request picks its
behaviour with headers, so no restart is needed between scenarios:

- ``x-mock-latency-ms``: wait before the response headers (a timer, never a blocking sleep);
- ``x-mock-body-bytes``: size of a non-streaming completion (default ~300 bytes);
- ``x-mock-chunks`` / ``x-mock-interval-ms``: content chunks of a stream (``"stream": true`` in the
  body) and the pause between events; 0 sends the whole stream in one write;
- ``x-mock-usage: 1``: send OpenAI's final usage chunk before ``[DONE]``.

Streams use chunked transfer encoding, one HTTP chunk per SSE event and one write per event, so a
client can tell whether anything between it and the mock merged or split events. ``/audio/*`` uploads
are consumed and counted without being kept (answer: ``{"text": ..., "received": N}``). The parser
handles what benchmark clients and proxies send (Content-Length or chunked bodies, keep-alive); it is
not a general HTTP server.

A websocket upgrade at ``/v1/realtime`` turns the connection into the realtime mock: an echo of every
text and binary frame, unchanged (pings answered, a close returned). It is served by the same raw
protocol rather than an aiohttp server beside it, so the mock's cost per message stays a few
microseconds on the core it shares with the load generator, and one process and port serve every
scenario (``benchmarks/ws_wire.py`` holds the framing).
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import uvloop

from benchmarks import wire, ws_wire

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_UPGRADE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: %s\r\n\r\n"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-ratelimit-remaining-requests: 9999\r\n"


def _frame(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


def json_response(body: bytes) -> bytes:
    return _JSON_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


class BodyReader:
    """Consumes one request body incrementally (Content-Length or chunked), keeping it only if asked."""

    def __init__(self, length: int, chunked: bool, keep: bool) -> None:
        self.remaining, self.chunked, self.keep = length, chunked, keep
        self.received = 0
        self.parts: list[bytes] = []
        self._chunk_left = -1  # chunked: bytes of the current chunk (+2 for its CRLF), -1 = read a size line
        self._pending = b""

    def feed(self, data: bytes) -> tuple[bool, bytes]:
        """Eat ``data``; returns (body complete, bytes left over for the next request)."""
        return self._feed_chunked(data) if self.chunked else self._feed_length(data)

    def _take(self, piece: bytes) -> None:
        self.received += len(piece)
        if self.keep:
            self.parts.append(piece)

    def _feed_length(self, data: bytes) -> tuple[bool, bytes]:
        piece, rest = data[: self.remaining], data[self.remaining :]
        self._take(piece)
        self.remaining -= len(piece)
        return self.remaining == 0, rest

    def _feed_chunked(self, data: bytes) -> tuple[bool, bytes]:
        data = self._pending + data
        self._pending = b""
        while data:
            if self._chunk_left < 0:
                end = data.find(b"\r\n")
                if end < 0:
                    self._pending = data
                    return False, b""
                size = int(data[:end].split(b";")[0], 16)
                data = data[end + 2 :]
                if size == 0:  # no trailers from our clients: the final CRLF ends the body
                    return True, data[2:]
                self._chunk_left = size + 2
                continue
            piece, data = data[: self._chunk_left], data[self._chunk_left :]
            self._chunk_left -= len(piece)
            self._take(piece[: max(0, len(piece) - max(0, 2 - self._chunk_left))])
            if self._chunk_left == 0:
                self._chunk_left = -1
        return False, b""


class Request:
    """The parts of a request head the mock acts on."""

    def __init__(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.path = lines[0].split(b" ")[1] if b" " in lines[0] else b"/"
        self.headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()
        self.upload = b"/audio/" in self.path
        self.upgrade = self.headers.get(b"upgrade", b"").lower() == b"websocket"

    def knob(self, name: bytes, default: int) -> int:
        value = self.headers.get(name)
        return int(value) if value else default

    def body_reader(self) -> BodyReader:
        chunked = b"chunked" in self.headers.get(b"transfer-encoding", b"").lower()
        return BodyReader(self.knob(b"content-length", 0), chunked, keep=not self.upload)


class MockProtocol(asyncio.Protocol):
    """One keep-alive connection: reads a request, answers it (maybe over time), then reads the next."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._request: Request | None = None
        self._body: BodyReader | None = None
        self._busy = False  # a response is in flight: later requests wait in the buffer
        self._timer: asyncio.TimerHandle | None = None
        self._frames: ws_wire.FrameReader | None = None  # set once the connection is a websocket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()  # a client that leaves mid-stream stops its stream's timers
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._frames is not None:
            self._echo(self._frames, data)
            return
        if self._body is not None:
            done, data = self._body.feed(data)
            if not done:
                return
            self._respond()
        self._buffer += data
        self._next_request()

    def _next_request(self) -> None:
        while not self._busy and self._body is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._request = Request(self._buffer[:end])
            if self._request.upgrade:
                self._buffer = self._buffer[end + 4 :]
                self._accept_websocket(self._request)
                return
            self._body = self._request.body_reader()
            done, self._buffer = self._body.feed(self._buffer[end + 4 :])
            if not done:
                return
            self._respond()

    def _accept_websocket(self, request: Request) -> None:
        """The handshake at ``/v1/realtime`` (404 elsewhere); frames are echoed from then on."""
        if not request.path.split(b"?")[0].endswith(b"/v1/realtime"):
            self._write(_NOT_FOUND)
            self._close()
            return
        self._write(_UPGRADE % ws_wire.accept_key(request.headers.get(b"sec-websocket-key", b"")))
        self._frames = ws_wire.FrameReader()
        if self._buffer:
            self._echo(self._frames, self._buffer)
            self._buffer = b""

    def _echo(self, frames: ws_wire.FrameReader, data: bytes) -> None:
        """Every message frame back as it came (same first byte and payload, unmasked), in one write."""
        replies = []
        for head, payload in frames.feed(data):
            opcode = head & 0x0F
            if opcode == ws_wire.PING:
                replies.append(ws_wire.frame(ws_wire.FIN | ws_wire.PONG, payload))
            elif opcode == ws_wire.CLOSE:  # the close goes back, then the server ends the TCP connection
                self._write(b"".join(replies) + ws_wire.frame(head, payload))
                self._close()
                return
            elif opcode != ws_wire.PONG:
                replies.append(ws_wire.frame(head, payload))
        if replies:
            self._write(b"".join(replies))

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _respond(self) -> None:
        request, body = self._request, self._body
        assert request is not None
        assert body is not None
        self._body, self._busy = None, True
        latency = request.knob(b"x-mock-latency-ms", 0) / 1000
        if latency > 0:
            self._timer = asyncio.get_running_loop().call_later(latency, self._answer, request, body)
        else:
            self._answer(request, body)

    def _answer(self, request: Request, body: BodyReader) -> None:
        if request.upload:
            self._finish(json_response(b'{"text":"bench","received":%d}' % body.received))
        elif b'"stream":true' in b"".join(body.parts).replace(b" ", b""):
            self._start_stream(request)
        else:
            self._finish(json_response(wire.completion(request.knob(b"x-mock-body-bytes", 300))))

    def _start_stream(self, request: Request) -> None:
        events = wire.stream_events(request.knob(b"x-mock-chunks", 20), request.knob(b"x-mock-usage", 0) == 1)
        interval = request.knob(b"x-mock-interval-ms", 0) / 1000
        if interval <= 0:
            self._finish(_STREAM_HEAD + b"".join(map(_frame, events)) + b"0\r\n\r\n")
            return
        self._write(_STREAM_HEAD)
        self._send_event(events, 0, interval)

    def _send_event(self, events: list[bytes], index: int, interval: float) -> None:
        if index == len(events) - 1:
            self._finish(_frame(events[index]) + b"0\r\n\r\n")
            return
        self._write(_frame(events[index]))
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(interval, self._send_event, events, index + 1, interval)

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def _finish(self, data: bytes) -> None:
        self._write(data)
        self._busy, self._timer = False, None
        self._next_request()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, "127.0.0.1", port, backlog=8192)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
