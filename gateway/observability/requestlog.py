"""What happened to each request, recorded off the hot path.

The access log is an after stage (``api/stages.py``, in the pipeline only when ``access_log`` is
on): each finished attempt's :class:`RequestRecord` goes into a bounded queue (never awaiting,
never blocking); a background task decodes its usage and writes the access-log line. When the
queue is full the record is dropped and counted, so a slow log sink can never slow requests down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.observability.logging import escaped
from gateway.observability.usage import token_counts, usage_from_tail

if TYPE_CHECKING:
    from gateway.routing.attempts import RequestContext

__all__ = [
    "RequestLog",
    "RequestRecord",
    "running",
]

access_logger = logging.getLogger("gateway.access")

QUEUE_SIZE = 10_000


@dataclass(slots=True)
class RequestRecord:
    method: str
    path: str
    provider: str
    trace_id: str
    #: The caller's x-portkey-metadata labels.
    metadata: dict[str, str]
    status: int = 0
    #: ``ok``, ``upstream_error`` (the upstream failed or timed out), ``client_closed``, and for
    #: config attempts ``retried``, ``fell_back``, ``hedge_lost`` or ``shutdown``.
    outcome: str = "ok"
    duration_ms: float = 0.0
    upstream_ms: float = 0.0
    #: Until the answer was ready to go out: a stream's first chunk, a small body's last byte,
    #: else the headers (0 when it never was). Feeds the ``latency`` load balancing.
    first_token_ms: float = 0.0
    #: The last bytes relayed, where the usage object lives (decoded in the background).
    tail: bytes = b""
    usage: dict[str, Any] | None = None


class RequestLog:
    """Bounded queue of finished requests plus the task that writes them."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self.dropped = 0
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(size)

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """Queue ``record`` for its access-log line (the after stage's call)."""
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            record = await self._queue.get()
            self._write(record)
            self._queue.task_done()

    @staticmethod
    def _write(record: RequestRecord) -> None:
        record.usage = usage_from_tail(record.tail)
        prompt, completion = token_counts(record.usage)
        access_logger.info(
            "%s %s %d provider=%s outcome=%s duration_ms=%.2f upstream_ms=%.2f first_token_ms=%.2f "
            "prompt_tokens=%s completion_tokens=%s trace_id=%s metadata=%s",
            escaped(record.method),
            escaped(record.path),
            record.status,
            record.provider,
            record.outcome,
            record.duration_ms,
            record.upstream_ms,
            record.first_token_ms,
            prompt,
            completion,
            record.trace_id,  # printable only (tracing.trace_id)
            # JSON escapes the C0 controls, not DEL, NEL or U+2028: those are escaped here.
            escaped(orjson.dumps(record.metadata).decode()) if record.metadata else "{}",
        )

    async def flush(self) -> None:
        """Wait until every queued record is written (shutdown, tests)."""
        await self._queue.join()


@contextlib.asynccontextmanager
async def running(log: RequestLog) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(log.run())
    try:
        yield
    finally:
        await log.flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
