"""OpenTelemetry traces through the wire: the gateway runs as users run it (a subprocess, configured
with the standard ``OTEL_*`` variables) and exports OTLP/HTTP to a local receiver, which decodes
what it gets with opentelemetry-proto. The providers are fakes that record what reached them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.fake_provider import FakeProvider, Received
from tests.functional.gateway_process import GatewayProcess, eventually, free_port, gateway_env, start_gateway

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SECRET = "sk-marker-secret-0000"
PROMPT = "prompt-marker-do-not-export"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
}


@dataclass
class Receiver:
    """A local OTLP/HTTP trace receiver: every POST /v1/traces, raw and decoded."""

    port: int = 0
    bodies: list[bytes] = field(default_factory=list)
    spans: list[tuple[dict[str, Any], Span]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((resource, span) for span in scope_spans.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    def of_kind(self, kind: int) -> list[Span]:
        return [span for _, span in self.spans if span.kind == kind]


def attributes(values: Iterator[KeyValue] | Any) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for item in values:
        value = item.value
        decoded[item.key] = getattr(value, value.WhichOneof("value"))
    return decoded


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.handle)
    server = await aiohttp_server(app)
    receiver.port = server.port
    return receiver


def otel_env(**variables: str) -> dict[str, str]:
    """The environment without any ``GATEWAY_*`` or ``OTEL_*`` variable, plus ``variables``."""
    env = {name: value for name, value in gateway_env().items() if not name.startswith("OTEL_")}
    return {**env, **variables}


@pytest.fixture
async def traced(tmp_path: Path, receiver: Receiver) -> AsyncIterator[GatewayProcess]:
    """A gateway exporting its traces to ``receiver`` (batches sent every 50 ms)."""
    env = otel_env(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="50",
        OTEL_SERVICE_NAME="gateway-under-test",
    )
    gateway = start_gateway(tmp_path, env=env, port=free_port())
    try:
        await gateway.wait_ready()
        yield gateway
    finally:
        gateway.kill()


def program_answers(fake: FakeProvider, status: int = 200) -> None:
    async def answer(request: web.Request, received: Received) -> web.StreamResponse:
        if status != 200:
            return web.json_response({"error": {"message": "down", "type": "server_error"}}, status=status)
        return web.json_response(ANSWER)

    fake.on("POST", "/v1/chat/completions", answer)


def sdk(gateway: GatewayProcess, headers: dict[str, str]) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=SECRET, base_url=f"{gateway.url}/v1", max_retries=0, default_headers=headers)


async def test_chat_spans_continue_the_callers_trace_and_reach_the_provider(
    traced: GatewayProcess, receiver: Receiver, fake: FakeProvider
) -> None:
    program_answers(fake)
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01",
        "x-portkey-trace-id": "caller-trace-7",
    }
    async with sdk(traced, headers) as client:
        answer = await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert answer.usage.prompt_tokens == 11

    await eventually(lambda: receiver.of_kind(Span.SPAN_KIND_CLIENT), 10, "the client span")
    await eventually(lambda: receiver.of_kind(Span.SPAN_KIND_SERVER), 10, "the server span")
    [server] = receiver.of_kind(Span.SPAN_KIND_SERVER)
    [client_span] = receiver.of_kind(Span.SPAN_KIND_CLIENT)
    assert server.trace_id.hex() == TRACE
    assert server.parent_span_id.hex() == CALLER_SPAN
    assert server.name == "POST /v1/chat/completions"
    server_attributes = attributes(server.attributes)
    assert server_attributes["http.response.status_code"] == 200
    assert server_attributes["http.route"] == "/v1/chat/completions"
    assert server_attributes["portkey.trace_id"] == "caller-trace-7"

    assert client_span.trace_id.hex() == TRACE
    assert client_span.parent_span_id == server.span_id
    assert client_span.name == "chat gpt-4o-mini"
    assert attributes(client_span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gateway.attempt.role": "first",
        "gateway.outcome": "ok",
    }
    assert server.start_time_unix_nano <= client_span.start_time_unix_nano
    assert client_span.end_time_unix_nano <= server.end_time_unix_nano
    # The provider got the client span's context, not the caller's.
    assert fake.last.headers["traceparent"] == f"00-{TRACE}-{client_span.span_id.hex()}-01"
    resource, _ = receiver.spans[0]
    assert resource["service.name"] == "gateway-under-test"
    assert f"traces: OTLP/HTTP to {receiver.endpoint}, service gateway-under-test" in traced.stderr
    exported = b"".join(receiver.bodies)
    assert SECRET.encode() not in exported
    assert PROMPT.encode() not in exported


async def test_a_fallback_exports_one_client_span_per_attempt(
    traced: GatewayProcess, receiver: Receiver, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    program_answers(fake, status=503)
    program_answers(fake_b)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": SECRET, "custom_host": fake.base_url},
            {"provider": "openai", "api_key": SECRET, "custom_host": fake_b.base_url},
        ],
    }
    async with sdk(traced, {"x-portkey-config": orjson.dumps(config).decode()}) as client:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]

    await eventually(lambda: len(receiver.of_kind(Span.SPAN_KIND_CLIENT)) == 2, 10, "two client spans")
    await eventually(lambda: receiver.of_kind(Span.SPAN_KIND_SERVER), 10, "the server span")
    [server] = receiver.of_kind(Span.SPAN_KIND_SERVER)
    first, second = sorted(
        receiver.of_kind(Span.SPAN_KIND_CLIENT), key=lambda span: span.start_time_unix_nano
    )
    assert {first.parent_span_id, second.parent_span_id} == {server.span_id}
    first_attributes, second_attributes = attributes(first.attributes), attributes(second.attributes)
    assert first_attributes["gateway.attempt.role"] == "first"
    assert first_attributes["gateway.target"] == "config.targets[0]"
    assert first_attributes["http.response.status_code"] == 503
    assert first_attributes["gateway.outcome"] == "fell_back"
    assert first.status.code == first.status.STATUS_CODE_ERROR
    assert "gen_ai.usage.input_tokens" not in first_attributes
    assert second_attributes["gateway.attempt.role"] == "fallback"
    assert second_attributes["gateway.target"] == "config.targets[1]"
    assert second_attributes["gen_ai.usage.output_tokens"] == 7
    assert second.status.code == second.status.STATUS_CODE_UNSET
    # Each provider saw its own attempt's span as the parent.
    assert fake.last.headers["traceparent"].split("-")[2] == first.span_id.hex()
    assert fake_b.last.headers["traceparent"].split("-")[2] == second.span_id.hex()
    assert SECRET.encode() not in b"".join(receiver.bodies)


@pytest.mark.parametrize("off", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}])
async def test_traces_switched_off_export_nothing_and_send_no_traceparent(
    tmp_path: Path, receiver: Receiver, fake: FakeProvider, off: dict[str, str]
) -> None:
    program_answers(fake)
    env = otel_env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="50", **off)
    gateway = start_gateway(tmp_path, env=env, port=free_port())
    try:
        await gateway.wait_ready()
        headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
        async with sdk(gateway, headers) as client:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        gateway.signal(2)  # SIGINT: a clean stop, which would flush any pending export
        assert await gateway.wait_exit() == 0
    finally:
        gateway.kill()
    assert receiver.bodies == []
    assert "traceparent" not in fake.last.headers
    assert "traces:" not in gateway.stderr


# Builds the app and serves two requests through it, then prints the OpenTelemetry modules loaded.
_LOADED = """
import asyncio, sys
from aiohttp.test_utils import TestClient, TestServer
from gateway.app import create_app

async def main():
    async with TestClient(TestServer(create_app())) as client:
        await (await client.get("/healthz")).read()
        await (await client.post("/v1/chat/completions", json={"model": "m", "messages": []})).read()

asyncio.run(main())
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""


def test_without_otel_variables_opentelemetry_is_never_imported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED],
        env=otel_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_asked_for_traces_without_the_extra_warns_how_to_install_it(receiver: Receiver) -> None:
    # OpenTelemetry made unimportable, as where the extra is not installed.
    script = "import sys; sys.modules['opentelemetry'] = None\n" + _LOADED
    env = otel_env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['opentelemetry']"  # the None placed above, nothing more
    warnings = [line for line in result.stderr.splitlines() if "OpenTelemetry is not installed" in line]
    assert len(warnings) == 1
    assert "pip install 'ai-gateway[otel]'" in warnings[0]
