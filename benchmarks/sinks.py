"""CPU per record of the recorder's work, in-process: ``python -m benchmarks.sinks``.

The observability scenario of the suite measures the whole gateway with its observers on and off,
which this machine's noise blurs at a few per cent; this isolates what each part costs per record:
``complete`` (usage, tokens, price), then each sink. Best of 5 runs of 20,000 records.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from gateway.observability.console import ConsoleSink
from gateway.observability.metrics import Metrics, MetricsSink
from gateway.observability.prices import PriceTable, load_prices
from gateway.observability.record import RequestRecord
from gateway.observability.recorder import complete
from gateway.observability.requestlog import AccessLog

RECORDS = 20_000
#: A streamed chat answer's last bytes, as the relay keeps them.
TAIL = (
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}'
    b"\n\ndata: [DONE]\n\n"
)


def record() -> RequestRecord:
    return RequestRecord(
        "POST",
        "/v1/chat/completions",
        "openai",
        "trace",
        {},
        status=200,
        family="chat",
        model="gpt-4o-mini",
        stream=True,
        duration_ms=1.0,
        upstream_ms=0.5,
        first_token_ms=0.6,
        gateway_ms=0.2,
        longest_gap_ms=3.0,
        tail=TAIL,
    )


def per_record(
    work: Callable[[RequestRecord, int], None], prices: PriceTable, completed: bool
) -> list[float]:
    """µs per record of ``work`` over fresh records (completed first when ``completed``), 5 runs."""
    runs = []
    for _ in range(5):
        records = [record() for _ in range(RECORDS)]
        if completed:
            for item in records:
                complete(item, prices)
        started = time.perf_counter()
        for index, item in enumerate(records):
            work(item, index)
        runs.append((time.perf_counter() - started) / RECORDS * 1e6)
    return runs


def main() -> None:
    prices = load_prices("")
    metrics = Metrics(CollectorRegistry(), ["openai"], 100)
    metrics_sink, console, access = MetricsSink(metrics), ConsoleSink(), AccessLog(access=False)

    def with_flush(item: RequestRecord, index: int) -> None:
        metrics_sink.write(item)
        if index % 1000 == 0:  # the gateway flushes once a second
            metrics.flush()

    parts: dict[str, tuple[Callable[[RequestRecord, int], None], bool]] = {
        "complete (usage, tokens, price)": (lambda item, _: complete(item, prices), False),
        "access log (off: failures only)": (lambda item, _: access.write(item), True),
        "metrics": (with_flush, True),
        "console": (lambda item, _: console.write(item), True),
    }
    for name, (work, completed) in parts.items():
        runs = per_record(work, prices, completed)
        print(f"{name:34s} {min(runs):6.2f} µs per record (median {statistics.median(runs):.2f})")


if __name__ == "__main__":
    main()
