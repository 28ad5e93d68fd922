"""Exact percentiles and compact distributions from every sample (no histograms, no reservoir)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9, mean and max in milliseconds; empty when there is no sample."""
    if len(seconds) == 0:
        return {}
    values = np.asarray(seconds, dtype=np.float64) * 1e3
    result = {name: float(np.percentile(values, q)) for name, q in PERCENTILES.items()}
    return result | {"mean": float(values.mean()), "max": float(values.max()), "n": int(values.size)}


def quantiles_ms(seconds: Sequence[float], points: int = 200) -> list[float]:
    """The distribution at ``points`` evenly spaced quantiles: enough to draw a CDF, small to store."""
    if len(seconds) == 0:
        return []
    values = np.asarray(seconds, dtype=np.float64) * 1e3
    return [round(float(v), 4) for v in np.quantile(values, np.linspace(0, 1, points))]


def stride_sample_ms(seconds: Sequence[float], limit: int = 20000) -> list[float]:
    """At most ``limit`` values, every k-th one, for a histogram plot."""
    step = max(1, len(seconds) // limit)
    return [round(v * 1e3, 4) for v in list(seconds)[::step]]
