"""Admission control: whether this process takes one more request, and the cheap 503 when it does not.

Three budgets, each a setting under ``[limits]``:

- requests in flight (``max_in_flight``): proxied requests and streams until they end, as
  ``ServerState`` counts them for the drain; realtime sessions have their own limit and are left out;
- event-loop lag (``max_loop_lag``): a timer that should fire every ``_PROBE_INTERVAL`` measures how
  late it runs. A CPU-bound process queues work in its loop, and every admitted request waits its
  turn there, so lag is the queueing delay new work would see. While the last few probes all ran
  later than the limit, new requests are shed; a fixed in-flight cap cannot do this, because the right cap
  depends on how much of a request is CPU (a mock) and how much is waiting (a model thinking);
- JSON body bytes held at once (``max_buffered_body_bytes``): reserved before a body is read.

Past a budget the answer is a ``503`` with ``Retry-After`` and ``code: overloaded``. The early path
(``protocol.py``) answers it from the parsed request line, before aiohttp builds a request, so a
shed costs a small fraction of a served request; ``admit()`` is the same check for what got past it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.appkeys import ServerState
from gateway.config.settings import LimitSettings
from gateway.errors import Overloaded
from gateway.observability.admission import AdmissionCounters

logger = logging.getLogger("gateway.admission")

#: Seconds between two lag probes: ~100 wake-ups a second cost well under 0.1 % of a core.
_PROBE_INTERVAL = 0.01
#: Probes in a row that must run late before new requests are shed.
_LATE_PROBES = 3
#: At most one "shedding" log line per this many seconds, whatever the shed rate.
_LOG_EVERY = 10.0
#: Paths answered whatever the load: probes that restart or unroute a busy process make it worse.
NEVER_SHED = frozenset({"/", "/healthz", "/readyz"})


class Admission:
    """The admission state of one process (lives on the app: ``ADMISSION``)."""

    __slots__ = (
        "_body_bytes",
        "_handle",
        "_late_probes",
        "_limits",
        "_logged_at",
        "_max_lag",
        "_state",
        "counters",
        "lagging",
        "retry_after",
    )

    def __init__(self, limits: LimitSettings, state: ServerState) -> None:
        self._limits = limits
        self._state = state
        self._max_lag = limits.max_loop_lag
        self._body_bytes = 0
        self._handle: asyncio.TimerHandle | None = None
        self._late_probes = 0
        self._logged_at = -_LOG_EVERY
        self.counters = AdmissionCounters()
        #: The last lag probe ran more than ``max_loop_lag`` late.
        self.lagging = False
        self.retry_after = limits.retry_after

    @property
    def limits(self) -> LimitSettings:
        return self._limits

    @property
    def buffered_body_bytes(self) -> int:
        return self._body_bytes

    def shedding(self) -> bool:
        """Whether a new request would be refused now."""
        return self.lagging or self._state.in_flight >= self._limits.max_in_flight

    def count_shed(self) -> None:
        """Count one request shed for in-flight or lag (whichever holds now) and maybe log it."""
        if self.lagging:
            self.counters.shed_loop_lag += 1
        else:
            self.counters.shed_in_flight += 1
        self._log_shedding()

    def admit(self) -> None:
        """Raise :class:`Overloaded` when the process takes no more requests now."""
        if self.shedding():
            self.count_shed()
            raise self.overloaded("The gateway is overloaded")

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
            self._handle = loop.call_at(loop.time() + _PROBE_INTERVAL, self._probe, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.lagging = False
        self._late_probes = 0

    def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._handle is not None
        now = loop.time()
        if now - self._handle.when() > self._max_lag:
            self._late_probes += 1
        else:
            self._late_probes = 0
        # Several late probes in a row: one long stall (a 30 MB JSON parse, a GC pause) is not
        # overload and must not shed whatever arrives next; a saturated loop makes every probe late.
        self.lagging = self._late_probes >= _LATE_PROBES
        self._handle = loop.call_at(now + _PROBE_INTERVAL, self._probe, loop)

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
