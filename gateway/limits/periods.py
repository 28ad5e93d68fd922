"""Budget periods as windows of time: the calendar day or month (UTC), or the key's whole life.

Pure functions of a Unix time: every process and replica names the same window the same way, so
spend kept in Redis under the window's name is shared without any clock agreement beyond UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "Window",
    "window",
]


@dataclass(frozen=True, slots=True)
class Window:
    """One period's current window."""

    period: str
    #: The window's name: ``2025-06-01`` (day), ``2025-06`` (month), ``total``.
    name: str
    #: Unix time the window ends and the next starts; ``None`` for ``total`` (it never does).
    ends_at: float | None


def window(period: str, now: float) -> Window:
    """The window of ``period`` (``day``, ``month`` or ``total``) that holds Unix time ``now``.
    Raises ``ValueError`` for another period."""
    if period == "total":
        return Window(period, "total", None)
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(period, start.strftime("%Y-%m-%d"), (start + timedelta(days=1)).timestamp())
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return Window(period, start.strftime("%Y-%m"), following.timestamp())
    raise ValueError(f"unknown budget period {period!r} (expected day, month or total)")
