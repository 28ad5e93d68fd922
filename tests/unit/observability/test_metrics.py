"""Batched counts and observations reach the series exactly as one-at-a-time updates would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.observability.metrics import Metrics

VALUES = [0.0, 0.0004, 0.001, 0.0025, 0.003, 0.7, 2.5, 9.0, 1e9]


def test_a_flush_writes_what_one_by_one_updates_would() -> None:
    direct, batched = CollectorRegistry(), CollectorRegistry()
    buckets = (0.001, 0.0025, 0.5, 2.5, 10.0)
    one = Histogram("h", "h", ("a",), buckets=buckets, registry=direct).labels("x")
    many = Histogram("h", "h", ("a",), buckets=buckets, registry=batched).labels("x")
    count_one = Counter("c", "c", registry=direct)
    count_many = Counter("c", "c", registry=batched)
    metrics = Metrics(CollectorRegistry(), (), 10)
    for value in VALUES:
        one.observe(value)
        metrics.observe(many, value)
        count_one.inc(value)
        metrics.inc(count_many, value)
    assert generate_latest(batched) != generate_latest(direct)  # nothing written before the flush
    metrics.flush()
    assert _without_created(generate_latest(batched)) == _without_created(generate_latest(direct))
    metrics.flush()  # a second flush adds nothing
    assert _without_created(generate_latest(batched)) == _without_created(generate_latest(direct))


def _without_created(text: bytes) -> list[bytes]:
    return [line for line in text.splitlines() if b"_created" not in line]
