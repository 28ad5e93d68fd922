"""OpenTelemetry traces: a SERVER span per request, a CLIENT span per upstream attempt.

Imported only when traces are on (``observability/otel.py`` decides): this module needs the ``otel``
extra. :class:`Tracing` plugs into the app in three places, all chosen once in ``create_app``:

- its middleware (outside the error middleware, so it sees the final status) opens the request's
  SERVER span, a child of the caller's W3C ``traceparent`` when there is one;
- as an attempt stage (``api/stages.py``) it opens each attempt's CLIENT span, a child of that
  SERVER span, and puts the CLIENT span's context in the upstream request's ``traceparent`` (and
  ``tracestate``);
- as a sink of the recorder it ends the CLIENT span off the request path, once the usage is decoded,
  with the tokens on it and the time the attempt really ended.

Spans carry the route, statuses, provider, model, target and tokens, never a header, a body or a
URL's credentials. Export is batched (``BatchSpanProcessor``): no request waits for the collector.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from yarl import URL

from gateway.appkeys import TRACE_ID
from gateway.observability.record import RequestRecord

if TYPE_CHECKING:
    from gateway.routing.attempts import Attempt, RequestContext

__all__ = [
    "Tracing",
]

_SERVICE = "ai-gateway"
#: The GenAI conventions' operation names, by endpoint family (others keep the family's name).
_OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
#: The GenAI conventions' provider names where they differ from the gateway's slug.
_SYSTEMS = {
    "azure-openai": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "google": "gcp.gemini",
    "vertex-ai": "gcp.vertex_ai",
    "mistral-ai": "mistral_ai",
    "x-ai": "x_ai",
}
#: Outcomes that are failures of the attempt itself (the status says the rest).
_FAILED = frozenset({"upstream_error", "invalid_request", "internal_error", "shutdown"})
# The last "model" string in the answer's last bytes: what the provider says it ran.
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')


@dataclass(slots=True)
class _OpenSpan:
    """A CLIENT span waiting for its record to be completed (``RequestRecord.span``)."""

    span: Span
    #: The request's arrival on the wall clock (ns): with the record's ``duration_ms``, the
    #: attempt's end, whenever the sink gets to it.
    request_started_ns: int


class Tracing:
    """The process's tracer provider, and the middleware, attempt stage and sink that use it."""

    def __init__(self, provider: TracerProvider, service_name: str) -> None:
        self.service_name = service_name
        self._provider = provider
        self._tracer = provider.get_tracer("gateway")
        # W3C Trace Context whatever OTEL_PROPAGATORS says: no caller baggage goes to providers.
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def start(cls) -> Tracing:
        """A provider exporting through OTLP/HTTP in batches, as the ``OTEL_*`` variables say."""
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: _SERVICE}))
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, str(resource.attributes[SERVICE_NAME]))

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """``cleanup_ctx``: at shutdown, export what is left (after the recorder's last records)."""
        yield
        # Blocking (up to the exporter's timeout): off the loop, which may still serve a drain.
        await asyncio.to_thread(self._provider.shutdown)

    def middleware(self) -> Middleware:
        """The middleware that wraps each API request (under ``/v1/``) in its SERVER span."""

        @web.middleware
        async def server_span(request: web.Request, handler: Handler) -> web.StreamResponse:
            # The API only: probes (/healthz, /readyz every few seconds), /metrics and the console
            # would bury the requests' traces under their own.
            if not request.path.startswith("/v1/"):
                return await handler(request)
            return await self._serve(request, handler)

        return server_span

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        parent = self._propagator.extract(request.headers)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else ""
        attributes = {"http.request.method": request.method, "http.route": route}
        name = f"{request.method} {route}" if route else request.method
        with self._tracer.start_as_current_span(
            name, parent, SpanKind.SERVER, attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                response = await handler(request)
            except asyncio.CancelledError:
                span.set_attribute("error.type", "client_closed")
                raise
            finally:
                # The caller's own id for this request (x-portkey-trace-id), to find the trace by it.
                if (portkey_id := request.get(TRACE_ID)) is not None:
                    span.set_attribute("portkey.trace_id", portkey_id)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(StatusCode.ERROR)
                span.set_attribute("error.type", str(response.status))
            return response

    def started(
        self,
        context: RequestContext,
        attempt: Attempt,
        record: RequestRecord,
        url: URL,
        headers: CIMultiDict[str],
    ) -> None:
        """Attempt stage: open the attempt's CLIENT span and send its context upstream."""
        operation = _OPERATIONS.get(record.family, record.family)
        system = _SYSTEMS.get(record.provider, record.provider)
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "http.request.method": record.method,
            "server.address": url.host or "",
            "gateway.attempt.role": _role(context, attempt),
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        if record.model:
            attributes["gen_ai.request.model"] = record.model
        if record.target:
            attributes["gateway.target"] = record.target
        name = f"{operation} {record.model}" if record.model else operation
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        self._propagator.inject(headers, set_span_in_context(span))
        since_arrival = time.perf_counter() - context.started
        record.span = _OpenSpan(span, time.time_ns() - int(since_arrival * 1e9))

    def write(self, record: RequestRecord) -> None:
        """Sink: end the record's CLIENT span, with what only the completed record knows."""
        if not isinstance(open_span := record.span, _OpenSpan):
            return  # not an attempt (a refusal before any), or traced before tracing was on
        span = open_span.span
        if record.status:
            span.set_attribute("http.response.status_code", record.status)
        span.set_attribute("gateway.outcome", record.outcome)
        if record.input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", record.input_tokens)
        if record.output_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", record.output_tokens)
        if models := _MODEL.findall(record.tail):
            span.set_attribute("gen_ai.response.model", models[-1].decode(errors="replace"))
        if record.outcome in _FAILED or record.status >= 400:
            span.set_status(StatusCode.ERROR)
            span.set_attribute("error.type", str(record.status) if record.status else record.outcome)
        span.end(open_span.request_started_ns + int(record.duration_ms * 1e6))


def _role(context: RequestContext, attempt: Attempt) -> str:
    """Why this attempt: ``first``, a ``retry`` of the same target, a ``fallback`` to a later
    one, or a ``hedge`` (racing another target)."""
    if attempt.chances.retry_number:
        return "retry"
    if attempt.gate is not None:
        return "hedge"
    return "first" if attempt.target is context.targets[0] else "fallback"
