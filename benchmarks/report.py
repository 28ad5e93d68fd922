"""``report.md``: machine and versions, pinning, the targets met or missed, one table per scenario."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from benchmarks.processes import Layout
from benchmarks.profiles import Profile

Document = dict[str, Any]
_PACKAGES = ("aiohttp", "uvloop", "multidict", "yarl", "orjson", "matplotlib", "tqdm")


def machine(layout: Layout, profile: Profile, target: str | None, elapsed: float) -> dict[str, Any]:
    """Where and with what the run happened (the report's header)."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in _PACKAGES},
        "gateway_commit": _git_commit(),
        "system": target or "this gateway (python -m gateway)",
        "profile": profile.name,
        "pinning": layout.describe(),
        "elapsed_s": round(elapsed, 1),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?"
            )
    except OSError:
        return platform.processor() or "?"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        run = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return run.stdout.strip() or "?"


def markdown(document: Document, figures: list[tuple[str, str]]) -> str:
    meta, results = document["meta"], document["scenarios"]
    lines = [f"# Gateway benchmark — {meta['profile']} profile, {meta['date']}", ""]
    lines += _header(meta) + _targets(results)
    for name, scenario in results.items():
        lines += _scenario(name, scenario)
    lines += ["## Plots", ""] + [f"![{title}]({name})" for title, name in figures]
    return "\n".join(lines) + "\n"


def _header(meta: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in meta["packages"].items())
    pinning = "; ".join(f"{k}: {v}" for k, v in meta["pinning"].items())
    return [
        f"- machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gb']} GB, Linux {meta['kernel']}",
        f"- software: Python {meta['python']}, {packages}; gateway commit {meta['gateway_commit']}",
        f"- system under test: {meta['system']}; run took {meta['elapsed_s']} s",
        f"- CPU pinning: {pinning}",
        "- method: every scenario runs direct (load generator → mock) and through the system, interleaved "
        "A B A B; figures are medians over the rounds, deltas are system − direct. Latency percentiles are "
        "exact over all samples of a run; CPU and RSS come from /proc.",
        "",
    ]


_COLUMNS = ("scenario", "target", "measured", "limit", "result")


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Every scenario's targets as text cells: scenario, target, measured, limit, met/missed/n/a."""
    rows = []
    for name, scenario in results.items():
        for t in scenario.get("targets", []):
            verdict = "n/a" if t["pass"] is None else ("met" if t["pass"] else "missed")
            bound = ("≥ " if t["at_least"] else "≤ ") + _fmt(t["limit"])
            rows.append((name, t["label"], _fmt(t["value"]), bound, verdict))
    return rows


def missed(results: dict[str, Any]) -> int:
    """How many targets were measured and missed (not measured is not missed)."""
    return sum(row[4] == "missed" for row in target_rows(results))


def terminal_table(results: dict[str, Any]) -> str:
    """The targets as an aligned plain-text table, closed by the count of each result."""
    rows = target_rows(results)
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    counts = {verdict: sum(row[4] == verdict for row in rows) for verdict in ("met", "missed", "n/a")}
    closing = f"targets: {counts['met']} met, {counts['missed']} missed, {counts['n/a']} not measured"
    return "\n".join([line(_COLUMNS), line(tuple("-" * w for w in widths)), *map(line, rows), closing])


def _targets(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| scenario | target | measured | limit | result |", "|---|---|---:|---:|---|"]
    for name, label, value, bound, verdict in target_rows(results):
        verdict = f"**{verdict}**" if verdict == "missed" else verdict
        lines.append(f"| {name} | {label} | {value} | {bound} | {verdict} |")
    return [*lines, ""]


def _scenario(name: str, scenario: dict[str, Any]) -> list[str]:
    lines = [f"## {scenario['title']} (`{name}`)", ""]
    if "figures" in scenario:
        lines += _table(scenario["figures"])
    for level, sub in scenario.get("levels", {}).items():
        lines += [f"**{level}**", ""] + (_table(sub["figures"]) if "figures" in sub else [_kv(sub), ""])
    if "two_workers" in scenario:
        lines += ["**2 workers**", "", *_table(scenario["two_workers"]["figures"])]
    if "sessions" in scenario:
        lines += _sessions(scenario["sessions"])
    extras = {k: scenario[k] for k in _EXTRAS if k in scenario}
    if extras:
        lines += [_kv(extras), ""]
    return lines + [f"- {note}" for note in scenario.get("notes", [])] + [""]


_EXTRAS = (
    "rss_mb_per_1000",
    "idle_rss_mb",
    "rss_growth_mb",
    "baseline_rss_mb",
    "rss_mb_per_1000_idle",
    "rss_mb_per_1000_active",
    "sessions_reached",
    "overload",
)


def _sessions(levels: dict[str, Any]) -> list[str]:
    """The realtime sessions held at each level: how many, the system's RSS, the active round trips."""
    lines = [
        "| sessions | echoing | RSS idle (MB) | RSS active (MB) | active msg/s offered | echoed "
        "| active RTT p50 | p99 (ms) | CPU active: system | mock | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level, row in levels.items():
        rtt, cpu = row.get("active_rtt_ms", {}), row.get("active_cpu", {})
        cells = [row["echoing"], row["rss_mb_idle"], row["rss_mb_active"]]
        cells += [row["offered_msgs_per_s"], row["active_msgs_per_s"]]
        cells += [rtt.get("p50"), rtt.get("p99"), cpu.get("system"), cpu.get("mock"), cpu.get("load")]
        lines.append(f"| {level} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return [*lines, ""]


def _table(figures: dict[str, Any]) -> list[str]:
    lines = ["| metric | direct | system | delta |", "|---|---:|---:|---:|"]
    for key, direct in figures["direct"].items():
        system, delta = figures["system"][key], figures["delta"][key]
        if direct is not None or system is not None:
            lines.append(f"| {key} | {_fmt(direct)} | {_fmt(system)} | {_fmt(delta)} |")
    return [*lines, ""]


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {_fmt(v)}" for k, v in values.items())


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return (
            f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"
        )
    return str(value)
