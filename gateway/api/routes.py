"""The whole route table: every OpenAI endpoint the gateway knows, then a pass-through for the rest.

Known endpoints get their methods checked (405 otherwise), their body type checked (415), JSON
bodies validated (400), and their family checked against the provider's catalog row. Any other
``/v1/*`` path goes to the provider unchanged. Static paths come before parameterised ones that
would also match them (``/v1/responses/compact`` before ``/v1/responses/{id}``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection

from aiohttp import web

from gateway.api.admin import add_admin_routes
from gateway.api.bodies import BodyKind
from gateway.api.console import add_console_routes
from gateway.api.health import health_targets, healthz, readyz, root
from gateway.api.inbound import Inbound, reformatted
from gateway.api.metrics import metrics as metrics_endpoint
from gateway.api.proxy import proxy
from gateway.appkeys import INBOUND
from gateway.errors import MethodNotAllowed
from gateway.formats.base import InboundFormat
from gateway.on_first_use import load
from gateway.providers.base import CHAT

__all__ = [
    "REALTIME_PATH",
    "add_routes",
]

JSON = BodyKind.JSON
MULTIPART = BodyKind.MULTIPART
EITHER = BodyKind.JSON_OR_MULTIPART
NONE = None

#: path → {method: body kind}; the family is the first path segment after /v1.
ENDPOINTS: dict[str, dict[str, BodyKind | None]] = {
    "/v1/chat/completions": {"POST": JSON, "GET": NONE},
    "/v1/chat/completions/{id}": {"GET": NONE, "POST": JSON, "DELETE": NONE},
    "/v1/chat/completions/{id}/messages": {"GET": NONE},
    "/v1/completions": {"POST": JSON},
    "/v1/embeddings": {"POST": JSON},
    "/v1/moderations": {"POST": JSON},
    # Cohere's shape (Jina and Voyage share it): read, so a translated provider can serve it.
    "/v1/rerank": {"POST": JSON},
    "/v1/images/generations": {"POST": JSON},
    "/v1/images/edits": {"POST": EITHER},
    "/v1/images/variations": {"POST": MULTIPART},
    "/v1/audio/speech": {"POST": JSON},
    "/v1/audio/transcriptions": {"POST": MULTIPART},
    "/v1/audio/translations": {"POST": MULTIPART},
    "/v1/files": {"GET": NONE, "POST": MULTIPART},
    "/v1/files/{id}": {"GET": NONE, "DELETE": NONE},
    "/v1/files/{id}/content": {"GET": NONE},
    "/v1/batches": {"GET": NONE, "POST": JSON},
    "/v1/batches/{id}": {"GET": NONE},
    "/v1/batches/{id}/cancel": {"POST": NONE},
    "/v1/fine_tuning/jobs": {"GET": NONE, "POST": JSON},
    "/v1/fine_tuning/jobs/{id}": {"GET": NONE},
    "/v1/fine_tuning/jobs/{id}/cancel": {"POST": NONE},
    "/v1/fine_tuning/jobs/{id}/pause": {"POST": NONE},
    "/v1/fine_tuning/jobs/{id}/resume": {"POST": NONE},
    "/v1/fine_tuning/jobs/{id}/events": {"GET": NONE},
    "/v1/fine_tuning/jobs/{id}/checkpoints": {"GET": NONE},
    "/v1/responses/compact": {"POST": JSON},
    "/v1/responses/input_tokens": {"POST": JSON},
    "/v1/responses/{id}": {"GET": NONE, "DELETE": NONE},
    "/v1/responses/{id}/cancel": {"POST": NONE},
    "/v1/responses/{id}/input_items": {"GET": NONE},
    "/v1/models": {"GET": NONE},
    # Model ids may hold slashes (meta-llama/Llama-3.3-70B-Instruct).
    "/v1/models/{model:.+}": {"GET": NONE, "DELETE": NONE},
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The endpoints of other client formats and the realtime websocket: their modules (~0.4 MB
#: together) are imported by their first request (``on_first_use.py``), as most gateways serve
#: neither.
REALTIME_PATH = "/v1/realtime"
_REALTIME = "gateway.api.realtime:realtime"
_MESSAGES = "gateway.formats.anthropic_messages:AnthropicMessages"
_RESPONSES = "gateway.formats.responses:ResponsesFormat"


def add_routes(router: web.UrlDispatcher, *, metrics: bool = True, console: bool = False) -> None:
    """The whole table; ``metrics``: ``GET /metrics``, ``console``: ``/console`` and its feed (off,
    they are 404s)."""
    router.add_get("/", root)
    router.add_get("/healthz", healthz)
    router.add_get("/readyz", readyz)
    if metrics:
        router.add_get("/metrics", metrics_endpoint)
    if console:
        add_console_routes(router)
    add_admin_routes(router)
    # Under /v1, so before the pass-through, and on "*": another method is a 405 here rather than
    # a request forwarded to a provider.
    router.add_route("*", "/v1/health/targets", functools.partial(_own, ("GET", "HEAD"), health_targets))
    realtime = _on_first_call(lambda: load(_REALTIME))
    router.add_route("*", REALTIME_PATH, functools.partial(_own, ("GET",), realtime))
    router.add_route("*", "/v1/messages", _in_format(_inbound, _MESSAGES, "messages"))
    router.add_route("*", "/v1/responses", _in_format(_inbound, _RESPONSES, "responses"))
    router.add_route(
        "*", "/v1/messages/count_tokens", _in_format(_count_tokens, _MESSAGES, "messages/count_tokens")
    )
    for path, methods in ENDPOINTS.items():
        family = path.split("/")[2]
        router.add_route("*", path, functools.partial(_endpoint, methods, family))
    router.add_route("*", "/v1/{tail:.*}", proxy)


def _on_first_call(build: Callable[[], Handler]) -> Handler:
    """A handler that builds the real one (``build``, which imports its modules) at its first
    request and hands it every request: aiohttp's router takes a handler per route at start-up."""
    built: Handler | None = None

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal built
        if built is None:
            built = build()
        return await built(request)

    return handler


InFormat = Callable[[InboundFormat, str, web.Request], Awaitable[web.StreamResponse]]


def _in_format(handler: InFormat, format_ref: str, endpoint: str) -> Handler:
    """``handler`` for ``endpoint`` of the format ``format_ref`` names, imported on first call."""
    return _on_first_call(lambda: functools.partial(handler, load(format_ref)(), endpoint))


async def _endpoint(
    methods: dict[str, BodyKind | None], family: str, request: web.Request
) -> web.StreamResponse:
    _check_method(request, methods)
    return await proxy(request, methods[request.method], family)


async def _inbound(format: InboundFormat, endpoint: str, request: web.Request) -> web.StreamResponse:
    """An endpoint of another client format: as is to targets that speak it, through the chat
    form to the others (``api/inbound.py``)."""
    inbound = request[INBOUND] = Inbound(format, endpoint=endpoint)
    _check_method(request, ("POST",))
    return reformatted(await proxy(request, JSON, CHAT), inbound)


async def _count_tokens(format: InboundFormat, endpoint: str, request: web.Request) -> web.StreamResponse:
    """Token counting has no chat-form equivalent: only targets that speak the format natively
    serve it; others are a 400 in the format's shape (``api/inbound.py``)."""
    inbound = request[INBOUND] = Inbound(format, endpoint=endpoint, native_only=True)
    _check_method(request, ("POST",))
    return reformatted(await proxy(request, JSON, CHAT), inbound)


async def _own(methods: tuple[str, ...], handler: Handler, request: web.Request) -> web.StreamResponse:
    """A gateway endpoint under /v1: only ``methods`` reach ``handler``."""
    _check_method(request, methods)
    return await handler(request)


def _check_method(request: web.Request, methods: Collection[str]) -> None:
    if request.method not in methods:
        allowed = ", ".join(methods)
        raise MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; allowed: {allowed}.",
            headers={"Allow": allowed},
        )
