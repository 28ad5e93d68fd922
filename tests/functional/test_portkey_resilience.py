"""Portkey's resilience keys through real sockets: retry.use_retry_after_header(s), node-level
on_status_codes, request_timeout per attempt (a 408 retry and fallback can name) within the
request's deadline, cb_config, and content-policy refusals returned rather than routed around."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from tests.clock import ManualClock
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.scripted import COMPLETION, Script

PATH = "/v1/chat/completions"
CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
#: Small backoff so the suite stays fast.
FAST = {"base_delay": 0.01, "max_delay": 0.05}
#: Azure OpenAI's refusal of a prompt, as its API answers it (400).
AZURE_REFUSAL = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"hate": {"filtered": True}},
        },
    }
}
#: OpenAI's refusal (images, moderation-gated models).
OPENAI_REFUSAL = {
    "error": {
        "code": "content_policy_violation",
        "message": "Your request was rejected as a result of our safety system.",
        "param": None,
        "type": "invalid_request_error",
    }
}


@pytest.fixture
async def gateway_url(make_gateway: GatewayFactory) -> str:
    server = await make_gateway(settings_with(retries=FAST))
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ok() -> Script:
    return Script((200, {}, None))


def target(fake: FakeProvider, key: str = "sk-x", **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": key, "custom_host": fake.base_url, **fields}


def fallback(*targets: dict[str, Any], **strategy: Any) -> dict[str, Any]:
    return {"strategy": {"mode": "fallback", **strategy}, "targets": list(targets)}


async def call(
    http: aiohttp.ClientSession, gateway_url: str, config: dict[str, Any], **headers: str
) -> tuple[int, bytes, Any]:
    async with http.post(
        f"{gateway_url}{PATH}", json=CHAT, headers={"x-portkey-config": json.dumps(config), **headers}
    ) as response:
        return response.status, await response.read(), response.headers


# -- retry.use_retry_after_header(s) ------------------------------------------------------------


async def test_portkeys_fallback_with_use_retry_after_header_is_served_and_waits_for_the_hint(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    script = Script((429, {"retry-after-ms": "300"}, None), (200, {}, None))
    fake.on("POST", PATH, script)
    fake_b.on("POST", PATH, ok())
    config = fallback(target(fake), target(fake_b), on_status_codes=[429, 500])
    config["retry"] = {"attempts": 2, "use_retry_after_header": True}
    status, body, headers = await call(http, gateway_url, config)
    assert (status, json.loads(body)) == (200, COMPLETION)
    assert script.gaps[0] >= 0.25  # waited as the provider asked
    assert headers["x-portkey-retry-attempt-count"] == "1"
    assert headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert fake_b.received == []


async def test_use_retry_after_headers_false_retries_on_backoff_instead_of_the_providers_long_wait(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((429, {"Retry-After": "120", "x-ms-retry-after-ms": "120000"}, None), (200, {}, None))
    fake.on("POST", PATH, script)
    started = time.monotonic()
    config = target(fake, retry={"attempts": 1, "use_retry_after_headers": False})
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert len(script.times) == 2
    assert time.monotonic() - started < 5  # the two minutes asked for were not waited
    assert headers["x-portkey-retry-attempt-count"] == "1"


async def test_azures_retry_after_ms_hint_is_honoured_by_default(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((503, {"x-ms-retry-after-ms": "300"}, None), (200, {}, None))
    fake.on("POST", PATH, script)
    status, _, _ = await call(http, gateway_url, target(fake, retry={"attempts": 1}))
    assert status == 200
    assert script.gaps[0] >= 0.25


async def test_the_two_spellings_disagreeing_is_a_400_naming_the_field(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    retry = {"attempts": 1, "use_retry_after_header": True, "use_retry_after_headers": False}
    status, body, _ = await call(http, gateway_url, target(fake, retry=retry))
    assert status == 400
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_config"
    assert "config.retry.use_retry_after_headers" in error["message"]
    assert fake.received == []


# -- on_status_codes on a node ------------------------------------------------------------------


async def test_a_targets_own_on_status_codes_decide_when_the_fallback_leaves_it(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_b.on("POST", PATH, ok())
    config = fallback(target(fake, on_status_codes=[503]), target(fake_b), on_status_codes=[429, 503])

    fake.on("POST", PATH, Script((429, {}, None)))
    status, body, headers = await call(http, gateway_url, config)
    assert status == 429  # the strategy names 429, but this target only lets 503 move on
    assert json.loads(body)["error"]["message"] == "status 429"
    assert headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert fake_b.received == []

    fake.on("POST", PATH, Script((503, {}, None)))
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"


async def test_on_status_codes_at_a_fallback_nodes_top_level_apply_to_its_targets(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((500, {}, None)))
    fake_b.on("POST", PATH, ok())
    config = {**fallback(target(fake), target(fake_b)), "on_status_codes": [429]}
    status, _, _ = await call(http, gateway_url, config)
    assert status == 500
    assert fake_b.received == []


# -- request_timeout per attempt ----------------------------------------------------------------


async def test_a_timed_out_attempt_is_retried_when_the_retry_codes_name_408(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((2.0, {}, None), (200, {}, None))
    fake.on("POST", PATH, script)
    config = target(fake, request_timeout=150, retry={"attempts": 1, "on_status_codes": [408]})
    status, body, headers = await asyncio.wait_for(call(http, gateway_url, config), 10)
    assert (status, json.loads(body)) == (200, COMPLETION)
    assert len(script.times) == 2
    assert headers["x-portkey-retry-attempt-count"] == "1"


async def test_a_timed_out_attempt_is_a_408_naming_the_provider_not_retried_by_default_codes(
    gateway_url: str, fake: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((2.0, {}, None)))
    config = json.dumps(target(fake, request_timeout=150, retry={"attempts": 3}))
    client = openai.AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers={"x-portkey-config": config},
        max_retries=0,
    )
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as raised:
        await client.chat.completions.create(**CHAT)
    assert raised.value.status_code == 408
    body = raised.value.body
    assert isinstance(body, dict)
    assert (body["type"], body["code"]) == ("timeout_error", "request_timeout")
    for part in ("openai", "(config)", "150 ms"):
        assert part in body["message"]
    assert "sk-x" not in body["message"]
    assert len(fake.received) == 1  # Portkey's default retry codes leave 408 out
    assert time.monotonic() - started < 10  # a hang bound: the 408 itself shows the attempt was cut


async def test_a_fallback_moves_on_from_a_timed_out_attempt_only_when_its_codes_allow(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((2.0, {}, None)))
    fake_b.on("POST", PATH, ok())
    slow = target(fake, request_timeout=150)

    status, body, _ = await call(http, gateway_url, fallback(slow, target(fake_b), on_status_codes=[429]))
    assert status == 408
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert fake_b.received == []

    status, _, headers = await call(http, gateway_url, fallback(slow, target(fake_b), on_status_codes=[408]))
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"


async def test_the_callers_deadline_bounds_the_whole_request_across_retries(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    script = Script((2.0, {}, None))
    fake.on("POST", PATH, script)
    config = target(fake, request_timeout=200, retry={"attempts": 10, "on_status_codes": [408]})
    started = time.monotonic()
    status, body, _ = await call(http, gateway_url, config, **{"x-portkey-request-timeout": "500"})
    elapsed = time.monotonic() - started
    assert status == 408
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert "x-portkey-request-timeout" in error["message"]
    assert elapsed >= 0.45  # not before the caller's deadline (the upper bound only catches a hang)
    assert elapsed < 10
    assert 2 <= len(script.times) <= 3  # retried within the deadline, and no further


async def test_the_settings_deadline_bounds_a_fallback_chain(
    http: aiohttp.ClientSession, make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    server = await make_gateway(settings_with(retries=FAST, upstream={"request_timeout": 0.4}))
    fake.on("POST", PATH, Script((2.0, {}, None)))
    fake_b.on("POST", PATH, Script((2.0, {}, None)))
    started = time.monotonic()
    config = fallback(target(fake, request_timeout=250), target(fake_b, request_timeout=250))
    status, body, _ = await call(http, f"http://127.0.0.1:{server.port}", config)
    assert status == 504
    assert json.loads(body)["error"]["code"] == "upstream_timeout"
    # 504 upstream_timeout, not a per-attempt 408: the settings' deadline ended the chain (this
    # upper bound only catches a hang).
    assert time.monotonic() - started < 10


# -- cb_config -----------------------------------------------------------------------------------


async def test_cb_config_failure_threshold_opens_the_breaker_and_its_cooldown_lets_a_probe_through(
    http: aiohttp.ClientSession, make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    clock = ManualClock()
    server = await make_gateway(settings_with(retries=FAST), clock=clock)
    gateway_url = f"http://127.0.0.1:{server.port}"
    fake.on("POST", PATH, Script((503, {}, None), (200, {}, None)))
    fake_b.on("POST", PATH, ok())
    cb = {"failure_threshold": 1, "cooldown_interval": 1000}
    config = {"strategy": {"mode": "fallback", "cb_config": cb}, "targets": [target(fake), target(fake_b)]}

    for expected in ("config.targets[1]", "config.targets[1]"):
        status, _, headers = await call(http, gateway_url, config)
        assert (status, headers["x-portkey-last-used-option-index"]) == (200, expected)
    assert len(fake.received) == 1  # one failure opened it: the second request skipped the primary

    clock.advance(1.1)  # the config's cooldown (1 s), not the settings' 30 s
    status, _, headers = await call(http, gateway_url, config)
    assert (status, headers["x-portkey-last-used-option-index"]) == (200, "config.targets[0]")
    assert len(fake.received) == 2


async def test_cb_config_failure_status_codes_decide_what_counts(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((401, {}, None)))
    fake_b.on("POST", PATH, ok())

    def config(cb: dict[str, Any] | None, key: str) -> dict[str, Any]:
        node = fallback(target(fake, key), target(fake_b, key))
        return {**node, "cb_config": cb} if cb else node

    # Without cb_config a 401 is the caller's business: the primary keeps being tried.
    for _ in range(6):
        await call(http, gateway_url, config(None, "sk-plain"))
    assert len(fake.received) == 6

    counted = config({"failure_threshold": 2, "failure_status_codes": [401, 429]}, "sk-strict")
    for _ in range(4):
        status, _, _ = await call(http, gateway_url, counted)
        assert status == 200
    assert len(fake.received) == 6 + 2  # two 401s opened this key's breaker


async def test_one_configs_cb_config_never_changes_how_another_keys_target_is_treated(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((503, {}, None)))
    fake_b.on("POST", PATH, ok())
    eager = {
        **fallback(target(fake, "sk-tenant-a"), target(fake_b, "sk-tenant-a")),
        "cb_config": {"failure_threshold": 1},
    }
    plain = fallback(target(fake, "sk-tenant-b"), target(fake_b, "sk-tenant-b"))

    def calls(key: str) -> int:
        return sum(1 for r in fake.received if r.headers["Authorization"] == f"Bearer {key}")

    await call(http, gateway_url, eager)  # opens tenant A's breaker at once
    answers = await asyncio.gather(*(call(http, gateway_url, config) for config in [eager] * 5 + [plain] * 2))
    assert [status for status, _, _ in answers] == [200] * 7
    assert calls("sk-tenant-a") == 1
    assert calls("sk-tenant-b") == 2  # tenant B's primary, same host and model, is still tried


@pytest.mark.parametrize(
    ("cb_config", "path"),
    [
        ({"failure_threshold_percentage": 150}, "config.cb_config.failure_threshold_percentage"),
        ({"failure_threshold": 0}, "config.cb_config.failure_threshold"),
        ({"cooldown_interval": "60s"}, "config.cb_config.cooldown_interval"),
        ({"failure_status_codes": [700]}, "config.cb_config.failure_status_codes"),
    ],
)
async def test_a_bad_cb_config_is_a_400_naming_the_field(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, cb_config: dict[str, Any], path: str
) -> None:
    status, body, _ = await call(http, gateway_url, target(fake, cb_config=cb_config))
    assert status == 400
    assert path in json.loads(body)["error"]["message"]
    assert fake.received == []


# -- content-policy refusals ---------------------------------------------------------------------


async def chunked(body: dict[str, Any], status: int) -> Any:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        raw = json.dumps(body).encode()
        await response.write(raw[:40])
        await response.write(raw[40:])
        await response.write_eof()
        return response

    return respond


@pytest.mark.parametrize("refusal", [AZURE_REFUSAL, OPENAI_REFUSAL], ids=["azure", "openai"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_content_policy_refusal_reaches_the_caller_instead_of_the_fallback(
    http: aiohttp.ClientSession,
    gateway_url: str,
    fake: FakeProvider,
    fake_b: FakeProvider,
    refusal: dict[str, Any],
    framing: str,
) -> None:
    responder = await chunked(refusal, 400) if framing == "chunked" else Script((400, {}, refusal))
    fake.on("POST", PATH, responder)
    fake_b.on("POST", PATH, ok())
    status, body, headers = await call(http, gateway_url, fallback(target(fake), target(fake_b)))
    assert status == 400
    assert json.loads(body) == refusal  # the provider's own answer, every byte
    assert headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert fake_b.received == []


async def test_a_refusal_moves_on_when_the_config_names_400(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", PATH, Script((400, {}, AZURE_REFUSAL)))
    fake_b.on("POST", PATH, ok())
    status, _, headers = await call(
        http, gateway_url, fallback(target(fake), target(fake_b), on_status_codes=[400])
    )
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"


async def test_another_400_still_moves_on_and_a_large_one_is_not_read_as_a_refusal(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake_b.on("POST", PATH, ok())
    config = fallback(target(fake), target(fake_b))
    fake.on(
        "POST", PATH, Script((400, {}, {"error": {"code": "invalid_value", "type": "invalid_request_error"}}))
    )
    status, _, _ = await call(http, gateway_url, config)
    assert status == 200
    huge = {"error": {"code": "content_filter", "message": "x" * 20_000}}
    fake.on("POST", PATH, await chunked(huge, 400))
    status, _, headers = await call(http, gateway_url, config)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert len(fake_b.received) == 2
