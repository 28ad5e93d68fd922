"""Charging each gateway key for what its requests cost: a sink of the recorder.

The recorder (``observability/recorder.py``) completes each record off the request path (its
usage, tokens and cost from the price table) and hands it to this sink, which turns it into a
:class:`~gateway.limits.spend.Charge` for the record's key and queues it for the spend store
(a bounded queue and one task: a Redis round trip never holds up the recorder). Usage per key
(requests, tokens, cost) is counted from the same charges, so the metrics, the admin API's usage
and the budgets agree.

What an attempt costs:
- the provider reported usage: its cost from the price table (a cache hit: 0, paid once);
- no usage but a 2xx answer that went (partly) out — a stream the client cut short, or a stream
  without ``stream_options.include_usage`` — an *estimate*, so that a caller cannot dodge a
  budget by disconnecting: input tokens ≈ request body bytes / 4, output tokens ≈ one per event
  delivered (events counted from the bytes delivered at the tail's bytes-per-event), or
  bytes / 4 for a body that is not an event stream;
- nothing when the model has no price (the tokens still count) or the answer was an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable

from gateway.limits.caller import PERIODS
from gateway.limits.periods import window
from gateway.limits.spend import Charge, SpendStore
from gateway.observability.key_metrics import KeySeries
from gateway.observability.prices import PriceTable, Tokens
from gateway.observability.record import RequestRecord

__all__ = [
    "Charger",
    "charge_of",
]

QUEUE_SIZE = 10_000
#: Bytes of JSON per token, for the estimates: text runs ~4 bytes a token, so JSON's quoting and
#: field names make this an over-count of the text (the estimate errs toward charging).
_BYTES_PER_TOKEN = 4
_HITS = ("HIT", "SEMANTIC HIT")
#: Attempts whose answer the client did not get (their usage, if any, is still charged).
_NOT_ANSWERS = frozenset({"retried", "fell_back", "hedge_lost"})


class Charger:
    """The sink: queues each keyed record's charge; its task adds them to ``store``.

    When the queue is full a charge is dropped and counted in ``dropped`` (the recorder's own
    queue bounds what reaches it, so that takes a store far slower than the traffic)."""

    def __init__(
        self,
        store: SpendStore,
        prices: PriceTable,
        series: KeySeries | None = None,
        *,
        clock: Callable[[], float] = time.time,
        size: int = QUEUE_SIZE,
    ) -> None:
        self.store = store
        self.prices = prices
        self.series = series
        self.clock = clock
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[str, Charge, float]] = asyncio.Queue(size)

    def write(self, record: RequestRecord) -> None:
        if not record.key:
            return
        charge = charge_of(record, self.prices)
        if charge is None:
            return
        if self.series is not None:
            self.series.count(
                record.key, charge.requests, charge.input_tokens, charge.output_tokens, charge.cost
            )
        try:
            self._queue.put_nowait((record.key, charge, self.clock()))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            key_id, charge, at = await self._queue.get()
            # The windows of the moment the attempt ended, not of when the store gets to it.
            await self.store.charge(key_id, charge, [window(period, at) for period in PERIODS])
            self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued charge reached the store (shutdown, tests)."""
        await self._queue.join()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(self.run())
        try:
            yield
        finally:
            await self.flush()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.store.close()


def charge_of(record: RequestRecord, prices: PriceTable) -> Charge | None:
    """What ``record`` (completed by the recorder) charges its key, as the module says; ``None``
    when it charges nothing at all (no cost, no tokens, not the client's answer)."""
    requests = 0 if record.outcome in _NOT_ANSWERS or record.next_step else 1
    if record.input_tokens is not None:
        cost = record.cost or 0.0
        return Charge(cost, record.input_tokens, record.output_tokens or 0, requests)
    tokens = _estimated(record)
    if tokens is None:
        return Charge(0.0, requests=requests) if requests else None
    price = prices.find(record.provider, record.model)
    cost = price.cost(tokens) if price is not None else 0.0
    return Charge(cost, tokens.input, tokens.output, requests)


def _estimated(record: RequestRecord) -> Tokens | None:
    """Tokens estimated for a 2xx answer the provider reported no usage for (``None`` otherwise)."""
    if not 200 <= record.status < 300 or record.cache_status in _HITS or not record.delivered_bytes:
        return None
    input_tokens = math.ceil(record.request_bytes / _BYTES_PER_TOKEN)
    events = record.tail.count(b"data:")
    if events and record.tail:
        # One token per content event; the tail's share of events stands for the whole stream's.
        output_tokens = math.ceil(record.delivered_bytes * events / len(record.tail))
    else:
        output_tokens = math.ceil(record.delivered_bytes / _BYTES_PER_TOKEN)
    return Tokens(input_tokens, output_tokens)
