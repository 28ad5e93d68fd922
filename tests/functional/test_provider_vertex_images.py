"""Imagen on Vertex AI through the gateway: the OpenAI SDK's images.generate on one side, a fake
answering Vertex's ``predict`` for Imagen (and Google's token endpoint) on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI, BadRequestError, RateLimitError

from tests.fake_provider import FakeProvider
from tests.functional.fake_gemini import error_reply, json_reply, service_account_json, token_endpoint

PROJECT = "my-project"
IMAGEN = "imagen-3.0-generate-002"
PREDICT = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/{IMAGEN}:predict"
TOKEN = "ya29.access-token"
PREDICTIONS = {
    "predictions": [
        {"bytesBase64Encoded": "aW1hZ2VB", "mimeType": "image/png"},
        {"bytesBase64Encoded": "aW1hZ2VC", "mimeType": "image/png"},
    ]
}


@pytest.fixture
async def sdk(gateway_url: str, fake: FakeProvider) -> AsyncIterator[AsyncOpenAI]:
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-project-id": PROJECT,
    }
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=TOKEN, default_headers=headers, max_retries=0)
    yield client
    await client.close()


async def test_imagen_gets_instances_and_parameters_and_its_images_come_back(
    sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", PREDICT, json_reply(PREDICTIONS))
    answer = await sdk.images.generate(
        model=IMAGEN,
        prompt="a lighthouse",
        n=2,
        quality="hd",
        response_format="b64_json",
        extra_body={"aspectRatio": "16:9", "personGeneration": "dont_allow", "mimeType": "image/jpeg"},
    )

    assert [item.b64_json for item in answer.data] == ["aW1hZ2VB", "aW1hZ2VC"]
    assert fake.last.path == PREDICT
    assert fake.last.headers["Authorization"] == f"Bearer {TOKEN}"
    assert fake.last.json() == {
        "instances": [{"prompt": "a lighthouse"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "personGeneration": "dont_allow",
            "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 100},
        },
    }


async def test_a_service_account_key_is_traded_for_the_token_imagen_gets(
    gateway_url: str, fake: FakeProvider
) -> None:
    key = service_account_json(f"http://127.0.0.1:{fake.port}/token", project_id=PROJECT)
    fake.on("POST", "/token", token_endpoint("ya29.from-key"))
    fake.on("POST", PREDICT, json_reply(PREDICTIONS))
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-service-account-json": key,
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as sdk:
        answer = await sdk.images.generate(model=IMAGEN, prompt="a fox")

    assert len(answer.data) == 2
    assert fake.last.path == PREDICT
    assert fake.last.headers["Authorization"] == "Bearer ya29.from-key"


async def test_an_answer_whose_images_were_all_filtered_is_a_400_saying_why(
    sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    reason = "Your current safety filter threshold filtered out the generated image."
    fake.on("POST", PREDICT, json_reply({"predictions": [{"raiFilteredReason": reason}]}))
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model=IMAGEN, prompt="x", extra_body={"safetySetting": "block_most"})

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "content_filter"
    assert raised.value.body["message"] == f"vertex-ai: {reason}"


async def test_a_vertex_error_keeps_its_status_naming_the_provider(
    sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", PREDICT, error_reply(429, "Quota exceeded for imagen", "RESOURCE_EXHAUSTED"))
    with pytest.raises(RateLimitError) as raised:
        await sdk.images.generate(model=IMAGEN, prompt="x")

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "vertex-ai: Quota exceeded for imagen"
    assert raised.value.body["code"] == "RESOURCE_EXHAUSTED"
    assert TOKEN not in str(raised.value.body)


@pytest.mark.parametrize(
    ("params", "param"),
    [({"n": 5}, "n"), ({"size": "1024x1024"}, "size"), ({"response_format": "url"}, "response_format")],
)
async def test_what_imagen_cannot_be_asked_is_a_400_before_anything_is_sent(
    params: dict[str, object], param: str, sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await sdk.images.generate(model=IMAGEN, prompt="a cat", extra_body=params)

    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert fake.received == []


async def test_a_model_name_cannot_add_a_path_segment(sdk: AsyncOpenAI, fake: FakeProvider) -> None:
    with pytest.raises(BadRequestError):
        await sdk.images.generate(model="../../../other-project/imagen", prompt="a cat")
    assert fake.received == []
