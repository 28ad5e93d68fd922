"""The handler every OpenAI endpoint goes through: admit, parse, plan, then attempt each target
(send upstream, relay back) until one answers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.api.bodies import (
    BodyKind,
    RequestBody,
    check_media_type,
    read_json_object,
    streamed_body,
)
from gateway.api.inbound import CHAT_ENDPOINT, Inbound, attempt_form, chat_body
from gateway.api.intake import admit, plan, release
from gateway.api.models import local_models
from gateway.api.upstream_request import authorize, prepare
from gateway.appkeys import (
    ADMISSION,
    ATTEMPTED,
    CACHE,
    INBOUND,
    KEYS,
    LEAN,
    SETTINGS,
    STAGES,
    STATE,
    UPSTREAM,
)
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
)
from gateway.guardrails import answer as guarded
from gateway.limits.caller import Caller
from gateway.limits.keys import identify
from gateway.observability.record import RequestRecord
from gateway.observability.tracing import trace_id
from gateway.providers.base import MODELS, Payload, PreparedRequest
from gateway.routing.attempts import Attempt, MoveOn, RequestContext, RetryIn, run_attempts
from gateway.routing.deadlines import AttemptLimit, request_deadline
from gateway.routing.metadata import parse_metadata
from gateway.routing.refusals import REFUSAL_STATUS, read_refusal
from gateway.routing.target import Target
from gateway.streaming.relay import ClientGone, Relay
from gateway.streaming.translated import TranslatingRelay
from gateway.upstream.answer import UpstreamAnswer
from gateway.upstream.failures import attempt_timed_out, headers_timed_out, upstream_failure
from gateway.upstream.headers import header_names, relayed_response_headers, upstream_request_headers
from gateway.upstream.hostguard import has_dot_segments

__all__ = [
    "proxy",
]

#: ``asyncio.timeout(None)`` costs ~3 µs a request for nothing.
_NO_DEADLINE = contextlib.nullcontext()


@dataclass(slots=True)
class Outgoing:
    """The upstream request, fully decided before anything is sent."""

    provider: str
    url: URL
    #: The client headers the gateway forwards, with the provider's over them.
    headers: CIMultiDict[str]
    #: What the adapter prepared: the body, the translation of the answer, the auth step.
    prepared: PreparedRequest
    #: When this attempt must be done: the config's request_timeout or the request's deadline.
    limit: AttemptLimit
    target: Target

    @property
    def body(self) -> Payload:
        return self.prepared.body


async def proxy(
    request: web.Request, body_kind: BodyKind | None = None, family: str | None = None
) -> web.StreamResponse:
    """Forward ``request`` to the provider(s) it names and relay the answer.

    ``body_kind`` is what the endpoint accepts (``None``: whatever comes, streamed through);
    ``family`` is the endpoint family checked against each provider's catalog row (``None``: a
    passed-through path, not checked). With a routing config, targets are tried in the planned
    order until one answers with a status its fallback does not move on from (or a connection
    or timeout failure leaves no next target). Errors before the response starts raise a
    :class:`GatewayError`; after it, they end the response in-band (see ``streaming/relay.py``).
    A client that disconnects cancels this handler, which closes the upstream connection.

    The pipeline, top to bottom (docs/architecture.md): admit, parse what routing needs,
    plan, the before stages, then the attempts, each one accounted by the after stages as it ends.
    """
    started = time.perf_counter()
    app = request.app
    task = admit(request)
    body: RequestBody | None = None
    try:
        _check_path(request.rel_url.raw_path)
        keys = app.get(KEYS)
        caller = await identify(request.headers, keys) if keys is not None else None
        body = await _request_body(request, body_kind)
        if (inbound := request.get(INBOUND)) is not None:
            body = chat_body(body, inbound)
        context = await _planned(request, body, family, started, caller)
        for stage in app[STAGES].before:
            if (answer := await stage.before(context)) is not None:
                return answer
        if family == MODELS and (answer := local_models(context)) is not None:
            return answer
        return await run_attempts(context, _exchange)
    finally:
        release(request, task, body.reserved if body is not None else 0)


async def _planned(
    request: web.Request, body: RequestBody, family: str | None, started: float, caller: Caller | None
) -> RequestContext:
    """Parse what routing needs from the headers and the JSON body, then plan the targets."""
    headers = request.headers
    metadata = parse_metadata(headers.get("x-portkey-metadata"))
    now = asyncio.get_running_loop().time()
    deadline = request_deadline(headers, request.app[SETTINGS].upstream.request_timeout, now)
    params = body.parsed or {}
    return await plan(
        request,
        headers,
        metadata,
        params,
        family=family,
        body=body,
        started=started,
        deadline=deadline,
        caller=caller,
    )


def _check_path(raw_path: str) -> None:
    """Refuse '.' and '..' segments (raw or percent-encoded, any case): forwarded, they would make
    the provider (or a proxy before it) resolve a path outside the one the gateway meant."""
    if has_dot_segments(raw_path):
        raise InvalidRequest(
            "The request path must not have '.' or '..' segments.", param=None, code="invalid_path"
        )


def _outgoing(
    request: web.Request,
    target: Target,
    family: str | None,
    body: RequestBody,
    limit: AttemptLimit,
    inbound: Inbound | None = None,
) -> Outgoing:
    """The attempt's upstream request. ``inbound``: a request in another client format that this
    target does not speak, sent on as a chat completion."""
    if family is not None:
        target.check_serves(family)
    url = request.rel_url
    data = body.for_target(target.override_params, target.default_params, target.drop_params)
    endpoint, query = url.raw_path[len("/v1/") :], url.raw_query_string
    if inbound is not None:
        endpoint, query = CHAT_ENDPOINT, ""
    prepared = prepare(target, endpoint, query, request.headers, data, request.method)
    headers = _upstream_headers(request, target, prepared)
    # Already encoded (the client's raw path and query): parsing it again would decode some
    # escapes (%2F in a query becomes /), and the provider must get the bytes the client sent.
    upstream_url = URL(prepared.url, encoded=True)
    return Outgoing(target.adapter.spec.slug, upstream_url, headers, prepared, limit, target)


async def _exchange(context: RequestContext, attempt: Attempt) -> web.StreamResponse | RetryIn | MoveOn:
    """Send ``attempt`` and relay the answer, or say to retry or move on instead.

    That choice exists only before anything was sent to the client: on a status the target's
    retry or fallback names (a content-policy refusal only when named: ``routing/refusals.py``),
    on a connection failure (retried, then moved on from), on a timed-out attempt (a 408, as a
    status) and on other timeouts (moved on from). Once the request's deadline passed, nothing
    is. Every attempt is recorded.
    """
    request = context.request
    app = request.app
    inbound, body, native = attempt_form(request.get(INBOUND), attempt.target, context)
    outgoing = _outgoing(request, attempt.target, context.family, body, attempt.limit, inbound)
    record = _record(context, outgoing)
    record.hedge = attempt.hedge
    relay = _relay(request, outgoing, inbound)
    # A native answer is the client's format: output hooks (which read chat answers) never run on
    # one (native_for sends requests with output hooks through the chat form).
    guard = None if native else context.guard
    cache = app.get(CACHE)
    if cache is not None and not native:  # the cache keeps chat answers only
        relay.capture = cache.capture_for(context, attempt.target)
    if guard is not None:
        # A stream in another client format is held for its checks: reported, its hook_results
        # event would be a chat event in the client's stream.
        guarded.attach(guard, relay, attempt.target, record.stream and request.get(INBOUND) is None)
    timers = _Timers(app[SETTINGS].upstream.headers_timeout, outgoing.limit)
    sent = received = 0.0  # perf_counter() readings; 0: not yet
    failure: GatewayError | None = None
    for stage in app[STAGES].attempt:
        stage.started(context, attempt, record, outgoing.url, outgoing.headers)
    try:
        async with timers.attempt or _NO_DEADLINE, timers.headers or _NO_DEADLINE:
            if outgoing.prepared.authorize is not None:
                await authorize(app, outgoing.target, outgoing.prepared, outgoing.headers)
            sent = time.perf_counter()
            async with _send(app, outgoing, outgoing.prepared.method or request.method) as upstream:
                if timers.headers is not None:
                    timers.headers.reschedule(None)  # that layer is done: the headers came
                received = time.perf_counter()
                record.status = attempt.status = upstream.status
                if relay.capture is not None and not _storable(upstream):
                    relay.capture.drop()
                instead, refusal = await _instead_of_relaying(upstream, attempt)
                if instead is not None:
                    record.outcome = "retried" if isinstance(instead, RetryIn) else "fell_back"
                    record.next_step = _step(instead)
                    return instead
                gateway_s = sent - context.started + time.perf_counter() - received
                record.gateway_ms = gateway_s * 1000
                headers = _answer_headers(upstream.headers, outgoing, attempt, gateway_s, received - sent)
                if context.cache is not None:
                    headers["x-portkey-cache-status"] = context.cache.status
                await relay.start(
                    upstream,
                    headers,
                    app[SETTINGS].upstream.first_token_timeout or None,
                    attempt.claim if attempt.gate else None,
                    refusal,
                )
                record.first_token_ms = (time.perf_counter() - sent) * 1000
                await relay.pump(upstream)
                if guard is not None:
                    await guarded.finish(guard, relay, attempt.target, upstream.status, record)
    except ClientGone:
        record.outcome = "client_closed"
    except asyncio.CancelledError:
        # The client left, or (before anything was sent) a hedged attempt beat this one.
        record.outcome = "client_closed" if relay.committed or attempt.gate is None else "hedge_lost"
        if app[STATE].draining and relay.committed:
            # Cancelled at the end of a drain: say so, rather than just stopping mid-stream.
            record.outcome = "shutdown"
            await relay.fail(ServiceUnavailable("The gateway shut down before the response was complete."))
        raise
    except (aiohttp.ClientError, OSError, GatewayError) as exc:  # TimeoutError is an OSError
        failure = _failure_of(exc, timers, outgoing, app[SETTINGS].upstream.idle_timeout)
        if guard is not None:
            guarded.discard(relay)
    finally:
        record.duration_ms = (time.perf_counter() - context.started) * 1000
        record.upstream_ms = _upstream_ms(sent, received)
        record.tail = relay.tail
        record.delivered_bytes = relay.delivered
        if relay.capture is not None and (captured := relay.capture.body) is not None:
            record.cache_entry = (relay.capture.key, relay.capture.max_age, captured)
        record.longest_gap_ms = relay.longest_gap * 1000
        instead_of_failing = _instead_of_failing(failure, relay, timers, outgoing, attempt)
        if instead_of_failing is not None:
            record.next_step = _step(instead_of_failing)
        _account(context, attempt, record, failure)
    if native:
        request[INBOUND].answered_natively = True  # reformatted() leaves the answer as it is
    if failure is None:
        assert relay.response is not None
        return relay.response
    if relay.committed:
        await relay.fail(failure)
        assert relay.response is not None
        return relay.response
    if instead_of_failing is None:
        raise failure
    return instead_of_failing


def _send(
    app: web.Application, outgoing: Outgoing, method: str
) -> AbstractAsyncContextManager[UpstreamAnswer]:
    """The upstream request: a POST of bytes (most requests, whichever the provider: see
    ``PreparedRequest``) through the lean client when ``upstream.lean_http`` made one; everything
    else through aiohttp's session, which also turns a base URL's user and password into Basic
    auth (an operator's ``base_url`` may hold them)."""
    lean = app.get(LEAN)
    body = outgoing.body
    url = outgoing.url
    if (
        lean is not None
        and method == "POST"
        and isinstance(body, bytes)
        and url.scheme in ("http", "https")
        and not (url.raw_user or url.raw_password)
    ):
        return lean.request(url, outgoing.headers, body)
    return app[UPSTREAM].request(method, url, headers=outgoing.headers, data=body, allow_redirects=False)


def _instead_of_failing(
    failure: GatewayError | None, relay: Relay, timers: _Timers, outgoing: Outgoing, attempt: Attempt
) -> RetryIn | MoveOn | None:
    """What the runner does instead of answering ``failure`` (decided before the attempt is
    accounted, so its record says whether the client saw it)."""
    if failure is None or relay.committed:
        return None
    # Past the request's own deadline nothing more is tried (a per-attempt timeout may be).
    if timers.attempt_expired() and outgoing.limit.request_timeout is None:
        return None
    return attempt.after(failure)


def _step(instead: RetryIn | MoveOn) -> str:
    """The record's ``next_step``: what came after this attempt."""
    return "retry" if isinstance(instead, RetryIn) else "fallback"


def _record(context: RequestContext, outgoing: Outgoing) -> RequestRecord:
    """The attempt's record, with what the request already says (the model the target is asked for)."""
    request = context.request
    parsed = context.body.parsed or {}
    model = outgoing.target.override_params.get("model", parsed.get("model"))
    return RequestRecord(
        request.method,
        request.path,
        outgoing.provider,
        trace_id(request),
        context.metadata,
        family=context.family or "other",
        model=model if isinstance(model, str) else "",
        target=outgoing.target.config_path or "",
        stream=parsed.get("stream") is True,
        key=context.caller.key.id if context.caller is not None else "",
        request_bytes=len(context.body.raw or b""),
    )


def _storable(upstream: UpstreamAnswer) -> bool:
    """Whether an answer may go to the cache at all: a 200 its provider did not mark no-store."""
    return upstream.status == 200 and "no-store" not in upstream.headers.get("Cache-Control", "").lower()


def _upstream_ms(sent: float, received: float) -> float:
    """Sending to the response headers, or to now when none came (a failure); 0 if nothing was sent."""
    if not sent:
        return 0.0
    return ((received or time.perf_counter()) - sent) * 1000


class _Timers:
    """One attempt's clocks: its deadline (the config's ``request_timeout`` or the request's own)
    and, if set, ``upstream.headers_timeout`` for the response headers."""

    __slots__ = ("attempt", "headers", "headers_wait")

    def __init__(self, headers_wait: float, limit: AttemptLimit) -> None:
        self.headers_wait = headers_wait
        self.headers = asyncio.timeout(headers_wait) if headers_wait else None
        self.attempt = asyncio.timeout_at(limit.ends) if limit.ends is not None else None

    def attempt_expired(self) -> bool:
        return self.attempt is not None and self.attempt.expired()


async def _instead_of_relaying(
    upstream: UpstreamAnswer, attempt: Attempt
) -> tuple[RetryIn | MoveOn | None, bytes | None]:
    """What the runner does instead of relaying this answer (``None``: relay it), and the body of a
    content-policy refusal already read to tell it apart (relayed as is, never routed around)."""
    instead = attempt.instead(upstream.status, upstream.headers)
    if isinstance(instead, MoveOn) and upstream.status == REFUSAL_STATUS and not attempt.target.move_on_named:
        refusal = await read_refusal(upstream)
        if refusal is not None:
            return None, refusal
    return instead, None


def _failure_of(exc: BaseException, timers: _Timers, outgoing: Outgoing, idle_timeout: float) -> GatewayError:
    """The attempt's failure: its own deadline (a 408), the headers timeout, else what the
    transport or the provider did (``upstream/failures.py``)."""
    target = outgoing.target
    if timers.attempt_expired():
        return attempt_timed_out(outgoing.limit, outgoing.provider, target.config_path)
    if timers.headers is not None and timers.headers.expired():
        return headers_timed_out(outgoing.provider, timers.headers_wait)
    # A streamed upload (the client's, or one an adapter transforms as it goes) says why it stopped.
    failure = getattr(outgoing.body, "failure", None)
    upload = failure if isinstance(failure, GatewayError) else None
    return upstream_failure(
        upload or exc, outgoing.provider, idle_timeout=idle_timeout, host_param=target.host_param
    )


def _account(
    context: RequestContext, attempt: Attempt, record: RequestRecord, failure: GatewayError | None
) -> None:
    """The attempt is over: its record goes to the after stages, its outcome to the runner."""
    if not record.next_step:
        # This attempt's answer is the client's: the error middleware records no second one. After
        # an attempt retried or moved on from, an error the runner raises (every breaker open, the
        # deadline) is the answer, and the middleware records it.
        context.request[ATTEMPTED] = True
    if failure is not None:
        # A refused address (or a bad key file) is the caller's 400, not the provider's failure.
        record.outcome = "invalid_request" if isinstance(failure, InvalidRequest) else "upstream_error"
        record.status = record.status or failure.status
        attempt.failure = failure
    for stage in context.request.app[STAGES].after:
        stage.finished(context, record)
    attempt.outcome, attempt.first_token_ms = record.outcome, record.first_token_ms


def _relay(request: web.Request, outgoing: Outgoing, inbound: Inbound | None) -> Relay:
    prepared = outgoing.prepared
    if prepared.translation is not None and prepared.native is not None:
        relay: Relay = TranslatingRelay(request, outgoing.provider, prepared.translation, prepared.native)
    else:
        relay = Relay(request, outgoing.provider, chat_chunks=prepared.chat_chunks)
    if inbound is not None:
        relay.respond = inbound.respond
    return relay


def _answer_headers(
    theirs: CIMultiDictProxy[str], outgoing: Outgoing, attempt: Attempt, gateway_s: float, upstream_s: float
) -> CIMultiDict[str]:
    """The client's response headers: the provider's that are relayed, and the gateway's own."""
    headers = relayed_response_headers(theirs)
    headers["x-portkey-provider"] = outgoing.provider
    target = outgoing.target
    if target.config_path is not None:
        headers["x-portkey-last-used-option-index"] = target.config_path
        headers["x-portkey-retry-attempt-count"] = str(attempt.chances.retry_number)
    if target.cache is not None:
        # The cache's own status replaces it when its lookup ran (it did not: a semantic config
        # without an embeddings model in the settings, or an endpoint the cache does not keep).
        headers["x-portkey-cache-status"] = "DISABLED"
    _add_server_timing(headers, gateway_s, upstream_s)
    return headers


def _add_server_timing(headers: CIMultiDict[str], gateway_s: float, upstream_s: float) -> None:
    timing = f"gateway;dur={gateway_s * 1000:.3f}, upstream;dur={upstream_s * 1000:.3f}"
    # Keep the provider's own metrics, if it sent any, after ours.
    theirs = headers.get("Server-Timing")
    headers["Server-Timing"] = f"{timing}, {theirs}" if theirs else timing


async def _request_body(request: web.Request, kind: BodyKind | None) -> RequestBody:
    app = request.app
    limits = app[SETTINGS].limits
    if (
        kind is not None
        and request.method == "POST"
        and check_media_type(request, kind) == "application/json"
    ):
        return await read_json_object(request, limits, app[ADMISSION])
    return RequestBody(stream=streamed_body(request, limits, app[ADMISSION]))


def _upstream_headers(request: web.Request, target: Target, prepared: PreparedRequest) -> CIMultiDict[str]:
    """The client headers the gateway forwards, with the provider's prepared ones over them."""
    # The header, when sent, replaces the config's list (Portkey's precedence).
    value = request.headers.get("x-portkey-forward-headers")
    forward = target.forward_headers if value is None else header_names(value)
    headers = upstream_request_headers(request.headers, forward)
    # Said explicitly rather than through skip_auto_headers, which costs ~5 µs a request in aiohttp.
    headers.setdefault("Accept-Encoding", "identity")
    if isinstance(prepared.body, bytes):
        # aiohttp sets the length of a bytes body itself (it may differ after a rewrite).
        headers.popall("Content-Length", None)
    if prepared.translation is not None:
        # The provider's own content negotiation, not the client's (which was for OpenAI's format);
        # a translated body is not the client's, so neither is its length.
        headers.popall("Accept", None)
        headers.popall("Content-Length", None)
        headers["Content-Type"] = "application/json"
    headers.update(prepared.headers)
    return headers
