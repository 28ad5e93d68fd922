"""``python -m benchmarks``: what the gateway adds to a call, against the same call made directly.

Starts the mock provider, the load generator and (unless ``--target``) the gateway as separate,
pinned processes on 127.0.0.1, runs every scenario direct and through the system A B A B, and writes
``results.json``, ``report.md`` and PNG plots to ``benchmarks/results/<timestamp>/`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks import contenders, overload, progress, report, scenarios
from benchmarks.bench import GATEWAY_HEADERS, Bench, Result, System
from benchmarks.processes import Layout, mock_and_load
from benchmarks.profiles import PROFILES

SCENARIOS = (
    "chat_c1",
    "throughput_c64",
    "observability",
    "cache",
    "guardrails",
    "open_loop",
    "concurrency_sweep",
    "stream_20",
    "stream_200",
    "stream_throughput",
    "idle_streams",  # before many_streams: the allocator keeps the high-water mark of 5,000 streams
    "many_streams",
    "large_upload",
    "realtime",
    "overload",  # last: it starts its own gateway, held to a quarter core
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<timestamp>)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument(
        "--target", help="base URL of another OpenAI-compatible endpoint, e.g. http://host:port/v1"
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="K=V",
        help="header for the target ({mock} = the mock's base URL); adds to or replaces the defaults",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when a target is missed (default: report it and exit 0)",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def gateway(
    workers: int, mock_url: str, layout: Layout, log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[System]:
    """Our gateway as users run it (``env``: GATEWAY_* variables over the suite's environment),
    pinned per the layout, stopped (with its workers) on exit."""
    cores = layout.gateway if workers == 1 else layout.gateway_multi
    with contenders.gateway(contenders.Where(mock_url, cores, log_dir), workers, env) as system:
        yield system


def target_system(args: argparse.Namespace, mock_url: str) -> System:
    headers = dict(GATEWAY_HEADERS)
    for item in args.header:
        name, _, value = item.partition("=")
        headers[name.strip()] = value
    return System(
        "target", args.target.rstrip("/"), {k: v.replace("{mock}", mock_url) for k, v in headers.items()}
    )


def run_scenarios(bench: Bench, names: tuple[str, ...], bar: progress.Progress) -> dict[str, Result]:
    results: dict[str, Result] = {}
    for name in names:
        bar.set_description(name)
        results |= _run_one(bench, name, results)
        bar.update(1)
    return results


def _run_one(bench: Bench, name: str, done: dict[str, Result]) -> dict[str, Result]:
    if name == "open_loop":
        return {name: scenarios.open_loop(bench, _max_rps(bench, done))}
    if name in ("stream_20", "stream_200"):
        return {name: scenarios.streaming(bench, int(name.split("_")[1]))}
    if name == "overload":
        return {name: overload.overload(bench)}
    if name == "cache":
        return {f"cache_c{c}": scenarios.cache_hits(bench, c) for c in (1, 64)}
    if name == "guardrails":
        return {f"guardrails_c{c}": scenarios.guardrails(bench, c) for c in (1, 64)}
    if name == "observability":
        return {f"observability_c{c}": scenarios.observability(bench, c) for c in (1, 64)}
    if name == "many_streams":
        return {f"many_streams_{n}": scenarios.many_streams(bench, n) for n in bench.profile.many_streams}
    function = getattr(scenarios, name)
    return {name: function(bench)}


def _max_rps(bench: Bench, done: dict[str, Result]) -> float:
    """The system's max from ``throughput_c64``, or a short probe when that scenario was not run."""
    if "throughput_c64" in done and (rps := done["throughput_c64"]["figures"]["system"]["rps"]):
        return float(rps)
    probe = bench.run(bench.system, {"concurrency": 64, "duration": 1.0, "warmup": 0.2}, "probe")
    return float(probe["rps"])


def warm_up(bench: Bench) -> None:
    """Open pools and warm caches on both paths, so the first scenario is not a cold start."""
    for system in (bench.direct, bench.system):
        bench.run(system, {"concurrency": 8, "duration": 0.5}, "warm-up")


def main(argv: list[str] | None = None) -> int:
    """Run the suite, write the results, print the targets table; 1 on a missed target with --strict.
    ``compare ...`` runs :mod:`benchmarks.compare` instead."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        from benchmarks import compare

        return compare.main(argv[1:])
    args = parse_args(argv)
    if line := progress.missing_extras_line():
        print(line, file=sys.stderr)
    profile = PROFILES[args.profile]
    out = args.out or Path(__file__).parent / "results" / time.strftime("%Y%m%d-%H%M%S")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    layout = Layout.for_machine()
    if layout.load is not None:
        os.sched_setaffinity(0, layout.load)  # the suite itself mostly sleeps; keep it off the gateway's core
    names = tuple(args.only or SCENARIOS)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        results = _run_all(args, profile, layout, names, out, stack)
    meta = report.machine(layout, profile, args.target, time.monotonic() - started)
    document = {"meta": meta, "scenarios": results}
    (out / "results.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    figures = _draw_plots(results, out)
    (out / "report.md").write_text(report.markdown(document, figures), encoding="utf-8")
    print(report.terminal_table(results))
    print(f"results: {out}/report.md", file=sys.stderr)
    missed = report.missed(results)
    return 1 if args.strict and missed else 0


def _draw_plots(results: dict[str, Result], out: Path) -> list[tuple[str, str]]:
    if not progress.installed("matplotlib"):
        return []  # said at start, in the missing-extras line
    from benchmarks import plots

    return plots.draw_all(results, out)


def _run_all(
    args: argparse.Namespace,
    profile: Any,
    layout: Layout,
    names: tuple[str, ...],
    out: Path,
    stack: contextlib.ExitStack,
) -> dict[str, Result]:
    log_dir = out / "logs"
    mock, load, mock_url = stack.enter_context(mock_and_load(layout, log_dir))
    direct = System("direct", f"{mock_url}/v1", {}, [])
    if args.target:
        system, start_gateway = target_system(args, mock_url), None
    else:
        system = stack.enter_context(gateway(1, mock_url, layout, log_dir))
        start_gateway = lambda workers, env=None: gateway(workers, mock_url, layout, log_dir, env)  # noqa: E731
    bar = progress.progress(len(names))
    stack.callback(bar.close)
    bench = Bench(
        profile, load, direct, system, mock.pid, start_gateway, lambda label: bar.set_postfix_str(label)
    )
    warm_up(bench)
    return run_scenarios(bench, names, bar)


if __name__ == "__main__":
    sys.exit(main())
