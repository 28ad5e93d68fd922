"""RedisStore against a real redis-server: entries shared between stores, expiry, and Redis that is
down, slow or refusing the password — never an exception, counted, logged once per interval."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.cache.redis_store import RedisStore
from gateway.redis_link import WARN_EVERY
from tests.clock import ManualClock
from tests.functional.gateway_process import free_port
from tests.redis_server import RedisServer

PASSWORD = "redis-pw-marker-7f3a"


def fresh_key() -> str:
    """The session's Redis is shared by every test: each writes keys of its own."""
    return f"key-{uuid.uuid4().hex}"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "gateway.cache" and r.levelno == logging.WARNING
    ]


async def test_two_stores_share_an_entry_as_two_gateway_processes_would(redis_url: str) -> None:
    writer, reader = RedisStore(redis_url), RedisStore(redis_url)
    key = fresh_key()
    try:
        assert await reader.get(key) is None
        await writer.put(key, b'{"answer": 1}', ttl=60)
        assert await reader.get(key) == b'{"answer": 1}'
        await reader.put(key, b'{"answer": 2}', ttl=60)
        assert await writer.get(key) == b'{"answer": 2}'
        assert (writer.errors, reader.errors, writer.entries, writer.bytes) == (0, 0, None, None)
    finally:
        await writer.close()
        await reader.close()


async def test_stores_with_different_prefixes_do_not_see_each_other(redis_url: str) -> None:
    blue, green = RedisStore(redis_url, prefix="blue:"), RedisStore(redis_url, prefix="green:")
    key = fresh_key()
    try:
        await blue.put(key, b"blue answer", ttl=60)
        assert await green.get(key) is None
        assert await blue.get(key) == b"blue answer"
    finally:
        await blue.close()
        await green.close()


async def test_an_entry_expires_after_its_ttl(redis_url: str) -> None:
    store = RedisStore(redis_url)
    key = fresh_key()
    try:
        await store.put(key, b"short-lived", ttl=0.3)
        assert await store.get(key) == b"short-lived"
        await asyncio.sleep(0.45)
        assert await store.get(key) is None
    finally:
        await store.close()


async def test_a_ttl_under_a_millisecond_removes_the_older_value(redis_url: str) -> None:
    store = RedisStore(redis_url)
    key = fresh_key()
    try:
        await store.put(key, b"old", ttl=60)
        await store.put(key, b"new", ttl=0)
        assert await store.get(key) is None
        assert store.errors == 0
    finally:
        await store.close()


async def test_redis_down_means_uncached_counted_and_one_warning_per_interval(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.cache")
    clock = ManualClock()
    store = RedisStore(private_redis.url, timeout=1.0, clock=clock)
    key = fresh_key()
    try:
        await store.put(key, b"cached", ttl=60)
        assert await store.get(key) == b"cached"
        private_redis.stop()

        # A refused connection fails at once: no retry, no back-off, six failures well inside one timeout.
        started = time.monotonic()
        for _ in range(3):
            assert await store.get(key) is None
            await store.put(key, b"dropped", ttl=60)
        assert time.monotonic() - started < 1.0
        assert store.errors == 6
        [warning] = warnings_of(caplog)
        assert f"127.0.0.1:{private_redis.port}" in warning

        clock.advance(WARN_EVERY - 1)
        assert await store.get(key) is None
        assert len(warnings_of(caplog)) == 1
        clock.advance(1)
        assert await store.get(key) is None
        assert len(warnings_of(caplog)) == 2
        assert store.errors == 8

        private_redis.start()  # Redis comes back (empty: nothing is saved): the store works again.
        await store.put(key, b"again", ttl=60)
        assert await store.get(key) == b"again"
        assert store.errors == 8
    finally:
        await store.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: Redis hung, or a network black hole."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_every_command_is_bounded_by_the_timeout(silent_port: int) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_port}", timeout=0.2)
    try:
        started = time.monotonic()
        assert await store.get(fresh_key()) is None
        await store.put(fresh_key(), b"value", ttl=60)
        assert time.monotonic() - started < 1.0
        assert store.errors == 2
    finally:
        await store.close()


@pytest.fixture
def redis_with_password() -> Iterator[RedisServer]:
    server = RedisServer(None, "--requirepass", PASSWORD)
    server.start()
    yield server
    server.close()


async def test_a_url_with_the_right_password_reaches_redis(redis_with_password: RedisServer) -> None:
    store = RedisStore(f"redis://:{PASSWORD}@127.0.0.1:{redis_with_password.port}/0")
    key = fresh_key()
    try:
        await store.put(key, b"value", ttl=60)
        assert await store.get(key) == b"value"
        assert store.errors == 0
    finally:
        await store.close()


@pytest.mark.parametrize("where", ["refused", "wrong password"])
async def test_the_password_in_the_url_is_never_logged(
    where: str, redis_with_password: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port() if where == "refused" else redis_with_password.port
    store = RedisStore(f"redis://admin:{PASSWORD}-wrong@127.0.0.1:{port}/0")
    try:
        assert await store.get(fresh_key()) is None
        [warning] = warnings_of(caplog)
        assert f"127.0.0.1:{port}" in warning
        assert PASSWORD not in caplog.text
        assert store.errors == 1
    finally:
        await store.close()


def test_without_the_redis_extra_the_module_imports_and_constructing_names_the_extra() -> None:
    script = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if the extra were not installed\n"
        "from gateway.cache.redis_store import RedisStore\n"
        "RedisStore('redis://127.0.0.1:6379')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "RuntimeError" in result.stderr
    assert "pip install 'ai-gateway[redis]'" in result.stderr
