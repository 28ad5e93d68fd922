"""``GET /console`` and its live feed, through aiohttp: the page's headers, who may read the feed,
what a snapshot holds after real traffic, and the cap on feed connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import CONSOLE, HEALTH, RECORDER
from gateway.observability.record import RequestRecord
from gateway.routing.identity import target_identity
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import eventually


async def next_event(response: aiohttp.ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next server-sent event: (its name, its JSON data)."""
    event, data = "", b""
    async with asyncio.timeout(5):
        while True:
            line = (await response.content.readline()).rstrip(b"\n")
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                data += line[6:]
            elif not line and data:
                return event, orjson.loads(data)


@contextlib.asynccontextmanager
async def feed(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/console/feed", headers=headers or {}) as response,
    ):
        yield response


async def failing(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response({"error": {"message": "down"}}, status=503)


async def chat(url: str, fake: FakeProvider, model: str, metadata: str = "{}") -> int:
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-marker-provider-key",
        "x-portkey-metadata": metadata,
    }
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/chat/completions?marker=query", json=body, headers=headers) as response,
    ):
        return response.status


async def test_the_page_needs_no_token_and_carries_strict_security_headers(
    make_gateway: GatewayFactory,
) -> None:
    server = await make_gateway(settings_with(server={"host": "0.0.0.0"}, admin={"token": "adm-secret"}))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/console") as page:
            assert page.status == 200
            assert page.content_type == "text/html"
            html = await page.text()
            policy = page.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert "unsafe-inline" not in policy
            assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert '<script src="/console/app.js" defer></script>' in html
        assert "<script>" not in html  # nothing inline, as the policy says
        assert "style=" not in html
        assert "http://" not in html  # nothing loaded from elsewhere
        assert "https://" not in html
        async with http.get(f"http://127.0.0.1:{server.port}/console/app.js") as script:
            assert script.status == 200
            assert script.content_type == "text/javascript"
            assert "innerHTML" not in await script.text()


async def test_beyond_loopback_the_feed_needs_the_admin_token(make_gateway: GatewayFactory) -> None:
    open_server = await make_gateway(settings_with(server={"host": "0.0.0.0"}))
    async with feed(f"http://127.0.0.1:{open_server.port}") as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "admin_token_required"
    server = await make_gateway(settings_with(server={"host": "0.0.0.0"}, admin={"token": "adm-secret"}))
    url = f"http://127.0.0.1:{server.port}"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with feed(url, headers) as response:
            assert response.status == 401
            body = await response.text()
            assert "invalid_admin_token" in body
            assert "adm-secret" not in body
    async with feed(url, {"Authorization": "Bearer adm-secret"}) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        assert (await next_event(response))[0] == "snapshot"


async def test_the_snapshot_shows_traffic_errors_and_the_last_requests(
    make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway()
    url = f"http://127.0.0.1:{server.port}"
    fake_b.on("POST", "/v1/chat/completions", failing)
    metadata = '{"team": "marker-metadata-value"}'
    assert await chat(url, fake, "gpt-4o", metadata) == 200
    assert await chat(url, fake, "gpt-4o") == 200
    assert await chat(url, fake_b, "gpt-4o-mini") == 503
    await server.app[RECORDER].flush()
    async with feed(url) as response:
        raw_event, snapshot = await next_event(response)
        assert raw_event == "snapshot"
        assert (snapshot["requests"], snapshot["errors"]) == (3, 1)
        assert snapshot["errors_by_provider"] == {"openai": 1}
        assert [(m["model"], m["requests"]) for m in snapshot["models"]] == [
            ("gpt-4o", 2),
            ("gpt-4o-mini", 1),
        ]
        assert snapshot["latency_ms"]["duration"]["p50"] > 0
        assert snapshot["in_flight"] == 0
        assert snapshot["open_streams"] == 0
        assert snapshot["realtime_sessions"] == 0
        assert snapshot["breakers"] == []  # single-target requests keep no breaker
        assert [(r["provider"], r["model"], r["status"], r["family"]) for r in snapshot["recent"]] == [
            ("openai", "gpt-4o", 200, "chat"),
            ("openai", "gpt-4o", 200, "chat"),
            ("openai", "gpt-4o-mini", 503, "chat"),
        ]
        text = orjson.dumps(snapshot).decode()
        assert "marker" not in text  # no metadata value, query string or key

        # A request made now arrives as its own event, before the next snapshot says so.
        assert await chat(url, fake, "live-model") == 200
        event, row = await next_event(response)
        while event != "request":
            event, row = await next_event(response)
        assert (row["model"], row["status"], row["outcome"]) == ("live-model", 200, "ok")
        event, snapshot = await next_event(response)
        assert (event, snapshot["requests"]) == ("snapshot", 4)
        assert "recent" not in snapshot


async def test_feed_connections_are_capped(make_gateway: GatewayFactory) -> None:
    server = await make_gateway(settings_with(console={"max_feeds": 2}))
    url = f"http://127.0.0.1:{server.port}"
    async with feed(url) as first, feed(url) as second:
        await next_event(first)
        await next_event(second)
        async with feed(url) as third:
            assert third.status == 503
            assert (await third.json())["error"]["code"] == "console_feeds_busy"
    # Closed feeds free their places.
    await eventually(lambda: not server.app[CONSOLE].feeds, 5, "the closed feeds to be released")
    async with feed(url) as again:
        assert again.status == 200


async def test_a_feed_that_falls_behind_is_ended(make_gateway: GatewayFactory) -> None:
    server: TestServer = await make_gateway()
    sink = server.app[CONSOLE]
    async with feed(f"http://127.0.0.1:{server.port}") as response:
        await next_event(response)
        [watcher] = sink.feeds
        # More rows than a feed may have waiting, all at once: the handler cannot keep up.
        while not watcher.overflowed:
            sink.write(RequestRecord("POST", "/v1/chat/completions", "openai", "t", {}, status=200))
        with contextlib.suppress(aiohttp.ClientPayloadError):
            await asyncio.wait_for(response.content.read(), 5)
    await eventually(lambda: not sink.feeds, 5, "the slow feed to be dropped")


async def test_breaker_states_show_without_the_credential(make_gateway: GatewayFactory) -> None:
    server = await make_gateway()
    key = target_identity("openai", "http://127.0.0.1:9/v1", "gpt-4o", {}, "sk-marker-key")
    for _ in range(5):  # the default consecutive_failures
        server.app[HEALTH].failed(key)
    async with feed(f"http://127.0.0.1:{server.port}") as response:
        _, snapshot = await next_event(response)
    [breaker] = snapshot["breakers"]
    assert (breaker["provider"], breaker["model"], breaker["state"]) == ("openai", "gpt-4o", "open")
    assert "sk-marker-key" not in orjson.dumps(snapshot).decode()


async def test_a_console_switched_off_has_no_routes(make_gateway: GatewayFactory) -> None:
    server = await make_gateway(settings_with(console={"enabled": False}))
    async with aiohttp.ClientSession() as http:
        for path in ("/console", "/console/feed"):
            async with http.get(f"http://127.0.0.1:{server.port}{path}") as response:
                assert response.status == 404
    assert CONSOLE not in server.app
