"""Every built-in check's cases through the wire: each ``GuardrailCase`` of every
``tests/functional/guardrail_cases_*.py`` (found at collection, so a module added later runs too)
puts its check in a denying hook, sends its request through the gateway to a fake provider that
answers the case's text, and expects 200 with a passing check or 446 with a failing one."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.fake_provider import FakeProvider, Received
from tests.functional.guardrail_case import GuardrailCase

#: Each endpoint's request when a case gives none, and its answer holding the case's text.
_DEFAULT_REQUEST: dict[str, dict[str, Any]] = {
    "chat/completions": {"messages": [{"role": "user", "content": "Hello there."}]},
    "completions": {"prompt": "Hello there."},
    "embeddings": {"input": "Hello there."},
}


def _cases() -> list[GuardrailCase]:
    folder = Path(__file__).parent
    cases: list[GuardrailCase] = []
    for path in sorted(folder.glob("guardrail_cases_*.py")):
        module = importlib.import_module(f"tests.functional.{path.stem}")
        cases += module.CASES
    return cases


CASES = _cases()


def _answer(endpoint: str, text: str) -> dict[str, Any]:
    if endpoint == "completions":
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        return {"id": "t1", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}
    if endpoint == "embeddings":
        item = {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
        usage = {"prompt_tokens": 2, "total_tokens": 2}
        return {"object": "list", "data": [item], "model": "m", "usage": usage}
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}


def _answering(body: dict[str, Any]) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        return web.json_response(body)

    return respond


def _headers(case: GuardrailCase, fake: FakeProvider) -> dict[str, str]:
    event = "before_request_hooks" if case.side == "input" else "after_request_hooks"
    hook = {"id": "case", "deny": True, "checks": [{"id": case.check, "parameters": case.parameters}]}
    config = {"provider": "openai", "custom_host": fake.base_url, "api_key": "sk-fake", event: [hook]}
    return {"x-portkey-config": orjson.dumps(config).decode(), **case.headers}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_check_case_through_the_wire(
    make_gateway: Any, fake: FakeProvider, case: GuardrailCase
) -> None:
    fake.on("POST", f"/v1/{case.endpoint}", _answering(_answer(case.endpoint, case.answer_text)))
    server = await make_gateway()
    body = {"model": "gpt-4o-mini", **_DEFAULT_REQUEST[case.endpoint], **case.request}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{server.port}/v1/{case.endpoint}", json=body, headers=_headers(case, fake)
        ) as response,
    ):
        status, answer = response.status, orjson.loads(await response.read())
    assert status == (200 if case.passes else 446), answer
    event = "before_request_hooks" if case.side == "input" else "after_request_hooks"
    [hook] = answer["hook_results"][event]
    [check] = hook["checks"]
    assert (check["id"], check["verdict"]) == (case.check, case.passes), check
    assert hook["verdict"] is case.passes
    # A denied input never reaches the provider; every other case was answered by it.
    assert len(fake.received) == (0 if case.side == "input" and not case.passes else 1)
