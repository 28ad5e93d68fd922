"""Mistral AI: OpenAI's format (a catalog row), plus Portkey's ``x-portkey-mistral-fim-completion``.

With that header ``true``, a chat completion goes to Mistral's fill-in-the-middle endpoint
(``/v1/fim/completions``, Codestral), as Portkey sends it. FIM takes ``prompt`` (and ``suffix``)
instead of ``messages`` and refuses unknown fields, so the chat body is rewritten: its ``prompt``
is kept, else the text of its last user message becomes the prompt. The answer is already a chat
completion (or its chunks) and passes through.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest
from gateway.providers.base import UpstreamCall
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS

__all__ = [
    "MistralAI",
]

FIM_OPTION = "mistral-fim-completion"
FIM_ENDPOINT = "fim/completions"


class MistralAI(OpenAICompatible):
    __slots__ = ()
    option_headers: tuple[str, ...] = (*OPENAI_OPTIONS, FIM_OPTION)

    def _endpoint(self, call: UpstreamCall) -> str:
        if call.endpoint == "chat/completions" and call.options.get(FIM_OPTION) == "true":
            return FIM_ENDPOINT
        return call.endpoint

    def _rewrite(self, endpoint: str, params: dict[str, Any]) -> bool:
        renamed = super()._rewrite(endpoint, params)
        if endpoint != FIM_ENDPOINT:
            return renamed
        messages = params.pop("messages", None)
        if "prompt" not in params:
            params["prompt"] = _last_user_text(messages)
        if "max_completion_tokens" in params and "max_tokens" not in params:
            params["max_tokens"] = params.pop("max_completion_tokens")
        return True


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
