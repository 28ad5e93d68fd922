"""The semantic cache's embedding call: one text → one vector, from the settings' provider.

The request is built by the provider's own adapter (``ProviderAdapter.prepare``), so any provider
the gateway translates embeddings for (OpenAI-compatible ones, Cohere, Gemini, Bedrock, ...) can
embed, with its auth step (tokens, signatures) as for any request. It goes through the gateway's
upstream session: the SSRF guard vets every address dialled and no redirect is followed.

A failure of any kind (refused, timed out, an error status, an answer without a vector) is
``None``: the caller treats it as a plain MISS. Failures are counted and logged at most once per
:data:`~gateway.redis_link.WARN_EVERY` seconds, naming the provider and what went wrong, never the key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout

from gateway.errors import GatewayError
from gateway.providers.base import ClientBody, Credentials, ProviderAdapter, UpstreamCall
from gateway.redis_link import ThrottledWarning

__all__ = [
    "Embedder",
    "Embedding",
]

_log = logging.getLogger("gateway.cache")

#: An embeddings answer larger than this is refused (a vector of 3,072 floats is about 70 KB).
MAX_ANSWER_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Embedding:
    vector: list[float]
    #: The provider's answer in OpenAI's shape (its ``usage`` gives the tokens, so the cost).
    answer: bytes
    #: How long the call took, in milliseconds.
    duration_ms: float


class Embedder:
    """Embeds texts with one provider and model; built once at start-up."""

    def __init__(
        self,
        adapter: ProviderAdapter,
        model: str,
        *,
        api_key: str,
        base_url: str,
        options: dict[str, str],
        credentials: Credentials,
        session: ClientSession,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = adapter.spec.slug
        self.model = model
        self._adapter = adapter
        self._call = UpstreamCall("embeddings", "", base_url, options, api_key=api_key)
        self._credentials = credentials
        self._session = session
        self._timeout = timeout
        self._warning = ThrottledWarning(
            _log,
            f"cache: the semantic cache's embedding call to {self.provider} failed",
            "requests go on as exact-cache misses",
            clock,
        )

    async def embed(self, text: str) -> Embedding | None:
        """``text``'s vector, or ``None`` when the call failed (counted, logged once per interval)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._request(text)
        except TimeoutError:
            answer = f"no answer within {self._timeout:g} s"
        except (ClientError, OSError) as exc:
            answer = type(exc).__name__
        except GatewayError as exc:
            answer = f"{exc.status} {exc.code or exc.type}"
        if isinstance(answer, str):
            self._warning.failed(answer)
            return None
        body, vector = answer
        return Embedding(vector, body, (time.perf_counter() - started) * 1000)

    async def _request(self, text: str) -> tuple[bytes, list[float]] | str:
        """The answer and its vector, or what is wrong with the answer."""
        prepared = self._adapter.prepare(
            self._call, ClientBody(params={"model": self.model, "input": [text]})
        )
        if prepared.authorize is not None:
            await prepared.authorize(self._credentials)
        headers = {"Content-Type": "application/json", **prepared.headers}
        async with self._session.post(
            prepared.url,
            data=prepared.body,
            headers=headers,
            allow_redirects=False,
            timeout=ClientTimeout(total=None),
        ) as response:
            body = await response.content.read(MAX_ANSWER_BYTES + 1)
            status = response.status
        if len(body) > MAX_ANSWER_BYTES:
            return "answer too large"
        if prepared.translation is not None and prepared.native is not None:
            body = prepared.translation.read_body(status, body, prepared.native)
        if status != 200:
            return f"status {status}"
        vector = _first_vector(body)
        return (body, vector) if vector is not None else "answer without an embedding"

    @property
    def errors(self) -> int:
        return self._warning.errors


def _first_vector(body: bytes) -> list[float] | None:
    """``data[0].embedding`` of an OpenAI embeddings answer, when it is a list of numbers."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
    vector = first.get("embedding") if first is not None else None
    if not isinstance(vector, list) or not vector:
        return None
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in vector):
        return None
    return vector
