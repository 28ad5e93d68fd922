"""The ``default.log`` check through the wire: a local collector gets the exchange (never the
caller's headers, with the check's own), and a post that fails never changes the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import settings_with
from tests.fake_provider import FakeProvider, Received

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "logged words"}, "finish_reason": "stop"}
    ],
}
SECRET = "sk-marker-secret-123"


class Collector:
    """A local log collector: records what it gets; ``/slow`` answers after 2 s, ``/fail`` a 500."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.port = 0

    def url(self, path: str = "/log") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def log(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.Response(status=500 if request.path == "/fail" else 200)


@pytest.fixture
async def collector(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Collector:
    found = Collector()
    app = web.Application()
    app.router.add_post("/{name}", found.log)
    server = await aiohttp_server(app)
    found.port = server.port or 0
    return found


async def answered(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(ANSWER)


async def chat(server: TestServer, fake: FakeProvider, log: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    config = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "api_key": SECRET,
        "after_request_hooks": [
            {"id": "audit", "deny": True, "checks": [{"id": "default.log", "parameters": log}]}
        ],
    }
    headers = {
        "x-portkey-config": orjson.dumps(config).decode(),
        "x-portkey-metadata": '{"team": "blue"}',
        "x-caller-token": SECRET,
    }
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "log me"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body, headers=headers
        ) as response,
    ):
        return response.status, orjson.loads(await response.read())


def only_check(answer: dict[str, Any]) -> dict[str, Any]:
    [hook] = answer["hook_results"]["after_request_hooks"]
    [check] = hook["checks"]
    assert hook["verdict"] is True
    return check


async def test_log_posts_the_exchange_with_its_headers_and_never_the_callers(
    make_gateway: Any, fake: FakeProvider, collector: Collector
) -> None:
    fake.on("POST", "/v1/chat/completions", answered)
    server = await make_gateway()
    status, answer = await chat(
        server, fake, {"logURL": collector.url(), "headers": {"x-collector-key": "c1"}}
    )
    assert status == 200
    check = only_check(answer)
    assert (check["verdict"], check["error"]) == (True, None)
    [body] = collector.bodies
    assert body["request"]["text"] == "log me"
    assert body["response"]["text"] == "logged words"
    assert (body["eventType"], body["metadata"], body["provider"]) == (
        "afterRequestHook",
        {"team": "blue"},
        "openai",
    )
    assert collector.headers[0]["x-collector-key"] == "c1"
    assert SECRET not in orjson.dumps(collector.bodies).decode() + str(collector.headers)


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("http://169.254.169.254/latest", "refused by the host policy"),
        ("slow", "did not answer in time"),
        ("fail", "answered 500"),
    ],
)
async def test_log_that_cannot_post_still_passes_and_says_why(
    make_gateway: Any, fake: FakeProvider, collector: Collector, where: str, error: str
) -> None:
    fake.on("POST", "/v1/chat/completions", answered)
    server = await make_gateway(settings_with(guardrails={"webhook_timeout": 0.2}))
    url = where if where.startswith("http") else collector.url(f"/{where}")
    status, answer = await chat(server, fake, {"logURL": url})
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "logged words"
    check = only_check(answer)
    assert check["verdict"] is True
    assert error in check["error"]["message"]
    assert error in check["data"]["explanation"]
    assert "169.254" not in orjson.dumps(check).decode()


async def test_log_without_a_url_is_a_400_naming_the_parameter(make_gateway: Any, fake: FakeProvider) -> None:
    server = await make_gateway()
    status, answer = await chat(server, fake, {"headers": {"x": "y"}})
    assert status == 400
    assert "after_request_hooks[0].checks[0].parameters.logURL" in answer["error"]["message"]
    assert fake.received == []
