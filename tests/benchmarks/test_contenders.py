"""Where ``python -m benchmarks compare`` finds Portkey's gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import contenders


def _install(folder: Path) -> Path:
    """A folder as ``npm install @portkey-ai/gateway`` leaves it: the start script under node_modules."""
    entry = folder / "node_modules" / contenders.PORTKEY_PACKAGE / "build" / "start-server.js"
    entry.parent.mkdir(parents=True)
    entry.write_text("")
    return entry


def test_portkey_is_found_first_in_the_folder_named_by_bench_portkey_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "node").write_text("#!/bin/sh\n")
    (tools / "node").chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))  # node, and no npm: no global root to look in
    monkeypatch.delenv(contenders.PORTKEY_DIR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert contenders.portkey_entry() is None
    in_cwd = _install(tmp_path)
    assert contenders.portkey_entry() == in_cwd
    pinned = _install(tmp_path / "scratch")
    monkeypatch.setenv(contenders.PORTKEY_DIR, str(tmp_path / "scratch"))
    assert contenders.portkey_entry() == pinned
