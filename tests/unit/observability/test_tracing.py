"""Trace ids: the caller's when usable, else a fresh version-4 UUID."""

from __future__ import annotations

import uuid

import pytest

from gateway.observability.tracing import usable_trace_id


def test_a_usable_caller_trace_id_is_kept() -> None:
    assert usable_trace_id("req-42") == "req-42"
    assert usable_trace_id("x" * 256) == "x" * 256


@pytest.mark.parametrize("value", [None, "", "x" * 257, "forged\r\nline", "tab\there"])
def test_a_missing_or_unusable_trace_id_is_replaced_by_a_random_uuid4(value: str | None) -> None:
    new = usable_trace_id(value)
    parsed = uuid.UUID(new)
    assert str(parsed) == new
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122


def test_generated_trace_ids_are_unique() -> None:
    assert len({usable_trace_id(None) for _ in range(10_000)}) == 10_000
