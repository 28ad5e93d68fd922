"""The admin API's gateway keys and virtual keys in Redis: every process and replica naming the same
``[keys] redis_url`` sees every change from its next request on (``limits/key_store.py``).

Layout, under ``prefix``: hash ``key`` (digest → the key's JSON), hash ``id`` (id → digest), hash
``virtual`` (name → the virtual key's JSON, its secrets included: protect Redis as you would the
settings file). Every command is bounded by ``timeout`` with no retry; a failure is a 503
(``key_store_unavailable``) and a WARNING on ``gateway.keys`` at most once per ``redis_link.WARN_EVERY``
seconds, naming Redis's host and port, never its password. Keys never fail open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from gateway.config.gateway_keys import (
    key_definition,
    parse_gateway_key,
    parse_virtual_key,
    virtual_key_definition,
)
from gateway.errors import ServiceUnavailable
from gateway.limits.caller import GatewayKey, VirtualKey
from gateway.redis_link import RedisLink, RedisUnavailable

__all__ = [
    "RedisKeys",
]

_log = logging.getLogger("gateway.keys")
_T = TypeVar("_T")

#: Adds the id only if it is new, then the key: one step, so two processes creating the same id
#: cannot both succeed.
_ADD_KEY = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


class RedisKeys:
    """A :class:`~gateway.limits.key_store.KeyBackend` in Redis. Raises ``RuntimeError`` when the
    ``redis`` extra is not installed."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        prefix: str = "gateway:keys:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = RedisLink(
            url,
            timeout,
            logger=_log,
            what="keys",
            consequence="requests that need a key are refused with a 503",
            clock=clock,
        )
        self._client = self._link.client
        self._by_digest, self._ids, self._virtual = (prefix + name for name in ("key", "id", "virtual"))
        self._add = self._client.register_script(_ADD_KEY)

    async def key_by_digest(self, digest: str) -> GatewayKey | None:
        raw = await self._run(self._client.hget(self._by_digest, digest))
        return _key(raw) if raw is not None else None

    async def key(self, key_id: str) -> GatewayKey | None:
        digest = await self._run(self._client.hget(self._ids, key_id))
        return await self.key_by_digest(_text(digest)) if digest is not None else None

    async def keys(self) -> list[GatewayKey]:
        raws = await self._run(self._client.hvals(self._by_digest))
        return sorted((_key(raw) for raw in raws), key=lambda key: key.id)

    async def add_key(self, key: GatewayKey) -> bool:
        stored = _key_json(key)
        args: list[str | bytes] = [key.id, key.digest, stored]
        return bool(await self._run(self._add(keys=[self._ids, self._by_digest], args=args)))

    async def put_key(self, key: GatewayKey) -> None:
        await self._run(self._client.hset(self._by_digest, key.digest, _key_json(key)))

    async def virtual_keys(self, names: list[str]) -> list[VirtualKey | None]:
        raws = await self._run(self._client.hmget(self._virtual, names))
        return [None if raw is None else _virtual(name, raw) for name, raw in zip(names, raws, strict=True)]

    async def all_virtual_keys(self) -> list[VirtualKey]:
        pairs = await self._run(self._client.hgetall(self._virtual))
        return sorted((_virtual(_text(name), raw) for name, raw in pairs.items()), key=lambda v: v.name)

    async def add_virtual_key(self, virtual: VirtualKey) -> bool:
        stored = orjson.dumps(virtual_key_definition(virtual))
        return bool(await self._run(self._client.hsetnx(self._virtual, virtual.name, stored)))

    async def put_virtual_key(self, virtual: VirtualKey) -> None:
        stored = orjson.dumps(virtual_key_definition(virtual))
        await self._run(self._client.hset(self._virtual, virtual.name, stored))

    async def delete_virtual_key(self, name: str) -> bool:
        return bool(await self._run(self._client.hdel(self._virtual, name)))

    async def close(self) -> None:
        await self._link.close()

    @property
    def errors(self) -> int:
        """Redis failures since start."""
        return self._link.errors

    async def _run(self, command: Awaitable[_T]) -> _T:
        """The command's answer; a 503 when Redis failed or took longer than the timeout."""
        try:
            return await self._link.call(command)
        except RedisUnavailable:
            raise ServiceUnavailable(
                "The gateway's key store (Redis) is unavailable; try again shortly.",
                code="key_store_unavailable",
                headers={"Retry-After": "1"},
            ) from None


def _text(value: bytes | str) -> str:
    # The client does not decode answers: bytes, though redis-py's types allow str.
    return value.decode() if isinstance(value, bytes) else value


def _key_json(key: GatewayKey) -> bytes:
    return orjson.dumps({"id": key.id, "definition": key_definition(key)})


def _key(raw: Any) -> GatewayKey:
    stored = orjson.loads(raw)
    return parse_gateway_key(stored["id"], stored["definition"], "stored key")


def _virtual(name: str, raw: Any) -> VirtualKey:
    return parse_virtual_key(name, orjson.loads(raw), "stored virtual key")
