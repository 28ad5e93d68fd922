"""The adapter shape shared by providers whose wire format is not OpenAI's.

Such a provider serves only the endpoints it has a :class:`Translation` for, its model list
(``providers/model_lists.py``) where it has one, and the ones it serves in their own format
(:class:`NativeEndpoint`: Anthropic's ``/v1/messages`` on Anthropic, Bedrock and Vertex); any
other path is a clear 400 rather than an OpenAI-format request sent where it cannot be understood.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from gateway.errors import InvalidRequest, ProviderError
from gateway.providers.base import (
    MESSAGES,
    MODELS,
    ClientBody,
    PreparedRequest,
    ProviderAdapter,
    ProviderSpec,
    Translation,
    UpstreamCall,
)

if TYPE_CHECKING:
    from gateway.providers.model_lists import ModelList

__all__ = [
    "NativeEndpoint",
    "TranslatedProvider",
    "is_models",
    "json_object",
    "prepared_job",
    "prepared_through",
    "serves_natively",
]


class NativeEndpoint(Protocol):
    """An endpoint whose client format the provider speaks itself: the request goes (nearly) as
    the client sent it, and the answer comes back in the same format."""

    def serves(self, model: str) -> bool:
        """Whether ``model`` is served here in the client's format (Claude on Bedrock, not Llama)."""

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        """The whole upstream request; a 400 for a model :meth:`serves` refuses or a body it cannot send."""


class TranslatedProvider:
    """Prepares a request through the :class:`NativeEndpoint` or :class:`Translation` for its
    endpoint; the translation's ``authorize`` is the auth step (a key header, a token, a SigV4
    signature of the final bytes)."""

    __slots__ = ("_models", "_natives", "_spec", "_translations", "option_headers")

    def __init__(
        self,
        spec: ProviderSpec,
        translations: Mapping[str, Translation],
        option_headers: tuple[str, ...] = (),
        natives: Mapping[str, NativeEndpoint] | None = None,
        models: ModelList | None = None,
    ) -> None:
        self._spec = spec
        self._translations = dict(translations)
        self._natives = dict(natives or {})
        self._models = models
        self.option_headers = option_headers

    def native(self, endpoint: str, model: str) -> NativeEndpoint | None:
        """The endpoint served in its own format for ``model``; ``None``: not natively here."""
        native = self._natives.get(endpoint)
        return native if native is not None and native.serves(model) else None

    @property
    def spec(self) -> ProviderSpec:
        return self._spec

    def translation(self, endpoint: str) -> Translation | None:
        """The translation that serves ``endpoint``; ``None``: the provider does not serve it."""
        return self._translations.get(endpoint)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        endpoint = self._natives.get(call.endpoint)
        if endpoint is not None:
            return endpoint.prepare(call, body)
        translation = self._translations.get(call.endpoint)
        if translation is None:
            if self._models is not None and is_models(call.endpoint):
                return self._models.prepare(call)
            endpoints = [*self._translations, *self._natives, *([MODELS] if self._models else [])]
            served = ", ".join(f"/v1/{endpoint}" for endpoint in endpoints)
            raise InvalidRequest(
                f"Provider {self._spec.slug} is reached through translation and serves {served} only; "
                f"/v1/{call.endpoint} is not one of them.",
                param="x-portkey-provider",
                code="unsupported_endpoint",
            )
        return prepared_through(translation, call, body)


def prepared_through(translation: Translation, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
    """The request ``translation`` builds from the client's JSON body (the provider's own
    format); the translation then reads the answer. The headers are the native request's own:
    the auth step adds to them."""
    if body.params is None:
        raise InvalidRequest(
            f"/v1/{call.endpoint} is reached through translation, which needs a JSON body.",
            code="invalid_body",
        )
    native = translation.request(call, body.params)
    authorize = functools.partial(translation.authorize, native)
    return PreparedRequest(native.url, native.headers, native.body, False, translation, native, authorize)


def prepared_job(translation: Translation, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
    """A job endpoint's request (a batch created, retrieved, listed, cancelled): built by
    ``translation`` from the JSON body when there is one, sent without a body when it has none
    (a GET)."""
    native = translation.request(call, body.params or {})
    authorize = functools.partial(translation.authorize, native)
    return PreparedRequest(
        native.url, native.headers, native.body or None, False, translation, native, authorize
    )


def serves_natively(adapter: ProviderAdapter, endpoint: str, model: str) -> bool:
    """Whether ``adapter`` serves ``endpoint`` (``messages``, ``responses``) in the client's own
    format for ``model``: the request then goes as is, untranslated (the inbound-format hook: a
    format translates to chat completions only for targets where this is ``False``). A translated
    provider speaks what its natives list; an OpenAI-format provider speaks OpenAI's own formats
    where its catalog row serves them (``responses``), never another vendor's."""
    if isinstance(adapter, TranslatedProvider):
        return adapter.native(endpoint, model) is not None
    family = endpoint.split("/")[0]
    served = adapter.spec.endpoints
    return family != MESSAGES and (served is None or family in served)


def is_models(endpoint: str) -> bool:
    """Whether ``endpoint`` (the path after ``/v1/``) is the model list or one model."""
    return endpoint == MODELS or endpoint.startswith(f"{MODELS}/")


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
