"""Exact percentiles and compact distributions from every sample (no histograms, no reservoir).

Plain Python, so the suite runs in the venv ``make run`` made: sorting even 10^6 floats takes well
under a second, small next to a run.
"""

from __future__ import annotations

from collections.abc import Sequence

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9, mean and max in milliseconds; empty when there is no sample."""
    if len(seconds) == 0:
        return {}
    values = sorted(v * 1e3 for v in seconds)
    result = {name: quantile(values, q / 100) for name, q in PERCENTILES.items()}
    return result | {"mean": sum(values) / len(values), "max": values[-1], "n": len(values)}


def quantiles_ms(seconds: Sequence[float], points: int = 200) -> list[float]:
    """The distribution at ``points`` evenly spaced quantiles: enough to draw a CDF, small to store."""
    if len(seconds) == 0:
        return []
    values = sorted(v * 1e3 for v in seconds)
    return [round(quantile(values, i / (points - 1)), 4) for i in range(points)]


def quantile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of sorted, non-empty ``ordered``, interpolated linearly between the
    two nearest samples (numpy's default, so figures compare with earlier runs)."""
    position = (len(ordered) - 1) * fraction
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def stride_sample_ms(seconds: Sequence[float], limit: int = 20000) -> list[float]:
    """At most ``limit`` values, every k-th one, for a histogram plot."""
    step = max(1, len(seconds) // limit)
    return [round(v * 1e3, 4) for v in list(seconds)[::step]]
