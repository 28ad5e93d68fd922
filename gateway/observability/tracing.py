"""Trace ids: the caller's ``x-portkey-trace-id``, or a new one, echoed on every response."""

from __future__ import annotations

import random
import uuid

from aiohttp import web

from gateway.appkeys import TRACE_ID

HEADER = "x-portkey-trace-id"
_MAX_LENGTH = 256


def trace_id(request: web.Request) -> str:
    """This request's trace id, generated once when the caller sent none (or an unusable one)."""
    value = request.get(TRACE_ID)
    if value is None:
        value = request.headers.get(HEADER, "")
        if not value or len(value) > _MAX_LENGTH or not value.isprintable():
            # Trace ids need to be unique, not unguessable: the PRNG spares a getrandom syscall.
            value = str(uuid.UUID(int=random.getrandbits(128), version=4))
        request[TRACE_ID] = value
    return value


async def echo_trace_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: every response, streamed or not, error or not, carries it."""
    response.headers[HEADER] = trace_id(request)
