"""Azure OpenAI with Microsoft Entra ID: x-portkey-azure-ad-token and x-portkey-azure-auth-mode
(entra, managed, workload), against a fake token endpoint / IMDS and a fake Azure OpenAI."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.config.settings import ProviderSettings, Settings, SettingsError, load_settings
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider
from tests.functional.fake_entra import FakeEntra

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
SECRET = "entra-client-secret-MARKER-1"
OTHER_SECRET = "entra-client-secret-MARKER-2"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
CHAT = "/v1/chat/completions"


@pytest.fixture
async def entra(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeEntra:
    fake = FakeEntra()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


def azure(fake: FakeProvider, **options: str) -> dict[str, str]:
    """Headers for Azure OpenAI at the fake, plus ``x-portkey-<option>`` ones."""
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-custom-host": fake.base_url,
        "x-portkey-azure-deployment-id": "gpt4o",
        "x-portkey-azure-api-version": "2024-10-21",
    }
    headers.update({f"x-portkey-{name.replace('_', '-')}": value for name, value in options.items()})
    return headers


def entra_headers(fake: FakeProvider, secret: str = SECRET) -> dict[str, str]:
    return azure(
        fake,
        azure_auth_mode="entra",
        azure_entra_tenant_id=TENANT,
        azure_entra_client_id=CLIENT_ID,
        azure_entra_client_secret=secret,
    )


def entra_settings(entra: FakeEntra, **azure: Any) -> Settings:
    return settings_with(azure={"authority_host": entra.url, **azure})


def own_identity_settings(entra: FakeEntra, fake: FakeProvider, **azure: Any) -> Settings:
    """The operator's Azure base URL (the fake) and the managed identity on."""
    return settings_with(
        azure={"managed_identity": True, "managed_identity_endpoint": entra.imds_url, **azure},
        providers={"azure-openai": ProviderSettings(base_url=fake.base_url)},
    )


async def post(server: TestServer, headers: dict[str, str], body: Any = BODY) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{server.port}{CHAT}", json=body, headers=headers) as response,
    ):
        return response.status, orjson.loads(await response.read())


async def test_ad_token_goes_as_a_bearer_token_instead_of_the_api_key(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway()
    headers = {
        **azure(fake, azure_ad_token="Bearer eyJhbGciOi.ad.token"),
        "Authorization": "Bearer azure-key",
    }
    status, _ = await post(gateway, headers)
    assert status == 200
    assert fake.last.headers["Authorization"] == "Bearer eyJhbGciOi.ad.token"
    assert "api-key" not in fake.last.headers


async def test_without_entra_options_the_key_still_goes_as_api_key(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway()
    status, _ = await post(gateway, {**azure(fake), "Authorization": "Bearer azure-key"})
    assert status == 200
    assert fake.last.headers["api-key"] == "azure-key"
    assert "Authorization" not in fake.last.headers


async def test_entra_client_credentials_fetch_one_token_for_many_requests(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    entra.delay = 0.1  # the concurrent requests all miss the cache while the first fetch runs
    results = await asyncio.gather(*(post(gateway, entra_headers(fake)) for _ in range(5)))
    results.append(await post(gateway, entra_headers(fake)))
    assert [status for status, _ in results] == [200] * 6
    assert len(entra.requests) == 1
    token_request = entra.requests[0]
    assert token_request.path == f"/{TENANT}/oauth2/v2.0/token"
    assert dict(token_request.fields) == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": "https://cognitiveservices.azure.com/.default",
        "grant_type": "client_credentials",
    }
    assert {received.headers["Authorization"] for received in fake.received} == {"Bearer token-1"}
    assert all("api-key" not in received.headers for received in fake.received)


async def test_two_callers_secrets_never_share_a_token(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    for secret in (SECRET, OTHER_SECRET, SECRET, OTHER_SECRET):
        assert (await post(gateway, entra_headers(fake, secret)))[0] == 200
    assert [r.fields["client_secret"] for r in entra.requests] == [SECRET, OTHER_SECRET]
    sent = [received.headers["Authorization"] for received in fake.received]
    assert sent == ["Bearer token-1", "Bearer token-2", "Bearer token-1", "Bearer token-2"]


async def test_a_token_near_expiry_is_fetched_again(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    entra.expires_in = 240  # inside the 5-minute refresh margin: stale as soon as it arrives
    for _ in range(2):
        assert (await post(gateway, entra_headers(fake)))[0] == 200
    assert len(entra.requests) == 2
    assert fake.last.headers["Authorization"] == "Bearer token-2"


async def test_entra_refusal_is_a_401_naming_azure_that_echoes_no_secret(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    entra.failure = (401, {"error": "invalid_client", "error_description": f"bad secret {SECRET}"})
    status, body = await post(gateway, entra_headers(fake))
    assert status == 401
    assert body["error"]["code"] == "azure_auth_failed"
    assert "Azure" in body["error"]["message"]
    assert "invalid_client" in body["error"]["message"]
    assert SECRET not in orjson.dumps(body).decode()
    assert fake.received == []
    entra.failure = None  # a failure is not cached: the next request fetches again
    assert (await post(gateway, entra_headers(fake)))[0] == 200


async def test_unreachable_token_endpoint_is_a_502_naming_azure(
    make_gateway: GatewayFactory, fake: FakeProvider, unused_tcp_port: int
) -> None:
    gateway = await make_gateway(
        settings_with(azure={"authority_host": f"http://127.0.0.1:{unused_tcp_port}"})
    )
    status, body = await post(gateway, entra_headers(fake))
    assert status == 502
    assert "Azure Entra ID token endpoint could not be reached" in body["error"]["message"]
    assert SECRET not in orjson.dumps(body).decode()


async def test_missing_entra_options_are_a_400_naming_the_header(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    headers = entra_headers(fake)
    del headers["x-portkey-azure-entra-client-secret"]
    status, body = await post(gateway, headers)
    assert status == 400
    assert body["error"]["param"] == "x-portkey-azure-entra-client-secret"
    assert entra.requests == []


async def test_unknown_auth_mode_is_a_400(make_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gateway = await make_gateway()
    status, body = await post(gateway, azure(fake, azure_auth_mode="password"))
    assert status == 400
    assert body["error"]["param"] == "x-portkey-azure-auth-mode"


async def test_config_keys_select_entra_auth(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    config = {
        "provider": "azure-openai",
        "custom_host": fake.base_url,
        "azure_deployment_id": "gpt4o",
        "azure_model_name": "gpt-4o",
        "azure_auth_mode": "entra",
        "azure_entra_tenant_id": TENANT,
        "azure_entra_client_id": CLIENT_ID,
        "azure_entra_client_secret": SECRET,
        "azure_entra_scope": "api://custom/.default",
    }
    status, _ = await post(gateway, {"x-portkey-config": orjson.dumps(config).decode()})
    assert status == 200
    assert entra.requests[0].fields["scope"] == "api://custom/.default"
    assert fake.last.headers["Authorization"] == "Bearer token-1"
    assert fake.last.path == "/v1/deployments/gpt4o/chat/completions"


async def test_managed_identity_is_refused_unless_the_operator_enables_it(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(settings_with(azure={"managed_identity_endpoint": entra.imds_url}))
    status, body = await post(gateway, azure(fake, azure_auth_mode="managed"))
    assert status == 403
    assert body["error"]["param"] == "x-portkey-azure-auth-mode"
    assert "azure.managed_identity" in body["error"]["message"]
    assert entra.requests == []
    assert fake.received == []


async def test_managed_identity_token_from_imds_once_enabled(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(own_identity_settings(entra, fake))
    entra.expires_in = "3599"  # IMDS sends it as a string
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-azure-deployment-id": "gpt4o",
        "x-portkey-azure-auth-mode": "managed",
        "x-portkey-azure-managed-client-id": CLIENT_ID,
    }
    for _ in range(3):
        assert (await post(gateway, headers))[0] == 200
    assert len(entra.requests) == 1
    imds = entra.requests[0]
    assert imds.method == "GET"
    assert imds.headers["Metadata"] == "true"
    assert dict(imds.fields) == {
        "api-version": "2018-02-01",
        "resource": "https://cognitiveservices.azure.com/",
        "client_id": CLIENT_ID,
    }
    assert fake.last.headers["Authorization"] == "Bearer token-1"


async def test_own_identity_is_never_sent_to_a_callers_custom_host(
    make_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(own_identity_settings(entra, fake))
    status, body = await post(gateway, azure(fake_b, azure_auth_mode="managed"))
    assert status == 403
    assert body["error"]["param"] == "x-portkey-custom-host"
    assert entra.requests == []
    assert fake_b.received == []


async def test_own_identity_is_lent_only_for_listed_resources(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(own_identity_settings(entra, fake, identity_resources=("team-a",)))
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-azure-auth-mode": "managed",
        "x-portkey-azure-deployment-id": "gpt4o",
    }
    status, body = await post(gateway, {**headers, "x-portkey-azure-resource-name": "team-b"})
    assert status == 403
    assert body["error"]["param"] == "x-portkey-azure-resource-name"
    assert (await post(gateway, {**headers, "x-portkey-azure-resource-name": "team-a"}))[0] == 200
    assert len(entra.requests) == 1


async def test_workload_identity_sends_the_federated_token_as_the_client_assertion(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("federated.jwt.from-kubelet\n")
    environ = {
        "AZURE_AUTHORITY_HOST": entra.url,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "GATEWAY_AZURE_WORKLOAD_IDENTITY": "true",
    }
    settings = load_settings(None, environ)
    providers = {"azure-openai": ProviderSettings(base_url=fake.base_url)}
    gateway = await make_gateway(dataclasses.replace(settings, providers=providers))
    headers = {
        "x-portkey-provider": "azure-openai",
        "x-portkey-azure-deployment-id": "gpt4o",
        "x-portkey-azure-auth-mode": "workload",
    }
    assert (await post(gateway, headers))[0] == 200
    assert entra.requests[0].path == f"/{TENANT}/oauth2/v2.0/token"
    assert dict(entra.requests[0].fields) == {
        "client_id": CLIENT_ID,
        "client_assertion": "federated.jwt.from-kubelet",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "scope": "https://cognitiveservices.azure.com/.default",
        "grant_type": "client_credentials",
    }
    assert fake.last.headers["Authorization"] == "Bearer token-1"


async def test_workload_identity_is_refused_unless_enabled(
    make_gateway: GatewayFactory, fake: FakeProvider, entra: FakeEntra
) -> None:
    gateway = await make_gateway(entra_settings(entra))
    status, body = await post(gateway, azure(fake, azure_auth_mode="workload"))
    assert status == 403
    assert "azure.workload_identity" in body["error"]["message"]
    assert entra.requests == []


@pytest.mark.parametrize(
    "endpoint", ["ftp://login.example.com", "https://user:pass@login.example.com", "login.example.com"]
)
def test_token_endpoints_must_be_plain_http_urls(endpoint: str) -> None:
    with pytest.raises(SettingsError, match=r"azure\.authority_host") as raised:
        load_settings(None, {"GATEWAY_AZURE_AUTHORITY_HOST": endpoint})
    assert "pass" not in str(raised.value)
