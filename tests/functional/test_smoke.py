from __future__ import annotations

from openai import AsyncOpenAI

from tests.fake_provider import FakeProvider


async def test_chat_completion_reaches_the_provider_with_the_callers_key(client: AsyncOpenAI, fake: FakeProvider) -> None:
    from aiohttp import web

    async def answer(request, received):  # type: ignore[no-untyped-def]
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )

    fake.on("POST", "/v1/chat/completions", answer)
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "hello"
    assert fake.last.headers["Authorization"] == "Bearer sk-test-key"
    assert fake.last.json()["messages"] == [{"role": "user", "content": "hi"}]
