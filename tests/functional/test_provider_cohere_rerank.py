"""Cohere rerank through the gateway: ``POST /v1/rerank`` in Cohere's shape from a plain HTTP client,
a fake speaking Cohere's ``/v2/rerank`` on the other side."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.functional.fake_cohere import RERANK, FakeCohere

KEY = "co-rerank-test-key"
DOCUMENTS = ["Paris is in France.", "Berlin is in Germany.", "Rome is in Italy."]


@pytest.fixture
async def cohere(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeCohere:
    fake = FakeCohere()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


async def _rerank(gateway_url: str, cohere: FakeCohere, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {KEY}",
        "x-portkey-provider": "cohere",
        "x-portkey-custom-host": cohere.host,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{gateway_url}/v1/rerank", json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_a_rerank_goes_to_v2_rerank_and_cohere_s_ranking_comes_back(
    gateway_url: str, cohere: FakeCohere
) -> None:
    body = {"model": "rerank-v3.5", "query": "capital of Italy", "documents": DOCUMENTS, "top_n": 2}
    status, answer = await _rerank(gateway_url, cohere, {**body, "max_tokens_per_doc": 512})

    assert status == 200
    assert answer["results"] == [{"index": 2, "relevance_score": 1.0}, {"index": 1, "relevance_score": 0.75}]
    assert answer["meta"]["billed_units"] == {"search_units": 1}
    assert cohere.last.path == RERANK
    assert cohere.last.headers["Authorization"] == f"Bearer {KEY}"
    assert cohere.last.body == {**body, "max_tokens_per_doc": 512}


async def test_return_documents_puts_each_ranked_document_back_in_its_result(
    gateway_url: str, cohere: FakeCohere
) -> None:
    # v1-style document objects are sent to v2 as their text; v2 does not return documents itself.
    documents = [{"text": text} for text in DOCUMENTS[:2]]
    body = {"model": "rerank-v3.5", "query": "q", "documents": documents, "return_documents": True}
    status, answer = await _rerank(gateway_url, cohere, body)

    assert status == 200
    assert answer["results"] == [
        {"index": 1, "relevance_score": 1.0, "document": {"text": DOCUMENTS[1]}},
        {"index": 0, "relevance_score": 0.75, "document": {"text": DOCUMENTS[0]}},
    ]
    assert cohere.last.body == {"model": "rerank-v3.5", "query": "q", "documents": DOCUMENTS[:2]}


async def test_a_cohere_error_keeps_its_status_and_is_openai_shaped_naming_cohere(
    gateway_url: str, cohere: FakeCohere
) -> None:
    cohere.fail(429, "trial key rate limit", path=RERANK)
    status, answer = await _rerank(
        gateway_url, cohere, {"model": "rerank-v3.5", "query": "q", "documents": ["a"]}
    )

    assert status == 429
    assert answer["error"]["message"] == "cohere: trial key rate limit"
    assert answer["error"]["type"]
    assert KEY not in str(answer)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "q", "documents": ["a"], "rank_fields": ["title"]}, "rank_fields"),
        ({"query": "q", "documents": [{"title": "t", "body": "b"}]}, "documents[0]"),
        ({"query": "q", "documents": []}, "documents"),
        ({"documents": ["a"]}, "query"),
        ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ],
)
async def test_what_v2_rerank_cannot_take_is_a_400_before_anything_is_sent(
    body: dict[str, Any], param: str, gateway_url: str, cohere: FakeCohere
) -> None:
    status, answer = await _rerank(gateway_url, cohere, {"model": "rerank-v3.5", **body})

    assert status == 400
    assert answer["error"]["param"] == param
    assert cohere.received == []


async def test_rerank_on_a_provider_without_it_is_a_400_before_anything_is_sent(
    gateway_url: str, cohere: FakeCohere
) -> None:
    headers = {
        "x-portkey-provider": "nomic",
        "x-portkey-custom-host": cohere.host,
        "Authorization": "Bearer k",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_url}/v1/rerank", json={"model": "m", "query": "q", "documents": ["a"]}, headers=headers
        ) as response,
    ):
        answer = await response.json()

    assert response.status == 400
    assert answer["error"]["code"] == "unsupported_endpoint"
    assert cohere.received == []
