"""The lean server path (``[server] lean_http``): two things aiohttp's server does for every
request, done with less, and the same bytes on the wire.

- :class:`PlainRoutes` dispatches a request for a route without path parameters (every proxied
  POST, ``/healthz``, ...) by one dict lookup to a handler whose middleware chain was built once.
  ``Application._handle`` resolves the route, builds and freezes a match info, and looks up the
  cached chain on every request. Anything else (a path with parameters, an unknown path or
  method, ``Expect: 100-continue``) still goes through ``Application._handle``.
- :func:`send_whole` writes an answer held whole in memory (``web.Response`` with a bytes body:
  non-streamed answers, errors) as head and body in one write. aiohttp's ``prepare`` and
  ``write_eof`` pass it through the generic streaming writer. The head holds what aiohttp's
  would: the response's headers, then ``Content-Length``, ``Content-Type``, ``Date``, ``Server``
  and ``Connection`` as aiohttp sets them, then the ``on_response_prepare`` hooks' headers, and
  it is serialised by aiohttp's own serialiser (which refuses a header holding a line break).
  HEAD, HTTP/1.0, 1xx/204/304, compression, cookies and bodies aiohttp streams from a payload go
  aiohttp's way.

Measured on a bare aiohttp server answering a fixed body, the two cut its CPU per request from 97
to 51 µs (docs/benchmarks.md). Both rely on aiohttp internals named below; the functional tests
compare the bytes each path writes (tests/functional/test_lean_server.py), so an aiohttp upgrade
that changes them fails there first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial, update_wrapper
from typing import cast

from aiohttp import hdrs, web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.http_writer import _serialize_headers
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

__all__ = [
    "PlainRoutes",
    "send_whole",
    "sent_whole",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Statuses whose answer has no body (aiohttp drops their Content-Length): left to aiohttp.
_BODILESS = frozenset((204, 304))


class PlainRoutes:
    """The application's request handler, with routes of a fixed path dispatched by dict."""

    __slots__ = ("_application", "_routes")

    def __init__(self, app: web.Application) -> None:
        """``app`` must be frozen (its router and middlewares are final)."""
        self._application: Handler = app._handle
        #: path → {method or "*": (match info, handler through the middlewares)}
        self._routes: dict[str, dict[str, tuple[UrlMappingMatchInfo, Handler]]] = _plain_routes(app)

    async def __call__(self, base: web.BaseRequest) -> web.StreamResponse:
        request = cast(web.Request, base)  # the application's request factory makes web.Request
        methods = self._routes.get(request.rel_url.path_safe)
        if methods is not None and hdrs.EXPECT not in request.headers:
            route = methods.get(request.method) or methods.get(hdrs.METH_ANY)
            if route is not None:
                # What Application._handle sets; a match info of a fixed path holds no per-request
                # values, and a frozen one is never changed, so one serves every request.
                request._match_info, handler = route
                return await handler(request)
        return await self._application(request)


def _plain_routes(app: web.Application) -> dict[str, dict[str, tuple[UrlMappingMatchInfo, Handler]]]:
    """The fixed-path routes of ``app`` that its router would pick for their path, each with its
    handler wrapped in the application's middlewares (as aiohttp wraps them, innermost last).

    The router looks a path up in its index, by the path and then by each shorter prefix, and in
    one entry tries the resources in the order they were added: a fixed path is its own entry's
    key, so its resource wins unless one added before it in that entry matches the path too (a
    catch-all such as ``/v1/{tail:.*}`` sits in the ``/v1`` entry, tried later).
    """
    middlewares = list(app.middlewares)
    if any(getattr(m, "__middleware_version__", None) != 1 for m in middlewares):
        return {}  # an old-style middleware is awaited per request by aiohttp: not dispatched here
    index: dict[str, list[web.AbstractResource]] | None = getattr(app.router, "_resource_index", None)
    resources = list(app.router.resources())
    if index is None or not all(isinstance(resource, web.Resource) for resource in resources):
        return {}  # a static directory or a sub-application matches by prefix: the router decides
    routes: dict[str, dict[str, tuple[UrlMappingMatchInfo, Handler]]] = {}
    for resource in resources:
        path = resource.canonical
        if (
            not isinstance(resource, web.PlainResource)
            or _first_match(index.get(path, ()), path) is not resource
        ):
            continue
        for route in resource:
            match_info = UrlMappingMatchInfo({}, route)
            match_info.add_app(app)
            match_info.freeze()
            handler: Handler = route.handler
            for middleware in reversed(middlewares):
                handler = update_wrapper(partial(middleware, handler=handler), handler)
            routes.setdefault(path, {})[route.method] = (match_info, handler)
    return routes


def _first_match(entry: Iterable[web.AbstractResource], path: str) -> web.AbstractResource | None:
    return next((resource for resource in entry if resource._match(path) is not None), None)  # type: ignore[attr-defined]


def sent_whole(request: web.BaseRequest, response: web.StreamResponse) -> bool:
    """Whether :func:`send_whole` writes ``response``: a plain answer held whole in bytes."""
    return (
        type(response) is web.Response
        and not response.prepared
        and type(response.body) is bytes
        and request.version == HttpVersion11
        and request.method != hdrs.METH_HEAD
        and response.status >= 200
        and response.status not in _BODILESS
        and not response.chunked
        and not response.compression
        and not response._cookies
    )


async def send_whole(protocol: web.RequestHandler, request: web.BaseRequest, response: web.Response) -> bool:
    """Write ``response`` (:func:`sent_whole`) as aiohttp's ``prepare`` and ``write_eof`` would,
    in one write; True when the client was gone."""
    body = response.body
    assert type(body) is bytes
    keep_alive = response.keep_alive
    if keep_alive is None:
        keep_alive = request.keep_alive
    # The server's request loop reads it to keep the connection open or not; aiohttp's prepare sets it.
    response._keep_alive = keep_alive
    headers = response.headers
    if hdrs.CONTENT_LENGTH not in headers:
        headers[hdrs.CONTENT_LENGTH] = str(len(body))
    if response.content_length != 0:
        headers.setdefault(hdrs.CONTENT_TYPE, "application/octet-stream")
    if hdrs.DATE not in headers:
        headers[hdrs.DATE] = rfc822_formatted_time()
    headers.setdefault(hdrs.SERVER, SERVER_SOFTWARE)
    if not keep_alive and hdrs.CONNECTION not in headers:
        headers[hdrs.CONNECTION] = "close"
    await request._prepare_hook(response)
    head = _serialize_headers(f"HTTP/1.1 {response.status} {response.reason}", headers)
    transport = protocol.transport
    if transport is None or transport.is_closing():
        return True
    transport.writelines((head, body))
    response._eof_sent = True  # prepared, as far as anyone asks
    if protocol._paused:  # a big answer to a slow reader: wait as aiohttp's write_eof does
        try:
            await protocol._drain_helper()
        except ConnectionResetError:
            return True
    return False
