"""x-portkey-custom-host through the wire: open by default, an optional allowlist, metadata refused.

Requests that must be refused never get a connection attempt, so nothing here leaves 127.0.0.1.
Metadata addresses allowed by ``allow_metadata`` are not dialled from here (they would leave the
machine); ``tests/unit/test_hostguard.py`` covers that side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def chat_via(gateway_port: int, custom_host: str) -> Any:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": custom_host}
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway_port}/v1",
        api_key="sk-test",
        default_headers=headers,
        max_retries=0,
    ) as client:
        return await client.chat.completions.with_raw_response.create(**CHAT)


async def refused_via(gateway_port: int, custom_host: str, expected: type[openai.APIStatusError]) -> Any:
    with pytest.raises(expected) as caught:
        await chat_via(gateway_port, custom_host)
    error = caught.value.response.json()["error"]
    assert error["param"] == "x-portkey-custom-host"
    return error


async def test_any_custom_host_is_allowed_by_default(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    response = await chat_via(server.port, fake.base_url)
    assert response.status_code == 200
    assert response.headers["x-portkey-provider"] == "openai"
    assert [(r.method, r.path) for r in fake.received] == [("POST", "/v1/chat/completions")]


async def test_custom_host_given_by_name_is_resolved_and_used(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway()
    response = await chat_via(server.port, f"http://localhost:{fake.port}/v1")
    assert response.status_code == 200
    assert fake.last.path == "/v1/chat/completions"


ALLOWED: list[Callable[[int], tuple[str, ...]]] = [
    lambda port: ("127.0.0.1",),
    lambda port: (f"127.0.0.1:{port}",),
    lambda port: ("models.internal", f"127.0.0.1:{port}"),
]


@pytest.mark.parametrize("allow", ALLOWED, ids=["host", "host-and-port", "one-of-several"])
async def test_allowlisted_custom_host_is_used(
    allow: Callable[[int], tuple[str, ...]], make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(custom_hosts={"allow": allow(fake.port)}))
    response = await chat_via(server.port, fake.base_url)
    assert response.status_code == 200
    assert fake.last.path == "/v1/chat/completions"


REFUSED: list[Callable[[int], tuple[str, ...]]] = [
    lambda port: ("models.internal",),
    lambda port: (f"127.0.0.1:{port + 1}",),
    lambda port: ("localhost",),
]


@pytest.mark.parametrize("allow", REFUSED, ids=["other-host", "other-port", "other-name-same-address"])
async def test_custom_host_outside_the_allowlist_is_a_permission_error(
    allow: Callable[[int], tuple[str, ...]], make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    server = await make_gateway(settings_with(custom_hosts={"allow": allow(fake.port)}))
    error = await refused_via(server.port, fake.base_url, openai.PermissionDeniedError)
    assert (error["type"], error["code"]) == ("permission_error", "custom_host_not_allowed")
    assert "custom_hosts.allow" in error["message"]
    assert fake.received == []


METADATA = [
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/v1",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://169.254.170.2/v1",
]


@pytest.mark.parametrize("custom_host", METADATA)
@pytest.mark.parametrize("allow", [(), ("169.254.169.254", "fd00:ec2::254", "metadata.google.internal")])
async def test_cloud_metadata_custom_host_is_refused_before_any_connection(
    custom_host: str, allow: tuple[str, ...], make_gateway: GatewayFactory
) -> None:
    # A long connect timeout: had the gateway dialled the address, the answer would not be quick.
    server = await make_gateway(
        settings_with(custom_hosts={"allow": allow}, upstream={"connect_timeout": 30.0})
    )
    started = time.perf_counter()
    error = await refused_via(server.port, custom_host, openai.PermissionDeniedError)
    assert time.perf_counter() - started < 10
    assert (error["type"], error["code"]) == ("permission_error", "custom_host_not_allowed")
    assert "metadata" in error["message"]


@pytest.mark.parametrize(
    "custom_host",
    [
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "127.0.0.1:8000/v1",
        "http:///v1",
        "http://" + "a" * 64 + ".test/v1",
    ],
)
async def test_custom_host_that_is_not_an_http_url_with_a_host_is_a_bad_request(
    custom_host: str, make_gateway: GatewayFactory
) -> None:
    server = await make_gateway()
    error = await refused_via(server.port, custom_host, openai.BadRequestError)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_custom_host")
    assert "http(s) or ws(s) URL" in error["message"]
