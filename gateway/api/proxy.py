"""The handler every OpenAI endpoint goes through: admit, parse, plan, then attempt each target
(send upstream, relay back) until one answers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
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
from gateway.api.intake import admit, plan, release
from gateway.appkeys import ADMISSION, CLOUD_AUTH, SETTINGS, STAGES, STATE, UPSTREAM
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ServiceUnavailable,
)
from gateway.observability.requestlog import RequestRecord
from gateway.observability.tracing import trace_id
from gateway.providers.base import Credentials, NativeRequest, Translation, UpstreamCall
from gateway.providers.mistral import routed_endpoint
from gateway.providers.option_headers import sent_as_headers
from gateway.routing.attempts import Attempt, MoveOn, RequestContext, RetryIn, run_attempts
from gateway.routing.deadlines import AttemptLimit, request_deadline
from gateway.routing.metadata import parse_metadata
from gateway.routing.params import edited_params
from gateway.routing.refusals import REFUSAL_STATUS, read_refusal
from gateway.routing.target import Target
from gateway.streaming.relay import ClientGone, Relay
from gateway.streaming.translated import TranslatingRelay
from gateway.upstream.failures import attempt_timed_out, headers_timed_out, upstream_failure
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
    #: When this attempt must be done: the config's request_timeout or the request's deadline.
    limit: AttemptLimit
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

    The pipeline, top to bottom (the README's "Architecture"): admit, parse what routing needs,
    plan, the before stages, then the attempts, each one accounted by the after stages as it ends.
    """
    started = time.perf_counter()
    app = request.app
    task = admit(request)
    body = NO_BODY
    try:
        _check_path(request.rel_url.raw_path)
        body = await _request_body(request, body_kind)
        context = _planned(request, body, family, started)
        for stage in app[STAGES].before:
            if (answer := await stage.before(context)) is not None:
                return answer
        return await run_attempts(context, _exchange)
    finally:
        release(request, task, body.reserved)


def _planned(request: web.Request, body: RequestBody, family: str | None, started: float) -> RequestContext:
    """Parse what routing needs from the headers and the JSON body, then plan the targets."""
    headers = request.headers
    metadata = parse_metadata(headers.get("x-portkey-metadata"))
    now = asyncio.get_running_loop().time()
    deadline = request_deadline(headers, request.app[SETTINGS].upstream.request_timeout, now)
    params = body.parsed or {}
    return plan(
        request, headers, metadata, params, family=family, body=body, started=started, deadline=deadline
    )


def _check_path(raw_path: str) -> None:
    """Refuse '.' and '..' segments (raw or percent-encoded, any case): forwarded, they would make
    the provider (or a proxy before it) resolve a path outside the one the gateway meant."""
    if has_dot_segments(raw_path):
        raise InvalidRequest(
            "The request path must not have '.' or '..' segments.", param=None, code="invalid_path"
        )


def _outgoing(
    request: web.Request, target: Target, family: str | None, body: RequestBody, limit: AttemptLimit
) -> Outgoing:
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
        return _translated(request, target, call, translation, body, limit)
    # Already encoded (the client's raw path and query): parsing it again would decode some
    # escapes (%2F in a query becomes /), and the provider must get the bytes the client sent.
    url = URL(target.adapter.upstream_url(call), encoded=True)
    data = body.for_target(
        target.adapter, endpoint, target.override_params, target.default_params, target.drop_params
    )
    headers = _upstream_headers(request, target, streamed=not isinstance(data, bytes))
    chat_chunks = endpoint in ("chat/completions", "completions", "fim/completions")
    return Outgoing(spec.slug, url, headers, data, limit, target, chat_chunks)


def _translated(
    request: web.Request,
    target: Target,
    call: UpstreamCall,
    translation: Translation,
    body: RequestBody,
    limit: AttemptLimit,
) -> Outgoing:
    """The outgoing request for a provider that speaks its own format on this endpoint."""
    if body.parsed is None:
        raise InvalidRequest(
            f"Provider {target.adapter.spec.slug} is reached through translation, which needs a JSON body.",
            code="invalid_body",
        )
    try:
        params = edited_params(body.parsed, target.override_params, target.default_params, target.drop_params)
        native = translation.request(call, params)
    except (orjson.JSONEncodeError, RecursionError):
        raise too_deep() from None
    headers = _upstream_headers(request, target, streamed=False)
    # The provider's own content negotiation, not the client's (which was for OpenAI's format).
    headers.popall("Accept", None)
    headers["Content-Type"] = "application/json"
    headers.update(native.headers)
    url = URL(native.url, encoded=True)
    slug = target.adapter.spec.slug
    return Outgoing(slug, url, headers, native.body, limit, target, False, translation, native)


async def _exchange(context: RequestContext, attempt: Attempt) -> web.StreamResponse | RetryIn | MoveOn:
    """Send ``attempt`` and relay the answer, or say to retry or move on instead.

    That choice exists only before anything was sent to the client: on a status the target's
    retry or fallback names (a content-policy refusal only when named: ``routing/refusals.py``),
    on a connection failure (retried, then moved on from), on a timed-out attempt (a 408, as a
    status) and on other timeouts (moved on from). Once the request's deadline passed, nothing
    is. Every attempt is recorded.
    """
    request = context.request
    outgoing = _outgoing(request, attempt.target, context.family, context.body, attempt.limit)
    started = context.started
    metadata = context.metadata
    app = request.app
    target = outgoing.target
    record = RequestRecord(request.method, request.path, outgoing.provider, trace_id(request), metadata)
    relay = _relay(request, outgoing)
    sent = received = started
    failure: GatewayError | None = None
    deadline_passed = False
    headers_wait = app[SETTINGS].upstream.headers_timeout
    headers_timer = asyncio.timeout(headers_wait) if headers_wait else None
    limit = outgoing.limit
    attempt_timer = asyncio.timeout_at(limit.ends) if limit.ends is not None else None
    try:
        async with attempt_timer or _NO_DEADLINE, headers_timer or _NO_DEADLINE:
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
                record.status = attempt.status = upstream.status
                instead = attempt.instead(upstream.status, upstream.headers)
                refusal = None
                if (
                    isinstance(instead, MoveOn)
                    and upstream.status == REFUSAL_STATUS
                    and not target.move_on_named
                ):
                    refusal = await read_refusal(upstream)
                if instead is not None and refusal is None:
                    record.outcome = "retried" if isinstance(instead, RetryIn) else "fell_back"
                    return instead
                gateway_s = sent - started + time.perf_counter() - received
                headers = _answer_headers(upstream.headers, outgoing, attempt, gateway_s, received - sent)
                await relay.start(
                    upstream,
                    headers,
                    app[SETTINGS].upstream.first_token_timeout or None,
                    attempt.claim if attempt.gate else None,
                    refusal,
                )
                record.first_token_ms = (time.perf_counter() - sent) * 1000
                await relay.pump(upstream)
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
        if attempt_timer is not None and attempt_timer.expired():
            failure = attempt_timed_out(limit, outgoing.provider, target.config_path)
            deadline_passed = limit.request_timeout is None
        elif headers_timer is not None and headers_timer.expired():
            failure = headers_timed_out(outgoing.provider, headers_wait)
        else:
            upload = outgoing.body.failure if isinstance(outgoing.body, StreamedBody) else None
            failure = upstream_failure(
                upload or exc,
                outgoing.provider,
                idle_timeout=app[SETTINGS].upstream.idle_timeout,
                host_param=target.host_param,
            )
    finally:
        record.duration_ms = (time.perf_counter() - started) * 1000
        record.upstream_ms = (received - sent) * 1000
        record.tail = relay.tail
        if failure is not None:
            # A refused address (or a bad key file) is the caller's 400, not the provider's failure.
            record.outcome = "invalid_request" if isinstance(failure, InvalidRequest) else "upstream_error"
            record.status = record.status or failure.status
        for stage in app[STAGES].after:
            stage.finished(context, record)
        attempt.outcome, attempt.first_token_ms = record.outcome, record.first_token_ms
    if failure is not None:
        attempt.failure = failure
        if not relay.committed:
            instead_of_failing = None if deadline_passed else attempt.after(failure)
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
    """Let the provider add its auth to the final request: the key in its own form, or a signature
    (SigV4) or token (Vertex, Entra ID) it may have to fetch first."""
    app = request.app
    target = outgoing.target
    check_url = functools.partial(
        check_custom_host,
        policy=app[SETTINGS].host_policy,
        where="The service account's token_uri",
        param="x-portkey-vertex-service-account-json",
    )
    credentials = Credentials(
        target.api_key, target.options, app[UPSTREAM], check_url, app[CLOUD_AUTH], target.base_url
    )
    if outgoing.translation is None or outgoing.native is None:
        await target.adapter.authorize(outgoing.headers, credentials)
        return
    await outgoing.translation.authorize(outgoing.native, credentials)
    outgoing.headers.update(outgoing.native.headers)


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
    if target.cache:
        headers["x-portkey-cache-status"] = "DISABLED"  # until the gateway has a cache
    _add_server_timing(headers, gateway_s, upstream_s)
    return headers


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
    # The header, when sent, replaces the config's list (Portkey's precedence).
    value = request.headers.get("x-portkey-forward-headers")
    forward = target.forward_headers if value is None else header_names(value)
    headers = upstream_request_headers(request.headers, forward)
    # Said explicitly rather than through skip_auto_headers, which costs ~5 µs a request in aiohttp.
    headers.setdefault("Accept-Encoding", "identity")
    if not streamed:
        # aiohttp sets the length of a bytes body itself (it may differ after a rewrite).
        headers.popall("Content-Length", None)
    headers.update(sent_as_headers(target.options))
    return headers
