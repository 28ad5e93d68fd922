"""The in-process benchmarks (`benchmarks.sinks`, `benchmarks.cache_memory`) run and report."""

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
