"""Rate limits shared through Redis: ``python -m benchmarks.limits_overshoot``.

Starts a ``redis-server``, the mock upstream and 2 then 4 gateway processes (separate processes,
as replicas are), all on 127.0.0.1, and for each of: limits off (no gateway keys), limits in
memory, limits in Redis:

- **overshoot**: hammers one key with ``requests_per_minute = LIMIT`` through every process at
  once and reports admitted / allowed, where allowed is the limit plus what GCRA gives back over
  the run (``LIMIT / 60`` a second). Memory limits admit about N times the limit; Redis, the limit.
- **CPU per request**: the same load with a limit never reached, the gateways' CPU time (every
  process, from /proc) divided by the requests.

Figures depend on the machine (and on what else runs on it): docs/rate_limits.md quotes a run.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.processes import Child, cpu_and_rss, free_port, process_tree, start, wait_port

LIMIT = 200
REQUESTS = 1000
CONCURRENCY = 32
KEY = "gk-benchmark-0123456789abcdef"
MODES = ("off", "memory", "redis")


def settings(mode: str, redis_url: str, upstream: int, limit: int) -> str:
    text = f"""
[server]
access_log = false
[limits]
max_loop_lag = 0.0
[providers.openai]
api_key = "sk-mock"
base_url = "http://127.0.0.1:{upstream}/v1"
"""
    if mode == "off":
        return text
    return (
        text
        + f"""
[keys]
enabled = true
redis_url = "{redis_url}"
[rate_limits]
backend = "{mode}"
[gateway_keys.bench]
key = "{KEY}"
limits = {{ requests_per_minute = {limit} }}
"""
    )


async def hammer(ports: list[int], requests: int) -> tuple[int, float]:
    """(answers that were 200, seconds) for ``requests`` chat requests spread over ``ports``."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {KEY}", "x-portkey-provider": "openai"}
    queue = list(range(requests))
    admitted = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal admitted
        while queue:
            port = ports[queue.pop() % len(ports)]
            async with http.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=headers
            ) as r:
                await r.read()
                admitted += r.status == 200

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return admitted, time.monotonic() - started


def run(
    mode: str, processes: int, limit: int, redis_url: str, upstream: int, logs: Path
) -> tuple[int, float, float]:
    """(admitted, seconds, gateway CPU µs per request) for one mode and process count."""
    config = logs / f"{mode}-{processes}-{limit}.toml"
    config.write_text(settings(mode, redis_url, upstream, limit))
    ports = [free_port() for _ in range(processes)]
    gateways = [
        start(
            f"gateway-{mode}-{port}",
            ["-m", "gateway", "--port", str(port), "--config", str(config)],
            None,
            logs,
        )
        for port in ports
    ]
    try:
        for port, gateway in zip(ports, gateways, strict=True):
            wait_port(port, gateway)
        pids = [pid for gateway in gateways for pid in process_tree(gateway.pid)]
        before, _ = cpu_and_rss(pids)
        admitted, seconds = asyncio.run(hammer(ports, REQUESTS))
        after, _ = cpu_and_rss(pids)
        return admitted, seconds, (after - before) / REQUESTS * 1e6
    finally:
        for gateway in gateways:
            gateway.stop()


def main() -> None:
    logs = Path(tempfile.mkdtemp(prefix="limits-overshoot-"))
    redis_port, upstream = free_port(), free_port()
    redis = Child(
        "redis",
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(logs),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        ),
    )
    mock = start("mock", ["-m", "benchmarks.mock_upstream", str(upstream)], None, logs)
    try:
        wait_port(redis_port, redis)
        wait_port(upstream, mock)
        print(f"limit {LIMIT} requests/minute, {REQUESTS} requests, {CONCURRENCY} at once; logs in {logs}")
        print("| processes | limits | admitted / allowed | gateway CPU per request |")
        print("|---|---|---|---|")
        for processes in (2, 4):
            for number, mode in enumerate(MODES):
                # A fresh key per run: the Redis counters of the last run must not count.
                url = f"redis://127.0.0.1:{redis_port}/{number * 2 + processes // 2}"
                admitted, seconds, _ = run(mode, processes, LIMIT, url, upstream, logs)
                allowed = LIMIT + int(LIMIT * seconds / 60) if mode != "off" else REQUESTS
                _, _, cpu = run(mode, processes, 10**9, url, upstream, logs)
                ratio = f"{admitted} / {allowed} ({admitted / allowed:.2f}x)"
                print(f"| {processes} | {mode} | {ratio} | {cpu:.0f} µs |")
    finally:
        mock.stop()
        redis.stop()


if __name__ == "__main__":
    main()
