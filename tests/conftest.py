"""Shared fixtures: a fake provider and the gateway, both on real sockets on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from gateway.app import create_app
from gateway.config.settings import Settings
from tests.fake_provider import FakeProvider
from tests.functional.fake_realtime import FakeRealtime
from tests.functional.raw_http import RawUpstream
from tests.redis_server import RedisServer

GatewayFactory = Callable[..., Awaitable[TestServer]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "recordings: replays ../shared/fixtures; dropped when --fixtures-dir does not exist"
    )


def fixtures_present(config: pytest.Config) -> bool:
    """Whether ``--fixtures-dir`` exists (CI always has it; a checkout without ../shared may not)."""
    return Path(config.getoption("--fixtures-dir")).is_dir()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the recordings folder, their replays are dropped at collection, neither run nor
    skipped; with it, a missing recording fails loudly (each module checks its own)."""
    if not fixtures_present(config):
        drop_recording_replays(config, items, lambda item: item.get_closest_marker("recordings") is not None)


def drop_recording_replays(
    config: pytest.Config, items: list[pytest.Item], replays: Callable[[pytest.Item], bool]
) -> None:
    """Deselect the ``replays`` among ``items`` (their recordings are absent); the summary says so."""
    dropped = [item for item in items if replays(item)]
    if dropped:
        items[:] = [item for item in items if not replays(item)]
        config.hook.pytest_deselected(items=dropped)
        config.stash[_NOT_RUN] = config.stash.get(_NOT_RUN, 0) + len(dropped)


_NOT_RUN = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say which tests were not run, and why, where the recordings folder is absent."""
    not_run = config.stash.get(_NOT_RUN, 0)
    if not_run:
        terminalreporter.write_line(
            f"{not_run} tests replaying provider recordings not run: no recordings at "
            f"{config.getoption('--fixtures-dir')} (CI has them; --fixtures-dir points at a copy)",
            yellow=True,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fixtures-dir",
        default=str(Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"),
        help="provider wire recordings (../shared/fixtures); their tests run where it exists",
    )


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeProvider:
    provider = FakeProvider()
    server = await aiohttp_server(provider.app())
    provider.port = server.port
    return provider


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for the whole session (tests keep apart by their own keys), stopped at
    teardown. A test that stops Redis starts its own :class:`~tests.redis_server.RedisServer`."""
    server = RedisServer()
    server.start()
    yield server.url
    server.close()


@pytest.fixture
async def fake_b(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeProvider:
    """A second fake provider, for fallbacks and load balancing."""
    provider = FakeProvider()
    server = await aiohttp_server(provider.app())
    provider.port = server.port
    return provider


@pytest.fixture
async def raw() -> AsyncIterator[RawUpstream]:
    """An upstream that writes exactly the bytes a test scripts (``raw.scripts``)."""
    upstream = RawUpstream()
    await upstream.start()
    yield upstream
    await upstream.close()


@pytest.fixture
async def realtime(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[FakeRealtime]:
    """A fake realtime (websocket) provider; sessions still held are released at teardown."""
    fake = FakeRealtime()
    server = await aiohttp_server(fake.app())
    fake.port = server.port or 0
    yield fake
    fake.release()


def settings_with(**sections: dict[str, Any]) -> Settings:
    """Default settings with some fields changed: ``settings_with(limits={"max_upload_bytes": 10})``."""
    settings = Settings()
    changes = {
        name: dataclasses.replace(getattr(settings, name), **fields) if name != "providers" else fields
        for name, fields in sections.items()
    }
    return dataclasses.replace(settings, **changes)


@pytest.fixture
async def make_gateway() -> AsyncIterator[GatewayFactory]:
    """Start a gateway (in this process, on a real socket) with the given settings."""
    servers: list[TestServer] = []

    async def start(
        settings: Settings | None = None,
        *,
        loop_lag: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> TestServer:
        """``loop_lag=False`` turns off shedding on event-loop lag: here the client and the fakes
        share the gateway's loop, so its lag measures the test, not the gateway. ``clock`` times
        the breakers (a :class:`tests.clock.ManualClock` lets a cooldown pass at once)."""
        settings = settings or Settings()
        if not loop_lag:
            settings = dataclasses.replace(
                settings, limits=dataclasses.replace(settings.limits, max_loop_lag=0.0)
            )
        app: web.Application = create_app(settings, clock=clock)
        server = TestServer(app, host="127.0.0.1")
        servers.append(server)
        await server.start_server()
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> TestServer:
    return await make_gateway()


@pytest.fixture
def gateway_url(gateway: TestServer) -> str:
    return f"http://127.0.0.1:{gateway.port}"


@pytest.fixture
def provider_headers(fake: FakeProvider) -> dict[str, str]:
    """Headers that send a request to the fake as the ``openai`` provider."""
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}


@pytest.fixture
async def client(gateway_url: str, provider_headers: dict[str, str]) -> AsyncIterator[AsyncOpenAI]:
    """The official async OpenAI SDK pointed at the gateway, no retries (tests see every status)."""
    sdk = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="sk-test-key", default_headers=provider_headers, max_retries=0
    )
    yield sdk
    await sdk.close()
