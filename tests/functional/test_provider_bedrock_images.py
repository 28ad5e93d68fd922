"""Bedrock image generation through the gateway: the OpenAI SDK's images.generate on one side, the
fake Bedrock runtime (which checks every SigV4 signature) answering InvokeModel in each image model
family's documented shape on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, InternalServerError, PermissionDeniedError

from tests.functional.fake_bedrock import SECRET_KEY, FakeBedrock, json_answer

TITAN = "amazon.titan-image-generator-v2:0"
NOVA = "amazon.nova-canvas-v1:0"


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


@pytest.fixture
async def sdk(gateway_url: str, bedrock: FakeBedrock) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=bedrock.headers, max_retries=0
    )
    yield client
    await client.close()


@pytest.mark.parametrize("model", [TITAN, NOVA])
async def test_an_amazon_model_gets_a_signed_text_image_task_and_its_images_come_back(
    model: str, sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"images": ["aW1hZ2Ux", "aW1hZ2Uy"], "error": None}))
    answer = await sdk.images.generate(
        model=model,
        prompt="a lighthouse",
        n=2,
        size="1024x768",
        quality="hd",
        extra_body={"negative_prompt": "fog", "seed": 12, "cfg_scale": 8.0},
    )

    assert [item.b64_json for item in answer.data] == ["aW1hZ2Ux", "aW1hZ2Uy"]
    call = bedrock.last
    assert (call.model, call.action) == (model, "invoke")
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert call.json() == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse", "negativeText": "fog"},
        "imageGenerationConfig": {
            "numberOfImages": 2,
            "width": 1024,
            "height": 768,
            "quality": "premium",
            "cfgScale": 8.0,
            "seed": 12,
        },
    }


async def test_a_stability_image_model_gets_its_own_body_and_its_images_come_back(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"seeds": [7], "finish_reasons": [None], "images": ["c2Qz"]}))
    answer = await sdk.images.generate(
        model="stability.sd3-5-large-v1:0",
        prompt="a fox",
        extra_body={"aspect_ratio": "16:9", "output_format": "png", "seed": 7},
    )

    assert [item.b64_json for item in answer.data] == ["c2Qz"]
    assert bedrock.last.model == "stability.sd3-5-large-v1:0"
    assert bedrock.last.json() == {
        "prompt": "a fox",
        "aspect_ratio": "16:9",
        "output_format": "png",
        "seed": 7,
    }


async def test_stabilitys_sdxl_gets_text_prompts_and_its_artifacts_come_back(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    artifacts = [{"base64": "eGwx", "finishReason": "SUCCESS", "seed": 1}]
    bedrock.answer(json_answer({"result": "success", "artifacts": artifacts}))
    answer = await sdk.images.generate(
        model="stability.stable-diffusion-xl-v1", prompt="a castle", size="512x512"
    )

    assert [item.b64_json for item in answer.data] == ["eGwx"]
    assert bedrock.last.json() == {
        "text_prompts": [{"text": "a castle", "weight": 1}],
        "samples": 1,
        "width": 512,
        "height": 512,
    }


async def test_a_bedrock_error_keeps_its_status_names_the_provider_and_no_secret(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"message": "You don't have access to the model."}, status=403))
    with pytest.raises(PermissionDeniedError) as raised:
        await sdk.images.generate(model=TITAN, prompt="x")

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "bedrock: You don't have access to the model."
    assert SECRET_KEY not in str(raised.value.body)


@pytest.mark.parametrize(
    ("model", "params", "param"),
    [
        (TITAN, {"n": 6}, "n"),
        (TITAN, {"quality": "low"}, "quality"),
        (TITAN, {"style": "vivid"}, "style"),
        (TITAN, {"response_format": "url"}, "response_format"),
        ("stability.stable-image-core-v1:1", {"size": "1024x1024"}, "size"),
        ("meta.llama3-70b-instruct-v1:0", {}, "model"),
    ],
)
async def test_what_a_bedrock_image_model_cannot_be_asked_is_a_400_before_anything_is_sent(
    model: str, params: dict[str, object], param: str, sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model=model, prompt="a cat", extra_body=params)

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert bedrock.calls == []


async def test_a_titan_answer_without_images_is_a_502_carrying_titans_error(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    refusal = "This request has been blocked by our content filters."
    bedrock.answer(json_answer({"images": [], "error": refusal}))
    with pytest.raises(InternalServerError) as raised:
        await sdk.images.generate(model=TITAN, prompt="x")

    assert raised.value.status_code == 502
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == f"bedrock: {refusal}"
