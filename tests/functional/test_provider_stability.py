"""Stability AI through the gateway: the OpenAI SDK's images.generate on one side, a fake speaking
Stability's v1 (JSON) and v2beta (multipart) image APIs on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, RateLimitError

from tests.fake_provider import FakeProvider, Received
from tests.functional.fake_stability import FakeStability, image

KEY = "sk-stability-test-key"


@pytest.fixture
async def stability(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeStability:
    fake = FakeStability()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


@pytest.fixture
async def sdk(gateway_url: str, stability: FakeStability) -> AsyncIterator[AsyncOpenAI]:
    headers = {"x-portkey-provider": "stability-ai", "x-portkey-custom-host": stability.host}
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0)
    yield client
    await client.close()


async def test_a_v2_model_gets_a_multipart_form_and_its_image_comes_back_as_b64_json(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    answer = await sdk.images.generate(
        model="core",
        prompt="a lighthouse at dusk",
        response_format="b64_json",
        extra_body={"aspect_ratio": "16:9", "negative_prompt": "fog", "seed": 7, "output_format": "png"},
    )

    assert [item.b64_json for item in answer.data] == [image(0)]
    assert answer.created > 0
    received = stability.last
    assert received.path == "/v2beta/stable-image/generate/core"
    assert received.headers["Authorization"] == f"Bearer {KEY}"
    assert received.headers["Accept"] == "application/json"
    assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert received.fields == {
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "16:9",
        "negative_prompt": "fog",
        "seed": "7",
        "output_format": "png",
    }


async def test_an_sd3_model_goes_to_the_sd3_endpoint_named_in_the_form(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    answer = await sdk.images.generate(model="sd3.5-large", prompt="a red fox")

    assert [item.b64_json for item in answer.data] == [image(0)]
    assert stability.last.path == "/v2beta/stable-image/generate/sd3"
    assert stability.last.fields == {"prompt": "a red fox", "model": "sd3.5-large"}


async def test_a_v1_engine_gets_text_prompts_samples_and_size_and_every_artifact_comes_back(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    answer = await sdk.images.generate(
        model="stable-diffusion-xl-1024-v1-0",
        prompt="a castle",
        n=2,
        size="1024x1024",
        style="vivid",
        extra_body={"cfg_scale": 7, "steps": 30},
    )

    assert [item.b64_json for item in answer.data] == [image(0), image(1)]
    assert stability.last.path == "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image"
    assert stability.last.headers["Content-Type"] == "application/json"
    assert stability.last.headers["Authorization"] == f"Bearer {KEY}"
    assert stability.last.fields == {
        "text_prompts": [{"text": "a castle", "weight": 1}],
        "samples": 2,
        "width": 1024,
        "height": 1024,
        "style_preset": "vivid",
        "cfg_scale": 7,
        "steps": 30,
    }


async def test_portkeys_stability_client_headers_reach_stability(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    await sdk.images.generate(
        model="ultra",
        prompt="a kite",
        extra_headers={
            "x-portkey-stability-client-id": "my-app",
            "x-portkey-stability-client-user-id": "user-9",
            "x-portkey-stability-client-version": "1.2.1",
        },
    )

    headers = stability.last.headers
    assert headers["stability-client-id"] == "my-app"
    assert headers["stability-client-user-id"] == "user-9"
    assert headers["stability-client-version"] == "1.2.1"


async def test_a_v2_error_keeps_its_status_and_is_openai_shaped_naming_the_provider(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    stability.fail(429, {"id": "r1", "name": "rate_limit_exceeded", "errors": ["too many", "slow down"]})
    with pytest.raises(RateLimitError) as raised:
        await sdk.images.generate(model="core", prompt="a boat")

    error = raised.value.body
    assert isinstance(error, dict)
    assert error["message"] == "stability-ai: too many, slow down"
    assert error["code"] == "rate_limit_exceeded"
    assert KEY not in str(error)


async def test_a_v1_error_message_is_relayed_naming_the_provider(
    sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    stability.fail(400, {"id": "r2", "name": "invalid_prompts", "message": "prompt was flagged"})
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model="stable-diffusion-v1-6", prompt="x")

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "stability-ai: prompt was flagged"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"model": "core", "size": "1024x1024"}, "size"),  # v2 takes aspect_ratio
        ({"model": "core", "n": 2}, "n"),  # v2 makes one image a request
        ({"model": "core", "response_format": "url"}, "response_format"),
        ({"model": "stable-diffusion-v1-6", "n": 11}, "n"),
        ({"model": "stable-diffusion-v1-6", "aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"model": "../v1/user/account"}, "model"),
    ],
)
async def test_what_stability_cannot_be_asked_is_a_400_before_anything_is_sent(
    params: dict[str, object], param: str, sdk: AsyncOpenAI, stability: FakeStability
) -> None:
    model = params.pop("model")
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model=model, prompt="a cat", extra_body=params)  # type: ignore[arg-type]

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert stability.received == []


async def test_chat_is_refused_for_stability(sdk: AsyncOpenAI, stability: FakeStability) -> None:
    with pytest.raises(BadRequestError):
        await sdk.chat.completions.create(model="core", messages=[{"role": "user", "content": "hi"}])
    assert stability.received == []


async def test_a_fallback_config_moves_from_a_failing_stability_to_another_image_provider(
    gateway_url: str, stability: FakeStability, fake: FakeProvider
) -> None:
    stability.fail(503, {"id": "r4", "name": "service_unavailable", "errors": ["overloaded"]})

    async def openai_images(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"created": 1, "data": [{"b64_json": "b3BlbmFp"}]})

    fake.on("POST", "/v1/images/generations", openai_images)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "stability-ai", "api_key": KEY, "custom_host": stability.host},
            {
                "provider": "openai",
                "api_key": "sk-openai",
                "custom_host": fake.base_url,
                "override_params": {"model": "gpt-image-1"},
            },
        ],
    }
    headers = {"x-portkey-config": orjson.dumps(config).decode()}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as sdk:
        answer = await sdk.images.generate(model="core", prompt="a boat", response_format="b64_json")

    assert [item.b64_json for item in answer.data] == ["b3BlbmFp"]
    assert stability.last.path == "/v2beta/stable-image/generate/core"
    assert fake.last.json() == {"model": "gpt-image-1", "prompt": "a boat", "response_format": "b64_json"}
