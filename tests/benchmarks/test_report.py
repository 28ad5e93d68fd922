"""The targets as the terminal shows them after a run, and the count ``--strict`` exits on."""

from __future__ import annotations

from typing import Any

from benchmarks import report
from benchmarks.scenarios import target

RESULTS: dict[str, Any] = {
    "chat_c1": {
        "targets": [target("added latency p50 (ms)", 0.1, 0.2), target("added latency p99 (ms)", 2.5, 1.0)]
    },
    "realtime": {"targets": [target("concurrent sessions, one process", None, 5000, at_least=True)]},
    "concurrency_sweep": {"targets": []},
}


def test_terminal_table_has_a_row_per_target_and_counts_each_result() -> None:
    lines = report.terminal_table(RESULTS).splitlines()
    assert lines[0].split() == ["scenario", "target", "measured", "limit", "result"]
    assert [line.split()[0] for line in lines[2:5]] == ["chat_c1", "chat_c1", "realtime"]
    assert lines[3].endswith("2.500     ≤ 1.000  missed")
    assert lines[4].endswith("—         ≥ 5000   n/a")
    assert lines[-1] == "targets: 1 met, 1 missed, 1 not measured"


def test_missed_counts_only_measured_misses() -> None:
    assert report.missed(RESULTS) == 1
    assert report.missed({"chat_c1": {"targets": [target("x", None, 1.0)]}}) == 0
