"""The pipeline's plug points (``api/stages.py``), through the real wire.

A before stage sees the planned request and may answer or refuse it before any byte goes upstream;
after stages see every attempt as it ends. The stages here are a test's own plug-ins, put on the
app where ``create_app`` puts the real ones, as the coming cache, guardrail and limit stages will be.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.api.stages import AfterStage, BeforeStage, Stages
from gateway.app import create_app
from gateway.appkeys import RECORDER, STAGES
from gateway.errors import GatewayError
from gateway.observability.record import RequestRecord
from gateway.observability.usage import usage_from_tail
from gateway.routing.attempts import RequestContext
from tests.conftest import settings_with
from tests.fake_provider import FakeProvider, Received, sse

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
CACHED = {
    "id": "chatcmpl-cached",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "from the stage"}, "finish_reason": "stop"}
    ],
}
Start = Callable[..., Awaitable[AsyncOpenAI]]


@pytest.fixture
async def start(
    aiohttp_server: Callable[..., Awaitable[TestServer]], fake: FakeProvider
) -> AsyncIterator[Start]:
    """A gateway whose pipeline has the given stages, and the OpenAI SDK pointed at it."""
    clients: list[AsyncOpenAI] = []

    async def started(
        before: tuple[BeforeStage, ...] = (),
        after: tuple[AfterStage, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> AsyncOpenAI:
        """``headers``: the client's (default: the ``fake`` as the ``openai`` provider)."""
        app = create_app(settings_with(limits={"max_loop_lag": 0.0}))
        app[STAGES] = Stages(before, after)
        server = await aiohttp_server(app, host="127.0.0.1")
        client = AsyncOpenAI(
            base_url=f"http://127.0.0.1:{server.port}/v1",
            api_key="sk-test-key",
            default_headers=headers
            or {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
            max_retries=0,
        )
        clients.append(client)
        return client

    yield started
    for client in clients:
        await client.close()


class Answers:
    """Answers every request itself, as a cache HIT will."""

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        return web.json_response(CACHED, headers={"x-portkey-cache-status": "HIT"})


class Refuses:
    """Refuses every request, as a limit past its budget will."""

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        raise GatewayError("Over this key's budget.", status=429, code="budget_exceeded")


@dataclass
class Watches:
    """Lets every request go on, keeping what it was shown."""

    seen: list[tuple[list[str | None], dict[str, str], Any]] = field(default_factory=list)

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        paths = [target.config_path for target in context.targets]
        self.seen.append((paths, context.metadata, context.body.parsed))
        return None


@dataclass
class Records:
    """Keeps every finished exchange it is shown, as accounting will."""

    exchanges: list[tuple[RequestContext, RequestRecord]] = field(default_factory=list)

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        self.exchanges.append((context, record))


async def test_a_before_stage_answers_the_request_and_nothing_reaches_the_provider(
    start: Start, fake: FakeProvider
) -> None:
    client = await start(before=(Answers(),))
    raw = await client.chat.completions.with_raw_response.create(**CHAT)
    assert raw.parse().choices[0].message.content == "from the stage"
    assert raw.headers["x-portkey-cache-status"] == "HIT"
    assert fake.received == []


async def test_a_before_stage_refusal_is_an_openai_error_and_nothing_reaches_the_provider(
    start: Start, fake: FakeProvider
) -> None:
    watched = Watches()
    client = await start(before=(Refuses(), watched))
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(**CHAT)
    assert refused.value.body == {
        "message": "Over this key's budget.",
        "type": "api_error",
        "param": None,
        "code": "budget_exceeded",
    }
    assert fake.received == []
    assert watched.seen == []  # the stages after the one that refused never ran


async def test_a_before_stage_sees_the_planned_request_and_lets_it_go_on(
    start: Start, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    watched = Watches()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "custom_host": fake.base_url},
            {"provider": "openai", "custom_host": fake_b.base_url},
        ],
    }
    client = await start(
        before=(watched,),
        headers={"x-portkey-config": json.dumps(config), "x-portkey-metadata": '{"team": "a"}'},
    )
    answer = await client.chat.completions.create(**CHAT)
    assert answer.to_dict() == {"object": "fake", "method": "POST", "path": "/v1/chat/completions"}
    assert watched.seen == [(["config.targets[0]", "config.targets[1]"], {"team": "a"}, CHAT)]
    assert len(fake.received) == 1
    assert fake_b.received == []


async def test_after_stages_see_every_attempt_of_a_fallback_as_it_ends(
    start: Start, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    async def unavailable(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response({"error": {"message": "down"}}, status=503)

    fake.on("POST", "/v1/chat/completions", unavailable)
    first, second = Records(), Records()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "custom_host": fake.base_url},
            {"provider": "openai", "custom_host": fake_b.base_url},
        ],
    }
    client = await start(after=(first, second), headers={"x-portkey-config": json.dumps(config)})
    await client.chat.completions.create(**CHAT)
    ended = [(record.status, record.outcome) for _, record in first.exchanges]
    assert ended == [(503, "fell_back"), (200, "ok")]
    assert [record for _, record in second.exchanges] == [record for _, record in first.exchanges]
    contexts = {id(context) for context, _ in first.exchanges}
    assert len(contexts) == 1  # both attempts of one request


async def test_an_after_stage_sees_a_finished_stream_with_its_usage(start: Start, fake: FakeProvider) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body = sse(
        orjson.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        orjson.dumps({**chunk, "choices": [], "usage": usage}),
    )

    async def streams(request: web.Request, received: Received) -> web.StreamResponse:
        return web.Response(body=body, content_type="text/event-stream")

    fake.on("POST", "/v1/chat/completions", streams)
    records = Records()
    client = await start(after=(records,))
    stream = await client.chat.completions.create(**CHAT, stream=True)
    chunks = [event async for event in stream]
    assert chunks[-1].usage is not None
    [(_, record)] = records.exchanges
    assert (record.status, record.outcome) == (200, "ok")
    assert usage_from_tail(record.tail) == usage


async def test_with_the_access_log_off_no_attempt_is_logged(
    make_gateway: Callable[..., Awaitable[TestServer]], fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_gateway()  # access_log is off by default
    caplog.set_level(logging.INFO, logger="gateway.access")
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key="sk-test-key", default_headers=headers
    ) as client:
        await client.chat.completions.create(**CHAT)
    await server.app[RECORDER].flush()
    assert len(fake.received) == 1
    assert [r for r in caplog.records if r.name == "gateway.access"] == []
