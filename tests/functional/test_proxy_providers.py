"""Pass-through providers (replicate, meshy, tripo3d, qdrant, milvus): the caller's request in the
provider's own API reaches the provider's path with its auth, byte for byte, and the answer comes
back as it was; OpenAI endpoints are refused with a clear 400; Qdrant and Milvus need a custom host.

Each provider is reached through a custom host pointing at the fake: it replaces the provider's
base URL, so the fake sees exactly the path the real provider would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI, BadRequestError
from yarl import URL

from gateway.config.settings import ProviderSettings
from gateway.providers.base import ClientBody, UpstreamCall
from gateway.providers.registry import ProviderRegistry
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received

KEY = "r8_secret-marker-key-0123456789"


@dataclass(frozen=True)
class Case:
    """One provider's own request: what the caller sends, and where and how it must arrive."""

    slug: str
    #: The path the custom host ends with (the real base URL's path).
    base_path: str
    method: str
    #: The request path after the gateway's /v1, with its query.
    path: str
    #: The path the provider receives.
    expected_path: str
    #: The auth header the provider receives.
    auth: tuple[str, str]


CASES = [
    Case("replicate", "/v1", "POST", "/predictions", "/v1/predictions", ("Authorization", f"Bearer {KEY}")),
    Case(
        "replicate",
        "/v1",
        "GET",
        "/predictions/gm3qorzdhgbf",
        "/v1/predictions/gm3qorzdhgbf",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case(
        "replicate",
        "/v1",
        "GET",
        "/models/black-forest-labs/flux-schnell",
        "/v1/models/black-forest-labs/flux-schnell",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case(
        "meshy",
        "/openapi",
        "POST",
        "/text-to-3d",
        "/openapi/v2/text-to-3d",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case(
        "meshy",
        "/openapi",
        "GET",
        "/text-to-3d/0193bfc5/stream",
        "/openapi/v2/text-to-3d/0193bfc5/stream",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case(
        "meshy",
        "/openapi",
        "POST",
        "/image-to-3d",
        "/openapi/v1/image-to-3d",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case("tripo3d", "/v2/openapi", "POST", "/task", "/v2/openapi/task", ("Authorization", f"Bearer {KEY}")),
    Case(
        "tripo3d",
        "/v2/openapi",
        "GET",
        "/task/07764597-9c93",
        "/v2/openapi/task/07764597-9c93",
        ("Authorization", f"Bearer {KEY}"),
    ),
    Case(
        "qdrant",
        "",
        "PUT",
        "/collections/docs/points?wait=true",
        "/collections/docs/points",
        ("api-key", KEY),
    ),
    Case(
        "qdrant",
        "",
        "POST",
        "/collections/docs/points/query",
        "/collections/docs/points/query",
        ("api-key", KEY),
    ),
    Case(
        "milvus",
        "",
        "POST",
        "/v2/vectordb/entities/search",
        "/v2/vectordb/entities/search",
        ("Authorization", f"Bearer {KEY}"),
    ),
]
#: A body with bytes a re-encoding would change: key order, spacing, float spelling, escapes.
BODY = b'{"z": 1, "input": {"prompt": "a \\u00e9 cat", "scale": 7.50}, "vector": [0.10, -2e-3]}'
SLUGS = ("replicate", "meshy", "tripo3d", "qdrant", "milvus", "sagemaker")


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateway_url) as session:
        yield session


def headers_for(case: Case, fake: FakeProvider, **extra: str) -> dict[str, str]:
    return {
        "x-portkey-provider": case.slug,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}{case.base_path}",
        "Authorization": f"Bearer {KEY}",
        **extra,
    }


@pytest.mark.parametrize("case", CASES, ids=[f"{c.slug}-{c.method}-{c.path}" for c in CASES])
async def test_the_providers_own_request_reaches_its_path_with_its_auth_byte_for_byte(
    case: Case, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    reply = b'{"id": "task_1",  "status": "starting", "urls": {"get": "x"}}'

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(status=201, body=reply, content_type="application/json")

    fake.on(case.method, case.expected_path, respond)
    body = BODY if case.method in ("POST", "PUT") else None
    content = {"Content-Type": "application/json"} if body else {}
    url = URL(f"/v1{case.path}", encoded=True)
    async with http.request(
        case.method, url, data=body, headers=headers_for(case, fake, **content)
    ) as response:
        assert response.status == 201
        assert await response.read() == reply
        assert response.headers["x-portkey-provider"] == case.slug

    assert len(fake.received) == 1
    received = fake.last
    assert (received.method, received.path) == (case.method, case.expected_path)
    assert received.query == URL(case.path).query_string
    assert received.body == (body or b"")
    name, value = case.auth
    assert received.headers[name] == value
    other = "api-key" if name == "Authorization" else "Authorization"
    assert other not in received.headers  # the key goes once, in the provider's own form


async def test_callers_at_once_each_reach_their_provider_with_their_own_key(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    cases = [c for c in CASES if c.method == "POST"] * 3

    async def call(i: int, case: Case) -> int:
        key = f"key-of-caller-{i}"
        headers = {**headers_for(case, fake), "Authorization": f"Bearer {key}"}
        async with http.post(f"/v1{case.path}", data=b'{"caller": %d}' % i, headers=headers) as response:
            return response.status

    statuses = await asyncio.gather(*(call(i, case) for i, case in enumerate(cases)))
    assert statuses == [200] * len(cases)
    arrived = {
        (r.path, r.body, r.headers.get("api-key") or r.headers["Authorization"]) for r in fake.received
    }
    expected = set()
    for i, case in enumerate(cases):
        key = f"key-of-caller-{i}"
        expected.add(
            (case.expected_path, b'{"caller": %d}' % i, key if case.auth[0] == "api-key" else f"Bearer {key}")
        )
    assert arrived == expected


async def test_replicate_gets_the_prefer_wait_header(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    case = CASES[0]
    headers = headers_for(case, fake, **{"Prefer": "wait=5", "Content-Type": "application/json"})
    async with http.post("/v1/predictions", data=BODY, headers=headers) as response:
        assert response.status == 200
    assert fake.last.headers["Prefer"] == "wait=5"


async def test_a_header_the_provider_does_not_read_is_not_forwarded(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    case = next(c for c in CASES if c.slug == "tripo3d")
    async with http.post("/v1/task", data=BODY, headers=headers_for(case, fake, Prefer="wait")) as response:
        assert response.status == 200
    assert "Prefer" not in fake.last.headers


@pytest.mark.parametrize("slug", SLUGS)
async def test_openai_endpoints_are_refused_with_a_clear_400_and_nothing_is_sent(
    slug: str, fake: FakeProvider, gateway_url: str
) -> None:
    headers = {
        "x-portkey-provider": slug,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-aws-region": "us-east-1",
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0
    ) as sdk:
        with pytest.raises(BadRequestError) as raised:
            await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(BadRequestError) as embeddings:
            await sdk.embeddings.create(model="m", input="hi")

    for error in (raised.value.body, embeddings.value.body):
        assert isinstance(error, dict)
        assert error["code"] == "unsupported_endpoint"
        assert error["param"] == "x-portkey-provider"
        assert f"Provider {slug} does not offer" in error["message"]
        assert KEY not in str(error)
    assert fake.received == []


@pytest.mark.parametrize("slug", ["qdrant", "milvus"])
async def test_a_vector_database_without_a_custom_host_is_a_400_naming_the_header(
    slug: str, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    headers = {
        "x-portkey-provider": slug,
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/json",
    }
    async with http.post("/v1/collections/docs/points/query", data=BODY, headers=headers) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["code"] == "missing_custom_host"
    assert error["param"] == "x-portkey-custom-host"
    assert error["type"] == "invalid_request_error"
    assert "x-portkey-custom-host" in error["message"]
    assert KEY not in str(error)
    assert fake.received == []


async def test_a_vector_database_takes_its_base_url_from_the_settings(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway(
        settings_with(providers={"qdrant": ProviderSettings(base_url=f"http://127.0.0.1:{fake.port}")})
    )
    headers = {"x-portkey-provider": "qdrant", "Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{gateway.port}/v1/collections", headers=headers) as response,
    ):
        assert response.status == 200
    assert (fake.last.method, fake.last.path) == ("GET", "/collections")
    assert fake.last.headers["api-key"] == KEY


async def test_a_config_target_with_a_custom_host_reaches_qdrant(
    fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    config = (
        '{"provider": "qdrant", "api_key": "'
        + KEY
        + '", "custom_host": "http://127.0.0.1:'
        + str(fake.port)
        + '"}'
    )
    async with http.delete("/v1/collections/old", headers={"x-portkey-config": config}) as response:
        assert response.status == 200
    assert (fake.last.method, fake.last.path) == ("DELETE", "/collections/old")
    assert fake.last.headers["api-key"] == KEY


# The real base URLs (no request is sent: prepare() is pure).

REAL_URLS = [
    ("replicate", "predictions", "https://api.replicate.com/v1/predictions"),
    ("meshy", "text-to-3d", "https://api.meshy.ai/openapi/v2/text-to-3d"),
    ("meshy", "text-to-3d/0193bfc5", "https://api.meshy.ai/openapi/v2/text-to-3d/0193bfc5"),
    ("meshy", "image-to-3d", "https://api.meshy.ai/openapi/v1/image-to-3d"),
    ("meshy", "text-to-texture", "https://api.meshy.ai/openapi/v1/text-to-texture"),
    ("tripo3d", "task", "https://api.tripo3d.ai/v2/openapi/task"),
    ("tripo3d", "user/balance", "https://api.tripo3d.ai/v2/openapi/user/balance"),
]


@pytest.mark.parametrize(("slug", "endpoint", "url"), REAL_URLS)
def test_without_a_custom_host_the_request_goes_to_the_providers_documented_base_url(
    slug: str, endpoint: str, url: str
) -> None:
    adapter = ProviderRegistry.default().get(slug)
    prepared = adapter.prepare(UpstreamCall(endpoint, "", "", {}, api_key=KEY), ClientBody())
    assert prepared.url == url
    assert prepared.headers == {"Authorization": f"Bearer {KEY}"}
