"""A fake OpenAI-compatible provider: a real aiohttp server that records what it receives.

Tests program answers per ``(method, path)`` with :meth:`FakeProvider.on`; anything unprogrammed
gets a small OpenAI-shaped default. Bodies are recorded as bytes up to 1 MiB, and as size +
SHA-256 always, so multi-hundred-MB uploads can be checked without holding them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDictProxy

Responder = Callable[[web.Request, "Received"], Awaitable[web.StreamResponse]]

_KEEP_BYTES = 1024 * 1024


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes = b""
    size: int = 0
    sha256: str = ""
    #: Set when the gateway closed the connection before the response was finished.
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    def json(self) -> object:
        import orjson

        return orjson.loads(self.body)


class FakeProvider:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._responders: dict[tuple[str, str], Responder] = {}
        self.port = 0

    @property
    def base_url(self) -> str:
        """What a caller gives as x-portkey-custom-host for an OpenAI-format provider."""
        return f"http://127.0.0.1:{self.port}/v1"

    def on(self, method: str, path: str, responder: Responder) -> None:
        self._responders[(method, path)] = responder

    @property
    def last(self) -> Received:
        return self.received[-1]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        digest = hashlib.sha256()
        kept = bytearray()
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            digest.update(chunk)
            if len(kept) < _KEEP_BYTES:
                kept += chunk
        received = Received(
            request.method,
            request.path,
            request.query_string,
            request.headers,
            bytes(kept),
            size,
            digest.hexdigest(),
        )
        self.received.append(received)
        responder = self._responders.get((request.method, request.path), _default)
        try:
            return await responder(request, received)
        except (asyncio.CancelledError, ConnectionResetError):
            received.disconnected.set()
            raise


async def _default(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response({"object": "fake", "method": request.method, "path": request.path})


def sse(*events: bytes) -> bytes:
    """An OpenAI-style event stream body from already-encoded JSON payloads, ending in [DONE]."""
    return b"".join(b"data: " + event + b"\n\n" for event in events) + b"data: [DONE]\n\n"
