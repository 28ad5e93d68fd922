"""Every error leaves the gateway OpenAI-shaped: the gateway's own, aiohttp's, and unexpected ones."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.appkeys import ATTEMPTED, INBOUND, PROVIDERS, RECORDER, STATE
from gateway.errors import GatewayError, MethodNotAllowed, NotFound, Overloaded, PayloadTooLarge
from gateway.observability.logging import escaped
from gateway.observability.record import RequestRecord
from gateway.observability.tracing import trace_id

__all__ = [
    "openai_errors",
]

logger = logging.getLogger("gateway.errors")


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn exceptions into OpenAI-style error responses; never show a stack trace.

    An unexpected exception is logged with its traceback (request headers are never logged,
    so no key reaches the log) and answered as a generic 500. An answer no attempt accounted for
    (the gateway's own refusals: 400, 404, 405, 413, 415, an admission 503) goes to the request log.
    While the process drains, every answer closes its connection.
    """
    started = time.perf_counter()
    try:
        response = await handler(request)
    except GatewayError as exc:
        # A shed is counted, and logged once per 10 s, by admission: one line each would add load.
        _log_refusal(request, exc.status, "shed" if isinstance(exc, Overloaded) else "rejected", started)
        if exc.closes_connection:
            return await _respond_and_close(request, exc)
        response = _respond(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _from_http_exception(request, exc)
        _log_refusal(request, error.status, "rejected", started)
        response = _respond(request, error)
    except Exception:
        logger.exception("unexpected error on %s %s", escaped(request.method), escaped(request.path))
        _log_refusal(request, 500, "internal_error", started)
        response = _respond(
            request, GatewayError("The gateway failed to handle this request.", code="internal_error")
        )
    if request.app[STATE].draining:
        # Each answer of a draining process ends its connection (``Connection: close`` when not yet
        # sent), so keep-alive pools (nginx's upstream connections, SDK clients) reconnect elsewhere
        # instead of sending here until the drain timeout.
        response.force_close()
    return response


def _log_refusal(request: web.Request, status: int, outcome: str, started: float) -> None:
    """Record an answer the gateway gives itself, unless an attempt's record already told of it."""
    if request.get(ATTEMPTED):
        return
    # Only a known slug: a header a caller filled with anything else (a key, by mistake) is not logged.
    slug = request.headers.get("x-portkey-provider", "").strip()
    provider = slug if slug in request.app[PROVIDERS] else "-"
    record = RequestRecord(request.method, request.path, provider, trace_id(request), {})
    record.status, record.outcome = status, outcome
    record.duration_ms = (time.perf_counter() - started) * 1000
    request.app[RECORDER].add(record)


def _respond(request: web.Request, error: GatewayError) -> web.Response:
    """The error in OpenAI's shape, or in the client format's for a request that came in another
    (``/v1/messages``: Anthropic's)."""
    inbound = request.get(INBOUND)
    body = error.to_json() if inbound is None else inbound.error_body(error)
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=error.headers
    )


async def _respond_and_close(request: web.Request, error: GatewayError) -> web.Response:
    """Send the answer now and close the connection: aiohttp would otherwise keep reading what is
    left of the body for up to 10 s (its lingering close), from a client that is too slow already."""
    response = _respond(request, error)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return NotFound(f"Unknown route {request.method} {request.path}: OpenAI endpoints live under /v1/.")
    if exc.status == 405:
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}.",
            headers={"Allow": exc.headers.get("Allow", "")},
        )
    if exc.status == 413:
        return PayloadTooLarge("The request body is larger than this gateway's limit.")
    return GatewayError(exc.reason, status=exc.status, code=exc.reason.lower().replace(" ", "_"))
