"""``/v1/messages/count_tokens`` through the providers' own token-counting APIs, with the real
``anthropic`` SDK: Bedrock's CountTokens (the InvokeModel body, base64) and Vertex's
``count-tokens:rawPredict`` for Claude; the answer is always Anthropic's ``{"input_tokens": n}``."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic as sdk
import orjson
import pytest
from aiohttp.test_utils import TestServer

from tests.fake_provider import FakeProvider
from tests.functional import fake_bedrock
from tests.functional.fake_bedrock import FakeBedrock, json_answer
from tests.functional.fake_gemini import json_reply

CLAUDE_ON_BEDROCK = "anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_ON_VERTEX = "claude-sonnet-4@20250514"
PROJECT = "my-project"
PUBLISHERS = f"/v1/projects/{PROJECT}/locations/us-central1/publishers"
COUNT_TOKENS = f"{PUBLISHERS}/anthropic/models/count-tokens:rawPredict"
HI = [{"role": "user", "content": "how many tokens are in this request?"}]
SYSTEM = "Answer in French."
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


@pytest.fixture
async def clients(gateway_url: str) -> AsyncIterator[Callable[..., sdk.AsyncAnthropic]]:
    made: list[sdk.AsyncAnthropic] = []

    def make(headers: dict[str, str], api_key: str = "unused-by-aws") -> sdk.AsyncAnthropic:
        client = sdk.AsyncAnthropic(
            base_url=gateway_url, api_key=api_key, default_headers=headers, max_retries=0
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def to_vertex(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-project-id": PROJECT,
    }


def invoke_body(sent: Any) -> Any:
    """The InvokeModel body a CountTokens request carries (base64 in ``input.invokeModel.body``)."""
    assert set(sent) == {"input"}
    assert set(sent["input"]) == {"invokeModel"}
    return orjson.loads(base64.b64decode(sent["input"]["invokeModel"]["body"], validate=True))


# --- Bedrock ------------------------------------------------------------------------------------


async def test_count_tokens_on_bedrock_calls_count_tokens_with_the_invoke_model_body(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"inputTokens": 27}))
    client = clients(bedrock.headers)
    counted = await client.messages.count_tokens(
        model=CLAUDE_ON_BEDROCK,
        system=SYSTEM,
        messages=HI,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
        extra_headers={"anthropic-beta": "token-efficient-tools-2025-02-19"},
    )
    assert counted.input_tokens == 27
    call = bedrock.last  # the fake records a call only once its SigV4 signature checked out
    assert call.path == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens"
    assert call.model == CLAUDE_ON_BEDROCK
    assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fake_bedrock.ACCESS_KEY}/")
    assert invoke_body(call.json()) == {
        "system": SYSTEM,
        "messages": HI,
        "tools": [TOOL],
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["token-efficient-tools-2025-02-19"],
        "max_tokens": 1,
    }


async def test_count_tokens_on_bedrock_keeps_the_clients_max_tokens(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"inputTokens": 9}))
    client = clients(bedrock.headers)
    counted = await client.messages.count_tokens(
        model=CLAUDE_ON_BEDROCK,
        messages=HI,  # type: ignore[arg-type]
        extra_body={"max_tokens": 300},
    )
    assert counted.input_tokens == 9
    assert invoke_body(bedrock.last.json())["max_tokens"] == 300


async def test_bedrock_count_tokens_refusal_reaches_the_sdk_in_anthropics_shape(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    refusal = "The provided model doesn't support counting tokens."
    bedrock.answer(json_answer({"message": refusal}, 400))
    client = clients(bedrock.headers)
    with pytest.raises(sdk.BadRequestError) as raised:
        await client.messages.count_tokens(model=CLAUDE_ON_BEDROCK, messages=HI)  # type: ignore[arg-type]
    expected = {"type": "invalid_request_error", "message": refusal}
    assert raised.value.body == {"type": "error", "error": expected}


async def test_bedrock_count_tokens_answer_without_a_count_is_a_502(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"tokens": 5}))
    client = clients(bedrock.headers)
    with pytest.raises(sdk.APIStatusError) as raised:
        await client.messages.count_tokens(model=CLAUDE_ON_BEDROCK, messages=HI)  # type: ignore[arg-type]
    assert raised.value.status_code == 502
    assert raised.value.body["type"] == "error"  # type: ignore[index]
    assert "inputTokens" in raised.value.body["error"]["message"]  # type: ignore[index]


async def test_count_tokens_for_a_model_bedrock_serves_only_through_converse_is_a_400(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    client = clients(bedrock.headers)
    with pytest.raises(sdk.BadRequestError) as raised:
        await client.messages.count_tokens(model="meta.llama3-70b-instruct-v1:0", messages=HI)  # type: ignore[arg-type]
    assert raised.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "natively" in raised.value.body["error"]["message"]  # type: ignore[index]
    assert not bedrock.calls


# --- Vertex -------------------------------------------------------------------------------------


async def test_count_tokens_on_vertex_calls_count_tokens_raw_predict_with_the_model_in_the_body(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    fake.on("POST", COUNT_TOKENS, json_reply({"input_tokens": 14}))
    client = clients(to_vertex(fake), api_key="ya29.access-token")
    counted = await client.messages.count_tokens(
        model=CLAUDE_ON_VERTEX,
        system=SYSTEM,
        messages=HI,  # type: ignore[arg-type]
    )
    assert counted.input_tokens == 14
    assert fake.last.path == COUNT_TOKENS
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
    assert "x-api-key" not in fake.last.headers
    assert fake.last.json() == {"model": CLAUDE_ON_VERTEX, "system": SYSTEM, "messages": HI}


async def test_vertex_count_tokens_error_reaches_the_sdk_with_its_status(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    error = {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-x"}}
    fake.on("POST", COUNT_TOKENS, json_reply(error, 404))
    client = clients(to_vertex(fake), api_key="ya29.access-token")
    with pytest.raises(sdk.NotFoundError) as raised:
        await client.messages.count_tokens(model="claude-x", messages=HI)  # type: ignore[arg-type]
    assert raised.value.body == error


# --- Gemini -------------------------------------------------------------------------------------

GEMINI = "gemini-2.5-pro"
#: What the Messages request above is as Gemini's input: the chat translation's contents, system
#: instruction and tools.
GEMINI_INPUT = {
    "contents": [{"role": "user", "parts": [{"text": HI[0]["content"]}]}],
    "systemInstruction": {"parts": [{"text": SYSTEM}]},
    "tools": [
        {
            "functionDeclarations": [
                {"name": "get_weather", "parametersJsonSchema": TOOL["input_schema"]},
            ]
        }
    ],
}


def to_google(fake: FakeProvider) -> dict[str, str]:
    return {"x-portkey-provider": "google", "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}"}


async def test_count_tokens_on_gemini_calls_count_tokens_with_the_translated_request(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    fake.on("POST", f"/v1beta/models/{GEMINI}:countTokens", json_reply({"totalTokens": 31}))
    client = clients(to_google(fake), api_key="gemini-key-123")
    counted = await client.messages.count_tokens(
        model=GEMINI,
        system=SYSTEM,
        messages=HI,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
    )
    assert counted.input_tokens == 31
    assert fake.last.path == f"/v1beta/models/{GEMINI}:countTokens"
    assert fake.last.headers["x-goog-api-key"] == "gemini-key-123"
    assert fake.last.json() == {"generateContentRequest": {"model": f"models/{GEMINI}", **GEMINI_INPUT}}


async def test_gemini_count_tokens_error_reaches_the_sdk_in_anthropics_shape(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    google = {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}
    fake.on("POST", f"/v1beta/models/{GEMINI}:countTokens", json_reply(google, 400))
    client = clients(to_google(fake), api_key="bad-key")
    with pytest.raises(sdk.BadRequestError) as raised:
        await client.messages.count_tokens(model=GEMINI, messages=HI)  # type: ignore[arg-type]
    expected = {"type": "invalid_request_error", "message": "API key not valid."}
    assert raised.value.body == {"type": "error", "error": expected}


async def test_count_tokens_for_gemini_on_vertex_calls_count_tokens_with_the_input_at_the_top_level(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    path = f"{PUBLISHERS}/google/models/{GEMINI}:countTokens"
    fake.on("POST", path, json_reply({"totalTokens": 33, "totalBillableCharacters": 120}))
    client = clients(to_vertex(fake), api_key="ya29.access-token")
    counted = await client.messages.count_tokens(
        model=GEMINI,
        system=SYSTEM,
        messages=HI,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
    )
    assert counted.input_tokens == 33
    assert fake.last.path == path
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
    assert fake.last.json() == GEMINI_INPUT


async def test_count_tokens_with_a_server_tool_for_gemini_is_a_400_naming_it_without_a_call(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    client = clients(to_google(fake), api_key="gemini-key-123")
    with pytest.raises(sdk.BadRequestError) as raised:
        await client.messages.count_tokens(
            model=GEMINI,
            messages=HI,  # type: ignore[arg-type]
            tools=[{"type": "web_search_20250305", "name": "web_search"}],  # type: ignore[list-item]
        )
    assert raised.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "tools" in raised.value.body["error"]["message"]  # type: ignore[index]
    assert not fake.received
