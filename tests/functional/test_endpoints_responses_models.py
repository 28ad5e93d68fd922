"""The Responses API and the models endpoints through the real wire (SDK → gateway → fake provider)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI, OpenAI

from tests.fake_provider import FakeProvider, Received
from tests.functional.endpoint_support import KEY, answer, answer_events, assert_reached, page

RESPONSE_ID = "resp_08ddf351751647d60169fab1b8a7ac81a081b9e2400e87fb63"
MESSAGE_ID = "msg_08ddf351751647d60169fab1b9828c81a0bef694acd7d53106"
USAGE = {
    "input_tokens": 11,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 16,
}
OUTPUT_MESSAGE = {
    "id": MESSAGE_ID,
    "type": "message",
    "status": "completed",
    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "pong"}],
    "role": "assistant",
}


def response(
    status: str = "completed", output: list[Any] | None = None, usage: Any = USAGE
) -> dict[str, Any]:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1778037176,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-5.5-2026-04-23",
        "output": [OUTPUT_MESSAGE] if output is None else output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "low", "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 0.98,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


@pytest.fixture
def sync_client(gateway_url: str, provider_headers: dict[str, str]) -> Iterator[OpenAI]:
    """The sync SDK; call it through ``asyncio.to_thread`` (the gateway runs in the test's loop)."""
    sdk = OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=provider_headers, max_retries=0)
    yield sdk
    sdk.close()


async def test_response_create_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "POST", "/v1/responses", response())
    result = await client.responses.create(
        model="gpt-5.5",
        input=[{"role": "user", "content": "ping"}],
        reasoning={"effort": "low"},
        metadata={"run": "7"},
        extra_body={"unknown_future_field": True},
    )
    assert assert_reached(fake, "POST", "/v1/responses").json() == {
        "model": "gpt-5.5",
        "input": [{"role": "user", "content": "ping"}],
        "reasoning": {"effort": "low"},
        "metadata": {"run": "7"},
        "unknown_future_field": True,
    }
    assert result.to_dict() == response()
    assert result.output_text == "pong"


def response_events() -> list[dict[str, Any]]:
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    common = {"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "response": response("in_progress", [], None), "sequence_number": 0},
        {"type": "response.in_progress", "response": response("in_progress", [], None), "sequence_number": 1},
        {
            "type": "response.output_item.added",
            "item": {**OUTPUT_MESSAGE, "status": "in_progress", "content": []},
            "output_index": 0,
            "sequence_number": 2,
        },
        {"type": "response.content_part.added", **common, "part": part, "sequence_number": 3},
        {"type": "response.output_text.delta", **common, "delta": "po", "logprobs": [], "sequence_number": 4},
        {"type": "response.output_text.delta", **common, "delta": "ng", "logprobs": [], "sequence_number": 5},
        {"type": "response.output_text.done", **common, "text": "pong", "logprobs": [], "sequence_number": 6},
        {
            "type": "response.content_part.done",
            **common,
            "part": {**part, "text": "pong"},
            "sequence_number": 7,
        },
        {
            "type": "response.output_item.done",
            "item": OUTPUT_MESSAGE,
            "output_index": 0,
            "sequence_number": 8,
        },
        {"type": "response.completed", "response": response(), "sequence_number": 9},
    ]


def framed(events: list[dict[str, Any]]) -> list[bytes]:
    """Responses API framing: a named event per payload, and no [DONE]."""
    return [f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events]


async def test_streamed_response_yields_every_event_the_provider_sent(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer_events(fake, "POST", "/v1/responses", framed(response_events()))
    stream = await client.responses.create(model="gpt-5.5", input="ping", stream=True)
    events = [event.to_dict() async for event in stream]
    assert assert_reached(fake, "POST", "/v1/responses").json() == {
        "model": "gpt-5.5",
        "input": "ping",
        "stream": True,
    }
    assert events == response_events()


async def test_streamed_response_works_from_the_sync_sdk(sync_client: OpenAI, fake: FakeProvider) -> None:
    answer_events(fake, "POST", "/v1/responses", framed(response_events()))

    def consume() -> list[dict[str, Any]]:
        with sync_client.responses.stream(model="gpt-5.5", input="ping") as stream:
            deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
            return [{"deltas": deltas, "final": stream.get_final_response().output_text}]

    assert await asyncio.to_thread(consume) == [{"deltas": ["po", "ng"], "final": "pong"}]
    assert assert_reached(fake, "POST", "/v1/responses").json()["stream"] is True


async def test_response_retrieve_passes_include_query(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "GET", f"/v1/responses/{RESPONSE_ID}", response())
    result = await client.responses.retrieve(RESPONSE_ID, include=["message.output_text.logprobs"])
    assert_reached(
        fake, "GET", f"/v1/responses/{RESPONSE_ID}", {"include[]": ["message.output_text.logprobs"]}
    )
    assert result.to_dict() == response()


async def test_response_delete_reaches_the_provider(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(
        fake,
        "DELETE",
        f"/v1/responses/{RESPONSE_ID}",
        {"id": RESPONSE_ID, "object": "response", "deleted": True},
    )
    assert await client.responses.delete(RESPONSE_ID) is None
    assert assert_reached(fake, "DELETE", f"/v1/responses/{RESPONSE_ID}").body == b""


async def test_response_cancel_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    cancelled = response("cancelled", [], None)
    answer(fake, "POST", f"/v1/responses/{RESPONSE_ID}/cancel", cancelled)
    result = await client.responses.cancel(RESPONSE_ID)
    assert assert_reached(fake, "POST", f"/v1/responses/{RESPONSE_ID}/cancel").body == b""
    assert result.to_dict() == cancelled


async def test_response_input_items_list_passes_cursor_query(client: AsyncOpenAI, fake: FakeProvider) -> None:
    item = {
        "id": "msg_in_1",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "ping"}],
    }
    path = f"/v1/responses/{RESPONSE_ID}/input_items"
    answer(fake, "GET", path, page([item], first_id="msg_in_1", last_id="msg_in_1"))
    listed = await client.responses.input_items.list(RESPONSE_ID, after="msg_in_0", limit=10, order="asc")
    assert_reached(fake, "GET", path, {"after": ["msg_in_0"], "limit": ["10"], "order": ["asc"]})
    assert [entry.to_dict() for entry in listed.data] == [item]


async def test_response_compact_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {
        "id": "resp_compact_1",
        "object": "response.compaction",
        "created_at": 1778037200,
        "output": [{"id": "cmp_1", "type": "compaction", "encrypted_content": "gAAAABoQ2xvc2Vk"}],
        "usage": USAGE,
    }
    answer(fake, "POST", "/v1/responses/compact", body)
    result = await client.responses.compact(model="gpt-5.5", previous_response_id=RESPONSE_ID)
    assert assert_reached(fake, "POST", "/v1/responses/compact").json() == {
        "model": "gpt-5.5",
        "previous_response_id": RESPONSE_ID,
    }
    assert result.to_dict() == body


async def test_response_input_tokens_count_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {"object": "response.input_tokens", "input_tokens": 11}
    answer(fake, "POST", "/v1/responses/input_tokens", body)
    result = await client.responses.input_tokens.count(model="gpt-5.5", input="ping", instructions="be brief")
    assert assert_reached(fake, "POST", "/v1/responses/input_tokens").json() == {
        "model": "gpt-5.5",
        "input": "ping",
        "instructions": "be brief",
    }
    assert result.to_dict() == body


MODELS = [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "meta-llama/Llama-3.3-70B-Instruct", "object": "model", "created": 1733443200, "owned_by": "meta"},
]


async def test_models_list_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {"object": "list", "data": MODELS}
    answer(fake, "GET", "/v1/models", body)
    listed = await client.models.list()
    assert_reached(fake, "GET", "/v1/models")
    assert [model.to_dict() for model in listed.data] == MODELS


async def test_model_retrieve_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "GET", "/v1/models/gpt-4o-mini", MODELS[0])
    model = await client.models.retrieve("gpt-4o-mini")
    assert_reached(fake, "GET", "/v1/models/gpt-4o-mini")
    assert model.to_dict() == MODELS[0]


async def test_model_id_with_a_slash_reaches_the_provider_as_the_sdk_encoded_it(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    raw_paths: list[str] = []

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        raw_paths.append(request.raw_path)
        return web.json_response(MODELS[1])

    fake.on("GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct", respond)
    model = await client.models.retrieve("meta-llama/Llama-3.3-70B-Instruct")
    assert_reached(fake, "GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct")
    # The SDK sends the slash as %2F; a proxy must not turn it into a path separator.
    assert raw_paths == ["/v1/models/meta-llama%2FLlama-3.3-70B-Instruct"]
    assert model.to_dict() == MODELS[1]


async def test_model_retrieve_with_a_slash_works_from_the_sync_sdk(
    sync_client: OpenAI, fake: FakeProvider
) -> None:
    answer(fake, "GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct", MODELS[1])
    model = await asyncio.to_thread(sync_client.models.retrieve, "meta-llama/Llama-3.3-70B-Instruct")
    assert_reached(fake, "GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct")
    assert model.to_dict() == MODELS[1]


async def test_unencoded_slash_in_a_model_id_is_passed_through(
    gateway_url: str, provider_headers: dict[str, str], fake: FakeProvider
) -> None:
    answer(fake, "GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct", MODELS[1])
    headers = {**provider_headers, "Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gateway_url}/v1/models/meta-llama/Llama-3.3-70B-Instruct", headers=headers) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == MODELS[1]
    assert_reached(fake, "GET", "/v1/models/meta-llama/Llama-3.3-70B-Instruct")


async def test_fine_tuned_model_delete_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    model_id = "ft:gpt-4o-mini-2024-07-18:acme::9Xo4ZJ0m"
    body = {"id": model_id, "object": "model", "deleted": True}
    answer(fake, "DELETE", f"/v1/models/{model_id}", body)
    deleted = await client.models.delete(model_id)
    assert_reached(fake, "DELETE", f"/v1/models/{model_id}")
    assert deleted.to_dict() == body
