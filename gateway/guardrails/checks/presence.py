"""``default.notNull``: the answer has some text (not null, empty or only spaces)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.guardrails.check import AFTER_REQUEST, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.text import content_of, texts_of

__all__ = [
    "SPECS",
]


def prepare(params: Mapping[str, Any]) -> bool:
    """The ``not`` flag."""
    return parameters.flag(params, "not")


def run(context: HookContext, invert: bool) -> CheckResult:
    """Passes when a text part has more than spaces (``not``: when none has). Never undecided:
    missing content is exactly what it looks for."""
    content, texts = content_of(context), texts_of(context)
    is_null = not any(text.strip() for text in texts)
    verdict = is_null == invert
    return CheckResult(
        verdict=verdict,
        data={
            "isNull": is_null,
            "contentType": _js_type(content),
            "textArrayLength": len(texts),
            "explanation": "Content is null, undefined, or empty."
            if is_null
            else "Content exists and is not null.",
            "verdict": "passed" if verdict else "failed",
        },
    )


def _js_type(content: Any) -> str:
    """Portkey's ``contentType``: JavaScript's ``typeof`` (``null`` spelled out)."""
    if content is None:
        return "null"
    if isinstance(content, str):
        return "string"
    if isinstance(content, bool):
        return "boolean"
    if isinstance(content, int | float):
        return "number"
    return "object"


SPECS = (CheckSpec("default.notNull", prepare, run, events=frozenset({AFTER_REQUEST})),)
