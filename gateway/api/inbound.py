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
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.api.bodies import RequestBody, too_deep
from gateway.errors import GatewayError
from gateway.formats.base import InboundFormat
from gateway.streaming.reformat import ReformattingResponse, reformatted_body, reformatted_events

__all__ = [
    "CHAT_ENDPOINT",
    "Inbound",
    "chat_body",
    "reformatted",
]

#: Where every inbound request goes upstream (the path after ``/v1/``).
CHAT_ENDPOINT = "chat/completions"


@dataclass(slots=True)
class Inbound:
    """One request's client format, and its body as the client sent it (once read)."""

    format: InboundFormat
    request: dict[str, Any] = field(default_factory=dict)

    def respond(self, status: int, reason: str | None, headers: CIMultiDict[str]) -> web.StreamResponse:
        """The response a relay writes a body of open length to (``Relay.respond``)."""
        return ReformattingResponse(status, reason, headers, format=self.format, request=self.request)

    def error_body(self, error: GatewayError) -> bytes:
        return orjson.dumps(self.format.error(error.status, error.body()))


def chat_body(body: RequestBody, inbound: Inbound) -> RequestBody:
    """The client's JSON body in the chat form (the format's 400s pass through); routing,
    cache, guardrails and accounting see only this."""
    assert body.parsed is not None  # the endpoint takes JSON only
    inbound.request = body.parsed
    chat = inbound.format.to_chat(body.parsed)
    try:
        raw = orjson.dumps(chat)
    except orjson.JSONEncodeError:
        raise too_deep() from None
    return RequestBody(raw, chat, reserved=body.reserved)


def reformatted(response: web.StreamResponse, inbound: Inbound) -> web.StreamResponse:
    """A whole answer not yet sent, in the client's format (one already streamed was written
    through :meth:`Inbound.respond` and is returned as it is)."""
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
