"""Reka and Bytez: both document an OpenAI-compatible API, so each is a catalog row (not Portkey's
translation of their older native APIs). Driven through the gateway to a fake at the row's own path:
Bearer key, the body as sent (Bytez's ``org/model`` ids stay in the body, never in the path),
streams relayed, upstream errors kept, and families the provider lacks refused before any call.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI, AuthenticationError, BadRequestError
from yarl import URL

from gateway.providers.catalog import PROVIDERS
from tests.fake_provider import FakeProvider, Received, sse

KEY = "sk-chat-rows-key"
USER = [{"role": "user", "content": "hi"}]


def _base(slug: str) -> str:
    return URL(next(spec for spec in PROVIDERS if spec.slug == slug).base_url).path


def _sdk(gateway_url: str, fake: FakeProvider, slug: str) -> AsyncOpenAI:
    headers = {
        "x-portkey-provider": slug,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}{_base(slug)}",
    }
    return AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0)


def _chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "reka-flash-3",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def test_reka_stream_reaches_v1_chat_completions_with_a_bearer_key_and_is_relayed(
    fake: FakeProvider, gateway_url: str
) -> None:
    events = [orjson.dumps(_chunk(text)) for text in ("Hel", "lo")] + [orjson.dumps(_chunk("", "stop"))]

    async def stream(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(body=sse(*events), content_type="text/event-stream")

    fake.on("POST", "/v1/chat/completions", stream)
    async with _sdk(gateway_url, fake, "reka-ai") as sdk:
        stream = await sdk.chat.completions.create(model="reka-flash-3", messages=USER, stream=True)
        chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    assert fake.last.json() == {"model": "reka-flash-3", "messages": USER, "stream": True}


async def test_reka_upstream_auth_error_keeps_its_status(fake: FakeProvider, gateway_url: str) -> None:
    async def refuse(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"detail": "Invalid API key"}, status=401)

    fake.on("POST", "/v1/chat/completions", refuse)
    async with _sdk(gateway_url, fake, "reka-ai") as sdk:
        with pytest.raises(AuthenticationError):
            await sdk.chat.completions.create(model="reka-flash-3", messages=USER)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("chat/completions", {"model": "Qwen/Qwen3-4B", "messages": USER, "max_tokens": 8}),
        ("completions", {"model": "openai-community/gpt2", "prompt": "Once", "max_tokens": 8}),
        ("responses", {"model": "openai/gpt-4o-mini", "input": "hi"}),
    ],
)
async def test_bytez_org_model_ids_stay_in_the_body_and_provider_key_is_forwarded(
    endpoint: str, body: dict[str, Any], fake: FakeProvider, gateway_url: str
) -> None:
    answer = {"id": "x", "object": "test", "echo": endpoint}

    async def reply(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(answer)

    path = f"/models/v2/openai/v1/{endpoint}"
    fake.on("POST", path, reply)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/{endpoint}",
            json=body,
            headers={
                "Authorization": f"Bearer {KEY}",
                "x-portkey-provider": "bytez",
                "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}/models/v2/openai/v1",
                # Bytez's own header for a closed-source provider's key, forwarded when asked.
                "provider-key": "pk-closed-model-key",
                "x-portkey-forward-headers": "provider-key",
            },
        ) as response,
    ):
        relayed = await response.json()

    assert response.status == 200
    assert relayed == answer
    assert fake.last.path == path
    assert fake.last.json() == body
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    assert fake.last.headers["provider-key"] == "pk-closed-model-key"


async def test_a_family_the_provider_lacks_is_a_400_before_any_call(
    fake: FakeProvider, gateway_url: str
) -> None:
    async with _sdk(gateway_url, fake, "bytez") as sdk:
        with pytest.raises(BadRequestError):
            await sdk.embeddings.create(model="m", input="hi")
    async with _sdk(gateway_url, fake, "reka-ai") as sdk:
        with pytest.raises(BadRequestError):
            await sdk.completions.create(model="m", prompt="hi")
    assert fake.received == []
