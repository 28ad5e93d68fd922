"""Every provider slug Portkey's OSS gateway accepts is known here: it reaches an adapter, or a shut-down
provider's clear 400. The rows added for Portkey's slugs that are not chat providers (embeddings,
rerank, images) are driven through the gateway to a fake with the row's own path and auth.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI, BadRequestError
from yarl import URL

from gateway.errors import InvalidRequest
from gateway.providers.catalog import PROVIDERS
from gateway.providers.registry import ProviderRegistry
from gateway.providers.shut_down import SHUT_DOWN
from tests.fake_provider import FakeProvider, Received

KEY = "sk-portkey-slug-key"

#: The slugs of Portkey's src/providers/index.ts (commit 669825cb), in its order, then ``cortex``
#: (Snowflake), which its globals.ts VALID_PROVIDERS accepts without an index.ts entry (that list's
#: other extra, ``portkey``, names Portkey itself, not a provider).
PORTKEY_SLUGS = [
    "openai",
    "cohere",
    "anthropic",
    "azure-openai",
    "huggingface",
    "anyscale",
    "palm",
    "together-ai",
    "google",
    "vertex-ai",
    "perplexity-ai",
    "mistral-ai",
    "deepinfra",
    "ncompass",
    "stability-ai",
    "nomic",
    "ollama",
    "ai21",
    "bedrock",
    "groq",
    "segmind",
    "jina",
    "fireworks-ai",
    "workers-ai",
    "reka-ai",
    "moonshot",
    "openrouter",
    "lingyi",
    "zhipu",
    "novita-ai",
    "monsterapi",
    "deepseek",
    "predibase",
    "triton",
    "voyage",
    "azure-ai",
    "github",
    "deepbricks",
    "siliconflow",
    "cerebras",
    "inference-net",
    "sambanova",
    "lemonfox-ai",
    "upstage",
    "lambda",
    "dashscope",
    "x-ai",
    "qdrant",
    "sagemaker",
    "nebius",
    "recraft-ai",
    "milvus",
    "replicate",
    "lepton",
    "kluster-ai",
    "nscale",
    "hyperbolic",
    "bytez",
    "featherless-ai",
    "krutrim",
    "302ai",
    "cometapi",
    "matterai",
    "meshy",
    "nextbit",
    "tripo3d",
    "modal",
    "z-ai",
    "oracle",
    "iointelligence",
    "aibadgr",
    "ovhcloud",
    "cortex",
]

REGISTRY = ProviderRegistry.default()


def resolution(slug: str) -> str:
    """``adapter``, or the code of the 400 the slug gets."""
    try:
        REGISTRY.get(slug)
    except InvalidRequest as refused:
        return str(refused.code)
    return "adapter"


def test_portkey_lists_73_slugs_once_each() -> None:
    assert len(PORTKEY_SLUGS) == 73
    assert len(set(PORTKEY_SLUGS)) == 73


@pytest.mark.parametrize("slug", sorted(set(PORTKEY_SLUGS)))
def test_every_portkey_slug_reaches_an_adapter_or_a_shut_down_notice(slug: str) -> None:
    shut_down = {gone.slug for gone in SHUT_DOWN}
    assert resolution(slug) == ("provider_shut_down" if slug in shut_down else "adapter")


def test_a_shut_down_provider_is_not_also_a_catalog_row() -> None:
    assert not {gone.slug for gone in SHUT_DOWN} & {spec.slug for spec in PROVIDERS}


@pytest.mark.parametrize("gone", SHUT_DOWN, ids=[gone.slug for gone in SHUT_DOWN])
async def test_a_shut_down_provider_gets_a_400_saying_so_and_nothing_is_sent(
    gone: Any, fake: FakeProvider, gateway_url: str
) -> None:
    headers = {"x-portkey-provider": gone.slug, "x-portkey-custom-host": fake.base_url}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0
    ) as sdk:
        with pytest.raises(BadRequestError) as raised:
            await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "provider_shut_down"
    assert error["param"] == "x-portkey-provider"
    assert error["type"] == "invalid_request_error"
    assert f"'{gone.slug}'" in error["message"]
    assert "has shut down" in error["message"]
    assert KEY not in str(raised.value.body)
    assert fake.received == []


async def test_a_shut_down_provider_in_a_config_target_names_the_config(gateway_url: str) -> None:
    config = '{"strategy": {"mode": "fallback"}, "targets": [{"provider": "openai"}, {"provider": "palm"}]}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": "m", "messages": []},
            headers={"Authorization": f"Bearer {KEY}", "x-portkey-config": config},
        ) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == "provider_shut_down"
    assert body["error"]["param"] == "x-portkey-config"


# One contract case per new row outside chat: (slug, endpoint after the base, request, answer).

EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
    "model": "m",
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}
RERANKED = {"model": "m", "results": [{"index": 1, "relevance_score": 0.9}], "usage": {"total_tokens": 5}}
IMAGE = {"created": 1, "data": [{"url": "https://img.example/1.webp"}]}

CASES: tuple[tuple[str, str, dict[str, Any], dict[str, Any]], ...] = (
    (
        "jina",
        "embeddings",
        {"model": "jina-embeddings-v3", "input": ["hi"], "task": "retrieval.query"},
        EMBEDDING,
    ),
    ("jina", "rerank", {"model": "jina-reranker-v2", "query": "q", "documents": ["a", "b"]}, RERANKED),
    ("voyage", "embeddings", {"model": "voyage-3.5", "input": ["hi"], "input_type": "query"}, EMBEDDING),
    ("voyage", "rerank", {"model": "rerank-2", "query": "q", "documents": ["a", "b"]}, RERANKED),
    ("recraft-ai", "images/generations", {"model": "recraftv3", "prompt": "a fox", "style": "any"}, IMAGE),
    ("cometapi", "embeddings", {"model": "text-embedding-3-small", "input": "hi"}, EMBEDDING),
    ("iointelligence", "embeddings", {"model": "BAAI/bge-multilingual-gemma2", "input": "hi"}, EMBEDDING),
    ("kluster-ai", "embeddings", {"model": "BAAI/bge-m3", "input": "hi"}, EMBEDDING),
)


@pytest.mark.parametrize(
    ("slug", "endpoint", "request_body", "answer"), CASES, ids=[f"{case[0]}-{case[1]}" for case in CASES]
)
async def test_a_new_row_reaches_its_path_with_a_bearer_key_and_its_answer_is_relayed(
    slug: str,
    endpoint: str,
    request_body: dict[str, Any],
    answer: dict[str, Any],
    fake: FakeProvider,
    gateway_url: str,
) -> None:
    spec = next(spec for spec in PROVIDERS if spec.slug == slug)
    base = URL(spec.base_url).path.rstrip("/")

    async def reply(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(answer)

    fake.on("POST", f"{base}/{endpoint}", reply)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/{endpoint}",
            json=request_body,
            headers={
                "Authorization": f"Bearer {KEY}",
                "x-portkey-provider": slug,
                "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}{base}",
            },
        ) as response,
    ):
        relayed = await response.json()

    assert response.status == 200
    assert relayed == answer
    assert fake.last.path == f"{base}/{endpoint}"
    assert fake.last.json() == request_body
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("slug", ["jina", "voyage", "recraft-ai"])
async def test_a_row_without_chat_refuses_chat_before_calling_the_provider(
    slug: str, fake: FakeProvider, gateway_url: str
) -> None:
    headers = {"x-portkey-provider": slug, "x-portkey-custom-host": fake.base_url}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=headers, max_retries=0
    ) as sdk:
        with pytest.raises(BadRequestError):
            await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert fake.received == []
