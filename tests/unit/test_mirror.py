"""``tests/unit`` mirrors ``gateway/``: ``tests/unit/<package>/test_<module>.py`` tests
``gateway/<package>/<module>.py``; the files at the top of ``tests/unit`` check the whole tree."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"


def test_each_unit_test_file_sits_where_its_module_does() -> None:
    nested = [path for path in UNIT.rglob("test_*.py") if path.parent != UNIT]
    assert len(nested) >= 39  # guards the scan itself: it must see the tests it checks
    astray = [
        str(path.relative_to(UNIT))
        for path in nested
        if not (ROOT / "gateway" / path.parent.relative_to(UNIT) / f"{path.stem[5:]}.py").exists()
    ]
    assert astray == []
