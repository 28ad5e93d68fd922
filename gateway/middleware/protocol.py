"""The HTTP connection side of admission control, below aiohttp's request handling.

- Early shed: while :class:`Admission` sheds, a complete request that arrives on an idle
  connection is answered with a pre-encoded 503 straight from the parsed request line and headers:
  no ``web.Request``, no task, no middleware, router or JSON encoding. Measured here that costs a
  small fraction of a served request (see the overload benchmark), where aiohttp's own cheapest
  answer (``GET /healthz``) costs a quarter of one, and a shed that costs a quarter of a request
  caps goodput at 2× offered load near 2/3 of capacity. The answer keeps the connection alive (no
  reconnect storm) and carries ``Retry-After`` and ``x-portkey-trace-id`` like any other answer.
- Connection cap: past ``limits.max_connections`` open connections, a new one is closed on arrival.
- Header timeout: a connection whose request headers take more than ``limits.header_timeout``
  from their first byte is closed (slowloris); aiohttp itself only closes an idle connection.

This reaches into aiohttp's ``RequestHandler`` (``_waiter``, ``_messages``, ``_parser``): the
functional tests in ``tests/functional/test_admission.py`` cover each path, so an aiohttp upgrade
that moves them fails there first.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from gateway.appkeys import ADMISSION, SETTINGS
from gateway.errors import error_body
from gateway.middleware.admission import NEVER_SHED, Admission
from gateway.middleware.framing import lone_request
from gateway.middleware.lean_server import PlainRoutes, send_whole, sent_whole
from gateway.middleware.protocol_errors import GatewayRequestHandler
from gateway.observability.tracing import HEADER as TRACE_HEADER
from gateway.observability.tracing import usable_trace_id

__all__ = [
    "install",
]


def install(app: web.Application) -> None:
    """Make every server built for ``app`` an :class:`AdmittingServer` (``ADMISSION`` on the app),
    on the lean server path (``lean_server.py``) when ``server.lean_http`` is on.

    aiohttp has no public setting for the connection handler's class: ``web.AppRunner`` (so
    ``web.run_app``) and the test server all build the server through
    ``Application._make_handler``, so that is wrapped. The functional tests over raw sockets
    (test_admission.py, test_protocol_errors.py) fail if a new aiohttp bypasses it.
    """
    make_handler = app._make_handler

    def make_admitting_server(**kwargs: Any) -> web.Server:
        lean = app[SETTINGS].server.lean_http
        return AdmittingServer(make_handler(**kwargs), app[ADMISSION], PlainRoutes(app) if lean else None)

    app._make_handler = make_admitting_server  # type: ignore[method-assign]


class AdmittingServer(web.Server):
    """aiohttp's protocol factory, making :class:`AdmittingHandler` connections and counting them."""

    def __init__(self, base: web.Server, admission: Admission, plain_routes: PlainRoutes | None) -> None:
        """``plain_routes``: the application's handler on the lean server path, which then also
        writes whole answers itself; None keeps aiohttp's for both."""
        super().__init__(
            base.request_handler if plain_routes is None else plain_routes,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.admission = admission
        self.lean = plain_routes is not None
        self.open_connections = 0
        #: Connections whose next request's headers started arriving at the given loop time.
        self.partial: dict[AdmittingHandler, float] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._shed_head = _shed_head(admission.retry_after)

    def __call__(self) -> AdmittingHandler:
        return AdmittingHandler(self, loop=self._loop, **self._kwargs)

    def shed_answer(self, trace_id: str | None, close: bool) -> bytes:
        """The whole 503 response, ready for the socket."""
        trace = usable_trace_id(trace_id)
        connection = b"Connection: close\r\n" if close else b""
        return b"%s%s: %s\r\n%s\r\n%s" % (
            self._shed_head,
            TRACE_HEADER.encode(),
            trace.encode(),
            connection,
            _SHED_BODY,
        )

    def headers_started(self, handler: AdmittingHandler) -> None:
        self.partial[handler] = self._loop.time()
        if self._sweep is None:
            self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        # One timer per process, not one per request: the hot path only touches a dict.
        interval = max(0.05, self.admission.limits.header_timeout / 4)
        self._sweep = self._loop.call_later(interval, self._close_slow_headers)

    def _close_slow_headers(self) -> None:
        self._sweep = None
        deadline = self._loop.time() - self.admission.limits.header_timeout
        for handler, since in list(self.partial.items()):
            if since <= deadline:
                self.partial.pop(handler, None)
                self.admission.counters.header_timeouts += 1
                handler.force_close()
        if self.partial:
            self._schedule_sweep()

    def pre_shutdown(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        super().pre_shutdown()


class AdmittingHandler(GatewayRequestHandler):
    """One client connection: the gateway's handler (protocol errors answered OpenAI-shaped) with
    the early shed, the connection cap and the header timeout."""

    __slots__ = ("_gateway", "_refused")

    def __init__(self, manager: AdmittingServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._gateway = manager
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._gateway
        if server.open_connections >= server.admission.limits.max_connections:
            # Accept and close: cheaper than anything aiohttp would set up for the connection.
            self._refused = True
            server.admission.counters.refused_connections += 1
            transport.close()
            return
        server.open_connections += 1
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._gateway.open_connections -= 1
        self._gateway.partial.pop(self, None)
        super().connection_lost(exc)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if self._gateway.lean and not self._upgraded and sent_whole(request, resp):
            # What aiohttp's finish_response does around prepare and write_eof.
            request._finish()
            reset = await send_whole(self, request, cast(web.Response, resp))
            self.log_access(request, resp, start_time)
            return resp, reset
        return await super().finish_response(request, resp, start_time)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # A request is being handled (its body, a pipelined one) or the connection was upgraded.
            super().data_received(data)
            return
        if self._gateway.admission.shedding():
            if self not in self._gateway.partial and self._shed_lone(data):
                return
            answered = self._shed_or_queue(data, waiter)
        else:
            super().data_received(data)
            answered = False
        self._track_headers(waiter, answered)

    def _track_headers(self, waiter: asyncio.Future[None], answered: bool) -> None:
        """Start the header clock on a partial request; stop it once a request is complete."""
        partial = self._gateway.partial
        if answered or waiter.done() or self._force_close:
            if partial:
                partial.pop(self, None)
        elif self not in partial:
            self._gateway.headers_started(self)

    def _shed_lone(self, data: bytes) -> bool:
        """Answer ``data`` with the 503 without parsing it, if it is one plain whole request
        (``framing.py``); the parser is left untouched, at the start of the next request. A client
        that sent part of a request before (tracked in ``partial``) goes through the parser."""
        lone = lone_request(data, _TRACE_HEADER)
        if lone is None or lone.path in _NEVER_SHED_PATHS:
            return False
        header = lone.header.decode("latin-1") if lone.header is not None else None
        self._answer(header, lone.close)
        return True

    def _shed_or_queue(self, data: bytes, waiter: asyncio.Future[None]) -> bool:
        """Parse ``data``; answer the complete requests at the head of the queue with a 503, and wake
        aiohttp's request loop only for what is left. True when a request was answered here."""
        self._waiter = None  # so the parse does not wake the request loop before the shed
        try:
            super().data_received(data)
        finally:
            self._waiter = waiter
        messages = self._messages
        answered = False
        while messages and not self._force_close and _sheddable(*messages[0]):
            message = messages.popleft()[0]
            assert isinstance(message, RawRequestMessage)
            assert self._parser is not None
            self._parser.message_consumed()
            self._answer_shed(message)
            answered = True
        if self._force_close:
            return answered
        if self._buffer_paused and not messages:
            self._resume_reading_if_drained()
        if messages and not waiter.done():
            waiter.set_result(None)
        return answered

    def _answer_shed(self, message: RawRequestMessage) -> None:
        self._answer(message.headers.get(TRACE_HEADER), message.should_close)

    def _answer(self, trace_id: str | None, close: bool) -> None:
        admission = self._gateway.admission
        admission.count_shed()
        admission.counters.shed_early += 1
        assert self.transport is not None
        self.transport.write(self._gateway.shed_answer(trace_id, close))
        if close:
            self.force_close()
        else:
            # The keep-alive clock restarts after an answer, as after any other response.
            self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout


def _sheddable(message: object, payload: StreamReader) -> bool:
    """A complete request (its body read) that is neither a health probe nor a websocket upgrade."""
    return (
        isinstance(message, RawRequestMessage)
        and not message.upgrade
        and payload.is_eof()
        and message.url.path not in NEVER_SHED
    )


_TRACE_HEADER = TRACE_HEADER.lower().encode()
_NEVER_SHED_PATHS = frozenset(path.encode() for path in NEVER_SHED)
_SHED_BODY = orjson.dumps(
    error_body("The gateway is overloaded; retry later.", "api_error", None, "overloaded")
)


def _shed_head(retry_after: int) -> bytes:
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n"
        b"Retry-After: %d\r\n" % (len(_SHED_BODY), retry_after)
    )
