"""Whether the gateway traces, and where to, from the standard OTEL_* variables (pure decision)."""

from __future__ import annotations

import logging

import pytest

from gateway.observability.otel import traces_destination


@pytest.mark.parametrize(
    ("env", "destination"),
    [
        ({}, None),
        ({"OTEL_SERVICE_NAME": "gw"}, None),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "http://localhost:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:2/t",
            },
            "http://b:2/t",
        ),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1"}, None),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, None),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, "http://localhost:4318/v1/traces"),
    ],
)
def test_traces_are_on_only_when_the_variables_ask(env: dict[str, str], destination: str | None) -> None:
    assert traces_destination(env) == destination


def test_the_destination_shown_has_no_credentials() -> None:
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://user:s3cret@collector:4318/v1/traces?token=s3cret"}
    assert traces_destination(env) == "https://collector:4318/v1/traces"


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_an_exporter_the_gateway_lacks_is_a_warning_and_no_traces(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.traces"):
        assert traces_destination(env) is None
    [warning] = caplog.records
    assert "traces are off" in warning.getMessage()
