"""The handler every OpenAI endpoint goes through: pick the target, send upstream, relay back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from gateway.api.bodies import (
    BodyKind,
    StreamedBody,
    check_media_type,
    json_body_for,
    read_json_object,
    streamed_body,
)
from gateway.appkeys import PROVIDERS, REQUEST_LOG, SETTINGS, UPSTREAM
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, RequestTimeout, UpstreamTimeout
from gateway.observability.requestlog import RequestRecord
from gateway.observability.tracing import trace_id
from gateway.providers.base import UpstreamCall
from gateway.routing.metadata import parse_metadata
from gateway.routing.target import Target, target_from_headers
from gateway.streaming.relay import ClientGone, Relay
from gateway.upstream.failures import upstream_failure
from gateway.upstream.headers import header_names, relayed_response_headers, upstream_request_headers

#: Portkey's headers for OpenAI's account-scoping headers.
_OPENAI_HEADERS = (
    ("x-portkey-openai-organization", "OpenAI-Organization"),
    ("x-portkey-openai-project", "OpenAI-Project"),
)


async def proxy(
    request: web.Request, body_kind: BodyKind | None = None, family: str | None = None
) -> web.StreamResponse:
    """Forward ``request`` to the provider it names and relay the answer.

    ``body_kind`` is what the endpoint accepts (``None``: whatever comes, streamed through);
    ``family`` is the endpoint family checked against the provider's catalog row (``None``: a
    passed-through path, not checked). Errors before the response starts raise a
    :class:`GatewayError`; after it, they end the response in-band (see ``streaming/relay.py``).
    A client that disconnects cancels this handler, which closes the upstream connection.
    """
    started = time.perf_counter()
    app = request.app
    settings = app[SETTINGS]
    target = target_from_headers(request.headers, app[PROVIDERS], settings)
    metadata = parse_metadata(request.headers.get("x-portkey-metadata"))
    spec = target.adapter.spec
    endpoint = request.rel_url.raw_path[len("/v1/") :]
    if family is not None and spec.endpoints is not None and family not in spec.endpoints:
        raise InvalidRequest(
            f"Provider {spec.slug} does not offer /v1/{family} endpoints.",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )
    body = await _upstream_body(request, body_kind, target, endpoint)
    url = target.adapter.upstream_url(
        UpstreamCall(endpoint, request.rel_url.raw_query_string, target.base_url, target.options)
    )
    headers = _upstream_headers(request, target, streamed=not isinstance(body, bytes))
    deadline, caller_deadline = _deadline(request, settings.upstream.request_timeout)

    relay = Relay(request)
    record = RequestRecord(request.method, request.path, spec.slug, trace_id(request), metadata)
    sent = received = started
    failure: GatewayError | None = None
    try:
        async with asyncio.timeout(deadline):
            sent = time.perf_counter()
            async with app[UPSTREAM].request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            ) as upstream:
                received = time.perf_counter()
                record.status = upstream.status
                response_headers = relayed_response_headers(upstream.headers)
                response_headers["x-portkey-provider"] = spec.slug
                gateway_ms = (sent - started + time.perf_counter() - received) * 1000
                response_headers["Server-Timing"] = (
                    f"gateway;dur={gateway_ms:.3f}, upstream;dur={(received - sent) * 1000:.3f}"
                )
                await relay.start(upstream, response_headers)
                await relay.pump(upstream)
    except ClientGone:
        record.outcome = "client_closed"
    except asyncio.CancelledError:
        record.outcome = "client_closed"
        raise
    except (aiohttp.ClientError, OSError, PayloadTooLarge) as exc:
        failure = _upload_failure(body) or upstream_failure(
            exc, spec.slug, idle_timeout=settings.upstream.idle_timeout
        )
    except TimeoutError:
        failure = (
            RequestTimeout(
                f"The request took longer than x-portkey-request-timeout ({deadline * 1000:g} ms)."
            )
            if caller_deadline and deadline is not None
            else UpstreamTimeout(
                f"Provider {spec.slug} did not finish within the gateway's request timeout ({deadline:g} s)."
            )
        )
    finally:
        record.duration_ms = (time.perf_counter() - started) * 1000
        record.upstream_ms = (received - sent) * 1000
        record.tail = relay.tail
        if failure is not None:
            record.outcome = "upstream_error"
            record.status = record.status or failure.status
        app[REQUEST_LOG].submit(record)
    if failure is not None:
        if not relay.committed:
            raise failure
        await relay.fail(failure)
    assert relay.response is not None
    return relay.response


async def _upstream_body(
    request: web.Request, kind: BodyKind | None, target: Target, endpoint: str
) -> bytes | StreamedBody | None:
    limits = request.app[SETTINGS].limits
    if kind is not None and request.method == "POST":
        check_media_type(request, kind)
        if request.content_type == "application/json":
            raw, parsed = await read_json_object(request, limits.max_json_body_bytes)
            return json_body_for(target.adapter, endpoint, raw, parsed)
    return streamed_body(request, limits.max_upload_bytes)


def _upstream_headers(request: web.Request, target: Target, *, streamed: bool) -> Any:
    forward = header_names(request.headers.get("x-portkey-forward-headers", ""))
    headers = upstream_request_headers(request.headers, forward)
    if not streamed:
        # aiohttp sets the length of a bytes body itself (it may differ after a rewrite).
        headers.popall("Content-Length", None)
    for ours, theirs in _OPENAI_HEADERS:
        value = request.headers.get(ours)
        if value:
            headers[theirs] = value
    headers.update(target.adapter.auth_headers(target.api_key))
    return headers


def _deadline(request: web.Request, configured: float) -> tuple[float | None, bool]:
    """Seconds the whole exchange may take, and whether the caller set it."""
    value = request.headers.get("x-portkey-request-timeout")
    if value is None:
        return (configured or None), False
    try:
        milliseconds = int(value)
    except ValueError:
        milliseconds = 0
    if milliseconds <= 0:
        raise InvalidRequest(
            f"x-portkey-request-timeout must be a positive number of milliseconds, got {value!r}.",
            param="x-portkey-request-timeout",
            code="invalid_request_timeout",
        )
    return milliseconds / 1000, True


def _upload_failure(body: bytes | StreamedBody | None) -> GatewayError | None:
    if isinstance(body, StreamedBody) and body.exceeded:
        return PayloadTooLarge("The upload is larger than this gateway's limit.")
    return None
