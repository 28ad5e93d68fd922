"""Finished records, handed from the request path to the observers without slowing it down.

The recorder is an after stage (``api/stages.py``) and also hears of the answers the gateway gives
itself (``middleware/errors.py``). A record goes into a bounded queue (never awaiting, never
blocking); a background task decodes its usage, fills its tokens and cost, and gives it to each sink in
turn (the access log, metrics, ...). When the queue is full the record is dropped and counted, so a
slow sink can never slow requests down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from gateway.observability.prices import PriceTable
from gateway.observability.record import RecordSink, RequestRecord
from gateway.observability.usage import token_counts, usage_from_tail

if TYPE_CHECKING:
    from gateway.routing.attempts import RequestContext

__all__ = [
    "Recorder",
    "complete",
    "running",
]

QUEUE_SIZE = 10_000


class Recorder:
    """Bounded queue of finished records plus the task that completes them and feeds ``sinks``."""

    def __init__(self, sinks: tuple[RecordSink, ...], prices: PriceTable, size: int = QUEUE_SIZE) -> None:
        self.sinks = sinks
        self.prices = prices
        self.dropped = 0
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(size)

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """An attempt ended (the after stage's call): :meth:`add` its record."""
        self.add(record)

    def add(self, record: RequestRecord) -> None:
        """Queue ``record`` (stamped with the time it ended); never blocks."""
        record.ended_at = time.time()
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            record = await self._queue.get()
            complete(record, self.prices)
            for sink in self.sinks:
                sink.write(record)
            self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued record reached the sinks (shutdown, tests)."""
        await self._queue.join()


def complete(record: RequestRecord, prices: PriceTable) -> None:
    """Fill what the request path left to be computed later: the usage, the tokens and the cost
    (each ``None`` when the provider reported no usage, the cost also when the table has no
    price for the provider and model)."""
    if record.tail:
        record.usage = usage_from_tail(record.tail)
    tokens = token_counts(record.usage)
    if tokens is None:
        return
    record.input_tokens, record.output_tokens = tokens.input, tokens.output
    record.cached_tokens = tokens.cached
    if record.cache_status in ("HIT", "SEMANTIC HIT"):
        record.cost = 0.0  # answered from the cache: its cost was counted when it was stored
        return
    price = prices.find(record.provider, record.model)
    if price is not None:
        record.cost = price.cost(tokens)


@contextlib.asynccontextmanager
async def running(recorder: Recorder) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(recorder.run())
    try:
        yield
    finally:
        await recorder.flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
