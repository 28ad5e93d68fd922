"""``__all__`` stays true as code moves: every module that declares its public names is imported
only by those names, and declares only names it defines.

Every ``from gateway.x import name`` in the gateway, its tests and benchmarks, and every
``x.name`` read through a module imported as ``from gateway.pkg import x``, must name something in
``x.__all__``; every module that defines anything declares ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path for folder in ("gateway", "tests", "benchmarks") for path in sorted((ROOT / folder).rglob("*.py"))
]
MODULES = {
    ".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ROOT / "gateway").rglob("*.py")
}


def declared(module: str) -> list[str] | None:
    """The module's ``__all__`` as written, read from its source (``None``: it has none)."""
    tree = ast.parse((ROOT / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list | tuple), f"{module}.__all__ is not a literal list"
            return list(value)
    return None


def imported_names(path: Path) -> Iterator[tuple[str, str, int]]:
    """``(module, name, line)`` for each gateway name this file takes from a gateway module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    as_module: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gateway":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    as_module[alias.asname or alias.name] = submodule
                else:
                    yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            as_module.update({a.asname: a.name for a in node.names if a.asname and a.name in MODULES})
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in as_module
        ):
            yield as_module[node.value.id], node.attr, node.lineno


def test_the_scan_sees_the_imports_it_checks() -> None:
    # Guards the test itself: a scan that found nothing would pass whatever the code does.
    found = {(module, name) for path in SOURCES for module, name, _ in imported_names(path)}
    assert ("gateway.config.settings", "Settings") in found
    assert ("gateway.config.extras", "unknown_paths") in found  # read as extras.unknown_paths


def test_every_module_declares_its_public_names() -> None:
    missing = [
        module
        for module in sorted(MODULES)
        if declared(module) is None
        and not module.endswith("__main__")
        and (ROOT / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8").strip()
    ]
    assert missing == []


def test_every_import_from_a_module_with_all_names_a_public_name() -> None:
    alls = {module: declared(module) for module in MODULES}
    wrong = []
    for path in SOURCES:
        for module, name, line in imported_names(path):
            public = alls.get(module)
            if public is not None and name not in public:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} is not in {module}.__all__")
    assert wrong == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if declared(m) is not None))
def test_all_names_only_what_the_module_defines_once_each(module: str) -> None:
    names = declared(module)
    assert names is not None
    assert len(names) == len(set(names))
    loaded = importlib.import_module(module)
    assert [name for name in names if not hasattr(loaded, name)] == []
