"""A bounded cache of values that expire (access tokens, temporary credentials), with one fetch per miss.

Used by every credential exchange the gateway makes (Google service accounts, Microsoft Entra ID,
AWS STS): a value is served until ``margin`` seconds before it expires, concurrent misses for one
key share a single fetch, and the oldest entry is dropped when the cache is full. Keys are chosen
by the callers so that two callers' credentials never share an entry (a digest, never a secret).
:func:`access_token` reads the answer every OAuth2 token endpoint gives (Google, Entra ID, IMDS).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from gateway.errors import UpstreamBroken

__all__ = [
    "Expiring",
    "ExpiringCache",
    "access_token",
    "remember",
]

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Expiring(Generic[_V]):
    """A fetched value and the seconds it stays valid from when it arrived."""

    value: _V
    lifetime: float


@dataclass(frozen=True, slots=True)
class _Entry(Generic[_V]):
    value: _V
    expires_at: float  # time.monotonic(): immune to wall-clock steps


class ExpiringCache(Generic[_V]):
    """Values by key, each until ``margin`` seconds before it expires; at most ``max_entries`` keys."""

    __slots__ = ("_entries", "_margin", "_max_entries", "_pending")

    def __init__(self, *, margin: float = 300.0, max_entries: int = 256) -> None:
        self._margin = margin
        self._max_entries = max_entries
        self._entries: dict[str, _Entry[_V]] = {}
        self._pending: dict[str, asyncio.Task[_V]] = {}

    async def get(self, key: str, fetch: Callable[[], Awaitable[Expiring[_V]]]) -> _V:
        """The cached value for ``key``, or the one ``fetch`` returns.

        One fetch runs per key at a time, shared by every concurrent caller; it finishes (and fills
        the cache) even if the caller that started it is cancelled. A failed fetch raises to every
        waiter and caches nothing, so the next request tries again.
        """
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at - self._margin > time.monotonic():
            return entry.value
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.create_task(self._refresh(key, fetch))
            self._pending[key] = pending
        # Shielded: one caller giving up must not cancel the fetch the others are waiting for.
        return await asyncio.shield(pending)

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[Expiring[_V]]]) -> _V:
        try:
            fetched = await fetch()
        finally:
            del self._pending[key]
        remember(
            self._entries, key, _Entry(fetched.value, time.monotonic() + fetched.lifetime), self._max_entries
        )
        return fetched.value


def remember(cache: dict[str, _V], key: str, value: _V, max_entries: int) -> None:
    """Store ``value`` as the newest entry (dicts keep insertion order), dropping the oldest if full."""
    cache.pop(key, None)
    cache[key] = value
    if len(cache) > max_entries:
        del cache[next(iter(cache))]


def access_token(body: bytes, endpoint: str) -> Expiring[str]:
    """An OAuth2 token endpoint's answer (``access_token``, ``expires_in`` in seconds, a number or,
    from Azure's IMDS, a string of digits); ``endpoint`` names it in the 502 for anything else."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    expires_in = data.get("expires_in") if isinstance(data, dict) else None
    if isinstance(expires_in, str) and expires_in.isdecimal():
        expires_in = int(expires_in)
    if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
        raise UpstreamBroken(
            f"The {endpoint} token endpoint answered without an access_token and expires_in."
        )
    return Expiring(token, float(expires_in))
