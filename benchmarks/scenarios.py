"""The scenarios of the issue, each a function of a ``Bench`` returning its figures and its targets.

Every scenario that has a direct counterpart runs it in the same run, A B A B (see ``Bench.pairs``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from benchmarks.bench import Bench, Job, Result, System, compare, strip_bulky

CHAT_KEYS = (
    "rps",
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.p999",
    "system_cpu_us_per_req",
    "mock_cpu_us_per_req",
    "system_rss_mb.max",
)
STREAM_KEYS = (
    "rps",
    "ttft_ms.p50",
    "ttft_ms.p99",
    "gap_ms.p50",
    "gap_ms.p99",
    "gap_ms.p999",
    "latency_ms.p50",
    "stalls",
    "fidelity.lost",
    "fidelity.coalesced",
    "fidelity.split",
    "fidelity.corrupted",
    "system_cpu_us_per_req",
    "system_rss_mb.max",
)


def target(label: str, value: float | None, limit: float, at_least: bool = False) -> dict[str, Any]:
    """One of the issue's targets: ``pass`` is None when the figure was not measured."""
    passed = None if value is None else (value >= limit if at_least else value <= limit)
    return {"label": label, "value": value, "limit": limit, "at_least": at_least, "pass": passed}


def _scenario(title: str, params: Job, runs: dict[str, list[Result]], keys: tuple[str, ...]) -> Result:
    figures = compare(runs, keys)
    strip_bulky(runs)
    return {"title": title, "params": params, "runs": runs, "figures": figures, "targets": [], "notes": []}


def _chat(bench: Bench, concurrency: int, seconds: float | None = None) -> Job:
    return {
        "concurrency": concurrency,
        "duration": seconds or bench.profile.seconds,
        "warmup": bench.profile.warmup,
    }


def chat_c1(bench: Bench) -> Result:
    result = _scenario(
        "Non-streaming chat, 1 KB, concurrency 1", _chat(bench, 1), _pairs(bench, 1), CHAT_KEYS
    )
    delta = result["figures"]["delta"]
    result["targets"] = [
        target("added latency p50 (ms)", delta["latency_ms.p50"], 0.2),
        target("added latency p99 (ms)", delta["latency_ms.p99"], 1.0),
    ]
    return result


def _pairs(bench: Bench, concurrency: int) -> dict[str, list[Result]]:
    return bench.pairs(lambda _: _chat(bench, concurrency), f"chat c{concurrency}")


def throughput_c64(bench: Bench) -> Result:
    result = _scenario(
        "Max throughput, concurrency 64, 1 worker", _chat(bench, 64), _pairs(bench, 64), CHAT_KEYS
    )
    system = result["figures"]["system"]
    result["targets"] = [target("gateway CPU per request (µs)", system["system_cpu_us_per_req"], 130)]
    result["notes"].append(
        "Throughput ≥ 5× Portkey's: run the suite with `--target` at Portkey and compare `rps`."
    )
    if bench.start_gateway is not None:
        result["two_workers"] = _two_workers(bench)
    return result


#: What turns the gateway's optional observers off (traces are off unless OTEL_* variables ask; the
#: recorder and its failure warnings always run).
OBSERVERS_OFF = {"GATEWAY_METRICS_ENABLED": "false", "GATEWAY_CONSOLE_ENABLED": "false"}


def observability(bench: Bench, concurrency: int) -> Result:
    """What observability costs: the gateway as it starts by default (metrics and console on)
    against one with them off, interleaved. Here the ``direct`` column is the gateway with them
    off, so ``delta`` is their cost per request."""
    title = f"Observability on (system) vs off (direct column), chat c{concurrency}"
    if bench.start_gateway is None:
        return _scenario(title, {}, {"direct": [], "system": []}, CHAT_KEYS)
    with bench.start_gateway(1, env=OBSERVERS_OFF) as off:
        saved, bench.direct = bench.direct, off
        try:
            runs = bench.pairs(lambda _: _chat(bench, concurrency), f"observability c{concurrency}")
        finally:
            bench.direct = saved
    result = _scenario(title, _chat(bench, concurrency), runs, CHAT_KEYS)
    result["notes"].append(
        "direct = the gateway with " + ", ".join(f"{k}={v}" for k, v in OBSERVERS_OFF.items())
    )
    return result


def cache_hits(bench: Bench, concurrency: int) -> Result:
    """What a cache HIT costs against the same request relayed: a gateway whose every request is
    cached (``GATEWAY_CACHE_MODE=simple``; the suite repeats one body, so all but the first are
    HITs, from memory) against the default one. Here the ``direct`` column is the default gateway,
    so ``delta`` is a HIT's difference to a relayed answer (negative: cheaper)."""
    title = f"Cache HIT (system) vs relayed (direct column), chat c{concurrency}"
    if bench.start_gateway is None:
        return _scenario(title, {}, {"direct": [], "system": []}, CHAT_KEYS)
    with bench.start_gateway(1, env={"GATEWAY_CACHE_MODE": "simple"}) as cached:
        saved_direct, saved_system = bench.direct, bench.system
        bench.direct, bench.system = saved_system, cached
        try:
            runs = bench.pairs(lambda _: _chat(bench, concurrency), f"cache c{concurrency}")
        finally:
            bench.direct, bench.system = saved_direct, saved_system
    result = _scenario(title, _chat(bench, concurrency), runs, CHAT_KEYS)
    result["notes"].append("direct = the default gateway (every request relayed to the mock)")
    return result


#: Five pure checks, two on the request and three on the answer, that the mock's answers pass.
FIVE_CHECKS = {
    "before_request_hooks": [
        {
            "id": "input",
            "checks": [
                {"id": "default.regexMatch", "parameters": {"rule": "\\w"}},
                {"id": "default.wordCount", "parameters": {"minWords": 1, "maxWords": 100000}},
            ],
        }
    ],
    "after_request_hooks": [
        {
            "id": "output",
            "checks": [
                {"id": "default.contains", "parameters": {"operator": "none", "words": ["forbidden"]}},
                {"id": "default.notNull", "parameters": {}},
                {"id": "default.characterCount", "parameters": {"minCharacters": 1}},
            ],
        }
    ],
}


def guardrails(bench: Bench, concurrency: int) -> Result:
    """What five guardrail checks cost: the same request with :data:`FIVE_CHECKS` in its config
    (system) against none (the ``direct`` column: a second, identical gateway without hooks), so
    ``delta`` is the checks' price."""
    title = f"Five guardrail checks (system) vs none (direct column), chat c{concurrency}"
    if bench.start_gateway is None:
        return _scenario(title, {}, {"direct": [], "system": []}, CHAT_KEYS)
    hooks = {"x-portkey-config": json.dumps(FIVE_CHECKS)}
    with bench.start_gateway(1) as plain:
        saved = bench.direct
        bench.direct = plain
        try:
            runs = bench.pairs(
                lambda system: (
                    _chat(bench, concurrency) | ({"headers": hooks} if system is not plain else {})
                ),
                f"guardrails c{concurrency}",
            )
        finally:
            bench.direct = saved
    result = _scenario(title, _chat(bench, concurrency), runs, CHAT_KEYS)
    result["notes"].append("direct = the same gateway without hooks; system = five checks per request")
    return result


def _two_workers(bench: Bench) -> Result:
    """The same load against a second gateway with 2 workers (spread over both cores)."""
    assert bench.start_gateway is not None
    with bench.start_gateway(2) as gateway:
        saved, bench.system = bench.system, gateway
        try:
            runs = bench.pairs(
                lambda _: _chat(bench, 64), "chat c64 2 workers", max(1, bench.profile.rounds - 1)
            )
        finally:
            bench.system = saved
    return _scenario("Max throughput, concurrency 64, 2 workers", _chat(bench, 64), runs, CHAT_KEYS)


def open_loop(bench: Bench, max_rps: float) -> Result:
    """Fixed arrival rate at half the system's measured maximum, latency from the scheduled send time."""
    job = {"mode": "open", "rate": round(max_rps / 2, 1), "duration": bench.profile.seconds, "warmup": 0.0}
    runs = bench.pairs(lambda _: job, "open loop")
    return _scenario(f"Open loop at 50% of max throughput ({job['rate']:.0f} req/s)", job, runs, CHAT_KEYS)


def concurrency_sweep(bench: Bench) -> Result:
    """Extra concurrency levels for the added-latency-vs-concurrency plot (1 and 64 come from above)."""
    levels = {}
    for level in bench.profile.sweep:
        runs = bench.pairs(lambda _, c=level: _chat(bench, c, bench.profile.seconds / 2), f"chat c{level}", 1)
        levels[str(level)] = _scenario(
            f"Non-streaming chat, concurrency {level}", _chat(bench, level), runs, CHAT_KEYS
        )
    return {"title": "Added latency vs concurrency", "levels": levels, "targets": [], "notes": []}


def stream_job(chunks: int, interval_ms: float, concurrency: int, seconds: float) -> Job:
    knobs = {"x-mock-chunks": str(chunks), "x-mock-interval-ms": f"{interval_ms:g}", "x-mock-usage": "1"}
    return {
        "kind": "stream",
        "headers": knobs,
        "chunks": chunks,
        "interval_ms": interval_ms,
        "concurrency": concurrency,
        "duration": seconds,
        "warmup": 0.0,
    }


def streaming(bench: Bench, chunks: int) -> Result:
    job = stream_job(chunks, bench.profile.stream_interval_ms, 1, bench.profile.stream_seconds)
    runs = bench.pairs(lambda _: job, f"stream {chunks}")
    title = f"Streaming chat, {chunks} chunks every {job['interval_ms']:g} ms, concurrency 1"
    result = _scenario(title, job, runs, STREAM_KEYS)
    result["targets"] = _stream_targets(result["figures"])
    return result


def _stream_targets(figures: Result) -> list[dict[str, Any]]:
    delta, system = figures["delta"], figures["system"]
    faults = sum(system[k] or 0 for k in ("fidelity.lost", "fidelity.coalesced", "fidelity.corrupted"))
    return [
        target("added TTFT p50 (ms)", delta["ttft_ms.p50"], 0.3),
        target("added TTFT p99 (ms)", delta["ttft_ms.p99"], 1.0),
        target("added inter-chunk p99 (ms)", delta["gap_ms.p99"], 0.1),
        target("lost + coalesced + corrupted events", faults, 0),
    ]


def stream_throughput(bench: Bench) -> Result:
    """200-chunk streams sent by the mock as fast as it can (unpaced: merging is expected, loss is not)."""
    job = stream_job(200, 0, 16, bench.profile.seconds) | {"warmup": bench.profile.warmup}
    result = _scenario(
        "Streaming throughput, 200 chunks unpaced, concurrency 16",
        job,
        bench.pairs(lambda _: job, "stream c16"),
        STREAM_KEYS,
    )
    result["notes"].append(
        "Unpaced stream: coalesced/split counts are expected here; lost or corrupted are not."
    )
    result["notes"].append("≥ 2× Portkey's throughput: compare `rps` with a `--target` run at Portkey.")
    return result


def many_streams(bench: Bench, count: int) -> Result:
    """``count`` concurrent slow streams (one chunk per 20 ms); stalls are gaps over 3× the pace."""
    profile = bench.profile
    chunks = int(profile.many_seconds * 1000 / profile.many_interval_ms)
    job = stream_job(chunks, profile.many_interval_ms, count, 1.0) | {
        "per_worker": 1,
        "ramp": count / 2000,
    }
    runs = bench.pairs(lambda _: job, f"{count} streams", 1)
    result = _scenario(
        f"{count} concurrent slow streams, {chunks} chunks every 20 ms", job, runs, STREAM_KEYS
    )
    if count >= 5000:
        system = result["figures"]["system"]
        result["targets"] = [
            target("stalls (gaps > 3× pace)", system["stalls"], 0),
            target("gateway RSS (MB)", system["system_rss_mb.max"], 400),
        ]
    return result


def idle_streams(bench: Bench) -> Result:
    """Streams held open (headers and first event sent, then silence): the system's RSS per stream."""
    levels: dict[str, Any] = {}
    for count in bench.profile.idle_counts:
        job = stream_job(2, 600_000, count, 0.0) | {"mode": "hold", "hold": bench.profile.idle_hold}
        result = bench.run(bench.system, job, f"hold {count}")
        levels[str(count)] = held_rss(result)
        strip_bulky({"system": [result]})
    per_1000 = _rss_per_1000(levels)
    idle = levels[next(iter(levels))]["before_mb"] if levels else None
    out = {"title": "Idle held streams", "levels": levels, "rss_mb_per_1000": per_1000, "idle_rss_mb": idle}
    out["targets"] = [target("idle RSS (MB)", idle, 50)]
    if "256" in levels:
        out["targets"].append(target("RSS with 256 streams (MB)", levels["256"]["held_mb"], 70))
    out["notes"] = []
    return out


def held_rss(result: Result) -> dict[str, Any]:
    """RSS before a ``hold`` job opened its streams and its peak while they were held (MB)."""
    samples = result.get("system_samples", [])
    held = [rss for t, rss, _ in samples if result["held_at"] <= t <= result["released_at"]]
    before = samples[0][1] / 2**20 if samples else None
    return {"streams": result["held"], "before_mb": before, "held_mb": max(held) / 2**20 if held else None}


def _rss_per_1000(levels: dict[str, Any], key: str = "held_mb") -> float | None:
    """Slope of RSS (``key``) over the count of streams or sessions, per 1,000 (first to last level)."""
    points = [(int(n), v[key]) for n, v in levels.items() if v[key] is not None]
    if len(points) < 2:
        return None
    (n0, m0), (n1, m1) = points[0], points[-1]
    return (m1 - m0) / (n1 - n0) * 1000


def large_upload(bench: Bench) -> Result:
    """A multipart transcription upload: the system streams it through, its RSS must not grow by its size."""
    size = bench.profile.upload_mb * 2**20
    job = {"kind": "upload", "upload_bytes": size, "per_worker": bench.profile.uploads, "duration": 600.0}
    job["path"] = "/audio/transcriptions"
    runs = bench.pairs(lambda _: job, f"upload {bench.profile.upload_mb} MB", 1)
    growth = [
        r["system_rss_mb"]["max"] - r["system_rss_mb"]["start"]
        for r in runs["system"]
        if "system_rss_mb" in r
    ]
    result = _scenario(
        f"Large upload, {bench.profile.upload_mb} MB multipart",
        job,
        runs,
        ("latency_ms.p50", "system_rss_mb.max"),
    )
    result["rss_growth_mb"] = max(growth) if growth else None
    result["targets"] = [target("gateway RSS growth during upload (MB)", result["rss_growth_mb"], 16)]
    received = {n for r in runs["system"] for n in r.get("mock_received", [])}
    result["notes"].append(f"bytes the mock received per upload: {sorted(received)}")
    return result


def realtime(bench: Bench) -> Result:
    """``/v1/realtime`` sessions against the mock's echo: the round trip the system adds (A B A B at
    each concurrency), then the system's RSS per 1,000 idle and active sessions (system only)."""
    profile = bench.profile.realtime
    levels = {_sessions(c): _realtime_rtt(bench, c) for c in profile.concurrency}
    hold = _realtime_hold(bench)
    first = levels[_sessions(profile.concurrency[0])]["figures"]["delta"]
    out: Result = {"title": "Realtime websockets (echo upstream)", "levels": levels} | hold
    out["targets"] = [
        target(f"added round trip p99, {_sessions(profile.concurrency[0])} (ms)", first["rtt_ms.p99"], 0.3),
        target("RSS per 1,000 idle sessions (MB)", hold["rss_mb_per_1000_idle"], 40),
    ]
    if profile.levels[-1] >= 5000:
        out["targets"].append(
            target("concurrent sessions, one process", hold["sessions_reached"], 5000, True)
        )
    out["notes"] = _REALTIME_NOTES + _saturated(hold["sessions"])
    return out


def _saturated(rows: dict[str, Any]) -> list[str]:
    """A level whose active pace the system could not keep up with: its active RSS holds queued
    messages too (an upper bound), and its round trips are queueing time."""
    notes = []
    for level, row in rows.items():
        if row["active_msgs_per_s"] < 0.9 * row["offered_msgs_per_s"]:
            notes.append(
                f"{level} active sessions offered {row['offered_msgs_per_s']:,.0f} msg/s; "
                f"{row['active_msgs_per_s']:,.0f} came back within the window (system CPU "
                f"{row['active_cpu']['system'] or 0:.2f} cores): saturated, so that level's active RSS "
                "includes queued messages."
            )
    return notes


RTT_KEYS = ("rtt_ms.p50", "rtt_ms.p99", "rtt_ms.p999", "rps", "system_cpu_us_per_req", "mock_cpu_us_per_req")
_REALTIME_NOTES = [
    "Round trip: one ~200-byte JSON text message sent, its echo awaited, then the next (closed loop per "
    "session); direct = load generator → mock's websocket echo, system = through /v1/realtime with "
    "x-portkey-custom-host ws://mock/v1. CPU per req is per round trip (two relayed messages).",
    "RSS per 1,000 sessions: the slope of the system's RSS (max over each window, /proc) between the "
    "first and the last level. Idle: sessions opened and each confirmed by one echo, then quiet. Active: "
    "the same sessions each sending a message every interval_ms. The idle window of a level follows the "
    "active window of the level before, so the idle slope errs high (memory kept from that activity).",
]


def _sessions(count: int) -> str:
    return f"{count} session" + ("s" if count > 1 else "")


def _realtime_rtt(bench: Bench, concurrency: int) -> Result:
    profile = bench.profile.realtime
    job: Job = {
        "kind": "realtime",
        "path": "/realtime",
        "mode": "rtt",
        "concurrency": concurrency,
        "duration": profile.seconds,
        "warmup": bench.profile.warmup if profile.seconds else 0.0,
        "messages": profile.messages,
    }
    runs = bench.pairs(
        lambda system: job | {"headers": _realtime_headers(bench, system)}, f"rtt c{concurrency}"
    )
    return _scenario(f"Round trip, {_sessions(concurrency)}", job, runs, RTT_KEYS)


def _realtime_headers(bench: Bench, system: System) -> dict[str, str]:
    """Through a gateway the upstream is named as a realtime client names it: ws://mock/v1."""
    if system is bench.direct:
        return {}
    return {"x-portkey-custom-host": bench.direct.base_url.replace("http://", "ws://", 1)}


def _realtime_hold(bench: Bench) -> Result:
    profile = bench.profile.realtime
    job: Job = {
        "kind": "realtime",
        "path": "/realtime",
        "mode": "hold",
        "levels": list(profile.levels),
        "hold": profile.hold,
        "active": profile.active,
        "interval_ms": profile.interval_ms,
        "duration": len(profile.levels) * (profile.hold + profile.active + 30),
        "headers": _realtime_headers(bench, bench.system),
    }
    result = bench.run(bench.system, job, f"hold {profile.levels[-1]} sessions")
    samples = result.pop("system_samples", [])
    mock = result.pop("mock_samples", [])
    rows = {}
    for level, figures in result["levels"].items():
        idle, active = (result["windows"][f"{kind}_{level}"] for kind in ("idle", "active"))
        rows[level] = figures | {
            "rss_mb_idle": _max_rss_mb(samples, idle),
            "rss_mb_active": _max_rss_mb(samples, active),
            "offered_msgs_per_s": figures["opened"] * 1000 / figures["interval_ms"],
            "active_msgs_per_s": figures["echoed_in_active_window"] / (active[1] - active[0]),
            # cores busy in the active window: who limits the message rate
            "active_cpu": {
                "system": _cpu_share(samples, active),
                "mock": _cpu_share(mock, active),
                "load": active[2] / (active[1] - active[0]),
            },
        }
    last = rows[str(profile.levels[-1])]
    return {
        "sessions": rows,
        "baseline_rss_mb": samples[0][1] / 2**20 if samples else None,
        "rss_mb_per_1000_idle": _rss_per_1000(rows, "rss_mb_idle"),
        "rss_mb_per_1000_active": _rss_per_1000(rows, "rss_mb_active"),
        "sessions_reached": last["echoing"],
        "hold_run": {k: v for k, v in result.items() if k not in ("levels", "system_rss_series")},
    }


def _max_rss_mb(samples: list[tuple[float, int, float]], window: list[float]) -> float | None:
    inside = [rss for t, rss, _ in samples if window[0] <= t <= window[1]]
    return max(inside) / 2**20 if inside else None


def _cpu_share(samples: list[tuple[float, int, float]], window: list[float]) -> float | None:
    """CPU seconds per second (cores busy) between the first and last samples inside ``window``."""
    inside = [(t, cpu) for t, _, cpu in samples if window[0] <= t <= window[1]]
    if len(inside) < 2:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


Scenario = Callable[[Bench], Result]
