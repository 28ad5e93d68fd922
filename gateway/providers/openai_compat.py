"""The adapter for every provider that speaks OpenAI's wire format: a catalog row is all it needs."""

from __future__ import annotations

from typing import Any

from gateway.providers.base import (
    CHAT_CHUNK_ENDPOINTS,
    ClientBody,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS
from gateway.providers.option_headers import sent_as_headers

__all__ = [
    "OpenAICompatible",
]


class OpenAICompatible:
    """Sends the request to ``base_url + "/" + endpoint`` with the key in the row's auth form.

    Nothing is left for an auth step: the key is in the prepared headers at once.
    """

    __slots__ = ("_spec",)
    option_headers: tuple[str, ...] = OPENAI_OPTIONS

    def __init__(self, spec: ProviderSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        endpoint = self._endpoint(call)
        base = (call.base_url or self._spec.base_url).rstrip("/")
        url = f"{base}/{endpoint}?{call.query}" if call.query else f"{base}/{endpoint}"
        headers = sent_as_headers(call.options)
        self._add_key(headers, call.api_key)
        payload = body.payload(body.params is not None and self._rewrite(endpoint, body.params))
        return PreparedRequest(url, headers, payload, endpoint in CHAT_CHUNK_ENDPOINTS)

    def _endpoint(self, call: UpstreamCall) -> str:
        """The endpoint the request is sent to (a provider may route one elsewhere)."""
        return call.endpoint

    def _rewrite(self, endpoint: str, params: dict[str, Any]) -> bool:
        """Rename the fields the catalog row names, in place; ``True`` when one was."""
        changed = False
        for ours, theirs in self._spec.param_renames.items():
            if ours in params and theirs not in params:
                params[theirs] = params.pop(ours)
                changed = True
        return changed

    def _add_key(self, headers: dict[str, str], api_key: str) -> None:
        if not api_key or self._spec.auth == "none":
            return
        if self._spec.auth == "api-key":
            headers["api-key"] = api_key
        else:
            headers["Authorization"] = f"Bearer {api_key}"
