"""``/v1/messages`` and ``/v1/messages/count_tokens`` passed through natively, with the real
``anthropic`` SDK: to Anthropic (byte for byte both ways), to Claude on Bedrock (InvokeModel and
its event stream re-framed as Anthropic's SSE) and to Claude on Vertex (rawPredict)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic as sdk
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.streaming.eventstream import encode_frame
from tests.fake_provider import FakeProvider
from tests.functional import fake_bedrock
from tests.functional.fake_anthropic import (
    FIXTURES,
    FakeAnthropic,
    Message,
    Stream,
    error,
    fixture_events,
    message,
)
from tests.functional.fake_bedrock import FakeBedrock, json_answer, stream_answer
from tests.functional.fake_gemini import json_reply, stream_reply

KEY = "sk-ant-native-key-0123"
MODEL = "claude-sonnet-4-5"
CLAUDE_ON_BEDROCK = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_ON_VERTEX = "claude-sonnet-4@20250514"
PROJECT = "my-project"
PUBLISHERS = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/anthropic/models"
HI = [{"role": "user", "content": "hi"}]
HANG = 5.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "recorded_sse" in metafunc.fixturenames:
        folder = Path(metafunc.config.getoption("--fixtures-dir")) / "anthropic"
        files = sorted(folder.glob("*.sse")) if folder.is_dir() else []
        metafunc.parametrize("recorded_sse", files, ids=[f.name for f in files])


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def clients(gateway_url: str) -> AsyncIterator[Callable[..., sdk.AsyncAnthropic]]:
    made: list[sdk.AsyncAnthropic] = []

    def make(headers: dict[str, str], api_key: str = KEY) -> sdk.AsyncAnthropic:
        client = sdk.AsyncAnthropic(
            base_url=gateway_url, api_key=api_key, default_headers=headers, max_retries=0
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def to_anthropic(fake: FakeAnthropic) -> dict[str, str]:
    return {"x-portkey-provider": "anthropic", "x-portkey-custom-host": fake.base_url}


def to_vertex(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "vertex-ai",
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "x-portkey-vertex-project-id": PROJECT,
    }


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    """A raw POST: the status, the body bytes as the client got them, and the content type."""
    headers = {"Content-Type": "application/json", **headers}
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await asyncio.wait_for(response.read(), HANG), response.content_type


# --- Anthropic --------------------------------------------------------------------------------


async def test_messages_create_reaches_anthropic_with_the_callers_key_and_version(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Message(message("Hi from Claude.")))
    beta = {"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2023-01-01"}
    client = clients({**to_anthropic(anthropic), **beta})
    result = await client.messages.create(model=MODEL, max_tokens=64, messages=HI)  # type: ignore[arg-type]
    assert result.content[0].type == "text"
    assert result.content[0].text == "Hi from Claude."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (10, 5)
    received = anthropic.last
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert "Authorization" not in received.headers
    assert received.headers["anthropic-version"] == "2023-01-01"
    assert received.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert received.body == {"model": MODEL, "max_tokens": 64, "messages": HI}


async def test_messages_bytes_pass_through_untouched_both_ways(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    answer = message("Exactly this.")
    anthropic.answer(Message(answer, headers={"anthropic-ratelimit-requests-remaining": "41"}))
    # Odd spacing and key order: re-encoding would change them.
    sent = b'{ "max_tokens" :16,"model":"claude-x",  "messages":[{"role":"user","content":"hi"}] }'
    headers = {
        **to_anthropic(anthropic),
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/json",
    }
    async with http.post(f"{gateway_url}/v1/messages", data=sent, headers=headers) as response:
        assert response.status == 200
        assert response.headers["anthropic-ratelimit-requests-remaining"] == "41"
        # The fake writes json.dumps' spacing, which orjson would not reproduce.
        assert await response.read() == json.dumps(answer).encode()
    assert anthropic.last.raw == sent
    assert anthropic.last.headers["x-api-key"] == KEY
    assert anthropic.last.headers["anthropic-version"] == "2023-06-01"  # the default, none sent


async def test_messages_stream_is_relayed_byte_for_byte(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    events = fixture_events("text-stream.sse")
    anthropic.answer(Stream(events))
    body = orjson.dumps({"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True})
    status, got, kind = await post(
        http, f"{gateway_url}/v1/messages", body, {**to_anthropic(anthropic), "x-api-key": KEY}
    )
    assert (status, kind) == (200, "text/event-stream")
    assert got == b"".join(events) == (FIXTURES / "text-stream.sse").read_bytes()


async def test_messages_stream_in_the_sdk(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Stream(fixture_events("text-stream.sse")))
    client = clients(to_anthropic(anthropic))
    async with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == _fixture_text(FIXTURES / "text-stream.sse")
    assert final.stop_reason == "end_turn"
    assert anthropic.last.body["stream"] is True


async def test_count_tokens_goes_to_anthropic(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Message({"input_tokens": 12}))
    client = clients(to_anthropic(anthropic))
    counted = await client.messages.count_tokens(model=MODEL, messages=HI)  # type: ignore[arg-type]
    assert counted.input_tokens == 12
    assert anthropic.last.path == "/v1/messages/count_tokens"
    assert anthropic.last.headers["x-api-key"] == KEY
    assert anthropic.last.body == {"model": MODEL, "messages": HI}


async def test_anthropic_errors_reach_the_sdk_in_anthropics_shape(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic
) -> None:
    anthropic.answer(error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit."))
    client = clients(to_anthropic(anthropic))
    with pytest.raises(sdk.RateLimitError) as raised:
        await client.messages.create(model=MODEL, max_tokens=8, messages=HI)  # type: ignore[arg-type]
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "Number of request tokens has exceeded your rate limit.",
        },
        "request_id": "req_fake01",
    }


@pytest.mark.recordings
async def test_recorded_anthropic_streams_replay_byte_for_byte(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic, recorded_sse: Path
) -> None:
    recorded = await asyncio.to_thread(recorded_sse.read_bytes)
    anthropic.answer(Stream([part for part in re.split(rb"(?<=\n\n)", recorded) if part]))
    client = clients(to_anthropic(anthropic))
    response = await client.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=64,
        messages=HI,  # type: ignore[arg-type]
        stream=True,
    )
    assert await asyncio.wait_for(response.http_response.aread(), HANG) == recorded


# --- Bedrock ------------------------------------------------------------------------------------


def invoke_chunk(event: bytes) -> bytes:
    """One InvokeModelWithResponseStream frame carrying an Anthropic event's JSON (base64)."""
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, orjson.dumps({"bytes": base64.b64encode(event).decode(), "p": "abcd"}))


def data_of(events: list[bytes]) -> list[bytes]:
    """The ``data:`` JSON bytes of each SSE event."""
    return [re.search(rb"^data: (.*)$", event, re.M).group(1) for event in events]  # type: ignore[union-attr]


async def test_claude_on_bedrock_through_invoke_model(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer(message("Hi from Bedrock.")))
    client = clients({**bedrock.headers, "anthropic-beta": "context-1m-2025-08-07"})
    result = await client.messages.create(model=CLAUDE_ON_BEDROCK, max_tokens=32, messages=HI)  # type: ignore[arg-type]
    assert result.content[0].text == "Hi from Bedrock."  # type: ignore[union-attr]
    call = bedrock.last  # the fake checked its SigV4 signature
    assert (call.model, call.action) == (CLAUDE_ON_BEDROCK, "invoke")
    assert call.json() == {
        "max_tokens": 32,
        "messages": HI,
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["context-1m-2025-08-07"],
    }


async def test_claude_on_bedrock_streams_as_anthropic_events(
    http: aiohttp.ClientSession, gateway_url: str, bedrock: FakeBedrock
) -> None:
    events = fixture_events("text-stream.sse")
    bedrock.answer(stream_answer([invoke_chunk(data) for data in data_of(events)]))
    body = orjson.dumps({"model": CLAUDE_ON_BEDROCK, "max_tokens": 64, "messages": HI, "stream": True})
    status, got, kind = await post(http, f"{gateway_url}/v1/messages", body, bedrock.headers)
    assert (status, kind) == (200, "text/event-stream")
    assert got == b"".join(events)
    assert bedrock.last.action == "invoke-with-response-stream"
    assert "stream" not in bedrock.last.json()


async def test_claude_on_bedrock_stream_in_the_sdk(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    events = fixture_events("parallel-tool-use-stream.sse")
    bedrock.answer(stream_answer([invoke_chunk(data) for data in data_of(events)]))
    client = clients(bedrock.headers)
    async with client.messages.stream(model=CLAUDE_ON_BEDROCK, max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
        final = await asyncio.wait_for(stream.get_final_message(), HANG)
    assert final.stop_reason == "tool_use"
    assert [block.type for block in final.content].count("tool_use") >= 2


async def test_bedrock_exception_mid_stream_is_an_anthropic_error_event(
    http: aiohttp.ClientSession, gateway_url: str, bedrock: FakeBedrock
) -> None:
    events = fixture_events("text-stream.sse")[:3]
    frames = b"".join(invoke_chunk(data) for data in data_of(events))
    acks: asyncio.Queue[None] = asyncio.Queue()
    throttled = fake_bedrock.exception("throttlingException", "Too many tokens.")
    bedrock.answer(stream_answer([frames, throttled], acks))
    body = orjson.dumps({"model": CLAUDE_ON_BEDROCK, "max_tokens": 64, "messages": HI, "stream": True})
    headers = {"Content-Type": "application/json", **bedrock.headers}
    async with http.post(f"{gateway_url}/v1/messages", data=body, headers=headers) as response:
        assert response.status == 200
        first = b"".join(events)
        assert await asyncio.wait_for(response.content.readexactly(len(first)), HANG) == first
        acks.put_nowait(None)  # only now does the fake send the exception
        rest = await asyncio.wait_for(response.read(), HANG)
    expected = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many tokens."}}
    assert rest == b"event: error\ndata: " + orjson.dumps(expected) + b"\n\n"


async def test_bedrock_exception_before_any_event_is_an_error_status(
    http: aiohttp.ClientSession, gateway_url: str, bedrock: FakeBedrock
) -> None:
    bedrock.answer(stream_answer([fake_bedrock.exception("throttlingException", "Too many tokens.")]))
    body = orjson.dumps({"model": CLAUDE_ON_BEDROCK, "max_tokens": 64, "messages": HI, "stream": True})
    status, got, _ = await post(http, f"{gateway_url}/v1/messages", body, bedrock.headers)
    assert status == 429
    assert "Too many tokens." in orjson.loads(got)["error"]["message"]


async def test_bedrock_errors_reach_the_sdk_in_anthropics_shape(
    clients: Callable[..., sdk.AsyncAnthropic], bedrock: FakeBedrock
) -> None:
    bedrock.answer(json_answer({"message": "Too many requests, please wait."}, 429))
    client = clients(bedrock.headers)
    with pytest.raises(sdk.RateLimitError) as raised:
        await client.messages.create(model=CLAUDE_ON_BEDROCK, max_tokens=8, messages=HI)  # type: ignore[arg-type]
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Too many requests, please wait."},
    }


# --- Vertex -------------------------------------------------------------------------------------


async def test_claude_on_vertex_through_raw_predict(
    clients: Callable[..., sdk.AsyncAnthropic], fake: FakeProvider
) -> None:
    answer = message("Hi from Vertex.")
    fake.on("POST", f"{PUBLISHERS}/{CLAUDE_ON_VERTEX}:rawPredict", json_reply(answer))
    client = clients(to_vertex(fake), api_key="ya29.access-token")
    result = await client.messages.create(model=CLAUDE_ON_VERTEX, max_tokens=32, messages=HI)  # type: ignore[arg-type]
    assert result.content[0].text == "Hi from Vertex."  # type: ignore[union-attr]
    assert fake.last.headers["Authorization"] == "Bearer ya29.access-token"
    assert "x-api-key" not in fake.last.headers
    assert fake.last.json() == {"max_tokens": 32, "messages": HI, "anthropic_version": "vertex-2023-10-16"}


async def test_claude_on_vertex_stream_is_relayed_byte_for_byte(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    events = fixture_events("text-stream.sse")
    fake.on("POST", f"{PUBLISHERS}/{CLAUDE_ON_VERTEX}:streamRawPredict", stream_reply(events))
    body = orjson.dumps({"model": CLAUDE_ON_VERTEX, "max_tokens": 64, "messages": HI, "stream": True})
    headers = {**to_vertex(fake), "Authorization": "Bearer ya29.access-token"}
    status, got, _ = await post(http, f"{gateway_url}/v1/messages", body, headers)
    assert status == 200
    assert got == b"".join(events)
    sent = fake.last.json()
    assert isinstance(sent, dict)
    assert sent["stream"] is True
    assert "model" not in sent


def _fixture_text(path: Path) -> str:
    """The text of every ``text_delta`` in a recorded stream."""
    deltas: list[Any] = []
    for data in data_of([part for part in re.split(rb"(?<=\n\n)", path.read_bytes()) if part]):
        event = orjson.loads(data)
        if event.get("type") == "content_block_delta" and event["delta"].get("type") == "text_delta":
            deltas.append(event["delta"]["text"])
    return "".join(deltas)


# --- Native and translated behind one config ----------------------------------------------------


async def test_a_fallback_from_anthropic_natively_to_openai_through_the_chat_form(
    clients: Callable[..., sdk.AsyncAnthropic], anthropic: FakeAnthropic, fake: FakeProvider
) -> None:
    anthropic.answer(error(529, "overloaded_error", "Overloaded"))
    chat = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "From OpenAI."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    fake.on("POST", "/v1/chat/completions", json_reply(chat))
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [529]},
        "targets": [
            {"provider": "anthropic", "api_key": KEY, "custom_host": anthropic.base_url},
            {
                "provider": "openai",
                "api_key": "sk-openai",
                "custom_host": fake.base_url,
                "override_params": {"model": "gpt-4o-mini"},
            },
        ],
    }
    client = clients({"x-portkey-config": json.dumps(config)})
    result = await client.messages.create(model=MODEL, max_tokens=32, messages=HI)  # type: ignore[arg-type]
    assert result.content[0].text == "From OpenAI."  # type: ignore[union-attr]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (5, 3)
    assert anthropic.last.path == "/v1/messages"  # tried natively first
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.json()["messages"] == [{"role": "user", "content": "hi"}]  # type: ignore[index]
