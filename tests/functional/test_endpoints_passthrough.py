"""Paths the gateway does not know pass through unchanged; known ones refuse a wrong method with 405;
upstream success codes other than 200 reach the client as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from openai import AsyncOpenAI
from yarl import URL

from tests.fake_provider import FakeProvider, Received
from tests.functional.endpoint_support import KEY, answer, assert_reached, page

RawRequest = tuple[str, str, str]


@pytest.fixture
async def http(gateway_url: str, provider_headers: dict[str, str]) -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp client aimed at the gateway, with the provider headers and the caller's key."""
    headers = {**provider_headers, "Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(base_url=gateway_url, headers=headers) as session:
        yield session


def record_raw(fake: FakeProvider, method: str, path: str, seen: list[RawRequest], body: Any) -> None:
    """Answer ``method path`` with ``body``; note the method, raw path and raw query as received."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        seen.append((request.method, request.raw_path.partition("?")[0], request.rel_url.raw_query_string))
        return web.json_response(body)

    fake.on(method, path, respond)


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        ("GET", b"", None),
        ("POST", b'{"b": 2, "a": [1, 2.50, "\\u00e9"]}', "application/json"),
        ("PUT", b"\x00\x01binary\xff\xfe" * 1000, "application/octet-stream"),
        ("PATCH", b"name=x&value=%20y", "application/x-www-form-urlencoded"),
        ("DELETE", b'{"ids": ["a"]}', "application/json"),
    ],
)
async def test_unknown_v1_path_passes_through_unchanged(
    http: aiohttp.ClientSession,
    gateway_url: str,
    fake: FakeProvider,
    method: str,
    body: bytes,
    content_type: str | None,
) -> None:
    seen: list[RawRequest] = []
    reply = {"object": "new.thing", "ok": True}
    record_raw(fake, method, "/v1/some/new/thing", seen, reply)
    raw_query = "x=1&y=2&y=3&z=a%20b%2Fc&empty=&flag"
    headers = {"Content-Type": content_type} if content_type else {}
    url = URL(f"{gateway_url}/v1/some/new/thing?{raw_query}", encoded=True)
    async with http.request(method, url, data=body or None, headers=headers) as response:
        assert response.status == 200
        assert await response.json() == reply
        assert response.headers["x-portkey-provider"] == "openai"
    received = fake.last
    assert len(fake.received) == 1
    assert seen == [(method, "/v1/some/new/thing", raw_query)]
    assert received.headers["Authorization"] == f"Bearer {KEY}"
    assert received.body == body
    assert received.headers.get("Content-Type") == content_type


async def test_vector_stores_pass_through_from_the_sdk(client: AsyncOpenAI, fake: FakeProvider) -> None:
    store = {
        "id": "vs_abc123",
        "object": "vector_store",
        "created_at": 1699061776,
        "name": "Support FAQ",
        "description": None,
        "usage_bytes": 139920,
        "file_counts": {"in_progress": 0, "completed": 3, "failed": 0, "cancelled": 0, "total": 3},
        "status": "completed",
        "expires_after": None,
        "expires_at": None,
        "last_active_at": 1699061776,
        "metadata": {},
    }
    answer(fake, "POST", "/v1/vector_stores", store)
    answer(fake, "GET", "/v1/vector_stores", page([store], first_id="vs_abc123", last_id="vs_abc123"))

    created = await client.vector_stores.create(name="Support FAQ", file_ids=["file-1", "file-2", "file-3"])
    received = assert_reached(fake, "POST", "/v1/vector_stores")
    assert received.json() == {"name": "Support FAQ", "file_ids": ["file-1", "file-2", "file-3"]}
    # The SDK asks for the beta API version; that header is forwarded by default.
    assert received.headers["OpenAI-Beta"] == "assistants=v2"
    assert created.to_dict() == store

    fake.received.clear()
    listed = await client.vector_stores.list(limit=5, order="desc")
    assert_reached(fake, "GET", "/v1/vector_stores", {"limit": ["5"], "order": ["desc"]})
    assert [item.to_dict() for item in listed.data] == [store]


async def test_encoded_characters_in_a_passed_through_path_stay_encoded(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    seen: list[RawRequest] = []
    record_raw(fake, "GET", "/v1/vector_stores/vs 1/files/a/b", seen, {"ok": True})
    url = URL(f"{gateway_url}/v1/vector_stores/vs%201/files/a%2Fb?filter=%26x%2F", encoded=True)
    async with http.get(url) as response:
        assert response.status == 200
    assert seen == [("GET", "/v1/vector_stores/vs%201/files/a%2Fb", "filter=%26x%2F")]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/chat/completions", "POST, GET"),
        ("GET", "/v1/embeddings", "POST"),
        ("DELETE", "/v1/audio/speech", "POST"),
        ("PATCH", "/v1/files/file-abc123", "GET, DELETE"),
        ("GET", "/v1/batches/batch_abc123/cancel", "POST"),
        ("POST", "/v1/models/meta-llama/Llama-3.3-70B-Instruct", "GET, DELETE"),
    ],
)
async def test_wrong_method_on_a_known_endpoint_is_405_with_allow_and_openai_error(
    http: aiohttp.ClientSession, fake: FakeProvider, method: str, path: str, allow: str
) -> None:
    async with http.request(method, path, json={"model": "gpt-4o-mini"}) as response:
        assert response.status == 405
        assert response.headers["Allow"] == allow
        assert response.content_type == "application/json"
        body = await response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "method_not_allowed"
    assert method in error["message"]
    assert path in error["message"]
    assert fake.received == []


async def test_wrong_method_raises_the_sdks_status_error(client: AsyncOpenAI, fake: FakeProvider) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        await client.get("/embeddings", cast_to=object)
    assert raised.value.status_code == 405
    assert raised.value.code == "method_not_allowed"
    assert fake.received == []


async def test_created_status_and_body_reach_the_client(
    http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    body = {"id": "thing_1", "object": "thing"}
    answer(fake, "POST", "/v1/some/new/thing", body, status=201, headers={"Location": "/v1/some/new/thing/1"})
    async with http.post("/v1/some/new/thing", json={"name": "x"}) as response:
        assert response.status == 201
        assert response.headers["Location"] == "/v1/some/new/thing/1"
        assert await response.json() == body


async def test_accepted_status_on_a_known_endpoint_reaches_the_sdk(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    batch = {
        "id": "batch_1",
        "object": "batch",
        "endpoint": "/v1/embeddings",
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": "validating",
        "created_at": 1711471533,
    }
    answer(fake, "POST", "/v1/batches", batch, status=202)
    raw = await client.batches.with_raw_response.create(
        input_file_id="file-1", endpoint="/v1/embeddings", completion_window="24h"
    )
    assert raw.status_code == 202
    assert raw.parse().to_dict() == batch


@pytest.mark.parametrize("path", ["/v1/some/new/thing/1", "/v1/responses/resp_1"])
async def test_no_content_status_reaches_the_client_without_a_body(
    http: aiohttp.ClientSession, fake: FakeProvider, path: str
) -> None:
    async def no_content(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(status=204)

    fake.on("DELETE", path, no_content)
    async with http.delete(path) as response:
        assert response.status == 204
        assert await response.read() == b""
        assert response.headers.get("Content-Length", "0") == "0"
        assert "Transfer-Encoding" not in response.headers
    assert_reached(fake, "DELETE", path)


async def test_no_content_on_a_known_endpoint_is_fine_for_the_sdk(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    async def no_content(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(status=204)

    fake.on("DELETE", "/v1/responses/resp_1", no_content)
    raw = await client.responses.with_raw_response.delete("resp_1")
    assert raw.status_code == 204
    assert_reached(fake, "DELETE", "/v1/responses/resp_1")


async def test_connection_stays_usable_after_a_no_content_answer(
    http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    async def no_content(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(status=204)

    fake.on("DELETE", "/v1/some/new/thing/1", no_content)
    answer(fake, "GET", "/v1/some/new/thing/2", {"id": "2"})
    for _ in range(3):
        async with http.delete("/v1/some/new/thing/1") as response:
            assert response.status == 204
        async with http.get("/v1/some/new/thing/2") as response:
            assert response.status == 200
            assert await response.json() == {"id": "2"}
    assert [r.method for r in fake.received] == ["DELETE", "GET"] * 3
