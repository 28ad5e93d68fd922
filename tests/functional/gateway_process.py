"""The gateway as users run it: ``python -m gateway`` in a subprocess, watched through /proc.

Every wait here is a poll with a deadline, so a hung gateway fails the test instead of hanging it.
Each gateway starts in its own process group (its workers join it) so the teardown can kill exactly
the processes it started, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

#: Long enough for a cold interpreter to import aiohttp, uvloop and the gateway on a loaded CI box.
START_TIMEOUT = 30.0


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_env(**overrides: str) -> dict[str, str]:
    """This environment without any ``GATEWAY_*`` variable, plus ``overrides``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_")}
    return {**env, **overrides}


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of a live process, ``None`` when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2])


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def is_alive(pid: int) -> bool:
    return _stat(pid) is not None


def worker_pids(supervisor: int) -> set[int]:
    """The supervisor's worker processes (its other child is multiprocessing's resource tracker)."""
    workers = set()
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is None or stat[0] != supervisor:
            continue
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.add(pid)
    return workers


def listening_pids(port: int, candidates: set[int], sockets: int = 1) -> set[int]:
    """Which of ``candidates`` hold at least ``sockets`` sockets listening on 127.0.0.1:``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(fields[9])
    holders = set()
    for pid in candidates:
        with contextlib.suppress(OSError):
            held = 0
            for fd in os.listdir(f"/proc/{pid}/fd"):
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
                held += bool(match and match.group(1) in inodes)
            if held >= sockets:
                holders.add(pid)
    return holders


async def eventually(check: Callable[[], Any], within: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``check()`` (sync or async) until it returns something truthy; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class GatewayProcess:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    async def readyz(self) -> int | None:
        """/readyz's status on a new connection; ``None`` when nothing answers."""
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
                session.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=5)) as response,
            ):
                return response.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def wait_ready(self, within: float = START_TIMEOUT) -> None:
        async def ready() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"gateway exited with {self.popen.returncode}:\n{self.stderr}")
            return await self.readyz() == 200

        await eventually(ready, within, f"the gateway on port {self.port} to be ready")

    async def wait_exit(self, within: float = 30.0) -> int:
        await eventually(lambda: self.popen.poll() is not None, within, "the gateway to exit")
        return self.popen.returncode

    def kill(self) -> None:
        """Kill the gateway and every process of its group still running (teardown)."""
        group = self.popen.pid
        if self.popen.poll() is None:
            self.popen.kill()
        for pid in _all_pids():
            stat = _stat(pid)
            if stat is not None and stat[1] == group:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


def start_gateway(
    log_dir: Path, *args: str, env: dict[str, str] | None = None, port: int = 0, port_flag: bool = True
) -> GatewayProcess:
    """``python -m gateway [--port PORT] *args`` expected on ``port``; its log goes to ``log_dir``."""
    port_args = ["--port", str(port)] if port_flag else []
    log = log_dir / f"gateway-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gateway", *port_args, *args],
            env=env if env is not None else gateway_env(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    return GatewayProcess(popen, port, log)


class KeepAliveConnection:
    """One raw HTTP/1.1 connection kept open across requests (aiohttp's pool gives no such promise)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> KeepAliveConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def get(self, path: str) -> int:
        """The status of ``GET path`` on this connection; its body is read and dropped."""
        async with asyncio.timeout(10):
            self._writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await self._reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            assert length, head
            await self._reader.readexactly(int(length.group(1)))
        return int(head.split(b" ", 2)[1])

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
