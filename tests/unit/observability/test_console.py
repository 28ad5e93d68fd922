"""The console sink's rolling figures: window, percentiles, the model cap, rows and feeds."""

from __future__ import annotations

from gateway.observability.console import FEED_QUEUE, MAX_MODELS, WINDOW, ConsoleSink
from gateway.observability.record import RequestRecord
from tests.clock import ManualClock


def record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "method": "POST",
        "path": "/v1/chat/completions",
        "provider": "openai",
        "trace_id": "t",
        "metadata": {"team": "marker-metadata-value"},
        "status": 200,
        "model": "gpt-4o",
        "family": "chat",
    }
    return RequestRecord(**(base | fields))  # type: ignore[arg-type]


def test_counts_leave_the_window_after_five_minutes() -> None:
    clock = ManualClock()
    sink = ConsoleSink(clock=clock)
    sink.write(record(status=502, outcome="upstream_error", provider="groq"))
    clock.advance(WINDOW - 1)
    sink.write(record())
    snapshot = sink.snapshot()
    assert (snapshot["requests"], snapshot["errors"]) == (2, 1)
    assert snapshot["errors_by_provider"] == {"groq": 1}
    assert snapshot["requests_per_second"][0] == 1
    assert snapshot["requests_per_second"][-1] == 1
    clock.advance(1)
    snapshot = sink.snapshot()
    assert (snapshot["requests"], snapshot["errors"], snapshot["errors_by_provider"]) == (1, 0, {})
    assert len(snapshot["requests_per_second"]) == WINDOW


def test_latency_percentiles_by_nearest_rank() -> None:
    sink = ConsoleSink(clock=ManualClock())
    for ms in range(1, 101):
        sink.write(record(duration_ms=float(ms), first_token_ms=float(ms) / 2))
    latency = sink.snapshot()["latency_ms"]
    assert latency["duration"] == {"p50": 51.0, "p95": 95.0, "p99": 99.0}
    assert latency["first_token"]["p99"] == 49.5


def test_no_samples_no_percentiles() -> None:
    latency = ConsoleSink(clock=ManualClock()).snapshot()["latency_ms"]
    assert latency == {"duration": None, "first_token": None}


def test_tokens_and_cost_by_model_cost_unknown_stays_none() -> None:
    sink = ConsoleSink(clock=ManualClock())
    sink.write(record(input_tokens=10, output_tokens=5, cost=0.25))
    sink.write(record(input_tokens=1, output_tokens=2, cost=0.5))
    sink.write(record(model="llama", input_tokens=None, output_tokens=None))
    assert sink.snapshot()["models"] == [
        {"model": "gpt-4o", "requests": 2, "input_tokens": 11, "output_tokens": 7, "cost": 0.75},
        {"model": "llama", "requests": 1, "input_tokens": 0, "output_tokens": 0, "cost": None},
    ]


def test_model_names_past_the_cap_count_as_other() -> None:
    sink = ConsoleSink(clock=ManualClock())
    for n in range(MAX_MODELS + 20):
        sink.write(record(model=f"made-up-{n}"))
    names = [row["model"] for row in sink.snapshot()["models"]]
    assert len(names) == MAX_MODELS + 1
    assert sink.snapshot()["models"][0] == {
        "model": "other",
        "requests": 20,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost": None,
    }


def test_rows_keep_the_last_hundred_without_metadata_or_path() -> None:
    sink = ConsoleSink(clock=ManualClock())
    for n in range(150):
        sink.write(record(path=f"/v1/chat/completions?key=marker-query-{n}", status=200 + n))
    recent = sink.snapshot(recent=True)["recent"]
    assert len(recent) == 100
    assert recent[0]["status"] == 250
    assert recent[-1]["status"] == 349
    assert "marker" not in str(recent)
    assert "recent" not in sink.snapshot()


def test_a_feed_that_falls_behind_is_marked_and_gets_no_more_rows() -> None:
    sink = ConsoleSink(clock=ManualClock())
    slow, reading = sink.watch(), sink.watch()
    for _ in range(FEED_QUEUE + 1):
        sink.write(record())
        reading.rows.get_nowait()  # a reader that keeps up
    assert slow.overflowed
    assert slow.rows.qsize() == FEED_QUEUE
    assert not reading.overflowed
    sink.unwatch(slow)
    sink.write(record())
    assert reading.rows.qsize() == 1
    assert slow.rows.qsize() == FEED_QUEUE
