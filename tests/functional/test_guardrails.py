"""Guardrail hooks through the wire: 446 / 246 / 200, both config forms and the headers, transforms
seen at the provider, output checks on whole answers and on streams in both modes, the webhook check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import settings_with
from tests.fake_provider import FakeProvider, Received, sse

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "fine words"}, "finish_reason": "stop"}
    ],
}


class Webhook:
    """A local guardrail webhook: fails text holding BAD, rewrites REDACT, sleeps on SLOW."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[Any] = []
        self.port = 0

    def url(self, path: str = "/check") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def check(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(request.headers)
        side = "request" if body["eventType"] == "beforeRequestHook" else "response"
        text = body[side]["text"]
        if "SLOW" in text:
            await asyncio.sleep(2)
        answer: dict[str, Any] = {"verdict": "BAD" not in text, "data": {"seen": len(text)}}
        if "REDACT" in text and side == "request":
            json = body["request"]["json"]
            json["messages"][-1]["content"] = text.replace("REDACT", "[removed]")
            answer["transformedData"] = {"request": {"json": json}}
        return web.json_response(answer)

    async def not_json(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>nope</html>")


@pytest.fixture
async def webhook(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Webhook:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/check", hook.check)
    app.router.add_post("/html", hook.not_json)
    server = await aiohttp_server(app)
    hook.port = server.port or 0
    return hook


def check(url: str, **extra: Any) -> dict[str, Any]:
    return {"id": "default.webhook", "parameters": {"webhookURL": url, "timeout": 500, **extra}}


async def post(
    url: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any] | bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/chat/completions", json=body or CHAT, headers=headers) as response,
    ):
        raw = await response.read()
        if response.content_type == "application/json":
            return response.status, orjson.loads(raw)
        return response.status, raw


def answering(body: dict[str, Any]) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(body)

    return respond


def streaming(*texts: str) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    chunks = [
        orjson.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
        )
        for text in texts
    ] + [
        orjson.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
    ]

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(*chunks))
        await response.write_eof()
        return response

    return respond


def config(fake: FakeProvider, **hooks: Any) -> dict[str, str]:
    body = {"provider": "openai", "custom_host": fake.base_url, "api_key": "sk-fake", **hooks}
    return {"x-portkey-config": orjson.dumps(body).decode()}


@pytest.fixture
async def url(make_gateway: Any) -> str:
    server = await make_gateway()
    return f"http://127.0.0.1:{server.port}"


async def test_denying_input_hook_answers_446_without_calling_the_provider(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    hooks = [{"id": "in", "deny": True, "checks": [check(webhook.url())]}]
    status, body = await post(
        url,
        config(fake, before_request_hooks=hooks),
        {**CHAT, "messages": [{"role": "user", "content": "BAD idea"}]},
    )
    assert status == 446
    assert isinstance(body, dict)
    assert body["error"]["type"] == "hooks_failed"
    [result] = body["hook_results"]["before_request_hooks"]
    assert (result["id"], result["verdict"], result["deny"]) == ("in", False, True)
    assert result["checks"][0]["id"] == "default.webhook"
    assert result["checks"][0]["execution_time"] >= 0
    assert fake.received == []


async def test_failing_shorthand_input_check_that_does_not_deny_answers_246_with_the_model_answer(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    shorthand = [{"webhook": {"webhookURL": webhook.url()}}]
    status, body = await post(
        url,
        config(fake, input_guardrails=shorthand),
        {**CHAT, "messages": [{"role": "user", "content": "BAD"}]},
    )
    assert status == 246
    assert isinstance(body, dict)
    assert body["choices"][0]["message"]["content"] == "fine words"
    assert body["hook_results"]["before_request_hooks"][0]["verdict"] is False
    assert len(fake.received) == 1


async def test_passing_hooks_answer_200_with_hook_results(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    hooks = {
        "input_guardrails": [{"webhook": {"webhookURL": webhook.url()}, "deny": True}],
        "output_guardrails": [{"webhook": {"webhookURL": webhook.url()}, "deny": True}],
    }
    status, body = await post(url, config(fake, **hooks))
    assert status == 200
    assert isinstance(body, dict)
    assert body["hook_results"]["after_request_hooks"][0]["verdict"] is True
    assert [b["eventType"] for b in webhook.bodies] == ["beforeRequestHook", "afterRequestHook"]
    assert webhook.bodies[1]["response"]["text"] == "fine words"


async def test_denying_output_hook_withholds_the_answer(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    bad = {
        **ANSWER,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "BAD secret"}, "finish_reason": "stop"}
        ],
    }
    fake.on("POST", "/v1/chat/completions", answering(bad))
    hooks = [{"id": "out", "deny": True, "checks": [check(webhook.url())]}]
    status, body = await post(url, config(fake, after_request_hooks=hooks))
    assert status == 446
    assert b"BAD secret" not in orjson.dumps(body)


async def test_default_guardrail_headers_apply_without_a_config(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-x",
        "x-portkey-default-input-guardrails": orjson.dumps(
            [{"webhook": {"webhookURL": webhook.url()}, "deny": True}]
        ).decode(),
    }
    status, _ = await post(url, headers, {**CHAT, "messages": [{"role": "user", "content": "BAD"}]})
    assert status == 446
    assert fake.received == []
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    headers["x-portkey-default-output-guardrails"] = orjson.dumps(
        [{"webhook": {"webhookURL": webhook.url()}}]
    ).decode()
    status, body = await post(url, headers)
    assert status == 200
    assert isinstance(body, dict)
    assert body["hook_results"]["after_request_hooks"][0]["verdict"] is True


async def test_config_hooks_run_before_the_default_guardrail_headers_as_in_portkey(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    both = [{"id": "from-config", "checks": [check(webhook.url())]}]
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-x",
        "x-portkey-config": orjson.dumps(
            {"before_request_hooks": both, "after_request_hooks": both}
        ).decode(),
        "x-portkey-default-input-guardrails": orjson.dumps(
            [{"id": "from-header", "webhook": {"webhookURL": webhook.url()}}]
        ).decode(),
        "x-portkey-default-output-guardrails": orjson.dumps(
            [{"id": "from-header", "webhook": {"webhookURL": webhook.url()}}]
        ).decode(),
    }
    status, body = await post(url, headers)
    assert status == 200
    assert isinstance(body, dict)
    for event in ("before_request_hooks", "after_request_hooks"):
        assert [hook["id"] for hook in body["hook_results"][event]] == ["from-config", "from-header"]


async def test_transform_by_an_input_hook_is_what_the_provider_gets(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    hooks = [{"id": "redact", "checks": [check(webhook.url())]}]
    status, body = await post(
        url,
        config(fake, before_request_hooks=hooks),
        {**CHAT, "messages": [{"role": "user", "content": "my REDACT data"}]},
    )
    assert status == 200
    sent = fake.last.json()
    assert isinstance(sent, dict)
    assert sent["messages"][-1]["content"] == "my [removed] data"
    assert isinstance(body, dict)
    assert body["hook_results"]["before_request_hooks"][0]["transformed"] is True


async def test_per_target_hooks_run_for_their_target_only(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    hooked = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "api_key": "sk-a",
        "input_guardrails": [{"webhook": {"webhookURL": webhook.url()}, "deny": True}],
    }
    plain = {"provider": "openai", "custom_host": fake.base_url, "api_key": "sk-b"}
    bad = {**CHAT, "messages": [{"role": "user", "content": "BAD"}]}
    for targets, expected in (([plain], 200), ([hooked], 446)):
        cfg = {"strategy": {"mode": "fallback"}, "targets": targets}
        status, _ = await post(url, {"x-portkey-config": orjson.dumps(cfg).decode()}, bad)
        assert status == expected


@pytest.mark.parametrize("mode", ["hold", "report"])
async def test_streamed_answer_carries_hook_results_before_done(
    url: str, fake: FakeProvider, webhook: Webhook, mode: str
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming("fine ", "BAD words"))
    hooks = [{"id": "out", "stream_mode": mode, "checks": [check(webhook.url())]}]
    status, raw = await post(url, config(fake, after_request_hooks=hooks), {**CHAT, "stream": True})
    assert isinstance(raw, bytes)
    events = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    results = orjson.loads(events[-2])["hook_results"]["after_request_hooks"]
    assert results[0]["verdict"] is False
    assert status == (246 if mode == "hold" else 200)
    assert webhook.bodies[-1]["response"]["text"] == "fine BAD words"


async def test_denied_held_stream_never_delivers_the_text(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", streaming("BAD ", "text"))
    hooks = [{"id": "out", "deny": True, "checks": [check(webhook.url())]}]
    status, body = await post(url, config(fake, after_request_hooks=hooks), {**CHAT, "stream": True})
    assert status == 446
    assert b"BAD" not in orjson.dumps(body)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"webhookURL": "html"}, "not a JSON object"),
        ({"webhookURL": "slow"}, "in time"),
        ({"webhookURL": "http://169.254.169.254/latest"}, "refused"),
    ],
)
async def test_webhook_that_cannot_decide_fails_closed(
    url: str, fake: FakeProvider, webhook: Webhook, params: dict[str, str], error: str
) -> None:
    target = {"html": webhook.url("/html"), "slow": webhook.url()}.get(
        params["webhookURL"], params["webhookURL"]
    )
    hooks = [{"id": "in", "deny": True, "checks": [check(target)]}]
    status, body = await post(
        url,
        config(fake, before_request_hooks=hooks),
        {**CHAT, "messages": [{"role": "user", "content": "SLOW"}]},
    )
    assert status == 446
    assert isinstance(body, dict)
    assert error in body["hook_results"]["before_request_hooks"][0]["checks"][0]["error"]["message"]
    assert fake.received == []


async def test_webhook_fail_open_lets_the_request_through(
    url: str, fake: FakeProvider, webhook: Webhook
) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    hooks = [{"id": "in", "deny": True, "checks": [check(webhook.url("/html"), fail_open=True)]}]
    status, _ = await post(url, config(fake, before_request_hooks=hooks))
    assert status == 200


async def test_webhook_never_gets_the_callers_headers(url: str, fake: FakeProvider, webhook: Webhook) -> None:
    fake.on("POST", "/v1/chat/completions", answering(ANSWER))
    hooks = [{"id": "in", "checks": [check(webhook.url())]}]
    headers = {**config(fake, before_request_hooks=hooks), "Authorization": "Bearer sk-marker-secret"}
    await post(url, headers)
    assert b"sk-marker-secret" not in orjson.dumps(webhook.bodies)
    assert "sk-marker-secret" not in str(dict(webhook.headers[0]))


@pytest.mark.parametrize(
    ("hooks", "where"),
    [
        (
            {"before_request_hooks": [{"checks": [{"id": "default.nosuch"}]}]},
            "config.before_request_hooks[0].checks[0].id",
        ),
        (
            {"input_guardrails": [{"webhook": {"webhookURL": "ftp://x"}}]},
            "config.input_guardrails[0].webhook.parameters.webhookURL",
        ),
        (
            {
                "output_guardrails": [
                    {"webhook": {"webhookURL": "http://x"}, "deny": True, "stream_mode": "report"}
                ]
            },
            "stream_mode",
        ),
        ({"input_guardrails": ["pg-saved-1"]}, "config.input_guardrails[0]"),
    ],
)
async def test_bad_hooks_are_a_400_naming_the_path(
    url: str, fake: FakeProvider, hooks: dict[str, Any], where: str
) -> None:
    status, body = await post(url, config(fake, **hooks))
    assert status == 400
    assert isinstance(body, dict)
    assert where in body["error"]["message"]
    assert fake.received == []


async def test_settings_webhook_timeout_bounds_the_check(
    make_gateway: Any, fake: FakeProvider, webhook: Webhook
) -> None:
    server = await make_gateway(settings_with(guardrails={"webhook_timeout": 0.1}))
    hooks = [{"id": "in", "deny": True, "checks": [check(webhook.url(), timeout=5000)]}]
    status, _ = await post(
        f"http://127.0.0.1:{server.port}",
        config(fake, before_request_hooks=hooks),
        {**CHAT, "messages": [{"role": "user", "content": "SLOW"}]},
    )
    assert status == 446
