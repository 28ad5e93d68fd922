"""Guardrails in /metrics and in the access log: after known traffic through one gateway (a denied
input, a failed output, passing checks, a check that could not decide), each check counted by
event and verdict, timed, denials counted by event, and the hooks' verdict and time on each line."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.test_metrics import samples

SECRET = "sk-guard-MARKER-77"
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "an Apple pie"}, "finish_reason": "stop"}
    ],
}
#: Portkey's event names, as the ``event`` label has them.
BEFORE, AFTER = "beforeRequestHook", "afterRequestHook"


async def answered(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(ANSWER)


def hooked(fake: FakeProvider, **hooks: Any) -> dict[str, str]:
    config = {"provider": "openai", "custom_host": fake.base_url, "api_key": SECRET, **hooks}
    return {"x-portkey-config": orjson.dumps(config).decode(), "Authorization": f"Bearer {SECRET}"}


def check(check_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": check_id, "parameters": parameters}


async def send(server: TestServer, headers: dict[str, str], text: str) -> int:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body, headers=headers
        ) as response,
    ):
        await response.read()
        return response.status


async def traffic(server: TestServer, fake: FakeProvider) -> None:
    """A denied input (446), a failed output that does not deny (246), all passing (200), and a
    log check whose post is refused (it passes, with an error)."""
    fake.on("POST", "/v1/chat/completions", answered)
    digits = [{"id": "in", "deny": True, "checks": [check("default.regexMatch", rule=r"\d+")]}]
    no_apple = [{"id": "out", "checks": [check("default.contains", operator="none", words=["Apple"])]}]
    logged = [{"id": "log", "checks": [check("default.log", logURL="http://169.254.169.254/x")]}]
    assert await send(server, hooked(fake, before_request_hooks=digits), "no digits") == 446
    assert await send(server, hooked(fake, after_request_hooks=no_apple), "hello") == 246
    assert await send(server, hooked(fake, before_request_hooks=digits), "order 42") == 200
    assert await send(server, hooked(fake, after_request_hooks=logged), "hello") == 200
    await server.app[RECORDER].flush()


async def test_checks_are_counted_by_event_and_verdict_and_timed(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    await traffic(server, fake)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}/metrics") as response,
    ):
        text = await response.text()
    counted = "gateway_guardrail_checks_total"
    assert samples(text, counted, check="default.regexMatch", event=BEFORE, verdict="fail") == 1
    assert samples(text, counted, check="default.regexMatch", event=BEFORE, verdict="pass") == 1
    assert samples(text, counted, check="default.contains", event=AFTER, verdict="fail") == 1
    assert samples(text, counted, check="default.log", event=AFTER, verdict="error") == 1
    assert samples(text, counted) == 4
    assert samples(text, "gateway_guardrail_check_seconds_count", check="default.regexMatch") == 2
    assert samples(text, "gateway_guardrail_denied_total", event=BEFORE) == 1
    assert samples(text, "gateway_guardrail_denied_total") == 1
    assert SECRET not in text
    assert "169.254" not in text


async def test_access_log_lines_carry_the_hooks_verdict_and_time(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True, "access_log_format": "json"}))
    await send(server, {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}, "plain")
    await traffic(server, fake)
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.access"]
    assert [(line["status"], line["guardrails"]) for line in lines] == [
        (200, None),
        (446, "denied"),
        (246, "failed"),
        (200, "passed"),
        (200, "passed"),
    ]
    assert all(line["guardrail_ms"] > 0 for line in lines[1:])
    assert lines[0]["guardrail_ms"] == 0
    assert SECRET not in caplog.text


async def test_text_access_log_line_ends_with_the_hooks_verdict(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    await traffic(server, fake)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert [line.split(" guardrails=")[1].split()[0] for line in lines] == [
        "denied",
        "failed",
        "passed",
        "passed",
    ]
    assert all(" guardrail_ms=" in line for line in lines)
