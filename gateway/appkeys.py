"""Typed keys for state kept on the app and on each request (no module-level singletons)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from gateway.config.settings import Settings
    from gateway.observability.requestlog import RequestLog
    from gateway.providers.registry import ProviderRegistry


@dataclass(slots=True)
class ServerState:
    """Process-wide lifecycle flags: ``draining`` turns /readyz to 503 once SIGTERM arrives."""

    draining: bool = False


SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
PROVIDERS: web.AppKey[ProviderRegistry] = web.AppKey("providers")
UPSTREAM: web.AppKey[ClientSession] = web.AppKey("upstream_session")
REQUEST_LOG: web.AppKey[RequestLog] = web.AppKey("request_log")
STATE: web.AppKey[ServerState] = web.AppKey("server_state")

#: Per request: the trace id, the caller's or one generated when the caller sent none.
TRACE_ID: web.RequestKey[str] = web.RequestKey("trace_id")
