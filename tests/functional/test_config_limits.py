"""Config evaluation is bounded: linear-time $regex, and limits on targets, depth, size, conditions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.config.regex import MAX_PATTERN_LENGTH, MAX_PATTERN_MEMORY
from gateway.config.routing import MAX_CONDITIONS, MAX_CONFIG_BYTES, MAX_DEPTH, MAX_TARGETS, MAX_WEIGHT
from tests.fake_provider import FakeProvider

CHAT: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(fake: FakeProvider, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": "sk-test", "custom_host": fake.base_url, **fields}


def conditional(fake: FakeProvider, query: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": {"mode": "conditional", "conditions": [{"query": query, "then": "a"}], "default": "b"},
        "targets": [target(fake, name="a"), target(fake, name="b", override_params={"model": "default"})],
    }


async def call(
    http: aiohttp.ClientSession, gateway_url: str, config: dict[str, Any] | None, **headers: str
) -> tuple[int, Any]:
    if config is not None:
        headers["x-portkey-config"] = json.dumps(config)
    async with http.post(f"{gateway_url}/v1/chat/completions", json=CHAT, headers=headers) as response:
        return response.status, await response.json()


async def test_a_catastrophic_regex_neither_stalls_its_request_nor_a_concurrent_one(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    # With a backtracking engine, (a+)+$ against 1,000 a's and a b never ends; RE2 is linear.
    config = conditional(fake, {"metadata.user": {"$regex": "(a+)+$"}})
    metadata = json.dumps({"user": "a" * 1000 + "b"})
    hostile = [
        asyncio.create_task(call(http, gateway_url, config, **{"x-portkey-metadata": metadata}))
        for _ in range(10)
    ]
    started = time.perf_counter()
    status, _ = await call(
        http, gateway_url, None, **{"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    )
    plain_took = time.perf_counter() - started
    results = await asyncio.wait_for(asyncio.gather(*hostile), timeout=10)
    assert status == 200
    # A hang bound, not a speed target: a backtracking engine would hold the loop for ages.
    assert plain_took < 5.0
    assert [status for status, _ in results] == [200] * 10
    # No match: every hostile request went to the default target.
    assert sum(1 for received in fake.received if received.json() == {**CHAT, "model": "default"}) == 10


@pytest.mark.parametrize(
    ("pattern", "value", "matched"),
    [("^ml-", "ml-research", True), ("^ml-", "web", False), (r"(?i)\bgpt-4o\b", "uses GPT-4o today", True)],
)
async def test_regex_conditions_still_route_on_match_and_no_match(
    pattern: str,
    value: str,
    matched: bool,
    http: aiohttp.ClientSession,
    gateway_url: str,
    fake: FakeProvider,
) -> None:
    config = conditional(fake, {"metadata.team": {"$regex": pattern}})
    status, _ = await call(http, gateway_url, config, **{"x-portkey-metadata": json.dumps({"team": value})})
    assert status == 200
    assert (fake.last.json() == CHAT) is matched


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "no backreferences or lookaround"),
        ("(?=a)b", "no backreferences or lookaround"),
        ("a{1000}{1000}", "bad repetition operator"),
        (r"\pL{1000}", f"memory limit of {MAX_PATTERN_MEMORY} bytes"),
        ("a" * (MAX_PATTERN_LENGTH + 1), f"the limit is {MAX_PATTERN_LENGTH}"),
    ],
)
async def test_a_regex_re2_refuses_or_too_long_is_a_400_naming_its_path_and_reason(
    pattern: str, reason: str, http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    status, body = await call(http, gateway_url, conditional(fake, {"metadata.x": {"$regex": pattern}}))
    assert status == 400
    assert body["error"]["code"] == "invalid_config"
    assert "config.strategy.conditions[0].query.metadata.x.$regex" in body["error"]["message"]
    assert reason in body["error"]["message"]
    assert fake.received == []


def nested(fake: FakeProvider, levels: int) -> dict[str, Any]:
    node = target(fake)
    for _ in range(levels):
        node = {"strategy": {"mode": "single"}, "targets": [node]}
    return node


def padded(fake: FakeProvider, size: int) -> dict[str, Any]:
    config = target(fake, override_params={"user": ""})
    config["override_params"]["user"] = "x" * (size - len(json.dumps(config)))
    return config


@pytest.mark.parametrize(
    ("make_config", "message"),
    [
        (
            lambda fake: {"strategy": {"mode": "fallback"}, "targets": [target(fake)] * 600},
            f"config has 600 targets; the limit is {MAX_TARGETS}",
        ),
        (
            lambda fake: {"strategy": {"mode": "fallback"}, "targets": [nested(fake, 6)] * 8},
            f"config has 56 targets; the limit is {MAX_TARGETS}",
        ),
        (
            lambda fake: nested(fake, MAX_DEPTH + 1),
            f"more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}",
        ),
        (
            lambda fake: padded(fake, MAX_CONFIG_BYTES + 1),
            f"config is {MAX_CONFIG_BYTES + 1} bytes; the limit is {MAX_CONFIG_BYTES}",
        ),
        (
            lambda fake: conditional(fake, {f"metadata.k{i}": "v" for i in range(MAX_CONDITIONS + 1)}),
            f"config has {MAX_CONDITIONS + 1} comparisons in its conditions; the limit is {MAX_CONDITIONS}",
        ),
        (
            lambda fake: conditional(fake, json.loads('{"$and": [' * 10 + '{"metadata.x": "y"}' + "]}" * 10)),
            f"$and/$or nest more than {MAX_DEPTH} levels deep",
        ),
        (
            lambda fake: {"strategy": {"mode": "loadbalance"}, "targets": [target(fake, weight=1e308)] * 2},
            f"config.targets[0].weight: expected a number from 0 to {MAX_WEIGHT}",
        ),
        (lambda fake: target(fake, request_timeout=10**18), "config.request_timeout: expected a positive"),
        (
            lambda fake: {
                "strategy": {"mode": "fallback", "hedge_after_ms": 10**15},
                "targets": [target(fake)],
            },
            "config.strategy.hedge_after_ms: expected a positive number of milliseconds, at most 86400000",
        ),
    ],
    ids=[
        "targets",
        "nested-targets",
        "depth",
        "size",
        "conditions",
        "condition-depth",
        "weight",
        "timeout",
        "hedge",
    ],
)
async def test_each_config_limit_is_a_400_naming_it_and_calls_no_upstream(
    make_config: Any, message: str, http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    status, body = await call(http, gateway_url, make_config(fake))
    assert status == 400
    assert body["error"]["code"] == "invalid_config"
    assert body["error"]["param"] == "x-portkey-config"
    assert message in body["error"]["message"]
    assert fake.received == []


async def test_a_config_at_every_limit_still_routes(
    http: aiohttp.ClientSession, gateway_url: str, fake: FakeProvider
) -> None:
    deepest = nested(fake, MAX_DEPTH)
    status, _ = await call(http, gateway_url, deepest)
    assert status == 200
    widest = {"strategy": {"mode": "fallback"}, "targets": [target(fake)] * MAX_TARGETS}
    status, _ = await call(http, gateway_url, widest)
    assert status == 200
