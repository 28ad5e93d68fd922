"""``/v1/messages`` for providers that speak chat completions (or are translated from it): the
real Anthropic SDK against the gateway, fake OpenAI, Gemini and Bedrock providers behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional import fake_bedrock as fb
from tests.functional import fake_gemini as fg
from tests.functional.fake_bedrock import FakeBedrock

HI = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-7",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": USAGE,
    }


def reply(
    payload: Any, status: int = 200
) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(payload, status=status)

    return respond


def streamed(body: bytes) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in body.split(b"\n\n"):
            if event.strip():
                await response.write(event + b"\n\n")
        await response.write_eof()
        return response

    return respond


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    payload = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": choices,
    }
    if usage:
        payload["usage"] = usage
    return b"data: " + orjson.dumps(payload) + b"\n\n"


@pytest.fixture
async def claude(gateway_url: str, fake: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The Anthropic SDK at the gateway, the fake as provider ``openai``; its key as x-api-key."""
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    client = anthropic.AsyncAnthropic(
        base_url=gateway_url, api_key="sk-openai-key", default_headers=headers, max_retries=0
    )
    yield client
    await client.close()


async def test_create_against_openai_answers_a_message_and_sends_a_chat_request(
    claude: anthropic.AsyncAnthropic, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", reply(completion({"content": "Hello!"})))
    message = await claude.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        system="Be brief.",
        messages=HI,
        extra_body={"temperature": 0.5},
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello!"  # type: ignore[union-attr]
    assert (message.stop_reason, message.model, message.role) == ("end_turn", "gpt-4o-mini", "assistant")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 3)
    assert message.id.startswith("msg_")
    sent = fake.last.json()
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_tokens": 64,
        "temperature": 0.5,
        "stop": ["END"],
        "user": "u-1",
    }
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer sk-openai-key"
    assert "x-api-key" not in fake.last.headers
    assert "anthropic-version" not in fake.last.headers


async def test_tool_use_loop_with_an_image_reaches_openai_as_tool_messages(
    claude: anthropic.AsyncAnthropic, fake: FakeProvider
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    fake.on(
        "POST",
        "/v1/chat/completions",
        reply(completion({"content": None, "tool_calls": [call]}, "tool_calls")),
    )
    first = await claude.messages.create(model="gpt-4o-mini", max_tokens=64, messages=HI, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    tool = first.content[0]
    assert (tool.type, tool.id, tool.name, tool.input) == (
        "tool_use",
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )  # type: ignore[union-attr]
    assert fake.last.json()["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Weather of a city.",
            },
        }
    ]

    fake.on("POST", "/v1/chat/completions", reply(completion({"content": "Sunny in Paris."})))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    second = await claude.messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[
            *HI,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "22°C, sunny"},
                    {"type": "text", "text": "And this picture?"},
                    image,
                ],
            },
        ],
    )
    assert second.content[0].text == "Sunny in Paris."  # type: ignore[union-attr]
    sent = fake.last.json()
    assert sent["tool_choice"] == "required"
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22°C, sunny"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
    ]


async def test_stream_against_openai_is_anthropic_events_the_sdk_accumulates(
    claude: anthropic.AsyncAnthropic, fake: FakeProvider
) -> None:
    body = (
        chunk({"role": "assistant", "content": "Let me "})
        + chunk({"content": "check."})
        + chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        )
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]})
        + chunk({}, "tool_calls")
        + chunk({}, usage=USAGE)
        + b"data: [DONE]\n\n"
    )
    fake.on("POST", "/v1/chat/completions", streamed(body))
    kinds = []
    async with claude.messages.stream(
        model="gpt-4o-mini", max_tokens=64, messages=HI, tools=[WEATHER]
    ) as stream:
        async for event in stream:
            kinds.append(event.type)
        message = await stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
    assert message.content[1].input == {"city": "Oslo"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 3
    sent = fake.last.json()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_provider_429_is_the_sdks_rate_limit_error_in_anthropics_shape(
    claude: anthropic.AsyncAnthropic, fake: FakeProvider
) -> None:
    error = {
        "error": {"message": "Slow down.", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    fake.on("POST", "/v1/chat/completions", reply(error, 429))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(model="gpt-4o-mini", max_tokens=64, messages=HI)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down."},
    }


async def test_gateway_refusals_are_in_anthropics_shape(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(
            model="gpt-4o-mini", max_tokens=64, messages=HI, extra_body={"mcp_servers": [{"url": "x"}]}
        )
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as counted:
        await claude.messages.count_tokens(model="gpt-4o-mini", messages=HI)
    assert "natively" in counted.value.body["error"]["message"]  # type: ignore[index]


async def test_fallback_from_a_failing_provider_behind_messages(
    gateway_url: str, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", reply({"error": {"message": "down"}}, 503))
    fake_b.on("POST", "/v1/chat/completions", reply(completion({"content": "From B."})))
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "custom_host": fake.base_url, "api_key": "sk-a"},
            {"provider": "openai", "custom_host": fake_b.base_url, "api_key": "sk-b"},
        ],
    }
    async with anthropic.AsyncAnthropic(
        base_url=gateway_url,
        api_key="unused",
        default_headers={"x-portkey-config": orjson.dumps(config).decode()},
        max_retries=0,
    ) as client:
        response = await client.messages.with_raw_response.create(
            model="gpt-4o-mini", max_tokens=64, messages=HI
        )
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert (await response.parse()).content[0].text == "From B."  # type: ignore[union-attr]
    assert fake_b.last.headers["Authorization"] == "Bearer sk-b"


async def test_cache_hit_on_messages_answers_in_anthropics_shape(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gateway = await make_gateway(settings_with(cache={"mode": "simple"}))
    fake.on("POST", "/v1/chat/completions", reply(completion({"content": "Cached?"})))
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    async with anthropic.AsyncAnthropic(
        base_url=f"http://127.0.0.1:{gateway.port}", api_key="sk-k", default_headers=headers, max_retries=0
    ) as client:
        first = await client.messages.with_raw_response.create(
            model="gpt-4o-mini", max_tokens=64, messages=HI
        )
        second = await client.messages.with_raw_response.create(
            model="gpt-4o-mini", max_tokens=64, messages=HI
        )
        async with client.messages.stream(model="gpt-4o-mini", max_tokens=64, messages=HI) as stream:
            streamed_hit = await stream.get_final_message()
    assert first.headers["x-portkey-cache-status"] == "MISS"
    assert second.headers["x-portkey-cache-status"] == "HIT"
    assert (await second.parse()).content[0].text == "Cached?"  # type: ignore[union-attr]
    assert streamed_hit.content[0].text == "Cached?"  # type: ignore[union-attr]
    assert len(fake.received) == 1


async def test_messages_against_google(
    gateway_url: str, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    gemini = FakeProvider()
    gemini.port = (await aiohttp_server(gemini.app())).port
    counts = {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}
    model = "gemini-2.0-flash"
    gemini.on(
        "POST",
        f"/v1beta/models/{model}:generateContent",
        fg.json_reply(fg.answer([{"text": "Bonjour."}], counts=counts)),
    )
    stream = fg.sse(fg.answer([{"text": "Bon"}], finish=None), fg.answer([{"text": "jour."}], counts=counts))
    gemini.on("POST", f"/v1beta/models/{model}:streamGenerateContent", fg.stream_reply([stream]))
    headers = {"x-portkey-provider": "google", "x-portkey-custom-host": f"http://127.0.0.1:{gemini.port}"}
    async with anthropic.AsyncAnthropic(
        base_url=gateway_url, api_key="g-key", default_headers=headers, max_retries=0
    ) as client:
        message = await client.messages.create(model=model, max_tokens=32, messages=HI)
        async with client.messages.stream(model=model, max_tokens=32, messages=HI) as events:
            final = await events.get_final_message()
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 2)
    assert final.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert (final.stop_reason, final.usage.output_tokens) == ("end_turn", 2)
    assert gemini.last.headers["x-goog-api-key"] == "g-key"


async def test_messages_against_bedrock(
    gateway_url: str, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    bedrock = FakeBedrock()
    bedrock.port = (await aiohttp_server(bedrock.app())).port
    bedrock.answer(fb.json_answer(fb.converse("Hej.")))
    headers = bedrock.headers
    async with anthropic.AsyncAnthropic(
        base_url=gateway_url, api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        # A model Bedrock serves through Converse (Claude goes natively: test_messages_native.py).
        message = await client.messages.create(
            model="meta.llama3-70b-instruct-v1:0", max_tokens=32, messages=HI
        )
    assert message.content[0].text == "Hej."  # type: ignore[union-attr]
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == (
        "end_turn",
        9,
        4,
    )
    assert bedrock.last.json()["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]
