"""Budget periods as windows of time: the calendar day or month (UTC), or the key's whole life.

Pure functions of a Unix time: every process and replica names the same window the same way, so
spend kept in Redis under the window's name is shared without any clock agreement beyond UTC.
"""

from __future__ import annotations

import functools
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


#: Seconds in a UTC day: Unix time has no leap seconds, so every day starts at a multiple of it.
_DAY = 86400
_TOTAL = Window("total", "total", None)


def window(period: str, now: float) -> Window:
    """The window of ``period`` (``day``, ``month`` or ``total``) that holds Unix time ``now``.
    Raises ``ValueError`` for another period."""
    if period == "total":
        return _TOTAL
    return _calendar_window(period, int(now // _DAY))


@functools.lru_cache(maxsize=16)
def _calendar_window(period: str, day: int) -> Window:
    """The day's or month's window holding UTC day number ``day``: the same for every request of
    that day, so it is worked out (date arithmetic, ``strftime``) once a day, not on each request."""
    start = datetime.fromtimestamp(day * _DAY, UTC)
    if period == "day":
        return Window(period, start.strftime("%Y-%m-%d"), (start + timedelta(days=1)).timestamp())
    if period == "month":
        start = start.replace(day=1)
        following = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return Window(period, start.strftime("%Y-%m"), following.timestamp())
    raise ValueError(f"unknown budget period {period!r} (expected day, month or total)")
