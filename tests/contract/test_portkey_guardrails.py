"""Portkey's SDK with a Portkey user's config holding ``output_guardrails``: a hook that fails
without denying gives a 246 the SDK returns as the answer (``hook_results`` readable on it), a
denying one a 446 the SDK raises with Portkey's status and body."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from portkey_ai._vendor.openai import APIStatusError

from tests.contract.portkey_world import CHAT, Clients
from tests.fake_provider import FakeProvider, Received

ANSWER = {
    "id": "chatcmpl-pk",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Try an Apple."}, "finish_reason": "stop"}
    ],
}
#: Portkey's 446 message (src/handlers/handlerUtils.ts).
DENIED = (
    "The guardrail checks defined in the config failed. You can find more information in the "
    "`hook_results` object."
)


async def apple(request: web.Request, received: Received) -> web.StreamResponse:
    return web.json_response(ANSWER)


def no_apple(deny: bool) -> dict[str, Any]:
    """A config as a Portkey user writes it: the provider, its key and the shorthand guardrail."""
    guardrail = {"default.contains": {"operator": "none", "words": ["Apple"]}, "deny": deny}
    return {"provider": "openai", "api_key": "sk-fake", "output_guardrails": [guardrail]}


async def test_portkey_sdk_returns_a_246_answer_with_its_hook_results(
    sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", apple)
    client = sdks.portkey(config=no_apple(deny=False))
    completion = await client.chat.completions.create(**CHAT)
    assert completion.choices[0].message.content == "Try an Apple."
    [hook] = completion.hook_results["after_request_hooks"]
    assert (hook["verdict"], hook["deny"]) == (False, False)
    [check] = hook["checks"]
    assert (check["id"], check["verdict"]) == ("default.contains", False)
    assert len(fake.received) == 1


async def test_portkey_sdk_raises_on_a_446_with_portkeys_status_and_body(
    sdks: Clients, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", apple)
    client = sdks.portkey(config=no_apple(deny=True))
    with pytest.raises(APIStatusError) as raised:
        await client.chat.completions.create(**CHAT)
    assert raised.value.status_code == 446
    body = raised.value.response.json()
    assert body["error"] == {"message": DENIED, "type": "hooks_failed", "param": None, "code": None}
    assert body["hook_results"]["before_request_hooks"] == []
    [hook] = body["hook_results"]["after_request_hooks"]
    assert (hook["verdict"], hook["deny"], hook["checks"][0]["id"]) == (False, True, "default.contains")
    assert "Apple" not in raised.value.response.text.replace('"Apple"', "")
    assert len(fake.received) == 1
