"""The pieces of a Responses API answer, built from a chat answer's parts: the Response object
around the output, its output items, its usage and its status. Shared by the whole-answer
translation (``formats/responses.py``) and the stream (``formats/responses_stream.py``), so both
answer the same object for the same chat answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

__all__ = [
    "envelope",
    "function_call_item",
    "message_item",
    "new_id",
    "reasoning_item",
    "status_of",
    "text_part",
    "usage_of",
]

#: A chat finish reason that ends a Response early, with the reason Responses gives for it.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style for the kind of object: ``resp_``, ``msg_``, ``fc_``, ``rs_``."""
    return prefix + secrets.token_hex(24)


def status_of(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """The Response's ``status`` and ``incomplete_details`` for a chat finish reason."""
    reason = _INCOMPLETE.get(finish_reason or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def envelope(
    request: Mapping[str, Any],
    response_id: str,
    created_at: int,
    model: str,
    status: str,
) -> dict[str, Any]:
    """The Response object with no output yet: what the client asked for, echoed as OpenAI does
    (``store`` is false: nothing is kept to retrieve or continue from)."""
    reasoning = request.get("reasoning") or {}
    text = request.get("text") or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": request.get("temperature"),
        "text": {"format": text.get("format") or {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def function_call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def reasoning_item(item_id: str, summary: str | None) -> dict[str, Any]:
    """The provider's reasoning (``reasoning_content``) as a reasoning item's summary text."""
    parts = [{"type": "summary_text", "text": summary}] if summary is not None else []
    return {"id": item_id, "type": "reasoning", "summary": parts}


def usage_of(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage as Responses usage; ``None`` when the provider reported none."""
    if not usage:
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": prompt_details.get("cached_tokens") or 0,
            # Anthropic's and Bedrock's cache writes (``openai_format.usage``'s cache_write).
            "cache_write_tokens": prompt_details.get("cache_creation_tokens") or 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }
