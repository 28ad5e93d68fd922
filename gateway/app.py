"""``create_app``: the aiohttp application with its routes, middleware and shared state."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, cast

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.api.metrics import ticking
from gateway.api.routes import add_routes
from gateway.api.stages import Stages
from gateway.api.upstream_request import credentials
from gateway.appkeys import (
    ADMISSION,
    BUDGETS,
    CACHE,
    CHARGER,
    CLOUD_AUTH,
    CONSOLE,
    GUARDRAILS,
    HEALTH,
    KEY_BOOK,
    KEYS,
    LEAN,
    METRICS,
    PROVIDERS,
    RATE_LIMITS,
    REALTIME,
    RECORDER,
    SETTINGS,
    STAGES,
    STATE,
    UPSTREAM,
    WEBSOCKET_UPSTREAM,
    ServerState,
)
from gateway.cache.memory import MemoryStore
from gateway.cache.stage import CacheStage
from gateway.cache.store import CacheStore
from gateway.config.routing import MAX_CONFIG_BYTES
from gateway.config.settings import CacheSettings, ProviderSettings, Settings
from gateway.guardrails.check import CheckServices
from gateway.guardrails.stage import GuardrailStage
from gateway.limits.budgets import Budgets
from gateway.limits.charges import Charger
from gateway.limits.key_store import KeyBackend, KeyBook, MemoryKeys
from gateway.limits.limiter import Limiter
from gateway.limits.memory import MemoryLimiter
from gateway.limits.spend import MemorySpend, SpendStore
from gateway.limits.stage import LimitStage, limit_headers
from gateway.middleware.admission import Admission
from gateway.middleware.errors import openai_errors
from gateway.middleware.protocol import install as admit_connections
from gateway.observability.console import ConsoleSink
from gateway.observability.key_metrics import KeySeries
from gateway.observability.metrics import Metrics, MetricsSink
from gateway.observability.otel import tracing_from_env
from gateway.observability.realtime import RealtimeCounters
from gateway.observability.record import RecordSink
from gateway.observability.recorder import Recorder, running
from gateway.observability.requestlog import AccessLog
from gateway.observability.tracing import echo_trace_id
from gateway.on_first_use import load
from gateway.providers.cloud_auth import CloudAuth
from gateway.providers.registry import ProviderRegistry
from gateway.routing.health import TargetHealth
from gateway.upstream.lean import LeanClient
from gateway.upstream.session import create_token_session, create_upstream_session, create_websocket_session

if TYPE_CHECKING:
    from gateway.cache.semantic import SemanticCache
    from gateway.limits.redis import RedisLimiter
    from gateway.observability.spans import Tracing

#: The Redis backends, imported only when the settings choose Redis (``on_first_use.py``): a
#: gateway without Redis need not hold them (~0.2 MB).
_REDIS_LIMITER = "gateway.limits.redis:RedisLimiter"
_REDIS_KEYS = "gateway.limits.redis_key_store:RedisKeys"
_REDIS_SPEND = "gateway.limits.redis_spend:RedisSpend"
_REDIS_CACHE = "gateway.cache.redis_store:RedisStore"
_REDIS_VECTORS = "gateway.cache.vector_feed:VectorFeed"
#: The semantic cache's parts, imported only when the settings turn it on.
_EMBEDDER = "gateway.cache.embedder:Embedder"
_SEMANTIC = "gateway.cache.semantic:SemanticCache"

__all__ = [
    "create_app",
]


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic
) -> web.Application:
    """The application; ``clock`` (monotonic seconds) times the circuit breakers' cooldowns and
    windows, so a test can let a cooldown pass without waiting for it."""
    settings = settings or Settings()
    tracing = tracing_from_env(os.environ)
    # The server span's middleware is outermost, so it sees the status the error middleware chose.
    app = web.Application(
        middlewares=[openai_errors] if tracing is None else [tracing.middleware(), openai_errors],
        client_max_size=settings.limits.max_json_body_bytes,
        handler_args={
            # A client that disconnects cancels its handler, and so its upstream request, at once.
            "handler_cancellation": True,
            "keepalive_timeout": settings.server.keepalive_timeout,
            # Inline routing configs travel in one header and can be long; the headroom lets one
            # past the config size limit reach the 400 that names that limit.
            "max_field_size": MAX_CONFIG_BYTES + 4096,
        },
    )
    app[SETTINGS] = settings
    app[PROVIDERS] = ProviderRegistry.default()
    app[PROVIDERS].build(_named_providers(settings))
    app[STATE] = ServerState()
    app[ADMISSION] = Admission(settings.limits, app[STATE])
    admit_connections(app)  # connection handlers: early shed, caps, protocol errors as JSON
    metrics = _metrics(settings, app)
    app[HEALTH] = TargetHealth(
        settings.breaker, clock=clock, on_open=metrics.breaker_opened if metrics else None
    )
    if settings.keys.enabled:
        app[RATE_LIMITS] = LimitStage(
            _limiter(settings), fail_open=settings.rate_limits.on_redis_error == "open"
        )
        app.on_response_prepare.append(limit_headers)
        app.cleanup_ctx.append(_rate_limits)
    app[RECORDER] = Recorder(sinks=_sinks(settings, app, metrics, tracing), prices=settings.pricing.table)
    app[STAGES] = _stages(settings, app, tracing)
    book = app[KEY_BOOK] = _key_book(settings)
    if settings.keys.enabled:
        app[KEYS] = book
    app[REALTIME] = RealtimeCounters()
    app.cleanup_ctx.append(_admission)
    app.cleanup_ctx.append(_upstream_session)
    app.cleanup_ctx.append(_cloud_auth)
    if tracing is not None:
        # Before the recorder's: torn down after it, so the spans its last records end are exported.
        app.cleanup_ctx.append(tracing.running)
    if CHARGER in app:
        # Before the recorder's: torn down after it, so the charges of its last records land.
        app.cleanup_ctx.append(_charger)
    app.cleanup_ctx.append(_recorder)
    app.cleanup_ctx.append(_cache)
    app.cleanup_ctx.append(_guardrails)
    app.cleanup_ctx.append(_keys)
    app.on_response_prepare.append(echo_trace_id)
    add_routes(app.router, metrics=settings.metrics.enabled, console=settings.console.enabled)
    return app


def _named_providers(settings: Settings) -> set[str]:
    """The providers the settings file names: in ``[providers.*]``, named configs, virtual keys."""
    named = set(settings.providers) | {key.provider for key in settings.virtual_keys.values()}
    nodes = (node for config in settings.configs.values() for node in config.walk())
    named.update(node.provider for node in nodes if node.provider)
    return named


def _metrics(settings: Settings, app: web.Application) -> Metrics | None:
    """The Prometheus series and their gauges' tick, when ``metrics.enabled``."""
    if not settings.metrics.enabled:
        return None
    slugs = app[PROVIDERS].slugs()
    metrics = app[METRICS] = Metrics(CollectorRegistry(), slugs, settings.metrics.max_model_labels)
    app.cleanup_ctx.append(ticking)
    return metrics


def _sinks(
    settings: Settings, app: web.Application, metrics: Metrics | None, tracing: Tracing | None
) -> tuple[RecordSink, ...]:
    """The recorder's sinks: the access log always (it also writes the failure warnings), the
    others only when they are on."""
    sinks: list[RecordSink] = [AccessLog(settings.server.access_log, settings.server.access_log_format)]
    if metrics is not None:
        sinks.append(MetricsSink(metrics))
    if settings.keys.enabled:
        store = _spend_store(settings)
        app[BUDGETS] = Budgets(store, fail_open=settings.budgets.on_redis_error == "open")
        series = KeySeries(metrics) if metrics is not None else None
        charger = app[CHARGER] = Charger(store, settings.pricing.table, series)
        sinks.append(charger)
    if settings.console.enabled:
        app[CONSOLE] = ConsoleSink()
        sinks.append(app[CONSOLE])
    if tracing is not None:
        sinks.append(tracing)
    if RATE_LIMITS in app:
        sinks.append(app[RATE_LIMITS])  # settles token estimates from the reported usage
    return tuple(sinks)


def _stages(settings: Settings, app: web.Application, tracing: Tracing | None) -> Stages:
    """The pipeline's stages, once for the process: one that is off is left out, so it costs
    nothing per request (docs/architecture.md says where the coming ones plug in). The
    recorder is always in: failures are logged whether or not the access log is on. The cache
    and the guardrails are always in too (any routing config may ask for them); the cache stores
    before the recorder reads the record, so the record says what the cache did."""
    cache = app[CACHE] = CacheStage(_cache_store(settings.cache), settings.cache, app[RECORDER])
    guardrails = app[GUARDRAILS] = GuardrailStage(app[RECORDER])
    # Rate limits first: a limited request costs nothing more. Their after stage hands the
    # record its token estimate before the recorder queues it.
    limits = (app[RATE_LIMITS],) if RATE_LIMITS in app else ()
    budgets = (app[BUDGETS],) if BUDGETS in app else ()
    return Stages(
        # Budgets first: an exhausted key is refused before a guardrail or the cache does any work.
        # Input hooks next, as in Portkey: a denied request is denied whatever the cache holds,
        # and a transformed body is the one the cache keys.
        before=(*limits, *budgets, guardrails, cache),
        after=(*limits, cache, app[RECORDER]),
        attempt=() if tracing is None else (tracing,),
    )


def _limiter(settings: Settings) -> Limiter:
    if settings.rate_limits.backend == "redis":
        redis: Limiter = load(_REDIS_LIMITER)(settings.keys.redis_url)
        return redis
    return MemoryLimiter()


async def _rate_limits(app: web.Application) -> AsyncIterator[None]:
    """The Redis limiter renews the leases of the slots its requests hold."""
    if app[SETTINGS].rate_limits.backend == "redis":
        cast("RedisLimiter", app[RATE_LIMITS].limiter).start()
    yield
    await app[RATE_LIMITS].close()


def _key_book(settings: Settings) -> KeyBook:
    backend: KeyBackend = (
        load(_REDIS_KEYS)(settings.keys.redis_url) if settings.keys.backend == "redis" else MemoryKeys()
    )
    return KeyBook(settings.gateway_keys, settings.virtual_keys, backend)


async def _keys(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[KEY_BOOK].close()


def _spend_store(settings: Settings) -> SpendStore:
    if settings.budgets.backend == "redis":
        redis: SpendStore = load(_REDIS_SPEND)(settings.keys.redis_url)
        return redis
    return MemorySpend()


async def _charger(app: web.Application) -> AsyncIterator[None]:
    async with app[CHARGER].running():
        yield


def _cache_store(settings: CacheSettings) -> CacheStore:
    if settings.backend == "redis":
        redis: CacheStore = load(_REDIS_CACHE)(settings.redis_url)
        return redis
    return MemoryStore(settings.max_bytes)


async def _cache(app: web.Application) -> AsyncIterator[None]:
    """The semantic cache starts here, once the upstream session it calls through exists."""
    stage = app[CACHE]
    stage.semantic = _semantic_cache(app)
    if stage.semantic is not None:
        await stage.semantic.start()
    yield
    await stage.close()


def _semantic_cache(app: web.Application) -> SemanticCache | None:
    """The embedder, index and (with Redis) feed, when the settings name an embeddings model."""
    settings = app[SETTINGS]
    cache = settings.cache
    if not (cache.semantic_provider and cache.semantic_model):
        return None
    adapter = app[PROVIDERS].get(cache.semantic_provider, where="cache.semantic_provider")
    configured = settings.providers.get(adapter.spec.slug, ProviderSettings())
    api_key = cache.semantic_api_key or configured.api_key
    base_url = cache.semantic_base_url or configured.base_url
    options = {name: configured.options.get(name, "") for name in adapter.option_headers}
    embedder = load(_EMBEDDER)(
        adapter,
        cache.semantic_model,
        api_key=api_key,
        base_url=base_url,
        options=options,
        credentials=credentials(app, api_key, options, base_url),
        session=app[UPSTREAM],
        timeout=cache.semantic_timeout,
    )
    try:
        from gateway.cache.vectors import VectorIndex  # numpy: the optional extra
    except ImportError as exc:
        raise RuntimeError(
            "the semantic cache needs the semantic extra: pip install 'ai-gateway[semantic]'"
        ) from exc
    index = VectorIndex(cache.semantic_max_entries)
    feed = (
        load(_REDIS_VECTORS)(cache.redis_url, index, cache.semantic_max_entries)
        if cache.backend == "redis"
        else None
    )
    semantic: SemanticCache = load(_SEMANTIC)(embedder, index, feed)
    return semantic


async def _guardrails(app: web.Application) -> AsyncIterator[None]:
    """Checks that call out get the upstream session (after it exists) and the host policy."""
    settings = app[SETTINGS]
    app[GUARDRAILS].services = CheckServices(
        app[UPSTREAM], settings.host_policy, settings.guardrails.webhook_timeout
    )
    yield
    await app[GUARDRAILS].close()


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    session = create_upstream_session(app[SETTINGS])
    app[UPSTREAM] = session
    websockets = app[WEBSOCKET_UPSTREAM] = create_websocket_session(app[SETTINGS])
    upstream = app[SETTINGS].upstream
    lean = None
    if upstream.lean_http:
        lean = app[LEAN] = LeanClient(upstream, app[SETTINGS].host_policy)
    yield
    await session.close()
    await websockets.close()
    if lean is not None:
        await lean.close()


async def _cloud_auth(app: web.Application) -> AsyncIterator[None]:
    session = create_token_session(app[SETTINGS])
    app[CLOUD_AUTH] = CloudAuth.build(app[SETTINGS], session)
    yield
    await session.close()


async def _admission(app: web.Application) -> AsyncIterator[None]:
    app[ADMISSION].start()
    yield
    app[ADMISSION].stop()


async def _recorder(app: web.Application) -> AsyncIterator[None]:
    async with running(app[RECORDER]):
        yield
