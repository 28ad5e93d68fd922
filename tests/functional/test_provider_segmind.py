"""Segmind through the gateway: the OpenAI SDK's images.generate on one side, a fake speaking
Segmind's serverless ``POST /v1/{model}`` on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from openai import (
    APIStatusError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
)

from tests.functional.fake_segmind import API_KEY, FakeSegmind, image


@pytest.fixture
async def segmind(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeSegmind:
    fake = FakeSegmind()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


def client(gateway_url: str, segmind: FakeSegmind, key: str = API_KEY) -> AsyncOpenAI:
    headers = {"x-portkey-provider": "segmind", "x-portkey-custom-host": segmind.base_url}
    return AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=key, default_headers=headers, max_retries=0)


@pytest.fixture
async def sdk(gateway_url: str, segmind: FakeSegmind) -> AsyncIterator[AsyncOpenAI]:
    async with client(gateway_url, segmind) as sdk:
        yield sdk


async def test_the_model_is_the_path_the_key_is_x_api_key_and_images_come_back_as_b64_json(
    sdk: AsyncOpenAI, segmind: FakeSegmind
) -> None:
    answer = await sdk.images.generate(
        model="sdxl1.0-txt2img",
        prompt="a lighthouse",
        n=2,
        size="1024x768",
        extra_body={"steps": 25, "negative_prompt": "fog", "scheduler": "UniPC"},
    )

    assert [item.b64_json for item in answer.data] == [image(0), image(1)]
    assert segmind.last.path == "/v1/sdxl1.0-txt2img"
    assert segmind.last.headers["x-api-key"] == API_KEY
    assert "Authorization" not in segmind.last.headers
    assert segmind.last.body == {
        "prompt": "a lighthouse",
        "samples": 2,
        "img_width": 1024,
        "img_height": 768,
        "num_inference_steps": 25,
        "negative_prompt": "fog",
        "scheduler": "UniPC",
        "base64": True,
    }


async def test_a_model_gets_only_the_fields_given_and_base64(sdk: AsyncOpenAI, segmind: FakeSegmind) -> None:
    answer = await sdk.images.generate(model="flux-schnell", prompt="a fox")

    assert [item.b64_json for item in answer.data] == [image(0)]
    assert segmind.last.body == {"prompt": "a fox", "base64": True}


async def test_a_wrong_key_is_segminds_401_naming_the_provider_without_the_key(
    gateway_url: str, segmind: FakeSegmind
) -> None:
    async with client(gateway_url, segmind, key="SG_wrong_secret_key") as sdk:
        with pytest.raises(AuthenticationError) as raised:
            await sdk.images.generate(model="flux-schnell", prompt="x")

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "segmind: Unauthorized: invalid API key"
    assert "SG_wrong_secret_key" not in str(raised.value.body)


async def test_an_unknown_model_is_segminds_404(sdk: AsyncOpenAI, segmind: FakeSegmind) -> None:
    with pytest.raises(NotFoundError) as raised:
        await sdk.images.generate(model="no-such-model", prompt="x")
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "segmind: Model not found"


async def test_an_html_message_error_is_relayed_naming_the_provider(
    sdk: AsyncOpenAI, segmind: FakeSegmind
) -> None:
    segmind.failure = (406, {"html-message": "Not enough credits"})
    with pytest.raises(APIStatusError) as raised:  # 406 has no SDK class of its own
        await sdk.images.generate(model="flux-schnell", prompt="x")
    assert raised.value.status_code == 406
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "segmind: Not enough credits"


@pytest.mark.parametrize(
    ("model", "params", "param"),
    [
        ("flux-schnell", {"quality": "hd"}, "quality"),
        ("flux-schnell", {"response_format": "url"}, "response_format"),
        ("flux-schnell", {"n": 11}, "n"),
        ("flux-schnell", {"size": "big"}, "size"),
        ("../v2/other", {}, "model"),
    ],
)
async def test_what_segmind_cannot_be_asked_is_a_400_before_anything_is_sent(
    model: str, params: dict[str, object], param: str, sdk: AsyncOpenAI, segmind: FakeSegmind
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model=model, prompt="a cat", extra_body=params)

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert segmind.received == []


async def test_an_answer_without_an_image_is_a_502_naming_the_provider(
    sdk: AsyncOpenAI, segmind: FakeSegmind
) -> None:
    segmind.failure = (200, {"status": "Success"})
    with pytest.raises(InternalServerError) as raised:
        await sdk.images.generate(model="flux-schnell", prompt="x")

    assert raised.value.status_code == 502
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "segmind: the answer holds no image."
