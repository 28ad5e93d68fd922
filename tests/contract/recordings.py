"""Provider recordings under ``--fixtures-dir`` (../shared/fixtures): found, read, and served by the fake.

Only OpenAI-format providers whose recordings carry a ``.meta.json`` (status and response headers)
are replayed here; the files are read in place, never copied into the project.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from multidict import CIMultiDict

from tests.fake_provider import Received, Responder

#: Recording folder → the gateway's provider slug.
PROVIDER_SLUGS = {"openai": "openai", "groq": "groq", "mistral": "mistral-ai", "openrouter": "openrouter"}
BODY_SUFFIXES = (".sse", ".json", ".txt")


def is_rate_limit_header(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("x-ratelimit-") or lowered in ("retry-after", "retry-after-ms")


@dataclass(frozen=True)
class Recording:
    folder: str
    meta_path: Path

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.body_path.name}"

    @cached_property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads(self.meta_path.read_text(encoding="utf-8"))
        return meta

    @property
    def body_path(self) -> Path:
        return self.meta_path.with_name(self.meta["body_file"])

    @cached_property
    def body(self) -> bytes:
        return self.body_path.read_bytes()

    @property
    def slug(self) -> str:
        return PROVIDER_SLUGS[self.folder]

    @property
    def status(self) -> int:
        return int(self.meta["response"]["status"])

    @property
    def method(self) -> str:
        return str(self.meta["request"]["method"]).upper()

    @property
    def endpoint(self) -> str:
        """The request path after ``/v1/`` (``chat/completions``), whatever the provider's prefix."""
        return urlsplit(self.meta["request"]["url"]).path.split("/v1/", 1)[1]

    def response_headers(self, wanted: Any) -> list[tuple[str, str]]:
        headers = self.meta["response"]["headers"].items()
        return [(name, value) for name, values in headers if wanted(name) for value in values]

    @property
    def content_type(self) -> str:
        return self.response_headers(lambda name: name.lower() == "content-type")[0][1]

    @property
    def rate_limit_headers(self) -> list[tuple[str, str]]:
        return self.response_headers(is_rate_limit_header)

    @property
    def request_is_multipart(self) -> bool:
        headers = self.meta["request"].get("headers", {})
        return any(
            name.lower() == "content-type" and values[0].startswith("multipart/")
            for name, values in headers.items()
        )

    @property
    def request_json(self) -> bytes:
        return json.dumps(self.meta["request"]["body"]).encode()

    @property
    def is_chat_stream(self) -> bool:
        return self.endpoint == "chat/completions" and self.body_path.suffix == ".sse"

    def events(self) -> list[bytes]:
        """The body split after each blank line: the fake writes one event at a time."""
        return [part for part in re.split(rb"(?<=\n\n)", self.body) if part]

    def payloads(self) -> list[dict[str, Any]]:
        """The JSON of every ``data:`` line except ``[DONE]``."""
        lines = self.body.decode().splitlines()
        return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line != "data: [DONE]"]


def find_recordings(fixtures_dir: str | Path) -> list[Recording]:
    root = Path(fixtures_dir)
    found = []
    for folder in PROVIDER_SLUGS:
        for meta_path in sorted((root / folder).glob("*.meta.json")):
            recording = Recording(folder, meta_path)
            if recording.body_path.suffix in BODY_SUFFIXES and recording.body_path.is_file():
                found.append(recording)
    return found


def recordings_for(config: pytest.Config) -> list[Recording]:
    return find_recordings(config.getoption("--fixtures-dir"))


def replay(recording: Recording) -> Responder:
    """The fake's answer: the recorded bytes, status, content type and rate-limit headers."""

    async def respond(request: web.Request, received: Received) -> web.StreamResponse:
        headers = CIMultiDict([("Content-Type", recording.content_type), *recording.rate_limit_headers])
        if recording.body_path.suffix != ".sse":
            return web.Response(body=recording.body, status=recording.status, headers=headers)
        stream = web.StreamResponse(status=recording.status, headers=headers)
        await stream.prepare(request)
        for event in recording.events():
            await stream.write(event)
        await stream.write_eof()
        return stream

    return respond
