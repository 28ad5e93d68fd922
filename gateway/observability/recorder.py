"""Finished records, handed from the request path to the observers without slowing it down.

The recorder is an after stage (``api/stages.py``) and also hears of the answers the gateway gives
itself (``middleware/errors.py``). A record goes into a bounded queue (never awaiting, never
blocking); a callback the event loop runs after the current handlers decodes its usage, fills its
tokens and cost, and gives it to each sink in turn (the access log, metrics, ...), for every record
queued by then. When the queue is full the record is dropped and counted, so a slow sink can never
slow requests down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
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
    """Bounded queue of finished records plus the callback that completes them and feeds ``sinks``.

    Records reach the sinks only between :func:`running`'s start and end (the app's lifetime).
    """

    def __init__(self, sinks: tuple[RecordSink, ...], prices: PriceTable, size: int = QUEUE_SIZE) -> None:
        self.sinks = sinks
        self.prices = prices
        self.dropped = 0
        self._size = size
        self._queue: deque[RequestRecord] = deque()
        self._running = False
        #: A drain is scheduled on the loop: records added meanwhile wait for that one.
        self._scheduled = False

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """An attempt ended (the after stage's call): :meth:`add` its record."""
        self.add(record)

    def add(self, record: RequestRecord) -> None:
        """Queue ``record`` (stamped with the time it ended); never blocks."""
        record.ended_at = time.time()
        if len(self._queue) >= self._size:
            self.dropped += 1
            return
        self._queue.append(record)
        if self._running and not self._scheduled:
            # A plain callback, once per loop iteration at most, for all the records queued by then:
            # waking a task through an asyncio.Queue cost ~4 µs a record, most records on its own.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        if not self._running:
            return  # a callback scheduled before the stop: what came after waits
        queue = self._queue
        while queue:
            record = queue.popleft()  # first: a sink that raises loses this record only
            complete(record, self.prices)
            for sink in self.sinks:
                sink.write(record)

    def start(self) -> None:
        """Records reach the sinks from now on, those already queued first."""
        self._running = True
        self._drain()

    def stop(self) -> None:
        """The queued records reach the sinks; later ones wait (the sinks may be closing)."""
        self._drain()
        self._running = False

    async def flush(self) -> None:
        """Hand every queued record to the sinks now (tests), once :meth:`start` ran."""
        self._drain()


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
    """Records reach the sinks while this runs (the app's lifetime); those queued are flushed at
    its end."""
    recorder.start()
    try:
        yield
    finally:
        recorder.stop()
