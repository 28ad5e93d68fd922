"""Tokens and cost in the JSON access log, through the wire: JSON answers, OpenAI streams with and
without ``include_usage``, a translated provider's stream, a realtime session, a pricing file;
one JSON line for each way a request ends."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.appkeys import REALTIME, RECORDER
from gateway.config.settings import PricingSettings, Settings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.fake_anthropic import (
    STOP,
    FakeAnthropic,
    Stream,
    block_stop,
    events,
    finish,
    start,
    text_block,
    text_delta,
)
from tests.functional.fake_realtime import USAGE, FakeRealtime, response_events
from tests.functional.test_headers import closed_port
from tests.functional.test_realtime import (
    open_session,
    provider_headers,
    received_text,
    session_created,
    wait_until,
)

KEY = "sk-tokens-cost-MARKER-3"
USAGE_4O = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "prompt_tokens_details": {"cached_tokens": 400},
}
#: gpt-4o at 2.50 / 10.00 / 1.25 USD per million: 600 uncached, 400 cached in, 200 out.
COST_4O = (600 * 2.5 + 400 * 1.25 + 200 * 10.0) / 1e6
JSON_LOG = {"access_log": True, "access_log_format": "json"}


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = [record.getMessage() for record in caplog.records if record.name == "gateway.access"]
    assert all("\n" not in line for line in lines)
    return [json.loads(line) for line in lines]


def openai_headers(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": f"Bearer {KEY}",
    }


def sdk(server: TestServer, headers: dict[str, str]) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key=KEY, default_headers=headers, max_retries=0
    )


async def logged(server: TestServer, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    await server.app[RECORDER].flush()
    lines = json_lines(caplog)
    assert KEY not in caplog.text
    return lines


def chunk(
    content: str | None, finish_reason: str | None = None, usage: dict[str, Any] | None = None
) -> bytes:
    choices = (
        []
        if content is None
        else [{"index": 0, "delta": {"content": content}, "finish_reason": finish_reason}]
    )
    return json.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": choices, "usage": usage}
    ).encode()


def streaming(body: bytes):  # type: ignore[no-untyped-def]
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    return respond


async def test_a_json_answer_logs_its_tokens_cached_tokens_and_cost(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")

    async def answer(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": "gpt-4o-2024-08-06",
                "choices": [],
                "usage": USAGE_4O,
            }
        )

    fake.on("POST", "/v1/chat/completions", answer)
    server = await make_gateway(settings_with(server=JSON_LOG))
    async with sdk(server, openai_headers(fake)) as client:
        done = await client.chat.completions.create(
            model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
        )
    assert done.usage is not None
    assert done.usage.prompt_tokens == 1000
    [line] = await logged(server, caplog)
    assert (line["input_tokens"], line["output_tokens"], line["cached_tokens"]) == (1000, 200, 400)
    assert line["cost"] == pytest.approx(COST_4O)
    assert (line["provider"], line["model"], line["family"]) == ("openai", "gpt-4o-2024-08-06", "chat")
    assert (line["status"], line["outcome"], line["stream"]) == (200, "ok", False)
    assert (line["cache_status"], line["metadata"]) == (None, {})
    assert set(line) >= {
        "ts",
        "trace_id",
        "method",
        "path",
        "target",
        "duration_ms",
        "upstream_ms",
        "first_token_ms",
        "gateway_ms",
    }


async def test_a_stream_with_include_usage_logs_its_tokens_and_the_client_gets_the_usage_chunk(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    fake.on(
        "POST",
        "/v1/chat/completions",
        streaming(sse(chunk("Hel"), chunk("lo", "stop"), chunk(None, usage=USAGE_4O))),
    )
    server = await make_gateway(settings_with(server=JSON_LOG))
    async with sdk(server, openai_headers(fake)) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [event async for event in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 200
    [line] = await logged(server, caplog)
    assert (line["input_tokens"], line["output_tokens"], line["cached_tokens"]) == (1000, 200, 400)
    assert line["cost"] == pytest.approx(COST_4O)
    assert line["stream"] is True


async def test_a_stream_without_include_usage_is_relayed_as_asked_and_logs_tokens_as_unknown(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    fake.on("POST", "/v1/chat/completions", streaming(sse(chunk("Hel"), chunk("lo", "stop"))))
    server = await make_gateway(settings_with(server=JSON_LOG))
    async with sdk(server, openai_headers(fake)) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [event async for event in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["Hel", "lo"]
    assert all(c.usage is None for c in chunks)
    assert "stream_options" not in fake.last.json()  # type: ignore[operator]
    [line] = await logged(server, caplog)
    assert (line["input_tokens"], line["output_tokens"], line["cost"]) == (None, None, None)


async def test_a_translated_stream_logs_the_providers_tokens_and_cost(
    make_gateway: GatewayFactory, anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    anthropic.answer(
        Stream(
            events(
                start(input_tokens=100, cache_read_input_tokens=50),
                text_block(),
                text_delta("Hi"),
                block_stop(),
                finish(output_tokens=20),
                STOP,
            )
        )
    )
    server = await make_gateway(settings_with(server=JSON_LOG))
    headers = {"x-portkey-provider": "anthropic", "x-portkey-custom-host": anthropic.base_url}
    async with sdk(server, headers) as client:
        stream = await client.chat.completions.create(
            model="claude-sonnet-4-5-20250929",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            max_tokens=50,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hi"
    [line] = await logged(server, caplog)
    assert (line["input_tokens"], line["output_tokens"], line["cached_tokens"]) == (150, 20, 50)
    assert line["cost"] == pytest.approx((100 * 3.0 + 50 * 0.3 + 20 * 15.0) / 1e6)


async def test_a_realtime_session_logs_its_summed_tokens_and_an_unpriced_model_costs_null(
    make_gateway: GatewayFactory, realtime: FakeRealtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server=JSON_LOG))
    async with open_session(server, provider_headers(realtime)) as ws:
        await session_created(ws)
        for _ in range(2):
            await ws.send(b'{"type":"response.create"}', text=True)
            for _ in response_events():
                await received_text(ws)
    await wait_until(lambda: server.app[REALTIME].active == 0)
    [line] = await logged(server, caplog)
    assert (line["family"], line["status"], line["model"]) == ("realtime", 101, "gpt-realtime")
    assert line["input_tokens"] == 2 * USAGE["input_tokens"]
    assert line["output_tokens"] == 2 * USAGE["output_tokens"]
    assert line["cached_tokens"] == 2 * USAGE["input_token_details"]["cached_tokens"]
    assert line["cost"] is None  # realtime audio prices are not in the table


async def test_a_pricing_file_overrides_the_shipped_price(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai": {"models": {"gpt-4o": {"input": 100.0, "output": 0.0}}}}))

    async def answer(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(
            {"id": "c1", "object": "chat.completion", "model": "gpt-4o", "choices": [], "usage": USAGE_4O}
        )

    fake.on("POST", "/v1/chat/completions", answer)
    settings = Settings(
        server=settings_with(server=JSON_LOG).server, pricing=PricingSettings(file=str(prices))
    )
    server = await make_gateway(settings)
    async with sdk(server, openai_headers(fake)) as client:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    [line] = await logged(server, caplog)
    assert line["cost"] == pytest.approx(1000 * 100.0 / 1e6)


def test_a_bad_pricing_file_stops_start_up_naming_the_file_and_key(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai": {"models": {"gpt-4o": {"input": "cheap", "output": 1}}}}))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--port", str(closed_port())],
        env={"GATEWAY_PRICING_FILE": str(prices), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert (
        f"pricing.file: {prices}: openai.models.gpt-4o.input: expected a non-negative number" in done.stderr
    )
    assert "Traceback" not in done.stderr


async def test_json_lines_for_success_upstream_failure_rejection_and_client_disconnect(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    gone = asyncio.Event()

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + chunk("x") + b"\n\n")
        try:
            await asyncio.sleep(30)  # until the gateway, its client gone, cancels the upstream request
        finally:
            gone.set()
        return response

    fake.on("POST", "/v1/chat/completions", endless)
    server = await make_gateway(settings_with(server=JSON_LOG))
    url = f"http://127.0.0.1:{server.port}"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    metadata = {"x-portkey-metadata": json.dumps({"team": "a\u2028b\x7fc"})}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/v1/chat/completions", json=body, headers={**openai_headers(fake), **metadata}
        ) as response:
            await response.content.readany()  # then leave
        await asyncio.wait_for(gone.wait(), 10)
        async with http.post(
            f"{url}/v1/chat/completions",
            json=body,
            headers={**openai_headers(fake), "x-portkey-custom-host": f"http://127.0.0.1:{closed_port()}/v1"},
        ) as response:
            assert response.status == 502
        async with http.get(
            f"{url}/nowhere%7F%E2%80%A8", headers={"Authorization": f"Bearer {KEY}"}
        ) as response:
            assert response.status == 404
    await server.app[RECORDER].flush()
    raw = [record.getMessage() for record in caplog.records if record.name == "gateway.access"]
    assert all("\x7f" not in line and "\u2028" not in line for line in raw)
    closed, failed, rejected = await logged(server, caplog)
    assert (closed["status"], closed["outcome"], closed["metadata"]) == (
        200,
        "client_closed",
        {"team": "a\u2028b\x7fc"},
    )
    assert (failed["status"], failed["outcome"], failed["provider"]) == (502, "upstream_error", "openai")
    assert (rejected["status"], rejected["outcome"], rejected["path"]) == (
        404,
        "rejected",
        "/nowhere\\x7f\\u2028",
    )
    assert closed["trace_id"] != failed["trace_id"]
