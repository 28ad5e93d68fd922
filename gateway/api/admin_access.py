"""Who may read the gateway's own state (``/v1/health/targets`` and the admin endpoints to come).

With ``admin.token`` set, only a request bearing it (``Authorization: Bearer <token>``). Without
one, only while the gateway listens on loopback only: on any other address the state of every
caller's targets would be open to anyone who can reach the port.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.appkeys import SETTINGS
from gateway.errors import AuthenticationFailed, PermissionDenied

__all__ = [
    "require_admin",
]


def require_admin(request: web.Request) -> None:
    """Return if ``request`` may see gateway state; raise a 401/403 otherwise."""
    settings = request.app[SETTINGS]
    token = settings.admin.token
    if not token:
        if settings.server.loopback_only:
            return
        raise PermissionDenied(
            f"{request.path} shows the gateway's state and needs an admin token on a gateway that "
            "listens beyond loopback: set admin.token (GATEWAY_ADMIN_TOKEN) and send it as "
            "'Authorization: Bearer <token>'.",
            code="admin_token_required",
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared in constant time, as bytes (compare_digest refuses non-ASCII str).
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise AuthenticationFailed(
            f"{request.path} needs the gateway's admin token as 'Authorization: Bearer <token>'.",
            code="invalid_admin_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
