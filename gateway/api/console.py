"""The live console: ``GET /console`` (a static page and its script and style) and
``GET /console/feed`` (what the page shows, as an event stream).

The page holds no data, so it needs no token; the feed is guarded like ``/v1/health/targets``
(``api/admin_access.py``). The feed sends ``event: snapshot`` every second (the first one with the
last requests) and ``event: request`` for each request as it is recorded. It ends when the gateway
drains, when the client has not read a write for :data:`WRITE_TIMEOUT` seconds, or when it falls
:data:`~gateway.observability.console.FEED_QUEUE` rows behind. ``console.max_feeds`` feeds may be
open at once per process; one more is a 503.
"""

from __future__ import annotations

import asyncio
import os
import pkgutil
from typing import Any

import orjson
from aiohttp import web

from gateway.api.admin_access import require_admin
from gateway.appkeys import CONSOLE, HEALTH, REALTIME, SETTINGS, STATE
from gateway.errors import ServiceUnavailable
from gateway.observability.console import ConsoleSink, Feed

__all__ = [
    "PATHS",
    "add_console_routes",
]

#: Seconds between two snapshots.
TICK = 1.0
#: A client that leaves one write unread this long is dropped (its buffers would grow otherwise).
WRITE_TIMEOUT = 10.0

#: The page's files: path → (file in ``console_page``, content type).
_FILES = {
    "/console": ("index.html", "text/html"),
    "/console/app.js": ("app.js", "text/javascript"),
    "/console/app.css": ("app.css", "text/css"),
}
PATHS = frozenset({*_FILES, "/console/feed"})

# Nothing the page loads may come from elsewhere, nor may it run inline script or be framed. (The
# empty ``data:`` icon spares a /favicon.ico request that would show in the console as a 404.)
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_console_routes(router: web.UrlDispatcher) -> None:
    """The console's routes; the files are read once, here (by ``pkgutil``: ``importlib.resources``
    would load the zipfile module, ~0.3 MB, into every gateway)."""
    for path, (name, content_type) in _FILES.items():
        body = pkgutil.get_data("gateway.api", f"console_page/{name}")
        if body is None:
            raise RuntimeError(f"gateway/api/console_page/{name} is missing from the installed package")
        router.add_get(path, _static(body, content_type))
    router.add_get("/console/feed", feed)


def _static(body: bytes, content_type: str) -> Any:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=_PAGE_HEADERS)

    return serve


async def feed(request: web.Request) -> web.StreamResponse:
    """The live stream (see the module's docstring)."""
    require_admin(request)
    sink = request.app[CONSOLE]
    if len(sink.feeds) >= request.app[SETTINGS].console.max_feeds:
        raise ServiceUnavailable(
            "The console's live feed is open in too many places already (console.max_feeds); "
            "close one and retry.",
            code="console_feeds_busy",
        )
    watcher = sink.watch()
    try:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", **_PAGE_HEADERS}
        )
        await response.prepare(request)
        await _stream(request, response, sink, watcher)
    except _Gone:
        # Gone or too slow: a clean end would wait on the same unread buffers.
        if request.transport is not None:
            request.transport.abort()
    finally:
        sink.unwatch(watcher)
    return response


async def _stream(
    request: web.Request, response: web.StreamResponse, sink: ConsoleSink, watcher: Feed
) -> None:
    loop = asyncio.get_running_loop()
    await _send(response, b"snapshot", _snapshot(request, sink, recent=True))
    due = loop.time() + TICK
    while not request.app[STATE].draining and not watcher.overflowed:
        try:
            async with asyncio.timeout(max(due - loop.time(), 0)):
                row = await watcher.rows.get()
        except TimeoutError:
            await _send(response, b"snapshot", _snapshot(request, sink))
            due = loop.time() + TICK
        else:
            await _send(response, b"request", row)


async def _send(response: web.StreamResponse, event: bytes, data: dict[str, Any]) -> None:
    """One event; a client that does not take it within :data:`WRITE_TIMEOUT` ends the feed."""
    message = b"event: " + event + b"\ndata: " + orjson.dumps(data) + b"\n\n"
    try:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await response.write(message)
    except (TimeoutError, ConnectionResetError):
        raise _Gone from None


class _Gone(Exception):
    """The feed's client is gone or too slow: the handler returns."""


def _snapshot(request: web.Request, sink: ConsoleSink, recent: bool = False) -> dict[str, Any]:
    app = request.app
    return sink.snapshot(recent) | {
        "pid": os.getpid(),
        "in_flight": app[STATE].in_flight,
        "open_streams": app[STATE].open_streams,
        "realtime_sessions": app[REALTIME].active,
        "breakers": [_breaker(row) for row in app[HEALTH].snapshot()],
    }


def _breaker(row: dict[str, Any]) -> dict[str, Any]:
    """The health table's safe view, narrowed to what the page shows."""
    keys = ("provider", "base_url", "model", "credential", "state", "error_rate", "in_flight")
    return {key: row.get(key) for key in keys}
