"""PNG plots of a run (matplotlib, Agg: no display needed). Each plot is skipped when its data is absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Results = dict[str, Any]


def draw_all(results: Results, out: Path) -> list[tuple[str, str]]:
    """Draw every plot the results allow; returns (title, file name) pairs for the report."""
    drawn = []
    for title, name, draw in PLOTS:
        figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
        try:
            if draw(results, axes):
                axes.set_title(title)
                axes.grid(alpha=0.3)
                axes.legend()
                figure.tight_layout()
                figure.savefig(out / name)
                drawn.append((title, name))
        finally:
            plt.close(figure)
    return drawn


def latency_cdf(results: Results, axes: Any) -> bool:
    scenario = results.get("chat_c1")
    if not scenario:
        return False
    for system, runs in scenario["runs"].items():
        values = [v for run in runs for v in run.get("cdf_ms", [])]
        values.sort()
        axes.plot(values, [i / max(1, len(values) - 1) for i in range(len(values))], label=system)
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms, log)")
    axes.set_ylabel("fraction of requests")
    return True


def added_vs_concurrency(results: Results, axes: Any) -> bool:
    levels = _concurrency_levels(results)
    if not levels:
        return False
    xs = sorted(levels)
    for key, label in (("latency_ms.p50", "added p50"), ("latency_ms.p99", "added p99")):
        axes.plot(xs, [levels[x][key] for x in xs], marker="o", label=label)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("concurrency (closed loop)")
    axes.set_ylabel("system − direct (ms)")
    return True


def _concurrency_levels(results: Results) -> dict[int, dict[str, float]]:
    levels: dict[int, dict[str, float]] = {}
    named = {1: results.get("chat_c1"), 64: results.get("throughput_c64")}
    for level, scenario in (results.get("concurrency_sweep") or {}).get("levels", {}).items():
        named[int(level)] = scenario
    for level, scenario in named.items():
        delta = scenario["figures"]["delta"] if scenario else {}
        if delta.get("latency_ms.p50") is not None and delta.get("latency_ms.p99") is not None:
            levels[level] = delta
    return levels


def gap_histogram(results: Results, axes: Any) -> bool:
    scenario = results.get("stream_200") or results.get("stream_20")
    if not scenario:
        return False
    for system, runs in scenario["runs"].items():
        gaps = [g for run in runs for g in run.get("gap_sample_ms", [])]
        axes.hist(gaps, bins=80, alpha=0.5, label=system, log=True)
    axes.set_xlabel("gap between chunks (ms)")
    axes.set_ylabel("chunks (log)")
    return True


def rss_over_time(results: Results, axes: Any) -> bool:
    drawn = False
    for name, scenario in results.items():
        if name.startswith("many_streams_"):
            for run in scenario["runs"]["system"]:
                series = run.get("system_rss_series", [])
                if series:
                    axes.plot(
                        [t for t, _ in series], [m for _, m in series], label=f"{name.split('_')[-1]} streams"
                    )
                    drawn = True
    axes.set_xlabel("seconds into the run")
    axes.set_ylabel("gateway RSS (MB)")
    return drawn


PLOTS: list[tuple[str, str, Callable[[Results, Any], bool]]] = [
    ("Latency CDF, non-streaming, concurrency 1", "latency_cdf.png", latency_cdf),
    ("Added latency vs concurrency", "added_latency_vs_concurrency.png", added_vs_concurrency),
    ("Inter-chunk gaps, paced stream", "inter_chunk_gaps.png", gap_histogram),
    ("Gateway RSS during the many-streams runs", "rss_many_streams.png", rss_over_time),
]


def draw_compare(figures: Results, path: Path) -> None:
    """The compare run as bars: req/s (non-stream, 20-chunk streams) and CPU µs per request, per system."""
    keys = [key for key in figures if figures[key].get("rps") is not None]
    figure, (rates, cpu) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    try:
        for axes, pairs, unit in (
            (
                rates,
                (("rps", "non-stream"), ("stream_rps", "20-chunk stream")),
                "requests per second, 64 connections",
            ),
            (cpu, (("cpu_us", "non-stream"), ("stream_cpu_us", "20-chunk stream")), "CPU µs per request"),
        ):
            for offset, (name, label) in enumerate(pairs):
                xs = [i + offset * 0.4 for i in range(len(keys))]
                axes.bar(xs, [figures[k].get(name) or 0 for k in keys], width=0.4, label=label)
            axes.set_xticks([i + 0.2 for i in range(len(keys))], keys, rotation=30, ha="right")
            axes.set_ylabel(unit)
            axes.grid(alpha=0.3, axis="y")
            axes.legend()
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
