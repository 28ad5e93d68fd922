"""Requests in another client format (Anthropic Messages at ``/v1/messages``), served through the
chat form: the body in, the answer out (docs/formats.md).

The handler (``routes.py``) marks the request with its :class:`Inbound`; ``proxy.py`` then plans
and runs it as a chat completion (:func:`chat_body`, endpoint ``chat/completions``), each attempt's
relay writing into a :class:`~gateway.streaming.reformat.ReformattingResponse`
(:meth:`Inbound.respond`), and a whole answer (a small body, a cache HIT, a checked answer) is
converted as the handler returns it (:func:`reformatted`). Errors raised before an answer are
shaped by the error middleware through :meth:`Inbound.error_body`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.api.bodies import RequestBody, too_deep
from gateway.errors import GatewayError, InvalidRequest
from gateway.formats.base import InboundFormat
from gateway.providers.translated import serves_natively
from gateway.streaming.reformat import ReformattingResponse, reformatted_body, reformatted_events

if TYPE_CHECKING:
    from gateway.guardrails.hooks import Guard
    from gateway.routing.attempts import RequestContext
    from gateway.routing.target import Target

__all__ = [
    "CHAT_ENDPOINT",
    "Inbound",
    "attempt_form",
    "chat_body",
    "reformatted",
]

#: Where every inbound request goes upstream (the path after ``/v1/``).
CHAT_ENDPOINT = "chat/completions"


@dataclass(slots=True)
class Inbound:
    """One request's client format, and its body as the client sent it (once read).

    A target that speaks the format itself (Anthropic, and Claude on Bedrock and Vertex, for
    Messages: ``providers/translated.py`` ``serves_natively``) gets the client's own body and
    answers in the client's format, byte for byte: nothing is converted either way. Only when the
    request has output guardrails for that target does it still go through the chat form: the
    checks read, and may change, a chat answer."""

    format: InboundFormat
    request: dict[str, Any] = field(default_factory=dict)
    #: The body as the client sent it, for native targets.
    original: RequestBody | None = None
    #: The client's path after ``/v1/`` (``messages``, ``messages/count_tokens``).
    endpoint: str = ""
    #: Only native targets can serve it (token counting has no chat form).
    native_only: bool = False
    #: Whether the answer being returned came from a native target (set as an attempt answers).
    answered_natively: bool = False
    #: Why the request has no chat form (a field only native targets understand, such as the
    #: Responses API's ``previous_response_id``): raised for targets that need one.
    no_chat_form: InvalidRequest | None = None

    def native_for(self, target: Target, guard: Guard | None) -> bool:
        """Whether ``target`` gets the client's own request (see the class)."""
        if self.original is None or (guard is not None and guard.after_hooks(target)):
            return False
        model = target.model_for(self.original.parsed or {})
        return serves_natively(target.adapter, self.endpoint, model)

    def respond(self, status: int, reason: str | None, headers: CIMultiDict[str]) -> web.StreamResponse:
        """The response a relay writes a body of open length to (``Relay.respond``)."""
        return ReformattingResponse(status, reason, headers, format=self.format, request=self.request)

    def error_body(self, error: GatewayError) -> bytes:
        return orjson.dumps(self.format.error(error.status, error.body()))


def chat_body(body: RequestBody, inbound: Inbound) -> RequestBody:
    """The client's JSON body in the chat form (the format's 400s pass through); routing,
    cache, guardrails and accounting see only this. A request only native targets serve keeps
    its own body."""
    assert body.parsed is not None  # the endpoint takes JSON only
    inbound.request = body.parsed
    inbound.original = body
    if inbound.native_only:
        return body
    try:
        chat = inbound.format.to_chat(body.parsed)
    except InvalidRequest as refused:
        # Native targets may still serve it; the others raise this (attempt_form).
        inbound.no_chat_form = refused
        return body
    try:
        raw = orjson.dumps(chat)
    except orjson.JSONEncodeError:
        raise too_deep() from None
    return RequestBody(raw, chat, reserved=body.reserved)


def attempt_form(
    inbound: Inbound | None, target: Target, context: RequestContext
) -> tuple[Inbound | None, RequestBody, bool]:
    """How one attempt sends the request: (the format to convert to and from, ``None`` for
    none; the body to send; whether the target speaks the client's format natively)."""
    if inbound is None:
        return None, context.body, False
    if inbound.native_for(target, context.guard):
        assert inbound.original is not None
        return None, inbound.original, True  # the client's own request, untouched
    if inbound.native_only:
        raise InvalidRequest(
            f"/v1/{inbound.endpoint} is served only by providers that speak its format natively "
            "(docs/formats.md); this target does not.",
            param="x-portkey-provider",
            code="unsupported",
        )
    if inbound.no_chat_form is not None:
        raise inbound.no_chat_form
    return inbound, context.body, False


def reformatted(response: web.StreamResponse, inbound: Inbound) -> web.StreamResponse:
    """A whole answer not yet sent, in the client's format (one already streamed was written
    through :meth:`Inbound.respond` and is returned as it is)."""
    if inbound.answered_natively:
        return response
    if response.prepared or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    headers = CIMultiDict(response.headers)
    headers.popall("Content-Length", None)
    if response.content_type == "text/event-stream" and response.status < 300:
        body = reformatted_events(response.body, inbound.format, inbound.request)
    else:
        body = reformatted_body(response.status, response.body, inbound.format, inbound.request)
        headers["Content-Type"] = "application/json"
    return web.Response(body=body, status=response.status, headers=headers)
