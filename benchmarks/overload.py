"""The overload scenario: a fresh gateway held to a quarter core, offered twice what it can serve.

Capacity is measured first: the best goodput of closed loops at concurrency 4, 8 and 16 (a quarter
core is saturated by 4; more in flight only makes the loop late, which admission control answers
with 503s that goodput does not count), then the unloaded p99 (open loop at 25 % of capacity),
then 2× capacity open loop for ``overload_seconds``.
The figures: goodput (200s per second) as a share of capacity, p99 of the admitted (200) requests
against the unloaded p99, sheds (503s the client saw), client timeouts and connection errors, and
the gateway's RSS idle before, at peak, and a few seconds after the load stops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.bench import Bench, Job, Result, strip_bulky
from benchmarks.processes import cpu_and_rss, cpu_quota
from benchmarks.scenarios import target

_SHARE = 0.25
_CAPACITY_CONCURRENCY = (4, 8, 16)
#: Seconds the gateway gets after the load stops before its RSS is read "after".
_SETTLE = 3.0


def overload(bench: Bench) -> Result:
    if bench.start_gateway is None:
        return {"title": "Overload", "targets": [], "notes": ["needs this gateway (not --target)"]}
    with bench.start_gateway(1) as gateway:
        saved, bench.system = bench.system, gateway
        try:
            with _held(gateway.pids) as held:
                result = _measure(bench)
        finally:
            bench.system = saved
    result["notes"].insert(0, held)
    return result


@contextlib.contextmanager
def _held(pids: list[int]) -> Iterator[str]:
    """A quarter core where the cgroup can be made (root); else the gateway's own pinned core."""
    with contextlib.ExitStack() as stack:
        try:
            how = stack.enter_context(cpu_quota(pids, _SHARE))
        except OSError as exc:
            yield f"gateway NOT held to a quarter core ({exc.strerror or exc}): measured on its own core"
            return
        yield f"gateway held to a quarter core: {how}"


def _measure(bench: Bench) -> Result:
    system, seconds = bench.system, max(1.0, bench.profile.seconds)
    bench.run(system, {"concurrency": 8, "duration": 0.5}, "overload warm-up")
    time.sleep(1.0)
    idle_mb = _rss_mb(system.pids)
    closed = [
        bench.run(system, {"concurrency": c, "duration": seconds, "warmup": 0.3}, f"capacity c{c}")
        for c in _CAPACITY_CONCURRENCY
    ]
    capacity = max(closed, key=lambda run: float(run["rps"]))
    rate = float(capacity["rps"])
    unloaded = bench.run(system, _open(rate * 0.25, seconds), "unloaded (25 %)")
    loaded = bench.run(system, _open(rate * 2, bench.profile.overload_seconds), "overload (2×)")
    time.sleep(_SETTLE)
    after_mb = _rss_mb(system.pids)
    figures = _figures(rate, unloaded, loaded, idle_mb, after_mb)
    runs = {"system": [*closed, unloaded, loaded]}
    strip_bulky(runs)
    return {
        "runs": runs,
        "title": f"Overload: 2× capacity open loop for {bench.profile.overload_seconds:g} s, quarter core",
        "overload": figures,
        "targets": [
            target("goodput at 2× load (share of capacity)", figures["goodput_share"], 0.9, at_least=True),
            target("admitted p99 / unloaded p99", figures["p99_ratio"], 5.0),
            target("RSS after / idle", figures["rss_after_ratio"], 1.1),
        ],
        "notes": [],
    }


def _open(rate: float, seconds: float) -> Job:
    return {"mode": "open", "rate": round(rate, 1), "duration": seconds, "warmup": 0.0}


def _figures(
    rate: float, unloaded: Result, loaded: Result, idle_mb: float, after_mb: float
) -> dict[str, Any]:
    errors = loaded.get("errors", {})
    shed = errors.get("status 503", 0) + errors.get("status 429", 0)
    admitted_p99 = loaded["latency_ms"].get("p99")
    unloaded_p99 = unloaded["latency_ms"].get("p99")
    return {
        "capacity_rps": rate,
        "offered_rps": round(rate * 2, 1),
        "goodput_rps": loaded["rps"],
        "goodput_share": loaded["rps"] / rate if rate else None,
        "unloaded_p99_ms": unloaded_p99,
        "admitted_p99_ms": admitted_p99,
        "admitted_p50_ms": loaded["latency_ms"].get("p50"),
        "p99_ratio": admitted_p99 / unloaded_p99 if admitted_p99 and unloaded_p99 else None,
        "shed": shed,
        "timeouts": errors.get("timeout", 0),
        "connection_errors": errors.get("connection", 0) + errors.get("connect", 0),
        "other_errors": {k: v for k, v in errors.items() if k not in _KNOWN},
        "rss_idle_mb": idle_mb,
        "rss_peak_mb": loaded.get("system_rss_mb", {}).get("max"),
        "rss_after_mb": after_mb,
        "rss_after_ratio": after_mb / idle_mb if idle_mb else None,
    }


_KNOWN = {"status 503", "status 429", "timeout", "connection", "connect"}


def _rss_mb(pids: list[int]) -> float:
    return cpu_and_rss(pids)[1] / 2**20
