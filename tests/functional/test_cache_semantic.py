"""The semantic cache through the wire: the last user message is compared by its embedding (from a
fake embeddings provider), everything else must be equal; SEMANTIC HIT / SEMANTIC MISS, the
threshold and its per-config override, tenants kept apart, embedding failures as plain misses, the
embedding's cost recorded, and two processes sharing vectors through a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.appkeys import RECORDER
from gateway.observability.record import RequestRecord
from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import eventually, free_port, gateway_env, start_gateway
from tests.functional.test_cache import KEY_A, KEY_B, Answers, headers

SEMANTIC = json.dumps({"cache": {"mode": "semantic"}})
EMBED_KEY = "sk-embeddings-secret"
PARIS = "What is the capital of France?"
#: Vectors of the questions the tests ask (8 dimensions; others get a pseudo-random one).
VECTORS = {
    PARIS: [1.0, 0, 0, 0, 0, 0, 0, 0],
    "what's the capital of france": [0.98, 0.199, 0, 0, 0, 0, 0, 0],  # cosine 0.98 with PARIS
    "Which city is France's capital?": [0.9, 0.436, 0, 0, 0, 0, 0, 0],  # cosine 0.9
    "Name France's capital city": [0.9, -0.436, 0, 0, 0, 0, 0, 0],  # cosine 0.9
    "How tall is Everest?": [0, 0, 1.0, 0, 0, 0, 0, 0],
}


def vector_of(text: str) -> list[float]:
    if text in VECTORS:
        return VECTORS[text]
    digest = hashlib.sha256(text.encode()).digest()
    values = [byte - 127.5 for byte in digest[:8]]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


class Embeddings:
    """An OpenAI embeddings endpoint: the texts it was asked for, and a switch to make it fail."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.keys: list[str] = []
        self.status = 200
        self.delay = 0.0

    async def __call__(self, request: web.Request, received: Received) -> web.StreamResponse:
        body: Any = received.json()
        self.texts += body["input"]
        self.keys.append(request.headers.get("Authorization", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": {"message": "down", "code": None}}, status=self.status)
        data = [
            {"object": "embedding", "index": i, "embedding": vector_of(t)}
            for i, t in enumerate(body["input"])
        ]
        usage = {"prompt_tokens": 7, "total_tokens": 7}
        return web.json_response({"object": "list", "data": data, "model": body["model"], "usage": usage})


@pytest.fixture
def embeddings(fake_b: FakeProvider) -> Embeddings:
    handler = Embeddings()
    fake_b.on("POST", "/v1/embeddings", handler)
    return handler


@pytest.fixture
def answers(fake: FakeProvider) -> Answers:
    handler = Answers()
    fake.on("POST", "/v1/chat/completions", handler)
    return handler


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def semantic_settings(fake_b: FakeProvider, **cache: Any) -> Any:
    return settings_with(
        cache={
            "semantic_provider": "openai",
            "semantic_model": "text-embedding-3-small",
            "semantic_api_key": EMBED_KEY,
            "semantic_base_url": fake_b.base_url,
            "semantic_timeout": 1.0,
            **cache,
        }
    )


@pytest.fixture
async def gateway(make_gateway: GatewayFactory, fake_b: FakeProvider, embeddings: Embeddings) -> TestServer:
    return await make_gateway(semantic_settings(fake_b))


Ask = Callable[..., Awaitable[tuple[str, str]]]


@pytest.fixture
def ask(http: aiohttp.ClientSession, gateway: TestServer, fake: FakeProvider) -> Ask:
    async def ask(
        question: str, *, key: str = KEY_A, config: str = SEMANTIC, system: str = "", **body: Any
    ) -> tuple[str, str]:
        """(x-portkey-cache-status, the answer's text)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": question}
        ]
        async with http.post(
            f"http://127.0.0.1:{gateway.port}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": messages, **body},
            headers=headers(fake, key=key, config=config),
        ) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
            status = response.headers.get("x-portkey-cache-status", "")
        await asyncio.sleep(0.02)  # stores run off the request path
        return status, answer["choices"][0]["message"]["content"]

    return ask


async def test_a_similar_question_gets_the_stored_answer(
    ask: Ask, answers: Answers, embeddings: Embeddings
) -> None:
    assert await ask(PARIS) == ("SEMANTIC MISS", "answer 1")
    assert await ask("what's the capital of france") == ("SEMANTIC HIT", "answer 1")
    assert await ask(PARIS) == ("HIT", "answer 1")  # the exact entry first: no embedding needed
    assert await ask("How tall is Everest?") == ("SEMANTIC MISS", "answer 2")
    assert answers.calls == 2
    assert embeddings.texts == [PARIS, "what's the capital of france", "How tall is Everest?"]
    assert embeddings.keys == [f"Bearer {EMBED_KEY}"] * 3  # the settings' key, not the caller's


async def test_only_the_last_user_message_is_fuzzy(ask: Ask, answers: Answers) -> None:
    assert (await ask(PARIS, system="Answer in French."))[0] == "SEMANTIC MISS"
    assert (await ask("what's the capital of france", system="Answer in German."))[0] == "SEMANTIC MISS"
    assert (await ask("what's the capital of france", system="Answer in French.", temperature=0.5))[0] == (
        "SEMANTIC MISS"
    )
    assert await ask("what's the capital of france", system="Answer in French.") == (
        "SEMANTIC HIT",
        "answer 1",
    )
    assert answers.calls == 3


async def test_one_tenant_never_gets_another_tenants_semantic_hit(ask: Ask, answers: Answers) -> None:
    assert (await ask(PARIS, key=KEY_A))[0] == "SEMANTIC MISS"
    assert await ask("what's the capital of france", key=KEY_B) == ("SEMANTIC MISS", "answer 2")
    assert await ask("what's the capital of france", key=KEY_A) == ("SEMANTIC HIT", "answer 1")


async def test_the_threshold_comes_from_the_settings_or_the_config(ask: Ask, answers: Answers) -> None:
    strict = json.dumps({"cache": {"mode": "semantic", "semantic_threshold": 0.99}})
    loose = json.dumps({"cache": {"mode": "semantic", "semantic_threshold": 0.85}})
    assert await ask(PARIS) == ("SEMANTIC MISS", "answer 1")
    # Cosine 0.9 with PARIS: under the settings' 0.95.
    assert await ask("Name France's capital city") == ("SEMANTIC MISS", "answer 2")
    # Cosine 0.98 with PARIS: under the strict config's 0.99.
    assert await ask("what's the capital of france", config=strict) == ("SEMANTIC MISS", "answer 3")
    # Cosine 0.97 with the last one: over the loose config's 0.85.
    assert await ask("Which city is France's capital?", config=loose) == ("SEMANTIC HIT", "answer 3")


async def test_a_streamed_semantic_hit_is_a_valid_stream_for_the_openai_sdk(
    ask: Ask, gateway: TestServer, fake: FakeProvider, answers: Answers
) -> None:
    await ask(PARIS)
    client = AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        api_key=KEY_A,
        default_headers={k: v for k, v in headers(fake, config=SEMANTIC).items() if k != "Authorization"},
    )
    async with client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "what's the capital of france"}],
            stream=True,
        )
        assert raw.headers["x-portkey-cache-status"] == "SEMANTIC HIT"
        text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    assert text == "answer 1"
    assert answers.calls == 1


@pytest.mark.parametrize("failure", ["error status", "timeout"])
async def test_an_embedding_failure_is_a_plain_miss_logged_once(
    ask: Ask, answers: Answers, embeddings: Embeddings, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    if failure == "timeout":
        embeddings.delay = 2.0  # past the 1 s semantic_timeout
    else:
        embeddings.status = 500
    assert await ask(PARIS) == ("MISS", "answer 1")
    assert await ask("what's the capital of france") == ("MISS", "answer 2")
    assert await ask(PARIS) == ("HIT", "answer 1")  # the exact cache still works
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.cache"]
    assert len(warnings) == 1
    assert "openai" in warnings[0]
    assert EMBED_KEY not in caplog.text


async def test_the_embedding_call_is_recorded_with_its_tokens_and_cost(
    ask: Ask, gateway: TestServer, answers: Answers
) -> None:
    seen: list[RequestRecord] = []
    recorder = gateway.app[RECORDER]
    recorder.sinks = (*recorder.sinks, _Collect(seen))
    await ask(PARIS)
    await ask("what's the capital of france")
    await recorder.flush()
    embedded = [r for r in seen if r.target == "cache.semantic"]
    assert [(r.path, r.model, r.input_tokens) for r in embedded] == [
        ("/v1/embeddings", "text-embedding-3-small", 7)
    ] * 2
    assert all(r.cost is not None and r.cost > 0 for r in embedded)
    hit = [r for r in seen if r.cache_status == "SEMANTIC HIT"]
    assert len(hit) == 1
    assert hit[0].cost == 0.0


class _Collect:
    def __init__(self, into: list[RequestRecord]) -> None:
        self.into = into

    def write(self, record: RequestRecord) -> None:
        self.into.append(record)


async def test_two_gateway_processes_share_semantic_entries_through_redis(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    fake: FakeProvider,
    fake_b: FakeProvider,
    answers: Answers,
    embeddings: Embeddings,
    redis_url: str,
) -> None:
    env = gateway_env(
        GATEWAY_CACHE_BACKEND="redis",
        GATEWAY_CACHE_REDIS_URL=redis_url,
        GATEWAY_CACHE_MODE="semantic",
        GATEWAY_CACHE_SEMANTIC_PROVIDER="openai",
        GATEWAY_CACHE_SEMANTIC_MODEL="text-embedding-3-small",
        GATEWAY_CACHE_SEMANTIC_API_KEY=EMBED_KEY,
        GATEWAY_CACHE_SEMANTIC_BASE_URL=fake_b.base_url,
    )
    plain = {
        k: v for k, v in headers(fake, key=f"{KEY_A}-{tmp_path.name}").items() if k != "x-portkey-config"
    }
    first = start_gateway(tmp_path, env=env, port=free_port())
    second = start_gateway(tmp_path, env=env, port=free_port())
    try:
        await first.wait_ready()
        await second.wait_ready()

        async def ask_at(url: str, question: str) -> str:
            async with http.post(
                f"{url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]},
                headers=plain,
            ) as response:
                assert (await response.json())["choices"][0]["message"]["content"] == "answer 1"
                return response.headers["x-portkey-cache-status"]

        assert await ask_at(first.url, PARIS) == "SEMANTIC MISS"

        async def indexed_at_second() -> bool:
            async with http.get(f"{second.url}/metrics") as response:
                text = await response.text()
            return any(
                line.startswith("gateway_cache_semantic_entries") and float(line.split()[-1]) >= 1
                for line in text.splitlines()
            )

        # The vector reaches the second process through the Redis stream, a moment later.
        await eventually(indexed_at_second, 10, "the vector to reach the second process")
        assert await ask_at(second.url, "what's the capital of france") == "SEMANTIC HIT"
        assert answers.calls == 1
    finally:
        first.kill()
        second.kill()
