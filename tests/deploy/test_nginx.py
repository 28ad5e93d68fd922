"""deploy/nginx.conf run by Debian's nginx in front of a real gateway process, over real sockets.

The conf is used as shipped, rendered by one documented rule: the lines marked ``(rendered by the
test)`` get this test's addresses (the ``listen`` line its port on 127.0.0.1, the upstream's
``server`` line the gateway's address); nothing else changes. A minimal main ``nginx.conf`` stands in
for Debian's ``/etc/nginx/nginx.conf`` and includes it inside ``http {}``, with every path nginx
writes (pid, logs, temp files) under ``tmp_path``, so the test runs as root or as a normal user.

One gateway and one nginx serve the whole module, as they would serve many callers; the fake
providers are per test (the gateway reaches them through ``x-portkey-custom-host``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import connect

from gateway.config.settings import Settings
from tests.fake_provider import FakeProvider, Received
from tests.functional.fake_realtime import SESSION_CREATED, FakeRealtime
from tests.functional.gateway_process import GatewayProcess, free_port, start_gateway

NGINX = "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
MARKER = "(rendered by the test)"
MiB = 1024 * 1024
#: Bound of every wait: a hung proxy fails the test instead of hanging it.
WAIT = 10.0
KEY = "sk-nginx-test-key"


def render(conf: str, listen_port: int, upstreams: list[str]) -> str:
    """The conf with this test's addresses on the marked lines, and nothing else changed."""
    lines = []
    for line in conf.splitlines():
        if MARKER in line and line.strip().startswith("listen "):
            line = re.sub(r"listen \S+;", f"listen 127.0.0.1:{listen_port};", line)
        elif MARKER in line and line.strip().startswith("server "):
            indent = line[: len(line) - len(line.lstrip())]
            line = "\n".join(f"{indent}server {address};" for address in upstreams)
        lines.append(line)
    rendered = "\n".join(lines) + "\n"
    assert rendered.count(f"127.0.0.1:{listen_port}") == 1, "the conf's listen line is not marked"
    return rendered


def main_conf(prefix: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides, with every written path under ``prefix``."""
    # As root, workers would switch to "nobody", who cannot enter pytest's private tmp_path.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n{temp}    access_log {prefix / 'access.log'};\n    include {site};\n}}\n"
    )


@dataclass
class Nginx:
    popen: subprocess.Popen[bytes]
    port: int
    prefix: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def start_nginx(prefix: Path, site_conf: str, port: int) -> Nginx:
    """nginx in the foreground (a child of this process) serving ``site_conf``, ready on ``port``."""
    prefix.mkdir(parents=True)
    site = prefix / "gateway.conf"
    site.write_text(site_conf)
    main = prefix / "nginx.conf"
    main.write_text(main_conf(prefix, site))
    # -e: the error log before the conf is read (else nginx tries /var/log/nginx as it starts).
    command = [NGINX, "-p", f"{prefix}/", "-c", str(main), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stderr.decode(errors="replace")
    return Nginx(subprocess.Popen(command, stdin=subprocess.DEVNULL), port, prefix)


def status(url: str) -> int | None:
    """The status of ``GET url``; ``None`` when nothing answers yet (or nginx has no upstream)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return None if error.code == 502 else error.code
    except OSError:
        return None


def wait_for(check: Callable[[], bool], nginx: Nginx, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if nginx.popen.poll() is not None:
            raise AssertionError(f"nginx exited with {nginx.popen.returncode}:\n{nginx.error_log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = start_gateway(tmp_path_factory.mktemp("gateway"), port=free_port())
    yield process
    process.kill()


@contextlib.contextmanager
def running_nginx(prefix: Path, site_conf: str, port: int) -> Iterator[Nginx]:
    """nginx serving ``site_conf`` on ``port``, once the gateway answers /readyz through it."""
    nginx = start_nginx(prefix, site_conf, port)
    try:
        wait_for(lambda: status(f"{nginx.url}/readyz") == 200, nginx, "the gateway behind nginx")
        yield nginx
    finally:
        nginx.stop()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, gateway_process: GatewayProcess) -> Iterator[Nginx]:
    port = free_port()
    conf = render(CONF.read_text(), port, [f"127.0.0.1:{gateway_process.port}"])
    with running_nginx(tmp_path_factory.mktemp("nginx") / "shipped", conf, port) as nginx:
        yield nginx


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeProvider:
    provider = FakeProvider()
    server = await aiohttp_server(provider.app())
    provider.port = server.port or 0
    return provider


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


def provider_headers(base_url: str) -> dict[str, str]:
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": base_url,
        "Authorization": f"Bearer {KEY}",
    }


# --- streams -----------------------------------------------------------------------------------------

CHUNKS = 5
GAP = 0.2


def paced_stream(sent: list[float]) -> Callable[[web.Request, Received], Awaitable[web.StreamResponse]]:
    """An event stream of CHUNKS events GAP seconds apart; ``sent`` gets each one's send time."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index in range(CHUNKS):
            if index:
                await asyncio.sleep(GAP)
            sent.append(time.monotonic())
            payload = {"choices": [{"index": 0, "delta": {"content": f"<{index}>"}, "finish_reason": None}]}
            await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")
        await response.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    return respond


async def arrival_times(
    http: aiohttp.ClientSession, url: str, fake: FakeProvider, headers: dict[str, str] | None = None
) -> list[float]:
    """When each of the CHUNKS events was whole at the client (decompressed, if it was compressed)."""
    body = b""
    arrived: list[float] = []
    request = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(
        f"{url}/v1/chat/completions",
        json=request,
        headers={**provider_headers(fake.base_url), **(headers or {})},
    ) as response:
        assert response.status == 200, await response.text()
        async for piece in response.content.iter_any():
            body += piece
            while len(arrived) < CHUNKS and f"<{len(arrived)}>".encode() in body:
                arrived.append(time.monotonic())
    assert body.endswith(b"data: [DONE]\n\n"), body[-200:]
    return arrived


async def test_stream_arrives_chunk_by_chunk_through_nginx(
    nginx: Nginx, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    sent: list[float] = []
    fake.on("POST", "/v1/chat/completions", paced_stream(sent))
    arrived = await arrival_times(http, nginx.url, fake)
    # Each chunk reached the client before the provider sent the next one, GAP later: nothing held it.
    assert len(arrived) == CHUNKS
    for index in range(CHUNKS - 1):
        assert arrived[index] < sent[index + 1], f"chunk {index} was held until the next one was sent"


def buffering_nginx_conf(listen_port: int, gateway: GatewayProcess) -> str:
    """An operator's plain proxy conf: nginx's default proxy_buffering on, and gzip for event streams.

    Buffering on alone passes each chunk on as it is read; with gzip on, nginx holds the compressed
    stream until a buffer fills, unless the response says ``X-Accel-Buffering: no``.
    """
    return f"""server {{
    listen 127.0.0.1:{listen_port};
    gzip on;
    gzip_types text/event-stream;
    location / {{
        proxy_pass http://127.0.0.1:{gateway.port};
        proxy_http_version 1.1;
    }}
}}
"""


async def test_stream_arrives_chunk_by_chunk_through_an_nginx_that_buffers_and_compresses(
    tmp_path: Path, gateway_process: GatewayProcess, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    # The gateway's X-Accel-Buffering: no switches nginx's buffering off for its streams.
    port = free_port()
    with running_nginx(tmp_path / "nginx", buffering_nginx_conf(port, gateway_process), port) as buffering:
        sent: list[float] = []
        fake.on("POST", "/v1/chat/completions", paced_stream(sent))
        arrived = await arrival_times(http, buffering.url, fake, {"Accept-Encoding": "gzip"})
    assert len(arrived) == CHUNKS
    for index in range(CHUNKS - 1):
        assert arrived[index] < sent[index + 1], f"chunk {index} was held until the next one was sent"


# --- realtime ----------------------------------------------------------------------------------------


async def test_realtime_session_bridges_both_ways_through_nginx(nginx: Nginx, realtime: FakeRealtime) -> None:
    url = f"ws://127.0.0.1:{nginx.port}/v1/realtime?model=gpt-realtime"
    async with connect(
        url, additional_headers=provider_headers(realtime.base_url), open_timeout=WAIT, close_timeout=WAIT
    ) as ws:
        assert (await asyncio.wait_for(ws.recv(), WAIT)).encode() == SESSION_CREATED
        update = b'{"type":"session.update","session":{"instructions":"be brief"}}'
        await ws.send(update.decode())
        audio = bytes(range(256)) * 64
        await ws.send(audio)
        assert await asyncio.wait_for(ws.recv(), WAIT) == audio  # the fake echoes binary frames
        received = await realtime.last.frames(2)
    assert [frame.data for frame in received] == [update, audio]
    assert realtime.last.headers["Authorization"] == f"Bearer {KEY}"


# --- uploads, health ---------------------------------------------------------------------------------


async def test_upload_larger_than_nginx_default_streams_through(
    nginx: Nginx, http: aiohttp.ClientSession, fake: FakeProvider
) -> None:
    boundary = "nginx-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = hashlib.sha256(b"block").digest() * (MiB // 32)
    body = head + block * 48 + f"\r\n--{boundary}--\r\n".encode()  # 48 MiB, above the JSON limit too
    headers = {**provider_headers(fake.base_url), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with http.post(f"{nginx.url}/v1/files", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
    assert fake.last.path == "/v1/files"
    assert fake.last.size == len(body)
    assert fake.last.sha256 == hashlib.sha256(body).hexdigest()


async def test_upload_over_the_limit_gets_an_openai_shaped_413_before_its_body(nginx: Nginx) -> None:
    limit = Settings().limits.max_upload_bytes
    reader, writer = await asyncio.open_connection("127.0.0.1", nginx.port)
    try:
        writer.write(
            b"POST /v1/files HTTP/1.1\r\nHost: gateway\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            assert length, head
            body = await reader.readexactly(int(length.group(1)))
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert re.search(rb"(?im)^content-type: application/json", head), head
    error = orjson.loads(body)["error"]
    assert error["code"] == "payload_too_large"
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


async def test_health_endpoints_answer_through_nginx(nginx: Nginx, http: aiohttp.ClientSession) -> None:
    for path in ("/healthz", "/readyz"):
        async with http.get(f"{nginx.url}{path}") as response:
            assert response.status == 200, path


# --- the conf's timeouts -----------------------------------------------------------------------------


def directive(conf: str, name: str, within: str) -> str:
    """The value of ``name`` directly inside the block that starts with ``within``."""
    block = re.search(re.escape(within) + r"\s*\{(.*?)\n\}", conf, re.S)
    assert block, within
    values = re.findall(rf"(?m)^\s*{name}\s+([^;]+);", block.group(1))
    assert len(values) == 1, (name, within, values)
    return values[0]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def test_conf_timeouts_are_above_the_gateways_own() -> None:
    conf = CONF.read_text()
    defaults = Settings()
    longest_silence = max(defaults.upstream.idle_timeout, defaults.realtime.idle_timeout)
    assert seconds(directive(conf, "proxy_read_timeout", "server")) > longest_silence
    assert seconds(directive(conf, "proxy_send_timeout", "server")) > longest_silence
    assert seconds(directive(conf, "send_timeout", "server")) > longest_silence
    assert seconds(directive(conf, "client_body_timeout", "server")) > defaults.limits.body_timeout
    assert seconds(directive(conf, "keepalive_timeout", "server")) >= defaults.server.keepalive_timeout
    # One hop in, the other way round: nginx drops an idle upstream connection before the gateway does.
    assert (
        seconds(directive(conf, "keepalive_timeout", "upstream gateway")) < defaults.server.keepalive_timeout
    )
    assert directive(conf, "client_max_body_size", "server") == f"{defaults.limits.max_upload_bytes // MiB}m"
