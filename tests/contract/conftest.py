"""Recording replays exist only where recordings do: without them (no ``--fixtures-dir``, or one with
no recordings) their cases are dropped at collection, neither run nor skipped, so a checkout without
../shared/fixtures runs the rest of the suite unchanged."""

from __future__ import annotations

import pytest

from tests.contract.recordings import recordings_for

_NEEDS_RECORDINGS = frozenset({"test_openai_recordings.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if recordings_for(config):
        return
    dropped = [item for item in items if item.path.name in _NEEDS_RECORDINGS]
    if dropped:
        items[:] = [item for item in items if item.path.name not in _NEEDS_RECORDINGS]
        config.hook.pytest_deselected(items=dropped)
