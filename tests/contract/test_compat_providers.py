"""OpenAI-format providers whose base URL comes from provider options (Snowflake Cortex, Cloudflare
Workers AI) or is the caller's own host (Modal), driven through the gateway to a fake.

The option-built URLs point at the fake through the operator's settings ``base_url``, which may
hold the same ``{option}`` placeholders as the catalog row; the real rows' hosts are checked by
filling their templates (no request ever leaves 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError
from openai.types.chat import ChatCompletionMessageParam

from gateway.config.settings import ProviderSettings, Settings
from gateway.errors import InvalidRequest
from gateway.limits.caller import VirtualKey
from gateway.providers.catalog import PROVIDERS
from gateway.providers.databricks import workspace_base_url
from gateway.providers.option_url import parse_template
from tests.fake_provider import FakeProvider, Received, sse

KEY = "sk-compat-secret-key"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def _chunk(content: str) -> bytes:
    delta = {"index": 0, "delta": {"content": content}, "finish_reason": None}
    return orjson.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [delta]}
    )


async def _answer(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(ANSWER)


async def _stream(request: web.Request, received: Received) -> web.StreamResponse:
    return web.Response(body=sse(_chunk("hel"), _chunk("lo")), content_type="text/event-stream")


async def _embeddings(request: web.Request, received: Received) -> web.StreamResponse:
    embedding = {"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}
    return web.json_response({"object": "list", "data": [embedding], "model": "e"})


@dataclass(frozen=True)
class Row:
    slug: str
    option: str
    value: str
    #: The row's path after the host, with its placeholder: the settings point it at the fake.
    template: str

    @property
    def path(self) -> str:
        return self.template.replace("{" + self.option + "}", self.value)


CORTEX = Row("cortex", "snowflake-account", "myorg-account1", "/{snowflake-account}/api/v2/cortex/v1")
WORKERS = Row(
    "workers-ai",
    "workers-ai-account-id",
    "0123456789abcdef0123456789abcdef",
    "/client/v4/accounts/{workers-ai-account-id}/ai/v1",
)
ROWS = [CORTEX, WORKERS]
ROW_IDS = [row.slug for row in ROWS]


@pytest.fixture
async def gateway(make_gateway: Callable[..., Awaitable[TestServer]], fake: FakeProvider) -> TestServer:
    """A gateway whose settings send cortex and workers-ai to the fake, options filling the path."""
    base = f"http://127.0.0.1:{fake.port}"
    providers = {row.slug: ProviderSettings(base_url=base + row.template) for row in ROWS}
    return await make_gateway(Settings(providers=providers))


@pytest.fixture
async def sdk(gateway_url: str) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, max_retries=0)
    yield client
    await client.close()


def _headers(row: Row, value: str | None = None) -> dict[str, str]:
    headers = {"x-portkey-provider": row.slug}
    if value is None or value:
        headers[f"x-portkey-{row.option}"] = row.value if value is None else value
    return headers


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_the_option_names_the_upstream_path_and_the_key_goes_as_a_bearer_token(
    row: Row, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", f"{row.path}/chat/completions", _answer)

    answer = await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=_headers(row))

    assert answer.choices[0].message.content == "hello there"
    assert fake.last.path == f"{row.path}/chat/completions"
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    assert orjson.loads(fake.last.body) == {"model": "m", "messages": MESSAGES}


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_a_streamed_chat_is_relayed_chunk_by_chunk(
    row: Row, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", f"{row.path}/chat/completions", _stream)

    stream = await sdk.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        extra_headers=_headers(row),
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert text == "hello"
    assert fake.last.path == f"{row.path}/chat/completions"


@pytest.mark.parametrize(
    ("row", "config_key"),
    [(CORTEX, "snowflake_account"), (WORKERS, "workers_ai_account_id")],
    ids=ROW_IDS,
)
async def test_a_config_key_sets_the_option_as_portkey_names_it(
    row: Row, config_key: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    config = {"provider": row.slug, config_key: row.value}

    await sdk.chat.completions.create(
        model="m",
        messages=MESSAGES,
        extra_headers={"x-portkey-config": orjson.dumps(config).decode()},
    )

    assert fake.last.path == f"{row.path}/chat/completions"


async def test_workers_ai_embeddings_go_to_the_accounts_openai_compatible_path(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", f"{WORKERS.path}/embeddings", _embeddings)

    answer = await sdk.embeddings.create(
        model="@cf/baai/bge-large-en-v1.5", input="I love matcha", extra_headers=_headers(WORKERS)
    )

    assert answer.data[0].embedding == [0.5, 0.25]
    assert fake.last.path == f"{WORKERS.path}/embeddings"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_a_missing_option_is_a_400_naming_its_header_and_nothing_is_sent(
    row: Row, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=_headers(row, ""))

    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == f"x-portkey-{row.option}"
    assert error["code"] == f"missing_{row.option.replace('-', '_')}"
    assert f"x-portkey-{row.option}" in error["message"]
    assert fake.received == []


@pytest.mark.parametrize("value", ["evil.com/", "a@b", "../x", "a/b", "x?y=1", "a#b", "a%2fb", ".."])
@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_an_option_that_would_change_the_host_or_path_is_a_400_and_nothing_is_sent(
    row: Row, value: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=_headers(row, value))

    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == f"x-portkey-{row.option}"
    assert error["code"] == "invalid_provider_option"
    assert value not in error["message"]
    assert KEY not in error["message"]
    assert fake.received == []


async def test_cortex_serves_only_chat_completions(fake: FakeProvider, sdk: AsyncOpenAI) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.embeddings.create(model="e5-base-v2", input="x", extra_headers=_headers(CORTEX))

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "unsupported_endpoint"
    assert fake.received == []


async def test_a_custom_host_replaces_the_option_built_base_url(
    fake: FakeProvider, gateway_url: str, sdk: AsyncOpenAI
) -> None:
    headers = {"x-portkey-provider": "cortex", "x-portkey-custom-host": fake.base_url}

    await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)

    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"


def _row_url(slug: str) -> str:
    return next(spec.base_url for spec in PROVIDERS if spec.slug == slug)


@pytest.mark.parametrize(
    ("account", "url"),
    [
        ("myorg-account1", "https://myorg-account1.snowflakecomputing.com/api/v2/cortex/v1"),
        ("xy12345.us-east-2.aws", "https://xy12345.us-east-2.aws.snowflakecomputing.com/api/v2/cortex/v1"),
    ],
)
def test_the_snowflake_account_names_the_host_in_either_identifier_form(account: str, url: str) -> None:
    template = parse_template(_row_url("cortex"))

    assert template.fill({"snowflake-account": account}, "cortex") == url


@pytest.mark.parametrize(
    "account", ["evil.com/", "a@b", "a:1", ".evil", "a..b", "a.", "a b", "a\\b", "evil.com#", "a?b"]
)
def test_a_snowflake_account_that_would_leave_its_host_is_refused(account: str) -> None:
    template = parse_template(_row_url("cortex"))

    with pytest.raises(InvalidRequest) as raised:
        template.fill({"snowflake-account": account}, "cortex")

    assert raised.value.param == "x-portkey-snowflake-account"


def test_the_workers_ai_account_names_its_path_on_cloudflares_api_host() -> None:
    template = parse_template(_row_url("workers-ai"))

    url = template.fill({"workers-ai-account-id": WORKERS.value}, "workers-ai")

    assert url == f"https://api.cloudflare.com/client/v4/accounts/{WORKERS.value}/ai/v1"


async def test_modal_without_a_custom_host_is_a_400_naming_it(fake: FakeProvider, sdk: AsyncOpenAI) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"x-portkey-provider": "modal"}
        )

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == "x-portkey-custom-host"
    assert raised.value.body["code"] == "missing_custom_host"
    assert fake.received == []


async def test_modal_sends_the_key_as_a_bearer_token_and_relays_a_stream(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", "/v1/chat/completions", _stream)
    headers = {"x-portkey-provider": "modal", "x-portkey-custom-host": fake.base_url}

    stream = await sdk.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        extra_headers=headers,
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert text == "hello"
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"


async def test_modal_without_a_key_sends_the_callers_proxy_auth_token(
    fake: FakeProvider, gateway_url: str
) -> None:
    fake.on("POST", "/v1/chat/completions", _answer)
    headers = {
        "x-portkey-provider": "modal",
        "x-portkey-custom-host": fake.base_url,
        "Modal-Key": "wk-1234abcd",
        "Modal-Secret": "ws-1234abcd",
    }
    # No key at all: the OpenAI SDK always sends one, so a plain client.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/chat/completions", json={"model": "m", "messages": MESSAGES}, headers=headers
        ) as response,
    ):
        assert response.status == 200
        answer = await response.json()

    assert answer["choices"][0]["message"]["content"] == "hello there"
    assert fake.last.headers["Modal-Key"] == "wk-1234abcd"
    assert fake.last.headers["Modal-Secret"] == "ws-1234abcd"
    assert "Authorization" not in fake.last.headers


def _predibase(fake: FakeProvider) -> dict[str, str]:
    """Headers for predibase with the fake as its host (a custom host replaces the host only)."""
    return {"x-portkey-provider": "predibase", "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}"}


PREDIBASE_PATH = "/tenant42/deployments/v2/llms/llama-3-8b/v1/chat/completions"


@pytest.mark.parametrize(
    ("model", "adapter"), [("llama-3-8b:sentiment-repo/3", "sentiment-repo/3"), ("llama-3-8b", "")]
)
async def test_predibase_routes_by_tenant_and_deployment_and_sends_the_adapter_as_model(
    model: str, adapter: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", PREDIBASE_PATH, _answer)

    answer = await sdk.chat.completions.create(
        model=model, messages=MESSAGES, user="tenant42", max_tokens=5, extra_headers=_predibase(fake)
    )

    assert answer.choices[0].message.content == "hello there"
    assert fake.last.path == PREDIBASE_PATH
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    assert orjson.loads(fake.last.body) == {"model": adapter, "messages": MESSAGES, "max_tokens": 5}


async def test_predibase_relays_a_streamed_chat(fake: FakeProvider, sdk: AsyncOpenAI) -> None:
    fake.on("POST", PREDIBASE_PATH, _stream)

    stream = await sdk.chat.completions.create(
        model="llama-3-8b", messages=MESSAGES, user="tenant42", stream=True, extra_headers=_predibase(fake)
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert text == "hello"
    assert fake.last.path == PREDIBASE_PATH


@pytest.mark.parametrize(
    ("model", "user", "param", "code"),
    [
        ("llama-3-8b", None, "user", "missing_predibase_route"),
        (":adapter/1", "tenant42", "model", "missing_predibase_route"),
        ("llama-3-8b", "../x", "user", "invalid_provider_option"),
        ("llama-3-8b", "evil.com/", "user", "invalid_provider_option"),
        ("a@b:x/1", "tenant42", "model", "invalid_provider_option"),
        ("x/../../admin", "tenant42", "model", "invalid_provider_option"),
    ],
)
async def test_predibase_without_a_clean_tenant_or_deployment_is_a_400_and_nothing_is_sent(
    model: str, user: str | None, param: str, code: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    extra = {"user": user} if user is not None else {}

    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(
            model=model, messages=MESSAGES, extra_headers=_predibase(fake), extra_body=extra
        )

    error = raised.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == (param, code)
    assert fake.received == []


def _foundry(fake: FakeProvider, **options: str) -> dict[str, str]:
    headers = {
        "x-portkey-provider": "azure-ai",
        "x-portkey-azure-foundry-url": f"http://127.0.0.1:{fake.port}/models",
    }
    return headers | {f"x-portkey-{name.replace('_', '-')}": value for name, value in options.items()}


async def test_azure_ai_sends_to_the_foundry_url_with_azures_routing_headers(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", "/models/chat/completions", _answer)
    headers = _foundry(fake, azure_api_version="2024-05-01-preview", azure_deployment_name="mistral-large-1")

    answer = await sdk.chat.completions.create(
        model="mistral-large", messages=MESSAGES, extra_headers=headers
    )

    assert answer.choices[0].message.content == "hello there"
    assert fake.last.path == "/models/chat/completions"
    assert fake.last.query == "api-version=2024-05-01-preview"
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    assert fake.last.headers["extra-parameters"] == "drop"
    assert fake.last.headers["azureml-model-deployment"] == "mistral-large-1"
    assert "api-key" not in fake.last.headers


async def test_azure_ai_relays_a_streamed_chat_and_passes_the_extra_parameters_choice(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", "/models/chat/completions", _stream)

    stream = await sdk.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        extra_headers=_foundry(fake, azure_extra_params="pass-through"),
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert text == "hello"
    assert fake.last.headers["extra-parameters"] == "pass-through"
    assert fake.last.query == ""


async def test_azure_ai_config_keys_name_the_foundry_url_as_portkey_names_them(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    config = {
        "provider": "azure-ai",
        "azure_foundry_url": f"http://127.0.0.1:{fake.port}/models",
        "azure_extra_parameters": "error",
        "azure_deployment_name": "dep-2",
    }
    fake.on("POST", "/models/embeddings", _embeddings)

    await sdk.embeddings.create(
        model="cohere-embed-v3", input="x", extra_headers={"x-portkey-config": orjson.dumps(config).decode()}
    )

    assert fake.last.path == "/models/embeddings"
    assert fake.last.headers["extra-parameters"] == "error"
    assert fake.last.headers["azureml-model-deployment"] == "dep-2"


async def test_azure_ai_sends_an_entra_id_token_instead_of_the_key(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    await sdk.chat.completions.create(
        model="m", messages=MESSAGES, extra_headers=_foundry(fake, azure_ad_token="entra-token-1")
    )

    assert fake.last.headers["Authorization"] == "Bearer entra-token-1"


async def test_azure_ai_without_a_foundry_url_is_a_400_naming_it(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"x-portkey-provider": "azure-ai"}
        )

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == "x-portkey-azure-foundry-url"
    assert raised.value.body["code"] == "missing_azure_foundry_url"
    assert fake.received == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://169.254.169.254/models", "custom_host_not_allowed"),
        ("http://user:pw@127.0.0.1:{port}/models", "invalid_custom_host"),
        ("http://127.0.0.1:{port}/models?x=1", "invalid_custom_host"),
        ("http://127.0.0.1:{port}/models/../admin", "invalid_custom_host"),
        ("file:///etc/passwd", "invalid_custom_host"),
    ],
)
async def test_a_foundry_url_goes_through_the_custom_host_guard(
    url: str, code: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    headers = {"x-portkey-provider": "azure-ai", "x-portkey-azure-foundry-url": url.format(port=fake.port)}

    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)

    error = raised.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == ("x-portkey-azure-foundry-url", code)
    assert "pw" not in error["message"]
    assert fake.received == []


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("azure_extra_params", "allow-all", "invalid_azure_extra_params"),
        ("azure_deployment_name", "a/b", "invalid_azure_deployment_name"),
        ("azure_api_version", "2024&x=1", "invalid_azure_api_version"),
    ],
)
async def test_azure_ai_refuses_an_option_it_cannot_send_safely(
    option: str, value: str, code: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers=_foundry(fake, **{option: value})
        )

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == code
    assert fake.received == []


async def test_a_virtual_keys_stored_key_never_goes_to_a_foundry_url_the_caller_names(
    make_gateway: Callable[..., Awaitable[TestServer]], fake: FakeProvider, fake_b: FakeProvider
) -> None:
    stored = VirtualKey(
        "foundry", "azure-ai", api_key="sk-stored-secret", base_url=f"http://127.0.0.1:{fake.port}/models"
    )
    server = await make_gateway(Settings(virtual_keys={"foundry": stored}))
    headers = {"x-portkey-virtual-key": "foundry"}
    elsewhere = headers | {"x-portkey-azure-foundry-url": f"http://127.0.0.1:{fake_b.port}/models"}

    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key=KEY, max_retries=0
    ) as client:
        await client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
        with pytest.raises(BadRequestError) as raised:
            await client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=elsewhere)

    assert fake.last.path == "/models/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer sk-stored-secret"
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "custom_host_with_virtual_key"
    assert "sk-stored-secret" not in raised.value.body["message"]
    assert fake_b.received == []


def _databricks(fake: FakeProvider) -> dict[str, str]:
    host = f"http://127.0.0.1:{fake.port}/serving-endpoints"
    return {"x-portkey-provider": "databricks", "x-portkey-custom-host": host}


async def test_databricks_serves_chat_and_streams_under_serving_endpoints(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", "/serving-endpoints/chat/completions", _answer)

    answer = await sdk.chat.completions.create(
        model="databricks-meta-llama-3-3-70b-instruct", messages=MESSAGES, extra_headers=_databricks(fake)
    )
    fake.on("POST", "/serving-endpoints/chat/completions", _stream)
    stream = await sdk.chat.completions.create(
        model="databricks-meta-llama-3-3-70b-instruct",
        messages=MESSAGES,
        stream=True,
        extra_headers=_databricks(fake),
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert answer.choices[0].message.content == "hello there"
    assert text == "hello"
    assert [received.path for received in fake.received] == ["/serving-endpoints/chat/completions"] * 2
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"


async def test_databricks_embeddings_go_to_the_workspaces_serving_endpoints(
    fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    fake.on("POST", "/serving-endpoints/embeddings", _embeddings)

    answer = await sdk.embeddings.create(
        model="databricks-gte-large-en", input="x", extra_headers=_databricks(fake)
    )

    assert answer.data[0].embedding == [0.5, 0.25]
    sent = orjson.loads(fake.last.body)
    assert (sent["model"], sent["input"]) == ("databricks-gte-large-en", "x")


@pytest.mark.parametrize(
    ("workspace", "code"),
    [
        (None, "missing_databricks_workspace"),
        ("evil.com", "invalid_provider_option"),
        ("evil.com/.cloud.databricks.com", "invalid_provider_option"),
        ("a@dbc-1.cloud.databricks.com", "invalid_provider_option"),
        ("evil.com#.cloud.databricks.com", "invalid_provider_option"),
        ("dbc-1.cloud.databricks.com:8443", "invalid_provider_option"),
        ("http://dbc-1.cloud.databricks.com", "invalid_provider_option"),
        ("cloud.databricks.com.evil.com", "invalid_provider_option"),
    ],
)
async def test_databricks_without_a_workspace_host_under_databricks_is_a_400_and_nothing_is_sent(
    workspace: str | None, code: str, fake: FakeProvider, sdk: AsyncOpenAI
) -> None:
    headers = {"x-portkey-provider": "databricks"}
    if workspace is not None:
        headers["x-portkey-databricks-workspace"] = workspace

    with pytest.raises(BadRequestError) as raised:
        await sdk.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)

    error = raised.value.body
    assert isinstance(error, dict)
    assert (error["param"], error["code"]) == ("x-portkey-databricks-workspace", code)
    assert fake.received == []


@pytest.mark.parametrize(
    ("workspace", "url"),
    [
        (
            "dbc-1234abcd-5678.cloud.databricks.com",
            "https://dbc-1234abcd-5678.cloud.databricks.com/serving-endpoints",
        ),
        (
            "https://adb-1234567890123456.7.azuredatabricks.net/",
            "https://adb-1234567890123456.7.azuredatabricks.net/serving-endpoints",
        ),
        (
            "1234567890123456.7.gcp.databricks.com",
            "https://1234567890123456.7.gcp.databricks.com/serving-endpoints",
        ),
    ],
)
def test_the_databricks_workspace_names_the_host_on_each_cloud(workspace: str, url: str) -> None:
    assert workspace_base_url({"databricks-workspace": workspace}) == url
