"""Malformed-but-parseable bodies get a 4xx OpenAI-shaped error from every translated provider, never a 500.

The translation fails before any connection: the custom host is a fake that counts what reaches it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fake_provider import FakeProvider

MSG = [{"role": "user", "content": "hi"}]
DEEP: Any = "x"
for _ in range(300):
    DEEP = {"a": DEEP}

#: Translated providers reachable without a token exchange, and the extra headers each needs.
PROVIDERS: dict[str, dict[str, str]] = {
    "anthropic": {},
    "google": {},
    "cohere": {},
    "bedrock": {
        "x-portkey-aws-access-key-id": "AKIDEXAMPLE",
        "x-portkey-aws-secret-access-key": "secret",
        "x-portkey-aws-region": "us-east-1",
    },
}

BODIES: list[tuple[str, dict[str, Any]]] = [
    ("reasoning-effort-list", {"reasoning_effort": ["high"]}),
    ("reasoning-effort-object", {"reasoning_effort": {"level": "high"}}),
    ("tool-calls-int", {"messages": [*MSG, {"role": "assistant", "tool_calls": 5}]}),
    ("tool-calls-list-of-int", {"messages": [*MSG, {"role": "assistant", "tool_calls": [5]}]}),
    ("messages-object", {"messages": {"role": "user"}}),
    ("messages-of-strings", {"messages": ["hi"]}),
    ("content-int", {"messages": [{"role": "user", "content": 5}]}),
    ("content-part-string", {"messages": [{"role": "user", "content": ["hi"]}]}),
    ("content-part-no-type", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
    (
        "content-part-image-int",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}]},
    ),
    ("tools-object", {"tools": {"type": "function"}}),
    ("tools-of-int", {"tools": [5]}),
    ("tool-parameters-list", {"tools": [{"type": "function", "function": {"name": "f", "parameters": [1]}}]}),
    ("tool-choice-int", {"tool_choice": 5}),
    ("stop-int", {"stop": 5}),
    ("stop-list-of-int", {"stop": [5]}),
    ("max-tokens-string", {"max_tokens": "10"}),
    ("temperature-string", {"temperature": "hot"}),
    ("top-p-list", {"top_p": [1]}),
    ("n-string", {"n": "2"}),
    ("response-format-string", {"response_format": "json"}),
    ("stream-options-list", {"stream": True, "stream_options": [1]}),
    ("model-int", {"model": 5}),
    ("role-int", {"messages": [{"role": 5, "content": "hi"}]}),
    ("system-content-list-of-int", {"messages": [{"role": "system", "content": [5]}, *MSG]}),
    ("tool-message-no-id", {"messages": [*MSG, {"role": "tool", "content": "x", "tool_call_id": 5}]}),
    (
        "arguments-int",
        {
            "messages": [
                *MSG,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": 5}}
                    ],
                },
            ]
        },
    ),
    ("user-nested-too-deep", {"user": DEEP}),
    ("metadata-nested-too-deep", {"metadata": DEEP}),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("name", "fields"), BODIES, ids=[name for name, _ in BODIES])
async def test_a_malformed_body_is_never_a_500_and_a_refusal_is_an_openai_shaped_4xx(
    provider: str, name: str, fields: dict[str, Any], gateway_url: str, fake: FakeProvider
) -> None:
    body = {"model": "some-model", "messages": MSG, **fields}
    headers = {
        "x-portkey-provider": provider,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}",
        "Authorization": "Bearer sk-test",
        **PROVIDERS[provider],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{gateway_url}/v1/chat/completions",
            data=json.dumps(body),
            headers={**headers, "Content-Type": "application/json"},
        ) as response,
    ):
        status, answer = response.status, await response.json()
    assert status != 500, answer
    if fake.received:
        return  # a value of the right kind for the translation: passed on for the provider to judge
    assert 400 <= status < 500, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["type"] == "invalid_request_error"


async def test_a_body_nested_too_deep_to_re_encode_is_a_400_when_a_config_overrides_a_field(
    gateway_url: str, fake: FakeProvider
) -> None:
    config = {"provider": "openai", "custom_host": fake.base_url, "override_params": {"temperature": 0}}
    body = {"model": "m", "messages": MSG, "metadata": DEEP}
    headers = {"x-portkey-config": json.dumps(config), "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway_url}/v1/chat/completions", data=json.dumps(body), headers=headers) as response,
    ):
        status, answer = response.status, await response.json()
    assert status == 400
    assert answer["error"]["code"] == "invalid_json"
    assert "nested too deeply" in answer["error"]["message"]
    assert fake.received == []
