"""Recording replays exist only where recordings do: without them (no ``--fixtures-dir``, or one with
no recordings) their cases are dropped at collection, neither run nor skipped, so a checkout without
../shared/fixtures runs the rest of the suite unchanged.

The Portkey contract tests share a gateway whose providers are local fakes, and the clients a
Portkey user runs (``portkey_gateway``, ``sdks``: see portkey_world.py)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from gateway.config.settings import ProviderSettings
from gateway.limits.caller import VirtualKey
from tests.conftest import GatewayFactory, drop_recording_replays, settings_with
from tests.contract.portkey_world import FAST_RETRIES, VK_ANTHROPIC_KEY, VK_OPENAI_KEY, Clients
from tests.contract.recordings import recordings_for
from tests.fake_provider import FakeProvider
from tests.functional.fake_anthropic import FakeAnthropic, Message, message

_NEEDS_RECORDINGS = frozenset({"test_openai_recordings.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not recordings_for(config):
        drop_recording_replays(config, items, lambda item: item.path.name in _NEEDS_RECORDINGS)


@pytest.fixture
async def anthropic(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeAnthropic:
    """A fake Anthropic Messages API, answering a short message unless told otherwise."""
    fake = FakeAnthropic()
    fake.answer(Message(message()))
    fake.port = (await aiohttp_server(fake.app())).port or 0
    return fake


@pytest.fixture
async def portkey_gateway(make_gateway: GatewayFactory, fake: FakeProvider, anthropic: FakeAnthropic) -> str:
    """A gateway whose ``openai`` and ``anthropic`` providers are the fakes (as an operator's
    ``[providers.x] base_url`` would point them), so Portkey's examples run as written; the
    other providers a test names by header alone go to a closed local port, never to the internet."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    providers = {
        "openai": ProviderSettings(base_url=fake.base_url),
        "anthropic": ProviderSettings(base_url=anthropic.base_url),
        "huggingface": ProviderSettings(base_url=nowhere),
        "mistral-ai": ProviderSettings(base_url=nowhere),
    }
    # The virtual keys Portkey's examples name, as an operator's [virtual_keys.<name>] would define them.
    virtual_keys = {
        "vk-fake": VirtualKey("vk-fake", "openai", VK_OPENAI_KEY),
        "openai-vk-fake": VirtualKey("openai-vk-fake", "openai", VK_OPENAI_KEY),
        "anthropic-vk-fake": VirtualKey("anthropic-vk-fake", "anthropic", VK_ANTHROPIC_KEY),
    }
    settings = settings_with(providers=providers, retries=FAST_RETRIES)
    server = await make_gateway(dataclasses.replace(settings, virtual_keys=virtual_keys))
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def sdks(portkey_gateway: str) -> AsyncIterator[Clients]:
    """Portkey's SDK and the OpenAI SDK with Portkey's headers, aimed at ``portkey_gateway``."""
    clients = Clients(portkey_gateway)
    yield clients
    await clients.aclose()
