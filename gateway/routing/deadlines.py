"""How long the whole request, and each attempt within it, may take.

The whole request has one deadline: the caller's ``x-portkey-request-timeout``, else the
settings' ``upstream.request_timeout`` (none when neither is set). Retry waits, attempts and
fallbacks all happen within it; once it passes, nothing more is tried (the caller's deadline is
a 408, the settings' a 504). A routing config's ``request_timeout`` bounds each attempt at a
target under it, as in Portkey: an attempt that passes it is a 408 (:class:`AttemptTimedOut`,
made in ``upstream/failures.py``) that ``retry.on_status_codes`` and ``strategy.on_status_codes`` can name.
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDictProxy

from gateway.config.routing import MAX_TIMEOUT_MS
from gateway.errors import InvalidRequest

__all__ = [
    "NO_DEADLINE",
    "AttemptLimit",
    "Deadline",
    "attempt_limit",
    "request_deadline",
]


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the whole request must be done, on the event loop's clock (``None``: never)."""

    ends: float | None = None
    #: As given, for the message when it passes.
    seconds: float = 0.0
    #: Set by the caller's header (a 408), rather than by the settings (a 504).
    caller: bool = False

    def left(self, now: float) -> float | None:
        """Seconds left (at least 0); ``None`` without a deadline."""
        return None if self.ends is None else max(0.0, self.ends - now)


NO_DEADLINE = Deadline()


def request_deadline(headers: CIMultiDictProxy[str], configured: float, now: float) -> Deadline:
    """The whole request's deadline from ``x-portkey-request-timeout`` (ms) or ``configured`` (s)."""
    value = headers.get("x-portkey-request-timeout")
    if value is None:
        return Deadline(now + configured, configured) if configured else NO_DEADLINE
    # Digits only, and few: int() of 400 digits would pass, then overflow asyncio's timer.
    milliseconds = int(value) if value.isdecimal() and len(value) <= 12 else 0
    if not 0 < milliseconds <= MAX_TIMEOUT_MS:
        raise InvalidRequest(
            "x-portkey-request-timeout must be a positive number of milliseconds, at most "
            f"{MAX_TIMEOUT_MS} (24 hours), got {value[:20]!r}.",
            param="x-portkey-request-timeout",
            code="invalid_request_timeout",
        )
    return Deadline(now + milliseconds / 1000, milliseconds / 1000, caller=True)


@dataclass(slots=True)
class AttemptLimit:
    """When one attempt must be done (loop clock; ``None``: never), and which bound that is.

    Never changed once built; not frozen: one is built per attempt, and a frozen dataclass sets
    each field through ``object.__setattr__`` (~0.2 µs a field).
    """

    ends: float | None
    deadline: Deadline
    #: The config's ``request_timeout`` (ms) when it, not the whole deadline, is the bound.
    request_timeout: int | None = None


def attempt_limit(deadline: Deadline, request_timeout: int | None, now: float) -> AttemptLimit:
    """The tighter of the config's per-attempt ``request_timeout`` (ms) and the whole deadline."""
    if request_timeout is None:
        return AttemptLimit(deadline.ends, deadline)
    ends = now + request_timeout / 1000
    if deadline.ends is not None and deadline.ends <= ends:
        return AttemptLimit(deadline.ends, deadline)
    return AttemptLimit(ends, deadline, request_timeout)
