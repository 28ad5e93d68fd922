"""``GET /v1/models`` and ``GET /v1/models/{model}`` on providers whose model list is not OpenAI's.

Each provider's list endpoint, as its API reference documents it, is read into OpenAI's list
(``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``) or, for one
model, OpenAI's model object. A paginated list is read whole: the largest page the provider
allows, then the next pages (:meth:`ModelList.rest`, up to :data:`MAX_PAGES` in all) on the same
host with the same headers, merged before the answer is translated.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import orjson

from gateway.errors import ProviderError
from gateway.providers.base import (
    MODELS,
    Credentials,
    NativeRequest,
    PreparedRequest,
    UpstreamCall,
)
from gateway.providers.bedrock_access import authorize as bedrock_authorize
from gateway.providers.bedrock_access import control_plane
from gateway.providers.bedrock_answers import SLUG as BEDROCK
from gateway.providers.bedrock_answers import read_error as bedrock_error
from gateway.providers.cohere_answers import SLUG as COHERE
from gateway.providers.cohere_answers import read_error as cohere_error
from gateway.providers.openai_format import openai_model, upstream_error
from gateway.providers.translated import json_object

if TYPE_CHECKING:
    from aiohttp import ClientSession

__all__ = [
    "MAX_PAGES",
    "Listing",
    "ModelList",
    "anthropic",
    "bedrock",
    "cohere",
    "gemini",
    "query",
    "unix_time",
]

#: Pages read at most for one list: with the largest page size every provider allows (1000),
#: far beyond any provider's catalog, and still a bound on what one request can cost.
MAX_PAGES = 10


@dataclass(frozen=True, slots=True)
class Listing:
    """How one provider lists its models.

    ``path`` is appended to the provider's base for the list, and ``path/{model}`` for one model.
    ``items`` is the answer's key holding a page's models; ``one`` the key wrapping a single model
    (``None``: the answer is the model). ``model`` reads one provider model into OpenAI's object.
    ``first`` is the first page's query; ``next_query`` the query of the page after an answer
    (``None``: it was the last, or the list is not paginated). ``error`` maps an error answer.
    """

    provider: str
    path: str
    items: str
    model: Callable[[Mapping[str, Any]], dict[str, Any]]
    error: Callable[[int, bytes], bytes]
    one: str | None = None
    first: str = ""
    next_query: Callable[[Mapping[str, Any]], str | None] | None = None


class ModelList:
    """The models endpoints of one provider: ``base(call)`` is where its API starts (the custom
    host or the provider's own), ``auth`` adds its auth to a request (a key header, SigV4)."""

    __slots__ = ("_auth", "_base", "listing")

    def __init__(
        self,
        listing: Listing,
        base: Callable[[UpstreamCall], str],
        auth: Callable[[NativeRequest, Credentials], Awaitable[None]],
    ) -> None:
        self.listing = listing
        self._base = base
        self._auth = auth

    def prepare(self, call: UpstreamCall) -> PreparedRequest:
        """The request for ``models`` or ``models/{model}`` (no body: both are GETs)."""
        native = self.request(call, {})
        authorize = functools.partial(self.authorize, native)
        return PreparedRequest(native.url, native.headers, None, False, self, native, authorize)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        listing = self.listing
        url = self._base(call).rstrip("/") + listing.path
        model = unquote(call.endpoint[len(MODELS) + 1 :]) if call.endpoint != MODELS else ""
        if model:
            # One path segment whatever the id holds (Bedrock ARNs have '/' and ':').
            url = f"{url}/{quote(model, safe='')}"
        elif listing.first:
            url = f"{url}?{listing.first}"
        native = NativeRequest(url, b"", {"Accept": "application/json"}, model)
        if not model and listing.next_query is not None:
            native.pages = self
        return native

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await self._auth(native, credentials)

    async def rest(self, first: bytes, native: NativeRequest, session: ClientSession) -> bytes:
        """The whole list from its ``first`` page: the next pages fetched on the same URL with the
        same headers, their models appended, until the provider says there is no more or
        :data:`MAX_PAGES` were read. A failed later page is the provider's error."""
        listing = self.listing
        assert listing.next_query is not None
        answer = json_object(listing.provider, first)
        models = list(_items(answer, listing))
        base = native.url.partition("?")[0]
        for _ in range(MAX_PAGES - 1):
            next_page = listing.next_query(answer)
            if not next_page:
                break
            async with session.get(
                f"{base}?{next_page}", headers=native.headers, allow_redirects=False
            ) as page:
                body = await page.read()
                if page.status >= 300:
                    failed = "a later page of the model list failed."
                    raise ProviderError(listing.provider, page.status, failed, "upstream_error")
            answer = json_object(listing.provider, body)
            models.extend(_items(answer, listing))
        return orjson.dumps({listing.items: models})

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        listing = self.listing
        if status >= 400:
            return listing.error(status, body)
        answer = json_object(listing.provider, body)
        if native.model:
            one = answer.get(listing.one) if listing.one else answer
            return orjson.dumps(listing.model(one if isinstance(one, dict) else {}))
        return orjson.dumps(
            {"object": "list", "data": [listing.model(item) for item in _items(answer, listing)]}
        )


def _items(answer: Mapping[str, Any], listing: Listing) -> list[dict[str, Any]]:
    items = answer.get(listing.items)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def unix_time(value: Any) -> int:
    """An RFC 3339 time (``2025-02-19T00:00:00Z``) as Unix seconds; 0 when it is not one."""
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def query(**fields: str) -> str:
    """A query string, each value percent-encoded (a page token never adds a parameter)."""
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in fields.items())


# --- the providers' lists, as their API references document them ------------------------------

#: The largest page every provider below allows.
_PAGE = "1000"


def _base(default: str, call: UpstreamCall) -> str:
    return call.base_url or default


def anthropic(base_url: str, api_version: str) -> ModelList:
    """``GET {base}/models?limit=1000`` (then ``after_id=<last_id>`` while ``has_more``); one model:
    ``GET {base}/models/{id}``. https://docs.anthropic.com/en/api/models-list"""

    async def auth(native: NativeRequest, credentials: Credentials) -> None:
        native.headers["anthropic-version"] = api_version
        if credentials.api_key:
            native.headers["x-api-key"] = credentials.api_key

    listing = Listing(
        "anthropic",
        "/models",
        "data",
        lambda item: openai_model(item.get("id"), "anthropic", unix_time(item.get("created_at"))),
        lambda status, body: upstream_error("anthropic", status, body, ("error",)),
        first=f"limit={_PAGE}",
        next_query=_after_last_id,
    )
    return ModelList(listing, functools.partial(_base, base_url), auth)


def _after_last_id(answer: Mapping[str, Any]) -> str | None:
    last = answer.get("last_id")
    if answer.get("has_more") is not True or not isinstance(last, str):
        return None
    return query(limit=_PAGE, after_id=last)


def gemini(base_url: str) -> ModelList:
    """``GET {base}/v1beta/models?pageSize=1000`` (then ``pageToken=<nextPageToken>``); one model:
    ``GET {base}/v1beta/models/{id}``; names come as ``models/{id}``.
    https://ai.google.dev/api/models#method:-models.list"""

    async def auth(native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["x-goog-api-key"] = credentials.api_key

    listing = Listing(
        "google",
        "/v1beta/models",
        "models",
        lambda item: openai_model(str(item.get("name") or "").removeprefix("models/"), "google"),
        lambda status, body: upstream_error("google", status, body, ("error",)),
        first=f"pageSize={_PAGE}",
        next_query=functools.partial(_page_token, "nextPageToken", "pageSize", "pageToken"),
    )
    return ModelList(listing, functools.partial(_base, base_url), auth)


def cohere(base_url: str) -> ModelList:
    """``GET {base}/v1/models?page_size=1000`` (then ``page_token=<next_page_token>``); one model:
    ``GET {base}/v1/models/{name}``. https://docs.cohere.com/reference/list-models"""

    async def auth(native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["Authorization"] = f"Bearer {credentials.api_key}"

    listing = Listing(
        COHERE,
        "/v1/models",
        "models",
        lambda item: openai_model(item.get("name"), COHERE),
        cohere_error,
        first=f"page_size={_PAGE}",
        next_query=functools.partial(_page_token, "next_page_token", "page_size", "page_token"),
    )
    return ModelList(listing, functools.partial(_base, base_url), auth)


def _page_token(field: str, size: str, token: str, answer: Mapping[str, Any]) -> str | None:
    value = answer.get(field)
    return query(**{size: _PAGE, token: value}) if isinstance(value, str) and value else None


def bedrock() -> ModelList:
    """ListFoundationModels, ``GET https://bedrock.{region}.amazonaws.com/foundation-models`` (the
    control plane, not the runtime; not paginated), and GetFoundationModel,
    ``GET .../foundation-models/{id}`` (``{"modelDetails": ...}``); SigV4, service ``bedrock``.
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModels.html"""
    listing = Listing(
        BEDROCK,
        "/foundation-models",
        "modelSummaries",
        lambda item: openai_model(item.get("modelId"), str(item.get("providerName") or BEDROCK)),
        bedrock_error,
        one="modelDetails",
    )
    return ModelList(listing, control_plane, functools.partial(bedrock_authorize, method="GET"))
