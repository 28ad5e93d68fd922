"""Prometheus series of one process, and the recorder's sink that feeds them.

Every series is fed off the request path: the recorder's background task calls
:meth:`MetricsSink.write` once per attempt record. Label values come only from bounded sets (known
provider slugs, endpoint families, outcomes, and at most ``max_model_labels`` model names, the rest
``other``), and each label tuple is bound once and cached: ``.labels()`` costs microseconds.

Requests and attempts (docs/observability.md, "Metrics"): every attempt is counted in
``gateway_attempts_total``; a request in ``gateway_requests_total`` is counted once, by the record
of the answer the client saw, so a retried, fallen-back or out-raced attempt is not a request.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``--workers N``: ``server.py``) prometheus-client writes the
values to files there, and a scrape of any worker sums them (``api/metrics.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.observability.record import RequestRecord
from gateway.routing.health import BreakerState
from gateway.routing.identity import TargetIdentity

if TYPE_CHECKING:
    from gateway.guardrails.runner import CheckTiming

__all__ = [
    "OUTCOMES",
    "Bounded",
    "Metrics",
    "MetricsSink",
    "outcome",
]

#: The record's outcomes (``record.py``) → the requests' ``outcome`` label. An answer the upstream
#: gave with a 5xx status is an ``upstream_error`` too; its 4xx are the caller's, so ``ok``.
OUTCOMES = {
    "ok": "ok",
    "upstream_error": "upstream_error",
    "client_closed": "client_gone",
    "shed": "shed",
    "rejected": "gateway_error",
    "invalid_request": "gateway_error",
    "internal_error": "gateway_error",
    "shutdown": "gateway_error",
}
#: Outcomes of attempts whose answer the client never saw (also the attempts' label values).
_NOT_ANSWERS = frozenset({"retried", "fell_back", "hedge_lost"})
_ATTEMPT_OUTCOMES = frozenset(OUTCOMES) | _NOT_ANSWERS
_BREAKER_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}

#: Seconds: from a fast cached answer to a long reasoning stream.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Seconds: the gateway's own time is meant to stay well under a millisecond.
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
#: Seconds: a pure check takes microseconds, one that calls out up to its timeout.
_CHECK = (0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10)
#: Above the label cap, and for a label a caller could fill with anything.
OTHER = "other"


def outcome(record: RequestRecord) -> str:
    """The ``outcome`` label of the request whose answer ``record`` is."""
    mapped = OUTCOMES.get(record.outcome, "gateway_error")
    if mapped == "ok" and record.status >= 500:
        return "upstream_error"
    return mapped


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "none"


class Bounded:
    """The first ``cap`` distinct values as they are; any later one as ``other``."""

    __slots__ = ("_cap", "_seen")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._cap:
            return OTHER
        self._seen.add(value)
        return value


class Metrics:
    """Every series of the process, registered in ``registry`` (one per app: tests run several)."""

    def __init__(self, registry: CollectorRegistry, providers: Iterable[str], max_models: int) -> None:
        self.registry = registry
        self.providers = frozenset(providers)
        self.models = Bounded(max(0, max_models))
        #: Breaker targets: the health table's own cap bounds them; this bounds the labels too.
        self.targets = Bounded(4096)
        self._bound: dict[tuple[Any, ...], Any] = {}
        #: Since the last :meth:`flush`: amounts per counter child, and per histogram child its
        #: sum and count per bucket. A record costs a few dict updates; prometheus-client's locked
        #: (with --workers, file-backed) values are written once per series per flush.
        self._counted: dict[Any, float] = {}
        self._observed: dict[Any, tuple[list[float], list[int]]] = {}
        self._breaker_labels: set[tuple[str, str]] = set()
        r = registry
        common = ("family", "provider")
        self.requests = Counter(
            "gateway_requests",
            "Requests answered, by the answer the client saw.",
            (*common, "model", "status_class", "outcome"),
            registry=r,
        )
        self.attempts = Counter(
            "gateway_attempts",
            "Attempts at a provider (and answers the gateway gave itself).",
            (*common, "outcome"),
            registry=r,
        )
        self.retries = Counter("gateway_retries", "Attempts retried at the same target.", common, registry=r)
        self.fallbacks = Counter(
            "gateway_fallbacks", "Attempts moved on from to the next target.", common, registry=r
        )
        self.hedges = Counter("gateway_hedges_started", "Hedged attempts started.", common, registry=r)
        self.hedges_won = Counter(
            "gateway_hedges_won", "Hedged attempts that answered the client.", common, registry=r
        )
        self.tokens = Counter(
            "gateway_tokens", "Tokens the providers reported.", ("provider", "model", "direction"), registry=r
        )
        self.cost = Counter("gateway_cost_usd", "Cost in US dollars.", ("provider", "model"), registry=r)
        self.upstream = Histogram(
            "gateway_upstream_headers_seconds",
            "From sending to the provider's response headers.",
            common,
            buckets=_LATENCY,
            registry=r,
        )
        self.first_token = Histogram(
            "gateway_first_token_seconds",
            "Streams: from sending to the first chunk.",
            common,
            buckets=_LATENCY,
            registry=r,
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds",
            "Whole requests, as the client saw them.",
            common,
            buckets=_LATENCY,
            registry=r,
        )
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "The gateway's own time (Server-Timing gateway).",
            common,
            buckets=_OVERHEAD,
            registry=r,
        )
        self.gap = Histogram(
            "gateway_stream_longest_gap_seconds",
            "Streams: the longest wait between two chunks.",
            common,
            buckets=_LATENCY,
            registry=r,
        )
        self.breaker_openings = Counter(
            "gateway_breaker_openings", "Circuit breakers opened.", ("provider", "target"), registry=r
        )
        self.breaker_state = Gauge(
            "gateway_breaker_state",
            "Circuit breaker now: 0 closed, 1 half-open, 2 open (worst worker).",
            ("provider", "target"),
            registry=r,
            multiprocess_mode="livemax",
        )
        self.in_flight = Gauge(
            "gateway_in_flight_requests",
            "HTTP requests and streams running.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.open_streams = Gauge(
            "gateway_open_streams", "Streamed bodies being relayed.", registry=r, multiprocess_mode="livesum"
        )
        self.realtime_sessions = Gauge(
            "gateway_realtime_sessions", "Realtime sessions open.", registry=r, multiprocess_mode="livesum"
        )
        self.loop_lag = Gauge(
            "gateway_event_loop_lag_seconds",
            "How late the event loop ran at the last probe (worst worker).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.shed = Counter("gateway_shed", "Requests shed with a 503 (admission).", ("reason",), registry=r)
        #: Admission's shed counts at the last reading (``api/metrics.py`` adds the difference).
        self.shed_seen: tuple[int, ...] = (0, 0, 0)
        self.cache_lookups = Counter(
            "gateway_cache_lookups",
            "Answers by what the response cache did: HIT, SEMANTIC HIT, MISS, SEMANTIC MISS, REFRESH.",
            ("family", "provider", "status"),
            registry=r,
        )
        self.cache_entries = Gauge(
            "gateway_cache_entries", "Entries in the memory cache.", registry=r, multiprocess_mode="livesum"
        )
        self.cache_bytes = Gauge(
            "gateway_cache_bytes", "Bytes held by the memory cache.", registry=r, multiprocess_mode="livesum"
        )
        self.cache_evictions = Counter("gateway_cache_evictions", "Entries evicted for room.", registry=r)
        self.cache_errors = Counter(
            "gateway_cache_errors",
            "Cache backend failures, the semantic feed's included (the request went on uncached).",
            registry=r,
        )
        self.cache_semantic_entries = Gauge(
            "gateway_cache_semantic_entries",
            "Vectors in this process's semantic cache index.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.cache_embedding_failures = Counter(
            "gateway_cache_embedding_failures",
            "Semantic cache embedding calls that failed (the request went on as an exact-cache miss).",
            registry=r,
        )
        # Guardrails: ``check`` is a registry id and ``event`` one of two: bounded sets.
        self.guardrail_checks = Counter(
            "gateway_guardrail_checks",
            "Guardrail check runs, by verdict: pass, fail, error (could not decide).",
            ("check", "event", "verdict"),
            registry=r,
        )
        self.guardrail_check_seconds = Histogram(
            "gateway_guardrail_check_seconds",
            "Each guardrail check's run.",
            ("check",),
            buckets=_CHECK,
            registry=r,
        )
        self.guardrail_denied = Counter(
            "gateway_guardrail_denied",
            "Requests a denying hook answered with a 446, by the event whose hooks denied.",
            ("event",),
            registry=r,
        )
        #: The cache's evictions, errors and embedding failures at the last reading (``api/metrics.py``
        #: adds the difference).
        self.cache_seen: tuple[int, int, int] = (0, 0, 0)
        self.rate_limit_errors = Counter(
            "gateway_rate_limit_errors",
            "Rate-limit backend (Redis) failures; rate_limits.on_redis_error said what the request got.",
            registry=r,
        )
        self.rate_limit_errors_seen = 0

    def bound(self, key: tuple[Any, ...], bind: Callable[[], Any]) -> Any:
        """The child for ``key``, bound once (``bind``) and cached."""
        child = self._bound.get(key)
        if child is None:
            child = self._bound[key] = bind()
        return child

    def inc(self, child: Any, amount: float = 1) -> None:
        """Add ``amount`` to a counter ``child`` at the next flush."""
        self._counted[child] = self._counted.get(child, 0.0) + amount

    def observe(self, child: Any, value: float) -> None:
        """Observe ``value`` in a histogram ``child`` at the next flush."""
        pending = self._observed.get(child)
        if pending is None:
            pending = self._observed[child] = ([0.0], [0] * len(child._upper_bounds))
        pending[0][0] += value
        # The first bucket whose upper bound is >= value, as Histogram.observe picks it.
        pending[1][bisect_left(child._upper_bounds, value)] += 1

    def flush(self) -> None:
        """Write what was counted and observed since the last flush into the series (the tick
        and every scrape call it, so a scrape sees every record the recorder has handed on)."""
        counted, self._counted = self._counted, {}
        for child, amount in counted.items():
            child.inc(amount)
        observed, self._observed = self._observed, {}
        for child, (total, buckets) in observed.items():
            # Histogram.observe one value at a time, for many: its sum and per-bucket values.
            child._sum.inc(total[0])
            for index, count in enumerate(buckets):
                if count:
                    child._buckets[index].inc(count)

    def provider(self, slug: str) -> str:
        return slug if slug in self.providers else OTHER

    def breaker_opened(self, key: TargetIdentity) -> None:
        """``TargetHealth``'s ``on_open``: count one opening of ``key``'s breaker."""
        labels = (self.provider(key.provider), self.targets(key.id))
        self.bound(("opened", *labels), lambda: self.breaker_openings.labels(*labels)).inc()

    def breakers(self, states: list[tuple[TargetIdentity, BreakerState]]) -> None:
        """Set each target's breaker gauge; a target the health table forgot reads closed, then
        its series goes (a worker's file keeps the last value: closed)."""
        shown: set[tuple[str, str]] = set()
        for key, state in states:
            labels = (self.provider(key.provider), self.targets(key.id))
            shown.add(labels)
            self.breaker_state.labels(*labels).set(_BREAKER_VALUES[state])
        for labels in self._breaker_labels - shown:
            self.breaker_state.labels(*labels).set(0.0)
            self.breaker_state.remove(*labels)
        self._breaker_labels = shown


class _Series:
    """The children of one (family, provider), bound once: a record finds them all in one lookup."""

    __slots__ = (
        "attempts",
        "duration",
        "fallbacks",
        "first_token",
        "gap",
        "hedges",
        "hedges_won",
        "labels",
        "overhead",
        "requests",
        "retries",
        "upstream",
        "usage",
    )

    def __init__(self, m: Metrics, family: str, provider: str) -> None:
        labels = self.labels = (family, provider)
        self.retries = m.retries.labels(*labels)
        self.fallbacks = m.fallbacks.labels(*labels)
        self.hedges = m.hedges.labels(*labels)
        self.hedges_won = m.hedges_won.labels(*labels)
        self.upstream = m.upstream.labels(*labels)
        self.duration = m.duration.labels(*labels)
        self.overhead = m.overhead.labels(*labels)
        self.first_token = m.first_token.labels(*labels)
        self.gap = m.gap.labels(*labels)
        #: By outcome, and by (model, status class, outcome): bound as they first occur.
        self.attempts: dict[str, Any] = {}
        self.requests: dict[tuple[str, str, str], Any] = {}
        #: By (model, ``input``/``output``/``cost``): the tokens and cost of this series' provider.
        self.usage: dict[tuple[str, str], Any] = {}


class MetricsSink:
    """The recorder's sink: one record (one attempt) into the series above."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        #: By (family, provider) as the record has them: both come from bounded sets.
        self._series: dict[tuple[str, str], _Series] = {}

    def write(self, record: RequestRecord) -> None:
        m = self.metrics
        series = self._series.get((record.family, record.provider))
        if series is None:
            series = _Series(m, record.family, m.provider(record.provider))
            self._series[(record.family, record.provider)] = series
        raw = record.outcome if record.outcome in _ATTEMPT_OUTCOMES else "internal_error"
        attempts = series.attempts.get(raw)
        if attempts is None:
            attempts = series.attempts[raw] = m.attempts.labels(*series.labels, raw)
        m.inc(attempts)
        if record.next_step == "retry":
            m.inc(series.retries)
        elif record.next_step == "fallback":
            m.inc(series.fallbacks)
        if record.hedge:
            m.inc(series.hedges)
            if record.outcome == "ok":
                m.inc(series.hedges_won)
        if record.upstream_ms:
            m.observe(series.upstream, record.upstream_ms / 1000)
        if raw not in _NOT_ANSWERS and not record.next_step:
            self._answered(record, series)
        if record.input_tokens or record.output_tokens or record.cost is not None:
            self._usage(record, series)

    def _answered(self, record: RequestRecord, series: _Series) -> None:
        m = self.metrics
        key = (m.models(record.model) if record.model else "", _status_class(record.status), outcome(record))
        requests = series.requests.get(key)
        if requests is None:
            requests = series.requests[key] = m.requests.labels(*series.labels, *key)
        m.inc(requests)
        if record.cache_status:
            labels = (*series.labels, record.cache_status)
            m.inc(m.bound(("cache", *labels), lambda: m.cache_lookups.labels(*labels)))
        m.observe(series.duration, record.duration_ms / 1000)
        if record.gateway_ms:
            m.observe(series.overhead, record.gateway_ms / 1000)
        if record.stream and record.first_token_ms:
            m.observe(series.first_token, record.first_token_ms / 1000)
        if record.longest_gap_ms:
            m.observe(series.gap, record.longest_gap_ms / 1000)
        if record.guardrail_checks:
            self._guardrails(record, record.guardrail_checks)

    def _guardrails(self, record: RequestRecord, timings: list[CheckTiming]) -> None:
        """Counted once per request, from the answer's record: it holds every check that ran for
        it (the input hooks', and the output hooks' of each attempt that got an answer)."""
        m = self.metrics
        for run in timings:
            labels = (run.check, run.event, run.verdict)
            m.inc(m.bound(("guardrail", *labels), partial(m.guardrail_checks.labels, *labels)))
            m.observe(
                m.bound(("guardrail_s", run.check), partial(m.guardrail_check_seconds.labels, run.check)),
                run.seconds,
            )
        if record.guardrail_denied:
            event = record.guardrail_denied
            m.inc(m.bound(("guardrail_denied", event), lambda: m.guardrail_denied.labels(event)))

    def _usage(self, record: RequestRecord, series: _Series) -> None:
        model = self.metrics.models(record.model) if record.model else ""
        if record.input_tokens:
            self.metrics.inc(self._usage_child(series, model, "input"), record.input_tokens)
        if record.output_tokens:
            self.metrics.inc(self._usage_child(series, model, "output"), record.output_tokens)
        if record.cost is not None:
            self.metrics.inc(self._usage_child(series, model, "cost"), record.cost)

    def _usage_child(self, series: _Series, model: str, kind: str) -> Any:
        """The tokens (``input``, ``output``) or ``cost`` child of ``series``' provider and
        ``model``, bound as it first occurs (an unbound child is not exported: no zero series)."""
        child = series.usage.get((model, kind))
        if child is None:
            m, labels = self.metrics, (series.labels[1], model)
            child = m.cost.labels(*labels) if kind == "cost" else m.tokens.labels(*labels, kind)
            series.usage[(model, kind)] = child
        return child
