"""Chat completions, legacy completions, embeddings, moderations and responses through the real wire.

The official ``openai`` SDK → the gateway (in-process, on a real socket) → a fake provider speaking
OpenAI's wire format. Each test checks what the provider received (method, path, query, body, the
caller's key) and that the SDK parsed exactly what the provider sent.
"""

from __future__ import annotations

import array
import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.fake_provider import FakeProvider
from tests.functional.endpoint_support import KEY, answer, answer_events, assert_reached, page

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 3,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}

CHAT_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-BWpGTZY785VsZipCO0bAvF7Z7tjdA",
    "object": "chat.completion",
    "created": 1747163257,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
    "service_tier": "default",
    "system_fingerprint": "fp_0392822090",
}

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "Capital of France? é ✓"},
]


def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: Any = None) -> dict[str, Any]:
    choices = (
        [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    return {
        "id": "chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc",
        "object": "chat.completion.chunk",
        "created": 1782955818,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_d0469e1700",
        "choices": choices,
        "usage": usage,
    }


def data_events(payloads: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads] + [b"data: [DONE]\n\n"]


@pytest.fixture
def sync_client(gateway_url: str, provider_headers: dict[str, str]) -> Iterator[OpenAI]:
    """The sync SDK; call it through ``asyncio.to_thread`` (the gateway runs in the test's loop)."""
    sdk = OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=provider_headers, max_retries=0)
    yield sdk
    sdk.close()


async def test_chat_completion_body_reaches_the_provider_unchanged_and_answer_parses(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer(fake, "POST", "/v1/chat/completions", CHAT_COMPLETION)
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.2,
        max_completion_tokens=20,
        extra_body={"top_k": 5, "vendor_extension": {"nested": [1, 2]}},
        extra_query={"tenant": "a b"},
    )
    received = assert_reached(fake, "POST", "/v1/chat/completions", {"tenant": ["a b"]})
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_completion_tokens": 20,
        "top_k": 5,
        "vendor_extension": {"nested": [1, 2]},
    }
    assert completion.to_dict() == CHAT_COMPLETION


async def test_chat_completion_works_from_the_sync_sdk(sync_client: OpenAI, fake: FakeProvider) -> None:
    answer(fake, "POST", "/v1/chat/completions", CHAT_COMPLETION)
    completion = await asyncio.to_thread(
        sync_client.chat.completions.create,
        model="gpt-4o-mini",
        messages=MESSAGES,
    )
    received = assert_reached(fake, "POST", "/v1/chat/completions")
    assert received.json() == {"model": "gpt-4o-mini", "messages": MESSAGES}
    assert completion.to_dict() == CHAT_COMPLETION


STREAM_CHUNKS = [
    chat_chunk({"role": "assistant", "content": "", "refusal": None}),
    chat_chunk({"content": "Par"}),
    chat_chunk({"content": "is."}),
    chat_chunk({}, finish_reason="stop"),
    chat_chunk({}, usage=USAGE),
]


async def test_streamed_chat_completion_yields_every_chunk_the_provider_sent(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer_events(fake, "POST", "/v1/chat/completions", data_events(STREAM_CHUNKS))
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk.to_dict() async for chunk in stream]
    received = assert_reached(fake, "POST", "/v1/chat/completions")
    assert received.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert chunks == STREAM_CHUNKS


async def test_streamed_chat_completion_works_from_the_sync_sdk(
    sync_client: OpenAI, fake: FakeProvider
) -> None:
    answer_events(fake, "POST", "/v1/chat/completions", data_events(STREAM_CHUNKS))

    def consume() -> list[dict[str, Any]]:
        stream = sync_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
        )
        return [chunk.to_dict() for chunk in stream]

    assert await asyncio.to_thread(consume) == STREAM_CHUNKS
    assert assert_reached(fake, "POST", "/v1/chat/completions").json()["stream"] is True


async def test_stored_chat_completions_list_passes_filters_and_cursor(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    body = page([CHAT_COMPLETION], first_id=CHAT_COMPLETION["id"], last_id=CHAT_COMPLETION["id"])
    answer(fake, "GET", "/v1/chat/completions", body)
    listed = await client.chat.completions.list(
        after="chatcmpl-prev", limit=1, model="gpt-4o-mini", order="asc", metadata={"topic": "geo"}
    )
    assert_reached(
        fake,
        "GET",
        "/v1/chat/completions",
        {
            "after": ["chatcmpl-prev"],
            "limit": ["1"],
            "model": ["gpt-4o-mini"],
            "order": ["asc"],
            "metadata[topic]": ["geo"],
        },
    )
    assert [item.to_dict() for item in listed.data] == [CHAT_COMPLETION]
    assert listed.has_more is False


async def test_stored_chat_completion_retrieve_update_and_delete(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    path = f"/v1/chat/completions/{CHAT_COMPLETION['id']}"
    updated = {**CHAT_COMPLETION, "metadata": {"topic": "geo"}}
    deleted = {"object": "chat.completion.deleted", "id": CHAT_COMPLETION["id"], "deleted": True}
    answer(fake, "GET", path, CHAT_COMPLETION)
    answer(fake, "POST", path, updated)
    answer(fake, "DELETE", path, deleted)

    retrieved = await client.chat.completions.retrieve(CHAT_COMPLETION["id"])
    assert assert_reached(fake, "GET", path).body == b""
    assert retrieved.to_dict() == CHAT_COMPLETION

    fake.received.clear()
    changed = await client.chat.completions.update(CHAT_COMPLETION["id"], metadata={"topic": "geo"})
    assert assert_reached(fake, "POST", path).json() == {"metadata": {"topic": "geo"}}
    assert changed.to_dict() == updated

    fake.received.clear()
    gone = await client.chat.completions.delete(CHAT_COMPLETION["id"])
    assert_reached(fake, "DELETE", path)
    assert gone.to_dict() == deleted


async def test_stored_chat_completion_messages_list(client: AsyncOpenAI, fake: FakeProvider) -> None:
    path = f"/v1/chat/completions/{CHAT_COMPLETION['id']}/messages"
    message = {"id": f"{CHAT_COMPLETION['id']}-0", "role": "user", "content": "Capital of France?"}
    answer(fake, "GET", path, page([message], first_id=message["id"], last_id=message["id"]))
    listed = await client.chat.completions.messages.list(CHAT_COMPLETION["id"], limit=5, order="desc")
    assert_reached(fake, "GET", path, {"limit": ["5"], "order": ["desc"]})
    assert [item.to_dict() for item in listed.data] == [message]


TEXT_COMPLETION: dict[str, Any] = {
    "id": "cmpl-9Xo4ZJ0mQ1",
    "object": "text_completion",
    "created": 1718000000,
    "model": "gpt-3.5-turbo-instruct",
    "system_fingerprint": None,
    "choices": [{"text": " world", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


async def test_legacy_completion_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "POST", "/v1/completions", TEXT_COMPLETION)
    completion = await client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt=["hello", "bonjour"], max_tokens=1, logit_bias={"50256": -100}
    )
    assert assert_reached(fake, "POST", "/v1/completions").json() == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": ["hello", "bonjour"],
        "max_tokens": 1,
        "logit_bias": {"50256": -100},
    }
    assert completion.to_dict() == TEXT_COMPLETION


async def test_streamed_legacy_completion_yields_every_chunk(client: AsyncOpenAI, fake: FakeProvider) -> None:
    chunks = [
        {
            **TEXT_COMPLETION,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}],
        }
        for text, reason in ((" wor", None), ("ld", "length"))
    ]
    for chunk in chunks:
        del chunk["usage"]
    answer_events(fake, "POST", "/v1/completions", data_events(chunks))
    stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hello", stream=True)
    assert [chunk.to_dict() async for chunk in stream] == chunks
    assert assert_reached(fake, "POST", "/v1/completions").json()["stream"] is True


async def test_embeddings_as_floats_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [-0.014907048, 0.0013432145, 0.5]},
            {"object": "embedding", "index": 1, "embedding": [0.25, -1.0, 0.0]},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    answer(fake, "POST", "/v1/embeddings", body)
    result = await client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float", dimensions=3
    )
    assert assert_reached(fake, "POST", "/v1/embeddings").json() == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 3,
    }
    assert result.to_dict() == body


async def test_embeddings_in_the_sdks_default_base64_are_decoded_by_the_client(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    vector = [0.5, -0.25, 0.125, 1.0]
    encoded = base64.b64encode(array.array("f", vector).tobytes()).decode()
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": encoded}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    answer(fake, "POST", "/v1/embeddings", body)
    result = await client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3]])
    # The SDK asks for base64 itself; the gateway must pass the field (and the answer) untouched.
    assert assert_reached(fake, "POST", "/v1/embeddings").json() == {
        "model": "text-embedding-3-small",
        "input": [[1, 2, 3]],
        "encoding_format": "base64",
    }
    assert [float(x) for x in result.data[0].embedding] == vector


MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


async def test_moderation_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {
        "id": "modr-970d409ef3bef3b70c73d8232df86e7d",
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": True,
                "categories": {name: name == "violence" for name in MODERATION_CATEGORIES},
                "category_scores": {
                    name: 0.9 if name == "violence" else 0.001 for name in MODERATION_CATEGORIES
                },
                "category_applied_input_types": {
                    name: ["text"] if name == "violence" else [] for name in MODERATION_CATEGORIES
                },
            }
        ],
    }
    answer(fake, "POST", "/v1/moderations", body)
    result = await client.moderations.create(
        model="omni-moderation-latest",
        input=[{"type": "text", "text": "I will hurt you"}],
    )
    assert assert_reached(fake, "POST", "/v1/moderations").json() == {
        "model": "omni-moderation-latest",
        "input": [{"type": "text", "text": "I will hurt you"}],
    }
    assert result.to_dict() == body
