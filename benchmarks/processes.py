"""The processes a run starts (mock, gateway, load generator), their CPU pinning, and /proc sampling.

Every child starts in its own session so that stopping it reaches its workers too, and only them:
the suite signals the process groups it created, by id, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Layout:
    """Which cores each process may use; ``None`` everywhere when the machine has one core."""

    gateway: frozenset[int] | None
    gateway_multi: frozenset[int] | None
    mock: frozenset[int] | None
    load: frozenset[int] | None

    @classmethod
    def for_machine(cls) -> Layout:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            return cls(None, None, None, None)
        # The gateway gets a core of its own; mock and load generator share the other one, so what the
        # gateway costs is not blurred by them. Several workers are spread over every core.
        gateway, rest = frozenset(cores[:1]), frozenset(cores[1:])
        return cls(gateway, frozenset(cores), rest, rest)

    def describe(self) -> dict[str, str]:
        def name(cores: frozenset[int] | None) -> str:
            return "unpinned" if cores is None else "cores " + ",".join(map(str, sorted(cores)))

        return {
            "gateway (1 worker)": name(self.gateway),
            "gateway (2 workers)": name(self.gateway_multi),
            "mock upstream": name(self.mock),
            "load generator and suite": name(self.load),
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    """A process this suite started (in its own session) and must stop."""

    name: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the child's own process group, SIGKILL after ``grace`` seconds."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        _signal_group(self.pid, signal.SIGKILL)  # workers left behind by a supervisor that died


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def start(
    name: str,
    args: list[str],
    cores: frozenset[int] | None,
    log_dir: Path,
    *,
    program: str = sys.executable,
    **kw: Any,
) -> Child:
    """``program args...`` (this Python by default) pinned to ``cores``; stderr to ``log_dir/name.log``."""

    def prepare() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)  # inherited by the workers it forks
        # The realtime scenario holds thousands of sockets per process (the gateway two per session).
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    log = (log_dir / f"{name}.log").open("ab")
    kw.setdefault("stdout", log)
    popen = subprocess.Popen([program, *args], stderr=log, start_new_session=True, preexec_fn=prepare, **kw)
    log.close()
    return Child(name, popen)


def wait_port(port: int, child: Child | None = None, deadline: float = 30.0) -> None:
    """Poll until something accepts on ``port`` (a cold interpreter on a busy box can take seconds)."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        if child is not None and child.popen.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.popen.returncode} (see its log)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {deadline:g} s")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its direct children (the gateway's supervisor and its workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and int(stat[1]) == pid:
            children.append(int(entry))
    return [pid, *children]


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_and_rss(pids: list[int]) -> tuple[float, int]:
    """CPU seconds and resident bytes summed over ``pids``."""
    cpu, rss = 0.0, 0
    for pid in pids:
        if (stat := _stat(pid)) is not None:
            cpu += _cpu_seconds(pid, stat)
            rss += int(stat[21]) * _PAGE
    return cpu, rss


def _cpu_seconds(pid: int, stat: list[str]) -> float:
    """Run time of every thread from schedstat (nanoseconds); utime + stime in /proc/PID/stat counts
    in 10 ms ticks, too coarse for CPU per request over a sub-second smoke run."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    except (OSError, ValueError):
        return (int(stat[11]) + int(stat[12])) / _TICK
    return total / 1e9


@dataclass
class Sampler:
    """CPU and RSS of a process tree over time: ``tick()`` appends (wall time, cpu s, rss bytes)."""

    pids: list[int]
    samples: list[tuple[float, float, int]] = field(default_factory=list)

    def tick(self) -> None:
        cpu, rss = cpu_and_rss(self.pids)
        self.samples.append((time.time(), cpu, rss))


class LoadWorker:
    """The load generator process: one JSON job per line in, one JSON result per line out."""

    def __init__(self, cores: frozenset[int] | None, log_dir: Path) -> None:
        kw: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        self.child = start("load", ["-m", "benchmarks.load"], cores, log_dir, **kw)
        assert self.child.popen.stdin is not None
        assert self.child.popen.stdout is not None
        self._stdin: IO[bytes] = self.child.popen.stdin
        self._stdout: IO[bytes] = self.child.popen.stdout

    def run(self, job: dict[str, Any], on_tick: Callable[[], None], timeout: float) -> dict[str, Any]:
        """Send ``job``; call ``on_tick`` every 100 ms until the result arrives (or ``timeout``)."""
        self._stdin.write(orjson.dumps(job) + b"\n")
        self._stdin.flush()
        stop = time.monotonic() + timeout
        on_tick()
        while time.monotonic() < stop:
            ready, _, _ = select.select([self._stdout], [], [], 0.1)
            on_tick()
            if ready:
                line = self._stdout.readline()
                if not line:
                    raise RuntimeError("the load generator exited (see load.log)")
                result: dict[str, Any] = orjson.loads(line)
                return result
        raise TimeoutError(f"load job did not finish in {timeout:.0f} s")

    def stop(self) -> None:
        self._stdin.close()  # the generator ends when its stdin closes
        self.child.stop()


_CGROUP_CPU = Path("/sys/fs/cgroup/cpu")


@contextlib.contextmanager
def mock_and_load(layout: Layout, log_dir: Path) -> Iterator[tuple[Child, LoadWorker, str]]:
    """The mock provider and the load generator, pinned per ``layout``, stopped on exit: the
    mock's process, the load generator and the mock's base URL (without ``/v1``)."""
    with contextlib.ExitStack() as stack:
        mock_port = free_port()
        mock = start("mock", ["-m", "benchmarks.mock_upstream", str(mock_port)], layout.mock, log_dir)
        stack.callback(mock.stop)
        load = LoadWorker(layout.load, log_dir)
        stack.callback(load.stop)
        wait_port(mock_port, mock)
        yield mock, load, f"http://127.0.0.1:{mock_port}"


@contextlib.contextmanager
def cpu_quota(pids: list[int], share: float, period_us: int = 4000) -> Iterator[str]:
    """Hold ``pids`` to ``share`` of one core in a child cgroup (v1 cpu controller), removed after.

    The period is short (4 ms, quota 1 ms at a quarter) on purpose: with the kernel's default 100 ms
    a throttled process stops for 75 ms at a time, and every latency figure measures that instead of
    the process. Yields a description; raises ``OSError`` when the cgroup cannot be set up.
    """
    group = _CGROUP_CPU / f"gateway-bench-{os.getpid()}"
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(max(1000, int(period_us * share))))
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
        yield f"cgroup v1 cpu quota {int(period_us * share)} µs per {period_us} µs period"
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (_CGROUP_CPU / "cgroup.procs").write_text(pid)
        group.rmdir()
