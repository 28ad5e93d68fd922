"""Images and audio through the real wire: multipart uploads arrive intact, binary answers come back intact.

The official ``openai`` SDK → the gateway (in-process, on a real socket) → a fake provider speaking
OpenAI's wire format. Uploaded files are compared byte for byte with what the fake received.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import ImagesResponse

from tests.fake_provider import FakeProvider
from tests.functional.endpoint_support import (
    BINARY,
    KEY,
    answer,
    answer_bytes,
    assert_reached,
    file_parts,
    form_fields,
    multipart_parts,
)

PNG = b"\x89PNG\r\n\x1a\n" + BINARY[:40000]
MASK = b"\x89PNG\r\n\x1a\n" + BINARY[-30000:]
AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + BINARY

IMAGES: dict[str, Any] = {
    "created": 1713833628,
    "data": [
        {"b64_json": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk", "revised_prompt": None}
    ],
    "background": "opaque",
    "output_format": "png",
    "quality": "low",
    "size": "1024x1024",
    "usage": {
        "input_tokens": 50,
        "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
        "output_tokens": 272,
        "total_tokens": 322,
    },
}


@pytest.fixture
def sync_client(gateway_url: str, provider_headers: dict[str, str]) -> Iterator[OpenAI]:
    """The sync SDK; call it through ``asyncio.to_thread`` (the gateway runs in the test's loop)."""
    sdk = OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=provider_headers, max_retries=0)
    yield sdk
    sdk.close()


async def test_image_generation_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {"created": 1685630540, "data": [{"url": "https://example.invalid/img.png?sig=REDACTED"}]}
    answer(fake, "POST", "/v1/images/generations", body)
    result = await client.images.generate(
        model="dall-e-3", prompt="a red circle", n=1, size="1024x1024", response_format="url"
    )
    assert assert_reached(fake, "POST", "/v1/images/generations").json() == {
        "model": "dall-e-3",
        "prompt": "a red circle",
        "n": 1,
        "size": "1024x1024",
        "response_format": "url",
    }
    assert result.to_dict() == body


async def test_image_edit_upload_reaches_the_provider_byte_for_byte(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer(fake, "POST", "/v1/images/edits", IMAGES)
    result = await client.images.edit(
        model="gpt-image-1",
        image=[("first.png", PNG, "image/png"), ("second.png", PNG[::-1], "image/png")],
        mask=("mask.png", MASK, "image/png"),
        prompt="make it blue",
        size="1024x1024",
        quality="low",
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/images/edits"))
    assert form_fields(parts) == {
        "model": ["gpt-image-1"],
        "prompt": ["make it blue"],
        "size": ["1024x1024"],
        "quality": ["low"],
    }
    assert file_parts(parts) == {
        "image[]": [("first.png", PNG), ("second.png", PNG[::-1])],
        "mask": [("mask.png", MASK)],
    }
    assert result.to_dict() == IMAGES


async def test_image_edit_as_json_with_image_urls_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    request = {
        "model": "gpt-image-1",
        "images": [{"image_url": "https://example.invalid/in.png"}, {"file_id": "file-abc123"}],
        "prompt": "make it blue",
    }
    answer(fake, "POST", "/v1/images/edits", IMAGES)
    result = await client.post("/images/edits", body=request, cast_to=ImagesResponse)
    received = assert_reached(fake, "POST", "/v1/images/edits")
    assert received.headers["Content-Type"] == "application/json"
    assert received.json() == request
    assert result.to_dict() == IMAGES


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
async def test_image_variation_upload_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {"created": 1685630541, "data": [{"b64_json": "aGVsbG8="}, {"b64_json": "d29ybGQ="}]}
    answer(fake, "POST", "/v1/images/variations", body)
    result = await client.images.create_variation(
        image=("in.png", PNG, "image/png"), model="dall-e-2", n=2, size="256x256", response_format="b64_json"
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/images/variations"))
    assert form_fields(parts) == {
        "model": ["dall-e-2"],
        "n": ["2"],
        "size": ["256x256"],
        "response_format": ["b64_json"],
    }
    assert file_parts(parts) == {"image": [("in.png", PNG)]}
    assert result.to_dict() == body


SPEECH = random.Random(7).randbytes(3 * 1024 * 1024 + 17)


async def test_speech_audio_comes_back_byte_identical(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer_bytes(fake, "POST", "/v1/audio/speech", SPEECH, "audio/mpeg", chunks=50)
    async with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello there.", response_format="mp3", speed=1.25
    ) as speech:
        assert speech.headers["Content-Type"] == "audio/mpeg"
        audio = b"".join([chunk async for chunk in speech.iter_bytes()])
    assert assert_reached(fake, "POST", "/v1/audio/speech").json() == {
        "model": "gpt-4o-mini-tts",
        "voice": "alloy",
        "input": "Hello there.",
        "response_format": "mp3",
        "speed": 1.25,
    }
    assert len(audio) == len(SPEECH)
    assert audio == SPEECH


async def test_speech_audio_with_a_content_length_is_byte_identical_from_the_sync_sdk(
    sync_client: OpenAI, fake: FakeProvider
) -> None:
    answer_bytes(fake, "POST", "/v1/audio/speech", SPEECH, "audio/wav")

    def speak() -> bytes:
        return sync_client.audio.speech.create(
            model="tts-1", voice="nova", input="Hi", response_format="wav"
        ).read()

    assert await asyncio.to_thread(speak) == SPEECH
    assert_reached(fake, "POST", "/v1/audio/speech")


TRANSCRIPTION: dict[str, Any] = {
    "task": "transcribe",
    "language": "english",
    "duration": 2.78,
    "text": "Look at all those chickens!",
    "words": [
        {"word": "Look", "start": 0.0, "end": 0.4},
        {"word": "chickens", "start": 1.5, "end": 2.0},
    ],
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 2.0,
            "text": " Look at all those chickens!",
            "tokens": [50364, 2053, 412, 439, 729, 22329, 0, 50464],
            "temperature": 0.0,
            "avg_logprob": -0.5080891185336642,
            "compression_ratio": 0.7714285714285715,
            "no_speech_prob": 0.011576409451663494,
        }
    ],
}


async def test_transcription_upload_reaches_the_provider_with_exact_bytes_and_fields(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer(fake, "POST", "/v1/audio/transcriptions", TRANSCRIPTION)
    result = await client.audio.transcriptions.create(
        file=("chickens.wav", AUDIO, "audio/wav"),
        model="whisper-1",
        language="en",
        prompt="Farm animals.",
        response_format="verbose_json",
        temperature=0.0,
        timestamp_granularities=["word", "segment"],
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/audio/transcriptions"))
    assert form_fields(parts) == {
        "model": ["whisper-1"],
        "language": ["en"],
        "prompt": ["Farm animals."],
        "response_format": ["verbose_json"],
        "temperature": ["0.0"],
        "timestamp_granularities[]": ["word", "segment"],
    }
    assert file_parts(parts) == {"file": [("chickens.wav", AUDIO)]}
    assert [p.content_type for p in parts if p.filename] == ["audio/wav"]
    assert result.to_dict() == TRANSCRIPTION


async def test_transcription_as_plain_text_comes_back_as_text(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer_bytes(
        fake, "POST", "/v1/audio/transcriptions", "Look at all those chickens! é\n".encode(), "text/plain"
    )
    text = await client.audio.transcriptions.create(
        file=("chickens.wav", AUDIO, "audio/wav"), model="whisper-1", response_format="text"
    )
    assert text == "Look at all those chickens! é\n"
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/audio/transcriptions"))
    assert form_fields(parts) == {"model": ["whisper-1"], "response_format": ["text"]}


async def test_transcription_upload_works_from_the_sync_sdk(sync_client: OpenAI, fake: FakeProvider) -> None:
    body = {"text": "Look at all those chickens!", "usage": {"type": "duration", "seconds": 3}}
    answer(fake, "POST", "/v1/audio/transcriptions", body)
    result = await asyncio.to_thread(
        sync_client.audio.transcriptions.create, file=("c.wav", AUDIO, "audio/wav"), model="gpt-4o-transcribe"
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/audio/transcriptions"))
    assert file_parts(parts) == {"file": [("c.wav", AUDIO)]}
    assert result.to_dict() == body


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
async def test_translation_upload_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = {"text": "Look at all those chickens!"}
    answer(fake, "POST", "/v1/audio/translations", body)
    result = await client.audio.translations.create(
        file=("poules.mp3", AUDIO, "audio/mpeg"), model="whisper-1", prompt="Farm.", response_format="json"
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/audio/translations"))
    assert form_fields(parts) == {"model": ["whisper-1"], "prompt": ["Farm."], "response_format": ["json"]}
    assert file_parts(parts) == {"file": [("poules.mp3", AUDIO)]}
    assert result.to_dict() == body


async def test_multipart_body_is_forwarded_byte_for_byte_with_its_boundary(
    gateway_url: str, provider_headers: dict[str, str], fake: FakeProvider
) -> None:
    boundary = "gateway-test-boundary-7MA4YWxk"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + AUDIO
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    answer(fake, "POST", "/v1/audio/transcriptions", {"text": "ok"})
    headers = {**provider_headers, "Authorization": f"Bearer {KEY}", "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{gateway_url}/v1/audio/transcriptions", data=body, headers=headers) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == {"text": "ok"}
    received = assert_reached(fake, "POST", "/v1/audio/transcriptions")
    assert received.headers["Content-Type"] == content_type
    assert received.size == len(body)
    assert received.body == body
