"""Admission control: whether this process takes one more request, and the cheap 503 when it does not.

Three budgets, each a setting under ``[limits]``:

- requests in flight (``max_in_flight``): proxied requests and streams until they end, as
  ``ServerState`` counts them; realtime sessions have their own limit (``realtime.max_sessions``)
  and are left out (the drain still waits for them);
- event-loop lag (``max_loop_lag``): a timer that should fire every ``_PROBE_INTERVAL`` measures how
  late it runs. A CPU-bound process queues work in its loop, and every admitted request waits its
  turn there, so lag is the queueing delay new work would see. A fixed in-flight cap cannot bound
  it, because the right cap depends on how much of a request is CPU (a fast provider) and how much
  is waiting (a model thinking). So while the loop lags the cap adapts, AIMD as TCP's window: two
  late probes in a row cap the requests in flight at 90 % of the most there were during the last
  probe interval, or less in proportion when the loop is far later than the limit (new requests
  are shed at once; those in flight finish), and each further late probe cuts it again; each probe
  on time lets one more request in. Once the cap has
  not been reached for ``_CALM_PROBES`` probes in a row, it is lifted (back to ``max_in_flight``).
  Under CPU overload the cap settles where the loop runs about ``max_loop_lag`` late, so admitted
  requests keep a short wait and the process stays busy with them; with providers that take
  seconds the loop stays on time and only ``max_in_flight`` applies. One late probe alone (a GC
  pause, a large JSON body) changes nothing;
- JSON body bytes held at once (``max_buffered_body_bytes``): reserved before a body is read.

Past a budget the answer is a ``503`` with ``Retry-After`` and ``code: overloaded``. The early path
(``protocol.py``) answers it from the parsed request line, before aiohttp builds a request, so a
shed costs a small fraction of a served request; ``admit()`` is the same check for what got past it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.api.console import PATHS as CONSOLE_PATHS
from gateway.appkeys import ServerState
from gateway.config.settings import LimitSettings
from gateway.errors import Overloaded
from gateway.observability.admission import AdmissionCounters

__all__ = [
    "NEVER_SHED",
    "Admission",
]

logger = logging.getLogger("gateway.admission")

#: Seconds between two lag probes: ~100 wake-ups a second cost well under 0.1 % of a core.
_PROBE_INTERVAL = 0.01
#: Probes in a row that must run late before the cap is cut.
_LATE_PROBES = 2
#: The cut: the cap becomes this share of the most requests in flight during the last probe interval.
_DECREASE = 0.9
#: Probes in a row, on time and below the cap, after which the cap is lifted.
_CALM_PROBES = 50
#: At most one "shedding" log line per this many seconds, whatever the shed rate.
_LOG_EVERY = 10.0
#: Paths answered whatever the load: probes that restart or unroute a busy process make it worse,
#: the metrics scrape that shows the overload, and the console an operator opens to see it (its
#: feeds have their own cap, ``console.max_feeds``, and its page is three small static files).
NEVER_SHED = frozenset({"/", "/healthz", "/readyz", "/metrics", *CONSOLE_PATHS})


class Admission:
    """The admission state of one process (lives on the app: ``ADMISSION``)."""

    __slots__ = (
        "_body_bytes",
        "_calm_probes",
        "_due",
        "_handle",
        "_late_probes",
        "_limit",
        "_limits",
        "_logged_at",
        "_max_lag",
        "_peak",
        "_state",
        "counters",
        "lag",
        "retry_after",
    )

    def __init__(self, limits: LimitSettings, state: ServerState) -> None:
        self._limits = limits
        self._state = state
        self._max_lag = limits.max_loop_lag
        self._body_bytes = 0
        # uvloop may hand back a plain Handle (no ``when()``) for a timer already due: the probe
        # keeps its own due time.
        self._handle: asyncio.Handle | None = None
        self._due = 0.0
        self._late_probes = 0
        self._logged_at = -_LOG_EVERY
        self.counters = AdmissionCounters()
        #: Seconds the event loop ran late at the last probe (0 while the probe is off).
        self.lag = 0.0
        self._limit = float(limits.max_in_flight)
        #: The most requests in flight since the last probe.
        self._peak = 0
        self._calm_probes = 0
        self.retry_after = limits.retry_after

    @property
    def limits(self) -> LimitSettings:
        return self._limits

    @property
    def buffered_body_bytes(self) -> int:
        return self._body_bytes

    @property
    def limit(self) -> float:
        """The in-flight cap now: ``max_in_flight``, or less while the loop lags."""
        return self._limit

    def shedding(self) -> bool:
        """Whether a new request would be refused now."""
        return self._state.in_flight >= self._limit

    def count_shed(self) -> None:
        """Count one request shed for in-flight or lag (whichever holds now) and maybe log it."""
        if self._limit < self._limits.max_in_flight:
            self.counters.shed_loop_lag += 1
        else:
            self.counters.shed_in_flight += 1
        self._log_shedding()

    def admit(self) -> None:
        """Raise :class:`Overloaded` when the process takes no more requests now."""
        in_flight = self._state.in_flight
        if in_flight >= self._limit:
            self.count_shed()
            raise self.overloaded("The gateway is overloaded")
        if in_flight >= self._peak:
            self._peak = in_flight + 1  # this one is about to start

    def reserve_body(self, size: int) -> None:
        """Hold ``size`` bytes of the body budget until :meth:`release_body`; 503 when it is spent.

        A body larger than the whole budget is still let in alone (it is within the per-body
        limit, checked before), so a low budget never makes a valid request impossible.
        """
        if self._body_bytes and self._body_bytes + size > self._limits.max_buffered_body_bytes:
            self.counters.shed_body_bytes += 1
            self._log_shedding()
            raise self.overloaded("The gateway holds too many request bodies")
        self._body_bytes += size

    def release_body(self, size: int) -> None:
        self._body_bytes -= size

    def overloaded(self, reason: str) -> Overloaded:
        return Overloaded(
            f"{reason}; retry after {self.retry_after} s.",
            headers={"Retry-After": str(self.retry_after)},
        )

    def start(self) -> None:
        """Start the lag probe (``max_loop_lag`` > 0) on the running loop."""
        if self._max_lag > 0:
            loop = asyncio.get_running_loop()
            self._schedule(loop, loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._limit = float(self._limits.max_in_flight)
        self._late_probes = 0

    def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        self.lag = lag = max(0.0, now - self._due)
        late = lag > self._max_lag
        self._late_probes = self._late_probes + 1 if late else 0
        peak, self._peak = self._peak, self._state.in_flight
        if self._late_probes >= _LATE_PROBES:
            # The peak, not the count now: a dip between two requests must not empty the cap. A
            # loop far later than the limit cuts as deep (a burst let in at once drains sooner).
            cut = min(_DECREASE, self._max_lag / lag)
            self._limit = max(1.0, min(self._limit, peak) * cut)
            self._calm_probes = 0
        elif not late and self._limit < self._limits.max_in_flight:
            self._calm_probes = self._calm_probes + 1 if peak < self._limit else 0
            if self._calm_probes >= _CALM_PROBES:
                self._limit = float(self._limits.max_in_flight)
            else:
                self._limit += 1
        self._schedule(loop, now)

    def _schedule(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        self._due = now + _PROBE_INTERVAL
        self._handle = loop.call_at(self._due, self._probe, loop)

    def _log_shedding(self) -> None:
        # One line per _LOG_EVERY seconds: a line per shed request would add to the overload.
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            c = self.counters
            logger.warning(
                "overloaded, shedding requests (%d in flight; shed so far: %d in-flight, %d loop lag, "
                "%d body bytes)",
                self._state.in_flight,
                c.shed_in_flight,
                c.shed_loop_lag,
                c.shed_body_bytes,
            )
