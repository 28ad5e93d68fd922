"""The identify step: the request's gateway key → its :class:`~gateway.limits.caller.Caller`.

With ``[keys] enabled``, every request presents a gateway key: ``Authorization: Bearer <key>``,
or ``x-api-key`` (what Anthropic's SDK sends). A request without one, or with a key that is
unknown, revoked or expired, is a 401 naming which, never the key. The provider's key then never
comes from those headers (they hold the gateway key): it comes from a virtual key, the config,
``x-portkey-api-key`` or the settings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from gateway.errors import AuthenticationFailed
from gateway.limits.caller import Caller, GatewayKey, key_digest

__all__ = [
    "KeyStore",
    "identify",
    "presented_key",
]


class KeyStore(Protocol):
    async def find(self, digest: str) -> GatewayKey | None:
        """The key whose :func:`~gateway.limits.caller.key_digest` is ``digest``, or ``None``."""
        ...


def presented_key(headers: Mapping[str, str]) -> str:
    """The gateway key a request presents: ``Authorization: Bearer``, else ``x-api-key``."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip()


async def identify(headers: Mapping[str, str], store: KeyStore, now: float | None = None) -> Caller:
    """The caller of a request with these headers; a 401 when it has no valid gateway key."""
    presented = presented_key(headers)
    if not presented:
        raise _refused(
            "This gateway needs a gateway key: send it as 'Authorization: Bearer <key>'.",
            "missing_gateway_key",
        )
    key = await store.find(key_digest(presented))
    if key is None:
        raise _refused("The gateway key is not valid.", "invalid_gateway_key")
    if key.revoked:
        raise _refused(f"The gateway key {key.id} was revoked.", "revoked_gateway_key")
    if key.expires_at is not None and key.expires_at <= (time.time() if now is None else now):
        raise _refused(f"The gateway key {key.id} has expired.", "expired_gateway_key")
    return Caller(key)


def _refused(message: str, code: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, code=code, headers={"WWW-Authenticate": "Bearer"})
