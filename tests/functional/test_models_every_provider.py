"""``GET /v1/models`` on every kind of provider, through the OpenAI SDK and the real wire.

Translated providers are asked their own documented list endpoint (fakes that page as the
providers do) and answered in OpenAI's list shape; a provider with no list of its own gets the
gateway's list, from the price table, without any upstream call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import APIStatusError, AsyncOpenAI, BadRequestError, NotFoundError, PermissionDeniedError

from gateway.providers.model_lists import MAX_PAGES
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional import fake_bedrock as fb
from tests.functional.fake_anthropic import FakeAnthropic, model_info
from tests.functional.fake_cohere import FakeCohere
from tests.functional.fake_gemini import error_reply, json_reply, model, models_reply

KEY = "provider-key-0123"


def sdk_for(gateway_url: str, headers: dict[str, str], key: str = KEY) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=key, default_headers=headers, max_retries=0)


@pytest.fixture
async def serve(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Callable[[Any], Awaitable[int]]:
    async def start(fake: Any) -> int:
        port: int = (await aiohttp_server(fake.app())).port
        fake.port = port
        return port

    return start


@pytest.fixture
async def clients() -> AsyncIterator[list[AsyncOpenAI]]:
    made: list[AsyncOpenAI] = []
    yield made
    for client in made:
        await client.close()


def error_of(exc: APIStatusError) -> dict[str, Any]:
    """The OpenAI-shaped error body the gateway answered (the SDK keeps its ``error`` object)."""
    assert isinstance(exc.body, dict)
    assert set(exc.body) >= {"message", "type", "param", "code"}
    return exc.body


async def listed(client: AsyncOpenAI) -> list[tuple[str, int, str]]:
    page = await client.models.list()
    assert page.object == "list"
    return [(m.id, m.created, m.owned_by) for m in page.data if m.object == "model"]


# --- Anthropic ---------------------------------------------------------------------------------

CLAUDES = [
    model_info("claude-opus-4-6", "2026-02-04T00:00:00Z", "Claude Opus 4.6"),
    model_info("claude-sonnet-4-5-20250929", "2025-09-29T00:00:00Z", "Claude Sonnet 4.5"),
    model_info("claude-haiku-4-5-20251001", "2025-10-15T00:00:00Z", "Claude Haiku 4.5"),
]


async def test_anthropic_list_is_read_across_its_pages(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = FakeAnthropic()
    fake.models, fake.page_cap = CLAUDES, 2
    await serve(fake)
    client = sdk_for(gateway_url, {"x-portkey-provider": "anthropic", "x-portkey-custom-host": fake.base_url})
    clients.append(client)
    assert await listed(client) == [
        ("claude-opus-4-6", 1770163200, "anthropic"),
        ("claude-sonnet-4-5-20250929", 1759104000, "anthropic"),
        ("claude-haiku-4-5-20251001", 1760486400, "anthropic"),
    ]
    first, second = fake.received
    assert (first.path, first.query) == ("/v1/models", "limit=1000")
    assert second.query == "limit=1000&after_id=claude-sonnet-4-5-20250929"
    for request in (first, second):
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "Authorization" not in request.headers


async def test_anthropic_one_model(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = FakeAnthropic()
    fake.models = CLAUDES
    await serve(fake)
    client = sdk_for(gateway_url, {"x-portkey-provider": "anthropic", "x-portkey-custom-host": fake.base_url})
    clients.append(client)
    one = await client.models.retrieve("claude-opus-4-6")
    assert (one.id, one.object, one.created, one.owned_by) == (
        "claude-opus-4-6",
        "model",
        1770163200,
        "anthropic",
    )
    assert fake.received[-1].path == "/v1/models/claude-opus-4-6"
    with pytest.raises(NotFoundError) as refused:
        await client.models.retrieve("claude-nonexistent")
    assert error_of(refused.value)["message"] == "anthropic: model not found"


# --- Gemini ------------------------------------------------------------------------------------

GEMINIS = [model("gemini-2.5-pro", "Gemini 2.5 Pro"), model("gemini-2.5-flash", "Gemini 2.5 Flash")]
GEMINIS += [model("text-embedding-004", "Text Embedding 004")]


async def test_gemini_list_follows_page_tokens(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    fake.on("GET", "/v1beta/models", models_reply(GEMINIS, page_cap=2))
    host = f"http://127.0.0.1:{fake.port}"
    client = sdk_for(gateway_url, {"x-portkey-provider": "google", "x-portkey-custom-host": host})
    clients.append(client)
    assert await listed(client) == [
        ("gemini-2.5-pro", 0, "google"),
        ("gemini-2.5-flash", 0, "google"),
        ("text-embedding-004", 0, "google"),
    ]
    assert [r.query for r in fake.received] == ["pageSize=1000", "pageSize=1000&pageToken=2"]
    assert all(r.headers["x-goog-api-key"] == KEY and r.method == "GET" for r in fake.received)


async def test_a_page_token_never_adds_a_query_parameter(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    token = "p2&pageSize=1#x"
    pages = [json_reply({"models": GEMINIS[:1], "nextPageToken": token}), json_reply({"models": GEMINIS[1:]})]

    async def respond(request: Any, received: Received) -> Any:
        return await pages.pop(0)(request, received)

    fake.on("GET", "/v1beta/models", respond)
    host = f"http://127.0.0.1:{fake.port}"
    client = sdk_for(gateway_url, {"x-portkey-provider": "google", "x-portkey-custom-host": host})
    clients.append(client)
    assert len(await listed(client)) == len(GEMINIS)
    assert parse_qs(fake.received[1].query) == {"pageSize": ["1000"], "pageToken": [token]}


async def test_gemini_list_stops_at_the_page_bound(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    """A provider that keeps saying "more" costs at most MAX_PAGES requests."""
    fake.on("GET", "/v1beta/models", json_reply({"models": GEMINIS[:1], "nextPageToken": "again"}))
    host = f"http://127.0.0.1:{fake.port}"
    client = sdk_for(gateway_url, {"x-portkey-provider": "google", "x-portkey-custom-host": host})
    clients.append(client)
    assert len(await listed(client)) == MAX_PAGES
    assert len(fake.received) == MAX_PAGES


async def test_gemini_refusal_is_an_openai_error_naming_the_provider(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    fake.on("GET", "/v1beta/models", error_reply(403, "API key not valid.", "PERMISSION_DENIED"))
    host = f"http://127.0.0.1:{fake.port}"
    client = sdk_for(gateway_url, {"x-portkey-provider": "google", "x-portkey-custom-host": host})
    clients.append(client)
    with pytest.raises(PermissionDeniedError) as refused:
        await client.models.list()
    assert error_of(refused.value)["message"] == "google: API key not valid."
    assert refused.value.response.headers["x-portkey-provider"] == "google"


async def test_gemini_later_page_failure_is_the_providers_error(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    pages = [
        json_reply({"models": GEMINIS[:1], "nextPageToken": "p2"}),
        error_reply(503, "busy", "UNAVAILABLE"),
    ]

    async def respond(request: Any, received: Received) -> Any:
        return await pages.pop(0)(request, received)

    fake.on("GET", "/v1beta/models", respond)
    host = f"http://127.0.0.1:{fake.port}"
    client = sdk_for(gateway_url, {"x-portkey-provider": "google", "x-portkey-custom-host": host})
    clients.append(client)
    with pytest.raises(APIStatusError) as failed:
        await client.models.list()
    assert failed.value.status_code == 503
    assert error_of(failed.value)["message"] == "google: a later page of the model list failed."


# --- Cohere ------------------------------------------------------------------------------------

COHERES = [
    {"name": name, "endpoints": endpoints, "finetuned": False, "context_length": 128000}
    for name, endpoints in (
        ("command-a-03-2025", ["chat"]),
        ("embed-v4.0", ["embed"]),
        ("rerank-v3.5", ["rerank"]),
    )
]


async def test_cohere_list_follows_page_tokens_and_gets_one(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = FakeCohere()
    fake.models, fake.page_cap = COHERES, 2
    await serve(fake)
    client = sdk_for(gateway_url, {"x-portkey-provider": "cohere", "x-portkey-custom-host": fake.host})
    clients.append(client)
    assert await listed(client) == [
        ("command-a-03-2025", 0, "cohere"),
        ("embed-v4.0", 0, "cohere"),
        ("rerank-v3.5", 0, "cohere"),
    ]
    assert [r.path for r in fake.received] == ["/v1/models", "/v1/models"]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in fake.received)
    one = await client.models.retrieve("embed-v4.0")
    assert (one.id, one.owned_by) == ("embed-v4.0", "cohere")
    with pytest.raises(NotFoundError) as refused:
        await client.models.retrieve("command-nonexistent")
    assert error_of(refused.value)["message"] == "cohere: model 'command-nonexistent' not found"


# --- Bedrock -----------------------------------------------------------------------------------

BEDROCKS = [
    fb.foundation_model("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic"),
    fb.foundation_model("amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "Amazon"),
]


async def test_bedrock_control_plane_list_is_signed_and_translated(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = fb.FakeBedrock()
    fake.models = BEDROCKS
    await serve(fake)
    client = sdk_for(gateway_url, fake.headers, key="unused")
    clients.append(client)
    assert await listed(client) == [
        ("anthropic.claude-3-haiku-20240307-v1:0", 0, "Anthropic"),
        ("amazon.titan-embed-text-v2:0", 0, "Amazon"),
    ]
    # The fake answers only a request whose SigV4 signature (method GET included) checks out.
    call = fake.last
    assert call.path == "/foundation-models"
    assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fb.ACCESS_KEY}/")
    assert f"/{fb.REGION}/bedrock/aws4_request" in call.headers["Authorization"]
    one = await client.models.retrieve("anthropic.claude-3-haiku-20240307-v1:0")
    assert (one.id, one.owned_by) == ("anthropic.claude-3-haiku-20240307-v1:0", "Anthropic")
    assert fake.last.path == "/foundation-models/anthropic.claude-3-haiku-20240307-v1%3A0"


async def test_bedrock_list_without_a_region_is_a_400(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = fb.FakeBedrock()
    await serve(fake)
    headers = {name: value for name, value in fake.headers.items() if name != "x-portkey-aws-region"}
    client = sdk_for(gateway_url, headers, key="unused")
    clients.append(client)
    with pytest.raises(BadRequestError) as refused:
        await client.models.list()
    assert error_of(refused.value)["param"] == "x-portkey-aws-region"
    assert fake.calls == []


async def test_deleting_a_model_on_a_translated_provider_is_a_400(
    gateway_url: str, serve: Callable[[Any], Awaitable[int]], clients: list[AsyncOpenAI]
) -> None:
    fake = FakeAnthropic()
    fake.models = CLAUDES
    await serve(fake)
    client = sdk_for(gateway_url, {"x-portkey-provider": "anthropic", "x-portkey-custom-host": fake.base_url})
    clients.append(client)
    with pytest.raises(BadRequestError) as refused:
        await client.models.delete("claude-opus-4-6")
    assert error_of(refused.value)["code"] == "unsupported_endpoint"
    assert fake.received == []


# --- providers with no list of their own -------------------------------------------------------


async def test_catalog_row_without_a_list_answers_the_price_tables_models(
    make_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path, clients: list[AsyncOpenAI]
) -> None:
    """Perplexity has no models endpoint: the gateway lists what its price table knows (the
    shipped one and the operator's file over it), and never calls the provider."""
    prices = {"perplexity-ai": {"models": {"sonar-custom": {"input": 1, "output": 1}}}}
    (tmp_path / "prices.json").write_bytes(orjson.dumps(prices))
    gateway = await make_gateway(settings_with(pricing={"file": str(tmp_path / "prices.json")}))
    headers = {"x-portkey-provider": "perplexity-ai", "x-portkey-custom-host": fake.base_url}
    client = sdk_for(f"http://127.0.0.1:{gateway.port}", headers)
    clients.append(client)
    names = ["sonar", "sonar-custom", "sonar-deep-research", "sonar-pro", "sonar-reasoning-pro"]
    assert await listed(client) == [(name, 0, "perplexity-ai") for name in names]
    one = await client.models.retrieve("sonar-pro")
    assert (one.id, one.owned_by) == ("sonar-pro", "perplexity-ai")
    with pytest.raises(NotFoundError) as refused:
        await client.models.retrieve("sonar-unknown")
    assert error_of(refused.value)["code"] == "model_not_found"
    assert fake.received == []


async def test_vertex_lists_the_models_the_gateway_prices(
    gateway_url: str, fake: FakeProvider, clients: list[AsyncOpenAI]
) -> None:
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-project-id": "my-project",
        "x-portkey-vertex-region": "us-central1",
    }
    client = sdk_for(gateway_url, headers)
    clients.append(client)
    models = await listed(client)
    assert {owner for _, _, owner in models} == {"vertex-ai"}
    assert "gemini-2.5-pro" in [name for name, _, _ in models]
    assert fake.received == []
