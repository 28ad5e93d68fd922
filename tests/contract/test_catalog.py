"""The provider catalog as a contract: every row reaches its provider's path with its auth form, and
the rows with a real wire difference (Mistral's renames, Azure's URLs and keys) behave as documented.

Each row is exercised through a custom host pointing at the fake: the custom host replaces the row's
whole base URL, so it keeps the row's path (``/openai/v1`` for Groq, ``/api/paas/v4`` for Z.ai, none
for Perplexity) and the fake sees exactly the path the real provider would.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI
from yarl import URL

from gateway.providers import azure_openai
from gateway.providers.base import CHAT, ProviderSpec
from gateway.providers.catalog import PROVIDERS
from tests.fake_provider import FakeProvider, Received

KEY = "sk-catalog-key"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
ALL_SPECS = (*PROVIDERS, azure_openai.SPEC)
CHAT_SPECS = tuple(spec for spec in PROVIDERS if spec.endpoints is None or CHAT in spec.endpoints)


async def chat_answer(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(
        {
            "id": "chatcmpl-catalog",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


def base_path(spec: ProviderSpec) -> str:
    return URL(spec.base_url).path.rstrip("/")


@pytest.mark.parametrize("spec", CHAT_SPECS, ids=[spec.slug for spec in CHAT_SPECS])
async def test_chat_completion_reaches_the_rows_path_with_the_rows_auth(
    spec: ProviderSpec, fake: FakeProvider, gateway_url: str
) -> None:
    path = f"{base_path(spec)}/chat/completions"
    fake.on("POST", path, chat_answer)
    headers = {
        "x-portkey-provider": spec.slug,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}{base_path(spec)}",
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0
    ) as sdk:
        completion = await sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "ping"}]
        )

    assert completion.choices[0].message.content == "pong"
    assert len(fake.received) == 1
    received = fake.last
    assert received.path == path
    assert received.json() == {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
    expected = {
        "bearer": {"authorization": f"Bearer {KEY}"},
        "api-key": {"api-key": KEY},
        "none": {},
    }[spec.auth]
    sent = {name: received.headers[name] for name in ("authorization", "api-key") if name in received.headers}
    assert sent == expected


@pytest.mark.parametrize("spec", ALL_SPECS, ids=[spec.slug for spec in ALL_SPECS])
def test_every_row_links_its_api_docs_over_https(spec: ProviderSpec) -> None:
    docs = URL(spec.docs)
    assert docs.scheme == "https"
    assert docs.host
    assert "." in docs.host


# A row without a base URL (modal) is always the caller's custom host, checked by the SSRF guard.
HOSTED = [spec for spec in PROVIDERS if spec.base_url]


@pytest.mark.parametrize("spec", HOSTED, ids=[spec.slug for spec in HOSTED])
def test_hosted_rows_use_https_and_local_servers_loopback(spec: ProviderSpec) -> None:
    base = URL(spec.base_url)
    if base.host in LOOPBACK:
        assert base.scheme == "http"
        assert base.explicit_port, "a local server's row names its default port"
    else:
        assert base.scheme == "https"
    assert not base.query_string
    assert not base.fragment
    assert not spec.base_url.endswith("/")


def test_slugs_are_unique_lowercase_names() -> None:
    slugs = [spec.slug for spec in ALL_SPECS]
    assert len(slugs) == len(set(slugs))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) for slug in slugs)


def test_the_catalog_has_at_least_thirty_providers() -> None:
    assert len(ALL_SPECS) >= 30


# Mistral: the one rename, and nothing else touched.


async def post_raw(gateway_url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}{path}",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}", **headers},
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.fixture
def mistral(fake: FakeProvider) -> dict[str, str]:
    fake.on("POST", "/v1/chat/completions", chat_answer)
    return {"x-portkey-provider": "mistral-ai", "x-portkey-custom-host": fake.base_url}


async def test_mistral_receives_seed_as_random_seed(
    fake: FakeProvider, gateway_url: str, mistral: dict[str, str]
) -> None:
    body = (
        b'{"model":"mistral-small-latest","messages":[{"role":"user","content":"hi"}],"seed":42,"top_p":0.5}'
    )
    status, _ = await post_raw(gateway_url, "/v1/chat/completions", body, mistral)
    assert status == 200
    assert fake.last.json() == {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": "hi"}],
        "random_seed": 42,
        "top_p": 0.5,
    }


async def test_mistral_body_without_renamed_fields_is_forwarded_byte_for_byte(
    fake: FakeProvider, gateway_url: str, mistral: dict[str, str]
) -> None:
    body = (
        b'{ "top_p" : 0.5,\n  "safe_prompt": true,\t"model":"mistral-small-latest",\n'
        b'  "messages" : [ {"content":"caf\\u00e9 \xe2\x9c\x93","role":"user"} ] ,\n'
        b'  "x_unknown": {"b":1,"a":2} }\n'
    )
    status, _ = await post_raw(gateway_url, "/v1/chat/completions", body, mistral)
    assert status == 200
    assert fake.last.body == body


# Azure OpenAI: deployment URLs, api-version, the v1 API, and its two key forms.

AZURE_DEFAULT_VERSION = azure_openai.DEFAULT_API_VERSION


@pytest.fixture
def azure(fake: FakeProvider) -> dict[str, str]:
    """Headers for Azure OpenAI with the fake as the resource's ``/openai`` base URL."""
    return {
        "x-portkey-provider": "azure-openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}/openai",
    }


async def call(
    gateway_url: str, method: str, path: str, headers: dict[str, str], key: str = KEY
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{gateway_url}{path}",
            json={"model": "gpt-4o", "messages": []} if method == "POST" else None,
            headers={"Authorization": f"Bearer {key}", **headers},
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


def test_azure_default_api_version_is_a_dated_ga_version() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", AZURE_DEFAULT_VERSION)


async def test_azure_deployment_url_gets_the_default_api_version(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    headers = {**azure, "x-portkey-azure-deployment-id": "gpt-4o-prod"}
    status, _ = await call(gateway_url, "POST", "/v1/chat/completions", headers)
    assert status == 200
    assert fake.last.path == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert fake.last.query == f"api-version={AZURE_DEFAULT_VERSION}"


async def test_azure_api_version_header_is_used(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    headers = {
        **azure,
        "x-portkey-azure-deployment-id": "emb.small_1",
        "x-portkey-azure-api-version": "2025-04-01-preview",
    }
    status, _ = await call(gateway_url, "POST", "/v1/embeddings", headers)
    assert status == 200
    assert fake.last.path == "/openai/deployments/emb.small_1/embeddings"
    assert fake.last.query == "api-version=2025-04-01-preview"


async def test_azure_without_deployment_uses_the_v1_api(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    status, _ = await call(gateway_url, "POST", "/v1/chat/completions", azure)
    assert status == 200
    assert fake.last.path == "/openai/v1/chat/completions"
    assert fake.last.query == ""


async def test_azure_account_level_endpoints_skip_the_deployment(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    headers = {**azure, "x-portkey-azure-deployment-id": "gpt-4o-prod"}
    status, _ = await call(gateway_url, "GET", "/v1/files?purpose=batch", headers)
    assert status == 200
    assert fake.last.path == "/openai/files"
    assert fake.last.query == f"purpose=batch&api-version={AZURE_DEFAULT_VERSION}"


async def test_azure_keeps_the_callers_own_api_version(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    headers = {**azure, "x-portkey-azure-deployment-id": "gpt-4o-prod"}
    status, _ = await call(gateway_url, "POST", "/v1/chat/completions?api-version=2024-06-01", headers)
    assert status == 200
    assert fake.last.query == "api-version=2024-06-01"


async def test_azure_key_goes_as_api_key_header(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    await call(gateway_url, "POST", "/v1/chat/completions", azure, key="0123456789abcdef0123456789abcdef")
    assert fake.last.headers["api-key"] == "0123456789abcdef0123456789abcdef"
    assert "Authorization" not in fake.last.headers


async def test_azure_entra_token_goes_as_bearer(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjb2duaXRpdmVzZXJ2aWNlcyJ9.c2lnbmF0dXJl"
    await call(gateway_url, "POST", "/v1/chat/completions", azure, key=token)
    assert fake.last.headers["Authorization"] == f"Bearer {token}"
    assert "api-key" not in fake.last.headers


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"x-portkey-azure-resource-name": "evil.example/x"}, "invalid_azure_resource_name"),
        ({"x-portkey-azure-resource-name": "-leading"}, "invalid_azure_resource_name"),
        ({}, "missing_azure_resource_name"),
        (
            {"x-portkey-azure-resource-name": "res", "x-portkey-azure-deployment-id": "../admin"},
            "invalid_azure_deployment_id",
        ),
        (
            {"x-portkey-azure-resource-name": "res", "x-portkey-azure-deployment-id": "a/b"},
            "invalid_azure_deployment_id",
        ),
        (
            {"x-portkey-azure-resource-name": "res", "x-portkey-azure-deployment-id": "a?b"},
            "invalid_azure_deployment_id",
        ),
        (
            {"x-portkey-azure-resource-name": "res", "x-portkey-azure-api-version": "2024-10-21&x=1"},
            "invalid_azure_api_version",
        ),
    ],
)
async def test_azure_bad_names_in_the_url_are_refused(
    options: dict[str, str], code: str, fake: FakeProvider, gateway_url: str
) -> None:
    status, body = await call(
        gateway_url, "POST", "/v1/chat/completions", {"x-portkey-provider": "azure-openai", **options}
    )
    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["type"] == "invalid_request_error"
    assert fake.received == []


async def test_azure_bad_deployment_is_refused_with_a_custom_host_too(
    fake: FakeProvider, gateway_url: str, azure: dict[str, str]
) -> None:
    status, body = await call(
        gateway_url, "POST", "/v1/chat/completions", {**azure, "x-portkey-azure-deployment-id": "..%2fadmin"}
    )
    assert status == 400
    assert body["error"]["code"] == "invalid_azure_deployment_id"
    assert fake.received == []
