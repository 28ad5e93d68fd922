"""Realtime load: websocket sessions held by the load generator, every message timed until its echo.

``benchmarks.load`` hands it the jobs whose ``kind`` is ``realtime``. Modes:

- ``rtt``: ``concurrency`` sessions, each sending one ~200-byte JSON text message and waiting for
  its echo before sending the next (closed loop) for ``duration`` s, the first ``warmup`` s not
  counted (or ``messages`` round trips per session);
- ``hold``: sessions opened up to each of ``levels`` (every new one confirmed by one echo), kept
  quiet ``hold`` s (the idle window), then each sending a message every ``interval_ms`` for
  ``active`` s (the active window). The windows are wall-clock times, so the suite can read the
  gateway's RSS from its /proc samples in each.

A session is a raw asyncio protocol, like ``client.py``'s (aiohttp's client would cost the shared
load core more than the gateway costs): the handshake, masked frames out, echoes matched in order
against what was sent (a different payload counts as corrupted, one that never came back as lost).
Every session is closed with 1000 at the end of a job and its close awaited, so the next job finds
the system without leftovers.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from benchmarks import stats, ws_wire

_OPENING = 256  # handshakes in flight at once: far below every listen backlog on the way
_OPEN_TIMEOUT = 30.0
_ECHO_TIMEOUT = 10.0
_NORMAL_CLOSE = (1000).to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class RealtimeJob:
    url: str  # http://host:port/v1/realtime (the upgrade is asked for in the request)
    kind: str = "realtime"
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "rtt"  # rtt | hold
    concurrency: int = 1
    duration: float = 1.0
    warmup: float = 0.0
    messages: int = 0
    levels: tuple[int, ...] = ()
    hold: float = 0.0
    active: float = 0.0
    interval_ms: float = 150.0


class Echoes:
    """What the sessions of one job saw: round trips (those sent from ``counted_from`` on), faults."""

    def __init__(self, counted_from: float) -> None:
        self.counted_from = counted_from
        self.rtts: list[float] = []
        self.echoed = self.corrupted = 0
        self.errors: dict[str, int] = {}

    def echo(self, sent_at: float, now: float, intact: bool) -> None:
        self.echoed += 1
        self.corrupted += not intact
        if sent_at >= self.counted_from:
            self.rtts.append(now - sent_at)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Session(asyncio.Protocol):
    """One websocket session: ``opened`` resolves after the 101, ``closed`` when the socket is gone."""

    def __init__(self, handshake: bytes, key: bytes, echoes: Echoes) -> None:
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.sent: deque[tuple[float, bytes]] = deque()  # awaiting their echo, oldest first
        self._handshake, self._accept, self._echoes = handshake, ws_wire.accept_key(key), echoes
        self._head = b""
        self._frames: ws_wire.FrameReader | None = None
        self._drained: asyncio.Future[None] | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._handshake)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        gone = ConnectionError("connection closed")
        for future in (self.opened, self._drained):
            if future is not None and not future.done():
                future.set_exception(gone)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self._frames is None:
            data = self._read_head(data)
        if self._frames is not None and data:
            for head, payload in self._frames.feed(data):
                self._on_frame(now, head, payload)

    def _read_head(self, data: bytes) -> bytes:
        buffer = self._head + data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self._head = buffer
            return b""
        head = buffer[:end]
        if head[9:12] != b"101" or self._accept not in head:
            self.opened.set_exception(ConnectionError(f"handshake {head[9:12].decode()}"))
            self.abort()
            return b""
        self._frames = ws_wire.FrameReader()
        self.opened.set_result(None)
        return buffer[end + 4 :]

    def _on_frame(self, now: float, head: int, payload: bytes) -> None:
        opcode = head & 0x0F
        if opcode in (ws_wire.TEXT, ws_wire.BINARY):
            if not self.sent:
                self._echoes.error("unexpected message")
                return
            sent_at, sent = self.sent.popleft()
            self._echoes.echo(sent_at, now, payload == sent)
            if not self.sent and self._drained is not None and not self._drained.done():
                self._drained.set_result(None)
        elif opcode == ws_wire.PING:  # the gateway's heartbeat
            self._write(ws_wire.frame(ws_wire.FIN | ws_wire.PONG, payload, masked=True))
        elif opcode == ws_wire.CLOSE:
            if not self._closing:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._echoes.error(f"closed by the server ({code})")
            self.abort()

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def send(self, payload: bytes) -> None:
        self.sent.append((time.perf_counter(), payload))
        self._write(ws_wire.frame(ws_wire.FIN | ws_wire.TEXT, payload, masked=True))

    async def drained(self) -> None:
        """Until every message sent so far has come back."""
        if self.transport is None:
            raise ConnectionError("connection closed")
        if self.sent:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def close(self) -> None:
        """Start the closing handshake (1000); the server's close ends the connection."""
        self._closing = True
        self._write(ws_wire.frame(ws_wire.FIN | ws_wire.CLOSE, _NORMAL_CLOSE, masked=True))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Run:
    """One job's sessions, the messages they send (numbered, all distinct) and what came back."""

    def __init__(self, job: RealtimeJob) -> None:
        parts = urlsplit(job.url)
        self.job, self.host, self.port = job, parts.hostname or "127.0.0.1", parts.port or 80
        self.path, self.netloc = parts.path, parts.netloc
        self.started = time.perf_counter()
        self.echoes = Echoes(self.started + job.warmup)
        self.sessions: list[Session] = []
        self._numbers = 0

    def message(self) -> bytes:
        self._numbers += 1
        return ws_wire.message(self._numbers)

    def _handshake(self, key: bytes) -> bytes:
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.netloc}", "Upgrade: websocket"]
        lines += ["Connection: Upgrade", f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in self.job.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def open(self, count: int) -> list[Session]:
        """``count`` more sessions (a failure is counted, not raised), at most ``_OPENING`` at a time."""
        gate = asyncio.Semaphore(_OPENING)
        opened = await asyncio.gather(*(self._open_one(gate) for _ in range(count)))
        fresh = [session for session in opened if session is not None]
        self.sessions += fresh
        return fresh

    async def _open_one(self, gate: asyncio.Semaphore) -> Session | None:
        key = ws_wire.new_key()
        loop = asyncio.get_running_loop()
        async with gate:
            try:
                _, session = await loop.create_connection(
                    lambda: Session(self._handshake(key), key, self.echoes), self.host, self.port
                )
                await asyncio.wait_for(session.opened, _OPEN_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                self.echoes.error(f"open: {exc}"[:80])
                return None
        return session

    async def round_trip(self, session: Session) -> bool:
        session.send(self.message())
        try:
            await asyncio.wait_for(session.drained(), _ECHO_TIMEOUT)
        except (ConnectionError, TimeoutError):
            return False
        return True

    async def close_all(self) -> int:
        """Close every session (1000) and wait for the closes, bounded; returns the messages lost."""
        lost = sum(len(session.sent) for session in self.sessions)
        for session in self.sessions:
            session.close()
        closes = [session.closed for session in self.sessions]
        if closes:
            await asyncio.wait(closes, timeout=_ECHO_TIMEOUT)
        for session in self.sessions:
            session.abort()
        return lost


async def round_trips(run: Run) -> dict[str, Any]:
    """Closed loop: each session sends its next message when the echo of the last one arrived."""
    job = run.job
    sessions = await run.open(job.concurrency)
    deadline = run.started + job.warmup + job.duration if not job.messages else float("inf")

    async def loop(session: Session) -> None:
        sent = 0
        while time.perf_counter() < deadline and (not job.messages or sent < job.messages):
            sent += 1
            if not await run.round_trip(session):
                return

    run.echoes.counted_from = time.perf_counter() + job.warmup
    counted_from = run.echoes.counted_from
    await asyncio.gather(*(loop(session) for session in sessions))
    rtts = run.echoes.rtts
    return {
        "rtt_ms": stats.summary_ms(rtts),
        "cdf_ms": stats.quantiles_ms(rtts),
        "rps": len(rtts) / max(1e-9, time.perf_counter() - counted_from),
    }


async def hold_levels(run: Run) -> dict[str, Any]:
    """Sessions opened level by level; at each, an idle window then an active one (module doc)."""
    job, levels = run.job, {}
    windows: dict[str, tuple[float, float, float]] = {}
    for level in job.levels:
        fresh = await run.open(level - len(run.sessions))
        await asyncio.gather(*(run.round_trip(session) for session in fresh))
        with _Window(windows, f"idle_{level}"):
            await asyncio.sleep(job.hold)
        before = len(run.echoes.rtts)
        with _Window(windows, f"active_{level}"):
            await _paced(run, job.active, job.interval_ms / 1000)
        in_window = len(run.echoes.rtts) - before
        drains = [asyncio.wait_for(session.drained(), _ECHO_TIMEOUT) for session in run.sessions]
        await asyncio.gather(*drains, return_exceptions=True)
        levels[str(level)] = {
            "interval_ms": job.interval_ms,
            "opened": len(run.sessions),
            # still open after the active window, every message echoed
            "echoing": sum(1 for s in run.sessions if s.transport is not None and not s.sent),
            "active_messages": len(run.echoes.rtts) - before,
            "echoed_in_active_window": in_window,
            "active_rtt_ms": stats.summary_ms(run.echoes.rtts[before:]),
        }
    return {"levels": levels, "windows": windows}


class _Window:
    """Records (wall start, wall end, this process's CPU seconds) of the block under ``name``."""

    def __init__(self, windows: dict[str, tuple[float, float, float]], name: str) -> None:
        self._windows, self._name = windows, name

    def __enter__(self) -> None:
        self._start, self._cpu = time.time(), _cpu_seconds()

    def __exit__(self, *_: object) -> None:
        self._windows[self._name] = (self._start, time.time(), _cpu_seconds() - self._cpu)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _paced(run: Run, seconds: float, interval: float) -> None:
    """Every open session sends one message per ``interval``, their phases spread evenly."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    sessions = run.sessions

    def tick(session: Session) -> None:
        if loop.time() < end and session.transport is not None:
            session.send(run.message())
            loop.call_later(interval, tick, session)

    for index, session in enumerate(sessions):
        loop.call_later(interval * index / len(sessions), tick, session)
    await asyncio.sleep(seconds)  # ticks due later send nothing


async def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    job = RealtimeJob(**(spec | {"levels": tuple(spec.get("levels", ()))}))
    run = Run(job)
    try:
        extra = await (hold_levels(run) if job.mode == "hold" else round_trips(run))
    finally:
        lost = await run.close_all()
    echoes = run.echoes
    return extra | {
        "requests": len(echoes.rtts),
        "completed": echoes.echoed,
        "sessions": len(run.sessions),
        "corrupted": echoes.corrupted,
        "lost": lost,
        "errors": echoes.errors,
        "elapsed_s": time.perf_counter() - run.started,
    }
