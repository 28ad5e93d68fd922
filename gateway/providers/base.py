"""What every provider adapter is: the narrow contract between the api layer and a provider.

An OpenAI-compatible provider is *data* (a :class:`ProviderSpec` row in ``catalog.py``); code exists
only for real wire differences (see ``azure_openai.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from gateway.providers.cloud_auth import CloudAuth

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
REALTIME = "realtime"


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
    #: The client's request headers (a translated provider reads its own, like ``anthropic-beta``).
    client_headers: Mapping[str, str] = field(default_factory=dict)
    #: ``False``: a translated answer keeps the provider's extras as Portkey passes them
    #: (``content_blocks``, raw finish reasons, grounding metadata...); ``True``: OpenAI's fields only.
    strict_open_ai_compliance: bool = True


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

    async def authorize(self, headers: MutableMapping[str, str], credentials: Credentials) -> None:
        """Add the auth of a passed-through request to ``headers``, just before each attempt: the
        key in the provider's form (``auth_headers``), or a token fetched for the request's options."""

    def rewrite_body(self, endpoint: str, body: dict[str, Any]) -> bool:
        """Adapt a parsed JSON body in place; ``True`` when it changed and must be re-encoded."""

    def translation(self, endpoint: str) -> Translation | None:
        """How the provider serves ``endpoint`` in its own wire format; ``None``: it speaks OpenAI's
        there, and the bytes pass through (``upstream_url``, ``auth_headers``, ``rewrite_body``)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What :meth:`Translation.authorize` and :meth:`ProviderAdapter.authorize` may use."""

    api_key: str
    #: The provider-specific ``x-portkey-<name>`` values (AWS keys, Vertex service account...).
    options: Mapping[str, str]
    #: The gateway's upstream session, for providers that exchange a key for a token first.
    session: ClientSession
    #: The custom-host guard: returns the URL to call, or raises for a forbidden host.
    check_url: Callable[[str], str]
    #: Entra ID tokens and assumed AWS roles (the operator's endpoints, cached per process).
    cloud: CloudAuth
    #: The custom host or settings' base URL the request goes to; ``""``: the provider's own.
    base_url: str = ""


@dataclass(slots=True)
class NativeRequest:
    """One request in a provider's own wire format, built by :meth:`Translation.request`."""

    url: str
    body: bytes
    #: Provider headers (version, beta flags); :meth:`Translation.authorize` adds its auth here.
    headers: dict[str, str]
    #: The model the client named, echoed in the OpenAI-format answer.
    model: str
    #: Reads the provider's event stream into OpenAI chunks; ``None``: the answer is one body.
    stream: StreamTranslator | None = None
    #: :attr:`UpstreamCall.strict_open_ai_compliance`, for :meth:`Translation.read_body`.
    strict_open_ai_compliance: bool = True


class Translation(Protocol):
    """One OpenAI endpoint served by a provider whose wire format differs: what to send, how to
    read a body, how to read a stream (``NativeRequest.stream``)."""

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        """The provider's request for an OpenAI-format ``body``; a 400 for what it cannot do."""

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        """Add the provider's auth to ``native.headers`` (signing covers the final URL and body)."""

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        """The OpenAI-format JSON for a whole answer: the result, or an OpenAI-shaped error naming
        the provider when ``status`` ≥ 400."""


class StreamTranslator(Protocol):
    """Turns one provider stream into OpenAI ``chat.completion.chunk`` events, as it arrives.

    ``feed`` takes the bytes of each read and returns the SSE bytes they complete (often ``b""``);
    a provider's in-stream error raises a :class:`gateway.errors.GatewayError`. ``end`` runs at
    the end of the body: it returns what is still owed (``[DONE]``), or raises
    :class:`gateway.errors.UpstreamBroken` when the provider stopped before its stream was complete.
    """

    @property
    def usage(self) -> dict[str, Any] | None:
        """The OpenAI-format usage once the provider reported it."""

    def feed(self, data: bytes) -> bytes: ...

    def end(self) -> bytes: ...
