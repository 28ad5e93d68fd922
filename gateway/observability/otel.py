"""Whether to trace, decided from the standard ``OTEL_*`` variables without importing OpenTelemetry.

Traces are on only when the ``otel`` extra is installed AND the variables ask for them
(``OTEL_TRACES_EXPORTER=otlp``, or an OTLP endpoint). Otherwise nothing of OpenTelemetry is
imported, and no request pays for it: the server-span middleware, the attempt stage and the sink
(``observability/spans.py``) are simply not installed. The SDK reads the other variables itself
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from yarl import URL

if TYPE_CHECKING:
    from gateway.observability.spans import Tracing

__all__ = [
    "traces_destination",
    "tracing_from_env",
]

logger = logging.getLogger("gateway.traces")

#: What the OTLP/HTTP exporter sends to when no variable names an endpoint (the spec's default).
_DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
_INSTALL = "pip install 'ai-gateway[otel]'"


def tracing_from_env(env: Mapping[str, str]) -> Tracing | None:
    """The process's tracing when ``env`` asks for it and the extra is installed, else ``None``
    (one WARNING when it is asked for but cannot run). Logs one INFO line saying where traces go."""
    destination = traces_destination(env)
    if destination is None:
        return None
    try:
        # Imported here only: with traces off, OpenTelemetry is never loaded.
        from gateway.observability.spans import Tracing
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        logger.warning(
            "OTEL_* variables ask for traces but OpenTelemetry is not installed: traces are off "
            "(install the extra: %s)",
            _INSTALL,
        )
        return None
    tracing = Tracing.start()
    logger.info("traces: OTLP/HTTP to %s, service %s", destination, tracing.service_name)
    return tracing


def traces_destination(env: Mapping[str, str]) -> str | None:
    """Where traces go (the endpoint, without any credential in its URL), or ``None`` when
    ``env`` does not ask for them or asks for something this gateway cannot do (logged)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = {name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",")} - {""}
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not exporters and not (traces_endpoint or endpoint):
        return None
    if exporters and "otlp" not in exporters:
        if exporters != {"none"}:
            logger.warning("OTEL_TRACES_EXPORTER: this gateway exports traces with otlp only: traces are off")
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "http/protobuf"):
        logger.warning("OTEL_EXPORTER_OTLP_PROTOCOL: this gateway sends http/protobuf only: traces are off")
        return None
    if traces_endpoint:
        return _shown(traces_endpoint)
    return _shown(f"{endpoint.rstrip('/')}/v1/traces") if endpoint else _DEFAULT_ENDPOINT


def _shown(endpoint: str) -> str:
    """``endpoint`` as it may be logged: no user, password or query (a token may hide there)."""
    try:
        return str(URL(endpoint).with_user(None).with_query(None).with_fragment(None))
    except ValueError:  # not an absolute URL (the exporter will say so too)
        return "(an endpoint that is not a URL)"
