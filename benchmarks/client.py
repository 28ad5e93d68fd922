"""A minimal HTTP/1.1 keep-alive client protocol for the load generator (raw asyncio, on uvloop).

aiohttp's client costs more CPU per request than the gateway it measures; this one parses only the
status line, ``Content-Length`` / chunked framing and, for streams, the SSE events inside each HTTP
chunk. Every timestamp is ``time.perf_counter()`` taken in ``data_received``.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from typing import cast

from benchmarks.wire import CONTENT_MARKER


class Sample:
    """One request: its timings, and for streams the exact check of every event against the expected list.

    A chunk is one HTTP chunk as the server wrote it. ``coalesced`` counts events that arrived merged
    into another event's chunk, ``split`` chunks that ended inside an event, ``corrupted`` events whose
    bytes differ from what the mock sent, ``lost`` expected events that never arrived.
    """

    __slots__ = (
        "bytes",
        "chunks",
        "coalesced",
        "corrupted",
        "end",
        "expected",
        "first_byte",
        "first_token",
        "gaps",
        "keep_body",
        "last_chunk",
        "next_event",
        "parts",
        "pending",
        "split",
        "start",
        "status",
    )

    def __init__(self, start: float, expected: list[bytes] | None, keep_body: bool = False) -> None:
        self.start, self.expected, self.keep_body = start, expected, keep_body
        self.gaps: array[float] = array("d")
        self.first_byte = self.first_token = self.end = self.last_chunk = 0.0
        self.status = self.bytes = self.chunks = self.next_event = 0
        self.coalesced = self.corrupted = self.split = 0
        self.pending = b""
        self.parts: list[bytes] = []

    @property
    def lost(self) -> int:
        return max(0, len(self.expected) - self.next_event) if self.expected is not None else 0

    def on_body(self, now: float, data: bytes) -> None:
        self.bytes += len(data)
        if self.keep_body:
            self.parts.append(data)
        if self.expected is None:
            return
        self.chunks += 1
        if self.last_chunk:
            self.gaps.append(now - self.last_chunk)
        self.last_chunk = now
        self._check_events(now, data)

    def _check_events(self, now: float, data: bytes) -> None:
        assert self.expected is not None
        events = (self.pending + data).split(b"\n\n")
        self.pending = events.pop()
        self.split += bool(self.pending)
        self.coalesced += max(0, len(events) - 1)
        for event in events:
            index = self.next_event
            if index >= len(self.expected) or event + b"\n\n" != self.expected[index]:
                self.corrupted += 1
            if not self.first_token and CONTENT_MARKER in event:
                self.first_token = now
            self.next_event += 1


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; ``send`` resolves when the body ends."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._sample: Sample | None = None
        self._done: asyncio.Future[Sample] | None = None
        self._buffer = b""
        self._remaining = -1  # Content-Length bytes left; -1 while reading the head
        self._chunked = False
        self._chunk_left = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection closed mid-response"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, request: bytes, sample: Sample) -> asyncio.Future[Sample]:
        if self.transport is None:
            raise ConnectionError("connection closed")
        self._sample, self._remaining, self._buffer = sample, -1, b""
        self._done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._done

    def data_received(self, data: bytes) -> None:
        sample = self._sample
        if sample is None:
            return
        now = time.perf_counter()
        if not sample.first_byte:
            sample.first_byte = now
        if self._remaining < 0:
            data = self._read_head(self._buffer + data)
            if self._remaining < 0:
                return
        if self._chunked:
            self._read_chunks(now, data)
        elif data:
            self._read_length(now, data)

    def _read_head(self, data: bytes) -> bytes:
        data = data.lstrip(b"\r\n")  # the CRLF closing the previous chunked body may arrive late
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self._buffer = data
            return b""
        assert self._sample is not None
        head = data[:end].lower()
        self._sample.status = int(head[9:12])
        self._chunked = b"transfer-encoding: chunked" in head
        self._remaining = _content_length(head)
        self._buffer, self._chunk_left = b"", -1
        if not self._chunked and self._remaining == 0:
            self._complete(time.perf_counter())
        return data[end + 4 :]

    def _read_length(self, now: float, data: bytes) -> None:
        assert self._sample is not None
        self._sample.on_body(now, data)
        self._remaining -= len(data)
        if self._remaining <= 0:
            self._complete(now)

    def _read_chunks(self, now: float, data: bytes) -> None:
        """Decode chunked framing; each complete HTTP chunk goes to the sample as one unit."""
        data = self._buffer + data
        while True:
            if self._chunk_left < 0:
                end = data.find(b"\r\n")
                if end < 0:
                    break
                self._chunk_left = int(data[:end].split(b";")[0], 16)
                data = data[end + 2 :]
                if self._chunk_left == 0:
                    self._complete(now)  # no trailers expected: the final CRLF may follow or not
                    return
            if len(data) < self._chunk_left + 2:
                break
            assert self._sample is not None
            self._sample.on_body(now, data[: self._chunk_left])
            data, self._chunk_left = data[self._chunk_left + 2 :], -1
        self._buffer = data

    def _complete(self, now: float) -> None:
        sample, done = self._sample, self._done
        assert sample is not None
        assert done is not None
        sample.end = now
        self._sample, self._buffer = None, b""
        if not done.done():
            done.set_result(sample)


def _content_length(head: bytes) -> int:
    marker = head.find(b"content-length:")
    if marker < 0:
        return 0
    line_end = head.find(b"\r\n", marker)
    return int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
