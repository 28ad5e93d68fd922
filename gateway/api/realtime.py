"""``/v1/realtime``: a client websocket bridged to the provider's realtime websocket.

The provider, its key and options come from the usual headers, or, for browsers (which cannot set
headers on a websocket), the way OpenAI's browser clients send them: the key as the subprotocol
``openai-insecure-api-key.<key>`` (with ``openai-organization.<id>``, ``openai-project.<id>`` and
``openai-beta.<flag>``), and any ``x-portkey-*`` header as a query parameter of the same name.

The provider's websocket is opened first, so nothing the client sends needs holding. Refusals of
the request itself (no provider, a provider without realtime, the session limit) are HTTP errors
before the upgrade; a provider that cannot be reached, refuses or does not open in time closes the
accepted client websocket at once with a code and a reason (:func:`_close_for`). The targets are
tried by the attempt runner (``routing/attempts.py``), as HTTP requests' are: fallback, retries
and breakers as the config asks, with opening the websocket as one attempt (:class:`_Opener`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import aiohttp
from aiohttp import ClientWebSocketResponse, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.api.bodies import RequestBody
from gateway.api.intake import plan, release, track
from gateway.api.routes import REALTIME_PATH as PATH
from gateway.api.upstream_request import authorize, prepare
from gateway.appkeys import KEYS, REALTIME, SETTINGS, STAGES, STATE, WEBSOCKET_UPSTREAM
from gateway.config.settings import RealtimeSettings
from gateway.errors import GatewayError, InvalidRequest, ServiceUnavailable
from gateway.limits.keys import identify
from gateway.observability.record import RequestRecord
from gateway.observability.tracing import trace_id
from gateway.providers.base import REALTIME as FAMILY
from gateway.providers.base import ClientBody
from gateway.routing.attempts import Attempt, MoveOn, RequestContext, RetryIn, run_attempts
from gateway.routing.deadlines import NO_DEADLINE
from gateway.routing.metadata import parse_metadata
from gateway.routing.target import Target
from gateway.streaming.websocket import GOING_AWAY, INTERNAL_ERROR, Session, bridge, close_both, close_reason
from gateway.upstream.failures import upstream_failure, websocket_open_timed_out
from gateway.upstream.headers import upstream_request_headers

__all__ = [
    "realtime",
]

#: The websocket close code for "try again later".
TRY_AGAIN_LATER = 1013
#: Subprotocols that carry credentials and options (OpenAI's browser convention), by prefix.
_KEY_PROTOCOL = "openai-insecure-api-key."
#: They stand for the provider options of the same name (sent as the provider's headers by its
#: adapter, as ``x-portkey-openai-organization`` would be).
_OPTION_PROTOCOLS = {
    "openai-organization.": "x-portkey-openai-organization",
    "openai-project.": "x-portkey-openai-project",
}
_BETA_PROTOCOL = "openai-beta."
_BETA_OPTION = "x-portkey-openai-beta"
_QUERY_OPTION = "x-portkey-"
#: Query parameters never taken as headers: a key in a URL ends up in logs and browser history.
_NOT_FROM_QUERY = frozenset({"x-portkey-api-key"})
_SCHEMES = {"http": "ws", "https": "wss"}


@dataclass(slots=True)
class Refused(Exception):
    """The provider's websocket did not open: the close code and reason for the client."""

    code: int
    reason: str


async def realtime(request: web.Request) -> web.StreamResponse:
    """Bridge the client's websocket to the provider's until either side closes (see module doc)."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise InvalidRequest(
            f"{PATH} is a websocket endpoint: connect with a websocket client (ws://.../v1/realtime).",
            code="websocket_required",
            status=426,
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        )
    app = request.app
    counters = app[REALTIME]
    settings = app[SETTINGS].realtime
    if counters.active >= settings.max_sessions:
        counters.refused += 1
        raise ServiceUnavailable(
            f"This gateway already holds its limit of {settings.max_sessions} realtime sessions; "
            "try again later.",
            code="too_many_sessions",
            headers={"Retry-After": "1"},
        )
    protocols = _Protocols(request.headers.getall("Sec-WebSocket-Protocol", []))
    headers = _caller_headers(request, protocols)
    metadata = parse_metadata(headers.get("x-portkey-metadata"))
    params = {"model": request.query["model"]} if "model" in request.query else {}
    keys = app.get(KEYS)
    caller = await identify(headers, keys) if keys is not None else None
    context = await plan(
        request,
        headers,
        metadata,
        params,
        family=FAMILY,
        body=RequestBody(),
        started=time.perf_counter(),
        deadline=NO_DEADLINE,
        caller=caller,
    )
    # Everything that can refuse the request itself does so here, as an HTTP error.
    connections = [_Connection(target, request) for target in context.targets]
    opener = _Opener(connections, protocols, settings)
    task = track(request, session=True)
    counters.active += 1  # the slot is held from here, so concurrent upgrades cannot overshoot
    try:
        return await _session(context, opener, settings)
    finally:
        counters.active -= 1
        release(request, task)


async def _session(
    context: RequestContext, opener: _Opener, settings: RealtimeSettings
) -> web.WebSocketResponse:
    request = context.request
    app = request.app
    counters = app[REALTIME]
    started = context.started
    provider = context.targets[0].adapter.spec.slug
    record = RequestRecord(
        "GET",
        PATH,
        provider,
        trace_id(request),
        context.metadata,
        status=101,
        family=FAMILY,
        model=request.query.get("model", ""),
        stream=True,
    )
    upstream: ClientWebSocketResponse[bool] | None = None
    refused: Refused | None = None
    session = Session()
    try:
        upstream, record.provider = await run_attempts(context, opener)
    except Refused as exc:
        refused = exc
    except ServiceUnavailable as exc:  # every target's breaker is open
        refused = Refused(TRY_AGAIN_LATER, exc.message)
    record.first_token_ms = (time.perf_counter() - started) * 1000
    client = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream is not None and upstream.protocol else (),
        compress=False,  # a deflate context per session costs far more memory than the session
        max_msg_size=_max_msg_size(settings),
        heartbeat=settings.heartbeat or None,
        decode_text=False,
    )
    client.headers["x-portkey-provider"] = record.provider
    try:
        await client.prepare(request)
        if upstream is None:
            assert refused is not None
            counters.failed += 1
            record.outcome = "upstream_error"
            await client.close(code=refused.code, message=close_reason(refused.reason))
            return client
        counters.opened += 1
        await bridge(client, upstream, counters, settings.idle_timeout, session)
        record.outcome = _outcome(session)
    except asyncio.CancelledError:
        draining = app[STATE].draining
        record.outcome = "shutdown" if draining else (_outcome(session) or "client_closed")
        if upstream is not None:
            await close_both(client, upstream, *_cancelled_close(session, draining))
        raise
    finally:
        if session.usage:  # counted up to the end, a cancelled session's too
            record.usage = session.usage_report()
        if upstream is not None and not upstream.closed:
            await upstream.close()
        record.duration_ms = (time.perf_counter() - started) * 1000
        for stage in app[STAGES].after:
            stage.finished(context, record)
    return client


def _max_msg_size(settings: RealtimeSettings) -> int:
    # aiohttp refuses a message of exactly max_msg_size; the setting is the largest one allowed.
    return settings.max_message_bytes + 1


def _outcome(session: Session) -> str:
    ended_by = session.ended_by
    return f"{ended_by}_closed" if ended_by in ("client", "upstream") else ended_by


def _cancelled_close(session: Session, draining: bool) -> tuple[int, bytes]:
    """The close for both sides of a cancelled session. Besides a drain, the cancellation most
    often comes from the gateway itself closing the client's connection at the end of a close
    the bridge is passing on: the upstream must still get that close as it was."""
    if draining:
        return GOING_AWAY, b"the gateway is shutting down"
    return session.closing or (GOING_AWAY, b"the client went away")


class _Connection:
    """How to reach one target's realtime websocket, as its adapter prepares it (built before the
    upgrade: a target that cannot serve realtime is a 400)."""

    __slots__ = ("headers", "prepared", "provider", "target", "url")

    def __init__(self, target: Target, request: web.Request) -> None:
        target.check_serves(FAMILY)
        self.target = target
        self.provider = target.adapter.spec.slug
        query = "&".join(_provider_query(request.rel_url.raw_query_string))
        # A websocket has no body to prepare.
        self.prepared = prepare(target, FAMILY, query, request.headers, ClientBody())
        # Already encoded: the client's raw query, as sent.
        url = URL(self.prepared.url, encoded=True)
        self.url = url.with_scheme(_SCHEMES.get(url.scheme, url.scheme))
        self.headers = _upstream_headers(request, self.prepared.headers)


class _Opened(NamedTuple):
    upstream: ClientWebSocketResponse[bool]
    provider: str


class _Opener:
    """Opens one target's websocket: the :class:`Sender` the attempt runner calls for realtime."""

    __slots__ = ("_connections", "_protocols", "_settings")

    def __init__(
        self, connections: list[_Connection], protocols: _Protocols, settings: RealtimeSettings
    ) -> None:
        self._connections = {id(connection.target): connection for connection in connections}
        self._protocols = protocols
        self._settings = settings

    async def __call__(self, context: RequestContext, attempt: Attempt) -> _Opened | RetryIn | MoveOn:
        """The provider's websocket, or a retry or move on that the target's config allows after
        a refusal or failure to connect; :class:`Refused` otherwise."""
        connection = self._connections[id(attempt.target)]
        provider = connection.provider
        settings = self._settings
        try:
            async with asyncio.timeout(settings.open_timeout or None):
                if connection.prepared.authorize is not None:
                    await authorize(
                        context.request.app, attempt.target, connection.prepared, connection.headers
                    )
                upstream = await context.request.app[WEBSOCKET_UPSTREAM].ws_connect(
                    connection.url,
                    headers=connection.headers,
                    protocols=self._protocols.forwarded,
                    max_msg_size=_max_msg_size(settings),
                    heartbeat=settings.heartbeat or None,
                    decode_text=False,
                )
        except aiohttp.WSServerHandshakeError as exc:
            attempt.status = exc.status
            instead = attempt.instead(exc.status, exc.headers or {})
            if instead is None:
                raise _close_for(provider, exc.status, exc.message) from None
            return instead
        except TimeoutError:
            return _after(attempt, websocket_open_timed_out(provider, settings.open_timeout))
        except (aiohttp.ClientError, OSError) as exc:
            failure = upstream_failure(exc, provider, idle_timeout=0, host_param=attempt.target.host_param)
            return _after(attempt, failure)
        attempt.outcome = "ok"
        attempt.claim()
        return _Opened(upstream, provider)


def _after(attempt: Attempt, failure: GatewayError) -> RetryIn | MoveOn:
    """A retry or move on after ``failure`` to open, when the config allows; else :class:`Refused`."""
    attempt.failure = failure
    instead = attempt.after(failure)
    if instead is None:
        raise Refused(INTERNAL_ERROR, failure.message) from None
    return instead


def _close_for(provider: str, status: int, reason: str) -> Refused:
    """A provider's HTTP refusal of the websocket as a close: 4000 + a 4xx status (4401, 4403, 4429:
    the client can tell a bad key from a limit), 1013 (try again later) for 503, else 1011."""
    code = TRY_AGAIN_LATER if status == 503 else INTERNAL_ERROR
    if 400 <= status < 500:
        code = 4000 + status
    return Refused(code, f"{provider} refused the websocket: HTTP {status} {reason}".strip())


class _Protocols:
    """The client's subprotocols: credentials taken out, the rest offered to the provider."""

    __slots__ = ("api_key", "beta", "forwarded", "options")

    def __init__(self, values: list[str]) -> None:
        self.api_key = ""
        self.beta: list[str] = []
        #: ``x-portkey-<option>`` → value, for the options the subprotocols carry.
        self.options: dict[str, str] = {}
        forwarded = []
        for protocol in (p.strip() for value in values for p in value.split(",")):
            if protocol.startswith(_KEY_PROTOCOL):
                self.api_key = protocol[len(_KEY_PROTOCOL) :]
            elif protocol.startswith(_BETA_PROTOCOL):
                # openai-beta.realtime-v1 stands for the header OpenAI-Beta: realtime=v1.
                name, _, version = protocol[len(_BETA_PROTOCOL) :].rpartition("-")
                self.beta.append(f"{name}={version}" if name else version)
            elif option := next((o for p, o in _OPTION_PROTOCOLS.items() if protocol.startswith(p)), None):
                self.options[option] = protocol.split(".", 1)[1]
            elif protocol:
                forwarded.append(protocol)
        self.forwarded = tuple(forwarded)


def _caller_headers(request: web.Request, protocols: _Protocols) -> CIMultiDictProxy[str]:
    """The request's headers, completed by ``x-portkey-*`` query parameters and by what the
    subprotocols carry: the key, and the options they stand for (over the headers', except a beta
    flag the client already sends)."""
    headers = CIMultiDict(request.headers)
    for name, value in request.rel_url.query.items():
        lowered = name.lower()
        if lowered.startswith(_QUERY_OPTION) and lowered not in _NOT_FROM_QUERY and lowered not in headers:
            headers[lowered] = value
    if protocols.api_key and "Authorization" not in headers and "x-portkey-api-key" not in headers:
        headers["Authorization"] = f"Bearer {protocols.api_key}"
    headers.update(protocols.options)
    if protocols.beta and "OpenAI-Beta" not in headers and _BETA_OPTION not in headers:
        headers[_BETA_OPTION] = ", ".join(protocols.beta)
    return CIMultiDictProxy(headers)


def _provider_query(raw_query: str) -> Iterator[str]:
    """The raw ``name=value`` pairs of the query, as sent, except the gateway's own options."""
    for pair in raw_query.split("&") if raw_query else ():
        if not pair.split("=", 1)[0].lower().startswith(_QUERY_OPTION):
            yield pair


def _upstream_headers(request: web.Request, provider_headers: dict[str, str]) -> CIMultiDict[str]:
    """The client headers the gateway forwards (none about a body), with the provider's over them."""
    headers = upstream_request_headers(request.headers)
    for name in ("Content-Type", "Content-Length", "Accept-Encoding"):
        headers.popall(name, None)
    headers.update(provider_headers)
    return headers
