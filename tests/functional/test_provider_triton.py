"""Triton through the gateway: the OpenAI SDK's completions on one side, a fake Triton speaking the
generate extension on the other.

Each test checks both ends: what the SDK gets back (``text_completion`` answers and chunks) and what
Triton received (``/v2/models/{model}/generate`` or ``generate_stream``, the translated body, no key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import APIError, AsyncOpenAI, BadRequestError, InternalServerError, NotFoundError

from tests.functional.fake_triton import FakeTriton, event, piece

KEY = "sk-triton-caller-key"


@pytest.fixture
async def triton(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeTriton:
    fake = FakeTriton()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


def _sdk(gateway_url: str, host: str | None) -> AsyncOpenAI:
    headers = {"x-portkey-provider": "triton"}
    if host is not None:
        headers["x-portkey-custom-host"] = host
    return AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0)


@pytest.fixture
async def sdk(gateway_url: str, triton: FakeTriton) -> AsyncIterator[AsyncOpenAI]:
    client = _sdk(gateway_url, triton.host)
    yield client
    await client.close()


async def _drain(stream: Any, seen: list[Any]) -> None:
    async for chunk in stream:
        seen.append(chunk)


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].text for c in chunks if c.choices)


async def test_completion_reaches_generate_translated_and_its_answer_is_a_text_completion(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    answer = await sdk.completions.create(
        model="ensemble", prompt="Say hi", max_tokens=8, temperature=0.2, top_p=0.9, stop=["\n"]
    )

    assert answer.object == "text_completion"
    assert answer.id.startswith("cmpl-")
    assert answer.model == "ensemble"
    assert answer.choices[0].text == "Hello!"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is None  # Triton counts no tokens
    assert triton.last.path == "/v2/models/ensemble/generate"
    assert triton.last.body == {
        "text_input": "Say hi",
        "max_tokens": 8,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_words": ["\n"],
    }
    assert "Authorization" not in triton.last.headers
    assert KEY not in str(dict(triton.last.headers))


async def test_max_tokens_defaults_to_100_and_portkey_extras_pass(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    await sdk.completions.create(
        model="llama", prompt=["one prompt"], extra_body={"top_k": 40, "bad_words": ["darn"]}
    )
    assert triton.last.body == {
        "text_input": "one prompt",
        "max_tokens": 100,
        "top_k": 40,
        "bad_words": ["darn"],
    }


async def test_stream_reaches_generate_stream_and_comes_back_as_text_completion_chunks(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    stream = await sdk.completions.create(model="ensemble", prompt="Say hi", stream=True)
    chunks = [chunk async for chunk in stream]

    assert _text(chunks) == "Hello!"
    assert [c.choices[0].text for c in chunks] == ["Hel", "lo", "!", ""]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "text_completion" and c.model == "ensemble" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert triton.last.path == "/v2/models/ensemble/generate_stream"
    assert triton.last.body == {"text_input": "Say hi", "max_tokens": 100, "stream": True}


async def test_stream_ends_in_done_after_the_finish_chunk(gateway_url: str, triton: FakeTriton) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/completions",
            json={"model": "ensemble", "prompt": "Say hi", "stream": True},
            headers={"x-portkey-provider": "triton", "x-portkey-custom-host": triton.host},
        ) as response,
    ):
        body = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert body.endswith(b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


async def test_a_custom_host_naming_the_model_is_used_as_portkey_uses_it(
    gateway_url: str, triton: FakeTriton
) -> None:
    async with _sdk(gateway_url, f"{triton.host}/v2/models/ensemble/versions/2") as sdk:
        answer = await sdk.completions.create(model="my-llm", prompt="hi")
    assert answer.choices[0].text == "Hello!"
    assert answer.model == "my-llm"
    assert triton.last.path == "/v2/models/ensemble/versions/2/generate"


async def test_without_a_custom_host_it_is_a_400_naming_the_header(gateway_url: str) -> None:
    async with _sdk(gateway_url, None) as sdk:
        with pytest.raises(BadRequestError) as caught:
            await sdk.completions.create(model="ensemble", prompt="hi")
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "missing_custom_host"
    assert body["param"] == "x-portkey-custom-host"


@pytest.mark.parametrize(
    "model", ["../admin", "..", "org/model", "m?x=1", "m#f", "m%2e%2e", ".hidden", "a b"]
)
async def test_a_model_that_could_change_the_url_is_refused_before_any_call(
    sdk: AsyncOpenAI, triton: FakeTriton, model: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await sdk.completions.create(model=model, prompt="hi")
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "invalid_model"
    assert body["param"] == "model"
    assert model not in body["message"]  # a caller's value is never echoed
    assert triton.received == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"logprobs": 2}, "logprobs"),
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"n": 2}, "n"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
async def test_what_triton_cannot_do_is_a_400_before_any_call(
    sdk: AsyncOpenAI, triton: FakeTriton, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await sdk.completions.create(**{"model": "ensemble", "prompt": "hi", **params})
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["param"] == param
    assert triton.received == []


async def test_chat_completions_is_refused_as_a_family_triton_does_not_offer(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await sdk.chat.completions.create(model="ensemble", messages=[{"role": "user", "content": "hi"}])
    assert "does not offer /v1/chat" in caught.value.message
    assert triton.received == []


@pytest.mark.parametrize(("status", "exception"), [(400, BadRequestError), (404, NotFoundError)])
async def test_tritons_error_keeps_its_status_and_names_the_provider(
    sdk: AsyncOpenAI, triton: FakeTriton, status: int, exception: type[APIError]
) -> None:
    triton.fail(status, "Request for unknown model: 'ensemble' is not found")
    with pytest.raises(exception) as caught:
        await sdk.completions.create(model="ensemble", prompt="hi")
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"] == "triton: Request for unknown model: 'ensemble' is not found"
    with pytest.raises(exception):
        await sdk.completions.create(model="ensemble", prompt="hi", stream=True)


async def test_an_error_as_the_first_stream_event_is_an_http_500(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    triton.stream([event({"error": "inference failed: out of memory"})])
    with pytest.raises(InternalServerError) as caught:
        await sdk.completions.create(model="ensemble", prompt="hi", stream=True)
    assert "triton: inference failed: out of memory" in caught.value.message


async def test_an_error_mid_stream_reaches_the_sdk_after_the_text_before_it(
    sdk: AsyncOpenAI, triton: FakeTriton
) -> None:
    triton.stream([piece("ensemble", "Part"), piece("ensemble", "ial"), event({"error": "decoder crashed"})])
    seen: list[Any] = []
    with pytest.raises(APIError) as caught:
        await _drain(await sdk.completions.create(model="ensemble", prompt="hi", stream=True), seen)
    assert _text(seen) == "Partial"
    assert "decoder crashed" in caught.value.message
    assert all(c.choices[0].finish_reason is None for c in seen)


@pytest.mark.parametrize(
    ("tail", "cut"),
    [(b"", True), (b'data: {"text_output": "cut', True), (b'data: {"text_output": "half', False)],
    ids=["connection-cut", "cut-mid-event", "body-ends-mid-event"],
)
async def test_a_cut_stream_is_an_error_not_a_finished_answer(
    sdk: AsyncOpenAI, triton: FakeTriton, tail: bytes, cut: bool
) -> None:
    triton.stream([piece("ensemble", "Hel"), tail], cut=cut)
    seen: list[Any] = []
    with pytest.raises(APIError):
        await _drain(await sdk.completions.create(model="ensemble", prompt="hi", stream=True), seen)
    assert _text(seen) == "Hel"
    assert all(c.choices[0].finish_reason is None for c in seen)


async def test_a_config_target_names_triton_and_its_custom_host(gateway_url: str, triton: FakeTriton) -> None:
    config = orjson.dumps({"provider": "triton", "custom_host": f"{triton.host}/v2/models/ensemble"}).decode()
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers={"x-portkey-config": config}, max_retries=0
    ) as sdk:
        answer = await sdk.completions.create(model="ensemble", prompt="hi")
    assert answer.choices[0].text == "Hello!"
    assert triton.last.path == "/v2/models/ensemble/generate"
