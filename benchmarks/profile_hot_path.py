"""Where the gateway's CPU goes per request, and A/B of two source trees in one run.

``python -m benchmarks.profile_hot_path [--against DIR] [--spy FILE] [--kind chat|stream]``
starts the benchmark mock and the gateway as ``make run`` does (``python -m gateway --port P``,
default settings), then drives it with the suite's load generator (closed loop, 64 connections,
the suite's 1.2 KB chat body, ``x-portkey-provider: openai`` with the custom host at the mock).
It prints the gateway's CPU per request, read from ``/proc``.

``--against DIR`` starts a second gateway from another checkout (``git worktree add DIR REF``)
and alternates rounds between the two (A B A B), so both see the same machine load: only figures
from one such run compare. ``--spy FILE`` samples the (first) gateway with py-spy through the
measured rounds (``pip install py-spy`` into the venv: a tool, not a dependency), keeps the raw
stacks in FILE, and prints where its CPU per request went, item by item (:data:`ITEMS`): each
sample counts for the first item one of its frames matches, and the shares are scaled to the
measured CPU per request. A sampling profiler barely slows the gateway down (cProfile slows it
tenfold and inflates small Python functions most), so these shares are the ones to read.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from benchmarks import processes
from benchmarks.bench import GATEWAY_HEADERS
from benchmarks.load import Job, run_job

#: (item, frame substrings): a sample counts for the first item any frame of its stack matches.
ITEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("trace id echo (on_response_prepare)", ("echo_trace_id",)),
    # The client's trace signals (Trace.send_* -> aiosignal); the server's own signals are its cost.
    ("aiohttp client tracing (the session's TraceConfig)", ("aiohttp/tracing.py",)),
    ("recorder: usage, tokens, cost", ("complete (gateway/observability/recorder.py",)),
    ("recorder: metrics sink", ("MetricsSink.write",)),
    ("recorder: console sink", ("ConsoleSink.write",)),
    ("recorder: queue and its drain", ("Recorder._drain",)),
    # aiohttp's data_received runs its parser (under AdmittingHandler.data_received).
    ("aiohttp server: request parse (via the admitting protocol)", ("RequestHandler.data_received (aio",)),
    # The whole answer's write on the lean server path (middleware/lean_server.py); its dispatch
    # (PlainRoutes) is the caller of every handler frame, so only its own time lands in "other".
    ("lean server path: whole answer written", ("send_whole", "AdmittingHandler.finish_response")),
    ("admission: admit, release, early shed", (" admit (gateway/", " release (gateway/", "AdmittingHandler")),
    ("body read and JSON parse", ("read_json_object", "check_media_type")),
    ("plan: metadata, deadline, config, targets", ("_planned (gateway",)),
    ("before stages (guardrails, cache; none configured)", ("GuardrailStage.before", "CacheStage.before")),
    ("upstream request build: adapter, headers, URL", ("_outgoing (gateway",)),
    ("answer headers, Server-Timing", ("_answer_headers",)),
    ("relay: response start, upstream reads, chunks out", ("Relay.",)),
    ("attempt record and after stages", ("_record (gateway", "_account (gateway")),
    # Its send (one writev) is where the sampler most often finds the loop's upstream I/O too.
    ("lean upstream client: pool, send, response parse", ("(gateway/upstream/lean",)),
    (
        "aiohttp client: request, pool, response",
        (
            "aiohttp/client",
            "aiohttp/connector",
            "aiohttp/payload",
            "aiohttp/streams",
            "aiohttp/helpers",
            "yarl",
        ),
    ),
    (
        "handler, attempt runner, error middleware",
        (
            "(gateway/api/proxy",
            "(gateway/routing/attempts",
            "(gateway/middleware/errors",
            "(gateway/api/routes",
        ),
    ),
    (
        "other gateway code",
        (
            "(gateway/api",
            "(gateway/routing",
            "(gateway/observability",
            "(gateway/upstream",
            "(gateway/providers",
            "(gateway/guardrails",
            "(gateway/middleware",
        ),
    ),
    ("aiohttp server: dispatch, response write", ("aiohttp/web_", "aiohttp/http_", "aiohttp/base_protocol")),
)
_REST = "event loop, syscalls, other"


def where_the_time_goes(raw_stacks: Path, per_request: float) -> list[tuple[str, float]]:
    """The µs per request of each item, from py-spy's raw output (``frame;frame;... count``)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw_stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        item = next((name for name, marks in ITEMS if any(m in f for f in frames for m in marks)), _REST)
        counts[item] += int(count)
    total = sum(counts.values()) or 1
    return [(name, counts[name] * per_request / total) for name, _ in (*ITEMS, (_REST, ()))]


def _spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    tool = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if tool is None:
        raise SystemExit("--spy needs py-spy: pip install py-spy (into this venv)")
    args = [tool, "record", "-r", "1000", "-f", "raw", "-o", out, "-p", str(pid), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _gateway(name: str, source: Path, port: int, logs: Path) -> processes.Child:
    env = os.environ | {"PYTHONPATH": str(source)}
    # On a shared machine the loop lags past the admission's limit and sheds most of the load:
    # what is measured here is the cost of answering, so that check is off.
    env["GATEWAY_LIMITS_MAX_LOOP_LAG"] = "0"
    args = ["-m", "gateway", "--port", str(port)]
    layout = processes.Layout.for_machine()
    return processes.start(name, args, layout.gateway, logs, cwd=source, env=env)


def _round(
    child: processes.Child, port: int, mock: str, kind: str, seconds: float, ramp: float = 0.0
) -> tuple[float, int]:
    """One closed-loop round against ``child``: (its CPU µs per request, requests answered).
    Requests the gateway shed (a 503 while a cold process lags) are printed, not fatal."""
    headers = {k: v.replace("{mock}", mock) for k, v in GATEWAY_HEADERS.items()}
    if kind == "stream":
        headers |= {"x-mock-chunks": "20", "x-mock-usage": "1"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    job = Job(url, headers, kind=kind, concurrency=64, duration=seconds, ramp=ramp)
    pids = processes.process_tree(child.pid)
    before, _ = processes.cpu_and_rss(pids)
    result = uvloop.run(run_job(job))
    after, _ = processes.cpu_and_rss(pids)
    done = int(result["completed"])
    if result.get("errors"):
        print(f"{child.name}: {result['errors']}", flush=True)
    return (after - before) * 1e6 / max(1, done), done


def _measure(
    gateways: dict[str, tuple[processes.Child, int]], mock: str, kind: str, rounds: int, seconds: float
) -> dict[str, list[float]]:
    """Rounds alternating between the gateways; prints each figure and the medians."""
    figures: dict[str, list[float]] = {name: [] for name in gateways}
    for _ in range(rounds):
        for name, (child, port) in gateways.items():
            per_request, done = _round(child, port, mock, kind, seconds)
            figures[name].append(per_request)
            print(f"{name}: {per_request:.1f} µs CPU per request ({done} requests)", flush=True)
    for name, values in figures.items():
        print(f"{name} median: {statistics.median(values):.1f} µs CPU per {kind} request")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", type=Path, help="a second source tree, run interleaved as 'old'")
    parser.add_argument("--spy", help="sample the gateway with py-spy, raw stacks into this file")
    parser.add_argument("--kind", choices=("chat", "stream"), default="chat")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="profile-hot-path-"))
    layout = processes.Layout.for_machine()
    if layout.load is not None:
        os.sched_setaffinity(0, layout.load)  # this process is the load generator: off the gateway's core
    mock_port = processes.free_port()
    mock = processes.start("mock", ["-m", "benchmarks.mock_upstream", str(mock_port)], layout.mock, logs)
    trees = {"new": Path.cwd()} | ({"old": args.against.resolve()} if args.against else {})
    gateways: dict[str, tuple[processes.Child, int]] = {}
    try:
        processes.wait_port(mock_port, mock)
        for name, source in trees.items():
            port = processes.free_port()
            gateways[name] = (_gateway(name, source, port, logs), port)
            processes.wait_port(port, gateways[name][0])
        mock_url = f"http://127.0.0.1:{mock_port}"
        for child, port in gateways.values():  # warm up: connections, caches, the first imports
            _round(child, port, mock_url, args.kind, 3.0, ramp=1.0)
        spy = _spy(gateways["new"][0].pid, args.spy) if args.spy else None
        figures = _measure(gateways, mock_url, args.kind, args.rounds, args.seconds)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file as it stops
            spy.wait(timeout=60)
            print(f"\nWhere the time goes (new, µs CPU per {args.kind} request):")
            for item, micros in where_the_time_goes(Path(args.spy), statistics.median(figures["new"])):
                print(f"| {item} | {micros:.1f} |")
    finally:
        for child, _ in gateways.values():
            child.stop()
        mock.stop()


if __name__ == "__main__":
    main()
