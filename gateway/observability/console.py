"""The live console's figures (``GET /console``): a record sink keeping the last five minutes of one
process, and the feeds that watch it.

Everything is bounded, whatever the traffic: per-second buckets for the last :data:`WINDOW`
seconds (request and error counts, errors by provider, tokens and cost by model), a fixed number
of latency samples, the last :data:`RECENT` requests, at most :data:`MAX_MODELS` distinct model
names (later ones count as ``other``), and a bounded queue per feed. A feed whose queue fills (its
client reads too slowly) is marked ``overflowed`` and stops getting rows; its handler ends it.

Rows hold no metadata value, no query string and no credential: provider slug, model name,
family, status, outcome, durations, tokens and cost. The model name is the caller's text; the page
shows it with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.observability.record import RequestRecord

__all__ = [
    "FEED_QUEUE",
    "MAX_MODELS",
    "RECENT",
    "WINDOW",
    "ConsoleSink",
    "Feed",
    "is_error",
]

#: Seconds the console looks back, one bucket each.
WINDOW = 300
#: The last requests kept for the table.
RECENT = 100
#: Distinct model names counted on their own; the rest are counted as ``other``.
MAX_MODELS = 50
#: Latency samples kept (the newest); percentiles are read from those still in the window.
SAMPLES = 4096
#: Rows a feed may have waiting before it is dropped as too slow.
FEED_QUEUE = 1000
_MAX_MODEL_CHARS = 200


#: A recent request: wall time, provider, model (as counted), family, status, outcome, stream,
#: duration ms, first-token ms (0: none), input and output tokens, cost (see :func:`_row`).
_Recent = tuple[float, str, str, str, int, str, bool, float, float, int | None, int | None, float | None]


def is_error(record: RequestRecord) -> bool:
    """An error for the console: a 5xx or 429 answer, or an upstream that failed or timed out."""
    return record.status >= 500 or record.status == 429 or record.outcome == "upstream_error"


@dataclass(slots=True)
class _ModelTotals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: ``None`` until a record of this model came with a cost.
    cost: float | None = None

    def add(self, other: _ModelTotals) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost


@dataclass(slots=True)
class _Second:
    index: int
    requests: int = 0
    errors: int = 0
    errors_by_provider: dict[str, int] = field(default_factory=dict)
    models: dict[str, _ModelTotals] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Feed:
    """One watcher's queue of new rows; ``overflowed`` once it fell :data:`FEED_QUEUE` behind."""

    rows: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(FEED_QUEUE))
    overflowed: bool = False


class ConsoleSink:
    """Rolling aggregates of this process's records (a :class:`RecordSink`)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._seconds: deque[_Second] = deque()
        #: (second, duration ms, first-token ms or None)
        self._samples: deque[tuple[int, float, float | None]] = deque(maxlen=SAMPLES)
        self._recent: deque[_Recent] = deque(maxlen=RECENT)
        self._models: set[str] = set()
        self.feeds: set[Feed] = set()

    # -- the recorder's side -------------------------------------------------------------------

    def write(self, record: RequestRecord) -> None:
        second = self._second(int(self._clock()))
        second.requests += 1
        if is_error(record):
            second.errors += 1
            second.errors_by_provider[record.provider] = second.errors_by_provider.get(record.provider, 0) + 1
        model = self._model_name(record.model)
        totals = second.models.get(model)
        if totals is None:
            totals = second.models[model] = _ModelTotals()
        totals.requests += 1
        totals.input_tokens += record.input_tokens or 0
        totals.output_tokens += record.output_tokens or 0
        if record.cost is not None:
            totals.cost = (totals.cost or 0.0) + record.cost
        ttft = record.first_token_ms if record.first_token_ms > 0 else None
        self._samples.append((second.index, record.duration_ms, ttft))
        # Kept as a tuple, made a row only when a feed or a snapshot asks: most records are never
        # looked at, and the dict costs several times the tuple. Not the record itself, which may
        # hold a whole answer for the cache.
        recent = (
            self._wall(),
            record.provider,
            model,
            record.family,
            record.status,
            record.outcome,
            record.stream,
            record.duration_ms,
            record.first_token_ms,
            record.input_tokens,
            record.output_tokens,
            record.cost,
        )
        self._recent.append(recent)
        if self.feeds:
            self._publish(_row(recent))

    # -- the feeds' side -----------------------------------------------------------------------

    def watch(self) -> Feed:
        feed = Feed()
        self.feeds.add(feed)
        return feed

    def unwatch(self, feed: Feed) -> None:
        self.feeds.discard(feed)

    def snapshot(self, recent: bool = False) -> dict[str, Any]:
        """The window's figures, JSON-ready; with ``recent``, the last requests too (oldest first)."""
        now = int(self._clock())
        self._expire(now)
        first = now - WINDOW + 1
        requests = [0] * WINDOW
        errors = [0] * WINDOW
        by_provider: dict[str, int] = {}
        models: dict[str, _ModelTotals] = {}
        for second in self._seconds:
            requests[second.index - first] = second.requests
            errors[second.index - first] = second.errors
            for provider, count in second.errors_by_provider.items():
                by_provider[provider] = by_provider.get(provider, 0) + count
            for name, totals in second.models.items():
                models.setdefault(name, _ModelTotals()).add(totals)
        snapshot: dict[str, Any] = {
            "time": self._wall(),
            "window_seconds": WINDOW,
            "requests": sum(requests),
            "errors": sum(errors),
            "requests_per_second": requests,
            "errors_per_second": errors,
            "latency_ms": self._latency(first),
            "errors_by_provider": dict(sorted(by_provider.items(), key=lambda item: -item[1])),
            "models": [_model_row(name, totals) for name, totals in _by_requests(models)],
        }
        if recent:
            snapshot["recent"] = [_row(recent) for recent in self._recent]
        return snapshot

    # -- internals -----------------------------------------------------------------------------

    def _second(self, index: int) -> _Second:
        if not self._seconds or self._seconds[-1].index < index:
            self._seconds.append(_Second(index))
            self._expire(index)
        return self._seconds[-1]

    def _expire(self, now: int) -> None:
        while self._seconds and self._seconds[0].index <= now - WINDOW:
            self._seconds.popleft()

    def _model_name(self, model: str) -> str:
        name = model[:_MAX_MODEL_CHARS] or "-"
        if name in self._models:
            return name
        if len(self._models) < MAX_MODELS:
            self._models.add(name)
            return name
        return "other"

    def _latency(self, first: int) -> dict[str, dict[str, float] | None]:
        durations = sorted(ms for index, ms, _ in self._samples if index >= first)
        ttfts = sorted(ms for index, _, ms in self._samples if index >= first and ms is not None)
        return {"duration": _percentiles(durations), "first_token": _percentiles(ttfts)}

    def _publish(self, row: dict[str, Any]) -> None:
        for feed in self.feeds:
            if feed.overflowed:
                continue
            try:
                feed.rows.put_nowait(row)
            except asyncio.QueueFull:
                feed.overflowed = True


def _row(recent: _Recent) -> dict[str, Any]:
    """A recent request as the table shows it (no metadata, query or credential: see above)."""
    time, provider, model, family, status, outcome, stream, duration, ttft, inputs, outputs, cost = recent
    return {
        "time": time,
        "provider": provider,
        "model": model,
        "family": family,
        "status": status,
        "outcome": outcome,
        "stream": stream,
        "duration_ms": round(duration, 1),
        "first_token_ms": round(ttft, 1) if ttft > 0 else None,
        "input_tokens": inputs,
        "output_tokens": outputs,
        "cost": cost,
    }


def _percentiles(sorted_values: list[float]) -> dict[str, float] | None:
    if not sorted_values:
        return None
    last = len(sorted_values) - 1
    # Nearest rank: exact for the few samples a quiet gateway has, and no interpolation to explain.
    return {f"p{q}": round(sorted_values[round(last * q / 100)], 1) for q in (50, 95, 99)}


def _by_requests(models: dict[str, _ModelTotals]) -> list[tuple[str, _ModelTotals]]:
    return sorted(models.items(), key=lambda item: (-item[1].requests, item[0]))


def _model_row(name: str, totals: _ModelTotals) -> dict[str, Any]:
    return {
        "model": name,
        "requests": totals.requests,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cost": totals.cost,
    }
