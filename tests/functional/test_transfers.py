"""Uploads and binary downloads through the real wire: streamed both ways, never held, never altered.

Uploads are far larger than the JSON memory cap, so a gateway that buffered them would refuse them;
the fake records the size and SHA-256 of what it received, which must equal what the client sent.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import APIStatusError, AsyncOpenAI

from tests.conftest import GatewayFactory, settings_with
from tests.fake_provider import FakeProvider, Received, Responder

MiB = 1024 * 1024
BOUNDARY = "gateway-test-7d1f0c"
UPLOAD_PATHS = ["/v1/files", "/v1/audio/transcriptions"]


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


class MultipartUpload:
    """A multipart body made block by block from a seeded RNG and hashed as it is sent: the test
    holds one block at a time, whatever the size."""

    def __init__(self, size: int, block: int = MiB) -> None:
        self.file_size = size
        self._block = block
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.end = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(self.head) + size + len(self.end)
        self.sent = hashlib.sha256()

    def headers(self, *, with_length: bool) -> dict[str, str]:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if with_length:
            headers["Content-Length"] = str(self.length)
        return headers

    async def body(self) -> AsyncIterator[bytes]:
        rng = random.Random(self.file_size)
        for piece in self._pieces(rng):
            self.sent.update(piece)
            yield piece

    def _pieces(self, rng: random.Random) -> Iterator[bytes]:
        yield self.head
        left = self.file_size
        while left:
            size = min(self._block, left)
            yield rng.randbytes(size)
            left -= size
        yield self.end


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def small_json_cap(make_gateway: GatewayFactory) -> TestServer:
    """A gateway that holds at most 1 MiB of JSON in memory (uploads are capped separately)."""
    return await make_gateway(settings_with(limits={"max_json_body_bytes": MiB}))


def _url(server: TestServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


@pytest.mark.parametrize("with_length", [True, False], ids=["content_length", "chunked"])
@pytest.mark.parametrize("path", UPLOAD_PATHS)
async def test_large_upload_reaches_the_provider_intact(
    path: str,
    with_length: bool,
    small_json_cap: TestServer,
    fake: FakeProvider,
    provider_headers: dict[str, str],
    http: aiohttp.ClientSession,
) -> None:
    upload = MultipartUpload(40 * MiB)
    headers = provider_headers | upload.headers(with_length=with_length)
    async with http.post(_url(small_json_cap, path), data=upload.body(), headers=headers) as response:
        assert response.status == 200, await response.text()
    received = fake.last
    assert (received.path, received.size) == (path, upload.length)
    assert received.sha256 == upload.sent.hexdigest()
    if with_length:  # the client's framing is kept, not turned into chunks
        assert received.headers["Content-Length"] == str(upload.length)
        assert "Transfer-Encoding" not in received.headers
    else:
        assert received.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in received.headers
    assert received.headers["Content-Type"] == upload.headers(with_length=False)["Content-Type"]


async def test_sdk_uploads_arrive_intact(
    make_gateway: GatewayFactory, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    server = await make_gateway(settings_with(limits={"max_json_body_bytes": 64 * 1024}))
    content = _random_bytes(768 * 1024, seed=7)  # bigger than the JSON cap, small enough for the fake to keep
    base_url = _url(server, "/v1")
    transcript = {"text": "hello"}
    fake.on("POST", "/v1/audio/transcriptions", lambda request, received: _json(transcript))
    async with AsyncOpenAI(base_url=base_url, api_key="sk-test", default_headers=provider_headers) as sdk:
        await sdk.files.create(file=("data.jsonl", content), purpose="batch")
        uploaded = fake.last
        result = await sdk.audio.transcriptions.create(file=("speech.wav", content), model="whisper-1")
    assert result.text == "hello"
    for received in (uploaded, fake.last):
        assert received.headers["Content-Type"].startswith("multipart/form-data; boundary=")
        assert received.size == int(received.headers["Content-Length"])
        assert received.body.count(content) == 1
    assert b'name="purpose"\r\n\r\nbatch' in uploaded.body


async def _json(body: object) -> web.Response:
    return web.json_response(body)


@pytest.fixture
async def small_upload_cap(make_gateway: GatewayFactory) -> TestServer:
    return await make_gateway(settings_with(limits={"max_upload_bytes": MiB}))


def _assert_too_large(status: int, body: dict[str, dict[str, str]]) -> None:
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", UPLOAD_PATHS)
async def test_upload_over_the_limit_with_length_is_refused_before_the_provider(
    path: str,
    small_upload_cap: TestServer,
    fake: FakeProvider,
    provider_headers: dict[str, str],
    http: aiohttp.ClientSession,
) -> None:
    upload = MultipartUpload(2 * MiB)
    headers = provider_headers | upload.headers(with_length=True)
    async with http.post(_url(small_upload_cap, path), data=upload.body(), headers=headers) as response:
        _assert_too_large(response.status, await response.json())
    assert fake.received == []


async def test_chunked_upload_over_the_limit_is_stopped(
    small_upload_cap: TestServer,
    fake: FakeProvider,
    provider_headers: dict[str, str],
    http: aiohttp.ClientSession,
) -> None:
    upload = MultipartUpload(4 * MiB, block=64 * 1024)
    headers = provider_headers | upload.headers(with_length=False)
    url = _url(small_upload_cap, "/v1/files")
    async with http.post(url, data=upload.body(), headers=headers) as response:
        _assert_too_large(response.status, await response.json())
    assert all(received.size <= MiB for received in fake.received)  # nothing past the cap got through


async def test_sdk_sees_413_for_an_upload_over_the_limit(
    small_upload_cap: TestServer, fake: FakeProvider, provider_headers: dict[str, str]
) -> None:
    base_url = _url(small_upload_cap, "/v1")
    async with AsyncOpenAI(
        base_url=base_url, api_key="sk-test", default_headers=provider_headers, max_retries=0
    ) as sdk:
        with pytest.raises(APIStatusError) as raised:
            await sdk.files.create(file=("big.jsonl", _random_bytes(2 * MiB, seed=3)), purpose="batch")
    assert raised.value.status_code == 413
    assert fake.received == []


DOWNLOAD = _random_bytes(6 * MiB + 123, seed=42)
DOWNLOAD_SHA = hashlib.sha256(DOWNLOAD).hexdigest()


def _serves(content_type: str, *, with_length: bool) -> Responder:
    """Answer with DOWNLOAD, with a Content-Length or in chunks of 256 KiB."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        if with_length:
            return web.Response(body=DOWNLOAD, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for start in range(0, len(DOWNLOAD), 256 * 1024):
            await response.write(DOWNLOAD[start : start + 256 * 1024])
        await response.write_eof()
        return response

    return respond


DOWNLOADS = {
    "speech": ("POST", "/v1/audio/speech", "audio/mpeg"),
    "file_content": ("GET", "/v1/files/file-abc123/content", "application/octet-stream"),
}


@pytest.mark.parametrize("with_length", [True, False], ids=["content_length", "chunked"])
@pytest.mark.parametrize(("method", "path", "content_type"), DOWNLOADS.values(), ids=DOWNLOADS.keys())
async def test_binary_download_arrives_byte_identical(
    method: str,
    path: str,
    content_type: str,
    with_length: bool,
    fake: FakeProvider,
    gateway_url: str,
    provider_headers: dict[str, str],
    http: aiohttp.ClientSession,
) -> None:
    fake.on(method, path, _serves(content_type, with_length=with_length))
    body = {"model": "tts-1", "voice": "alloy", "input": "hi"} if method == "POST" else None
    async with http.request(method, gateway_url + path, json=body, headers=provider_headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == content_type
        if with_length:
            assert response.content_length == len(DOWNLOAD)
        else:
            assert response.headers["Transfer-Encoding"] == "chunked"
        received = hashlib.sha256()
        async for piece in response.content.iter_any():
            received.update(piece)
    assert received.hexdigest() == DOWNLOAD_SHA


@pytest.mark.parametrize("with_length", [True, False], ids=["content_length", "chunked"])
async def test_sdk_binary_downloads_arrive_byte_identical(
    with_length: bool, fake: FakeProvider, client: AsyncOpenAI
) -> None:
    for method, path, content_type in DOWNLOADS.values():
        fake.on(method, path, _serves(content_type, with_length=with_length))
    speech = await client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert hashlib.sha256(speech.content).hexdigest() == DOWNLOAD_SHA
    content = await client.files.content("file-abc123")
    assert hashlib.sha256(content.content).hexdigest() == DOWNLOAD_SHA
