"""The benchmark suite runs end to end: ``python -m benchmarks --profile smoke`` as users run it.

No speed is asserted (CI machines are shared and noisy): only that every scenario produced samples
and the report, the JSON and the plots were written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import SCENARIOS
from benchmarks.profiles import SMOKE

ROOT = Path(__file__).resolve().parents[2]
PLOTS = (
    "latency_cdf.png",
    "added_latency_vs_concurrency.png",
    "inter_chunk_gaps.png",
    "rss_many_streams.png",
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", "--profile", "smoke", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.timeout(120)
def test_smoke_profile_writes_report_json_and_plots(smoke_run: Path) -> None:
    assert (smoke_run / "report.md").read_text().startswith("# Gateway benchmark")
    for plot in PLOTS:
        assert (smoke_run / plot).stat().st_size > 1000, plot


@pytest.mark.timeout(120)
def test_smoke_profile_has_samples_for_every_scenario(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "results.json").read_text())["scenarios"]
    for name in SCENARIOS:
        present = [key for key in results if key == name or key.startswith(f"{name}_")]
        assert present, name
        for key in present:
            assert _has_samples(results[key]), key


@pytest.mark.timeout(120)
def test_smoke_profile_realtime_sessions_all_echo(smoke_run: Path) -> None:
    realtime = json.loads((smoke_run / "results.json").read_text())["scenarios"]["realtime"]
    assert realtime["sessions_reached"] == SMOKE.realtime.levels[-1]
    assert realtime["rss_mb_per_1000_idle"] is not None
    runs = [run for level in realtime["levels"].values() for r in level["runs"].values() for run in r]
    runs.append(realtime["hold_run"])
    assert all(run["corrupted"] == 0 and run["lost"] == 0 and not run["errors"] for run in runs)


def _has_samples(scenario: dict[str, Any]) -> bool:
    if "levels" in scenario:  # concurrency sweep (runs per level) or held streams (a count per level)
        levels = scenario["levels"].values()
        return all(_has_samples(level) if "runs" in level else level["streams"] > 0 for level in levels)
    return all(run["requests"] > 0 for runs in scenario["runs"].values() for run in runs)
