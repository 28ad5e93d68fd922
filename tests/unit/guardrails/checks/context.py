"""Hook contexts for the check unit tests: a chat request before the model, its answer after."""

from __future__ import annotations

from typing import Any

from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, CheckResult, CheckSpec, HookContext

__all__ = [
    "answer",
    "checked",
    "request",
]


def request(text: Any, request_type: str = "chatComplete", **body: Any) -> HookContext:
    """Before the model: a chat request whose last (user) message says ``text``."""
    if request_type == "complete":
        body = {"prompt": text, **body}
    else:
        body = {"messages": [*body.pop("messages", []), {"role": "user", "content": text}], **body}
    return HookContext(BEFORE_REQUEST, request_type, "openai", {}, {"model": "m", **body})


def answer(text: Any) -> HookContext:
    """After the model: a chat answer whose first choice says ``text``."""
    response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    return HookContext(
        AFTER_REQUEST, "chatComplete", "openai", {}, {"model": "m", "messages": []}, {}, response, 200
    )


def checked(spec: CheckSpec, context: HookContext, **parameters: Any) -> CheckResult:
    """A synchronous check prepared with ``parameters`` and run on ``context``."""
    assert spec.run is not None
    return spec.run(context, spec.prepare(parameters))
