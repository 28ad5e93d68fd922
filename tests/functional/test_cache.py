"""The exact response cache through the wire: Portkey's contract (config ``cache``, namespace,
force refresh, ``x-portkey-cache-status``), streams replayed and assembled, tenants kept apart,
and the answers that are never stored."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from prometheus_client.parser import text_string_to_metric_families

from gateway.appkeys import CACHE, RECORDER
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.gateway_process import eventually, free_port, gateway_env, start_gateway

KEY_A = "sk-tenant-a"
KEY_B = "sk-tenant-b"
USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
CACHED = json.dumps({"cache": {"mode": "simple"}})


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": USAGE,
    }


def chunk(finish_reason: str | None = None, **delta: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [choice],
        }
    )


class Answers:
    """The fake's chat answers: numbered, so a test sees whether the provider was called again."""

    def __init__(self, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.calls = 0
        self.status = status
        self.headers = headers or {}
        self.cut = False

    async def __call__(self, request: web.Request, received: Received) -> web.StreamResponse:
        self.calls += 1
        text = f"answer {self.calls}"
        if received.json().get("stream"):  # type: ignore[union-attr]
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **self.headers})
            await response.prepare(request)
            await response.write(b"data: " + chunk(role="assistant", content="") + b"\n\n")
            await response.write(b"data: " + chunk(content=text) + b"\n\n")
            if self.cut:
                return response  # ends without a finish reason or [DONE]
            await response.write(sse(chunk("stop")))
            return response
        if self.status != 200:
            return web.json_response({"error": {"message": "no", "code": None}}, status=self.status)
        return web.json_response(completion(text), headers=self.headers)


@pytest.fixture
def answers(fake: FakeProvider) -> Answers:
    handler = Answers()
    fake.on("POST", "/v1/chat/completions", handler)
    return handler


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def headers(fake: FakeProvider, key: str = KEY_A, config: str = CACHED, **extra: str) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "x-portkey-config": config,
        "Authorization": f"Bearer {key}",
        **extra,
    }


async def ask(
    http: aiohttp.ClientSession, server: TestServer, sent: dict[str, str], **body: Any
) -> tuple[str, str, Any]:
    """(x-portkey-cache-status, the answer's text, the parsed JSON or the raw stream)."""
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    async with http.post(
        url, json={"model": "gpt-4o-mini", "messages": MESSAGES, **body}, headers=sent
    ) as response:
        assert response.status == 200, await response.text()
        status = response.headers.get("x-portkey-cache-status", "")
        raw = await response.read()
    await asyncio.sleep(0.01)  # stores run off the request path
    if body.get("stream"):
        return status, _streamed_text(raw), raw
    answer = orjson.loads(raw)
    return status, answer["choices"][0]["message"]["content"], answer


def _streamed_text(raw: bytes) -> str:
    text = ""
    for event in raw.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in orjson.loads(event[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


async def test_a_repeated_request_is_a_hit_and_the_provider_is_called_once(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    assert (await ask(http, server, headers(fake)))[:2] == ("MISS", "answer 1")
    status, text, answer = await ask(http, server, headers(fake))
    assert (status, text) == ("HIT", "answer 1")
    assert answer["usage"] == USAGE
    assert answers.calls == 1


async def test_a_stored_answer_replays_as_a_stream_the_sdk_reads(
    make_gateway: GatewayFactory, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    sdk = AsyncOpenAI(
        base_url=f"http://127.0.0.1:{server.port}/v1",
        api_key=KEY_A,
        default_headers=headers(fake),
        max_retries=0,
    )
    async with sdk:
        first = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [event async for event in stream]
    assert first.choices[0].message.content == "answer 1"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer 1"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 12
    assert answers.calls == 1


async def test_a_stream_is_stored_and_answers_a_json_request(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    status, text, raw = await ask(http, server, headers(fake), stream=True)
    assert (status, text) == ("MISS", "answer 1")
    assert raw.endswith(b"data: [DONE]\n\n")  # the MISS stream went out as the provider sent it
    status, text, answer = await ask(http, server, headers(fake))
    assert (status, text) == ("HIT", "answer 1")
    assert answer["object"] == "chat.completion"
    # And as a stream again, without a usage chunk it did not ask for.
    status, text, raw = await ask(http, server, headers(fake), stream=True)
    assert (status, text) == ("HIT", "answer 1")
    assert b'"choices":[]' not in raw
    assert answers.calls == 1


async def test_tenants_namespaces_and_bodies_never_share_an_entry(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    assert (await ask(http, server, headers(fake)))[:2] == ("MISS", "answer 1")
    assert (await ask(http, server, headers(fake, key=KEY_B)))[:2] == ("MISS", "answer 2")
    namespaced = headers(fake, **{"x-portkey-cache-namespace": "team-x"})
    assert (await ask(http, server, namespaced))[:2] == ("MISS", "answer 3")
    assert (await ask(http, server, headers(fake), temperature=0.5))[:2] == ("MISS", "answer 4")
    assert (await ask(http, server, namespaced))[:2] == ("HIT", "answer 3")
    assert (await ask(http, server, headers(fake, key=KEY_B)))[:2] == ("HIT", "answer 2")
    assert answers.calls == 4


async def test_a_request_without_a_credential_the_gateway_reads_is_never_cached(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    # A key the gateway forwards without reading it cannot keep tenants apart.
    server = await make_gateway()
    anonymous = {k: v for k, v in headers(fake).items() if k != "Authorization"}
    for expected in ("answer 1", "answer 2"):
        assert (await ask(http, server, anonymous))[:2] == ("DISABLED", expected)


async def test_force_refresh_fetches_stores_and_says_refresh(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    await ask(http, server, headers(fake))
    refreshed = headers(fake, **{"x-portkey-cache-force-refresh": "true"})
    assert (await ask(http, server, refreshed))[:2] == ("REFRESH", "answer 2")
    assert (await ask(http, server, headers(fake)))[:2] == ("HIT", "answer 2")


async def test_an_entry_expires_after_max_age(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    short = headers(fake, config=json.dumps({"cache": {"mode": "simple", "max_age": 0.3}}))
    await ask(http, server, short)
    assert (await ask(http, server, short))[:2] == ("HIT", "answer 1")
    await asyncio.sleep(0.5)
    assert (await ask(http, server, short))[:2] == ("MISS", "answer 2")


@pytest.mark.parametrize("case", ["error", "no-store", "cut stream"])
async def test_answers_that_are_never_stored(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, case: str
) -> None:
    server = await make_gateway()
    handler = Answers(
        status=500 if case == "error" else 200,
        headers={"Cache-Control": "no-store"} if case == "no-store" else None,
    )
    handler.cut = case == "cut stream"
    fake.on("POST", "/v1/chat/completions", handler)
    url = f"http://127.0.0.1:{server.port}/v1/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": case == "cut stream"}
    for _ in range(2):
        async with http.post(url, json=body, headers=headers(fake)) as response:
            await response.read()
            assert response.headers.get("x-portkey-cache-status") in ("MISS", None)
        await asyncio.sleep(0.01)
    assert handler.calls == 2


async def test_without_a_config_the_settings_default_decides(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    plain = {k: v for k, v in headers(fake).items() if k != "x-portkey-config"}
    off = await make_gateway()
    await ask(http, off, plain)
    status, text, _ = await ask(http, off, plain)
    assert (status, text) == ("", "answer 2")  # no cache: no status header
    on = await make_gateway(settings_with(cache={"mode": "simple"}))
    await ask(http, on, plain)
    assert (await ask(http, on, plain))[:2] == ("HIT", "answer 3")


async def test_a_semantic_config_without_an_embeddings_model_in_the_settings_says_disabled(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    semantic = headers(fake, config=json.dumps({"cache": {"mode": "semantic"}}))
    await ask(http, server, semantic)
    assert (await ask(http, server, semantic))[:2] == ("DISABLED", "answer 2")


async def test_embeddings_are_cached(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    calls = []

    async def embed(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        data = [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]
        return web.json_response(
            {"object": "list", "data": data, "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2}}
        )

    fake.on("POST", "/v1/embeddings", embed)
    server = await make_gateway()
    url = f"http://127.0.0.1:{server.port}/v1/embeddings"
    statuses = []
    for _ in range(2):
        async with http.post(url, json={"model": "e", "input": "hi"}, headers=headers(fake)) as response:
            assert (await response.json())["data"][0]["embedding"] == [0.1, 0.2]
            statuses.append(response.headers["x-portkey-cache-status"])
        await asyncio.sleep(0.01)
    assert statuses == ["MISS", "HIT"]
    assert len(calls) == 1


async def test_a_json_endpoint_the_config_marks_is_cached_and_others_are_not(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    calls = []

    async def moderate(request: web.Request, received: Received) -> web.StreamResponse:
        calls.append(1)
        return web.json_response({"id": f"modr-{len(calls)}", "results": [{"flagged": False}]})

    fake.on("POST", "/v1/moderations", moderate)
    server = await make_gateway()
    url = f"http://127.0.0.1:{server.port}/v1/moderations"
    marked = json.dumps({"cache": {"mode": "simple", "paths": ["moderations"]}})
    seen = []
    for config in (marked, marked, CACHED, CACHED):
        async with http.post(url, json={"input": "hi"}, headers=headers(fake, config=config)) as response:
            seen.append(((await response.json())["id"], response.headers["x-portkey-cache-status"]))
        await asyncio.sleep(0.01)
    assert seen == [("modr-1", "MISS"), ("modr-1", "HIT"), ("modr-2", "DISABLED"), ("modr-3", "DISABLED")]


async def test_a_hit_is_logged_with_its_tokens_and_no_cost(
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    fake: FakeProvider,
    answers: Answers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    server = await make_gateway(settings_with(server={"access_log": True, "access_log_format": "json"}))
    await ask(http, server, headers(fake))
    await ask(http, server, headers(fake))
    await server.app[RECORDER].flush()
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.access"]
    assert [line["cache_status"] for line in lines] == ["MISS", "HIT"]
    assert lines[0]["cost"]
    assert lines[0]["cost"] > 0
    assert (lines[1]["input_tokens"], lines[1]["output_tokens"], lines[1]["cost"]) == (9, 3, 0.0)
    assert KEY_A not in caplog.text


async def test_two_gateway_processes_share_entries_through_redis(
    tmp_path: Path, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers, redis_url: str
) -> None:
    env = gateway_env(
        GATEWAY_CACHE_BACKEND="redis",
        GATEWAY_CACHE_REDIS_URL=redis_url,
        GATEWAY_CACHE_MODE="simple",
    )
    plain = {
        k: v for k, v in headers(fake, key=f"{KEY_A}-{tmp_path.name}").items() if k != "x-portkey-config"
    }
    first = start_gateway(tmp_path, env=env, port=free_port())
    second = start_gateway(tmp_path, env=env, port=free_port())
    try:
        await first.wait_ready()
        await second.wait_ready()
        statuses = []
        shared = redis.asyncio.from_url(redis_url)
        stored_before = len(await shared.keys("gateway:cache:*"))
        for gateway in (first, second):
            url = f"{gateway.url}/v1/chat/completions"
            async with http.post(
                url, json={"model": "gpt-4o-mini", "messages": MESSAGES}, headers=plain
            ) as response:
                assert (await response.json())["choices"][0]["message"]["content"] == "answer 1"
                statuses.append(response.headers["x-portkey-cache-status"])
            # The first process stores off the request path: wait until the entry is in Redis.
            await eventually(lambda: _stored_more(shared, stored_before), 10, "the entry to reach Redis")
        await shared.aclose()
        assert statuses == ["MISS", "HIT"]
        assert answers.calls == 1
    finally:
        first.kill()
        second.kill()


async def test_with_redis_down_requests_go_on_uncached(
    make_gateway: GatewayFactory,
    http: aiohttp.ClientSession,
    fake: FakeProvider,
    answers: Answers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = free_port()  # nothing listens there
    server = await make_gateway(
        settings_with(cache={"backend": "redis", "redis_url": f"redis://:hunter2@127.0.0.1:{closed}/0"})
    )
    for expected in ("answer 1", "answer 2"):
        assert (await ask(http, server, headers(fake)))[:2] == ("MISS", expected)
    assert server.app[CACHE].store.errors >= 2
    warnings = [r for r in caplog.records if r.name == "gateway.cache"]
    assert len(warnings) == 1
    assert "hunter2" not in caplog.text


async def test_hits_misses_entries_and_bytes_reach_the_metrics(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession, fake: FakeProvider, answers: Answers
) -> None:
    server = await make_gateway()
    for _ in range(3):
        await ask(http, server, headers(fake))
    await server.app[RECORDER].flush()
    async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    lookups = {
        s.labels["status"]: s.value
        for s in families["gateway_cache_lookups"].samples
        if s.name.endswith("_total")
    }
    assert lookups == {"MISS": 1.0, "HIT": 2.0}
    assert families["gateway_cache_entries"].samples[0].value == 1
    assert families["gateway_cache_bytes"].samples[0].value > 100


async def _stored_more(shared: redis.asyncio.Redis, before: int) -> bool:
    return len(await shared.keys("gateway:cache:*")) > before
