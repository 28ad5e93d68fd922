"""What every provider adapter is: the narrow contract between the api layer and a provider.

An OpenAI-compatible provider is *data* (a :class:`ProviderSpec` row in ``catalog.py``); code exists
only for real wire differences (see ``azure_openai.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

__all__ = [
    "AUDIO",
    "BATCHES",
    "CHAT",
    "CHAT_CHUNK_ENDPOINTS",
    "COMPLETIONS",
    "EMBEDDINGS",
    "FAMILIES",
    "FILES",
    "FINE_TUNING",
    "IMAGES",
    "MESSAGES",
    "MODELS",
    "MODERATIONS",
    "REALTIME",
    "RERANK",
    "RESPONSES",
    "AuthStyle",
    "ClientBody",
    "Credentials",
    "NativeRequest",
    "Pages",
    "Payload",
    "PreparedRequest",
    "ProviderAdapter",
    "ProviderSpec",
    "StreamTranslator",
    "Translation",
    "UpstreamCall",
]

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
#: Anthropic's Messages API (``/v1/messages``, ``/v1/messages/count_tokens``), served natively.
MESSAGES = "messages"
#: Every endpoint family a catalog row may list.
FAMILIES = frozenset(
    {CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, AUDIO, FILES, BATCHES, FINE_TUNING, RESPONSES, MODELS}
    | {MODERATIONS, RERANK, REALTIME, MESSAGES}
)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One OpenAI-compatible provider.

    ``base_url`` ends where OpenAI's ``/v1`` ends: the gateway appends the request path after ``/v1``
    (``/chat/completions``). ``endpoints`` lists the endpoint families the provider serves; ``None``
    means every family (OpenAI itself and self-hosted servers that mirror it). A request for a
    family outside the list is refused with a clear 400 instead of an opaque upstream 404.
    ``param_renames`` maps an OpenAI request field to the name this provider expects; it is applied
    only when the field is present (the body is otherwise forwarded byte for byte).
    A ``base_url`` with ``{option}`` placeholders, or none at all (the caller's own host), is
    served by ``option_url.py``; ``passed_headers`` names client headers it sends on as they came.
    ``host_option`` names an option that is the caller's base URL (azure-ai's ``azure-foundry-url``):
    routing checks it with the SSRF guard and uses it as a custom host.
    """

    slug: str
    name: str
    base_url: str
    docs: str
    auth: AuthStyle = "bearer"
    endpoints: frozenset[str] | None = None
    param_renames: Mapping[str, str] = field(default_factory=dict)
    passed_headers: tuple[str, ...] = ()
    host_option: str = ""


@dataclass(slots=True)
class UpstreamCall:
    """Where one request goes: everything an adapter needs to build the upstream URL and headers.

    ``endpoint`` is the request path after ``/v1/`` (``chat/completions``); ``base_url`` is the
    custom host or settings override, or ``""`` for the provider's own; ``options`` holds the
    provider-specific ``x-portkey-<name>`` header values the adapter declared.

    Never changed once built; not frozen: one is built per request, and a frozen dataclass sets
    each field through ``object.__setattr__`` (~0.2 µs a field).
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
    #: The caller's key for this target (``""``: none); never in a repr, so never in a log.
    api_key: str = field(default="", repr=False)
    #: The client's HTTP method, which the upstream request keeps (``GET`` and ``DELETE`` on
    #: ``files/{id}`` are different operations).
    method: str = "POST"


#: The body an adapter sends: the client's bytes, re-encoded JSON, an upload's chunks, or nothing.
Payload = bytes | AsyncIterable[bytes] | None

#: Endpoints whose streamed answer is OpenAI chat/completions chunks that end in ``[DONE]``.
CHAT_CHUNK_ENDPOINTS = frozenset({"chat/completions", "completions", "fim/completions"})


@dataclass(slots=True)
class ClientBody:
    """The client's body as one target gets it, before the adapter shapes it.

    ``params`` is the JSON object with the config's edits applied (``default_params``,
    ``override_params``, ``drop_params``): a copy, the adapter's to change. ``raw`` is the client's
    own bytes while they still say the same (``None`` once the config edited a field: ``params``
    must then be encoded). ``stream`` is an upload streamed through (no ``params`` then).

    Never changed once built; not frozen: one is built per request, and a frozen dataclass sets
    each field through ``object.__setattr__`` (~0.2 µs a field).
    """

    raw: bytes | None = None
    params: dict[str, Any] | None = None
    stream: AsyncIterable[bytes] | None = None

    def payload(self, changed: bool = False) -> Payload:
        """What to send: the client's bytes, untouched (the hot path: never walked), unless the
        config or the adapter (``changed``) edited the fields; an upload as it streams.
        Raises ``orjson.JSONEncodeError`` for fields nested past what orjson writes."""
        if self.params is None:
            return self.stream
        if self.raw is not None and not changed:
            return self.raw
        return orjson.dumps(self.params)


#: The auth step that needs I/O or the final bytes (a token to fetch, a signature over the URL and
#: body): it adds the auth to :attr:`PreparedRequest.headers`, just before each attempt.
Authorize = Callable[["Credentials"], Awaitable[None]]


@dataclass(slots=True)
class PreparedRequest:
    """One whole upstream request, as :meth:`ProviderAdapter.prepare` builds it.

    ``url`` is already encoded (the client's raw path and query, as sent). ``headers`` are the
    provider's own (option headers, API versions, the key in the provider's form): the gateway
    adds them over the client headers it forwards. With ``authorize`` set, the auth is not in
    ``headers`` yet: the gateway awaits ``authorize`` before each attempt (within the attempt's
    deadline) and then sends ``headers`` as it left them.

    How it is sent is not the adapter's choice: a POST of a ``bytes`` body over http or https goes
    through the gateway's lean HTTP/1.1 client (``upstream/lean.py``, on unless
    ``upstream.lean_http`` is off), anything else (an upload streamed, another method) through
    aiohttp's session. Both put the same request on the wire (the headers aiohttp adds when
    missing included; ``Host`` and ``Content-Length`` come from the URL and the body) and give
    the answer to the relay through one interface (``upstream/answer.py``), so an adapter, a
    signature over the final headers (SigV4, OCI) and a :class:`Translation` work with either.
    """

    url: str
    headers: dict[str, str]
    body: Payload
    #: The answer, if a stream, is OpenAI chat/completions chunks that end in ``[DONE]``.
    chat_chunks: bool = False
    #: Set when the provider speaks its own format here: how to read its answers, and the
    #: request it was translated into (its model, its stream translator).
    translation: Translation | None = None
    native: NativeRequest | None = None
    authorize: Authorize | None = None
    #: The upstream method when it differs from the client's (an S3 upload is a ``PUT``).
    method: str = ""


class ProviderAdapter(Protocol):
    """The narrow contract every provider implements."""

    @property
    def spec(self) -> ProviderSpec: ...

    #: ``x-portkey-<name>`` headers this provider reads (``azure-deployment-id``).
    option_headers: tuple[str, ...]

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        """The whole upstream request for ``call``: URL, provider headers, body, its auth (at once,
        or as :attr:`PreparedRequest.authorize`), and, when the provider speaks its own format
        there, the translation of its answer. A 400 (:class:`gateway.errors.InvalidRequest`) for
        what the provider cannot be asked; ``orjson.JSONEncodeError`` or ``RecursionError`` for a
        body nested past what can be re-encoded."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an auth step (:attr:`PreparedRequest.authorize`, :meth:`Translation.authorize`) may use."""

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
    #: The translated stream's Content-Type; ``""``: OpenAI's server-sent events. Another type (a
    #: JSONL download) goes without SSE framing, and a failure midway cuts the connection instead.
    media_type: str = ""
    #: A paginated answer (a model list): reads the pages after the first before it is translated.
    pages: Pages | None = None


class Pages(Protocol):
    """The rest of a paginated answer, fetched after its first page came back successful."""

    async def rest(self, first: bytes, native: NativeRequest, session: ClientSession) -> bytes:
        """The whole answer, in the provider's format, from its ``first`` page; later pages are
        fetched with ``native``'s URL and headers. A failed page raises a ``GatewayError``."""


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
