"""Liveness, readiness and target health: answered by the gateway itself, never by a provider."""

from __future__ import annotations

from aiohttp import web

from gateway.api.admin_access import require_admin
from gateway.appkeys import HEALTH, STATE

__all__ = [
    "health_targets",
    "healthz",
    "readyz",
    "root",
]


async def root(request: web.Request) -> web.Response:
    """Portkey answers ``GET /`` with a short text; clients probe it to find the gateway."""
    return web.Response(text="AI Gateway says hey!")


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for new requests: 503 from the moment the process starts draining (SIGTERM)."""
    if request.app[STATE].draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


async def health_targets(request: web.Request) -> web.Response:
    """This process's view of every routing target it has tried: breaker state, recent error rate,
    in-flight requests, time to first token. Each worker answers for itself. Admin only."""
    require_admin(request)
    return web.json_response({"targets": request.app[HEALTH].snapshot()})
