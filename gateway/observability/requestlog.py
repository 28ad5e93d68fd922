"""What happened to each request, recorded off the hot path.

The request log is an after stage (``api/stages.py``) and also hears of the requests the gateway
answers itself (``middleware/errors.py``). A record it has a line for goes into a bounded queue
(never awaiting, never blocking); a background task decodes its usage and writes the line. When
the queue is full the record is dropped and counted, so a slow log sink can never slow requests
down. The lines: with ``access_log`` on, one per attempt and one per request the gateway refused
before any attempt; and, whatever the settings, one WARNING per failure (a 5xx, or an upstream
that failed or timed out), so failures show at the default log level.
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
failure_logger = logging.getLogger("gateway.failures")

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
    #: config attempts ``retried``, ``fell_back``, ``hedge_lost`` or ``shutdown``; ``rejected``
    #: when the gateway answered without an attempt, ``internal_error`` for a bug (a 500).
    outcome: str = "ok"
    duration_ms: float = 0.0
    #: From sending to the upstream's response headers, or to its failure (0 when nothing was sent).
    upstream_ms: float = 0.0
    #: Until the answer was ready to go out: a stream's first chunk, a small body's last byte,
    #: else the headers (0 when it never was). Feeds the ``latency`` load balancing.
    first_token_ms: float = 0.0
    #: The last bytes relayed, where the usage object lives (decoded in the background).
    tail: bytes = b""
    usage: dict[str, Any] | None = None


class RequestLog:
    """Bounded queue of finished requests plus the task that writes them; ``access``: whether
    every request gets its access-log line (else only failures get their warning)."""

    def __init__(self, access: bool, size: int = QUEUE_SIZE) -> None:
        self.access = access
        self.dropped = 0
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(size)

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """An attempt ended (the after stage's call): :meth:`add` its record."""
        self.add(record)

    def add(self, record: RequestRecord) -> None:
        """Queue ``record`` if it gets a line (see the module's docstring); never blocks."""
        if not (self.access or _failed(record)):
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        while True:
            record = await self._queue.get()
            if _failed(record):
                _warn(record)
            if self.access:
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


def _failed(record: RequestRecord) -> bool:
    """A failure the operator must see: a 5xx, or an upstream that failed or timed out. A bug's
    500 is left out (its traceback is logged already: ``middleware/errors.py``), and so is a shed
    503 (admission counts sheds and logs them once per 10 s: one line each would add to the load)."""
    if record.outcome in ("internal_error", "shed"):
        return False
    return record.status >= 500 or record.outcome == "upstream_error"


def _warn(record: RequestRecord) -> None:
    failure_logger.warning(
        "%s %s %d provider=%s outcome=%s duration_ms=%.2f trace_id=%s",
        escaped(record.method),
        escaped(record.path),
        record.status,
        record.provider,
        record.outcome,
        record.duration_ms,
        record.trace_id,
    )


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
