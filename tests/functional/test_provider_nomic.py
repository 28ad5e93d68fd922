"""Nomic through the gateway: the OpenAI SDK's embeddings.create on one side, a fake speaking
Nomic Atlas's ``/v1/embedding/text`` on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from openai import APIStatusError, AsyncOpenAI, AuthenticationError, BadRequestError

from tests.functional.fake_nomic import PATH, FakeNomic

KEY = "nk-nomic-test-key"


@pytest.fixture
async def nomic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeNomic:
    fake = FakeNomic()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


@pytest.fixture
async def sdk(gateway_url: str, nomic: FakeNomic) -> AsyncIterator[AsyncOpenAI]:
    headers = {"x-portkey-provider": "nomic", "x-portkey-custom-host": nomic.base_url}
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0)
    yield client
    await client.close()


async def test_texts_go_to_nomic_and_come_back_as_openai_embeddings_with_usage(
    sdk: AsyncOpenAI, nomic: FakeNomic
) -> None:
    answer = await sdk.embeddings.create(
        model="nomic-embed-text-v1.5",
        input=["first", "second"],
        dimensions=3,
        encoding_format="float",
        extra_body={"task_type": "search_query"},
    )

    assert [item.embedding for item in answer.data] == [[0.0, 0.5, 0.5], [1.0, 0.5, 0.5]]
    assert [item.index for item in answer.data] == [0, 1]
    assert answer.model == "nomic-embed-text-v1.5"
    assert answer.usage.prompt_tokens == 6
    assert answer.usage.total_tokens == 6
    assert nomic.last.path == PATH
    assert nomic.last.headers["Authorization"] == f"Bearer {KEY}"
    assert nomic.last.body == {
        "texts": ["first", "second"],
        "model": "nomic-embed-text-v1.5",
        "task_type": "search_query",
        "dimensionality": 3,
    }


async def test_the_sdks_default_base64_encoding_decodes_to_nomics_floats(
    sdk: AsyncOpenAI, nomic: FakeNomic
) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it: it must see Nomic's floats.
    answer = await sdk.embeddings.create(model="nomic-embed-text-v1", input="one text")

    assert [item.embedding for item in answer.data] == [[0.0, 0.5, 0.5, 0.5]]
    assert nomic.last.body == {"texts": ["one text"], "model": "nomic-embed-text-v1"}


async def test_a_validation_error_names_its_field_and_the_provider(
    sdk: AsyncOpenAI, nomic: FakeNomic
) -> None:
    detail = [{"loc": ["body", "task_type"], "msg": "unexpected value", "type": "value_error.const"}]
    nomic.fail(422, {"detail": detail})
    with pytest.raises(APIStatusError) as raised:
        await sdk.embeddings.create(model="nomic-embed-text-v1", input="x")

    assert raised.value.status_code == 422
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["message"] == "nomic: body.task_type: unexpected value"
    assert body["code"] == "value_error.const"


async def test_nomics_auth_error_is_a_401_naming_the_provider_without_the_key(
    sdk: AsyncOpenAI, nomic: FakeNomic
) -> None:
    nomic.fail(401, {"detail": "Invalid API key"})
    with pytest.raises(AuthenticationError) as raised:
        await sdk.embeddings.create(model="nomic-embed-text-v1", input="x")

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "nomic: Invalid API key"
    assert KEY not in str(raised.value.body)


@pytest.mark.parametrize(
    ("params", "param"),
    [({"user": "u1"}, "user"), ({"dimensions": 0}, "dimensions"), ({"input": [[1, 2]]}, "input")],
)
async def test_what_nomic_cannot_be_asked_is_a_400_before_anything_is_sent(
    params: dict[str, object], param: str, sdk: AsyncOpenAI, nomic: FakeNomic
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.embeddings.create(**{"model": "nomic-embed-text-v1", "input": "x", **params})  # type: ignore[arg-type]

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert nomic.received == []
