"""Google Vertex AI (``x-portkey-provider: vertex-ai``) through the gateway, with the official OpenAI
SDK, against a fake that speaks Vertex: project/region paths, Gemini models in Gemini's format, Claude
models in Anthropic's through rawPredict, embeddings through predict, bearer tokens, and an OAuth2
token endpoint for service-account keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from openai import AsyncOpenAI, BadRequestError, NotFoundError, RateLimitError

from gateway.providers import vertex
from gateway.providers.base import UpstreamCall
from tests.fake_provider import FakeProvider
from tests.functional.fake_gemini import (
    answer,
    error_reply,
    events_of,
    fixture,
    json_reply,
    service_account_json,
    stream_reply,
    token_endpoint,
)

PROJECT = "my-project"
PUBLISHERS = f"/v1/projects/{PROJECT}/locations/us-central1/publishers"
GEMINI = "gemini-2.0-flash"
CLAUDE = "claude-sonnet-4@20250514"
USER = [{"role": "user", "content": "Hello"}]
Client = Callable[..., AsyncOpenAI]


@pytest.fixture
async def make_client(gateway_url: str, fake: FakeProvider) -> AsyncIterator[Client]:
    """An SDK client for Vertex; ``options`` become x-portkey-vertex-* headers."""
    made: list[AsyncOpenAI] = []

    def make(api_key: str = "ya29.access-token", **options: str) -> AsyncOpenAI:
        headers = {
            "x-portkey-provider": "vertex-ai",
            "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        }
        headers.update(
            {f"x-portkey-vertex-{name.replace('_', '-')}": value for name, value in options.items()}
        )
        sdk = AsyncOpenAI(
            base_url=f"{gateway_url}/v1", api_key=api_key, default_headers=headers, max_retries=0
        )
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        await sdk.close()


@pytest.fixture
def client(make_client: Client) -> AsyncOpenAI:
    return make_client(project_id=PROJECT)


def error_of(exc: Exception) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    assert isinstance(body, dict)
    return body


async def test_gemini_model_with_an_access_token(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"{PUBLISHERS}/google/models/{GEMINI}:generateContent"
    counts = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}
    fake.on("POST", path, json_reply(answer([{"text": "Hi there."}], counts=counts)))
    result = await client.chat.completions.create(model=GEMINI, messages=USER, max_tokens=20)
    assert result.choices[0].message.content == "Hi there."
    assert result.usage is not None
    assert result.usage.total_tokens == 5
    assert fake.last.path == path
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
    assert "x-goog-api-key" not in fake.last.headers
    assert fake.last.json() == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 20},
    }


async def test_gemini_stream_in_another_region(make_client: Client, fake: FakeProvider) -> None:
    where = f"/v1/projects/{PROJECT}/locations/europe-west4"
    path = f"{where}/publishers/google/models/{GEMINI}:streamGenerateContent"
    fake.on("POST", path, stream_reply(events_of(fixture("text-stream.sse"))))
    client = make_client(project_id=PROJECT, region="europe-west4")
    stream = await client.chat.completions.create(model=GEMINI, messages=USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "The capital of France is Paris."
    assert fake.last.query == "alt=sse"


async def test_claude_model_through_raw_predict(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"{PUBLISHERS}/anthropic/models/{CLAUDE}:rawPredict"
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 8, "output_tokens": 3},
    }
    fake.on("POST", path, json_reply(message))
    result = await client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "system", "content": "Be kind."}, *USER], max_tokens=100
    )
    assert result.choices[0].message.content == "Hello!"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (8, 3)
    assert fake.last.path == path
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
    assert fake.last.json() == {
        "anthropic_version": "vertex-2023-10-16",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "system": [{"type": "text", "text": "Be kind."}],
        "max_tokens": 100,
    }


async def test_claude_stream_through_stream_raw_predict(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"{PUBLISHERS}/anthropic/models/{CLAUDE}:streamRawPredict"
    events = [
        {"type": "message_start", "message": {"id": "msg_2", "model": CLAUDE, "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    body = [f"event: {data['type']}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for data in events]
    fake.on("POST", path, stream_reply(body))
    stream = await client.chat.completions.create(
        model=CLAUDE, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2
    sent = fake.last.json()
    assert isinstance(sent, dict)
    assert sent["stream"] is True
    assert "model" not in sent


async def test_claude_errors_in_anthropic_shape(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"{PUBLISHERS}/anthropic/models/{CLAUDE}:rawPredict"
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down."}}
    fake.on("POST", path, json_reply(error, 429))
    with pytest.raises(RateLimitError) as raised:
        await client.chat.completions.create(model=CLAUDE, messages=USER)
    assert error_of(raised.value)["message"] == "vertex-ai: Slow down."


async def test_gemini_errors_in_google_shape(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"{PUBLISHERS}/google/models/gemini-9:generateContent"
    fake.on("POST", path, error_reply(404, "Publisher model gemini-9 was not found.", "NOT_FOUND"))
    with pytest.raises(NotFoundError) as raised:
        await client.chat.completions.create(model="gemini-9", messages=USER)
    assert error_of(raised.value)["message"] == "vertex-ai: Publisher model gemini-9 was not found."


async def test_service_account_token_is_exchanged_once_and_reused(
    make_client: Client, fake: FakeProvider
) -> None:
    key = service_account_json(f"http://127.0.0.1:{fake.port}/token", project_id="key-project")
    path = f"/v1/projects/key-project/locations/us-central1/publishers/google/models/{GEMINI}:generateContent"
    fake.on("POST", "/token", token_endpoint("ya29.from-key"))
    fake.on("POST", path, json_reply(answer([{"text": "ok"}])))
    # The key wins over the API key: the SDK always sends one, here a placeholder.
    client = make_client(api_key="unused", service_account_json=key)
    for _ in range(2):
        await client.chat.completions.create(model=GEMINI, messages=USER)
    assert [r.path for r in fake.received] == ["/token", path, path]
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in fake.received[0].body
    assert [r.headers["Authorization"] for r in fake.received[1:]] == ["Bearer ya29.from-key"] * 2


async def test_missing_credentials_are_refused(gateway_url: str, fake: FakeProvider) -> None:
    headers = {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-project-id": PROJECT,
    }
    async with aiohttp.ClientSession() as http:  # no API key at all (the SDK always sends one)
        url = f"{gateway_url}/v1/chat/completions"
        async with http.post(url, json={"model": GEMINI, "messages": USER}, headers=headers) as response:
            assert response.status == 400
            error = (await response.json())["error"]
    assert error["param"] == "x-portkey-vertex-service-account-json"
    assert fake.received == []


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({}, "x-portkey-vertex-project-id"),
        ({"project_id": "bad/project"}, "x-portkey-vertex-project-id"),
        ({"project_id": PROJECT, "region": "us-central1/../x"}, "x-portkey-vertex-region"),
    ],
)
async def test_project_and_region_are_required_and_checked(
    make_client: Client, fake: FakeProvider, options: dict[str, str], param: str
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await make_client(**options).chat.completions.create(model=GEMINI, messages=USER)
    assert error_of(raised.value)["param"] == param
    assert fake.received == []


def test_hosts_by_region() -> None:
    chat = vertex.provider().translation("chat/completions")
    assert chat is not None
    body = {"model": GEMINI, "messages": USER}
    for region, url in [
        ("", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"),
        ("global", "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"),
    ]:
        call = UpstreamCall("chat/completions", "", "", {"vertex-project-id": "p", "vertex-region": region})
        assert chat.request(call, body).url.startswith(url)


async def test_embeddings_through_predict(make_client: Client, fake: FakeProvider) -> None:
    path = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    predictions = [
        {"embeddings": {"values": [0.5, 0.25], "statistics": {"token_count": 3, "truncated": False}}},
        {"embeddings": {"values": [1.0, -1.0], "statistics": {"token_count": 4, "truncated": False}}},
    ]
    fake.on("POST", path, json_reply({"predictions": predictions}))
    client = make_client(project_id=PROJECT)
    # The SDK asks for base64 unless told otherwise, and decodes it back to floats.
    result = await client.embeddings.create(model="text-embedding-005", input=["a b", "c d e"], dimensions=2)
    assert [item.embedding for item in result.data] == [[0.5, 0.25], [1.0, -1.0]]
    assert result.usage.prompt_tokens == 7
    assert fake.last.json() == {
        "instances": [{"content": "a b"}, {"content": "c d e"}],
        "parameters": {"outputDimensionality": 2},
    }
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
