"""Semantic cache vectors shared through a Redis stream: every process appends the vectors it
stores and reads everyone's into its own index.

The stream (``gateway:semantic``) is capped near ``max_entries`` (``XADD ... MAXLEN ~``): a process
that starts reads what is there, so a new replica begins with the others' vectors. Each entry
carries the partition, the answer's cache key, its expiry (Unix time) and the vector as float32
bytes, plus the writer's random origin id so a process skips its own entries (it indexed them
already). Redis failures never reach a request: a publish is dropped, the reader waits a second
and reads on; both count in ``errors`` and warn at most once per interval.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.redis_link import RedisLink, RedisUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from gateway.cache.vectors import VectorIndex

__all__ = [
    "VectorFeed",
]

_log = logging.getLogger("gateway.cache")

STREAM = "gateway:semantic"
#: Milliseconds one read waits for new entries; entries read at once, at most.
_BLOCK_MS = 1000
_BATCH = 512
#: Publishes waiting for Redis at once; more are dropped (other processes miss that vector).
MAX_PENDING = 256


class VectorFeed:
    def __init__(self, url: str, index: VectorIndex, max_entries: int, *, timeout: float = 0.25) -> None:
        # Two clients: the reader's commands wait up to a second for news, the writer's must not.
        self._writer = RedisLink(
            url,
            timeout,
            logger=_log,
            what="cache: the semantic feed",
            consequence="vectors are not shared meanwhile",
        )
        self._reader = RedisLink(url, timeout + _BLOCK_MS / 1000, self._writer.warning)
        self._index = index
        self._max_entries = max_entries
        self._origin = os.urandom(8).hex().encode()
        self._pending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.received = 0

    def publish(self, partition: str, vector: Sequence[float], key: str, expires: float) -> None:
        if len(self._pending) >= MAX_PENDING:
            return
        fields: dict[Any, Any] = {
            "o": self._origin,
            "p": partition,
            "k": key,
            "e": repr(expires),
            "v": array.array("f", vector).tobytes(),
        }
        task = asyncio.get_running_loop().create_task(self._append(fields))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def errors(self) -> int:
        return self._writer.errors

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._writer.close()
        await self._reader.close()

    async def _append(self, fields: dict[Any, Any]) -> None:
        await self._writer.run(
            self._writer.client.xadd(STREAM, fields, maxlen=self._max_entries, approximate=True)
        )

    async def _read_forever(self) -> None:
        last = "0-0"
        while True:
            try:
                answer = await self._reader.wait(_read(self._reader.client, last))
            except RedisUnavailable:
                await asyncio.sleep(1.0)
                continue
            for entry_id, fields in answer:
                last = entry_id.decode()
                self._apply(fields)

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"o") == self._origin:
            return
        try:
            expires = float(fields[b"e"])
            vector = array.array("f")
            vector.frombytes(fields[b"v"])
            partition, key = fields[b"p"].decode(), fields[b"k"].decode()
        except (KeyError, ValueError, UnicodeDecodeError):
            return  # not an entry this version wrote
        if expires <= time.time():
            return
        try:
            self._index.add(partition, vector, key, expires)
        except ValueError:
            return  # another embedding size: another model's vectors
        self.received += 1


async def _read(client: Redis, last: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The stream's entries after ``last`` (waiting up to a second for some)."""
    answer: Any = await client.xread({STREAM: last}, count=_BATCH, block=_BLOCK_MS)
    # RESP2's [[stream name, [(id, fields), ...]]] (the client's default), or [] when nothing came.
    return list(answer[0][1]) if answer else []
