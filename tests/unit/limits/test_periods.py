from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.limits.periods import window


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_day_window_runs_from_utc_midnight_to_the_next() -> None:
    current = window("day", at("2025-06-30T23:59:59"))
    assert (current.name, current.ends_at) == ("2025-06-30", at("2025-07-01T00:00:00"))


def test_a_month_window_ends_on_the_first_of_the_next_month_december_included() -> None:
    assert window("month", at("2025-02-14T12:00:00")).ends_at == at("2025-03-01T00:00:00")
    december = window("month", at("2025-12-31T23:00:00"))
    assert (december.name, december.ends_at) == ("2025-12", at("2026-01-01T00:00:00"))


def test_the_total_window_never_ends() -> None:
    assert window("total", 0.0).ends_at is None


def test_an_unknown_period_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'week'"):
        window("week", 0.0)
