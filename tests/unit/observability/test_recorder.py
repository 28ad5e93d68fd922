"""The recorder: records reach every sink once, completed, in the order they ended, only while it
runs; a full queue drops and counts them rather than holding the request path."""

from __future__ import annotations

import asyncio

from gateway.observability.prices import Price, PriceTable
from gateway.observability.record import RequestRecord
from gateway.observability.recorder import Recorder, running

PRICES = PriceTable({"openai": {"gpt-4o-mini": Price(1.0, 2.0, 0.5, 0.0)}})


class Seen:
    """A sink that keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def write(self, record: RequestRecord) -> None:
        self.records.append(record)


def record(trace: str) -> RequestRecord:
    tail = b'{"usage":{"prompt_tokens":1000000,"completion_tokens":1000000}}'
    return RequestRecord("POST", "/v1/chat/completions", "openai", trace, {}, model="gpt-4o-mini", tail=tail)


async def test_records_reach_every_sink_completed_in_order_and_only_while_running() -> None:
    first, second = Seen(), Seen()
    recorder = Recorder((first, second), PRICES)
    recorder.add(record("early"))
    await asyncio.sleep(0)
    assert first.records == []  # not running yet: queued
    async with running(recorder):
        assert [r.trace_id for r in first.records] == ["early"]
        for trace in ("a", "b", "c"):
            recorder.add(record(trace))
        assert [r.trace_id for r in first.records] == ["early"]  # off the request path
        await asyncio.sleep(0)
        assert [r.trace_id for r in first.records] == ["early", "a", "b", "c"]
        recorder.add(record("d"))
    assert [r.trace_id for r in second.records] == ["early", "a", "b", "c", "d"]  # flushed at the end
    assert (first.records[1].input_tokens, first.records[1].cost) == (1_000_000, 3.0)
    recorder.add(record("late"))
    await asyncio.sleep(0)
    assert len(first.records) == 5


async def test_a_full_queue_drops_and_counts_records() -> None:
    seen = Seen()
    recorder = Recorder((seen,), PRICES, size=2)
    for trace in ("a", "b", "c"):
        recorder.add(record(trace))
    assert recorder.dropped == 1
    async with running(recorder):
        pass
    assert [r.trace_id for r in seen.records] == ["a", "b"]
