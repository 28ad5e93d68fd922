"""Google Gemini (``x-portkey-provider: google``) through the gateway, with the official OpenAI SDK,
against a fake that speaks the Gemini API: its paths, ``x-goog-api-key``, CRLF SSE streams that end
at EOF, and ``{"error": {code, message, status}}`` errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from openai import APIError, AsyncOpenAI, BadRequestError, InternalServerError, NotFoundError, RateLimitError

from tests.fake_provider import FakeProvider
from tests.functional.fake_gemini import (
    answer,
    error_reply,
    events_of,
    fixture,
    json_reply,
    payloads_of,
    sse,
    stream_reply,
)

MODEL = "gemini-2.0-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"
HANG = 10.0  # only a buffering or stuck gateway ever reaches it
USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
async def client(gateway_url: str, fake: FakeProvider) -> AsyncIterator[AsyncOpenAI]:
    headers = {"x-portkey-provider": "google", "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}"}
    sdk = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="gemini-key", default_headers=headers, max_retries=0
    )
    yield sdk
    await sdk.close()


def error_of(exc: APIError) -> dict[str, Any]:
    """The OpenAI-shaped error object the gateway answered with."""
    assert isinstance(exc.body, dict)
    return exc.body


def sent(fake: FakeProvider) -> dict[str, Any]:
    body = fake.last.json()
    assert isinstance(body, dict)
    return body


async def test_text_answer_and_what_gemini_receives(client: AsyncOpenAI, fake: FakeProvider) -> None:
    counts = {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19}
    fake.on("POST", GENERATE, json_reply(answer([{"text": "Paris."}], counts=counts, response_id="r-7")))
    result = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "developer", "content": "No markdown."},
            *USER,
            {"role": "assistant", "content": "Paris."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "And of "}, {"type": "text", "text": "Spain?"}],
            },
            {"role": "user", "content": "Thanks."},
        ],
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
    )
    assert result.id == "r-7"
    assert result.model == MODEL
    assert result.choices[0].message.content == "Paris."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        12,
        7,
        19,
    )
    received = fake.last
    assert received.path == GENERATE
    assert received.query == ""
    assert received.headers["x-goog-api-key"] == "gemini-key"
    assert "Authorization" not in received.headers
    assert sent(fake) == {
        "contents": [
            {"role": "user", "parts": [{"text": "What is the capital of France?"}]},
            {"role": "model", "parts": [{"text": "Paris."}]},
            {"role": "user", "parts": [{"text": "And of "}, {"text": "Spain?"}, {"text": "Thanks."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Answer briefly."}, {"text": "No markdown."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "presencePenalty": 0.5,
            "frequencyPenalty": 0.25,
            "maxOutputTokens": 50,
            "stopSequences": ["END"],
        },
    }


async def test_models_prefix_is_dropped_and_other_paths_refused(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "ok"}])))
    await client.chat.completions.create(model=f"models/{MODEL}", messages=USER)
    assert fake.last.path == GENERATE
    with pytest.raises(BadRequestError) as raised:
        await client.chat.completions.create(model="tunedModels/../../x", messages=USER)
    assert "model" in raised.value.message
    assert len(fake.received) == 1


async def test_text_stream_with_usage(client: AsyncOpenAI, fake: FakeProvider) -> None:
    recorded = fixture("text-stream.sse")
    fake.on("POST", STREAM, stream_reply(events_of(recorded)))
    stream = await client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert fake.last.query == "alt=sse"
    assert fake.last.headers["x-goog-api-key"] == "gemini-key"
    payloads = payloads_of(recorded)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {chunk.id for chunk in chunks} == {payloads[0]["responseId"]}
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "".join(p["candidates"][0]["content"]["parts"][0]["text"] for p in payloads)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    last = payloads[-1]["usageMetadata"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == last["promptTokenCount"]
    assert chunks[-1].usage.completion_tokens == last["candidatesTokenCount"]


async def test_stream_without_include_usage_has_no_usage_chunk(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", STREAM, stream_reply(events_of(fixture("text-stream.sse"))))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)


async def test_images_as_inline_data_and_file_uris(client: AsyncOpenAI, fake: FakeProvider) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "Two cats."}])))
    await client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe these."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg?size=large"}},
                ],
            }
        ],
    )
    assert sent(fake)["contents"][0]["parts"] == [
        {"text": "Describe these."},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg?size=large"}},
    ]


async def test_image_url_without_a_known_type_is_refused(client: AsyncOpenAI, fake: FakeProvider) -> None:
    with pytest.raises(BadRequestError) as raised:
        await client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/img"}}],
                }
            ],
        )
    assert "media type" in raised.value.message
    assert fake.received == []


async def test_parallel_tool_calls_in_an_answer(client: AsyncOpenAI, fake: FakeProvider) -> None:
    parts = [
        {
            "functionCall": {"id": "fc-1", "name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "c2ln",
        },
        {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}},
    ]
    fake.on("POST", GENERATE, json_reply(answer(parts)))
    result = await client.chat.completions.create(model=MODEL, messages=USER, tools=[WEATHER])
    message = result.choices[0].message
    assert result.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    calls = message.tool_calls or []
    assert [(c.function.name, orjson.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Tokyo"}),
    ]
    assert calls[0].id == "fc-1"
    assert calls[1].id.startswith("call_")
    assert calls[0].model_dump()["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert sent(fake)["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city.",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],
                }
            ]
        }
    ]
    assert "toolConfig" not in sent(fake)


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
async def test_tool_choice_forms(client: AsyncOpenAI, fake: FakeProvider, choice: Any, config: Any) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "ok"}])))
    await client.chat.completions.create(model=MODEL, messages=USER, tools=[WEATHER], tool_choice=choice)
    assert sent(fake)["toolConfig"] == {"functionCallingConfig": config}


async def test_tool_results_are_sent_back_as_function_responses(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "Sunny in Paris, rain in Tokyo."}])))
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            "extra_content": {"google": {"thought_signature": "c2ln"}},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"city": "Tokyo"}'},
        },
    ]
    result = await client.chat.completions.create(
        model=MODEL,
        messages=[
            *USER,
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_a", "content": '{"sky": "sunny"}'},
            {"role": "tool", "tool_call_id": "call_b", "content": "09:00"},
        ],
        tools=[WEATHER],
    )
    assert result.choices[0].message.content == "Sunny in Paris, rain in Tokyo."
    assert sent(fake)["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2ln",
                },
                {"functionCall": {"name": "get_time", "args": {"city": "Tokyo"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "09:00"}}},
            ],
        },
    ]


async def test_tool_result_for_an_unknown_call_is_refused(client: AsyncOpenAI, fake: FakeProvider) -> None:
    with pytest.raises(BadRequestError) as raised:
        await client.chat.completions.create(
            model=MODEL, messages=[*USER, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]
        )
    assert "call_x" in raised.value.message
    assert fake.received == []


async def test_tool_call_stream(client: AsyncOpenAI, fake: FakeProvider) -> None:
    recorded = fixture("tool-stream.sse")
    fake.on("POST", STREAM, stream_reply(events_of(recorded)))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, tools=[WEATHER], stream=True)
    chunks = [chunk async for chunk in stream]
    deltas = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or []]
    parts = payloads_of(recorded)[-1]["candidates"][0]["content"]["parts"]
    assert [d.index for d in deltas] == [0, 1]
    assert [(d.function.name, orjson.loads(d.function.arguments)) for d in deltas] == [
        (p["functionCall"]["name"], p["functionCall"]["args"]) for p in parts
    ]
    assert len({d.id for d in deltas}) == 2
    assert deltas[0].model_dump()["extra_content"] == {
        "google": {"thought_signature": parts[0]["thoughtSignature"]}
    }
    assert "extra_content" not in deltas[1].model_dump()
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Checking both cities."


@pytest.mark.parametrize(
    ("response_format", "config"),
    [
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (
            {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}}},
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
        ({"type": "text"}, None),
    ],
)
async def test_response_format(
    client: AsyncOpenAI, fake: FakeProvider, response_format: Any, config: Any
) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "{}"}])))
    await client.chat.completions.create(model=MODEL, messages=USER, response_format=response_format)
    assert sent(fake).get("generationConfig") == config


async def test_thoughts_become_reasoning_content(client: AsyncOpenAI, fake: FakeProvider) -> None:
    counts = {
        "promptTokenCount": 30,
        "candidatesTokenCount": 4,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 16,
        "totalTokenCount": 54,
    }
    parts = [{"text": "Counting letters.", "thought": True}, {"text": "Three."}]
    fake.on("POST", GENERATE, json_reply(answer(parts, counts=counts)))
    result = await client.chat.completions.create(model=MODEL, messages=USER, reasoning_effort="low")
    message = result.choices[0].message
    assert message.content == "Three."
    assert message.model_dump()["reasoning_content"] == "Counting letters."
    assert sent(fake)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }
    usage = result.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (30, 24, 54)
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 20
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 16


async def test_thinking_stream(client: AsyncOpenAI, fake: FakeProvider) -> None:
    recorded = fixture("thinking-stream.sse")
    fake.on("POST", STREAM, stream_reply(events_of(recorded)))
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        reasoning_effort="none",
    )
    chunks = [chunk async for chunk in stream]
    assert sent(fake)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}
    reasoning = "".join(
        c.choices[0].delta.model_dump().get("reasoning_content") or "" for c in chunks if c.choices
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    payloads = payloads_of(recorded)
    parts = [part for p in payloads for part in p["candidates"][0]["content"]["parts"]]
    assert reasoning == "".join(p["text"] for p in parts if p.get("thought"))
    assert text == "".join(p["text"] for p in parts if not p.get("thought"))
    counts = payloads[-1]["usageMetadata"]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == counts["candidatesTokenCount"] + counts["thoughtsTokenCount"]
    assert usage.total_tokens == counts["totalTokenCount"]
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == counts["cachedContentTokenCount"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n", 2),
        ("logprobs", True),
        ("user", "u-1"),
        ("parallel_tool_calls", False),
        ("reasoning_effort", "max"),
    ],
)
async def test_what_gemini_cannot_carry_is_refused(
    client: AsyncOpenAI, fake: FakeProvider, param: str, value: Any
) -> None:
    with pytest.raises(BadRequestError) as raised:
        await client.chat.completions.create(model=MODEL, messages=USER, **{param: value})
    assert error_of(raised.value)["message"].startswith("google:")
    assert error_of(raised.value)["param"] == param
    assert fake.received == []


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("OTHER", "stop"),
    ],
)
async def test_finish_reasons(client: AsyncOpenAI, fake: FakeProvider, finish: str, expected: str) -> None:
    fake.on("POST", GENERATE, json_reply(answer([{"text": "cut"}], finish=finish)))
    result = await client.chat.completions.create(model=MODEL, messages=USER)
    assert result.choices[0].finish_reason == expected


async def test_blocked_prompt_is_a_content_filter_finish(client: AsyncOpenAI, fake: FakeProvider) -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    fake.on("POST", GENERATE, json_reply(blocked))
    result = await client.chat.completions.create(model=MODEL, messages=USER)
    assert result.choices[0].finish_reason == "content_filter"
    assert result.choices[0].message.content == ""
    fake.on("POST", STREAM, stream_reply([sse(blocked)]))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, BadRequestError), (404, NotFoundError), (429, RateLimitError), (500, InternalServerError)],
)
async def test_provider_errors_keep_their_status(
    client: AsyncOpenAI, fake: FakeProvider, status: int, exception: type[APIError]
) -> None:
    fake.on("POST", GENERATE, error_reply(status, "something went wrong", "SOME_STATUS"))
    with pytest.raises(exception) as raised:
        await client.chat.completions.create(model=MODEL, messages=USER)
    assert error_of(raised.value)["message"] == "google: something went wrong"


async def test_documented_error_body(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = orjson.loads(fixture("error.json"))
    fake.on("POST", STREAM, json_reply(body, 400))
    with pytest.raises(BadRequestError) as raised:
        await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert error_of(raised.value)["message"] == f"google: {body['error']['message']}"
    assert raised.value.code == body["error"]["status"]


async def test_in_stream_error_reaches_the_sdk(client: AsyncOpenAI, fake: FakeProvider) -> None:
    first = events_of(fixture("text-stream.sse"))[0]
    error = sse({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    acks: asyncio.Queue[None] = asyncio.Queue()  # the error comes after the stream was committed
    fake.on("POST", STREAM, stream_reply([first, error], acks))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    seen = []

    async def read() -> None:
        async for chunk in stream:
            seen.append(chunk)
            acks.put_nowait(None)

    with pytest.raises(APIError) as raised:
        await read()
    assert "overloaded" in raised.value.message
    assert seen
    assert seen[0].choices[0].delta.role == "assistant"


async def test_stream_cut_before_its_finish_is_an_error(client: AsyncOpenAI, fake: FakeProvider) -> None:
    events = events_of(fixture("text-stream.sse"))[:2]  # no finishReason yet
    fake.on("POST", STREAM, stream_reply(events, cut=True))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    with pytest.raises(APIError):
        async for _ in stream:
            pass


async def test_stream_ending_cleanly_without_finish_is_an_error(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", STREAM, stream_reply(events_of(fixture("text-stream.sse"))[:2]))
    stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    with pytest.raises(APIError):
        async for _ in stream:
            pass


async def test_stream_is_translated_in_lock_step(client: AsyncOpenAI, fake: FakeProvider) -> None:
    # The fake sends event k+1 only after the client got the chunk made from event k: a gateway that
    # buffered would deadlock and hit the wait_for bound.
    acks: asyncio.Queue[None] = asyncio.Queue()
    events = events_of(fixture("text-stream.sse"))
    fake.on("POST", STREAM, stream_reply(events, acks))

    async def lock_step() -> list[str]:
        stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
        texts = []
        async for chunk in stream:
            content = chunk.choices[0].delta.content
            if content:
                texts.append(content)
                acks.put_nowait(None)
        return texts

    texts = await asyncio.wait_for(lock_step(), HANG)
    assert texts == [p["candidates"][0]["content"]["parts"][0]["text"] for p in payloads_of(b"".join(events))]


@pytest.mark.parametrize("encoding", [{"encoding_format": "float"}, {}], ids=["float", "sdk-default-base64"])
async def test_embeddings(client: AsyncOpenAI, fake: FakeProvider, encoding: dict[str, Any]) -> None:
    path = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    fake.on("POST", path, json_reply({"embeddings": [{"values": [0.5, -0.25]}, {"values": [0.125, 1.0]}]}))
    result = await client.embeddings.create(
        model="gemini-embedding-001", input=["one", "two"], dimensions=2, **encoding
    )
    assert [item.embedding for item in result.data] == [[0.5, -0.25], [0.125, 1.0]]
    assert result.usage.prompt_tokens == 0
    assert fake.last.headers["x-goog-api-key"] == "gemini-key"
    assert sent(fake) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": t}]},
                "outputDimensionality": 2,
            }
            for t in ("one", "two")
        ]
    }
