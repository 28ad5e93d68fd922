"""``python -m gateway`` as users run it: a subprocess on a real port, the fake provider in this process.

Covers start-up, proxying, graceful drain on SIGTERM, ``--workers``, and how settings reach the
process (flags, ``GATEWAY_*``, ``--config``) including the errors that stop it from starting.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from gateway.config.settings import ServerSettings
from tests.fake_provider import FakeProvider, Received, Responder
from tests.functional.gateway_process import (
    GatewayProcess,
    KeepAliveConnection,
    eventually,
    free_port,
    gateway_env,
    is_alive,
    listening_pids,
    start_gateway,
    worker_pids,
)

Spawn = Callable[..., GatewayProcess]

#: Events of the fake's slow stream; the gateway must deliver every one, then [DONE].
EVENTS = [b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"%d"}}]}\n\n' % i for i in range(8)]
STREAM_BODY = b"".join(EVENTS) + b"data: [DONE]\n\n"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start gateways with ``spawn(*args, env=..., port=...)``; all are killed at teardown.

    ``port`` is where the gateway will listen; ``port_flag=False`` leaves it to the environment or
    the settings file instead of ``--port``.
    """
    started: list[GatewayProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, port: int = 0, port_flag: bool = True
    ) -> GatewayProcess:
        process = start_gateway(tmp_path, *args, env=env, port=port, port_flag=port_flag)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def upstream(fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": fake.base_url,
        "Authorization": "Bearer sk-t",
    }


def slow_stream(release: asyncio.Event) -> Responder:
    """The fake's answer: the first event, then (once ``release`` is set) the rest, paced over ~1 s."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(EVENTS[0])
        await asyncio.wait_for(release.wait(), timeout=30)
        for event in EVENTS[1:]:
            await asyncio.sleep(0.15)
            await response.write(event)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return respond


async def endless_stream(request: web.Request, received: Received) -> web.StreamResponse:
    """The fake's answer: an event every 0.2 s that never ends (for 60 s at most)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for _ in range(300):
        await response.write(EVENTS[0])
        await asyncio.sleep(0.2)
    await response.write_eof()
    return response


async def readyz_is(connection: KeepAliveConnection, status: int) -> bool:
    return await connection.get("/readyz") == status


async def refused(port: int) -> bool:
    """True once new connections are refused; until then each one must hear 503 (or be closed)."""
    try:
        connection = await KeepAliveConnection.open(port)
    except ConnectionRefusedError:
        return True
    try:
        status = await connection.get("/readyz")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False  # accepted just before the listener closed, then closed by the drain
    finally:
        await connection.close()
    assert status == 503, "a draining gateway said it was ready"
    return False


async def test_gateway_starts_and_answers_liveness_and_readiness(spawn: Spawn) -> None:
    gateway = spawn(port=free_port())
    await gateway.wait_ready()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{gateway.url}/") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            assert await response.text() == "AI Gateway says hey!"
        async with session.get(f"{gateway.url}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
        async with session.get(f"{gateway.url}/readyz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ready"}


def listening_sockets(port: int) -> int:
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == f"0100007F:{port:04X}" and line.split()[3] == "0A")


@pytest.mark.parametrize(("env", "sockets"), [({}, 8), ({"GATEWAY_LISTEN_SOCKETS": "2"}, 2)])
async def test_the_process_listens_on_several_sockets_and_each_serves(
    spawn: Spawn, env: dict[str, str], sockets: int
) -> None:
    # uvloop takes one new connection per socket per turn of its loop: several sockets keep new
    # connections from queueing in the kernel behind a busy loop.
    gateway = spawn(port=free_port(), env=env)
    await gateway.wait_ready()
    assert listening_sockets(gateway.port) == sockets
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection each, spread by the kernel
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(4 * sockets):
            async with session.get(f"{gateway.url}/healthz") as response:
                assert response.status == 200


@pytest.mark.parametrize(("host", "url_host"), [("::1", "[::1]"), ("localhost", "localhost")])
async def test_the_gateway_listens_on_the_address_or_name_given_as_host(
    spawn: Spawn, host: str, url_host: str
) -> None:
    # An address is bound by the gateway itself, a name resolved by aiohttp: both serve.
    gateway = spawn("--host", host, port=free_port())
    url = f"http://{url_host}:{gateway.port}/healthz"

    async def answers() -> bool:
        if gateway.popen.poll() is not None:
            raise AssertionError(f"gateway exited with {gateway.popen.returncode}:\n{gateway.stderr}")
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    await eventually(answers, 30.0, f"the gateway on {url}")


async def chat_completion(request: web.Request, received: Received) -> web.StreamResponse:
    message = {"role": "assistant", "content": "hello from the fake"}
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


async def test_gateway_process_proxies_a_chat_completion(spawn: Spawn, fake: FakeProvider) -> None:
    fake.on("POST", "/v1/chat/completions", chat_completion)
    gateway = spawn(port=free_port())
    await gateway.wait_ready()
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    async with AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key="sk-subprocess", default_headers=headers, max_retries=0
    ) as sdk:
        completion = await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "hello from the fake"
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer sk-subprocess"
    assert fake.last.json() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_sigterm_drains_an_in_flight_stream_then_exits_cleanly(
    spawn: Spawn, fake: FakeProvider
) -> None:
    release = asyncio.Event()
    fake.on("POST", "/v1/chat/completions", slow_stream(release))
    gateway = spawn(port=free_port(), env=gateway_env(GATEWAY_DRAIN_DELAY="1"))
    await gateway.wait_ready()
    probe = await KeepAliveConnection.open(gateway.port)
    try:
        assert await probe.get("/readyz") == 200
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=upstream(fake)) as response,
        ):
            assert response.status == 200
            first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
            assert first == EVENTS[0]

            gateway.signal(signal.SIGTERM)
            # The load balancer's view: the connection it already holds now says "not ready".
            await eventually(lambda: readyz_is(probe, 503), 10, "/readyz 503 on the open connection")
            await eventually(lambda: refused(gateway.port), 15, "new connections to be refused")

            # Only now may the upstream finish: the stream was in flight through all of the above.
            release.set()
            rest = await asyncio.wait_for(response.content.read(), 15)
    finally:
        await probe.close()
    assert first + rest == STREAM_BODY
    assert await gateway.wait_exit() == 0, gateway.stderr


async def test_draining_closes_kept_alive_connections_so_pools_move_elsewhere(spawn: Spawn) -> None:
    gateway = spawn(port=free_port(), env=gateway_env(GATEWAY_DRAIN_DELAY="2"))
    await gateway.wait_ready()
    used = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        assert b"connection: close" not in (await raw_get(*used, "/healthz")).lower()
        probe = await KeepAliveConnection.open(gateway.port)
        gateway.signal(signal.SIGTERM)
        await eventually(lambda: readyz_is(probe, 503), 5, "the drain to start")
        await probe.close()
        # A request on a kept-alive connection during the drain delay is answered, and told that
        # the connection ends; then it does.
        head = await raw_get(*used, "/healthz")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"\r\nconnection: close\r\n" in head.lower()
        assert await asyncio.wait_for(used[0].read(), 5) == b""
    finally:
        used[1].close()
    assert await gateway.wait_exit() == 0, gateway.stderr


async def raw_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    """``GET path`` on a raw HTTP/1.1 connection: the response head (the small body is read too)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    await asyncio.wait_for(reader.readexactly(length), 10)
    return head


async def test_stream_still_running_past_the_drain_timeout_is_cut_and_the_process_exits(
    spawn: Spawn, fake: FakeProvider
) -> None:
    fake.on("POST", "/v1/chat/completions", endless_stream)
    gateway = spawn("--drain-timeout", "1", port=free_port())
    await gateway.wait_ready()
    received: list[bytes] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=upstream(fake)) as response,
    ):
        assert response.status == 200
        received.append(await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10))
        gateway.signal(signal.SIGTERM)

        async def read_to_the_end() -> None:
            async for chunk in response.content.iter_any():
                received.append(chunk)

        await asyncio.wait_for(read_to_the_end(), 20)
    body = b"".join(received)
    assert received[0] == EVENTS[0]
    # A cut stream must not look complete: it ends with an error event, never [DONE].
    assert b"[DONE]" not in body
    last_event = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    assert last_event.startswith(b"data: ")
    error = json.loads(last_event[len(b"data: ") :])["error"]
    assert error["code"] == "service_unavailable"
    assert "shut down" in error["message"]
    assert await gateway.wait_exit(within=20) == 0, gateway.stderr
    # The upstream request was cancelled with it, not left running.
    await asyncio.wait_for(fake.last.disconnected.wait(), 10)


async def workers_listening(supervisor: GatewayProcess, count: int, sockets: int = 1) -> set[int]:
    """The supervisor's workers once there are ``count`` and each holds ``sockets`` listening sockets
    on the port."""

    def check() -> set[int] | None:
        workers = worker_pids(supervisor.pid)
        ready = len(workers) == count and listening_pids(supervisor.port, workers, sockets) == workers
        return workers if ready else None

    found: set[int] = await eventually(check, 30, f"{count} workers listening on port {supervisor.port}")
    return found


async def test_workers_share_the_port_and_a_killed_worker_is_replaced(spawn: Spawn) -> None:
    # A worker that dies young is taken for a crash loop and not restarted: here none is too young.
    env = gateway_env(GATEWAY_MIN_WORKER_UPTIME="0")
    supervisor = spawn("--workers", "2", env=env, port=free_port())
    await supervisor.wait_ready()
    # Every worker fully started (all its SO_REUSEPORT sockets open) before one is killed.
    workers = await workers_listening(supervisor, 2, sockets=ServerSettings().listen_sockets)

    victim, survivor = sorted(workers)
    os.kill(victim, signal.SIGKILL)
    await eventually(lambda: not is_alive(victim), 10, "the killed worker to be gone")
    for _ in range(20):  # new connections all land on a live worker
        assert await supervisor.readyz() == 200, supervisor.stderr
    replaced = await workers_listening(supervisor, 2)
    assert survivor in replaced
    assert victim not in replaced
    assert supervisor.popen.poll() is None

    supervisor.signal(signal.SIGTERM)
    assert await supervisor.wait_exit() == 0, supervisor.stderr
    assert not any(is_alive(pid) for pid in replaced)
    assert await supervisor.readyz() is None


#: The example settings file the README points new users to.
EXAMPLE_SETTINGS = Path(__file__).resolve().parents[2] / "deploy" / "gateway.toml"


async def test_the_example_settings_file_starts_as_it_is(spawn: Spawn) -> None:
    # deploy/gateway.toml is what the README points new users to: no variable needs to be set.
    example = EXAMPLE_SETTINGS
    env = {name: value for name, value in gateway_env().items() if not name.endswith("_API_KEY")}
    gateway = spawn("--config", str(example), env=env, port=free_port())
    await gateway.wait_ready()
    assert await gateway.readyz() == 200


async def test_gateway_port_environment_variable_sets_the_port(spawn: Spawn) -> None:
    port = free_port()
    gateway = spawn(env=gateway_env(GATEWAY_PORT=str(port)), port=port, port_flag=False)
    await gateway.wait_ready()


async def test_port_flag_beats_the_environment(spawn: Spawn) -> None:
    env_port, flag_port = free_port(), free_port()
    gateway = spawn(env=gateway_env(GATEWAY_PORT=str(env_port)), port=flag_port)
    await gateway.wait_ready()
    with pytest.raises(ConnectionRefusedError):
        await KeepAliveConnection.open(env_port)


async def test_config_file_sets_values_with_environment_references(
    spawn: Spawn, fake: FakeProvider, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
        [server]
        port = {port}

        [providers.openai]
        api_key = "${{TEST_OPENAI_KEY}}"
        base_url = "${{TEST_FAKE_URL}}"
        """,
        encoding="utf-8",
    )
    env = gateway_env(TEST_OPENAI_KEY="sk-from-the-environment", TEST_FAKE_URL=fake.base_url)
    gateway = spawn("--config", str(config), env=env, port=port, port_flag=False)
    await gateway.wait_ready()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway.url}/v1/chat/completions", json=CHAT, headers={"x-portkey-provider": "openai"}
        ) as response,
    ):
        assert response.status == 200
    assert fake.last.path == "/v1/chat/completions"
    assert fake.last.headers["Authorization"] == "Bearer sk-from-the-environment"


@pytest.mark.parametrize(
    ("toml", "env", "dotted_path"),
    [
        ("[upstream]\nconect_timeout = 5\n", {}, "upstream.conect_timeout"),
        ('[upstream]\nconnect_timeout = "soon"\n', {}, "upstream.connect_timeout"),
        ("[server]\nport = 80.5\n", {}, "server.port"),
        ('[providers.openai]\napi_key = "${TEST_UNSET_KEY}"\n', {}, "providers.openai.api_key"),
        ("", {"GATEWAY_UPSTREAM_CONNECT_TIMEOUT": "soon"}, "upstream.connect_timeout"),
        ('[providers.opneai]\napi_key = "sk-x"\n', {}, "providers.opneai"),
        ('[configs.main]\nprovider = "grok"\n', {}, "configs.main: config.provider"),
    ],
)
async def test_bad_settings_exit_with_code_2_naming_the_setting(
    spawn: Spawn, tmp_path: Path, toml: str, env: dict[str, str], dotted_path: str
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(toml, encoding="utf-8")
    gateway = spawn("--config", str(config), env=gateway_env(**env), port=free_port())
    assert await gateway.wait_exit() == 2
    assert dotted_path in gateway.stderr
    assert "Traceback" not in gateway.stderr


async def test_missing_config_file_exits_with_code_2_naming_it(spawn: Spawn, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    gateway = spawn("--config", str(missing), port=free_port())
    assert await gateway.wait_exit() == 2
    assert str(missing) in gateway.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_port_in_use_exits_with_code_1_and_says_so(spawn: Spawn, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = spawn("--workers", workers, port=port)
        assert await gateway.wait_exit() == 1
    assert f"cannot listen on 127.0.0.1:{port}" in gateway.stderr
    assert "address already in use" in gateway.stderr.lower()
    assert "Traceback" not in gateway.stderr
