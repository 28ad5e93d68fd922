"""The response cache as a pipeline stage: lookup before the attempts, store after them.

Portkey's contract: a routing config's ``cache: {mode, max_age}`` (``[cache] mode`` for requests
without a config), ``x-portkey-cache-namespace`` partitions entries, ``x-portkey-cache-force-refresh:
true`` skips the lookup and stores the fresh answer, and ``x-portkey-cache-status`` says what
happened: ``HIT``, ``SEMANTIC HIT``, ``MISS``, ``SEMANTIC MISS``, ``REFRESH``, or ``DISABLED``.

The lookup uses the first planned target's key (``cache/key.py``); each attempt that may be
stored records its answer (``cache/capture.py``) under its own target's key, and the stage stores
it only when it ended well: a 200 whose JSON parses, or a stream that ended cleanly (kept in its
JSON form, ``cache/replay.py``). Error answers, cut or failed streams, ``Cache-Control: no-store``
answers and answers over ``max_entry_bytes`` are never stored. A HIT is answered here, as JSON or
as an event stream shaped by what the request asked for, and recorded with its usage marked as
cached (no cost counted twice).

``semantic`` mode looks up the exact key first; on a miss it embeds the last user message
(``cache/semantic.py``) and searches the vectors of answers stored for requests equal in all but
that message (the partition). A match at the threshold or above is a ``SEMANTIC HIT``; otherwise
the answer, once stored, is indexed under the message's vector. The embedding call is recorded
as a request of its own (its tokens and cost), and its failure is a plain MISS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.cache.capture import Capture
from gateway.cache.entry import CachedAnswer, decode, encode
from gateway.cache.key import CACHEABLE_FAMILIES, cache_key, semantic_parts
from gateway.cache.replay import json_from_stream, stream_from_json, stream_is_complete
from gateway.cache.store import CacheStore
from gateway.config.extras import cache_path
from gateway.errors import InvalidRequest
from gateway.guardrails import answer as guarded
from gateway.observability.record import RequestRecord
from gateway.observability.tracing import trace_id

if TYPE_CHECKING:
    from gateway.cache.embedder import Embedding
    from gateway.cache.semantic import SemanticCache
    from gateway.config.settings import CacheSettings
    from gateway.observability.recorder import Recorder
    from gateway.routing.attempts import RequestContext
    from gateway.routing.target import Target

__all__ = [
    "CacheLookup",
    "CacheStage",
]

logger = logging.getLogger("gateway.cache")

NAMESPACE_HEADER = "x-portkey-cache-namespace"
REFRESH_HEADER = "x-portkey-cache-force-refresh"
STATUS_HEADER = "x-portkey-cache-status"
#: A namespace is hashed into the key; this bounds what a caller makes the gateway hash.
MAX_NAMESPACE = 256
#: Stores waiting for their backend at once; more are dropped (the answer is not cached).
MAX_PENDING_STORES = 256


@dataclass(slots=True)
class CacheLookup:
    """The request's cache state, on its context (``RequestContext.cache``)."""

    namespace: str
    refresh: bool
    #: What the answer's ``x-portkey-cache-status`` says (a HIT is answered by the stage itself).
    status: str = "MISS"
    #: A semantic MISS: the partition and the vector to index the stored answer under.
    partition: str = ""
    vector: list[float] | None = None


class CacheStage:
    """Before stage (lookup) and after stage (store) over one :class:`CacheStore`."""

    def __init__(self, store: CacheStore, settings: CacheSettings, recorder: Recorder) -> None:
        self.store = store
        self._settings = settings
        self._recorder = recorder
        self._pending: set[asyncio.Task[None]] = set()
        self.stores_dropped = 0
        self._paths = frozenset(cache_path(path) for path in settings.paths)
        #: Set at start-up when the settings name an embeddings provider and model.
        self.semantic: SemanticCache | None = None

    def mode(self, target: Target) -> str:
        """``simple``, ``semantic`` or ``""`` for ``target``: its config's cache, else the default
        for requests without a config."""
        if target.cache is not None:
            return target.cache.mode
        return self._settings.mode if target.config_path is None else ""

    def keeps(self, context: RequestContext, target: Target) -> bool:
        """Whether this request's answer may be cached at all: chat, completions and embeddings,
        and the JSON endpoints the config's (or the settings') ``paths`` name, when not streamed."""
        parsed = context.body.parsed
        if parsed is None:
            return False
        if context.family in CACHEABLE_FAMILIES:
            return True
        paths = target.cache.paths if target.cache is not None else self._paths
        return context.request.path in paths and parsed.get("stream") is not True

    async def before(self, context: RequestContext) -> web.StreamResponse | None:
        target = context.targets[0]
        mode = self.mode(target)
        if not mode or not self.keeps(context, target):
            return None
        if mode == "semantic" and self.semantic is None:
            return None
        headers = context.request.headers
        namespace = headers.get(NAMESPACE_HEADER, "")
        if len(namespace) > MAX_NAMESPACE:
            raise InvalidRequest(
                f"{NAMESPACE_HEADER} is longer than {MAX_NAMESPACE} characters.",
                param=NAMESPACE_HEADER,
                code="invalid_cache_namespace",
            )
        key = self._key(context, target, namespace)
        if key is None:
            return None
        refresh = headers.get(REFRESH_HEADER, "").strip().lower() == "true"
        lookup = context.cache = CacheLookup(namespace, refresh, "REFRESH" if refresh else "MISS")
        if refresh:
            return None
        if (response := await self._answer(key, context, "HIT")) is not None:
            return response
        if mode == "semantic":
            return await self._semantic_lookup(context, target, lookup)
        return None

    def capture_for(self, context: RequestContext, target: Target) -> Capture | None:
        """A recorder for this attempt's answer when it may be stored (the lookup ran)."""
        if context.cache is None or not self.mode(target):
            return None
        key = self._key(context, target, context.cache.namespace)
        if key is None:
            return None
        max_age = target.cache.max_age if target.cache and target.cache.max_age is not None else None
        return Capture(
            key, self._settings.max_age if max_age is None else max_age, self._settings.max_entry_bytes
        )

    def finished(self, context: RequestContext, record: RequestRecord) -> None:
        """After stage: store the attempt's recorded answer if it ended well."""
        if context.cache is None:
            return
        record.cache_status = context.cache.status
        if record.cache_entry is None or record.outcome != "ok" or record.status != 200:
            return
        key, max_age, captured = record.cache_entry
        body = _storable(captured, record.stream)
        if body is None or max_age <= 0:
            return
        if len(self._pending) >= MAX_PENDING_STORES:
            self.stores_dropped += 1
            return
        now = time.time()
        value = encode(CachedAnswer(body, record.provider, record.model, now))
        task = asyncio.get_running_loop().create_task(self.store.put(key, value, max_age))
        lookup = context.cache
        if lookup.vector is not None and self.semantic is not None:
            self.semantic.add(lookup.partition, lookup.vector, key, now + max_age)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        """Let pending stores finish, then release the backend."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.semantic is not None:
            await self.semantic.close()
        await self.store.close()

    async def _answer(self, key: str, context: RequestContext, status: str) -> web.StreamResponse | None:
        """The HIT stored under ``key`` as this request wants it, recorded; ``None``: a miss."""
        value = await self.store.get(key)
        answer = decode(value) if value else None
        response = _response(answer, context, status) if answer is not None else None
        if response is None or answer is None or context.cache is None:
            return None
        context.cache.status = status
        record = self._hit_record(context, answer, status)
        if context.guard is not None:
            # The output hooks read a stored answer as they read a fresh one: it was stored as
            # the provider gave it, before any hook saw or changed it.
            response = await guarded.checked(context.guard, response, context.targets[0], 200)
            record.status = response.status
            context.guard.record(record)
        self._recorder.add(record)
        return response

    async def _semantic_lookup(
        self, context: RequestContext, target: Target, lookup: CacheLookup
    ) -> web.StreamResponse | None:
        """After an exact miss: the stored answer of the closest earlier question, if close enough.
        Requests it cannot compare (no user text last, a text too long to embed, a failed
        embedding) stay plain misses."""
        assert self.semantic is not None
        body = context.body.for_target(target.override_params, target.default_params, target.drop_params)
        parts = semantic_parts(body.params or {})
        if parts is None or len(parts[0]) > self._settings.semantic_max_chars:
            return None
        text, rest = parts
        partition = self._key(context, target, lookup.namespace, rest, semantic=True)
        embedding = await self.semantic.embedder.embed(text)
        if partition is None or embedding is None:
            return None
        self._record_embedding(context, embedding)
        lookup.status, lookup.partition, lookup.vector = "SEMANTIC MISS", partition, embedding.vector
        threshold = target.cache.semantic_threshold if target.cache is not None else None
        match = self.semantic.search(
            partition, embedding.vector, threshold or self._settings.semantic_threshold
        )
        if match is None:
            return None
        if (response := await self._answer(match.key, context, "SEMANTIC HIT")) is not None:
            return response
        self.semantic.forget(match.key)  # its answer is gone from the store
        return None

    def _key(
        self,
        context: RequestContext,
        target: Target,
        namespace: str,
        params: dict[str, Any] | None = None,
        *,
        semantic: bool = False,
    ) -> str | None:
        """The target's key for this request (or for ``params``, its body split for the semantic
        cache: then the partition's key); ``None`` when the gateway sees no credential of the
        caller's (one it forwards unread, say): entries could not be kept apart per tenant, so
        nothing is cached for it."""
        if params is None:
            body = context.body.for_target(target.override_params, target.default_params, target.drop_params)
            params = body.params or {}
        model = params.get("model")
        identity = target.identity(model if isinstance(model, str) else "")
        if not identity.credential:
            return None
        # A marked path is keyed by the path itself: its family may hold other endpoints.
        endpoint = context.family if context.family in CACHEABLE_FAMILIES else context.request.path
        return cache_key(("semantic:" if semantic else "") + (endpoint or ""), identity, namespace, params)

    def _record_embedding(self, context: RequestContext, embedding: Embedding) -> None:
        """The embedding call as a request of its own: its latency, tokens and cost are counted."""
        assert self.semantic is not None
        embedder = self.semantic.embedder
        record = RequestRecord(
            "POST",
            "/v1/embeddings",
            embedder.provider,
            trace_id(context.request),
            context.metadata,
            status=200,
            family="embeddings",
            model=embedder.model,
            target="cache.semantic",
            duration_ms=embedding.duration_ms,
            upstream_ms=embedding.duration_ms,
            tail=embedding.answer[-8192:],
        )
        self._recorder.add(record)

    def _hit_record(self, context: RequestContext, answer: CachedAnswer, status: str) -> RequestRecord:
        request = context.request
        parsed = context.body.parsed or {}
        record = RequestRecord(
            request.method,
            request.path,
            answer.provider,
            trace_id(request),
            context.metadata,
            status=200,
            family=context.family or "other",
            model=answer.model,
            stream=parsed.get("stream") is True,
            duration_ms=(time.perf_counter() - context.started) * 1000,
            tail=answer.body[-8192:],
            cache_status=status,
            key=context.caller.key.id if context.caller is not None else "",
        )
        return record


def _storable(captured: bytes, stream: bool) -> bytes | None:
    """The JSON form of a recorded answer, or ``None`` when it must not be stored."""
    if stream or captured.lstrip().startswith(b"data:"):
        if not stream_is_complete(captured):
            return None
        return json_from_stream(captured)
    try:
        parsed = orjson.loads(captured)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or "error" in parsed:
        return None
    return captured


def _response(answer: CachedAnswer, context: RequestContext, status: str) -> web.StreamResponse | None:
    """The HIT as this request wants it; ``None`` when the entry has no such form (a miss)."""
    parsed: dict[str, Any] = context.body.parsed or {}
    headers = {STATUS_HEADER: status, "x-portkey-provider": answer.provider}
    if parsed.get("stream") is True:
        options = parsed.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = stream_from_json(answer.body, include_usage)
        if events is None:
            return None
        headers |= {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        return web.Response(body=events, headers=headers)
    headers["Content-Type"] = "application/json"
    return web.Response(body=answer.body, headers=headers)
