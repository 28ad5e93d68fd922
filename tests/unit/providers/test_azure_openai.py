"""``AzureOpenAI.prepare``: deployment and v1 URLs with their api-version, the body as it came,
and the auth step that sends an Entra ID token or the key in Azure's form."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from gateway.config.settings import Settings
from gateway.errors import InvalidRequest
from gateway.providers.azure_openai import DEFAULT_API_VERSION, REALTIME_API_VERSION, AzureOpenAI
from gateway.providers.base import ClientBody, Credentials, PreparedRequest, UpstreamCall
from gateway.providers.cloud_auth import CloudAuth

RESOURCE = {"azure-resource-name": "my-res"}
BASE = "https://my-res.openai.azure.com/openai"
RAW = b'{"model": "gpt-4o", "seed": 1}'


def prepare(
    endpoint: str = "chat/completions", query: str = "", base_url: str = "", **options: str
) -> PreparedRequest:
    call = UpstreamCall(endpoint, query, base_url, {**RESOURCE, **options})
    return AzureOpenAI().prepare(call, ClientBody(RAW, {"model": "gpt-4o", "seed": 1}))


def test_deployment_url_carries_the_default_api_version() -> None:
    prepared = prepare(**{"azure-deployment-id": "dep-1"})
    assert prepared.url == f"{BASE}/deployments/dep-1/chat/completions?api-version={DEFAULT_API_VERSION}"


def test_caller_api_version_and_query_are_kept() -> None:
    prepared = prepare("embeddings", "api-version=2025-01-01&x=1", **{"azure-deployment-id": "d"})
    assert prepared.url == f"{BASE}/deployments/d/embeddings?api-version=2025-01-01&x=1"


def test_without_a_deployment_the_v1_api_is_used() -> None:
    assert prepare().url == f"{BASE}/v1/chat/completions"


def test_account_level_endpoints_skip_the_deployment() -> None:
    prepared = prepare("files", **{"azure-deployment-id": "d", "azure-api-version": "2024-06-01"})
    assert prepared.url == f"{BASE}/files?api-version=2024-06-01"


def test_realtime_names_its_deployment_in_the_query() -> None:
    prepared = prepare("realtime", **{"azure-deployment-id": "rt"})
    assert prepared.url == f"{BASE}/realtime?deployment=rt&api-version={REALTIME_API_VERSION}"


def test_custom_host_replaces_the_resource_host() -> None:
    assert (
        prepare(base_url="http://127.0.0.1:9/openai/").url == "http://127.0.0.1:9/openai/v1/chat/completions"
    )


def test_missing_resource_and_bad_names_are_400s_naming_the_header() -> None:
    with pytest.raises(InvalidRequest) as missing:
        AzureOpenAI().prepare(UpstreamCall("chat/completions", "", "", {}), ClientBody())
    assert missing.value.param == "x-portkey-azure-resource-name"
    with pytest.raises(InvalidRequest) as bad:
        prepare(**{"azure-deployment-id": "../x"})
    assert bad.value.param == "x-portkey-azure-deployment-id"


def test_body_is_the_clients_bytes_and_chat_streams_are_chat_chunks() -> None:
    prepared = prepare()
    assert prepared.body is RAW
    assert prepared.chat_chunks
    assert not prepare("embeddings").chat_chunks


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:  # never used: no option here asks for a fetch
        yield session


def credentials(session: aiohttp.ClientSession, api_key: str, options: Mapping[str, str]) -> Credentials:
    def no_url(url: str) -> str:
        raise AssertionError(f"no URL is checked here: {url}")

    return Credentials(api_key, options, session, no_url, CloudAuth.build(Settings(), session))


@pytest.mark.parametrize(
    ("api_key", "options", "expected"),
    [
        ("azure-key", {}, {"api-key": "azure-key"}),
        ("eyJhbGciOi.jwt", {}, {"Authorization": "Bearer eyJhbGciOi.jwt"}),
        ("azure-key", {"azure-ad-token": "Bearer ad-token"}, {"Authorization": "Bearer ad-token"}),
        ("", {}, {}),
    ],
)
async def test_auth_step_sends_the_entra_token_or_the_key_in_azures_form(
    session: aiohttp.ClientSession, api_key: str, options: dict[str, str], expected: dict[str, str]
) -> None:
    prepared = prepare(**options)
    assert prepared.headers == {}  # nothing before the auth step: a token may need fetching
    assert prepared.authorize is not None
    await prepared.authorize(credentials(session, api_key, {**RESOURCE, **options}))
    assert prepared.headers == expected
