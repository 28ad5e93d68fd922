"""Custom hosts through the wire: SSRF closed by default, open where the settings say so.

Every refused request is refused before any connection attempt, or points at a name that resolves
to loopback: nothing here leaves 127.0.0.1. ``PRODUCTION`` gateways have ``server.host = 0.0.0.0``
(the test server still binds 127.0.0.1: only the policy changes); the default test gateway listens
on 127.0.0.1, where loopback custom hosts are allowed for local development.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.config.routing import parse_config_value
from gateway.config.settings import Settings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.fake_gemini import service_account_json

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def production(**custom_hosts: Any) -> Settings:
    return settings_with(server={"host": "0.0.0.0"}, custom_hosts=custom_hosts)


async def chat_via(gateway_port: int, custom_host: str) -> Any:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": custom_host}
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway_port}/v1",
        api_key="sk-test",
        default_headers=headers,
        max_retries=0,
    ) as client:
        return await client.chat.completions.with_raw_response.create(**CHAT)


async def post(server: TestServer, headers: dict[str, str], body: Any = None) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body or CHAT, headers=headers
        ) as r,
    ):
        return r.status, await r.json()


async def refused_via(
    server: TestServer, custom_host: str, code: str = "custom_host_not_allowed"
) -> dict[str, Any]:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": custom_host}
    status, body = await post(server, headers)
    assert status == 400
    error: dict[str, Any] = body["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        code,
        "x-portkey-custom-host",
    )
    return error


async def test_loopback_custom_host_is_allowed_while_the_gateway_listens_on_loopback(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    for custom_host in (fake.base_url, f"http://localhost:{fake.port}/v1"):
        response = await chat_via(server.port, custom_host)
        assert response.status_code == 200
        assert response.headers["x-portkey-provider"] == "openai"
    assert [(r.method, r.path) for r in fake.received] == [("POST", "/v1/chat/completions")] * 2


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"])
async def test_loopback_custom_host_is_refused_when_the_gateway_listens_beyond_loopback(
    spelling: str, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production())
    error = await refused_via(server, f"http://{spelling}:{fake.port}/v1")
    assert "loopback" in error["message"]
    assert "custom_hosts.allow" in error["message"]
    assert fake.received == []


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "127.0.0.1", "{port}", "::ffff:127.0.0.0/104"])
async def test_allow_by_cidr_address_or_host_and_port_opens_loopback_in_production(
    allow: str, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    entry = allow.format(port=f"127.0.0.1:{fake.port}")
    server = await make_gateway(production(allow=(entry,)))
    # The IPv4-mapped spelling reaches the fake through the dual-stack resolution of its address.
    custom_host = f"http://[::ffff:127.0.0.1]:{fake.port}/v1" if allow.startswith("::") else fake.base_url
    response = await chat_via(server.port, custom_host)
    assert response.status_code == 200
    assert fake.last.path == "/v1/chat/completions"


@pytest.mark.parametrize("allow", ["models.internal", "127.0.0.1:{other}", "localhost", "10.0.0.0/8"])
async def test_allow_opens_nothing_but_its_entries(
    allow: str, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production(allow=(allow.format(other=fake.port + 1),)))
    await refused_via(server, fake.base_url)
    assert fake.received == []


async def test_allow_public_false_makes_allow_the_only_hosts(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production(allow=(f"127.0.0.1:{fake.port}",), allow_public=False))
    assert (await chat_via(server.port, fake.base_url)).status_code == 200
    # A public host outside the list: refused before any lookup or connection.
    error = await refused_via(server, "https://api.example.com/v1")
    assert "not in custom_hosts.allow" in error["message"]


@pytest.mark.parametrize(
    "custom_host",
    [
        "http://10.0.0.1/v1",
        "http://192.168.1.1:8000/v1",
        "http://100.64.0.1/v1",
        "http://[fd00::1]/v1",
        "http://kubernetes.default.svc/api",
        "http://168.63.129.16/machine",
        "http://192.0.0.192/opc/v2",
    ],
)
async def test_private_and_cluster_custom_hosts_are_refused_before_any_connection(
    custom_host: str, make_gateway: GatewayFactory
) -> None:
    # A long connect timeout: had the gateway dialled the address, the answer would not be quick.
    server = await make_gateway(settings_with(server={"host": "0.0.0.0"}, upstream={"connect_timeout": 30.0}))
    started = time.perf_counter()
    await refused_via(server, custom_host)
    assert time.perf_counter() - started < 10


METADATA = [
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/v1",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://[::169.254.169.254]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",
    "http://169.254.170.2/v1",
    "http://2852039166/latest",
]


@pytest.mark.parametrize("custom_host", METADATA)
@pytest.mark.parametrize("allow", [(), ("169.254.0.0/16", "fd00::/8", "::/0", "metadata.google.internal")])
async def test_cloud_metadata_custom_host_is_refused_before_any_connection(
    custom_host: str, allow: tuple[str, ...], make_gateway: GatewayFactory
) -> None:
    server = await make_gateway(
        settings_with(custom_hosts={"allow": allow}, upstream={"connect_timeout": 30.0})
    )
    started = time.perf_counter()
    error = await refused_via(server, custom_host)
    assert time.perf_counter() - started < 10
    assert "metadata" in error["message"]


async def test_name_resolving_to_loopback_is_refused_at_connect_time(make_gateway: GatewayFactory) -> None:
    # The catalog's local providers (here ollama, at http://localhost:11434) meet the same rule:
    # the name passes, the address it resolves to does not, and nothing is dialled.
    server = await make_gateway(production())
    status, body = await post(server, {"x-portkey-provider": "ollama", "Authorization": "Bearer x"})
    assert status == 400
    error = body["error"]
    assert (error["code"], error["param"]) == ("custom_host_not_allowed", "x-portkey-provider")
    assert "localhost resolves to" in error["message"]
    assert "loopback" in error["message"]


async def test_connect_time_refusal_in_a_fallback_is_a_400_and_never_opens_a_breaker(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production(allow=(f"127.0.0.1:{fake.port}",)))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [{"provider": "ollama"}, {"provider": "openai", "custom_host": fake.base_url}],
    }
    headers = {"x-portkey-config": json.dumps(config), "Authorization": "Bearer x"}
    for _ in range(8):  # more than the breaker's 5 failures in a row
        status, body = await post(server, headers)
        assert (status, body["error"]["code"]) == (400, "custom_host_not_allowed")
        assert body["error"]["param"] == "x-portkey-config"
    assert fake.received == []


async def test_config_custom_host_is_refused_naming_its_config_path(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production())
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [{"provider": "openai"}, {"provider": "openai", "custom_host": fake.base_url}],
    }
    status, body = await post(server, {"x-portkey-config": json.dumps(config), "Authorization": "Bearer x"})
    assert status == 400
    error = body["error"]
    assert (error["code"], error["param"]) == ("custom_host_not_allowed", "x-portkey-config")
    assert error["message"].startswith("config.targets[1].custom_host http://127.0.0.1 is refused")
    assert fake.received == []


async def test_custom_host_in_a_named_config_of_the_settings_is_the_operators_own(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    base = production()
    config = parse_config_value({"provider": "openai", "custom_host": fake.base_url})
    server = await make_gateway(Settings(server=base.server, configs={"local": config}))
    status, _ = await post(server, {"x-portkey-config": "local", "Authorization": "Bearer x"})
    assert status == 200
    # Its host:port counts as allowed (for callers' custom hosts too); other ports do not.
    assert (await chat_via(server.port, fake.base_url)).status_code == 200
    await refused_via(server, f"http://127.0.0.1:{fake.port + 1}/v1")
    assert len(fake.received) == 2


@pytest.mark.parametrize(
    ("custom_host", "problem"),
    [
        ("http://127.0.0.1:{port}/v1?x=", "query"),
        ("http://127.0.0.1:{port}/v1#x", "fragment"),
        ("http://user:s3cret-pw@127.0.0.1:{port}/v1", "user name or password"),
        ("http://127.0.0.1:{port}/v1/../admin", "'..' path segments"),
        ("http://127.0.0.1:{port}/v1/%2E%2e/admin", "'..' path segments"),
        ("http://127.0.0.1:{port}/" + "a" * 2100, "longer than 2048"),
    ],
)
async def test_custom_host_with_query_fragment_userinfo_or_dot_segments_is_a_bad_request(
    custom_host: str, problem: str, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    error = await refused_via(server, custom_host.format(port=fake.port), code="invalid_custom_host")
    assert problem in error["message"]
    assert fake.received == []


async def test_userinfo_password_never_reaches_an_error_or_a_log(
    make_gateway: GatewayFactory, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_gateway(production())
    password = "pw-0f3c9a"
    seen: list[str] = []
    for custom_host in (
        f"http://user:{password}@127.0.0.1:{fake.port}/v1",
        f"http://user:{password}@10.0.0.1/v1",
        f"http://user:{password}@api.example.com/v1",
        f"http://user:{password}@[::1/v1",
    ):
        status, body = await post(
            server, {"x-portkey-provider": "openai", "x-portkey-custom-host": custom_host}
        )
        assert status == 400
        seen.append(json.dumps(body))
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/v1/health/targets") as r,
    ):
        seen.append(await r.text())
    seen.append(caplog.text)
    assert not [text for text in seen if password in text]


@pytest.mark.parametrize(
    "path",
    ["/v1/../x", "/v1/%2e%2e/x", "/v1/%2E./x", "/v1/.%2e/admin", "/v1/./chat/completions", "/v1/..%2fx"],
)
async def test_dot_segments_in_the_request_path_are_refused_not_forwarded(
    path: str, make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    # A raw socket: HTTP clients normalise dot segments away before sending.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: gateway\r\nx-portkey-provider: openai\r\n"
        f"x-portkey-custom-host: {fake.base_url}\r\nConnection: close\r\n\r\n".encode()
    )
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"]["code"] == "invalid_path"
    assert fake.received == []


def redirect_to(location: str) -> Any:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return respond


async def test_vertex_token_uri_redirect_is_not_followed(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    fake.on("POST", "/token", redirect_to(f"http://127.0.0.1:{fake.port}/elsewhere"))
    fake.on("POST", "/elsewhere", redirect_to("http://169.254.169.254/"))
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": fake.base_url.removesuffix("/v1"),
        "x-portkey-vertex-service-account-json": service_account_json(f"http://127.0.0.1:{fake.port}/token"),
    }
    status, body = await post(server, headers, {"model": "gemini-2.0-flash", "messages": CHAT["messages"]})
    assert status == 502
    assert "redirect" in body["error"]["message"]
    assert [r.path for r in fake.received] == ["/token"]


async def test_vertex_token_uri_is_checked_like_a_custom_host(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production(allow=(f"127.0.0.1:{fake.port}",)))
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": fake.base_url.removesuffix("/v1"),
        "x-portkey-vertex-service-account-json": service_account_json("http://169.254.169.254/token"),
    }
    status, body = await post(server, headers, {"model": "gemini-2.0-flash", "messages": CHAT["messages"]})
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == (
        "custom_host_not_allowed",
        "x-portkey-vertex-service-account-json",
    )
    assert fake.received == []


async def test_realtime_custom_host_is_refused_the_same_way(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(production())
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"ws://127.0.0.1:{fake.port}/v1",
        "Authorization": "Bearer sk-test",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    url = f"http://127.0.0.1:{server.port}/v1/realtime?model=gpt-4o-realtime-preview"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert (error["code"], error["param"]) == ("custom_host_not_allowed", "x-portkey-custom-host")
    assert fake.received == []


async def test_realtime_handshake_redirect_is_not_followed(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    fake.on("GET", "/v1/realtime", redirect_to(f"http://127.0.0.1:{fake.port}/elsewhere"))
    url = f"http://127.0.0.1:{server.port}/v1/realtime?model=gpt-4o-realtime-preview"
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer k",
    }
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1011
    assert "redirect" in str(message.extra)
    assert [r.path for r in fake.received] == ["/v1/realtime"]
