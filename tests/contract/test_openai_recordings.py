"""Real provider recordings replayed through the fake and the gateway: what the client gets is what
the provider sent: the same status, the same bytes, the same rate-limit headers.

One case per recording with a ``.meta.json`` under ``--fixtures-dir`` (openai, groq, mistral,
openrouter); see tests/contract/conftest.py for a checkout without recordings.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from yarl import URL

from gateway.providers.registry import ProviderRegistry
from tests.contract.recordings import Recording, is_rate_limit_header, recordings_for, replay
from tests.fake_provider import FakeProvider

KEY = "sk-contract-key"
#: Stands in for the recorded audio upload, whose bytes the recordings do not keep.
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    recordings = recordings_for(metafunc.config)
    if "recording" in metafunc.fixturenames:
        metafunc.parametrize("recording", recordings, ids=[r.id for r in recordings])
    if "chat_stream" in metafunc.fixturenames:
        streams = [r for r in recordings if r.is_chat_stream]
        metafunc.parametrize("chat_stream", streams, ids=[r.id for r in streams])


def base_path(slug: str) -> str:
    """The path of the provider's real base URL (``/openai/v1`` for groq): the custom host keeps it."""
    return URL(ProviderRegistry.default().get(slug).spec.base_url).path.rstrip("/")


def gateway_headers(recording: Recording, fake: FakeProvider) -> dict[str, str]:
    return {
        "x-portkey-provider": recording.slug,
        "x-portkey-custom-host": f"http://127.0.0.1:{fake.port}{base_path(recording.slug)}",
    }


async def send(
    session: aiohttp.ClientSession, url: str, recording: Recording, headers: dict[str, str]
) -> tuple[aiohttp.ClientResponse, bytes, bytes | None]:
    """Send the recorded request; the response, its body, and the JSON bytes sent (if JSON)."""
    headers = {**headers, "Authorization": f"Bearer {KEY}"}
    sent: bytes | None = None
    data: Any
    if recording.request_is_multipart:
        data = aiohttp.FormData()
        data.add_field("file", AUDIO, filename="speech.wav", content_type="audio/wav")
        data.add_field("model", "whisper-1")
    else:
        data = sent = recording.request_json
        headers["Content-Type"] = "application/json"
    async with session.request(recording.method, url, data=data, headers=headers) as response:
        return response, await response.read(), sent


async def test_recording_reaches_the_client_unchanged(
    recording: Recording, fake: FakeProvider, gateway_url: str
) -> None:
    upstream_path = f"{base_path(recording.slug)}/{recording.endpoint}"
    fake.on(recording.method, upstream_path, replay(recording))

    async with aiohttp.ClientSession(auto_decompress=False) as session:
        response, body, sent = await send(
            session, f"{gateway_url}/v1/{recording.endpoint}", recording, gateway_headers(recording, fake)
        )

    assert fake.last.path == upstream_path
    assert fake.last.headers["Authorization"] == f"Bearer {KEY}"
    if sent is not None:
        assert fake.last.body == sent
    assert response.status == recording.status
    assert body == recording.body
    assert response.headers["Content-Type"] == recording.content_type
    relayed = [
        (name.lower(), value) for name, value in response.headers.items() if is_rate_limit_header(name)
    ]
    assert relayed == [(name.lower(), value) for name, value in recording.rate_limit_headers]
    assert response.headers["x-portkey-provider"] == recording.slug


async def test_recorded_chat_stream_parses_in_the_openai_sdk(
    chat_stream: Recording, fake: FakeProvider, gateway_url: str
) -> None:
    fake.on("POST", f"{base_path(chat_stream.slug)}/chat/completions", replay(chat_stream))
    sdk = AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key=KEY,
        default_headers=gateway_headers(chat_stream, fake),
        max_retries=0,
    )
    async with sdk:
        stream = await sdk.chat.completions.create(
            model=chat_stream.meta["request"]["body"]["model"],
            messages=[{"role": "user", "content": "replay"}],
            stream=True,
        )
        chunks = [chunk async for chunk in stream]

    payloads = chat_stream.payloads()
    assert len(chunks) == len(payloads) > 0
    # Every field as sent, extra ones included (x_groq, provider, obfuscation...). Mistral's
    # thinking content is a list where the SDK's type says str: kept as sent, hence warnings=False.
    assert [chunk.to_dict(warnings=False) for chunk in chunks] == payloads
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
