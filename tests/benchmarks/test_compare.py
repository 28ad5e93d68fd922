"""``python -m benchmarks compare`` runs end to end on a tiny load (the ``quick`` profile).

No speed is asserted: only that the table has every row and column, that every system that ran has
figures, and that a tool that is absent says "not installed". PATH is emptied for the run, so Node
(Portkey's gateway), LiteLLM and ``redis-server`` are absent whatever this machine has; nginx is
found at its fixed path, as the deploy tests find it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import compare_report, stages
from benchmarks.profiles import COMPARE

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "benchmarks", "compare", "--profile", "quick", "--out", str(out), *args]
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, out


def _cells(table: str) -> dict[str, list[str]]:
    lines = [line.strip("|").split(" | ") for line in table.strip().splitlines()]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in lines}


@pytest.mark.timeout(120)
def test_compare_writes_every_row_and_says_which_tools_are_not_installed(tmp_path: Path) -> None:
    stdout, out = _run(tmp_path)
    table = _cells(stdout)
    assert table["per core"] == list(compare_report.COLUMNS.values())
    columns = dict(enumerate(compare_report.COLUMNS))
    for label, suffix, _ in compare_report.rows(COMPARE["quick"].held):
        cells = table[label]
        for index, cell in enumerate(cells):
            key = columns[index]
            if key in ("portkey", "litellm"):
                assert cell == "not installed", (label, key)
            elif suffix and key not in ("nginx", "gateway"):
                assert cell == "—", label  # one process: no 2-worker figure
            else:
                assert cell[0].isdigit() or cell[0] == "+" or cell[0] == "-", (label, key, cell)
    assert (out / "compare.md").read_text().startswith("# Gateway comparison")
    assert (out / "compare.png").stat().st_size > 1000


@pytest.mark.timeout(120)
def test_compare_stages_measures_each_stage_beside_the_default(tmp_path: Path) -> None:
    stdout, _ = _run(tmp_path, "--stages")
    table = _cells(stdout)
    assert table["gateway keys + rate limits, in Redis"][0] == "not installed"  # no redis-server on PATH
    for stage in stages.STAGES:
        cells = table[stage.name]
        if "Redis" in stage.name or not all(stages.available(need) for need in stage.needs):
            assert cells[0] == "not installed", stage.name
        else:
            assert cells[0].endswith(" µs"), stage.name
            assert cells[3].isdigit(), stage.name  # requests the gateway shed, if any (none asserted)


README = "# x\n\n## Contents\n\n- [Architecture](#architecture), [Development](#development)\n\n"
README += "## Architecture\n\nA.\n\n## Development\n\nD.\n"
META = {
    "date": "2026-01-01",
    "cpu": "cpu",
    "cores": 2,
    "kernel": "6",
    "python": "3.11",
    "gateway_commit": "abc",
    "profile": "standard",
}


def test_readme_section_is_created_with_a_contents_link_then_replaced_in_place() -> None:
    staged = compare_report.with_section(README, {"stages": {}, "meta": META}, "| stages |")
    assert "[Performance](#performance), [Architecture](#architecture)" in staged
    assert staged.index("## Performance") < staged.index("| stages |") < staged.index("## Architecture")
    first = compare_report.with_section(staged, {"figures": {}, "meta": META}, "| old |")
    second = compare_report.with_section(first, {"figures": {}, "meta": META}, "| new |")
    assert "| old |" not in second
    assert second.count("## Performance") == 1
    assert second.count("[Performance](#performance)") == 1
    assert second.index("| new |") < second.index("| stages |") < second.index("## Architecture")
    assert compare_report.with_section(second, {"figures": {}, "meta": META}, "| new |") == second
