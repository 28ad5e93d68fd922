"""A raw HTTP/1.1 upstream on asyncio streams: each request is answered by a script that writes
exactly the bytes it chooses (content-length or chunked framing, a cut, a reset, silence).

It records every request (head, body, which connection it came on), so tests can see keep-alive
reuse and what went on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["RawRequest", "RawUpstream", "Script", "chunked", "sized"]

#: Writes an answer (it may read the connection, to wait for its end); returns False to close
#: the connection after it.
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawRequest:
    head: bytes
    body: bytes
    connection: int

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


class RawUpstream:
    def __init__(self) -> None:
        self.requests: list[RawRequest] = []
        self.scripts: list[Script] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request = RawRequest(head, b"", number)
                request.body = await reader.readexactly(int(request.header("Content-Length") or 0))
                self.requests.append(request)
                script = self.scripts.pop(0) if self.scripts else sized(b'{"ok":true}')
                if not await script(reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def sized(body: bytes, status: str = "200 OK", extra: bytes = b"") -> Script:
    """An answer framed by Content-Length."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 "
            + status.encode()
            + b"\r\nContent-Type: application/json\r\n"
            + extra
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        return True

    return write


def chunked(
    pieces: list[bytes], content_type: bytes = b"application/json", *, at_once: bool = False
) -> Script:
    """An answer in chunked transfer coding, one chunk per piece, then the last chunk; each piece
    written on its own, or the whole answer in one write (``at_once``)."""

    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunks = [b"%x\r\n" % len(piece) + piece + b"\r\n" for piece in pieces] + [b"0\r\n\r\n"]
        if at_once:
            writer.write(head + b"".join(chunks))
            await writer.drain()
            return True
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return True

    return write
