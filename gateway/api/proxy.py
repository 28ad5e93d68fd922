"""The handler every OpenAI endpoint goes through: pick the target, send upstream, relay back."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.api.bodies import (
    NO_BODY,
    BodyKind,
    RequestBody,
    StreamedBody,
    check_media_type,
    read_json_object,
    streamed_body,
    too_deep,
)
from gateway.appkeys import ADMISSION, HEALTH, PROVIDERS, REQUEST_LOG, SETTINGS, STATE, UPSTREAM
from gateway.config.routing import MAX_TIMEOUT_MS
from gateway.config.settings import RetrySettings
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.observability.requestlog import RequestRecord
from gateway.observability.tracing import trace_id
from gateway.providers.base import Credentials, NativeRequest, Translation, UpstreamCall
from gateway.providers.mistral import routed_endpoint
from gateway.providers.option_headers import sent_as_headers
from gateway.routing.health import BreakerState, TargetHealth
from gateway.routing.identity import TargetIdentity
from gateway.routing.metadata import parse_metadata
from gateway.routing.retry import NEVER_RETRIED, retry_delay
from gateway.routing.target import Target, targets_for
from gateway.streaming.relay import ClientGone, Relay
from gateway.streaming.translated import TranslatingRelay
from gateway.upstream.failures import upstream_failure
from gateway.upstream.headers import header_names, relayed_response_headers, upstream_request_headers
from gateway.upstream.hostguard import check_custom_host, has_dot_segments

#: ``asyncio.timeout(None)`` costs ~3 µs a request for nothing.
_NO_DEADLINE = contextlib.nullcontext()


@dataclass(slots=True)
class Outgoing:
    """The upstream request, fully decided before anything is sent."""

    provider: str
    url: URL
    headers: CIMultiDict[str]
    body: bytes | StreamedBody | None
    #: Seconds the whole exchange may take (``None``: no deadline), and whether the caller set it.
    deadline: float | None
    caller_deadline: bool
    target: Target
    #: The answer, if a stream, is OpenAI chat/completions chunks that end in ``[DONE]``.
    chat_chunks: bool
    #: Set when the provider speaks its own format here: the request it was translated into.
    translation: Translation | None = None
    native: NativeRequest | None = None


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
    """
    started = time.perf_counter()
    state = request.app[STATE]
    admission = request.app[ADMISSION]
    admission.admit()
    task = asyncio.current_task()
    assert task is not None
    state.request_started(task)
    body = NO_BODY
    try:
        _check_path(request.rel_url.raw_path)
        body = await _request_body(request, body_kind)
        metadata = parse_metadata(request.headers.get("x-portkey-metadata"))
        app = request.app
        targets = targets_for(
            request.headers, metadata, body.parsed or {}, app[PROVIDERS], app[SETTINGS], app[HEALTH]
        )
        if body.stream is not None:
            targets = targets[:1]  # an upload streams through once: there is nothing to resend
        return await _try_targets(request, targets, family, body, metadata, started)
    finally:
        admission.release_body(body.reserved)
        state.request_finished(task)


def _check_path(raw_path: str) -> None:
    """Refuse '.' and '..' segments (raw or percent-encoded, any case): forwarded, they would make
    the provider (or a proxy before it) resolve a path outside the one the gateway meant."""
    if has_dot_segments(raw_path):
        raise InvalidRequest(
            "The request path must not have '.' or '..' segments.", param=None, code="invalid_path"
        )


@dataclass(frozen=True, slots=True)
class Chances:
    """What an attempt may do instead of relaying its answer to the client."""

    #: Retries already made at this target (0 on the first attempt).
    retry_number: int
    retries_left: int
    can_move_on: bool
    #: Seconds of retry waiting the request has left.
    budget_left: float
    #: Set when this attempt races a hedged one: the first ready to answer claims the client.
    gate: CommitGate | None = None


class CommitGate:
    """Lets exactly one of two hedged attempts answer the client: the first ready claims it and
    the other is cancelled, which closes its upstream connection."""

    __slots__ = ("_attempts",)

    def __init__(self) -> None:
        self._attempts: list[asyncio.Task[object]] = []

    def enter(self, attempt: asyncio.Task[object]) -> None:
        self._attempts.append(attempt)

    def claim(self) -> None:
        me = asyncio.current_task()
        for attempt in self._attempts:
            if attempt is not me:
                attempt.cancel()


@dataclass(frozen=True, slots=True)
class RetryIn:
    seconds: float


class MoveOn:
    """Try the next target."""


MOVE_ON = MoveOn()


async def _try_targets(
    request: web.Request,
    targets: list[Target],
    family: str | None,
    body: RequestBody,
    metadata: dict[str, str],
    started: float,
) -> web.StreamResponse:
    """Attempt the targets in order, retrying each as its config allows, until one answers."""
    budget = request.app[SETTINGS].retries.budget
    health = request.app[HEALTH]
    index = retry_number = 0
    while True:
        target = targets[index]
        can_move_on = index + 1 < len(targets)
        if target.health_key is not None and not health.allow(target.health_key):
            if not can_move_on:
                raise ServiceUnavailable(
                    f"Every target this request could use is failing (circuit breaker open at "
                    f"{target.config_path}); try again later.",
                    code="circuit_open",
                )
            index, retry_number = index + 1, 0
            continue
        if (
            target.hedge_after is not None
            and can_move_on
            and retry_number == 0
            and _usable(targets[index + 1], health)
        ):
            hedged = await _hedged(
                request, targets[index], targets[index + 1], family, body, metadata, started
            )
            if isinstance(hedged, web.StreamResponse):
                return hedged
            index += hedged
            continue
        chances = Chances(retry_number, target.retry.attempts - retry_number, can_move_on, budget)
        outcome = await _exchange(
            request, _outgoing(request, target, family, body), metadata, started, chances
        )
        if isinstance(outcome, web.StreamResponse):
            return outcome
        if isinstance(outcome, RetryIn):
            await asyncio.sleep(outcome.seconds)
            budget -= outcome.seconds
            retry_number += 1
        else:
            index, retry_number = index + 1, 0


def _usable(target: Target, health: TargetHealth) -> bool:
    """Whether a hedge may start ``target`` (asked without claiming a half-open breaker's probe)."""
    return target.health_key is None or health.state(target.health_key) != BreakerState.OPEN


async def _hedged(
    request: web.Request,
    primary: Target,
    backup: Target,
    family: str | None,
    body: RequestBody,
    metadata: dict[str, str],
    started: float,
) -> web.StreamResponse | int:
    """Try ``primary``; if it has no answer ready after ``hedge_after`` s, race ``backup`` too.

    The first attempt ready to answer (its first chunk, or its whole small body) wins and the
    other is cancelled. Returns the answer, or how many targets were used up without one (1 when
    the primary moved on before the backup started, 2 when both did).
    """
    gate = CommitGate()

    def attempt(target: Target, can_move_on: bool) -> asyncio.Task[object]:
        chances = Chances(0, 0, can_move_on, 0.0, gate)
        outgoing = _outgoing(request, target, family, body)
        task: asyncio.Task[object] = asyncio.ensure_future(
            _exchange(request, outgoing, metadata, started, chances)
        )
        gate.enter(task)
        return task

    attempts = [attempt(primary, True)]
    try:
        done, _ = await asyncio.wait(attempts, timeout=primary.hedge_after)
        if done:
            outcome = attempts[0].result()
            return outcome if isinstance(outcome, web.StreamResponse) else 1
        attempts.append(attempt(backup, backup.move_on != frozenset()))
        return await _first_answer(attempts)
    finally:
        for task in attempts:
            task.cancel()  # the loser, or both when the client went away


async def _first_answer(attempts: list[asyncio.Task[object]]) -> web.StreamResponse | int:
    """The first answer among racing attempts; 2 when both moved on; a failure if both failed."""
    failure: BaseException | None = None
    pending = set(attempts)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.cancelled():
                continue
            if task.exception() is not None:
                failure = task.exception()
            elif isinstance(task.result(), web.StreamResponse):
                return cast(web.StreamResponse, task.result())
    if failure is not None:
        raise failure
    return 2


def _outgoing(request: web.Request, target: Target, family: str | None, body: RequestBody) -> Outgoing:
    spec = target.adapter.spec
    if family is not None:
        target.check_serves(family)
    endpoint = routed_endpoint(request.rel_url.raw_path[len("/v1/") :], target.options)
    call = UpstreamCall(
        endpoint,
        request.rel_url.raw_query_string,
        target.base_url,
        target.options,
        request.headers,
        target.strict_open_ai_compliance,
    )
    translation = target.adapter.translation(endpoint)
    if translation is not None:
        return _translated(request, target, call, translation, body)
    # Already encoded (the client's raw path and query): parsing it again would decode some
    # escapes (%2F in a query becomes /), and the provider must get the bytes the client sent.
    url = URL(target.adapter.upstream_url(call), encoded=True)
    data = body.for_target(target.adapter, endpoint, target.override_params)
    headers = _upstream_headers(request, target, streamed=not isinstance(data, bytes))
    headers.update(target.adapter.auth_headers(target.api_key))
    deadline, caller_deadline = _target_deadline(request, target)
    chat_chunks = endpoint in ("chat/completions", "completions", "fim/completions")
    return Outgoing(spec.slug, url, headers, data, deadline, caller_deadline, target, chat_chunks)


def _translated(
    request: web.Request, target: Target, call: UpstreamCall, translation: Translation, body: RequestBody
) -> Outgoing:
    """The outgoing request for a provider that speaks its own format on this endpoint."""
    if body.parsed is None:
        raise InvalidRequest(
            f"Provider {target.adapter.spec.slug} is reached through translation, which needs a JSON body.",
            code="invalid_body",
        )
    try:
        native = translation.request(call, {**body.parsed, **target.override_params})
    except (orjson.JSONEncodeError, RecursionError):
        raise too_deep() from None
    headers = _upstream_headers(request, target, streamed=False)
    # The provider's own content negotiation, not the client's (which was for OpenAI's format).
    headers.popall("Accept", None)
    headers["Content-Type"] = "application/json"
    headers.update(native.headers)
    deadline, caller_deadline = _target_deadline(request, target)
    url = URL(native.url, encoded=True)
    slug = target.adapter.spec.slug
    return Outgoing(
        slug, url, headers, native.body, deadline, caller_deadline, target, False, translation, native
    )


def _target_deadline(request: web.Request, target: Target) -> tuple[float | None, bool]:
    deadline, caller_deadline = _deadline(request, request.app[SETTINGS].upstream.request_timeout)
    if target.request_timeout is not None and not caller_deadline:
        deadline = target.request_timeout / 1000
    return deadline, caller_deadline


async def _exchange(
    request: web.Request, outgoing: Outgoing, metadata: dict[str, str], started: float, chances: Chances
) -> web.StreamResponse | RetryIn | MoveOn:
    """Send ``outgoing`` and relay the answer, or say to retry or move on instead.

    That choice exists only before anything was sent to the client: on a status the target's
    retry or fallback names, on a connection failure (retried, then moved on from) and on a
    timeout (moved on from). Every attempt is recorded.
    """
    app = request.app
    target = outgoing.target
    record = RequestRecord(request.method, request.path, outgoing.provider, trace_id(request), metadata)
    relay = _relay(request, outgoing)
    sent = received = started
    failure: GatewayError | None = None
    health_key = target.health_key
    if health_key is not None:
        app[HEALTH].started(health_key)
    headers_wait = app[SETTINGS].upstream.headers_timeout
    headers_timer = asyncio.timeout(headers_wait) if headers_wait else None
    try:
        async with (
            asyncio.timeout(outgoing.deadline) if outgoing.deadline else _NO_DEADLINE,
            headers_timer or _NO_DEADLINE,
        ):
            if outgoing.translation is not None:
                await _authorize(request, outgoing)
            sent = time.perf_counter()
            async with app[UPSTREAM].request(
                request.method,
                outgoing.url,
                headers=outgoing.headers,
                data=outgoing.body,
                allow_redirects=False,
            ) as upstream:
                if headers_timer is not None:
                    headers_timer.reschedule(None)  # that layer is done: the headers came
                received = time.perf_counter()
                record.status = upstream.status
                instead = _instead(upstream.status, upstream.headers, target, chances, app[SETTINGS].retries)
                if instead is not None:
                    record.outcome = "retried" if isinstance(instead, RetryIn) else "fell_back"
                    return instead
                headers = relayed_response_headers(upstream.headers)
                headers["x-portkey-provider"] = outgoing.provider
                if target.config_path is not None:
                    headers["x-portkey-last-used-option-index"] = target.config_path
                    headers["x-portkey-retry-attempt-count"] = str(chances.retry_number)
                _add_server_timing(headers, sent - started + time.perf_counter() - received, received - sent)
                await relay.start(
                    upstream,
                    headers,
                    app[SETTINGS].upstream.first_token_timeout or None,
                    chances.gate.claim if chances.gate else None,
                )
                record.first_token_ms = (time.perf_counter() - sent) * 1000
                await relay.pump(upstream)
    except ClientGone:
        record.outcome = "client_closed"
    except asyncio.CancelledError:
        # The client left, or (before anything was sent) a hedged attempt beat this one.
        record.outcome = "client_closed" if relay.committed or chances.gate is None else "hedge_lost"
        if app[STATE].draining and relay.committed:
            # Cancelled at the end of a drain: say so, rather than just stopping mid-stream.
            record.outcome = "shutdown"
            await relay.fail(ServiceUnavailable("The gateway shut down before the response was complete."))
        raise
    except (aiohttp.ClientError, OSError, GatewayError) as exc:  # TimeoutError is an OSError
        if headers_timer is not None and headers_timer.expired():
            failure = UpstreamTimeout(
                f"Provider {outgoing.provider} sent no response headers within {headers_wait:g} s.",
                code="upstream_headers_timeout",
            )
        else:
            failure = _failure(exc, outgoing, app[SETTINGS].upstream.idle_timeout)
    finally:
        record.duration_ms = (time.perf_counter() - started) * 1000
        record.upstream_ms = (received - sent) * 1000
        record.tail = relay.tail
        if failure is not None:
            # A refused address (or a bad key file) is the caller's 400, not the provider's failure.
            record.outcome = "invalid_request" if isinstance(failure, InvalidRequest) else "upstream_error"
            record.status = record.status or failure.status
        app[REQUEST_LOG].submit(record)
        if health_key is not None:
            _report_health(app[HEALTH], health_key, record)
    if failure is not None:
        if not relay.committed:
            instead_of_failing = _after_failure(failure, chances, app[SETTINGS].retries)
            if instead_of_failing is None:
                raise failure
            return instead_of_failing
        await relay.fail(failure)
    assert relay.response is not None
    return relay.response


def _relay(request: web.Request, outgoing: Outgoing) -> Relay:
    if outgoing.translation is not None and outgoing.native is not None:
        return TranslatingRelay(request, outgoing.provider, outgoing.translation, outgoing.native)
    return Relay(request, outgoing.provider, chat_chunks=outgoing.chat_chunks)


async def _authorize(request: web.Request, outgoing: Outgoing) -> None:
    """Let a translated provider sign the final request (SigV4) or fetch its token (Vertex)."""
    assert outgoing.translation is not None
    assert outgoing.native is not None
    app = request.app
    target = outgoing.target
    check_url = functools.partial(
        check_custom_host,
        policy=app[SETTINGS].host_policy,
        where="The service account's token_uri",
        param="x-portkey-vertex-service-account-json",
    )
    credentials = Credentials(target.api_key, target.options, app[UPSTREAM], check_url)
    await outgoing.translation.authorize(outgoing.native, credentials)
    outgoing.headers.update(outgoing.native.headers)


def _report_health(health: TargetHealth, key: TargetIdentity, record: RequestRecord) -> None:
    """A target's breaker counts what the provider did wrong: 5xx, 429, broken or silent
    connections (502/504). 4xx answers, the provider's or the gateway's own (a bad key file, the
    caller's own deadline), are the caller's business, and a client leaving says nothing."""
    health.finished(key)
    if record.status >= 500 or record.status == 429:
        health.failed(key)
    elif record.outcome in ("ok", "fell_back", "retried"):
        health.succeeded(key, record.first_token_ms / 1000 if record.first_token_ms else None)


def _instead(
    status: int, headers: Mapping[str, str], target: Target, chances: Chances, settings: RetrySettings
) -> RetryIn | MoveOn | None:
    """Retry or move on rather than relay an answer with ``status``; ``None``: relay it."""
    if chances.retries_left and status in target.retry.on_status_codes and status not in NEVER_RETRIED:
        delay = retry_delay(headers, chances.retry_number, settings)
        if delay is not None and delay <= chances.budget_left:
            return RetryIn(delay)
    if chances.can_move_on and status in target.move_on:
        return MOVE_ON
    return None


def _after_failure(
    failure: GatewayError, chances: Chances, settings: RetrySettings
) -> RetryIn | MoveOn | None:
    """A connection failure before any answer is retried; a timeout is moved on from."""
    if isinstance(failure, PayloadTooLarge | InvalidRequest):
        return None
    if chances.retries_left and isinstance(failure, UpstreamUnreachable | UpstreamBroken):
        delay = retry_delay({}, chances.retry_number, settings)
        if delay is not None and delay <= chances.budget_left:
            return RetryIn(delay)
    return MOVE_ON if chances.can_move_on else None


def _failure(exc: BaseException, outgoing: Outgoing, idle_timeout: float) -> GatewayError:
    if isinstance(outgoing.body, StreamedBody) and outgoing.body.failure is not None:
        return outgoing.body.failure
    if isinstance(exc, GatewayError):  # the relay's own verdict on the stream
        return exc
    # aiohttp's connect and idle timeouts are ClientErrors too; a bare TimeoutError is the deadline.
    if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError):
        seconds = outgoing.deadline or 0.0
        if outgoing.caller_deadline:
            return RequestTimeout(
                f"The request took longer than x-portkey-request-timeout ({seconds * 1000:g} ms)."
            )
        return UpstreamTimeout(
            f"Provider {outgoing.provider} did not finish within the gateway's request timeout "
            f"({seconds:g} s)."
        )
    failure = upstream_failure(exc, outgoing.provider, idle_timeout=idle_timeout)
    if failure.code == "custom_host_not_allowed":
        target = outgoing.target
        failure.param = (
            "x-portkey-config"
            if target.config_path
            else ("x-portkey-custom-host" if target.base_url else "x-portkey-provider")
        )
    return failure


def _add_server_timing(headers: CIMultiDict[str], gateway_s: float, upstream_s: float) -> None:
    timing = f"gateway;dur={gateway_s * 1000:.3f}, upstream;dur={upstream_s * 1000:.3f}"
    # Keep the provider's own metrics, if it sent any, after ours.
    theirs = headers.get("Server-Timing")
    headers["Server-Timing"] = f"{timing}, {theirs}" if theirs else timing


async def _request_body(request: web.Request, kind: BodyKind | None) -> RequestBody:
    limits = request.app[SETTINGS].limits
    if kind is not None and request.method == "POST":
        check_media_type(request, kind)
        if request.content_type == "application/json":
            return await read_json_object(request, limits, request.app[ADMISSION])
    return RequestBody(stream=streamed_body(request, limits, request.app[ADMISSION]))


def _upstream_headers(request: web.Request, target: Target, *, streamed: bool) -> CIMultiDict[str]:
    forward = header_names(request.headers.get("x-portkey-forward-headers", ""))
    headers = upstream_request_headers(request.headers, forward)
    # Said explicitly rather than through skip_auto_headers, which costs ~5 µs a request in aiohttp.
    headers.setdefault("Accept-Encoding", "identity")
    if not streamed:
        # aiohttp sets the length of a bytes body itself (it may differ after a rewrite).
        headers.popall("Content-Length", None)
    headers.update(sent_as_headers(target.options))
    return headers


def _deadline(request: web.Request, configured: float) -> tuple[float | None, bool]:
    """Seconds the whole exchange may take, and whether the caller set it."""
    value = request.headers.get("x-portkey-request-timeout")
    if value is None:
        return (configured or None), False
    # Digits only, and few: int() of 400 digits would pass, then overflow asyncio's timer.
    milliseconds = int(value) if value.isdecimal() and len(value) <= 12 else 0
    if not 0 < milliseconds <= MAX_TIMEOUT_MS:
        raise InvalidRequest(
            "x-portkey-request-timeout must be a positive number of milliseconds, at most "
            f"{MAX_TIMEOUT_MS} (24 hours), got {value[:20]!r}.",
            param="x-portkey-request-timeout",
            code="invalid_request_timeout",
        )
    return milliseconds / 1000, True
