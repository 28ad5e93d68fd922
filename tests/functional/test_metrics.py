"""GET /metrics: scraped and parsed after known traffic through a fake provider; counts by label,
bounded model labels, the admin guard beyond loopback, and no credential in the scrape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from gateway.appkeys import RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import eventually, free_port, start_gateway
from tests.functional.scripted import Script

SECRET = "sk-metrics-MARKER-42"
FAST = {"base_delay": 0.01, "max_delay": 0.05}
USAGE = {"prompt_tokens": 7, "completion_tokens": 11, "total_tokens": 18}


def chat(model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession, server: TestServer, headers: dict[str, str], body: Any = None
) -> int:
    body = chat() if body is None else body
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    async with http.post(url, json=body, headers=headers) as response:
        await response.read()
        return response.status


async def scrape(
    http: aiohttp.ClientSession, server: TestServer, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    await server.app[RECORDER].flush()  # the sink runs off the request path
    async with http.get(f"http://127.0.0.1:{server.port}/metrics", headers=headers or {}) as response:
        return response.status, await response.text()


def samples(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def to(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": f"Bearer {SECRET}",
    }


def config(*fakes: FakeProvider, **fields: Any) -> dict[str, str]:
    targets = [{"provider": "openai", "api_key": SECRET, "custom_host": f.base_url} for f in fakes]
    return {"x-portkey-config": json.dumps({"strategy": {"mode": "fallback"}, "targets": targets, **fields})}


async def test_requests_are_counted_by_the_answer_the_client_saw(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway(settings_with(retries=FAST))

    async def with_usage(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"id": "c", "object": "chat.completion", "choices": [], "usage": USAGE})

    fake.on("POST", "/v1/chat/completions", with_usage)
    assert await send(http, server, to(fake)) == 200
    fake_b.on("POST", "/v1/chat/completions", Script((502, {})))
    assert await send(http, server, to(fake_b)) == 502
    assert await send(http, server, to(fake), body=[1, 2]) == 400  # the gateway's own refusal

    fake_b.on("POST", "/v1/chat/completions", Script((503, {}), (200, {})))
    assert await send(http, server, config(fake_b, retry={"attempts": 1})) == 200  # one retry
    fake_b.on("POST", "/v1/chat/completions", Script((503, {})))
    assert await send(http, server, config(fake_b, fake)) == 200  # one fallback

    status, text = await scrape(http, server)
    assert status == 200
    requests = "gateway_requests_total"
    assert samples(text, requests) == 5  # five clients, five requests: retried attempts are not requests
    assert samples(text, requests, outcome="ok", status_class="2xx", family="chat", provider="openai") == 3
    assert samples(text, requests, outcome="upstream_error", status_class="5xx", model="gpt-4o-mini") == 1
    assert samples(text, requests, outcome="gateway_error", status_class="4xx") == 1
    assert samples(text, "gateway_attempts_total") == 7
    assert samples(text, "gateway_attempts_total", outcome="retried") == 1
    assert samples(text, "gateway_retries_total", provider="openai") == 1
    assert samples(text, "gateway_fallbacks_total", provider="openai") == 1
    assert samples(text, "gateway_tokens_total", direction="input", model="gpt-4o-mini") == 14  # 2 answers
    assert samples(text, "gateway_tokens_total", direction="output") == 22
    assert samples(text, "gateway_request_duration_seconds_count", family="chat") == 4
    assert samples(text, "gateway_upstream_headers_seconds_count") == 6
    assert samples(text, "gateway_overhead_seconds_count") > 0
    assert samples(text, "gateway_in_flight_requests") == 0
    assert SECRET not in text
    assert fake.base_url not in text  # no custom host either: targets are fingerprints


async def test_a_connection_failure_that_is_retried_is_one_request(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(retries=FAST))
    fake.on("POST", "/v1/chat/completions", Script((0, {}), (200, {})))  # a reset, then an answer
    assert await send(http, server, config(fake, retry={"attempts": 1})) == 200
    _, text = await scrape(http, server)
    assert samples(text, "gateway_requests_total") == 1
    assert samples(text, "gateway_requests_total", outcome="ok") == 1
    assert samples(text, "gateway_attempts_total", outcome="upstream_error") == 1
    assert samples(text, "gateway_retries_total") == 1


async def test_a_client_that_leaves_a_stream_is_counted_as_client_gone(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    server = await make_gateway()
    started = asyncio.Event()

    async def endless(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        while True:
            await response.write(b'data: {"choices": []}\n\n')
            started.set()
            await asyncio.sleep(0.01)

    fake.on("POST", "/v1/chat/completions", endless)
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    async with http.post(url, json=chat() | {"stream": True}, headers=to(fake)) as response:
        for _ in range(3):  # a few chunks apart: a gap to measure
            await response.content.readany()
        await started.wait()
        _, during = await scrape(http, server)
        assert samples(during, "gateway_open_streams") == 1
    for _ in range(100):  # the gateway hears of the disconnect asynchronously
        _, text = await scrape(http, server)
        if samples(text, "gateway_requests_total", outcome="client_gone"):
            break
        await asyncio.sleep(0.02)
    assert samples(text, "gateway_requests_total", outcome="client_gone") == 1
    assert samples(text, "gateway_first_token_seconds_count") == 1
    assert samples(text, "gateway_stream_longest_gap_seconds_count") == 1
    assert samples(text, "gateway_open_streams") == 0


async def test_a_caller_naming_500_models_stays_under_the_label_cap(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(metrics={"max_model_labels": 20}))
    for n in range(500):
        assert await send(http, server, to(fake), body=chat(f"model-{n}")) == 200
    _, text = await scrape(http, server)
    models = {
        sample.labels["model"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_requests_total"
    }
    assert len(models) == 21
    assert samples(text, "gateway_requests_total", model="other") == 480
    assert samples(text, "gateway_requests_total") == 500


async def test_a_breaker_opening_is_counted_under_its_target_id(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(breaker={"consecutive_failures": 2}))
    fake.on("POST", "/v1/chat/completions", Script((500, {})))
    for _ in range(2):
        assert await send(http, server, config(fake)) == 500
    _, text = await scrape(http, server)
    async with http.get(f"http://127.0.0.1:{server.port}/v1/health/targets") as response:
        (row,) = (await response.json())["targets"]
    assert samples(text, "gateway_breaker_openings_total", provider="openai", target=row["id"]) == 1
    assert samples(text, "gateway_breaker_state", provider="openai", target=row["id"]) == 2  # open
    assert SECRET not in text


async def test_an_error_after_a_fallback_is_the_request_counted(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway(settings_with(breaker={"consecutive_failures": 2}))
    fake.on("POST", "/v1/chat/completions", Script((503, {})))
    fake_b.on("POST", "/v1/chat/completions", Script((500, {})))
    for _ in range(2):  # fake_b's breaker opens
        assert await send(http, server, config(fake_b)) == 500
    # The first target fails and is moved on from; the second's breaker is open: the gateway's 503.
    assert await send(http, server, config(fake, fake_b)) == 503
    _, text = await scrape(http, server)
    assert samples(text, "gateway_requests_total") == 3
    assert samples(text, "gateway_requests_total", status_class="5xx", outcome="gateway_error") == 1
    assert samples(text, "gateway_fallbacks_total") == 1


async def test_beyond_loopback_metrics_need_the_admin_token(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    open_server = await make_gateway(settings_with(server={"host": "0.0.0.0"}))
    status, text = await scrape(http, open_server)
    assert status == 403
    assert "admin_token_required" in text
    server = await make_gateway(settings_with(server={"host": "0.0.0.0"}, admin={"token": "adm-secret"}))
    assert (await scrape(http, server, {"Authorization": "Bearer wrong"}))[0] == 401
    status, text = await scrape(http, server, {"Authorization": "Bearer adm-secret"})
    assert status == 200
    assert "gateway_requests_total" in text or "gateway_requests" in text
    assert "adm-secret" not in text


async def test_with_metrics_off_there_is_no_metrics_endpoint(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    server = await make_gateway(settings_with(metrics={"enabled": False}))
    assert (await scrape(http, server))[0] == 404


async def test_with_two_workers_one_scrape_counts_the_requests_of_both(
    tmp_path: Path, fake: FakeProvider
) -> None:
    gateway = start_gateway(tmp_path, "--workers", "2", port=free_port())
    try:
        await gateway.wait_ready()
        # New connections each: SO_REUSEPORT spreads them over both workers.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(40):
                url = f"{gateway.url}/v1/chat/completions"
                async with http.post(url, json=chat(), headers=to(fake)) as response:
                    assert response.status == 200

            # Each worker writes its counts to the shared files once a second: once one scrape sees
            # them all, every scrape, whichever worker answers it, reads the same files.
            async def all_counted() -> bool:
                async with http.get(f"{gateway.url}/metrics") as response:
                    return samples(await response.text(), "gateway_requests_total", outcome="ok") == 40

            await eventually(all_counted, 10, "both workers' counts in a scrape")
            totals = set()
            for _ in range(8):  # each scrape lands on either worker: every one sees all 40
                async with http.get(f"{gateway.url}/metrics") as response:
                    totals.add(samples(await response.text(), "gateway_requests_total", outcome="ok"))
        assert totals == {40}, gateway.stderr
    finally:
        gateway.kill()
