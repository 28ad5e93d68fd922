"""What a migrating Portkey user runs, pointed at fakes: the gateway with ``openai``, ``anthropic``
and ``azure-openai`` sent to local fake providers through the settings' ``base_url`` (so Portkey's
config examples run verbatim, without a ``custom_host``), and the two clients Portkey documents:
its own SDK (``AsyncPortkey``) and the OpenAI SDK with ``createHeaders``.

Secret-looking values are obvious fakes. No request may leave 127.0.0.1: every provider an example
names is pointed at a fake here or by a custom host in the test.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from openai import AsyncOpenAI
from portkey_ai import AsyncPortkey, createHeaders

from tests.fake_provider import Received

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What's the weather like?"}],
}
COMPLETION = {"id": "chatcmpl-pk", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
#: Small backoff so retries stay fast; Retry-After values still come from the fakes.
FAST_RETRIES = {"base_delay": 0.01, "max_delay": 0.05}


class Clients:
    """The clients a test made, closed at its end (the ``sdks`` fixture)."""

    def __init__(self, gateway_url: str) -> None:
        self.gateway_url = gateway_url
        self._portkey: list[AsyncPortkey] = []
        self._openai: list[AsyncOpenAI] = []

    def portkey(self, **options: Any) -> AsyncPortkey:
        """Portkey's SDK as its README shows it (``Portkey(provider=..., Authorization=...)``),
        aimed at this gateway. It retries once on 408/429/5xx by itself: use it where the answer
        is a 200."""
        client = AsyncPortkey(base_url=f"{self.gateway_url}/v1", **options)
        self._portkey.append(client)
        return client

    def openai(self, api_key: str = "sk-fake-caller", **options: Any) -> AsyncOpenAI:
        """The OpenAI SDK with Portkey's ``createHeaders`` (Portkey's "OpenAI SDK" integration),
        no retries of its own, so a test sees every status and counts every attempt."""
        client = AsyncOpenAI(
            base_url=f"{self.gateway_url}/v1",
            api_key=api_key,
            default_headers=createHeaders(**options),
            max_retries=0,
        )
        self._openai.append(client)
        return client

    async def aclose(self) -> None:
        for portkey in self._portkey:
            await portkey.close()
            await portkey.openai_client.close()
        for openai in self._openai:
            await openai.close()


async def post(
    gateway_url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    path: str = "chat/completions",
) -> tuple[int, Any, dict[str, str]]:
    """A raw POST for what no SDK sends (Anthropic's ``x-api-key`` on a chat call, bad configs)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/{path}", json=body or CHAT, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None), dict(response.headers)


#: The provider keys the gateway keeps behind the examples' virtual keys.
VK_OPENAI_KEY = "sk-openai-kept-by-the-gateway"
VK_ANTHROPIC_KEY = "sk-ant-kept-by-the-gateway"


def answers(*statuses: int, headers: dict[str, str] | None = None) -> Any:
    """A responder answering the given statuses in turn (the last repeats): 200 is a completion."""
    sent: list[int] = []

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        status = statuses[min(len(sent), len(statuses) - 1)]
        sent.append(status)
        if status == 200:
            return web.json_response(COMPLETION)
        return web.json_response({"error": {"message": f"status {status}"}}, status=status, headers=headers)

    return respond


def assert_not_supported_yet(status: int, body: Any, key: str) -> None:
    """The issue's contract for keys of features still to come: a clear 400 naming the key."""
    assert status == 400, body
    error = body["error"]
    assert error["type"] == "invalid_request_error"
    assert key in error["message"]
    assert "not supported" in error["message"].lower()
