"""Percentiles interpolate linearly between the two nearest samples, as the reports always have."""

from __future__ import annotations

from benchmarks import stats


def test_percentiles_interpolate_between_samples() -> None:
    summary = stats.summary_ms([0.004, 0.001, 0.003, 0.002])  # seconds, unsorted
    assert summary["p50"] == 2.5
    assert round(summary["p90"], 6) == 3.7
    assert summary["mean"] == 2.5
    assert summary["max"] == 4.0
    assert summary["n"] == 4


def test_quantiles_run_from_min_to_max() -> None:
    points = stats.quantiles_ms([0.001 * i for i in range(1, 11)], points=5)
    assert points == [1.0, 3.25, 5.5, 7.75, 10.0]


def test_no_samples_give_empty_figures() -> None:
    assert stats.summary_ms([]) == {}
    assert stats.quantiles_ms([]) == []
