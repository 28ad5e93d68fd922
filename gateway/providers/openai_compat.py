"""The adapter for every provider that speaks OpenAI's wire format: a catalog row is all it needs."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from gateway.providers.base import Credentials, ProviderSpec, Translation, UpstreamCall
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS


class OpenAICompatible:
    """Sends the request to ``base_url + "/" + endpoint`` with the key in the row's auth form."""

    __slots__ = ("_spec",)
    option_headers: tuple[str, ...] = OPENAI_OPTIONS

    def __init__(self, spec: ProviderSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    def upstream_url(self, call: UpstreamCall) -> str:
        base = (call.base_url or self._spec.base_url).rstrip("/")
        url = f"{base}/{call.endpoint}"
        return f"{url}?{call.query}" if call.query else url

    def auth_headers(self, api_key: str) -> dict[str, str]:
        if not api_key or self._spec.auth == "none":
            return {}
        if self._spec.auth == "api-key":
            return {"api-key": api_key}
        return {"Authorization": f"Bearer {api_key}"}

    async def authorize(self, headers: MutableMapping[str, str], credentials: Credentials) -> None:
        headers.update(self.auth_headers(credentials.api_key))

    def rewrite_body(self, endpoint: str, body: dict[str, Any]) -> bool:
        renames = self._spec.param_renames
        changed = False
        for ours, theirs in renames.items():
            if ours in body and theirs not in body:
                body[theirs] = body.pop(ours)
                changed = True
        return changed

    def translation(self, endpoint: str) -> Translation | None:
        return None
