"""Anthropic behind the OpenAI SDK: what the Messages API receives, and what the SDK makes of its answers.

The fake (tests/functional/fake_anthropic.py) speaks Anthropic's wire format: named events, LF
framing, the padding spaces real streams carry, Anthropic's error bodies and headers. The SDK and
the fake share one event loop, so event-by-event output is proved by lock-step, not by timing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import (
    APIError,
    APIStatusError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)
from openai.types.chat import ChatCompletionChunk

from gateway.appkeys import RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.fake_anthropic import (
    FIXTURES,
    OVERLOADED,
    STOP,
    FakeAnthropic,
    Message,
    Stream,
    block_stop,
    error,
    events,
    finish,
    fixture_events,
    message,
    rate_limit_headers,
    start,
    text_block,
    text_delta,
)

KEY = "sk-ant-test-key-0123"
MODEL = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "hi"}]
HANG = 5.0  # a bound only a hang (a buffering or stuck gateway) ever reaches
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": PARAMETERS},
}
End = Literal["eof", "cut"]


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


def gateway_headers(anthropic: FakeAnthropic) -> dict[str, str]:
    return {"x-portkey-provider": "anthropic", "x-portkey-custom-host": anthropic.base_url}


@pytest.fixture
async def sdk(gateway_url: str, anthropic: FakeAnthropic) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=gateway_headers(anthropic), max_retries=0
    )
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def chat(sdk: AsyncOpenAI, **params: Any) -> Any:
    """``chat.completions.create`` with the test's model and messages unless ``params`` name others
    (typed ``Any``: the SDK's overloads cannot tell a stream from a completion through ``**params``)."""
    create: Any = sdk.chat.completions.create
    return await create(**{"model": MODEL, "messages": HI, **params})


async def sent(sdk: AsyncOpenAI, anthropic: FakeAnthropic, **params: Any) -> dict[str, Any]:
    """The Messages API body the fake received for a chat request with ``params``."""
    anthropic.answer(Message(message()))
    await chat(sdk, **params)
    return anthropic.last.body


async def collect(stream: AsyncIterator[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    async def read() -> list[ChatCompletionChunk]:
        return [chunk async for chunk in stream]

    return await asyncio.wait_for(read(), HANG)


async def raw_stream(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic, **params: Any
) -> tuple[int, bytes]:
    """A streamed chat request through aiohttp: the status and the body bytes as sent."""
    body = {"model": MODEL, "messages": HI, "stream": True, **params}
    headers = {**gateway_headers(anthropic), "Authorization": f"Bearer {KEY}"}
    async with http.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
        return response.status, await asyncio.wait_for(response.read(), HANG)


def assert_openai_framing(body: bytes) -> None:
    """One ``data:`` line per event, events apart by one blank line (no stray ones)."""
    assert body.endswith(b"\n\n")
    assert b"\n\n\n" not in body
    assert all(line.startswith(b"data: ") for line in body.split(b"\n") if line)


def in_band_error(body: bytes) -> dict[str, Any]:
    """The error of the stream's last event (one ``data:`` line per event, as OpenAI sends)."""
    last = orjson.loads(body.split(b"\n\n")[-2].strip().removeprefix(b"data: "))
    assert set(last) == {"error"}, last
    failure: dict[str, Any] = last["error"]
    return failure


# --- request translation -------------------------------------------------------------------------


async def test_request_reaches_messages_with_the_callers_key_in_anthropics_form(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    body = await sent(sdk, anthropic)
    received = anthropic.last
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert "Authorization" not in received.headers
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in received.headers
    assert received.headers["Content-Type"] == "application/json"
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
    }


async def test_clients_anthropic_version_and_beta_are_sent_upstream(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    beta = "prompt-caching-2024-07-31,output-128k-2025-02-19"
    headers = {"anthropic-version": "2024-10-22", "anthropic-beta": beta}
    await sent(sdk, anthropic, extra_headers=headers)
    assert anthropic.last.headers["anthropic-version"] == "2024-10-22"
    assert anthropic.last.headers["anthropic-beta"] == beta


async def test_system_and_developer_messages_become_system_blocks_around_a_multi_turn_chat(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": [{"type": "text", "text": "How "}, {"type": "text", "text": "are you?"}]},
    ]
    body = await sent(sdk, anthropic, messages=messages)
    assert body["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Bonjour"}]},
        {"role": "user", "content": [{"type": "text", "text": "How "}, {"type": "text", "text": "are you?"}]},
    ]


async def test_images_become_base64_and_url_sources(sdk: AsyncOpenAI, anthropic: FakeAnthropic) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    body = await sent(sdk, anthropic, messages=[{"role": "user", "content": content}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, None),
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            {"type": "tool", "name": "get_weather"},
        ),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
    ],
    ids=["unset", "auto", "required", "none", "named", "no_parallel", "required_no_parallel"],
)
async def test_tools_and_tool_choice_are_translated(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, params: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    body = await sent(sdk, anthropic, tools=[WEATHER], **params)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": PARAMETERS,
        }
    ]
    assert body.get("tool_choice") == expected


async def test_tool_calls_and_their_results_go_back_as_tool_use_and_one_merged_tool_result_turn(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    calls = [
        {
            "id": "toolu_A",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {
            "id": "toolu_B",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
        },
    ]
    messages = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "toolu_A", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_B", "content": [{"type": "text", "text": "4C"}]},
    ]
    body = await sent(sdk, anthropic, messages=messages, tools=[WEATHER])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Oslo?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_A", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_B", "content": "4C"},
            ],
        },
    ]


async def test_signed_thinking_blocks_go_back_before_the_tool_calls_they_led_to(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    # Claude refuses a tool-use turn with thinking on unless its signed thinking comes back first.
    signed = {"type": "thinking", "thinking": "Paris, then.", "signature": "EqQBsig"}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    call = {"id": "toolu_A", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call], "thinking_blocks": [signed, redacted]},
        {"role": "tool", "tool_call_id": "toolu_A", "content": "18C"},
    ]
    body = await sent(sdk, anthropic, messages=messages, tools=[WEATHER], reasoning_effort="low")
    assert body["messages"][1]["content"] == [
        signed,
        redacted,
        {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
    ]


async def test_a_malformed_thinking_block_is_a_400(sdk: AsyncOpenAI, anthropic: FakeAnthropic) -> None:
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Hm.", "thinking_blocks": [{"type": "thinking", "thinking": "x"}]},
        {"role": "user", "content": "And?"},
    ]
    with pytest.raises(BadRequestError, match="thinking_blocks"):
        await chat(sdk, messages=messages)
    assert anthropic.received == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"stop": "END", "temperature": 0.2, "top_p": 0.9, "max_tokens": 300},
            {"stop_sequences": ["END"], "temperature": 0.2, "top_p": 0.9, "max_tokens": 300},
        ),
        ({"stop": ["a", "b"], "max_completion_tokens": 77}, {"stop_sequences": ["a", "b"], "max_tokens": 77}),
        ({"user": "user-42"}, {"metadata": {"user_id": "user-42"}, "max_tokens": 4096}),
        ({"extra_body": {"top_k": 5}}, {"top_k": 5, "max_tokens": 4096}),
    ],
    ids=["sampling", "max_completion_tokens", "user", "top_k"],
)
async def test_sampling_parameters_are_carried(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = await sent(sdk, anthropic, **params)
    assert {key: body[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("params", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "low"}, {"type": "enabled", "budget_tokens": 2048}, 4096 + 2048),
        ({"reasoning_effort": "high"}, {"type": "enabled", "budget_tokens": 24576}, 4096 + 24576),
        (
            {"reasoning_effort": "medium", "max_tokens": 20000},
            {"type": "enabled", "budget_tokens": 8192},
            20000,
        ),
    ],
    ids=["low", "high", "client_max_tokens"],
)
async def test_reasoning_effort_becomes_a_thinking_budget_within_max_tokens(
    sdk: AsyncOpenAI,
    anthropic: FakeAnthropic,
    params: dict[str, Any],
    thinking: dict[str, Any],
    max_tokens: int,
) -> None:
    body = await sent(sdk, anthropic, **params)
    assert body["thinking"] == thinking
    assert body["max_tokens"] == max_tokens > thinking["budget_tokens"]


async def test_json_schema_response_format_becomes_output_config(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    format_ = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    body = await sent(sdk, anthropic, response_format=format_)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
async def test_a_tool_choice_that_needs_tools_without_tools_is_a_400(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, choice: Any
) -> None:
    with pytest.raises(BadRequestError, match="'tool_choice' requires 'tools'"):
        await chat(sdk, tool_choice=choice)
    assert anthropic.received == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"n": 2}, "n"),
        ({"seed": 7}, "seed"),
        ({"logprobs": True}, "logprobs"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
    ids=["json_object", "n", "seed", "logprobs", "bad_effort"],
)
async def test_what_anthropic_cannot_do_is_a_400_naming_the_parameter(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, params: dict[str, Any], param: str
) -> None:
    anthropic.answer(Message(message()))
    with pytest.raises(BadRequestError) as raised:
        await chat(sdk, **params)
    assert raised.value.status_code == 400
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert raised.value.body["message"].startswith("anthropic: ")
    if param == "seed":
        assert "'seed'" in raised.value.body["message"]
    assert anthropic.received == []


# --- whole answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
async def test_text_answer_and_its_finish_reason(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, stop_reason: str, finish_reason: str
) -> None:
    anthropic.answer(Message(message("Bonjour !", stop_reason)))
    answer = await chat(sdk)
    choice = answer.choices[0]
    assert answer.object == "chat.completion"
    assert answer.id == "msg_01Fake"
    assert answer.model == "claude-sonnet-4-5-20250929"
    assert (choice.message.role, choice.message.content) == ("assistant", "Bonjour !")
    assert choice.finish_reason == finish_reason
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        10,
        5,
        15,
    )
    assert answer.usage.prompt_tokens_details is None


async def test_tool_use_thinking_and_cache_counts_of_a_whole_message(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    recorded = json.loads((FIXTURES / "message-tool-use.json").read_bytes())
    anthropic.answer(Message(recorded))
    answer = await chat(sdk, tools=[WEATHER])
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking both."
    thought = "The user wants the weather in two cities."
    signature = next(block["signature"] for block in recorded["content"] if block["type"] == "thinking")
    assert choice.message.model_extra == {
        "reasoning_content": thought,
        "thinking_blocks": [{"type": "thinking", "thinking": thought, "signature": signature}],
    }
    calls = choice.message.tool_calls or []
    uses = [block for block in recorded["content"] if block["type"] == "tool_use"]
    assert [(c.id, c.type, c.function.name) for c in calls] == [
        (u["id"], "function", u["name"]) for u in uses
    ]
    assert [json.loads(c.function.arguments) for c in calls] == [u["input"] for u in uses]
    usage = answer.usage
    assert usage is not None
    assert usage.prompt_tokens == 120 + 30 + 2000  # cache reads and writes are input tokens too
    assert (usage.completion_tokens, usage.total_tokens) == (77, 2150 + 77)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 2000
    assert usage.prompt_tokens_details.model_extra == {"cache_creation_tokens": 30}


async def test_tool_only_answer_has_null_content(sdk: AsyncOpenAI, anthropic: FakeAnthropic) -> None:
    body = message(stop_reason="tool_use")
    body["content"] = [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]
    anthropic.answer(Message(body))
    answer = await chat(sdk, tools=[WEATHER])
    assert answer.choices[0].message.content is None
    assert answer.choices[0].message.tool_calls[0].function.arguments == "{}"


# --- streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize("include_usage", [True, False])
async def test_text_stream_is_reconstructed_with_finish_and_optional_usage(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, include_usage: bool
) -> None:
    anthropic.answer(Stream(fixture_events("text-stream.sse")))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await chat(sdk, stream=True, **options)
    chunks = await collect(stream)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == 'Hello, world!\nété "quoted"'
    assert [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason] == ["stop"]
    assert {c.id for c in chunks} == {"msg_01TextStream0000000000001"}
    assert {c.model for c in chunks} == {"claude-sonnet-4-5-20250929"}
    assert len({c.created for c in chunks}) == 1
    if include_usage:
        last = chunks[-1]
        assert last.choices == []
        assert last.usage is not None
        assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
            21,
            12,
            33,
        )
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert all(c.usage is None and c.choices for c in chunks)


async def test_parallel_tool_calls_stream_with_stable_indices_and_reassembled_arguments(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Stream(fixture_events("parallel-tool-use-stream.sse")))
    stream = await chat(sdk, tools=[WEATHER], stream=True)
    calls: dict[int, dict[str, str]] = {}
    text = ""
    for chunk in await collect(stream):
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            assert call.function is not None
            if call.id:
                assert not entry["id"], "a call's id arrives once, in its first delta"
                entry |= {"id": call.id, "name": call.function.name or ""}
            entry["arguments"] += call.function.arguments or ""
    assert text == "I'll check both cities."
    assert sorted(calls) == [0, 1]
    assert [(calls[i]["id"], calls[i]["name"]) for i in (0, 1)] == [
        ("toolu_01Paris0000000000000001", "get_weather"),
        ("toolu_01Tokyo0000000000000002", "get_time"),
    ]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "c"}
    assert json.loads(calls[1]["arguments"]) == {"zone": "Asia/Tokyo"}
    assert chunk.choices[0].finish_reason == "tool_calls"


async def test_thinking_stream_gives_reasoning_content_then_text(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Stream(fixture_events("thinking-stream.sse")))
    stream = await chat(
        sdk,
        stream=True,
        reasoning_effort="low",
    )
    chunks = await collect(stream)
    reasoning = [(c.choices[0].delta.model_extra or {}).get("reasoning_content") for c in chunks]
    assert "".join(r for r in reasoning if r) == (
        "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3"
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "27 * 453 = 12,231"
    first_text = next(i for i, c in enumerate(chunks) if c.choices[0].delta.content)
    assert all(r is None for r in reasoning[first_text:]), "thinking comes before the answer"
    signed = [b for c in chunks for b in (c.choices[0].delta.model_extra or {}).get("thinking_blocks", [])]
    assert signed == [
        {
            "type": "thinking",
            "thinking": "".join(r for r in reasoning if r),
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        }
    ]
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_raw_stream_is_openai_sse_ending_in_done(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Stream(fixture_events("parallel-tool-use-stream.sse")))
    status, body = await raw_stream(http, gateway_url, anthropic, stream_options={"include_usage": True})
    assert status == 200
    assert_openai_framing(body)
    lines = [line for line in body.split(b"\n") if line]
    assert b"event:" not in body
    assert lines[-1] == b"data: [DONE]"
    assert body.endswith(b"data: [DONE]\n\n")
    payloads = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert payloads[-1]["choices"] == []
    assert payloads[-1]["usage"] == {"prompt_tokens": 412, "completion_tokens": 96, "total_tokens": 508}
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)


async def test_unknown_events_and_ping_are_ignored(sdk: AsyncOpenAI, anthropic: FakeAnthropic) -> None:
    future = ("citation_frobnicated", {"type": "citation_frobnicated", "index": 0, "what": [1, 2]})
    ping = ("ping", {"type": "ping"})
    anthropic.answer(
        Stream(events(start(), ping, text_block(), future, text_delta("ok"), block_stop(), finish(), STOP))
    )
    stream = await chat(sdk, stream=True)
    chunks = await collect(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ok"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_stream_is_translated_event_by_event_in_lock_step(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    script = events(start(), text_block(), text_delta("Hel"), text_delta("lo"), block_stop(), finish(), STOP)
    # The events each chunk comes from: the others (a block start with no text, a block stop) give none.
    sources = [0, 2, 3, 5]
    answer = Stream(script, lock_step=True)
    anthropic.answer(answer)

    async def lock_step() -> list[ChatCompletionChunk]:
        stream = await chat(sdk, stream=True)
        seen: list[ChatCompletionChunk] = []
        async for chunk in stream:
            source = sources[len(seen)]
            assert answer.written == source + 1, "the chunk came before any later event was written"
            seen.append(chunk)
            answer.allow(through=sources[len(seen)] if len(seen) < len(sources) else len(script) - 1)
        return seen

    seen = await asyncio.wait_for(lock_step(), HANG)
    assert [c.choices[0].delta.content for c in seen] == ["", "Hel", "lo", None]
    assert seen[-1].choices[0].finish_reason == "stop"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "text", "exception"),
    [
        (
            400,
            "invalid_request_error",
            "messages.0: Input does not match the expected shape.",
            BadRequestError,
        ),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (
            429,
            "rate_limit_error",
            "Number of requests has exceeded your per-minute rate limit",
            RateLimitError,
        ),
        (529, "overloaded_error", "Overloaded", InternalServerError),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_error_answers_keep_their_status_and_message(
    sdk: AsyncOpenAI,
    anthropic: FakeAnthropic,
    status: int,
    kind: str,
    text: str,
    exception: type[APIStatusError],
    stream: bool,
) -> None:
    anthropic.answer(error(status, kind, text, **(rate_limit_headers() if status == 429 else {})))
    with pytest.raises(exception) as raised:
        await chat(sdk, stream=stream)
    assert raised.value.status_code == status
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"].startswith("anthropic: ")
    assert text in raised.value.body["message"]
    assert raised.value.body["code"] == kind
    headers = raised.value.response.headers
    assert headers["request-id"] == "req_fake01"
    if status == 429:
        assert {name: headers[name] for name in rate_limit_headers()} == rate_limit_headers()
    assert KEY not in raised.value.response.text


async def test_error_as_the_first_event_is_an_http_error_not_a_stream(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    anthropic.answer(Stream(events(OVERLOADED)))
    with pytest.raises(InternalServerError) as raised:
        await chat(sdk, stream=True)
    assert raised.value.status_code == 529
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "anthropic: Overloaded"
    assert raised.value.response.headers["Content-Type"].startswith("application/json")


async def test_error_event_mid_stream_is_an_in_band_error_the_sdk_raises(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    # Lock-step, so the error comes in a read of its own, after the text was relayed (an error in
    # the stream's first read is an HTTP error instead: see the test above).
    answer = Stream(events(start(), text_block(), text_delta("Partial"), OVERLOADED), lock_step=True)
    answer.allow(through=2)
    anthropic.answer(answer)
    stream = await chat(sdk, stream=True)
    contents = []

    async def consume() -> None:
        async for chunk in stream:
            contents.append(chunk.choices[0].delta.content)
            if contents[-1] == "Partial":
                answer.allow(through=3)

    with pytest.raises(APIError, match="anthropic: Overloaded") as raised:
        await asyncio.wait_for(consume(), HANG)
    assert contents == ["", "Partial"]
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "overloaded_error"


async def test_text_read_together_with_an_error_still_reaches_the_client_before_it(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    # One write, so the gateway most likely reads the text and the error at once: the text goes out
    # first and the error follows in-band, as when they arrive in separate reads.
    together = b"".join(events(start(), text_block(), text_delta("Partial"), OVERLOADED))
    anthropic.answer(Stream([together]))
    stream = await chat(sdk, stream=True)
    contents = []

    async def consume() -> None:
        async for chunk in stream:
            contents.append(chunk.choices[0].delta.content)

    with pytest.raises(APIError, match="anthropic: Overloaded"):
        await asyncio.wait_for(consume(), HANG)
    assert contents == ["", "Partial"]


async def lock_stepped_body(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic, script: list[bytes], end: End
) -> bytes:
    """The raw body for ``script`` whose last event is written only once the client got "Partial"."""
    answer = Stream(script, end=end, lock_step=True)
    answer.allow(through=len(script) - 2)
    anthropic.answer(answer)
    body = {"model": MODEL, "messages": HI, "stream": True}
    headers = {**gateway_headers(anthropic), "Authorization": f"Bearer {KEY}"}

    async def read() -> bytes:
        async with http.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status == 200
            seen = b""
            while b"Partial" not in seen:
                seen += await response.content.readany()
            answer.allow(through=len(script) - 1)
            return seen + await response.content.read()

    return await asyncio.wait_for(read(), HANG)


@pytest.mark.parametrize(
    "last",
    [
        OVERLOADED,
        ("content_block_delta", b'{"type":"content_block_delta","index":0,"delta":{"type":"text_del'),
        ("content_block_delta", b"not json at all"),
    ],
    ids=["error_event", "cut_json", "not_json"],
)
async def test_error_or_malformed_event_mid_stream_is_an_in_band_error(
    http: aiohttp.ClientSession,
    gateway_url: str,
    anthropic: FakeAnthropic,
    last: tuple[str, dict[str, Any] | bytes],
) -> None:
    script = events(start(), text_block(), text_delta("Partial"), last, finish(), STOP)
    body = await lock_stepped_body(http, gateway_url, anthropic, script[:4], "eof")
    assert b"[DONE]" not in body
    assert_openai_framing(body)
    failure = in_band_error(body)
    assert failure["message"].startswith("anthropic: ") or "anthropic" in failure["message"]
    if last is OVERLOADED:
        assert failure == {
            "message": "anthropic: Overloaded",
            "type": "api_error",
            "param": None,
            "code": "overloaded_error",
        }


@pytest.mark.parametrize(
    "script",
    [
        events(start(), text_block(), text_delta("Partial")),
        events(start(), text_block(), text_delta("Partial"), block_stop(), finish()),
        [*events(start(), text_block(), text_delta("Partial"), finish()), events(STOP)[0][:30]],
    ],
    ids=["mid_content", "after_message_delta", "inside_message_stop"],
)
@pytest.mark.parametrize("end", ["cut", "eof"], ids=["connection_cut", "body_ended"])
async def test_stream_cut_before_message_stop_ends_with_an_in_band_error(
    http: aiohttp.ClientSession, gateway_url: str, anthropic: FakeAnthropic, script: list[bytes], end: End
) -> None:
    # "eof": the body ended cleanly for HTTP (a proxy's doing), but Anthropic's stream did not.
    anthropic.answer(Stream(script, end=end))
    status, body = await raw_stream(http, gateway_url, anthropic)
    assert status == 200
    assert b"Partial" in body
    assert b"[DONE]" not in body
    assert_openai_framing(body)
    failure = in_band_error(body)
    assert "anthropic" in failure["message"]


async def test_sdk_raises_when_the_stream_is_cut(sdk: AsyncOpenAI, anthropic: FakeAnthropic) -> None:
    anthropic.answer(Stream(events(start(), text_block(), text_delta("Partial")), end="cut"))
    stream = await chat(sdk, stream=True)
    with pytest.raises(APIError, match="anthropic"):
        await collect(stream)


async def test_fallback_moves_on_when_the_stream_fails_before_its_first_chunk(
    gateway_url: str, anthropic: FakeAnthropic, fake: FakeProvider
) -> None:
    anthropic.answer(Stream(events(OVERLOADED)))
    openai_chunk = orjson.dumps(
        {
            "id": "chatcmpl-b",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "from openai"}, "finish_reason": "stop"}],
        }
    )

    async def openai_stream(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(openai_chunk))
        await response.write_eof()
        return response

    fake.on("POST", "/v1/chat/completions", openai_stream)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "anthropic", "api_key": KEY, "custom_host": anthropic.base_url},
            {"provider": "openai", "api_key": "sk-openai", "custom_host": fake.base_url},
        ],
    }
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers={"x-portkey-config": json.dumps(config)},
        max_retries=0,
    )
    async with client:
        create: Any = client.chat.completions.with_raw_response.create
        response = await create(
            model=MODEL,
            messages=HI,
            stream=True,
        )
        chunks = await collect(response.parse())
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert [c.choices[0].delta.content for c in chunks] == ["from openai"]
    assert len(anthropic.received) == 1
    assert anthropic.last.headers["x-api-key"] == KEY
    assert fake.last.headers["Authorization"] == "Bearer sk-openai"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_access_log_counts_the_tokens_anthropic_reported(
    make_gateway: GatewayFactory, anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    # Counted from the provider's own usage, also for a stream the client asked no usage chunk of.
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True}))
    script = events(start(input_tokens=21), text_block(), text_delta("Hi"), finish(output_tokens=8), STOP)
    anthropic.answer(Stream(script) if stream else Message(message("Hi", input_tokens=21, output_tokens=8)))
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key=KEY,
        default_headers=gateway_headers(anthropic),
        max_retries=0,
    ) as client:
        answer = await chat(client, stream=stream)
        if stream:
            await collect(answer)
    await server.app[RECORDER].flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.access"]
    assert "provider=anthropic" in lines[-1]
    assert "prompt_tokens=21 completion_tokens=8" in lines[-1]
    assert KEY not in caplog.text
