"""``python -m benchmarks`` runs in the venv ``make run`` made, without the ``bench`` extra (tqdm,
matplotlib) or numpy: those packages are hidden here by stand-ins that fail to import as an absent
package does, for the suite and every process it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = ("tqdm", "matplotlib", "numpy")


def run_without_extras(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    absent = tmp_path / "absent"
    for name in HIDDEN:
        (absent / name).mkdir(parents=True)
        (absent / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n'
        )
    env = {**os.environ, "PYTHONPATH": str(absent)}
    command = [sys.executable, "-m", "benchmarks", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=50)


def test_help_without_extras_lists_strict(tmp_path: Path) -> None:
    done = run_without_extras(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "--strict" in done.stdout


@pytest.mark.timeout(60)
def test_smoke_run_without_extras_prints_targets_and_strict_exit_follows_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_without_extras(
        tmp_path, "--profile", "smoke", "--only", "chat_c1", "--strict", "--out", str(out)
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "tqdm and matplotlib not installed: no progress bar, no plots" in done.stderr
    assert "pip install -e '.[bench]'" in done.stderr
    targets = json.loads((out / "results.json").read_text())["scenarios"]["chat_c1"]["targets"]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("chat_c1 ")]
    verdicts = ["n/a" if t["pass"] is None else "met" if t["pass"] else "missed" for t in targets]
    assert [row[-1] for row in rows] == verdicts
    assert done.returncode == (1 if "missed" in verdicts else 0), done.stderr[-3000:]
    assert (out / "report.md").exists()
    assert not list(out.glob("*.png"))
