"""The semantic cache's moving parts: the embedder, this process's vector index, and (with the
Redis backend) the feed that shares every stored vector with the other processes and replicas.

Searches always run in this process's index (``cache/vectors.py``), on the event loop, in
microseconds. Sharing is by replication, not by a vector database: each stored vector is also
appended to a Redis stream, and every process reads that stream into its own index
(``cache/vector_feed.py``). Redis 7 as Debian ships it has no vector search (that is the RediSearch
module); a stream needs nothing but Redis itself. The price: every replica holds every vector
(``semantic_max_entries`` bounds it), and a vector reaches the others a round trip later.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.cache.embedder import Embedder
    from gateway.cache.vector_feed import VectorFeed
    from gateway.cache.vectors import Match, VectorIndex

__all__ = [
    "SemanticCache",
]


class SemanticCache:
    def __init__(self, embedder: Embedder, index: VectorIndex, feed: VectorFeed | None) -> None:
        self.embedder = embedder
        self.index = index
        self._feed = feed

    @property
    def feed_errors(self) -> int:
        """Redis failures of the feed (0 without one)."""
        return self._feed.errors if self._feed is not None else 0

    def search(self, partition: str, vector: Sequence[float], threshold: float) -> Match | None:
        """The closest unexpired vector of ``partition`` at ``threshold`` or above; ``None`` also
        for a vector of another size than the index holds (the embedding model changed)."""
        try:
            return self.index.search(partition, vector, threshold, time.time())
        except ValueError:
            return None

    def add(self, partition: str, vector: Sequence[float], key: str, expires: float) -> None:
        """Index the vector of the answer stored under ``key`` until ``expires`` (Unix time), here
        and, through the feed, in every other process."""
        try:
            self.index.add(partition, vector, key, expires)
        except ValueError:
            return
        if self._feed is not None:
            self._feed.publish(partition, vector, key, expires)

    def forget(self, key: str) -> None:
        """The answer under ``key`` is gone from the store (expired, evicted): drop its vector."""
        self.index.remove(key)

    async def start(self) -> None:
        if self._feed is not None:
            self._feed.start()

    async def close(self) -> None:
        """Stops the feed, then the index's graph worker."""
        if self._feed is not None:
            await self._feed.close()
        self.index.close()
