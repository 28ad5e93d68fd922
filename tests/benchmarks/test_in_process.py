"""The in-process benchmarks (`benchmarks.sinks`, `benchmarks.cache_memory`, `benchmarks.semantic_index`)
run and report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_sinks_benchmark_reports_each_part_per_record() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sinks"], cwd=ROOT, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "complete (usage, tokens, price)",
        "access log (off: failures only)",
        "metrics",
        "console",
    ]
    assert all("µs per record" in line for line in lines)


@pytest.mark.timeout(120)
def test_cache_memory_benchmark_reports_bytes_per_entry() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cache_memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("memory cache: ")
    assert "heap bytes per entry" in done.stdout


@pytest.mark.timeout(120)
def test_semantic_index_benchmark_reports_both_paths_and_the_crossover() -> None:
    command = [sys.executable, "-m", "benchmarks.semantic_index", "--sizes", "300", "--dims", "32"]
    done = subprocess.run(
        [*command, "--queries", "40", "--crossover-to", "512"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0].split() for line in lines[:2]] == [
        ["300", "x", "32", "exact"],
        ["300", "x", "32", "graph"],
    ]
    for line in lines[:2]:
        for part in ("add p50", "worker caught up", "search p50", "B/entry"):
            assert part in line
    assert "graph gives the exact answer for 100.0% of 40 queries" in lines[2]
    assert [line.split()[1] for line in lines[3:6]] == ["128", "256", "512"]
    assert lines[-1].startswith("crossover: ")
