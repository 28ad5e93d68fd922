"""``python -m benchmarks``: what the gateway adds to a call, against the same call made directly.

Starts the mock provider and the gateway as separate processes on 127.0.0.1, then sends the same
1 KB chat request directly and through the gateway, interleaved (A B A B) so machine noise hits
both alike, and reports the difference: absolute times are noisy here, the difference is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import orjson
import uvloop

_MESSAGE = {"role": "user", "content": "x" * 900}
BODY = orjson.dumps({"model": "bench", "messages": [_MESSAGE]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=30)


async def wait_listening(url: str, deadline: float = 15.0) -> None:
    stop = time.monotonic() + deadline
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url):
                    return
            except aiohttp.ClientConnectionError:
                if time.monotonic() > stop:
                    raise
                await asyncio.sleep(0.05)


async def latency_pairs(
    direct: str, gateway: str, headers: dict[str, str], requests: int
) -> tuple[list[float], list[float]]:
    """Sequential requests at concurrency 1, alternating direct and gateway; seconds each."""
    timings: dict[str, list[float]] = {direct: [], gateway: []}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(requests):
            for url in (direct, gateway) if i % 2 else (gateway, direct):
                started = time.perf_counter()
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()
                timings[url].append(time.perf_counter() - started)
    return timings[direct], timings[gateway]


async def throughput(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> float:
    """Requests per second with ``concurrency`` clients looping for ``seconds``."""
    done = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / seconds


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def gateway_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> None:
    mock_port, gateway_port = free_port(), free_port()
    direct = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    via_gateway = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-bench",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{mock_port}/v1",
    }
    with (
        process("-m", "benchmarks.mock_upstream", str(mock_port)),
        process("-m", "gateway", "--port", str(gateway_port), "--log-level", "warning") as gateway,
    ):
        await wait_listening(direct)
        await wait_listening(f"http://127.0.0.1:{gateway_port}/healthz")
        await latency_pairs(direct, via_gateway, headers, 200)  # warm-up: connections, caches
        direct_s, gateway_s = await latency_pairs(direct, via_gateway, headers, args.requests)
        print(f"concurrency 1, {args.requests} requests each, 1 KB chat body")
        for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            d, g = percentile(direct_s, fraction) * 1e3, percentile(gateway_s, fraction) * 1e3
            print(f"  {name}: direct {d:.3f} ms, gateway {g:.3f} ms, added {g - d:.3f} ms")
        added = [g - d for d, g in zip(direct_s, gateway_s, strict=True)]
        print(f"  median of paired differences: {statistics.median(added) * 1e3:.3f} ms")
        cpu_before = gateway_cpu_seconds(gateway.pid)
        rate = await throughput(via_gateway, headers, args.concurrency, args.seconds)
        cpu = gateway_cpu_seconds(gateway.pid) - cpu_before
        print(f"concurrency {args.concurrency}, {args.seconds:g} s through the gateway: {rate:.0f} req/s")
        print(f"  gateway CPU per request: {cpu / (rate * args.seconds) * 1e6:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per system at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
