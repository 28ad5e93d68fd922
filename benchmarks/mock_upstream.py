"""A fast OpenAI-compatible mock provider for benchmarks: a raw asyncio protocol on uvloop.

It answers every request with the same small chat completion (or, for ``"stream": true`` bodies,
a short event stream) with keep-alive, so it costs a fraction of what the gateway does and is
never the bottleneck. Run it in its own process: ``python -m benchmarks.mock_upstream PORT``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

_COMPLETION = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}'
)
_JSON_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-ratelimit-remaining-requests: 9999\r\n"
    b"Content-Length: %d\r\n\r\n" % len(_COMPLETION) + _COMPLETION
)
_CHUNK = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":"tok"}}]}\n\n'
)
_STREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
    % (len(_CHUNK) * 20 + len(b"data: [DONE]\n\n"))
    + _CHUNK * 20
    + b"data: [DONE]\n\n"
)


class MockProtocol(asyncio.Protocol):
    """Parses just enough HTTP/1.1 (headers, Content-Length body) to answer pipelined requests."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end == -1:
                return
            head = self._buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker != -1:
                length = int(
                    head[marker + 15 : head.find(b"\r\n", marker) if b"\r\n" in head[marker:] else None]
                )
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = self._buffer[end + 4 : total]
            self._buffer = self._buffer[total:]
            self._transport.write(_STREAM_RESPONSE if b'"stream":true' in body else _JSON_RESPONSE)


def _content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    return 0


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
