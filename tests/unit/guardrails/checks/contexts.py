"""Hook contexts as the engine builds them, for the data checks' unit tests."""

from __future__ import annotations

from typing import Any

from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, HookContext


def answer(text: str) -> HookContext:
    """After the model: a chat answer whose first choice says ``text``."""
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    return HookContext(AFTER_REQUEST, "chatComplete", "openai", {}, request, response_json=body)


def request(
    *,
    model: str | None = "gpt-4o-mini",
    metadata: dict[str, str] | None = None,
    request_type: str = "chatComplete",
    headers: dict[str, str] | None = None,
    text: str = "hi",
) -> HookContext:
    """Before the model: a chat request for ``model`` saying ``text``."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    if model is not None:
        body["model"] = model
    return HookContext(
        BEFORE_REQUEST, request_type, "openai", metadata or {}, body, request_headers=headers or {}
    )
