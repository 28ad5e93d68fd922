"""The adapter shape shared by providers whose wire format is not OpenAI's.

Such a provider serves only the endpoints it has a :class:`Translation` for; any other path is a
clear 400 rather than an OpenAI-format request sent where it cannot be understood.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson

from gateway.errors import InvalidRequest, ProviderError
from gateway.providers.base import Credentials, ProviderSpec, Translation, UpstreamCall


class TranslatedProvider:
    __slots__ = ("_spec", "_translations", "option_headers")

    def __init__(
        self,
        spec: ProviderSpec,
        translations: Mapping[str, Translation],
        option_headers: tuple[str, ...] = (),
    ) -> None:
        self._spec = spec
        self._translations = dict(translations)
        self.option_headers = option_headers

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    def translation(self, endpoint: str) -> Translation | None:
        return self._translations.get(endpoint)

    def upstream_url(self, call: UpstreamCall) -> str:
        served = ", ".join(f"/v1/{endpoint}" for endpoint in self._translations)
        raise InvalidRequest(
            f"Provider {self._spec.slug} is reached through translation and serves {served} only; "
            f"/v1/{call.endpoint} is not one of them.",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {}

    async def authorize(self, headers: MutableMapping[str, str], credentials: Credentials) -> None:
        """Nothing: its requests are signed by their :class:`Translation`."""

    def rewrite_body(self, endpoint: str, body: dict[str, Any]) -> bool:
        return False


def json_object(provider: str, body: bytes) -> dict[str, Any]:
    """A provider's successful JSON answer; a 502 naming the provider when it is not JSON."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(
            provider, 502, "the provider's answer is not a JSON object.", "bad_upstream_response"
        )
    return value
