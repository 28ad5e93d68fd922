"""The load generator: a separate process that runs one load job at a time and prints its summary.

``python -m benchmarks.load`` reads one JSON job per line on stdin and answers one JSON line on
stdout. Modes:

- ``closed``: ``concurrency`` connections, each sending its next request when the last one ends
  (``per_worker`` requests each, or until ``duration``); workers start spread over ``ramp`` seconds;
- ``open``: requests at a fixed ``rate`` whatever happens to earlier ones; latency counts from the
  *scheduled* send time, so queueing in the system shows instead of slowing the generator down
  (coordinated omission);
- ``hold``: ``concurrency`` streams are opened and kept open ``hold`` seconds, then dropped.

Jobs whose ``kind`` is ``realtime`` (websocket sessions) are run by ``benchmarks.realtime_load``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop

from benchmarks import realtime_load, stats, wire
from benchmarks.client import HttpConnection, Sample


@dataclass(frozen=True, slots=True)
class Job:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "closed"
    kind: str = "chat"  # chat | stream | upload
    concurrency: int = 1
    rate: float = 0.0
    duration: float = 1.0
    warmup: float = 0.0
    per_worker: int = 0
    ramp: float = 0.0
    hold: float = 0.0
    chunks: int = 0
    interval_ms: float = 0.0
    upload_bytes: int = 0

    def request(self) -> bytes:
        parts = urlsplit(self.url)
        if self.kind == "upload":
            body = wire.multipart_upload(self.upload_bytes)
            ctype = f"multipart/form-data; boundary={wire.BOUNDARY}"
        else:
            body, ctype = wire.chat_request_body(stream=self.kind == "stream"), "application/json"
        return wire.http_request("POST", parts.path, parts.netloc, self.headers, body, ctype)

    def expected(self) -> list[bytes] | None:
        usage = self.headers.get("x-mock-usage") == "1"
        return wire.stream_events(self.chunks, usage) if self.kind == "stream" else None


class Run:
    """State shared by the workers of one job: the prebuilt request, the samples, the errors."""

    def __init__(self, job: Job) -> None:
        self.job, self.payload, self.expected = job, job.request(), job.expected()
        parts = urlsplit(job.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.samples: list[Sample] = []
        self.errors: dict[str, int] = {}
        self.started = time.perf_counter()

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(HttpConnection, self.host, self.port)
        return protocol

    async def exchange(self, connection: HttpConnection, start: float) -> bool:
        """One request on ``connection``; False when the connection is unusable afterwards."""
        sample = Sample(start, self.expected, keep_body=self.job.kind == "upload")
        try:
            await connection.send(self.payload, sample)
        except (ConnectionError, OSError):
            self.error("connection")
            return False
        self.samples.append(sample)
        if sample.status != 200:
            self.error(f"status {sample.status}")
        return True


async def _closed_worker(run: Run, index: int, deadline: float) -> None:
    job = run.job
    await asyncio.sleep(job.ramp * index / max(1, job.concurrency))
    connection: HttpConnection | None = None
    sent = 0
    while time.perf_counter() < deadline and (not job.per_worker or sent < job.per_worker):
        sent += 1
        try:
            connection = connection or await run.connect()
        except OSError:
            run.error("connect")
            await asyncio.sleep(0.05)  # refused while the system is saturated: retry, bounded by deadline
            continue
        if not await run.exchange(connection, time.perf_counter()):
            connection = None
            await asyncio.sleep(0.01)  # the server dropped us: do not spin on reconnects
    if connection is not None and connection.transport is not None:
        connection.transport.close()


async def closed_loop(run: Run) -> None:
    deadline = run.started + run.job.duration
    await asyncio.gather(*(_closed_worker(run, i, deadline) for i in range(run.job.concurrency)))


async def open_loop(run: Run, max_connections: int = 4096) -> None:
    """Send at scheduled instants; a request that finds no idle connection opens one (up to a cap)."""
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    opened = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            try:
                connection = await run.connect()
            except OSError:
                opened -= 1
                run.error("connect")
                return
        else:
            connection = await idle.get()
        if await run.exchange(connection, scheduled):
            idle.put_nowait(connection)

    count = int(run.job.rate * run.job.duration)
    for i in range(count):
        scheduled = run.started + i / run.job.rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=run.job.duration + 30)
        for task in late:  # never answered: a client timeout
            run.error("timeout")
            task.cancel()
    while not idle.empty():
        transport = idle.get_nowait().transport
        if transport is not None:
            transport.close()


async def hold_streams(run: Run) -> dict[str, float]:
    """Open ``concurrency`` streams, wait for their first event, keep them ``hold`` s, then drop them."""
    connections = await asyncio.gather(*(run.connect() for _ in range(run.job.concurrency)))
    samples = [Sample(time.perf_counter(), None) for _ in connections]
    for connection, sample in zip(connections, samples, strict=True):
        connection.send(run.payload, sample).add_done_callback(lambda f: f.exception())
    deadline = time.perf_counter() + 30
    # polled, not awaited per stream: the samples have no completion event until the stream ends
    while any(not s.bytes for s in samples) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    held_at = time.time()
    await asyncio.sleep(run.job.hold)
    released_at = time.time()
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    await asyncio.wait([c.closed for c in connections], timeout=10)
    run.samples.extend(samples)
    held = sum(1 for s in samples if s.bytes and s.status == 200)  # an error answer holds nothing open
    return {"held": held, "held_at": held_at, "released_at": released_at}


def summarize(run: Run, elapsed: float) -> dict[str, Any]:
    """Percentiles over every kept sample (those started after the warm-up) and the fidelity counts."""
    kept = [s for s in run.samples if s.end and s.start >= run.started + run.job.warmup]
    ok = [s for s in kept if s.status == 200]
    latencies = [s.end - s.start for s in ok]
    gaps = [g for s in ok for g in s.gaps]
    stall = 3 * run.job.interval_ms / 1000
    result: dict[str, Any] = {
        "requests": len(ok),
        "completed": len(run.samples),  # warm-up included: what the server did while it was sampled
        "errors": run.errors,
        "elapsed_s": elapsed,
        "rps": len(ok) / max(1e-9, elapsed - run.job.warmup),
        "latency_ms": stats.summary_ms(latencies),
        "ttfb_ms": stats.summary_ms([s.first_byte - s.start for s in ok]),
        "cdf_ms": stats.quantiles_ms(latencies),
        "bytes": sum(s.bytes for s in ok),
    }
    if run.expected is not None:
        result |= _stream_summary(ok, gaps, stall)
    if run.job.kind == "upload":
        result["mock_received"] = [orjson.loads(b"".join(s.parts)).get("received") for s in ok]
    return result


def _stream_summary(ok: list[Sample], gaps: list[float], stall: float) -> dict[str, Any]:
    fidelity = {
        "streams": len(ok),
        "events": sum(s.next_event for s in ok),
        "lost": sum(s.lost for s in ok),
        "coalesced": sum(s.coalesced for s in ok),
        "split": sum(s.split for s in ok),
        "corrupted": sum(s.corrupted for s in ok),
    }
    return {
        "ttft_ms": stats.summary_ms([s.first_token - s.start for s in ok if s.first_token]),
        "gap_ms": stats.summary_ms(gaps),
        "gap_sample_ms": stats.stride_sample_ms(gaps),
        "stalls": sum(1 for g in gaps if g > stall) if stall > 0 else 0,
        "fidelity": fidelity,
    }


async def run_job(job: Job) -> dict[str, Any]:
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    run = Run(job)
    extra: dict[str, Any] = {}
    if job.mode == "open":
        await open_loop(run)
    elif job.mode == "hold":
        extra = await hold_streams(run)
    else:
        await closed_loop(run)
    elapsed = time.perf_counter() - run.started
    after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return summarize(run, elapsed) | extra | {"client_cpu_s": client_cpu}


async def serve_jobs() -> None:
    """Answer jobs from stdin until it closes (the suite closes it to stop this process)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            spec = orjson.loads(line)
            if spec.get("kind") == "realtime":
                result = await realtime_load.run_job(spec)
            else:
                result = await run_job(Job(**spec))
        except Exception as exc:  # reported to the suite, which fails the scenario with this message
            result = {"failed": f"{type(exc).__name__}: {exc}"}
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve_jobs())
