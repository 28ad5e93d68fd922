"""The body webhooks and log collectors get: Portkey's plugin context, never the caller's headers."""

from __future__ import annotations

import orjson

from gateway.guardrails.checks.callout import exchange_body
from tests.unit.guardrails.checks.context import answer, request


def test_before_the_model_the_body_holds_the_request_and_an_empty_response() -> None:
    context = request("hello")
    context.metadata = {"team": "a"}
    context.request_headers = {"authorization": "Bearer sk-marker"}
    body = orjson.loads(exchange_body(context))
    assert body["request"]["text"] == "hello"
    assert body["response"] == {"json": {}, "text": "", "statusCode": None}
    assert (body["eventType"], body["provider"], body["requestType"]) == (
        "beforeRequestHook",
        "openai",
        "chatComplete",
    )
    assert body["metadata"] == {"team": "a"}
    assert b"sk-marker" not in exchange_body(context)


def test_after_the_model_the_body_holds_both_texts_and_the_status() -> None:
    body = orjson.loads(exchange_body(answer("fine words")))
    assert body["response"]["text"] == "fine words"
    assert body["response"]["statusCode"] == 200
    assert body["eventType"] == "afterRequestHook"
