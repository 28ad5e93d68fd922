"""The request log: one access-log line for every request, refusals included, with sane durations;
failures show at the default log level, whatever the access-log setting."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.appkeys import RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.test_headers import closed_port

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-access-log-MARKER-7"


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


def figures(line: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"(\w+_ms)=(\S+)", line)}


async def post(server: TestServer, path: str, headers: dict[str, str], **kwargs: object) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{server.port}{path}", headers=headers, **kwargs) as response,  # type: ignore[arg-type]
    ):
        await response.read()
        return response.status


async def test_every_request_the_gateway_refuses_gets_one_access_log_line(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(
        settings_with(server={"access_log": True}, limits={"max_json_body_bytes": 1000})
    )
    auth = {"Authorization": f"Bearer {SECRET}"}
    openai = {**auth, "x-portkey-provider": "openai"}
    statuses = [
        # A key pasted into the provider header by mistake: refused, and never logged.
        await post(server, "/v1/chat/completions", {**auth, "x-portkey-provider": SECRET}, json=CHAT),
        await post(server, "/nowhere", auth),
        await post(server, "/healthz", auth),  # GET only
        await post(server, "/v1/chat/completions", openai, json={"pad": "x" * 5000}),
        await post(server, "/v1/chat/completions", {**openai, "Content-Type": "text/plain"}, data="hi"),
    ]
    assert statuses == [400, 404, 405, 413, 415]
    await server.app[RECORDER].flush()
    logged = lines(caplog, "gateway.access")
    assert [int(line.split()[2]) for line in logged] == statuses
    assert logged[0].startswith("POST /v1/chat/completions 400 provider=- outcome=rejected")
    assert logged[1].startswith("POST /nowhere 404 provider=- outcome=rejected")
    for line in logged:
        assert all(value >= 0 for value in figures(line).values())
    assert SECRET not in caplog.text


async def test_a_failed_upstream_is_logged_once_with_no_negative_duration(
    make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    headers = {
        "Authorization": f"Bearer {SECRET}",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{closed_port()}/v1",
    }
    assert await post(server, "/v1/chat/completions", headers, json=CHAT) == 502
    await server.app[RECORDER].flush()
    [line] = lines(caplog, "gateway.access")
    assert " 502 provider=openai outcome=upstream_error " in line
    timings = figures(line)
    assert timings["upstream_ms"] >= 0
    assert timings["duration_ms"] >= timings["upstream_ms"]


async def unavailable(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response({"error": {"message": "down"}}, status=503)


async def test_failures_get_one_warning_at_the_default_level_and_caller_errors_none(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the default level: INFO, access log off
    server = await make_gateway()
    closed = {"x-portkey-custom-host": f"http://127.0.0.1:{closed_port()}/v1"}
    base = {"Authorization": f"Bearer {SECRET}", "x-portkey-provider": "openai"}
    fake.on("POST", "/v1/chat/completions", unavailable)
    statuses = [
        await post(server, "/v1/chat/completions", {**base, **closed}, json=CHAT),
        await post(
            server, "/v1/chat/completions", {**base, "x-portkey-custom-host": fake.base_url}, json=CHAT
        ),
        await post(server, "/v1/chat/completions", {**base, "x-portkey-metadata": "[1]"}, json=CHAT),
    ]
    assert statuses == [502, 503, 400]
    await server.app[RECORDER].flush()
    warned = lines(caplog, "gateway.failures")
    assert len(warned) == 2
    assert warned[0].startswith("POST /v1/chat/completions 502 provider=openai outcome=upstream_error")
    assert warned[1].startswith("POST /v1/chat/completions 503 provider=openai outcome=ok")
    assert all(
        record.levelno == logging.WARNING for record in caplog.records if record.name == "gateway.failures"
    )
    assert lines(caplog, "gateway.access") == []
    assert SECRET not in caplog.text
