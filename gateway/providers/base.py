"""What every provider adapter is: the narrow contract between the api layer and a provider.

An OpenAI-compatible provider is *data* (a :class:`ProviderSpec` row in ``catalog.py``); code exists
only for real wire differences (see ``azure_openai.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: How the caller's key is sent upstream.
#: ``bearer``: ``Authorization: Bearer <key>``; ``api-key``: ``api-key: <key>`` (Azure);
#: ``none``: never sent (local servers that take no key).
AuthStyle = Literal["bearer", "api-key", "none"]

#: Endpoint families: the first path segment after ``/v1`` (``chat`` for ``/v1/chat/completions``).
CHAT = "chat"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"
IMAGES = "images"
AUDIO = "audio"
FILES = "files"
BATCHES = "batches"
FINE_TUNING = "fine_tuning"
RESPONSES = "responses"
MODELS = "models"
MODERATIONS = "moderations"
RERANK = "rerank"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One OpenAI-compatible provider.

    ``base_url`` ends where OpenAI's ``/v1`` ends: the gateway appends the request path after ``/v1``
    (``/chat/completions``). ``endpoints`` lists the endpoint families the provider serves; ``None``
    means every family (OpenAI itself and self-hosted servers that mirror it). A request for a
    family outside the list is refused with a clear 400 instead of an opaque upstream 404.
    ``param_renames`` maps an OpenAI request field to the name this provider expects; it is applied
    only when the field is present (the body is otherwise forwarded byte for byte).
    """

    slug: str
    name: str
    base_url: str
    docs: str
    auth: AuthStyle = "bearer"
    endpoints: frozenset[str] | None = None
    param_renames: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """Where one request goes: everything an adapter needs to build the upstream URL and headers.

    ``endpoint`` is the request path after ``/v1/`` (``chat/completions``); ``base_url`` is the
    custom host or settings override, or ``""`` for the provider's own; ``options`` holds the
    provider-specific ``x-portkey-<name>`` header values the adapter declared.
    """

    endpoint: str
    query: str
    base_url: str
    options: Mapping[str, str]


class ProviderAdapter(Protocol):
    """The narrow contract every provider implements."""

    @property
    def spec(self) -> ProviderSpec: ...

    #: ``x-portkey-<name>`` headers this provider reads (``azure-deployment-id``).
    option_headers: tuple[str, ...]

    def upstream_url(self, call: UpstreamCall) -> str:
        """The full upstream URL, query string included."""

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The caller's key in the provider's own form."""

    def rewrite_body(self, endpoint: str, body: dict[str, Any]) -> bool:
        """Adapt a parsed JSON body in place; ``True`` when it changed and must be re-encoded."""
