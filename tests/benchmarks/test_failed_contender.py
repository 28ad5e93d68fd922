"""A contender that answers a figure's requests only with errors gets "failed" in the compare table,
never a req/s or CPU figure made of error answers (Portkey's streams on @hono/node-server 1.19 do)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from benchmarks import compare_report
from benchmarks.compare import figures
from benchmarks.load import Job, run_job

EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'


async def _stream_forever(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        while True:  # until the client drops the stream
            await response.write(EVENT)
            await asyncio.sleep(0.05)
    except ConnectionError:
        return response


async def _fail(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "failure", "message": "Something went wrong"}, status=500)


async def _held(server: TestServer) -> int:
    job = Job(
        url=str(server.make_url("/v1/chat/completions")),
        mode="hold",
        kind="stream",
        concurrency=3,
        hold=0.1,
        chunks=2,
        interval_ms=600_000,
    )
    result: dict[str, Any] = await run_job(job)
    return int(result["held"])


async def test_held_streams_count_only_streams_answered_200(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    streaming, failing = web.Application(), web.Application()
    streaming.router.add_post("/v1/chat/completions", _stream_forever)
    failing.router.add_post("/v1/chat/completions", _fail)
    assert await _held(await aiohttp_server(streaming)) == 3
    assert await _held(await aiohttp_server(failing)) == 0


def _result(rps: float, cpu: float, ok: int, errors: int) -> dict[str, Any]:
    latency = {"p50": 2.0, "p99": 5.0} if ok else {}
    return {
        "rps": rps,
        "system_cpu_us_per_req": cpu,
        "requests": ok,
        "completed": ok + errors,
        "errors": {"status 500": errors} if errors else {},
        "latency_ms": latency,
    }


def _held_result(held: int, idle_mb: float, held_mb: float) -> dict[str, Any]:
    return {"held": held, "rss": {"before_mb": idle_mb, "held_mb": held_mb}}


def _cells(table: str) -> dict[str, dict[str, str]]:
    lines = [[c.strip() for c in line.strip("|").split(" | ")] for line in table.splitlines()]
    heads = lines[0][1:]
    return {cells[0]: dict(zip(heads, cells[1:], strict=True)) for cells in lines[2:]}


def test_compare_table_says_failed_where_no_request_was_answered_200() -> None:
    runs = {
        "chat_c1": {
            "direct": [_result(500, 0, 100, 0)],
            "gateway": [_result(400, 0, 100, 0)],
            "portkey": [_result(300, 0, 100, 0)],
        },
        "chat_c64": {"gateway": [_result(2000, 500, 900, 0)], "portkey": [_result(1000, 900, 400, 0)]},
        "stream_c64": {"gateway": [_result(800, 1500, 300, 0)], "portkey": [_result(0, 300, 0, 700)]},
        "held": {"gateway": [_held_result(16, 47, 52)], "portkey": [_held_result(0, 60, 61)]},
    }
    document = {"figures": figures(runs), "missing": ["nginx", "litellm"]}
    table = _cells(compare_report.table(document, 16))
    portkey = {label: cells["Portkey"] for label, cells in table.items()}
    gateway = {label: cells["this gateway"] for label, cells in table.items()}
    assert portkey["20-chunk streams/s, 64 connections"] == "failed"
    assert portkey["CPU per 20-chunk stream"] == "failed"
    assert portkey["RSS idle / 16 paced streams"] == "60 MB / failed"
    assert portkey["not answered 200 at 64 connections, non-stream / stream"] == "0% / 100%"
    assert portkey["non-stream req/s, 64 connections"] == "1,000"
    assert portkey["CPU per non-stream request"] == "900 µs"
    assert "failed" not in gateway.values()
    assert gateway["20-chunk streams/s, 64 connections"] == "800"
    assert gateway["RSS idle / 16 paced streams"] == "47 / 52 MB"
    assert document["figures"]["portkey"]["stream_rps"] is None  # nor a bar in compare.png
