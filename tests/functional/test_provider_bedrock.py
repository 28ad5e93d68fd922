"""AWS Bedrock through the gateway: the OpenAI SDK on one side, a fake Bedrock runtime on the other.

The fake checks every SigV4 signature as AWS does (see ``fake_bedrock.py``), so every test that
gets an answer also proves the request was signed over the URL, headers and body actually sent.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import (
    APIError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    PermissionDeniedError,
    RateLimitError,
)

from gateway.config.settings import ProviderSettings
from tests.conftest import GatewayFactory, settings_with
from tests.functional import fake_bedrock as fb
from tests.functional.fake_bedrock import FakeBedrock

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0"
HANG = 10.0  # wide upper bound: only a hang (a buffering or stuck gateway) ever reaches it
HI = [{"role": "user", "content": "hi"}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


def aws_headers(fake: FakeBedrock, **changes: str) -> dict[str, str]:
    headers = {
        "x-portkey-provider": "bedrock",
        "x-portkey-custom-host": fake.host,
        "x-portkey-aws-access-key-id": fb.ACCESS_KEY,
        "x-portkey-aws-secret-access-key": fb.SECRET_KEY,
        "x-portkey-aws-region": fb.REGION,
    }
    headers.update({f"x-portkey-{name.replace('_', '-')}": value for name, value in changes.items()})
    return {name: value for name, value in headers.items() if value}


@pytest.fixture
async def sdk(gateway_url: str, bedrock: FakeBedrock) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=aws_headers(bedrock), max_retries=0
    )
    yield client
    await client.close()


async def chat(sdk: AsyncOpenAI, **params: Any) -> Any:
    return await sdk.chat.completions.create(**{"model": CLAUDE, "messages": HI, **params})


async def collect(sdk: AsyncOpenAI, **params: Any) -> list[Any]:
    stream = await chat(sdk, stream=True, **params)
    return [chunk async for chunk in stream]


async def consume(stream: Any, contents: list[str | None], acks: asyncio.Queue[None]) -> None:
    """Read a stream's chunk contents into ``contents``, acking each (the fake is paced by them)."""
    async for chunk in stream:
        contents.append(chunk.choices[0].delta.content)
        acks.put_nowait(None)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- requests, signatures, credentials -------------------------------------------------------


async def test_text_chat_is_signed_and_translated(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    answer = await chat(
        sdk,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": "Again?"},
        ],
        max_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        user="user-42",
        metadata={"team": "search"},
    )
    assert answer.choices[0].message.content == "Hi there."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == CLAUDE
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        9,
        4,
        13,
    )
    call = bedrock.last
    assert call.path == f"{CLAUDE_PATH}/converse"
    assert call.headers["Accept"] == "application/json"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fb.ACCESS_KEY}/")
    assert f"/{fb.REGION}/bedrock/aws4_request" in call.headers["Authorization"]
    assert {"host", "x-amz-date", "content-type", "accept"} <= set(call.signed_headers)
    assert "X-Amz-Security-Token" not in call.headers
    assert call.json() == {
        "system": [{"text": "Be brief."}, {"text": "Use French."}],
        "messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "Bonjour."}]},
            {"role": "user", "content": [{"text": "Again?"}]},
        ],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        "requestMetadata": {"team": "search", "user": "user-42"},
    }


async def test_session_token_is_sent_and_signed(gateway_url: str, bedrock: FakeBedrock) -> None:
    headers = aws_headers(bedrock, aws_session_token=fb.SESSION_TOKEN)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        answer = await chat(client)
    assert answer.choices[0].message.content == "Hi there."
    assert bedrock.last.headers["X-Amz-Security-Token"] == fb.SESSION_TOKEN
    assert "x-amz-security-token" in bedrock.last.signed_headers


async def test_region_and_keys_can_come_from_settings(
    make_gateway: GatewayFactory, bedrock: FakeBedrock
) -> None:
    options = {
        "aws-region": fb.REGION,
        "aws-access-key-id": fb.ACCESS_KEY,
        "aws-secret-access-key": fb.SECRET_KEY,
    }
    gateway = await make_gateway(settings_with(providers={"bedrock": ProviderSettings(options=options)}))
    headers = {"x-portkey-provider": "bedrock", "x-portkey-custom-host": bedrock.host}
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        api_key="unused",
        default_headers=headers,
        max_retries=0,
    ) as client:
        answer = await chat(client)
    assert answer.choices[0].message.content == "Hi there."
    assert f"/{fb.REGION}/bedrock/aws4_request" in bedrock.last.headers["Authorization"]


async def test_config_keys_carry_the_aws_options(gateway_url: str, bedrock: FakeBedrock) -> None:
    config = {
        "provider": "bedrock",
        "custom_host": bedrock.host,
        "aws_access_key_id": fb.ACCESS_KEY,
        "aws_secret_access_key": fb.SECRET_KEY,
        "aws_region": fb.REGION,
    }
    headers = {"x-portkey-config": orjson.dumps(config).decode()}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        answer = await chat(client)
    assert answer.choices[0].message.content == "Hi there."


async def test_model_arn_is_one_encoded_path_segment(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    arn = "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-v1:0"
    answer = await chat(sdk, model=arn)
    assert answer.model == arn
    assert bedrock.last.path.startswith("/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A")
    assert "inference-profile%2Feu.anthropic" in bedrock.last.path
    assert bedrock.last.model == arn


async def test_bedrock_api_key_goes_as_a_bearer_token(gateway_url: str, bedrock: FakeBedrock) -> None:
    headers = aws_headers(bedrock, aws_access_key_id="", aws_secret_access_key="")
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=fb.API_KEY, default_headers=headers, max_retries=0
    ) as client:
        answer = await chat(client)
    assert answer.choices[0].message.content == "Hi there."
    assert bedrock.last.headers["Authorization"] == f"Bearer {fb.API_KEY}"


async def test_wrong_secret_is_refused_by_aws_with_its_403(gateway_url: str, bedrock: FakeBedrock) -> None:
    headers = aws_headers(bedrock, aws_secret_access_key="not-the-secret")
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(PermissionDeniedError, match="bedrock: The request signature we calculated"):
            await chat(client)
    assert bedrock.calls == []


async def test_missing_aws_keys_are_a_400_naming_the_header(gateway_url: str, bedrock: FakeBedrock) -> None:
    headers = aws_headers(bedrock, aws_access_key_id="", aws_secret_access_key="")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway_url}/v1/chat/completions", json={"model": CLAUDE, "messages": HI}, headers=headers
        ) as response,
    ):
        error = (await response.json())["error"]
    assert response.status == 400
    assert error["param"] == "x-portkey-aws-access-key-id"
    assert bedrock.calls == []


async def test_missing_secret_is_a_400_that_never_echoes_keys(gateway_url: str, bedrock: FakeBedrock) -> None:
    headers = aws_headers(bedrock, aws_secret_access_key="", aws_session_token=fb.SESSION_TOKEN)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(BadRequestError) as raised:
            await chat(client)
    assert raised.value.body["param"] == "x-portkey-aws-secret-access-key"  # type: ignore[index]
    assert fb.ACCESS_KEY not in raised.value.message
    assert fb.SESSION_TOKEN not in raised.value.message


@pytest.mark.parametrize(
    "region", ["", "us-east-1.evil.example#", "US-EAST-1"], ids=["missing", "host", "case"]
)
async def test_region_is_required_and_checked(gateway_url: str, bedrock: FakeBedrock, region: str) -> None:
    headers = aws_headers(bedrock, aws_region=region)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(BadRequestError, match="region") as raised:
            await chat(client)
    assert raised.value.body["param"] == "x-portkey-aws-region"  # type: ignore[index]
    assert bedrock.calls == []


# --- content, tools, parameters --------------------------------------------------------------


async def test_base64_image_becomes_an_image_block(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    await chat(sdk, messages=[{"role": "user", "content": parts}])
    assert bedrock.last.json()["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
    ]


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", f"data:image/bmp;base64,{PNG}"], ids=["http", "bmp"]
)
async def test_images_converse_cannot_take_are_a_400(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, url: str
) -> None:
    parts = [{"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(BadRequestError, match="bedrock") as raised:
        await chat(sdk, messages=[{"role": "user", "content": parts}])
    assert raised.value.body["param"] == "messages[0].content[0]"  # type: ignore[index]
    assert bedrock.calls == []


async def test_tool_call_answer_and_results_sent_back(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.json_answer(fb.fixture("converse-tool-use.json")))
    answer = await chat(sdk, tools=[WEATHER])
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls"
    assert message.content == "Checking both cities."
    assert message.reasoning_content == "Two cities: two calls."  # type: ignore[attr-defined]
    signed = {"type": "thinking", "thinking": "Two cities: two calls.", "signature": "EqoBCkgIARAB"}
    assert message.thinking_blocks == [signed]  # type: ignore[attr-defined]
    calls = [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in message.tool_calls or []]
    assert calls == [
        ("tooluse_paris01", "get_weather", {"city": "Paris"}),
        ("tooluse_oslo02", "get_weather", {"city": "Oslo"}),
    ]
    assert bedrock.last.json()["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather of a city.",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},  # type: ignore[index]
                }
            }
        ]
    }
    follow_up = [
        *HI,
        message.model_dump(exclude_none=True, exclude={"reasoning_content", "refusal"}),
        {"role": "tool", "tool_call_id": "tooluse_paris01", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "tooluse_oslo02", "content": [{"type": "text", "text": "Snow"}]},
    ]
    await chat(sdk, messages=follow_up, tools=[WEATHER])
    assert bedrock.last.json()["messages"] == [
        {"role": "user", "content": [{"text": "hi"}]},
        {
            "role": "assistant",
            "content": [
                # The signed reasoning goes back first: Claude needs it in a tool-use loop.
                {
                    "reasoningContent": {
                        "reasoningText": {"text": signed["thinking"], "signature": "EqoBCkgIARAB"}
                    }
                },
                {"text": "Checking both cities."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_paris01",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
                {
                    "toolUse": {
                        "toolUseId": "tooluse_oslo02",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_paris01", "content": [{"text": "Sunny"}]}},
                {"toolResult": {"toolUseId": "tooluse_oslo02", "content": [{"text": "Snow"}]}},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    ],
    ids=["auto", "required", "function"],
)
async def test_tool_choice_forms(sdk: AsyncOpenAI, bedrock: FakeBedrock, choice: Any, expected: Any) -> None:
    await chat(sdk, tools=[WEATHER], tool_choice=choice)
    assert bedrock.last.json()["toolConfig"]["toolChoice"] == expected


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"tools": [WEATHER], "tool_choice": "none"}, "tool_choice"),
        ({"tools": [WEATHER], "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"n": 2}, "n"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
    ids=["tool_choice_none", "no_parallel_tools", "n", "presence_penalty", "logprobs", "json_mode", "effort"],
)
async def test_what_converse_cannot_carry_is_a_400_naming_it(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError, match="bedrock") as raised:
        await chat(sdk, **params)
    assert raised.value.body["param"] == param  # type: ignore[index]
    assert bedrock.calls == []


async def test_json_schema_becomes_structured_output(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
    bedrock.answer(fb.json_answer(fb.converse('{"city": "Lyon"}')))
    answer = await chat(sdk, response_format=response_format)
    assert orjson.loads(answer.choices[0].message.content or "") == {"city": "Lyon"}
    text_format = bedrock.last.json()["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert text_format["structure"]["jsonSchema"]["name"] == "place"
    assert orjson.loads(text_format["structure"]["jsonSchema"]["schema"]) == schema


async def test_reasoning_effort_and_top_k_are_claude_fields(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    await chat(sdk, reasoning_effort="low", extra_body={"top_k": 40})
    body = bedrock.last.json()
    assert body["additionalModelRequestFields"] == {
        "top_k": 40,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    assert body["inferenceConfig"]["maxTokens"] > 2048  # Claude wants room above the budget


async def test_reasoning_effort_for_another_family_is_a_400(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    with pytest.raises(BadRequestError, match="Anthropic") as raised:
        await chat(sdk, model="amazon.nova-pro-v1:0", reasoning_effort="high")
    assert raised.value.body["param"] == "reasoning_effort"  # type: ignore[index]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
async def test_finish_reason_mapping(sdk: AsyncOpenAI, bedrock: FakeBedrock, stop: str, finish: str) -> None:
    bedrock.answer(
        fb.json_answer(fb.converse("x", stop=stop)), fb.stream_answer(fb.text_stream("x", stop=stop))
    )
    assert (await chat(sdk)).choices[0].finish_reason == finish
    chunks = await collect(sdk)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        finish
    ]


async def test_cache_counts_are_in_prompt_tokens(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    counts = {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 7}
    bedrock.answer(fb.json_answer(fb.converse("ok", usage=counts)))
    usage = (await chat(sdk)).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (117, 5, 122)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 100


# --- streams ---------------------------------------------------------------------------------


async def test_text_stream_with_usage(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.stream_answer(fb.stream_fixture("converse-stream-text.jsonl")))
    chunks = await collect(sdk, stream_options={"include_usage": True})
    call = bedrock.last
    assert call.path == f"{CLAUDE_PATH}/converse-stream"
    assert call.headers["Accept"] == fb.EVENT_STREAM
    assert "accept" in call.signed_headers
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == "Hello from Bedrock."
    assert len({c.id for c in chunks}) == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
    }


async def test_stream_without_include_usage_has_no_usage_chunk(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.answer(fb.stream_answer(fb.stream_fixture("converse-stream-text.jsonl")))
    chunks = await collect(sdk)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_parallel_tool_calls_stream(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.stream_answer(fb.stream_fixture("converse-stream-tool-use.jsonl")))
    chunks = await collect(sdk, tools=[WEATHER], stream_options={"include_usage": True})
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert text_of(chunks) == "Checking both cities."
    assert [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in calls.values()] == [
        ("tooluse_paris01", "get_weather", {"city": "Paris"}),
        ("tooluse_oslo02", "get_weather", {"city": "Oslo"}),
    ]
    assert list(calls) == [0, 1]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (730, 88)
    assert usage.prompt_tokens_details.cached_tokens == 300


async def test_thinking_stream_gives_reasoning_content(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.stream_answer(fb.stream_fixture("converse-stream-thinking.jsonl")))
    chunks = await collect(sdk, reasoning_effort="medium")
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "The user wants a sum: 2 + 2 = 4."
    signed = [
        b
        for c in chunks
        if c.choices
        for b in (c.choices[0].delta.model_extra or {}).get("thinking_blocks", [])
    ]
    assert signed == [{"type": "thinking", "thinking": reasoning, "signature": "EqoBCkgIARABGAIiQJm2Zx8d"}]
    assert text_of(chunks) == "2 + 2 = 4."
    thinking = bedrock.last.json()["additionalModelRequestFields"]["thinking"]
    assert thinking == {"type": "enabled", "budget_tokens": 8192}


async def test_stream_is_translated_in_lock_step(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    # The fake sends frame k+1 only once the client holds the chunk made of frame k: a gateway
    # that buffered the stream would deadlock here and fail on the wait_for bound.
    frames = fb.text_stream("one", " two", " three")
    frames = [frames[0], frames[1], frames[2], frames[3], b"".join(frames[4:])]
    acks: asyncio.Queue[None] = asyncio.Queue()
    bedrock.answer(fb.stream_answer(frames, acks))

    async def lock_step() -> list[str]:
        stream = await chat(sdk, stream=True)
        seen = []
        async for chunk in stream:
            seen.append(
                chunk.choices[0].delta.content if chunk.choices[0].delta.content is not None else "<fin>"
            )
            acks.put_nowait(None)
        return seen

    assert await asyncio.wait_for(lock_step(), HANG) == ["", "one", " two", " three", "<fin>"]


async def test_stream_ending_after_message_stop_without_metadata_closes(
    sdk: AsyncOpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.answer(fb.stream_answer(fb.text_stream("done")[:-1]))
    chunks = await collect(sdk, stream_options={"include_usage": True})
    assert text_of(chunks) == "done"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_exception_frame_mid_stream_is_an_error_event(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    frames = [*fb.text_stream("partial")[:2], fb.exception("modelStreamErrorException", "Model went away.")]
    acks: asyncio.Queue[None] = asyncio.Queue()
    bedrock.answer(fb.stream_answer(frames, acks))  # paced: the error comes after the status was sent
    stream = await chat(sdk, stream=True)
    contents: list[str | None] = []
    with pytest.raises(APIError, match=r"bedrock: Model went away\.") as raised:
        await asyncio.wait_for(consume(stream, contents, acks), HANG)
    assert contents == ["", "partial"]
    assert raised.value.body["code"] == "modelStreamErrorException"  # type: ignore[index]


async def test_exception_as_first_frame_keeps_its_status(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.stream_answer([fb.exception("throttlingException", "Too many tokens, slow down.")]))
    with pytest.raises(RateLimitError, match="bedrock: Too many tokens"):
        await chat(sdk, stream=True)


async def test_corrupt_frame_is_a_broken_stream(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    frames = fb.text_stream("fine", "lost")
    corrupt = bytearray(frames[2])
    corrupt[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    acks: asyncio.Queue[None] = asyncio.Queue()
    bedrock.answer(fb.stream_answer([*frames[:2], bytes(corrupt), *frames[3:]], acks))
    stream = await chat(sdk, stream=True)
    contents: list[str | None] = []
    with pytest.raises(APIError, match="bedrock") as raised:
        await asyncio.wait_for(consume(stream, contents, acks), HANG)
    assert contents == ["", "fine"]
    assert raised.value.body["code"] == "upstream_error"  # type: ignore[index]


@pytest.mark.parametrize("cut", ["mid_frame", "between_frames"])
async def test_cut_stream_is_an_error_not_a_clean_end(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, cut: str
) -> None:
    frames = fb.text_stream("fine", "more")
    pieces = [frames[0], frames[1], frames[2][:9]] if cut == "mid_frame" else frames[:3]
    acks: asyncio.Queue[None] = asyncio.Queue()
    bedrock.answer(fb.stream_answer(pieces, acks, cut=True))
    stream = await chat(sdk, stream=True)
    contents: list[str | None] = []
    with pytest.raises(APIError, match="bedrock") as raised:
        await asyncio.wait_for(consume(stream, contents, acks), HANG)
    assert contents[:2] == ["", "fine"]
    assert raised.value.body["code"] == "upstream_error"  # type: ignore[index]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "exception"),
    [
        (400, {"message": "The provided model identifier is invalid."}, BadRequestError),
        (401, {"Message": "The security token included in the request is invalid."}, AuthenticationError),
        (429, fb.fixture("error-throttling.json"), RateLimitError),
        (500, {"message": "The server encountered an internal error."}, InternalServerError),
        (503, {"message": "Bedrock is unable to process your request."}, InternalServerError),
    ],
)
async def test_http_errors_keep_status_and_name_the_provider(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, status: int, body: dict[str, str], exception: type[APIError]
) -> None:
    bedrock.answer(fb.json_answer(body, status), fb.json_answer(body, status))
    message = f"bedrock: {next(iter(body.values()))}"
    with pytest.raises(exception) as raised:
        await chat(sdk)
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    assert raised.value.body["message"] == message  # type: ignore[index]
    with pytest.raises(exception) as raised:
        await chat(sdk, stream=True)
    assert raised.value.body["message"] == message  # type: ignore[index]


# --- embeddings ------------------------------------------------------------------------------


async def test_titan_embeddings(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    # The SDK asks for base64 unless told otherwise: Bedrock's floats are encoded for it.
    bedrock.answer(fb.json_answer({"embedding": [0.25, -0.5, 1.0], "inputTextTokenCount": 6}))
    result = await sdk.embeddings.create(
        model="amazon.titan-embed-text-v2:0", input="hello world", dimensions=256
    )
    assert [d.embedding for d in result.data] == [[0.25, -0.5, 1.0]]
    assert result.usage.prompt_tokens == 6
    assert result.model == "amazon.titan-embed-text-v2:0"
    assert bedrock.last.path == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert bedrock.last.json() == {"inputText": "hello world", "dimensions": 256}


async def test_titan_takes_one_input_per_call(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    with pytest.raises(BadRequestError, match="one text per request") as raised:
        await sdk.embeddings.create(model="amazon.titan-embed-text-v2:0", input=["a", "b"])
    assert raised.value.body["param"] == "input"  # type: ignore[index]
    assert bedrock.calls == []


@pytest.mark.parametrize(
    "answer",
    [
        {"embeddings": [[0.1, 0.2], [0.3, 0.4]], "response_type": "embeddings_floats"},
        {"embeddings": {"float": [[0.1, 0.2], [0.3, 0.4]]}, "response_type": "embeddings_by_type"},
    ],
    ids=["floats", "by_type"],
)
async def test_cohere_embeddings(sdk: AsyncOpenAI, bedrock: FakeBedrock, answer: dict[str, Any]) -> None:
    bedrock.answer(fb.json_answer({"id": "e1", "texts": ["a", "b"], **answer}))
    result = await sdk.embeddings.create(
        model="cohere.embed-english-v3", input=["a", "b"], encoding_format="float"
    )
    assert [d.embedding for d in result.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert [d.index for d in result.data] == [0, 1]
    assert bedrock.last.json() == {"texts": ["a", "b"], "input_type": "search_document"}


async def test_base64_embeddings_are_float32_little_endian(gateway_url: str, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.json_answer({"embedding": [0.1, -2.5], "inputTextTokenCount": 2}))
    body = {"model": "amazon.titan-embed-text-v1", "input": "hi", "encoding_format": "base64"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/embeddings", json=body, headers=aws_headers(bedrock)) as response,
    ):
        answer = await response.json()
    raw = base64.b64decode(answer["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == pytest.approx((0.1, -2.5))
    assert bedrock.last.json() == {"inputText": "hi"}


async def test_other_embedding_models_are_a_400(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    with pytest.raises(BadRequestError, match="Titan") as raised:
        await sdk.embeddings.create(model="amazon.nova-pro-v1:0", input="a")
    assert raised.value.body["param"] == "model"  # type: ignore[index]


async def test_embedding_errors_keep_their_status(sdk: AsyncOpenAI, bedrock: FakeBedrock) -> None:
    bedrock.answer(fb.json_answer({"message": "Malformed input request"}, 400))
    with pytest.raises(BadRequestError, match="bedrock: Malformed input request"):
        await sdk.embeddings.create(model="cohere.embed-english-v3", input="a")
