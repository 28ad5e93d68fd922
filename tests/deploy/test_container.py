"""deploy/Dockerfile as an operator uses it: built, started read-only, called, health-checked, stopped.

The image is built once for the module (about a minute, two on a machine that builds the Debian base
first; see tests/deploy/container.py). Podman runs rootful containers here, so these tests need root,
as CI has; elsewhere they are reported as not run, with that reason.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from tests.deploy.container import (
    DOCKERFILE,
    IMAGE,
    Container,
    build_base_image,
    build_gateway_image,
    is_root,
    podman,
    run_in_image,
)
from tests.fake_provider import FakeProvider, Received, sse
from tests.functional.gateway_process import free_port

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(not is_root(), reason="rootful podman needs root (CI runs as root)"),
]

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
EVENTS = [
    orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": str(i)}}]}) for i in range(8)
]
#: Seconds between the fake's events: the whole stream (3.2 s) outlasts the drain delay (1.5 s).
GAP = 0.4


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    build_base_image(tmp_path_factory.mktemp("base"))
    build_gateway_image()
    return IMAGE


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


@pytest.fixture
async def gateway_in_container(
    image: str, fake: FakeProvider, tmp_path: Path, containers: list[Container]
) -> tuple[Container, str]:
    """The image on a free port, its openai provider pointed at the fake by a mounted settings file,
    with a short drain delay so a stop is quick to watch."""
    settings = tmp_path / "gateway.toml"
    settings.write_text(f'[providers.openai]\nbase_url = "{fake.base_url}"\napi_key = "sk-operator"\n')
    port = free_port()
    container = await Container.start(
        f"gateway-test-{port}",
        f"--volume={settings}:/etc/gateway/gateway.toml:ro",
        "--env=GATEWAY_CONFIG=/etc/gateway/gateway.toml",
        f"--env=GATEWAY_PORT={port}",
        "--env=GATEWAY_DRAIN_DELAY=1.5",
    )
    containers.append(container)
    url = f"http://127.0.0.1:{port}"
    await wait_for_health(url)
    return container, url


async def wait_for_health(url: str) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


def stream_chat(session: aiohttp.ClientSession, url: str) -> aiohttp.client._RequestContextManager:
    """A streamed chat request to the gateway at ``url`` (its openai provider is the fake)."""
    return session.post(
        f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers={"x-portkey-provider": "openai"}
    )


async def readyz_turns_503(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether /readyz answers 503 within a second of the stop (the drain delay is 1.5 s)."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        async with session.get(f"{url}/readyz") as ready:
            if ready.status == 503:
                return True
        await asyncio.sleep(0.05)
    return False


def paced_stream(gap: float) -> object:
    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in EVENTS:
            await response.write(b"data: " + event + b"\n\n")
            await asyncio.sleep(gap)
        await response.write(b"data: [DONE]\n\n")
        return response

    return respond


def test_the_image_runs_as_its_own_user_with_a_health_check_and_the_drain_signal(image: str) -> None:
    inspected = orjson.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["StopSignal"] == "SIGTERM"
    assert config["Entrypoint"] == ["gateway"]
    assert "/healthz" in " ".join(inspected["Healthcheck"]["Test"])
    assert "GATEWAY_HOST=0.0.0.0" in config["Env"]
    # Multi-stage: the runtime has the venv, not the tools that built it.
    listing = run_in_image("ls", "/opt/gateway/bin").split()
    assert "gateway" in listing
    assert not {"pip", "pip3"} & set(listing)


async def test_the_image_answers_chat_and_streams_read_only_with_its_c_extensions(
    gateway_in_container: tuple[Container, str], fake: FakeProvider
) -> None:
    container, url = gateway_in_container
    fake.on("POST", "/v1/chat/completions", paced_stream(GAP))
    assert await container.healthcheck() == 0
    assert (await container.exec("id", "-u")).strip() == "10001"

    started = time.monotonic()
    arrivals: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        stream_chat(session, url) as response,
    ):
        assert response.status == 200
        async for _ in response.content.iter_any():
            arrivals.append(time.monotonic() - started)
    # Chunk by chunk through the image: the last event came about 7 gaps after the first.
    assert len(arrivals) >= len(EVENTS)
    assert arrivals[-1] - arrivals[0] > GAP * (len(EVENTS) - 2)
    assert fake.last.headers["Authorization"] == "Bearer sk-operator"

    logs = await container.logs()
    assert "listening on http://0.0.0.0:" in logs
    assert "without its C extension" not in logs
    assert "sk-operator" not in logs


async def test_the_openai_sdk_reaches_the_provider_through_the_image(
    gateway_in_container: tuple[Container, str], fake: FakeProvider
) -> None:
    _, url = gateway_in_container
    fake.on(
        "POST",
        "/v1/chat/completions",
        lambda request, received: _completion("from the container"),
    )
    async with AsyncOpenAI(
        base_url=f"{url}/v1", api_key="unused", default_headers={"x-portkey-provider": "openai"}
    ) as client:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "from the container"


async def _completion(text: str) -> web.Response:
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }
    )


async def test_podman_stop_drains_an_in_flight_stream_then_the_container_exits_0(
    gateway_in_container: tuple[Container, str], fake: FakeProvider
) -> None:
    container, url = gateway_in_container
    fake.on("POST", "/v1/chat/completions", paced_stream(GAP))
    async with (
        aiohttp.ClientSession() as session,
        stream_chat(session, url) as response,
    ):
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
        stopping = asyncio.create_task(container.stop(grace=40))
        assert await readyz_turns_503(session, url)
        rest = await asyncio.wait_for(response.content.read(), 20)
        await stopping
    body = first + rest
    assert body == sse(*EVENTS)
    assert await container.exit_code() == 0
    assert "draining" in await container.logs()


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
