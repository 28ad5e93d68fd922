"""Typed keys for state kept on the app and on each request (no module-level singletons)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

__all__ = [
    "ADMISSION",
    "ATTEMPTED",
    "BUDGETS",
    "CACHE",
    "CHARGER",
    "CLOUD_AUTH",
    "CONSOLE",
    "GUARDRAILS",
    "HEALTH",
    "INBOUND",
    "KEYS",
    "KEY_BOOK",
    "LEAN",
    "LIMIT_TICKET",
    "METRICS",
    "PROVIDERS",
    "RATE_LIMITS",
    "REALTIME",
    "RECORDER",
    "SETTINGS",
    "STAGES",
    "STATE",
    "TRACE_ID",
    "UPSTREAM",
    "WEBSOCKET_UPSTREAM",
    "ServerState",
]

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from gateway.api.inbound import Inbound
    from gateway.api.stages import Stages
    from gateway.cache.stage import CacheStage
    from gateway.config.settings import Settings
    from gateway.guardrails.stage import GuardrailStage
    from gateway.limits.budgets import Budgets
    from gateway.limits.charges import Charger
    from gateway.limits.key_store import KeyBook
    from gateway.limits.keys import KeyStore
    from gateway.limits.stage import LimitStage, Ticket
    from gateway.middleware.admission import Admission
    from gateway.observability.console import ConsoleSink
    from gateway.observability.metrics import Metrics
    from gateway.observability.realtime import RealtimeCounters
    from gateway.observability.recorder import Recorder
    from gateway.providers.cloud_auth import CloudAuth
    from gateway.providers.registry import ProviderRegistry
    from gateway.routing.health import TargetHealth
    from gateway.upstream.lean import LeanClient


@dataclass(slots=True)
class ServerState:
    """Process-wide lifecycle: ``draining`` turns /readyz to 503 once SIGTERM arrives; the
    proxied requests (streams included) still running are tracked so a drain can wait for them."""

    draining: bool = False
    _requests: set[asyncio.Task[object]] = field(default_factory=set)
    #: Of ``_requests``, the realtime sessions: the drain waits for them, admission does not count
    #: them (they have their own limit, and hours-long sessions must not starve HTTP requests).
    _sessions: set[asyncio.Task[object]] = field(default_factory=set)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    #: Streamed response bodies being relayed now (``streaming/relay.py``; for the metrics).
    open_streams: int = 0

    @property
    def in_flight(self) -> int:
        """HTTP requests and streams running (realtime sessions left out)."""
        return len(self._requests) - len(self._sessions)

    def request_started(self, task: asyncio.Task[object], session: bool = False) -> None:
        self._requests.add(task)
        if session:
            self._sessions.add(task)

    def request_finished(self, task: asyncio.Task[object]) -> None:
        self._requests.discard(task)
        self._sessions.discard(task)
        if not self._requests:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is in flight."""
        while self._requests:
            self._idle.clear()
            await self._idle.wait()

    def cancel_all(self) -> None:
        """Cancel every request still in flight (each ends its response as well as it can)."""
        for task in self._requests:
            task.cancel()


SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
PROVIDERS: web.AppKey[ProviderRegistry] = web.AppKey("providers")
UPSTREAM: web.AppKey[ClientSession] = web.AppKey("upstream_session")
#: Realtime's websockets to providers (a session that refuses redirects itself: ``ws_connect``).
WEBSOCKET_UPSTREAM: web.AppKey[ClientSession] = web.AppKey("websocket_upstream_session")
#: The lean client for plain requests, when ``upstream.lean_http`` is on (``upstream/lean.py``).
LEAN: web.AppKey[LeanClient] = web.AppKey("lean_upstream")
#: Finished records on their way to the access log and the other observers (off the request path).
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
STATE: web.AppKey[ServerState] = web.AppKey("server_state")
#: Per process: circuit breaker, in-flight count and latency of every routing target.
HEALTH: web.AppKey[TargetHealth] = web.AppKey("target_health")
#: Per process: admission control (requests in flight, loop lag, body bytes) and its counters.
ADMISSION: web.AppKey[Admission] = web.AppKey("admission")
#: Per process: realtime websocket sessions, frames and bytes.
REALTIME: web.AppKey[RealtimeCounters] = web.AppKey("realtime_counters")
#: Per process, when ``metrics.enabled``: the Prometheus series (``GET /metrics``).
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
#: Per process: Entra ID tokens and assumed AWS roles, cached, with their own session.
CLOUD_AUTH: web.AppKey[CloudAuth] = web.AppKey("cloud_auth")
#: Per process, with ``console.enabled``: the live console's last five minutes and its feeds.
CONSOLE: web.AppKey[ConsoleSink] = web.AppKey("console")

#: Per process: the pipeline's before and after stages, chosen from the settings at start-up.
STAGES: web.AppKey[Stages] = web.AppKey("stages")

#: Per request: the trace id, the caller's or one generated when the caller sent none.
TRACE_ID: web.RequestKey[str] = web.RequestKey("trace_id")
#: Per request: set once an attempt was accounted (its record logged), so the error middleware
#: does not log the request a second time.
ATTEMPTED: web.RequestKey[bool] = web.RequestKey("attempted")
#: Per request that came in another client format (``/v1/messages``): the format, and the
#: request as the client sent it (``api/inbound.py``).
INBOUND: web.RequestKey[Inbound] = web.RequestKey("inbound")
#: Per process: the response cache's stage and its store (``cache/stage.py``).
CACHE: web.AppKey[CacheStage] = web.AppKey("cache")
#: Per process: the input guardrails' stage, its checks' services and async hook runs.
GUARDRAILS: web.AppKey[GuardrailStage] = web.AppKey("guardrails")
#: The gateway keys, when ``[keys] enabled`` (absent otherwise: no identify step at all).
KEYS: web.AppKey[KeyStore] = web.AppKey("keys")
#: The rate limits' stage and its backend, when gateway keys are on (``limits/stage.py``).
RATE_LIMITS: web.AppKey[LimitStage] = web.AppKey("rate_limits")
#: Per request: an admitted request's hold on its key's rate limits.
LIMIT_TICKET: web.RequestKey[Ticket] = web.RequestKey("limit_ticket")
#: Per process: the settings' gateway keys and virtual keys, and the admin API's (in memory or
#: Redis); virtual keys resolve here whether or not gateway keys are on.
KEY_BOOK: web.AppKey[KeyBook] = web.AppKey("key_book")
#: With ``[keys] enabled``: the budget check and the usage per key (``limits/budgets.py``), and the
#: recorder's sink that charges each key (``limits/charges.py``), over one spend store.
BUDGETS: web.AppKey[Budgets] = web.AppKey("budgets")
CHARGER: web.AppKey[Charger] = web.AppKey("charger")
