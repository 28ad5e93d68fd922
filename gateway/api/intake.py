"""The first steps of every proxied request, HTTP or realtime: admit it, and plan it.

Admitted, a request counts as in flight (the drain waits for it, admission counts it) until
:func:`release`. Planned, it is a :class:`RequestContext`: the targets to try, in order, and
what every later stage reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.api.bodies import RequestBody
from gateway.appkeys import ADMISSION, HEALTH, KEY_BOOK, PROVIDERS, SETTINGS, STATE
from gateway.limits import grants
from gateway.limits.caller import Caller
from gateway.routing.attempts import RequestContext
from gateway.routing.deadlines import Deadline
from gateway.routing.target import (
    NO_RETRY,
    VIRTUAL_KEY_HEADER,
    provider_names,
    targets_for,
    virtual_key_names,
)

__all__ = [
    "admit",
    "plan",
    "release",
    "track",
]


def admit(request: web.Request) -> asyncio.Task[Any]:
    """Raise ``Overloaded`` (a 503 with Retry-After) past the admission budgets; else
    :func:`track` the request."""
    request.app[ADMISSION].admit()
    return track(request)


def track(request: web.Request, session: bool = False) -> asyncio.Task[Any]:
    """Count the request in flight until :func:`release`; a realtime ``session`` is admitted by
    its own limit and counts for the drain only."""
    task = asyncio.current_task()
    assert task is not None
    request.app[STATE].request_started(task, session)
    return task


def release(request: web.Request, task: asyncio.Task[Any], reserved: int = 0) -> None:
    """The request is done: its ``reserved`` body bytes (if any) go back to the budget, and it stops
    counting as in flight."""
    app = request.app
    app[ADMISSION].release_body(reserved)
    app[STATE].request_finished(task)


async def plan(
    request: web.Request,
    headers: CIMultiDictProxy[str],
    metadata: dict[str, str],
    params: Mapping[str, Any],
    *,
    family: str | None,
    body: RequestBody,
    started: float,
    deadline: Deadline,
    caller: Caller | None,
) -> RequestContext:
    """The request's targets from its ``headers`` (provider, routing config, virtual key) and the
    ``params`` conditional routing reads: a 400 for a config that names no usable target or an
    unknown virtual key. With a ``caller``, its key's default config and metadata apply, and a
    target outside its grants is a 403 (``limits/grants.py``)."""
    app = request.app
    settings = app[SETTINGS]
    config = headers.get("x-portkey-config")
    if caller is not None:
        config = grants.config_for(caller.key, config)
        metadata = grants.metadata_for(caller.key, metadata)
    names = virtual_key_names(headers, config, settings)
    virtual_keys = await app[KEY_BOOK].resolve(names, _virtual_param(headers)) if names else {}
    await app[PROVIDERS].ready(provider_names(headers, config, settings, virtual_keys))
    health = app[HEALTH]
    targets = targets_for(
        headers, metadata, params, app[PROVIDERS], settings, health, request.path, config, virtual_keys
    )
    if caller is not None:
        grants.check_targets(caller.key, targets, params)
    if body.stream is not None:
        # An upload streams through once: there is nothing to resend, to a fallback or in a retry.
        targets = [dataclasses.replace(targets[0], retry=NO_RETRY)]
    context = RequestContext(
        request, targets, family, body, metadata, started, deadline, health, settings.retries
    )
    context.caller = caller
    return context


def _virtual_param(headers: CIMultiDictProxy[str]) -> str:
    return VIRTUAL_KEY_HEADER if VIRTUAL_KEY_HEADER in headers else "x-portkey-config"
