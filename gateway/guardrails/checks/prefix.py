"""``default.addPrefix``: puts a configured text before the prompt (a transformer; always passes).

Chat and Messages requests: the first message of ``applyToRole`` gets the prefix at the start of
its content (``addToExisting``), or a new message with the prefix goes before it; without such a
message one is added (a system message first, others last). ``onlyIfEmpty`` changes only an
empty message of that role. Completions: the prompt's first text gets the prefix.

Two departures from Portkey, both where it sends something wrong: a Messages request's system
prompt is its top-level ``system`` field, so a ``system`` prefix goes there (Portkey adds a
``system`` message, which the Messages API refuses); and a request left unchanged (``onlyIfEmpty``
on a non-empty message) does not report ``transformed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.guardrails.check import BEFORE_REQUEST, CheckResult, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.text import content_of, texts_of, with_texts

__all__ = [
    "SPECS",
]

#: Longest prefix: it is copied into every request.
MAX_PREFIX_LENGTH = 10_000
_ROLES = ("user", "system", "assistant")
_CHAT = ("chatComplete", "messages")


@dataclass(frozen=True, slots=True)
class AddPrefix:
    prefix: str
    role: str
    add_to_existing: bool
    only_if_empty: bool


def prepare(params: Mapping[str, Any]) -> AddPrefix:
    return AddPrefix(
        parameters.text(params, "prefix", limit=MAX_PREFIX_LENGTH),
        parameters.choice(params, "applyToRole", _ROLES, default="user"),
        parameters.flag(params, "addToExisting", default=True),
        parameters.flag(params, "onlyIfEmpty"),
    )


def run(context: HookContext, prepared: AddPrefix) -> CheckResult:
    """Passes, with the prefixed request as ``transformed_request`` when it changed; requests
    other than chat, messages and completions pass through untouched (``data`` null)."""
    kind = context.request_type
    if context.event != BEFORE_REQUEST or kind not in (*_CHAT, "complete"):
        return CheckResult(verdict=True)
    if kind == "complete":
        body = _prefixed_current(context, prepared.prefix)
    elif kind == "messages" and prepared.role == "system":
        body = _prefixed_system(context.request_json, prepared)
    else:
        body = _prefixed_chat(context, prepared)
    data = {
        "prefix": prepared.prefix,
        "requestType": kind,
        "applyToRole": prepared.role,
        "addToExisting": prepared.add_to_existing,
        "onlyIfEmpty": prepared.only_if_empty,
    }
    return CheckResult(verdict=True, data=data, transformed_request=body)


def _prefixed_current(context: HookContext, prefix: str) -> dict[str, Any] | None:
    """The current part's first text prefixed (``None`` when there is no current part)."""
    if content_of(context) is None:
        return None
    texts = texts_of(context)
    return with_texts(context, [f"{prefix}{texts[0] if texts else ''}"])


def _is_empty(content: Any) -> bool:
    return (isinstance(content, str) and not content.strip()) or content == []


def _prefixed_content(prefix: str, content: Any) -> Any:
    """``content`` (a string or a list of parts) with the prefix in front of its first text."""
    if isinstance(content, list):
        if content and isinstance(content[0], dict) and content[0].get("type") == "text":
            return [{**content[0], "text": f"{prefix}{content[0].get('text') or ''}"}, *content[1:]]
        return [{"type": "text", "text": prefix}, *content]
    return f"{prefix}{'' if content is None else content}"


def _prefixed_chat(context: HookContext, prepared: AddPrefix) -> dict[str, Any] | None:
    body = context.request_json
    raw = body.get("messages")
    messages = list(raw) if isinstance(raw, list) else []
    index = next(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == prepared.role), None
    )
    new = {
        "role": prepared.role,
        "content": [{"type": "text", "text": prepared.prefix}]
        if context.request_type == "messages"
        else prepared.prefix,
    }
    if index is None:
        messages.insert(0 if prepared.role == "system" else len(messages), new)
    elif prepared.only_if_empty and not _is_empty(messages[index].get("content")):
        return None
    elif not prepared.add_to_existing:
        messages.insert(index, new)
    elif index == len(messages) - 1:
        return _prefixed_current(context, prepared.prefix)
    else:
        messages[index] = {
            **messages[index],
            "content": _prefixed_content(prepared.prefix, messages[index].get("content")),
        }
    return {**body, "messages": messages}


def _prefixed_system(body: dict[str, Any], prepared: AddPrefix) -> dict[str, Any] | None:
    """A Messages request's top-level ``system`` with the prefix (a new text block before it
    when not ``addToExisting``)."""
    system = body.get("system")
    if system is not None and prepared.only_if_empty and not _is_empty(system):
        return None
    if system is None or _is_empty(system) or prepared.add_to_existing:
        return {**body, "system": _prefixed_content(prepared.prefix, None if _is_empty(system) else system)}
    blocks = system if isinstance(system, list) else [{"type": "text", "text": system}]
    return {**body, "system": [{"type": "text", "text": prepared.prefix}, *blocks]}


SPECS = (CheckSpec("default.addPrefix", prepare, run, events=frozenset({BEFORE_REQUEST})),)
