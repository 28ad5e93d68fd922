"""Mistral AI: OpenAI's format (a catalog row), plus Portkey's ``x-portkey-mistral-fim-completion``.

With that header ``true``, a chat completion goes to Mistral's fill-in-the-middle endpoint
(``/v1/fim/completions``, Codestral), as Portkey sends it. FIM takes ``prompt`` (and ``suffix``)
instead of ``messages`` and refuses unknown fields, so the chat body is rewritten: its ``prompt``
is kept, else the text of its last user message becomes the prompt. The answer is already a chat
completion (or its chunks) and passes through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS

FIM_OPTION = "mistral-fim-completion"
FIM_ENDPOINT = "fim/completions"


class MistralAI(OpenAICompatible):
    __slots__ = ()
    option_headers: tuple[str, ...] = (*OPENAI_OPTIONS, FIM_OPTION)

    def rewrite_body(self, endpoint: str, body: dict[str, Any]) -> bool:
        renamed = super().rewrite_body(endpoint, body)
        if endpoint != FIM_ENDPOINT:
            return renamed
        messages = body.pop("messages", None)
        if "prompt" not in body:
            body["prompt"] = _last_user_text(messages)
        if "max_completion_tokens" in body and "max_tokens" not in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        return True


def routed_endpoint(endpoint: str, options: Mapping[str, str]) -> str:
    """The endpoint a request for ``endpoint`` is sent to, given the target's provider options."""
    if endpoint == "chat/completions" and options.get(FIM_OPTION) == "true":
        return FIM_ENDPOINT
    return endpoint


def _last_user_text(messages: Any) -> str:
    """The text of the last user message: a string, or its text parts joined."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    part.get("text", "")
                    for part in content
                    if isinstance(part, dict) and part.get("type") == "text"
                )
    raise InvalidRequest(
        "x-portkey-mistral-fim-completion needs a 'prompt' field, or a user message to use as the prompt.",
        param="prompt",
        code="missing_prompt",
    )
