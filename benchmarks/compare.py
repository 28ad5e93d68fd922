"""``python -m benchmarks compare``: this gateway beside nginx, a bare aiohttp pass-through, Portkey's
gateway and LiteLLM, in one run, with the same pinning and load, interleaved.

Every contender runs at once, each pinned to the gateway's core (``--workers 2`` ones to both), the
mock and the load generator on the other core. Each round measures every contender in turn, one
figure at a time (so drift and noise hit them alike); figures are medians over the rounds. Writes
``compare.md``, ``compare.json`` and ``compare.png`` to the results folder; ``--readme`` rewrites
the README's "Performance" section with the table. ``--stages`` measures instead what each
optional stage of this gateway costs (see :mod:`benchmarks.stages`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import compare_report, contenders, progress, report, stages
from benchmarks.bench import Bench, Job, Result, System, metric, strip_bulky
from benchmarks.processes import Layout, mock_and_load
from benchmarks.profiles import COMPARE, SMOKE, STANDARD, CompareProfile
from benchmarks.scenarios import held_rss, stream_job

Starter = Callable[[], AbstractContextManager[System]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__)
    parser.add_argument("--profile", choices=sorted(COMPARE), default="standard")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<timestamp>)")
    parser.add_argument("--readme", action="store_true", help="rewrite the README's Performance section")
    parser.add_argument("--stages", action="store_true", help="the cost of each optional stage instead")
    return parser.parse_args(argv)


@dataclass
class Run:
    """One compare run: the load worker, the mock, the direct path and the figures' raw results."""

    bench: Bench
    profile: CompareProfile
    runs: dict[str, dict[str, list[Result]]]  # figure → system key → one result per round

    def measure(self, figure: str, key: str, system: System, job: Job) -> Result:
        result = self.bench.run(system, job, f"{figure} {key}")
        self.runs.setdefault(figure, {}).setdefault(key, []).append(result)
        return result

    def chat(self, concurrency: int) -> Job:
        return {"concurrency": concurrency, "duration": self.profile.seconds, "warmup": self.profile.warmup}

    def streams(self) -> Job:
        return stream_job(20, 0, 64, self.profile.seconds) | {"warmup": self.profile.warmup}

    def held(self) -> Job:
        return stream_job(2, 600_000, self.profile.held, 0.0) | {"mode": "hold", "hold": self.profile.hold}

    def warm(self, system: System) -> None:
        """Open pools and warm caches, so no contender's first figure is a cold start."""
        self.bench.run(system, {"concurrency": 8, "duration": min(0.5, self.profile.seconds)}, "warm-up")


def median(runs: list[Result], path: str) -> float | None:
    values = [v for r in runs if (v := metric(r, path)) is not None]
    return statistics.median(values) if values else None


#: The figures of a compare run and the fields of a system's row each one makes.
FIELDS = {
    "chat_c64": ("rps", "cpu_us"),
    "stream_c64": ("stream_rps", "stream_cpu_us"),
    "chat_c1": ("added_p50_ms", "added_p99_ms"),
    "held": ("rss_held_mb",),
}


def answered(figure: str, runs: list[Result]) -> bool:
    """Whether any request of ``runs`` was answered 200 (for ``held``: any stream held open)."""
    return any(r.get("held" if figure == "held" else "requests") for r in runs)


def failed_share(runs: list[Result]) -> float:
    """The median share of requests not answered 200 (a gateway's admission sheds on a loaded core)."""
    return float(statistics.median(sum(r["errors"].values()) / max(1, r["completed"]) for r in runs))


def installed(one: contenders.Where) -> tuple[dict[str, Starter], list[str]]:
    """The 1-worker contenders that can run here (key → starter) and the names of those that cannot."""
    found: dict[str, Starter] = {}
    missing: list[str] = []
    found["bare aiohttp"] = lambda: contenders.bare_aiohttp(one)
    if os.access(contenders.NGINX, os.X_OK):
        found["nginx"] = lambda: contenders.nginx(one)
    else:
        missing.append("nginx")
    if (entry := contenders.portkey_entry()) is not None:
        found["portkey"] = lambda: contenders.portkey(one, entry)
    else:
        missing.append("portkey")
    if (command := contenders.litellm_command()) is not None:
        found["litellm"] = lambda: contenders.litellm(one, command)
    else:
        missing.append("litellm")
    found["gateway"] = lambda: contenders.gateway(one)
    found["gateway no lag shedding"] = lambda: contenders.gateway(
        one, env=contenders.NO_LAG_SHEDDING, name="gateway-no-lag-shedding"
    )
    return found, missing


def compare_all(run: Run, singles: dict[str, System], doubles: dict[str, System]) -> dict[str, Any]:
    """Every figure of every contender, interleaved; returns the medians the table is made of."""
    for system in [run.bench.direct, *singles.values(), *doubles.values()]:
        run.warm(system)
    for key, system in singles.items():  # RSS first: idle means before any load but the warm-up
        result = run.measure("held", key, system, run.held())
        result["rss"] = held_rss(result)
    for _ in range(run.profile.rounds):
        run.measure("chat_c1", "direct", run.bench.direct, run.chat(1))
        for key, system in singles.items():
            run.measure("chat_c1", key, system, run.chat(1))
        for key, system in [*singles.items(), *doubles.items()]:
            run.measure("chat_c64", key, system, run.chat(64))
            run.measure("stream_c64", key, system, run.streams())
    for figure in run.runs.values():
        strip_bulky(figure)
    return figures(run.runs)


def figures(runs: dict[str, dict[str, list[Result]]]) -> dict[str, dict[str, Any]]:
    """Per system key: req/s (answered 200), CPU µs per request (every request, refused ones too) and
    the share not answered 200, non-stream and stream; added p50/p99; RSS. ``unanswered`` lists the
    figures (keys of :data:`FIELDS`) where no request was answered 200: their fields are None, as
    what they measured was failing, not serving."""
    direct = runs["chat_c1"]["direct"]
    out: dict[str, dict[str, Any]] = {}
    for key in runs["chat_c64"]:
        row: dict[str, Any] = {
            "rps": median(runs["chat_c64"][key], "rps"),
            "cpu_us": median(runs["chat_c64"][key], "system_cpu_us_per_req"),
            "stream_rps": median(runs["stream_c64"][key], "rps"),
            "stream_cpu_us": median(runs["stream_c64"][key], "system_cpu_us_per_req"),
            "failed": failed_share(runs["chat_c64"][key]),
            "stream_failed": failed_share(runs["stream_c64"][key]),
        }
        if key in runs["chat_c1"]:
            for p in ("p50", "p99"):
                system, base = (
                    median(runs["chat_c1"][key], f"latency_ms.{p}"),
                    median(direct, f"latency_ms.{p}"),
                )
                row[f"added_{p}_ms"] = None if system is None or base is None else system - base
        if key in runs.get("held", {}):
            row["rss_idle_mb"] = median(runs["held"][key], "rss.before_mb")
            row["rss_held_mb"] = median(runs["held"][key], "rss.held_mb")
        row["unanswered"] = [f for f in FIELDS if key in runs.get(f, {}) and not answered(f, runs[f][key])]
        for figure in row["unanswered"]:
            row.update(dict.fromkeys(FIELDS[figure]))
        out[key] = row
    return out


@contextlib.contextmanager
def harness(profile: CompareProfile, layout: Layout, out: Path) -> Iterator[tuple[Bench, str]]:
    """The mock and the load generator, pinned, and a ``Bench`` whose direct path is the mock."""
    with mock_and_load(layout, out / "logs") as (mock, load, mock_url):
        direct = System("direct", f"{mock_url}/v1", {}, [])
        suite = STANDARD if profile.name == "standard" else SMOKE
        yield Bench(suite, load, direct, direct, mock.pid, None, _say), mock_url


def _say(label: str) -> None:
    print(f"  {label}", file=sys.stderr, flush=True)


def run_compare(profile: CompareProfile, layout: Layout, out: Path) -> dict[str, Any]:
    """Start every contender, measure them all, stop them; returns the document for the report."""
    with harness(profile, layout, out) as (bench, mock_url), contextlib.ExitStack() as stack:
        one = contenders.Where(mock_url, layout.gateway, out / "logs")
        both = contenders.Where(mock_url, layout.gateway_multi, out / "logs")
        found, missing = installed(one)
        singles = {key: stack.enter_context(starter()) for key, starter in found.items()}
        doubles = {"gateway 2w": stack.enter_context(contenders.gateway(both, 2))}
        if "nginx" in found:
            doubles["nginx 2w"] = stack.enter_context(contenders.nginx(both, 2))
        run = Run(bench, profile, {})
        return {"figures": compare_all(run, singles, doubles), "missing": missing, "runs": run.runs}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = COMPARE[args.profile]
    out = args.out or Path(__file__).parent / "results" / time.strftime("%Y%m%d-%H%M%S")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    layout = Layout.for_machine()
    if layout.load is not None:
        os.sched_setaffinity(0, layout.load)  # the suite itself mostly sleeps; keep it off the gateway's core
    started = time.monotonic()
    if args.stages:
        with harness(profile, layout, out) as (bench, mock_url):
            document = stages.run_stages(
                bench, profile, contenders.Where(mock_url, layout.gateway, out / "logs")
            )
        name = "stages"
    else:
        document = run_compare(profile, layout, out)
        name = "compare"
    document["meta"] = report.machine(layout, STANDARD, None, time.monotonic() - started) | {
        "profile": profile.name
    }
    (out / f"{name}.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    table = (
        compare_report.stages_table(document) if args.stages else compare_report.table(document, profile.held)
    )
    (out / f"{name}.md").write_text(compare_report.markdown(document, table), encoding="utf-8")
    if not args.stages and progress.installed("matplotlib"):
        from benchmarks import plots

        plots.draw_compare(document["figures"], out / "compare.png")
    if args.readme:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        readme.write_text(compare_report.with_section(readme.read_text(), document, table), encoding="utf-8")
    print(table)
    print(f"results: {out}/{name}.md", file=sys.stderr)
    return 0
