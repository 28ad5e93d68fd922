"""Per-process health of routing targets: a circuit breaker and a time-to-first-token EWMA per key.

A key is a :class:`TargetIdentity` (provider, base URL, model, endpoint options and a credential
fingerprint: ``routing/identity.py``), so one caller's failures never touch another caller's target.
It is shown by ``GET /v1/health/targets`` through ``describe()``, which holds no secret. Each worker
process keeps its own state: no locks (one event loop), no cross-process traffic on the request path.

The table is bounded: at most ``max_keys`` entries of bounded size, and an entry with no request
for ``forget_after`` seconds (and none in flight) is dropped.

Contract for the caller, per attempt at a target::

    if health.allow(key):          # a claim: call it only for the attempt about to be made
        health.started(key)
        try: ... then exactly one of health.succeeded(key, ttft) / health.failed(key)
        finally: health.finished(key)

Breaker: closed → open after ``consecutive_failures`` failures in a row, or when more than
``error_rate`` of the requests in the last ``window`` seconds failed (with at least
``min_requests`` of them). Open → half-open after ``cooldown`` seconds: ``allow`` grants exactly
one probe. The probe's success closes the breaker; its failure opens it for another full cooldown.

A routing config's ``cb_config`` (a :class:`CircuitBreaker`, passed with each call) replaces these
thresholds for the requests that carry it (naming one of its two rules, the failure count or
the failure percentage, turns the other off). A key's breaker is still one: every config that reaches
the same key (same provider, base URL, model and credential, so the same tenant) shares it. A
failure opens it when the thresholds of the request that failed say so, and each request waits
out its own cooldown (bounded: ``config/resilience.py``) before it may send the probe.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.config.resilience import CircuitBreaker
from gateway.config.settings import BreakerSettings
from gateway.routing.identity import TargetIdentity

__all__ = [
    "BreakerState",
    "TargetHealth",
    "counts",
]

#: Keys come from configs, and inline configs may name any custom host, model and key: this bounds
#: the memory a stream of made-up targets can take (each key's fields are bounded in length).
MAX_KEYS = 4096
#: Seconds between two sweeps for forgotten entries (a sweep walks the whole table).
_SWEEP_EVERY = 10.0
#: The error-rate window is kept as this many buckets rather than one entry per request, which
#: would hold rate × window entries (300,000 at 10k req/s over 30 s).
_BUCKETS = 10


_NO_OVERRIDES = CircuitBreaker()


def counts(status: int, breaker: CircuitBreaker | None) -> bool:
    """Whether a provider's answer with ``status`` counts against its target's breaker: 429 and
    5xx, or the ``cb_config``'s ``failure_status_codes``. (Connection failures and timed-out
    attempts always count; the caller decides those without a status from the provider.)"""
    if breaker is not None and breaker.failure_status_codes is not None:
        return status in breaker.failure_status_codes
    return status >= 500 or status == 429


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Bucket:
    #: ``floor(time / width)``: an integer, so equal for every outcome in the bucket.
    index: int
    requests: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Window:
    """Outcomes of the last ``length`` seconds, at a granularity of ``length / _BUCKETS``: an
    outcome counts for between 90% and 100% of the window, which is all a breaker needs."""

    length: float
    buckets: deque[_Bucket] = field(default_factory=deque)
    requests: int = 0
    errors: int = 0

    def add(self, now: float, failed: bool) -> None:
        self.expire(now)
        index = self._index(now)
        if not self.buckets or self.buckets[-1].index != index:
            self.buckets.append(_Bucket(index))
        bucket = self.buckets[-1]
        bucket.requests += 1
        self.requests += 1
        if failed:
            bucket.errors += 1
            self.errors += 1

    def expire(self, now: float) -> None:
        # A bucket leaves once its start is ``length`` old: the window is never longer than asked.
        while self.buckets and self.buckets[0].index <= self._index(now - self.length):
            old = self.buckets.popleft()
            self.requests -= old.requests
            self.errors -= old.errors

    def _index(self, moment: float) -> int:
        width = self.length / _BUCKETS
        return int(moment // width) if width > 0 else int(moment * 1e6)

    def clear(self) -> None:
        self.buckets.clear()
        self.requests = self.errors = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(slots=True)
class _Target:
    window: _Window
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    #: When the breaker last opened; the probe is due ``cooldown`` seconds later.
    opened_at: float = 0.0
    #: When the half-open probe was granted; ``None`` while no probe is out.
    probe_started: float | None = None
    in_flight: int = 0
    ewma_ttft: float | None = None
    #: When a request last started or reported here (entries idle for ``forget_after`` are dropped).
    last_seen: float = 0.0


class TargetHealth:
    """Breaker state, in-flight counts and latency of every target this process has tried."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
        on_open: Callable[[TargetIdentity], None] | None = None,
    ) -> None:
        """``on_open`` hears of each breaker opening (the metrics' counter)."""
        self._settings = settings or BreakerSettings()
        self._on_open = on_open
        self._clock = clock
        self._max_keys = max(1, max_keys)
        self._targets: dict[TargetIdentity, _Target] = {}
        self._last_sweep = clock()

    # -- routing decisions -------------------------------------------------------------------

    def allow(self, key: TargetIdentity, breaker: CircuitBreaker | None = None) -> bool:
        """May a request go to ``key`` now? Granting the half-open probe is a claim: further calls
        return False until that probe reports through ``succeeded`` or ``failed``."""
        target = self._targets.get(key)
        if target is None or target.state is BreakerState.CLOSED:
            return True
        now = self._clock()
        cooldown = self._cooldown(breaker)
        if self._state(target, now, cooldown) is not BreakerState.HALF_OPEN or self._probe_out(
            target, now, cooldown
        ):
            return False
        target.state = BreakerState.HALF_OPEN
        target.probe_started = now
        return True

    def state(self, key: TargetIdentity, breaker: CircuitBreaker | None = None) -> BreakerState:
        """The breaker's state without claiming anything (``half_open``: a probe may be sent)."""
        target = self._targets.get(key)
        if target is None:
            return BreakerState.CLOSED
        return self._state(target, self._clock(), self._cooldown(breaker))

    def in_flight(self, key: TargetIdentity) -> int:
        target = self._targets.get(key)
        return 0 if target is None else target.in_flight

    def latency(self, key: TargetIdentity) -> float | None:
        """Moving average of the time to first token in seconds; ``None`` before any sample."""
        target = self._targets.get(key)
        return None if target is None else target.ewma_ttft

    # -- reports from the request path -------------------------------------------------------

    def started(self, key: TargetIdentity) -> None:
        target = self._target(key)
        target.in_flight += 1
        target.last_seen = self._clock()

    def finished(self, key: TargetIdentity) -> None:
        target = self._targets.get(key)
        if target is not None and target.in_flight > 0:
            target.in_flight -= 1

    def succeeded(self, key: TargetIdentity, first_token_seconds: float | None = None) -> None:
        """The attempt got a good answer; ``first_token_seconds`` feeds the latency average."""
        target = self._target(key)
        target.last_seen = now = self._clock()
        target.window.add(now, failed=False)
        target.consecutive_failures = 0
        if target.state is BreakerState.HALF_OPEN:
            self._close(target)
        if first_token_seconds is not None:
            self._observe_latency(target, first_token_seconds)

    def failed(self, key: TargetIdentity, breaker: CircuitBreaker | None = None) -> None:
        """The attempt failed in a way that says something about the target (see :func:`counts`);
        a failed probe re-opens the breaker for another full cooldown."""
        target = self._target(key)
        target.last_seen = now = self._clock()
        target.window.add(now, failed=True)
        target.consecutive_failures += 1
        if target.state is BreakerState.HALF_OPEN or (
            target.state is BreakerState.CLOSED and self._should_open(target, breaker)
        ):
            self._open(target, now)
            if self._on_open is not None:
                self._on_open(key)
        # Already open: a late failure of a request sent before it opened must not extend the
        # cooldown, or a busy target would never be probed.

    # -- the endpoint ------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """One JSON-ready, secret-free row per key, sorted (``GET /v1/health/targets``)."""
        now = self._clock()
        self._forget_idle(now)
        rows = [self._row(key, target, now) for key, target in self._targets.items()]
        return sorted(rows, key=lambda row: (row["provider"], row["base_url"], row["model"]))

    def states(self) -> list[tuple[TargetIdentity, BreakerState]]:
        """Every key's breaker state now (the metrics' gauge; at most ``max_keys`` of them)."""
        now = self._clock()
        self._forget_idle(now)
        cooldown = self._settings.cooldown
        return [(key, self._state(target, now, cooldown)) for key, target in self._targets.items()]

    # -- internals ---------------------------------------------------------------------------

    def _target(self, key: TargetIdentity) -> _Target:
        target = self._targets.get(key)
        if target is None:
            now = self._clock()
            if now - self._last_sweep >= _SWEEP_EVERY:
                self._forget_idle(now)
            if len(self._targets) >= self._max_keys:
                self._evict()
            target = self._targets[key] = _Target(_Window(self._settings.window), last_seen=now)
        return target

    def _forget_idle(self, now: float) -> None:
        """Drop entries with no request for ``forget_after`` seconds and none in flight."""
        self._last_sweep = now
        horizon = now - self._settings.forget_after
        idle = [k for k, t in self._targets.items() if t.last_seen < horizon and not t.in_flight]
        for key in idle:
            del self._targets[key]

    def _evict(self) -> None:
        """Drop the oldest key that is closed and idle (it loses only its statistics); if every
        key is open or busy, the oldest one. Linear, but only once the cap is reached."""
        victim = next(
            (
                key
                for key, target in self._targets.items()
                if target.state is BreakerState.CLOSED and not target.in_flight
            ),
            next(iter(self._targets)),
        )
        del self._targets[victim]

    def _cooldown(self, breaker: CircuitBreaker | None) -> float:
        if breaker is None or breaker.cooldown is None:
            return self._settings.cooldown
        return breaker.cooldown

    @staticmethod
    def _state(target: _Target, now: float, cooldown: float) -> BreakerState:
        if target.state is BreakerState.OPEN and now - target.opened_at >= cooldown:
            return BreakerState.HALF_OPEN
        return target.state

    @staticmethod
    def _probe_out(target: _Target, now: float, cooldown: float) -> bool:
        # A probe whose request was cancelled never reports; after another cooldown it is taken
        # as lost, or the breaker would stay half-open, skipping the target, forever.
        started = target.probe_started
        return started is not None and now - started < cooldown

    def _should_open(self, target: _Target, breaker: CircuitBreaker | None) -> bool:
        s = self._settings
        b = breaker or _NO_OVERRIDES
        # A cb_config that names one rule (a count, or a percentage as Portkey's docs do) means
        # that rule alone: the settings' other rule would open the breaker before it.
        named = b.failure_threshold is not None or b.error_rate is not None
        threshold = b.failure_threshold if named else s.consecutive_failures
        if threshold and target.consecutive_failures >= threshold:
            return True
        error_rate = b.error_rate if named else s.error_rate
        if error_rate is None:
            return False
        window = target.window
        min_requests = s.min_requests if b.min_requests is None else b.min_requests
        return window.requests >= max(min_requests, 1) and window.error_rate > error_rate

    def _open(self, target: _Target, now: float) -> None:
        target.state = BreakerState.OPEN
        target.opened_at = now
        target.probe_started = None

    def _close(self, target: _Target) -> None:
        target.state = BreakerState.CLOSED
        target.probe_started = None
        # The errors that opened the breaker are history: kept, they would re-open it on the
        # first failure after the recovery.
        target.window.clear()

    def _observe_latency(self, target: _Target, seconds: float) -> None:
        previous = target.ewma_ttft
        alpha = self._settings.ewma_alpha
        target.ewma_ttft = seconds if previous is None else alpha * seconds + (1 - alpha) * previous

    def _row(self, key: TargetIdentity, target: _Target, now: float) -> dict[str, Any]:
        target.window.expire(now)
        state = self._state(target, now, self._settings.cooldown)
        probe_in = self._settings.cooldown - (now - target.opened_at)
        return key.describe() | {
            "state": state.value,
            "consecutive_failures": target.consecutive_failures,
            "requests": target.window.requests,
            "errors": target.window.errors,
            "error_rate": round(target.window.error_rate, 4),
            "in_flight": target.in_flight,
            "ewma_ttft_ms": None if target.ewma_ttft is None else round(target.ewma_ttft * 1000, 1),
            "probe_in_seconds": round(probe_in, 3) if state is BreakerState.OPEN else None,
        }
