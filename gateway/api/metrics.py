"""``GET /metrics``: the Prometheus text format, guarded like ``/v1/health/targets``.

The gauges (in-flight requests, open streams and realtime sessions, event-loop lag, breaker
states) are read from the app's state once a second by a background tick, and again by the
worker that answers a scrape: with ``--workers N`` each worker's tick keeps its own values
current in the shared directory, and any worker's answer sums them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.api.admin_access import require_admin
from gateway.appkeys import ADMISSION, CACHE, HEALTH, METRICS, RATE_LIMITS, REALTIME, STATE
from gateway.observability.admission import AdmissionCounters

__all__ = [
    "MULTIPROC_DIR",
    "metrics",
    "ticking",
]

#: Set by the supervisor for its workers (``server.py``): the files prometheus-client shares.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between two readings of the gauges.
_TICK = 1.0
_SHED_REASONS = ("in_flight", "loop_lag", "body_bytes")


async def metrics(request: web.Request) -> web.Response:
    """Every series of this process, or of every worker with ``--workers N``. Admin only beyond
    loopback; never shed (``middleware/admission.py``)."""
    require_admin(request)
    app = request.app
    _read_gauges(app)
    registry = app[METRICS].registry
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    # Generated on the loop: a few hundred series take well under a millisecond to write out.
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


@contextlib.asynccontextmanager
async def ticking(app: web.Application) -> AsyncIterator[None]:
    """Read the gauges every second while the app runs (a cleanup context's body)."""
    task = asyncio.get_running_loop().create_task(_tick(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _tick(app: web.Application) -> None:
    while True:
        _read_gauges(app)
        await asyncio.sleep(_TICK)


def _read_gauges(app: web.Application) -> None:
    m = app[METRICS]
    m.flush()
    state = app[STATE]
    m.in_flight.set(state.in_flight)
    m.open_streams.set(state.open_streams)
    m.realtime_sessions.set(app[REALTIME].active)
    admission = app[ADMISSION]
    m.loop_lag.set(admission.lag)
    _count_sheds(app, admission.counters)
    _read_cache(app)
    _read_rate_limits(app)
    m.breakers(app[HEALTH].states())


def _count_sheds(app: web.Application, counters: AdmissionCounters) -> None:
    """Admission counts sheds as plain integers (a shed must stay cheap): the counter gets what
    was added since the last reading."""
    m = app[METRICS]
    now = (counters.shed_in_flight, counters.shed_loop_lag, counters.shed_body_bytes)
    for reason, total, before in zip(_SHED_REASONS, now, m.shed_seen, strict=True):
        if total > before:
            m.shed.labels(reason).inc(total - before)
    m.shed_seen = now


def _read_rate_limits(app: web.Application) -> None:
    """The rate limiter's backend failures since the last reading."""
    stage = app.get(RATE_LIMITS)
    if stage is None:
        return
    m = app[METRICS]
    errors = stage.limiter.errors
    if errors > m.rate_limit_errors_seen:
        m.rate_limit_errors.inc(errors - m.rate_limit_errors_seen)
        m.rate_limit_errors_seen = errors


def _read_cache(app: web.Application) -> None:
    """The cache's size now, and its evictions and failures since the last reading."""
    m = app[METRICS]
    cache = app[CACHE]
    store = cache.store
    if store.entries is not None:
        m.cache_entries.set(store.entries)
    if store.bytes is not None:
        m.cache_bytes.set(store.bytes)
    errors_now, failures_now = store.errors, 0
    if cache.semantic is not None:
        m.cache_semantic_entries.set(cache.semantic.index.entries)
        errors_now += cache.semantic.feed_errors
        failures_now = cache.semantic.embedder.errors
    evictions, errors, failures = m.cache_seen
    if store.evictions > evictions:
        m.cache_evictions.inc(store.evictions - evictions)
    if errors_now > errors:
        m.cache_errors.inc(errors_now - errors)
    if failures_now > failures:
        m.cache_embedding_failures.inc(failures_now - failures)
    m.cache_seen = (store.evictions, errors_now, failures_now)
