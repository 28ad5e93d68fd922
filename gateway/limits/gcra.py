"""Rate-limit arithmetic: GCRA (the generic cell rate algorithm), pure.

Why GCRA rather than a sliding window: it keeps one number per limit (the *theoretical arrival
time*, TAT), so a check is one read and one write — in memory and in one Redis script alike — and
it needs no per-request entries (a sliding log grows with the limit) nor the two-window estimate
of a sliding counter. It spaces admissions evenly over the period, yet with a burst of the whole
quota: a key with 60 requests per minute may send all 60 at once, then one a second.

A limit of ``limit`` units per ``period`` seconds emits one unit every ``period / limit`` seconds.
A cost of ``c`` units moves the TAT ``c`` emission intervals into the future; the request is
allowed while the TAT it would leave is at most one period ahead of now (the burst). The same
arithmetic serves requests (cost 1) and tokens (cost: the estimate; corrected by :func:`charge`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Decision",
    "Rate",
    "charge",
    "decide",
]

#: Float slack, so that exactly the quota fits (3 x 20 s is not always 60.0 in binary).
_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` units per ``period`` seconds, all of them usable at once."""

    limit: int
    period: float = 60.0

    @property
    def interval(self) -> float:
        """Seconds one unit takes to come back."""
        return self.period / self.limit


@dataclass(frozen=True, slots=True)
class Decision:
    """One limit's answer to one request."""

    allowed: bool
    #: Units left now (after this request's cost when it was allowed).
    remaining: int
    #: Seconds until the same cost would be allowed: 0 when allowed, ``inf`` when the cost is more
    #: than the whole limit (it never will be).
    retry_after: float
    #: Seconds until the whole quota is back.
    reset_after: float


def decide(tat: float, now: float, rate: Rate, cost: float) -> tuple[float, Decision]:
    """The TAT to keep and the decision for a request costing ``cost`` units at ``now``.

    ``tat`` is the stored TAT (any value in the past, 0 included, means a full quota). A refused
    request leaves the TAT as it was: it cost nothing.
    """
    base = max(tat, now)
    new_tat = base + cost * rate.interval
    allowed_at = new_tat - rate.period
    if allowed_at > now + _SLACK:
        retry_after = math.inf if cost > rate.limit else allowed_at - now
        return tat, Decision(False, _remaining(base, now, rate), retry_after, base - now)
    return new_tat, Decision(True, _remaining(new_tat, now, rate), 0.0, new_tat - now)


def charge(tat: float, now: float, rate: Rate, cost: float) -> float:
    """The TAT after charging ``cost`` units (negative: a refund) without deciding anything: the
    correction of a token estimate once the true count is known. A refund never gives back more
    than a full quota (the TAT never goes before now)."""
    return max(max(tat, now) + cost * rate.interval, now)


def _remaining(tat: float, now: float, rate: Rate) -> int:
    return max(0, math.floor((now + rate.period - tat) / rate.interval + _SLACK))
