"""Cohere through the gateway: the OpenAI SDK on one side, a fake speaking Cohere's v2 API on the other.

Each test checks both ends: what the SDK gets back (OpenAI's format) and what Cohere received
(``/v2/chat`` or ``/v2/embed``, ``Authorization: Bearer``, the translated body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from unittest.mock import ANY

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import (
    APIError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)

from tests.functional.fake_cohere import (
    CHAT,
    DONE,
    EMBED,
    FIXTURES,
    FakeCohere,
    chat_answer,
    event,
    fixture_events,
    payloads,
)

HANG = 10.0  # wide upper bound: only a hang (a buffering gateway) ever reaches it
KEY = "co-test-key"
USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def cohere(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeCohere:
    fake = FakeCohere()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


@pytest.fixture
async def sdk(gateway_url: str, cohere: FakeCohere) -> AsyncIterator[AsyncOpenAI]:
    headers = {"x-portkey-provider": "cohere", "x-portkey-custom-host": cohere.host}
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0)
    yield client
    await client.close()


async def _chat(sdk: AsyncOpenAI, **params: Any) -> Any:
    return await sdk.chat.completions.create(**{"model": "command-a-03-2025", "messages": USER, **params})


async def _chunks(sdk: AsyncOpenAI, **params: Any) -> list[Any]:
    stream = await _chat(sdk, stream=True, **params)
    return [chunk async for chunk in stream]


async def _drain(stream: Any, seen: list[Any]) -> None:
    """Collect chunks into ``seen`` until the stream ends or raises."""
    async for chunk in stream:
        seen.append(chunk)


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _reasoning(chunks: list[Any]) -> str:
    return "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks if c.choices
    )


# --- text ------------------------------------------------------------------------------------


async def test_text_answer_and_what_cohere_received(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    answer = await _chat(sdk)
    assert answer.choices[0].message.content == "Hello!"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.id == "c0ffee00-0000-4000-8000-000000000001"
    assert answer.model == "command-a-03-2025"
    assert answer.usage.prompt_tokens == 71  # usage.tokens, not billed_units
    assert answer.usage.completion_tokens == 3
    assert answer.usage.total_tokens == 74
    assert cohere.last.path == CHAT
    assert cohere.last.headers["Authorization"] == f"Bearer {KEY}"
    assert cohere.last.body == {"model": "command-a-03-2025", "messages": USER}


async def test_text_stream(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    chunks = await _chunks(sdk)
    deltas = [p["delta"]["message"]["content"]["text"] for p in payloads(fixture_events("text.sse"))[2:-2]]
    assert _text(chunks) == "".join(deltas) == "Hello, world!"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {"5f1c6a1e-0001"}
    assert all(c.usage is None for c in chunks)  # not asked for
    assert cohere.last.body["stream"] is True


async def test_system_developer_and_multi_turn_messages(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "How are you?"},
    ]
    await _chat(sdk, messages=messages)
    assert cohere.last.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "How are you?"},
    ]


async def test_sampling_parameters_are_renamed(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    await _chat(
        sdk,
        max_completion_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=0.3,
        extra_body={"top_k": 40},
    )
    body = cohere.last.body
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == {
        "max_tokens": 50,
        "temperature": 0.2,
        "p": 0.9,
        "k": 40,
        "stop_sequences": ["END"],
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.3,
    }


async def test_images_as_data_and_web_urls(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    data_url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    await _chat(sdk, model="command-a-vision-07-2025", messages=[{"role": "user", "content": content}])
    assert cohere.last.body["messages"][0]["content"] == content


async def test_bad_image_data_url_is_a_400(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]
    with pytest.raises(BadRequestError):
        await _chat(sdk, messages=[{"role": "user", "content": content}])
    assert cohere.received == []


# --- tools -----------------------------------------------------------------------------------


async def test_tool_call_answer(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    calls = [
        {
            "id": "get_weather_x1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    answer_body = chat_answer(finish="TOOL_CALL", tool_plan="I will check Paris.", tool_calls=calls)
    del answer_body["message"]["content"]  # Cohere sends no content with tool calls
    cohere.reply(answer_body)
    answer = await _chat(sdk, tools=[WEATHER], tool_choice="required")
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.model_extra["reasoning_content"] == "I will check Paris."
    assert [c.model_dump() for c in message.tool_calls] == calls
    assert cohere.last.body["tools"] == [WEATHER]
    assert cohere.last.body["tool_choice"] == "REQUIRED"


@pytest.mark.parametrize(("choice", "sent"), [("none", "NONE"), ("auto", None), (None, None)])
async def test_tool_choice_forms(
    sdk: AsyncOpenAI, cohere: FakeCohere, choice: str | None, sent: str | None
) -> None:
    await _chat(sdk, tools=[WEATHER], **({"tool_choice": choice} if choice else {}))
    assert cohere.last.body.get("tool_choice") == sent


async def test_a_named_tool_choice_is_a_400(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    with pytest.raises(BadRequestError) as caught:
        await _chat(
            sdk, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
        )
    assert "cohere" in caught.value.message
    assert caught.value.param == "tool_choice"
    assert cohere.received == []


async def test_parallel_tool_calls_stream(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    events = fixture_events("tool-calls.sse")
    cohere.stream(events)
    chunks = await _chunks(sdk, tools=[WEATHER])
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += call.id or ""
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
    assert calls == {
        0: {"id": "get_weather_a1b2c3", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "get_weather_d4e5f6", "name": "get_weather", "arguments": '{"city": "London"}'},
    }
    assert _reasoning(chunks) == "I will look up the weather in Paris and London."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_tool_results_go_back_as_tool_messages(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and London?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I will look both up.",
            "tool_calls": [
                {
                    "id": "w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "w2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"London"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "w1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "w2", "content": [{"type": "text", "text": '{"temp": 17}'}]},
    ]
    await _chat(sdk, messages=messages, tools=[WEATHER])
    assert cohere.last.body["messages"][1:] == [
        {
            "role": "assistant",
            "tool_plan": "I will look both up.",
            "tool_calls": [
                {
                    "id": "w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "w2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"London"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "w1", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "w2", "content": '{"temp": 17}'},
    ]


# --- formats, reasoning, refusals ------------------------------------------------------------


async def test_response_formats(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    await _chat(sdk, response_format={"type": "json_object"})
    assert cohere.last.body["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    await _chat(
        sdk, response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    )
    assert cohere.last.body["response_format"] == {"type": "json_object", "json_schema": schema}
    await _chat(sdk, response_format={"type": "text"})
    assert "response_format" not in cohere.last.body


async def test_thinking_stream_is_reasoning_content(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    cohere.stream(fixture_events("thinking.sse"))
    chunks = await _chunks(sdk, reasoning_effort="high")
    assert _reasoning(chunks) == "The user greets me; reply briefly."
    assert _text(chunks) == "Hi there."
    assert cohere.last.body["thinking"] == {"type": "enabled", "token_budget": 24576}


async def test_thinking_answer_and_cohere_thinking_object(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    answer_body = chat_answer("4.")
    answer_body["message"]["content"].insert(0, {"type": "thinking", "thinking": "2+2 is 4."})
    cohere.reply(answer_body)
    answer = await _chat(sdk, extra_body={"thinking": {"type": "enabled", "token_budget": 500}})
    assert answer.choices[0].message.content == "4."
    assert answer.choices[0].message.model_extra["reasoning_content"] == "2+2 is 4."
    assert cohere.last.body["thinking"] == {"type": "enabled", "token_budget": 500}
    await _chat(sdk, reasoning_effort="none")
    assert cohere.last.body["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"n": 2}, "n"),
        ({"user": "u-1"}, "user"),
        ({"logprobs": True}, "logprobs"),
        ({"parallel_tool_calls": False, "tools": [WEATHER]}, "parallel_tool_calls"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
async def test_what_cohere_cannot_carry_is_a_400(
    sdk: AsyncOpenAI, cohere: FakeCohere, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await _chat(sdk, **params)
    assert caught.value.param == param
    assert "cohere" in caught.value.message
    assert cohere.received == []


@pytest.mark.parametrize(
    ("cohere_reason", "openai_reason"),
    [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"), ("TIMEOUT", "length")],
)
async def test_finish_reasons(
    sdk: AsyncOpenAI, cohere: FakeCohere, cohere_reason: str, openai_reason: str
) -> None:
    cohere.reply(chat_answer(finish=cohere_reason))
    assert (await _chat(sdk)).choices[0].finish_reason == openai_reason


async def test_finish_reason_error_is_a_500(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    cohere.reply(chat_answer(finish="ERROR"))
    with pytest.raises(InternalServerError) as caught:
        await _chat(sdk)
    assert "cohere" in caught.value.message


async def test_usage_chunk_with_cached_tokens(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    chunks = await _chunks(sdk, stream_options={"include_usage": True})
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (67, 4, 71)
    assert usage.prompt_tokens_details.cached_tokens == 64


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, BadRequestError), (401, AuthenticationError), (429, RateLimitError), (500, InternalServerError)],
)
async def test_provider_http_errors(
    sdk: AsyncOpenAI, cohere: FakeCohere, status: int, exception: type[APIError]
) -> None:
    message = orjson.loads((FIXTURES / "error-400.json").read_bytes())["message"]
    cohere.fail(status, message)
    with pytest.raises(exception) as caught:
        await _chat(sdk)
    assert caught.value.body == {"message": f"cohere: {message}", "type": ANY, "param": None, "code": None}
    with pytest.raises(exception):
        await _chat(sdk, stream=True)  # a stream refused up front keeps the status too


async def test_in_stream_error_reaches_the_sdk(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    cohere.stream(fixture_events("stream-error.sse"))
    seen: list[Any] = []
    with pytest.raises(APIError) as caught:
        await _drain(await _chat(sdk, stream=True), seen)
    assert _text(seen) == "Partial"
    assert "internal error during generation" in caught.value.message


async def test_stream_cut_before_message_end_is_an_error(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    cohere.stream(fixture_events("text.sse")[:-2], cut=True)
    seen: list[Any] = []
    with pytest.raises(APIError):
        await _drain(await _chat(sdk, stream=True), seen)
    assert _text(seen) == "Hello, world!"
    assert all(c.choices[0].finish_reason is None for c in seen)


async def test_stream_is_translated_in_lock_step(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    # Only events that each make one OpenAI chunk (content-start/-end make none): the fake sends the
    # next one only after the client has the chunk of the previous one, so any buffering deadlocks.
    texts = ["one", " two", " three"]
    events = [
        event({"id": "lock-1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}),
        *(
            event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": t}}}})
            for t in texts
        ),
        event(
            {
                "type": "message-end",
                "delta": {
                    "finish_reason": "COMPLETE",
                    "usage": {"tokens": {"input_tokens": 1, "output_tokens": 3}},
                },
            }
        ),
        DONE,
    ]
    acks: asyncio.Queue[None] = asyncio.Queue()
    cohere.stream(events, acks)

    async def lock_step() -> list[Any]:
        seen = []
        async for chunk in await _chat(sdk, stream=True):
            seen.append(chunk)
            acks.put_nowait(None)
        return seen

    seen = await asyncio.wait_for(lock_step(), HANG)
    assert [c.choices[0].delta.content for c in seen[1:4]] == texts
    assert seen[-1].choices[0].finish_reason == "stop"


# --- embeddings ------------------------------------------------------------------------------


async def test_embeddings(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    answer = await sdk.embeddings.create(
        model="embed-v4.0", input=["a", "b"], dimensions=3, encoding_format="float"
    )
    assert [d.embedding for d in answer.data] == [[0.0, 0.5, 0.5], [1.0, 0.5, 0.5]]
    assert answer.usage.prompt_tokens == 4
    assert answer.model == "embed-v4.0"
    assert cohere.last.path == EMBED
    assert cohere.last.headers["Authorization"] == f"Bearer {KEY}"
    assert cohere.last.body == {
        "model": "embed-v4.0",
        "texts": ["a", "b"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 3,
    }


async def test_embeddings_sdk_default_base64_and_input_type(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    answer = await sdk.embeddings.create(
        model="embed-v4.0", input="query", extra_body={"input_type": "search_query"}
    )
    assert answer.data[0].embedding == [0.0, 0.5, 0.5, 0.5]  # the SDK decoded the base64 Cohere sent
    assert cohere.last.body["embedding_types"] == ["base64"]
    assert cohere.last.body["input_type"] == "search_query"


async def test_embeddings_errors(sdk: AsyncOpenAI, cohere: FakeCohere) -> None:
    cohere.fail(404, "model 'nope' not found", path=EMBED)
    with pytest.raises(NotFoundError) as caught:
        await sdk.embeddings.create(model="nope", input="x")
    assert caught.value.body["message"] == "cohere: model 'nope' not found"  # type: ignore[index]
    with pytest.raises(BadRequestError) as refused:
        await sdk.embeddings.create(model="embed-v4.0", input="x", user="u-1")
    assert refused.value.param == "user"
