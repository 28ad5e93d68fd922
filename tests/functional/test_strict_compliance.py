"""``strict_open_ai_compliance`` (Portkey's): strict by default, OpenAI's fields only; ``false`` (the
``x-portkey-strict-open-ai-compliance`` header or the config key, inherited) keeps the provider's
extras as Portkey shapes them. Each translated provider with extras is asked, whole and streamed,
through the official OpenAI SDK (which parses both shapes) against fakes of the provider's wire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from tests.fake_provider import FakeProvider
from tests.functional import fake_anthropic as fa
from tests.functional import fake_bedrock as fb
from tests.functional import fake_cohere as fc
from tests.functional.fake_anthropic import FakeAnthropic
from tests.functional.fake_bedrock import FakeBedrock
from tests.functional.fake_cohere import FakeCohere
from tests.functional.fake_gemini import answer, json_reply, sse, stream_reply

HI = [{"role": "user", "content": "Hi"}]
STRICT = "x-portkey-strict-open-ai-compliance"
#: How a caller asks: nothing (strict, the default), the header, or the config key on a parent node.
MODES = ("default", "header", "config")


def asked(mode: str, provider: str, host: str) -> dict[str, str]:
    """The headers of a request sent in ``mode`` to ``provider`` at ``host``."""
    headers = {"x-portkey-provider": provider, "x-portkey-custom-host": host}
    if mode == "header":
        headers[STRICT] = "false"
    elif mode == "config":
        config = {
            "strategy": {"mode": "fallback"},
            "strict_open_ai_compliance": False,
            "targets": [{"provider": provider, "custom_host": host}],
        }
        headers["x-portkey-config"] = orjson.dumps(config).decode()
    return headers


@pytest.fixture
async def sdk(gateway_url: str) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key="provider-key", max_retries=0)
    yield client
    await client.close()


async def whole(sdk: AsyncOpenAI, headers: dict[str, str], model: str) -> dict[str, Any]:
    """The answer as the SDK parsed it, extras included (``model_dump`` keeps unknown fields)."""
    result = await sdk.chat.completions.create(model=model, messages=HI, extra_headers=headers)  # type: ignore[arg-type]
    return result.model_dump()


async def streamed(sdk: AsyncOpenAI, headers: dict[str, str], model: str) -> list[dict[str, Any]]:
    stream = await sdk.chat.completions.create(model=model, messages=HI, stream=True, extra_headers=headers)  # type: ignore[arg-type]
    return [chunk.model_dump() async for chunk in stream]


def blocks_of(chunks: list[dict[str, Any]]) -> list[Any]:
    """Every streamed ``content_blocks`` entry, in order."""
    return [
        block
        for c in chunks
        for choice in c["choices"]
        for block in choice["delta"].get("content_blocks") or []
    ]


def finish_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [choice["finish_reason"] for c in chunks for choice in c["choices"] if choice["finish_reason"]]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(choice["delta"].get("content") or "" for c in chunks for choice in c["choices"])


# --- Anthropic -------------------------------------------------------------------------------


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


THINKING = {"type": "thinking", "thinking": "Two plus two.", "signature": "sig-abc"}
CITED = {"type": "text", "text": "It is 4.", "citations": [{"type": "char_location", "cited_text": "4"}]}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"x": 2}}


@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_answer_keeps_content_blocks_and_stop_reason_unless_strict(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, mode: str
) -> None:
    body = {**fa.message(stop_reason="tool_use"), "content": [THINKING, CITED, TOOL_USE]}
    anthropic.answer(fa.Message(body))
    result = await whole(sdk, asked(mode, "anthropic", anthropic.base_url), "claude-x")
    choice = result["choices"][0]
    assert choice["message"]["content"] == "It is 4."
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "calc"
    if mode == "default":
        assert "content_blocks" not in choice["message"]
        assert choice["finish_reason"] == "tool_calls"
    else:
        # Portkey's shape: every block but tool uses, as Anthropic sent it (citations included).
        assert choice["message"]["content_blocks"] == [THINKING, CITED]
        assert choice["finish_reason"] == "tool_use"


@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_stream_sends_content_block_deltas_unless_strict(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic, mode: str
) -> None:
    thinking_start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": ""},
    }
    thinking = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Hm."},
    }
    signature = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "s1"},
    }
    tool_start = {"type": "content_block_start", "index": 2, "content_block": {**TOOL_USE, "input": {}}}
    tool_delta = {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"x": 2}'},
    }
    anthropic.answer(
        fa.Stream(
            fa.events(
                fa.start(),
                ("content_block_start", thinking_start),
                ("content_block_delta", thinking),
                ("content_block_delta", signature),
                fa.block_stop(0),
                fa.text_block(1),
                fa.text_delta("Four.", 1),
                fa.block_stop(1),
                ("content_block_start", tool_start),
                ("content_block_delta", tool_delta),
                fa.block_stop(2),
                fa.finish("tool_use"),
                fa.STOP,
            )
        )
    )
    chunks = await streamed(sdk, asked(mode, "anthropic", anthropic.base_url), "claude-x")
    assert text_of(chunks) == "Four."
    if mode == "default":
        assert blocks_of(chunks) == []
        assert finish_of(chunks) == ["tool_calls"]
        return
    assert blocks_of(chunks) == [
        {"index": 0, "delta": {"thinking": ""}},
        {"index": 0, "delta": {"thinking": "Hm."}},
        {"index": 0, "delta": {"signature": "s1"}},
        {"index": 1, "delta": {"text": ""}},
        {"index": 1, "delta": {"text": "Four."}},
    ]
    # Tool-call chunks carry no blocks, as in Portkey; the reason is Anthropic's own.
    tool_chunks = [c for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert len(tool_chunks) == 2
    assert all("content_blocks" not in c["choices"][0]["delta"] for c in tool_chunks)
    assert finish_of(chunks) == ["tool_use"]


# --- Gemini and Vertex AI ----------------------------------------------------------------------

GEMINI = "gemini-2.5-flash"
GROUNDING = {
    "webSearchQueries": ["capital of france"],
    "groundingChunks": [{"web": {"uri": "https://example.invalid/paris", "title": "Paris"}}],
}
SAFETY = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
GEMINI_PARTS = [
    {"text": "The user asks for a capital.", "thought": True},
    {"text": "Paris."},
    {"functionCall": {"name": "lookup", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnbmF0dXJl"},
]


def grounded(parts: list[dict[str, Any]], finish: str | None = "STOP") -> dict[str, Any]:
    result = answer(parts, finish=finish, model=GEMINI)
    result["candidates"][0].update(groundingMetadata=GROUNDING, safetyRatings=SAFETY)
    return result


@pytest.mark.parametrize("mode", MODES)
async def test_gemini_answer_keeps_blocks_signature_grounding_and_reason_unless_strict(
    sdk: AsyncOpenAI, fake: FakeProvider, mode: str
) -> None:
    fake.on("POST", f"/v1beta/models/{GEMINI}:generateContent", json_reply(grounded(GEMINI_PARTS)))
    result = await whole(sdk, asked(mode, "google", f"http://127.0.0.1:{fake.port}"), GEMINI)
    choice = result["choices"][0]
    call = choice["message"]["tool_calls"][0]
    assert choice["message"]["content"] == "Paris."
    # Google's own place for the signature is there either way (clients send it back from there).
    assert call["extra_content"] == {"google": {"thought_signature": "c2lnbmF0dXJl"}}
    if mode == "default":
        assert "content_blocks" not in choice["message"]
        assert "thought_signature" not in call["function"]
        assert "groundingMetadata" not in choice
        assert choice["finish_reason"] == "tool_calls"
        return
    assert choice["message"]["content_blocks"] == [
        {"type": "thinking", "thinking": "The user asks for a capital."},
        {"type": "text", "text": "Paris."},
    ]
    assert call["function"]["thought_signature"] == "c2lnbmF0dXJl"
    assert choice["groundingMetadata"] == GROUNDING
    assert "safetyRatings" not in choice  # Portkey passes them on Vertex AI only
    assert choice["finish_reason"] == "STOP"


@pytest.mark.parametrize("mode", MODES)
async def test_gemini_stream_keeps_extras_event_by_event_unless_strict(
    sdk: AsyncOpenAI, fake: FakeProvider, mode: str
) -> None:
    events = [
        answer([GEMINI_PARTS[0]], finish=None, model=GEMINI),
        answer([GEMINI_PARTS[1]], finish=None, model=GEMINI),
        grounded([GEMINI_PARTS[2]]),
    ]
    fake.on("POST", f"/v1beta/models/{GEMINI}:streamGenerateContent", stream_reply([sse(e) for e in events]))
    chunks = await streamed(sdk, asked(mode, "google", f"http://127.0.0.1:{fake.port}"), GEMINI)
    assert text_of(chunks) == "Paris."
    calls = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls") or []]
    grounding = [
        c["choices"][0]["groundingMetadata"] for c in chunks if "groundingMetadata" in c["choices"][0]
    ]
    if mode == "default":
        assert blocks_of(chunks) == []
        assert "thought_signature" not in calls[0]["function"]
        assert grounding == []
        assert finish_of(chunks) == ["tool_calls"]
        return
    assert blocks_of(chunks) == [
        {"index": 0, "delta": {"thinking": "The user asks for a capital."}},
        {"index": 1, "delta": {"text": "Paris."}},
    ]
    assert calls[0]["function"]["thought_signature"] == "c2lnbmF0dXJl"
    assert grounding == [GROUNDING]
    assert finish_of(chunks) == ["STOP"]


@pytest.mark.parametrize("mode", MODES)
async def test_vertex_gemini_answer_adds_safety_ratings_unless_strict(
    sdk: AsyncOpenAI, fake: FakeProvider, mode: str
) -> None:
    path = f"/v1/projects/p1/locations/us-central1/publishers/google/models/{GEMINI}:generateContent"
    fake.on("POST", path, json_reply(grounded([{"text": "Paris."}], finish="MAX_TOKENS")))
    headers = {
        **asked(mode, "vertex-ai", f"http://127.0.0.1:{fake.port}"),
        "x-portkey-vertex-project-id": "p1",
    }
    choice = (await whole(sdk, headers, GEMINI))["choices"][0]
    if mode == "default":
        assert ("safetyRatings" in choice, "groundingMetadata" in choice) == (False, False)
        assert choice["finish_reason"] == "length"
    else:
        assert (choice["safetyRatings"], choice["groundingMetadata"]) == (SAFETY, GROUNDING)
        assert choice["finish_reason"] == "MAX_TOKENS"


async def test_vertex_claude_answer_keeps_content_blocks_when_not_strict(
    sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    model = "claude-sonnet-4@20250514"
    path = f"/v1/projects/p1/locations/us-east5/publishers/anthropic/models/{model}:rawPredict"
    fake.on("POST", path, json_reply({**fa.message(), "content": [THINKING, CITED]}))
    headers = {
        **asked("header", "vertex-ai", f"http://127.0.0.1:{fake.port}"),
        "x-portkey-vertex-project-id": "p1",
        "x-portkey-vertex-region": "us-east5",
    }
    choice = (await whole(sdk, headers, model))["choices"][0]
    assert choice["message"]["content_blocks"] == [THINKING, CITED]
    assert choice["finish_reason"] == "end_turn"


# --- Bedrock -------------------------------------------------------------------------------------

CLAUDE = "anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


def aws(mode: str, fake: FakeBedrock) -> dict[str, str]:
    return {
        **asked(mode, "bedrock", fake.host),
        "x-portkey-aws-access-key-id": fb.ACCESS_KEY,
        "x-portkey-aws-secret-access-key": fb.SECRET_KEY,
        "x-portkey-aws-region": fb.REGION,
    }


@pytest.mark.parametrize("mode", MODES)
async def test_bedrock_answer_keeps_content_blocks_and_stop_reason_unless_strict(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, mode: str
) -> None:
    reasoning = {"reasoningContent": {"reasoningText": {"text": "Sum it.", "signature": "sig-b"}}}
    bedrock.answer(fb.json_answer(fb.converse("4", stop="max_tokens", content=[reasoning])))
    choice = (await whole(sdk, aws(mode, bedrock), CLAUDE))["choices"][0]
    assert choice["message"]["content"] == "4"
    if mode == "default":
        assert "content_blocks" not in choice["message"]
        assert choice["finish_reason"] == "length"
    else:
        assert choice["message"]["content_blocks"] == [
            {"type": "thinking", "thinking": "Sum it.", "signature": "sig-b"},
            {"type": "text", "text": "4"},
        ]
        assert choice["finish_reason"] == "max_tokens"


@pytest.mark.parametrize("mode", MODES)
async def test_bedrock_stream_sends_content_block_deltas_unless_strict(
    sdk: AsyncOpenAI, bedrock: FakeBedrock, mode: str
) -> None:
    bedrock.answer(fb.stream_answer(fb.stream_fixture("converse-stream-thinking.jsonl")))
    chunks = await streamed(sdk, aws(mode, bedrock), CLAUDE)
    if mode == "default":
        assert blocks_of(chunks) == []
        assert finish_of(chunks) == ["stop"]
        return
    blocks = blocks_of(chunks)
    assert blocks[:3] == [
        {"index": 0, "delta": {"thinking": "The user wants"}},
        {"index": 0, "delta": {"thinking": " a sum: 2 + 2 = 4."}},
        {"index": 0, "delta": {"signature": "EqoBCkgIARABGAIiQJm2Zx8d"}},
    ]
    assert "".join(b["delta"].get("text", "") for b in blocks if b["index"] == 1) == text_of(chunks) != ""
    assert finish_of(chunks) == ["end_turn"]


# --- Cohere ----------------------------------------------------------------------------------


@pytest.fixture
async def cohere(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeCohere:
    fake = FakeCohere()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


@pytest.mark.parametrize("mode", MODES)
async def test_cohere_finish_reason_is_cohere_s_own_unless_strict(
    sdk: AsyncOpenAI, cohere: FakeCohere, mode: str
) -> None:
    cohere.reply(fc.chat_answer("Hi!", finish="MAX_TOKENS"))
    choice = (await whole(sdk, asked(mode, "cohere", cohere.host), "command-a"))["choices"][0]
    assert choice["finish_reason"] == ("length" if mode == "default" else "MAX_TOKENS")
    cohere.stream(fc.fixture_events("text.sse"))  # ends with finish_reason COMPLETE
    chunks = await streamed(sdk, asked(mode, "cohere", cohere.host), "command-a")
    assert finish_of(chunks) == ["stop" if mode == "default" else "COMPLETE"]


# --- how it is asked -----------------------------------------------------------------------------


async def test_header_true_and_a_child_s_own_key_keep_or_drop_the_extras(
    sdk: AsyncOpenAI, anthropic: FakeAnthropic
) -> None:
    anthropic.answer(fa.Message({**fa.message(), "content": [CITED]}))
    strict_header = {**asked("default", "anthropic", anthropic.base_url), STRICT: "true"}
    assert "content_blocks" not in (await whole(sdk, strict_header, "c"))["choices"][0]["message"]
    # A child's own key wins over its parent's.
    config = {
        "strict_open_ai_compliance": False,
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "anthropic", "custom_host": anthropic.base_url, "strict_open_ai_compliance": True}
        ],
    }
    child_strict = {"x-portkey-config": orjson.dumps(config).decode()}
    assert "content_blocks" not in (await whole(sdk, child_strict, "c"))["choices"][0]["message"]
    # Either false wins, as in Portkey (whose SDK sends the header on every call).
    config["targets"][0]["strict_open_ai_compliance"] = False  # type: ignore[index]
    config["strict_open_ai_compliance"] = True
    both = {"x-portkey-config": orjson.dumps(config).decode(), STRICT: "true"}
    assert (await whole(sdk, both, "c"))["choices"][0]["message"]["content_blocks"] == [CITED]


@pytest.mark.parametrize(
    ("headers", "param", "names"),
    [
        ({STRICT: "nope"}, STRICT, STRICT),
        (
            {"x-portkey-config": '{"provider": "anthropic", "strict_open_ai_compliance": "false"}'},
            "x-portkey-config",
            "config.strict_open_ai_compliance",
        ),
    ],
)
async def test_a_value_that_is_not_a_boolean_is_a_400_naming_it(
    gateway_url: str, anthropic: FakeAnthropic, headers: dict[str, str], param: str, names: str
) -> None:
    sent = {"x-portkey-provider": "anthropic", "x-portkey-custom-host": anthropic.base_url, **headers}
    async with (
        ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/chat/completions", json={"model": "c", "messages": HI}, headers=sent
        ) as response,
    ):
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["param"] == param
    assert names in error["message"]
    assert anthropic.received == []


async def test_gemini_thought_signature_sent_back_in_function_reaches_gemini(
    sdk: AsyncOpenAI, fake: FakeProvider
) -> None:
    fake.on("POST", f"/v1beta/models/{GEMINI}:generateContent", json_reply(answer([{"text": "Sunny."}])))
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": "{}", "thought_signature": "c2lnbmF0dXJl"},
    }
    messages = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    headers = asked("header", "google", f"http://127.0.0.1:{fake.port}")
    await sdk.chat.completions.create(model=GEMINI, messages=messages, extra_headers=headers)  # type: ignore[arg-type]
    sent = fake.last.json()
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
