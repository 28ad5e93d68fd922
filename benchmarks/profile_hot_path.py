"""Where the gateway's CPU goes per request, and A/B of two source trees in one run.

``python -m benchmarks.profile_hot_path [--against DIR] [--cprofile FILE] [--kind chat|stream]``
starts the benchmark mock and the gateway as ``make run`` does (``python -m gateway --port P``,
default settings), then drives it with the suite's load generator (closed loop, 64 connections,
the suite's 1.2 KB chat body, ``x-portkey-provider: openai`` with the custom host at the mock).
It prints the gateway's CPU per request, read from ``/proc``.

``--against DIR`` starts a second gateway from another checkout (``git worktree add DIR REF``)
and alternates rounds between the two (A B A B), so both see the same machine load: only figures
from one such run compare. ``--cprofile FILE`` runs the (first) gateway under ``cProfile`` and
writes its stats to FILE on exit (read them with ``pstats``; cProfile itself roughly doubles the
cost, so read the shares, not the absolute times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import uvloop

from benchmarks import processes
from benchmarks.bench import GATEWAY_HEADERS
from benchmarks.load import Job, run_job


def _gateway(name: str, source: Path, port: int, logs: Path, cprofile: str | None) -> processes.Child:
    profiler = ["-m", "cProfile", "-o", cprofile] if cprofile else []
    env = os.environ | {"PYTHONPATH": str(source)}
    # On a shared machine (and under the profiler) the loop lags past the admission's limit and
    # sheds most of the load: what is measured here is the cost of answering, so that check is off.
    env["GATEWAY_LIMITS_MAX_LOOP_LAG"] = "0"
    args = [*profiler, "-m", "gateway", "--port", str(port)]
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", type=Path, help="a second source tree, run interleaved as 'old'")
    parser.add_argument("--cprofile", help="profile the gateway under cProfile into this file")
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
            profile = args.cprofile if name == "new" else None
            gateways[name] = (_gateway(name, source, port, logs, profile), port)
            processes.wait_port(port, gateways[name][0])
        mock_url = f"http://127.0.0.1:{mock_port}"
        for child, port in gateways.values():  # warm up: connections, caches, the first imports
            _round(child, port, mock_url, args.kind, 3.0, ramp=1.0)
        figures: dict[str, list[float]] = {name: [] for name in gateways}
        for _ in range(args.rounds):
            for name, (child, port) in gateways.items():
                per_request, done = _round(child, port, mock_url, args.kind, args.seconds)
                figures[name].append(per_request)
                print(f"{name}: {per_request:.1f} µs CPU per request ({done} requests)", flush=True)
        for name, values in figures.items():
            print(f"{name} median: {statistics.median(values):.1f} µs CPU per {args.kind} request")
    finally:
        for child, _ in gateways.values():
            child.stop()
        mock.stop()


if __name__ == "__main__":
    main()
