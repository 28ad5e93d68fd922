"""Memory per entry of the memory cache, in-process: ``python -m benchmarks.cache_memory``.

Stores 10,000 answers the size of a short chat completion (about 600 bytes, as the gateway stores
them: the entry header and the JSON) under 64-character keys, and reports what the process's
Python heap grew by per entry, next to the bytes the store counts (key + value).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import orjson

from gateway.cache.entry import CachedAnswer, encode
from gateway.cache.memory import MemoryStore

ENTRIES = 10_000


def answer(index: int) -> bytes:
    body = {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x" * 300}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    return encode(CachedAnswer(orjson.dumps(body), "openai", "gpt-4o-mini", time.time()))


async def measure() -> tuple[float, float]:
    """(heap bytes per entry, bytes per entry the store counts)."""
    store = MemoryStore(1 << 40)
    values = [answer(i) for i in range(ENTRIES)]
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for index, value in enumerate(values):
        # A fresh key and a fresh copy of the answer each, as the gateway's are.
        await store.put(f"{index:064x}", bytes(bytearray(value)), 3600)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    counted = store.bytes or 0
    return (after - before) / ENTRIES, counted / ENTRIES


def main() -> None:
    heap, counted = asyncio.run(measure())
    print(f"memory cache: {heap:,.0f} heap bytes per entry for {counted:,.0f} counted (key + answer)")


if __name__ == "__main__":
    main()
