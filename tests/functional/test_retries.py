"""Config retries: Retry-After honoured, backoff bounded, budgets kept, deterministic errors not retried."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider
from tests.functional.scripted import COMPLETION, Script

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
#: Small backoff so the suite stays fast; Retry-After values still come from the fake.
FAST = {"base_delay": 0.01, "max_delay": 0.05}


@pytest.fixture
async def gateway_url(make_gateway: GatewayFactory) -> str:
    server = await make_gateway(settings_with(retries=FAST))
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(fake: FakeProvider, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url, **fields}


async def call(
    http: aiohttp.ClientSession, gateway_url: str, config: dict[str, Any]
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with http.post(
        f"{gateway_url}/v1/chat/completions", json=CHAT, headers={"x-portkey-config": json.dumps(config)}
    ) as response:
        return response.status, await response.json(), response.headers


async def test_429_with_retry_after_is_retried_after_it_not_before(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((429, {"Retry-After": "1"}), (200, {}))
    fake.on("POST", "/v1/chat/completions", script)
    status, body, headers = await call(http, gateway_url, target(fake, retry={"attempts": 2}))
    assert (status, body) == (200, COMPLETION)
    assert len(script.times) == 2
    assert 0.9 <= script.gaps[0] < 10  # waited for Retry-After (the upper bound only catches a hang)
    assert headers["x-portkey-retry-attempt-count"] == "1"


async def test_retry_after_ms_is_honoured(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((503, {"retry-after-ms": "300"}), (200, {}))
    fake.on("POST", "/v1/chat/completions", script)
    status, _, _ = await call(http, gateway_url, target(fake, retry={"attempts": 1}))
    assert status == 200
    assert script.gaps[0] >= 0.25


async def test_500_once_then_healthy_retries_the_same_target(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    script = Script((500, {}), (200, {}))
    fake.on("POST", "/v1/chat/completions", script)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, retry={"attempts": 3}), target(fake_b)],
    }
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert len(script.times) == 2
    assert fake_b.received == []
    assert headers["x-portkey-last-used-option-index"] == "config.targets[0]"


async def test_persistent_429_gets_bounded_attempts_then_falls_back(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    script = Script((429, {}))
    fake.on("POST", "/v1/chat/completions", script)
    fake_b.on("POST", "/v1/chat/completions", Script((200, {})))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, retry={"attempts": 2}), target(fake_b)],
    }
    status, body, headers = await call(http, gateway_url, config)
    assert (status, body) == (200, COMPLETION)
    assert len(script.times) == 3
    assert len(fake_b.received) == 1
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert all(gap <= FAST["max_delay"] + 1 for gap in script.gaps)  # backoff capped, no long stall


async def test_retry_after_beyond_the_maximum_falls_back_at_once(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", Script((429, {"Retry-After": "120"})))
    fake_b.on("POST", "/v1/chat/completions", Script((200, {})))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, retry={"attempts": 3}), target(fake_b)],
    }
    started = time.monotonic()
    status, _, _ = await call(http, gateway_url, config)
    assert status == 200
    assert len(fake.received) == 1
    assert time.monotonic() - started < 10  # did not wait the two minutes


async def test_a_400_is_never_retried_and_reaches_the_caller_with_the_providers_reason(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", Script((400, {})))
    config = target(fake, retry={"attempts": 3, "on_status_codes": [400, 429]})
    status, body, _ = await call(http, gateway_url, config)
    assert status == 400
    assert body["error"]["message"] == "status 400"
    assert len(fake.received) == 1


async def test_connection_reset_before_headers_is_retried(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((0, {}), (200, {}))
    fake.on("POST", "/v1/chat/completions", script)
    status, body, _ = await call(http, gateway_url, target(fake, retry={"attempts": 1}))
    assert (status, body) == (200, COMPLETION)
    assert len(script.times) == 2


async def test_the_retry_budget_is_not_exceeded(
    http: aiohttp.ClientSession, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(retries={**FAST, "budget": 0.5}))
    fake.on("POST", "/v1/chat/completions", Script((429, {"Retry-After": "1"})))
    status, body, _ = await call(http, f"http://127.0.0.1:{server.port}", target(fake, retry={"attempts": 3}))
    assert status == 429  # the provider's own answer, rather than a wait past the budget
    assert body["error"]["message"] == "status 429"
    assert len(fake.received) == 1


@pytest.mark.parametrize("path", ["/v1/files", "/v1/some/new/thing"])
async def test_a_streamed_upload_is_sent_once_and_its_failure_answered_not_retried(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, path: str
) -> None:
    # An upload streams through the gateway once: a retry would have nothing to send, so the
    # provider's failure comes back at once instead of a retry that waits for a body forever.
    script = Script((500, {}), (200, {}))
    fake.on("POST", path, script)
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", b'{"custom_id": "1"}\n' * 1000, filename="in.jsonl")
    config = target(fake, retry={"attempts": 3, "on_status_codes": [500]})
    async with http.post(
        f"{gateway_url}{path}", data=form, headers={"x-portkey-config": json.dumps(config)}
    ) as response:
        assert response.status == 500
        assert (await response.json())["error"]["message"] == "status 500"
    assert len(script.times) == 1
