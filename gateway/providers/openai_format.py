"""What translated providers answer in: OpenAI chat completions, chunks, usage, embeddings, errors.

Shared by every adapter whose provider speaks another format, so each adapter holds only its
provider's wire differences. Streams go through :class:`ChunkWriter`, which owns what clients rely
on: one id and ``created`` for the whole stream, a role on the first chunk, tool-call indices that
stay stable (0, 1, ... in the order the calls start), the final usage chunk when asked for, and
``[DONE]`` only after a finish reason.
"""

from __future__ import annotations

import base64
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from gateway.errors import GatewayError, UpstreamBroken, error_body, provider_error_type
from gateway.providers.base import NativeRequest

__all__ = [
    "ChunkWriter",
    "EmbeddingsRequest",
    "TextChunkWriter",
    "completion",
    "embeddings",
    "error",
    "error_message",
    "new_id",
    "openai_model",
    "text_completion",
    "tool_call",
    "upstream_error",
    "usage",
]

_DONE = b"data: [DONE]\n\n"

_Event = TypeVar("_Event")


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_hex(12)


def openai_model(model_id: Any, owned_by: str, created: int = 0) -> dict[str, Any]:
    """OpenAI's model object (``created`` 0 where the provider gives no date)."""
    return {"id": str(model_id or ""), "object": "model", "created": created, "owned_by": owned_by}


def usage(
    prompt: int,
    completion: int,
    *,
    cached: int | None = None,
    reasoning: int | None = None,
    cache_write: int | None = None,
) -> dict[str, Any]:
    """OpenAI's usage object. ``prompt`` counts every input token, cached ones included (as OpenAI
    counts them); ``cache_write`` is Anthropic's and Bedrock's cache-creation count, kept as is."""
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None or cache_write is not None:
        details: dict[str, int] = {"cached_tokens": cached or 0}
        if cache_write is not None:
            details["cache_creation_tokens"] = cache_write
        result["prompt_tokens_details"] = details
    if reasoning is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return result


def tool_call(
    call_id: str,
    name: str,
    arguments: str,
    extra: Mapping[str, Any] | None = None,
    function_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One OpenAI tool call; ``extra`` holds provider fields clients must send back as they got them
    (Gemini's ``extra_content.google.thought_signature``), ``function_extra`` those Portkey puts in
    ``function`` when not strict (its ``thought_signature``)."""
    function = {"name": name, "arguments": arguments}
    if function_extra:
        function.update(function_extra)
    call: dict[str, Any] = {"id": call_id, "type": "function", "function": function}
    return {**call, **extra} if extra else call


def completion(
    *,
    response_id: str,
    model: str,
    content: str | None,
    finish_reason: str,
    usage: dict[str, Any] | None,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
    thinking_blocks: list[dict[str, Any]] | None = None,
    content_blocks: list[dict[str, Any]] | None = None,
    choice_extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A whole ``chat.completion`` answer with one choice. ``thinking_blocks``: the signed thinking
    a client sends back in the next turn (see :func:`openai_request.thinking_blocks_of`).
    ``content_blocks`` (on the message) and ``choice_extra`` (on the choice): the provider's extras
    Portkey passes when not strict; ``None`` when strict."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    if tool_calls:
        message["tool_calls"] = tool_calls
    if content_blocks is not None:
        message["content_blocks"] = content_blocks
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    if choice_extra:
        choice.update(choice_extra)
    answer: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    if usage is not None:
        answer["usage"] = usage
    return orjson.dumps(answer)


def text_completion(*, response_id: str, model: str, text: str, finish_reason: str) -> bytes:
    """A whole legacy ``text_completion`` answer (``/v1/completions``) with one choice and no usage
    (for providers that count no tokens)."""
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
    answer = {
        "id": response_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    return orjson.dumps(answer)


@dataclass(slots=True)
class EmbeddingsRequest(NativeRequest):
    """An embeddings request that remembers the client's ``encoding_format``: the OpenAI SDKs ask
    for ``base64`` unless told otherwise, and most providers answer floats only."""

    encoding_format: str = "float"


def embeddings(native: NativeRequest, vectors: Iterable[Sequence[float] | str], prompt_tokens: int) -> bytes:
    """The embeddings list for ``native``; float vectors are base64-encoded when the client asked for
    that, and a string is a vector the provider already encoded so."""
    encode = isinstance(native, EmbeddingsRequest) and native.encoding_format == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(vector, encode)}
        for i, vector in enumerate(vectors)
    ]
    answer = {
        "object": "list",
        "data": data,
        "model": native.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return orjson.dumps(answer)


def _encoded(vector: Sequence[float] | str, base64_wanted: bool) -> Sequence[float] | str:
    """A vector as ``encoding_format: base64`` has it: little-endian float32 bytes, base64-encoded."""
    if isinstance(vector, str) or not base64_wanted:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def error(provider: str, status: int, message: str, code: str | None = None) -> bytes:
    """The body of an upstream error answer, ``status`` kept by the caller."""
    return orjson.dumps(error_body(f"{provider}: {message}", provider_error_type(status), None, code))


def error_message(body: bytes, *paths: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(message, code) found at the first of ``paths`` that holds a message in a JSON error body.

    Each path names keys down to the object holding ``message`` (``("error",)`` for
    ``{"error": {"message", "type"}}``, ``()`` for a top-level ``message``). The code is that
    object's ``type``, ``status`` or ``code``. ``(None, None)`` when the body is not such JSON.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    for path in paths:
        node: Any = parsed
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("message"), str):
            code = node.get("type") or node.get("status") or node.get("code")
            return node["message"], str(code) if code is not None else None
    return None, None


def upstream_error(provider: str, status: int, body: bytes, *paths: tuple[str, ...]) -> bytes:
    """An upstream error answer mapped to OpenAI's shape: the provider's message, or its raw body
    (cut short) when it sent something else."""
    message, code = error_message(body, *paths)
    if message is None:
        text = body[:500].decode("utf-8", "replace").strip()
        message = f"HTTP {status}" + (f": {text}" if text else "")
    return error(provider, status, message, code)


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` events of one stream.

    Each method returns the SSE bytes of one event. Tool calls are keyed by whatever the provider
    uses to tell them apart (a content-block index, a call id); the OpenAI index is assigned when a
    call starts and reused for every argument delta of that call.
    """

    __slots__ = (
        "_created",
        "_failure",
        "_finished",
        "_include_usage",
        "_model",
        "_prefix",
        "_tools",
        "done",
        "usage",
    )

    def __init__(self, model: str, include_usage: bool, response_id: str | None = None) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = int(time.time())
        self._tools: dict[object, int] = {}
        self._finished = False
        #: ``[DONE]`` was written: the stream is complete.
        self.done = False
        self.usage: dict[str, Any] | None = None
        #: A provider error held back until the chunks before it went out (see :meth:`each`).
        self._failure: GatewayError | None = None
        self._prefix = b""
        self.start(response_id or new_id())

    def start(self, response_id: str, model: str | None = None) -> None:
        """Set the id (and model) every chunk carries, once the provider's first event names them."""
        self._model = model or self._model
        head = {"id": response_id, "object": "chat.completion.chunk", "created": self._created}
        # Every chunk starts the same: encode that once, not per chunk.
        self._prefix = b"data: " + orjson.dumps({**head, "model": self._model})[:-1] + b',"choices":'

    def role(self) -> bytes:
        return self._delta({"role": "assistant", "content": ""})

    # ``blocks``: the delta's ``content_blocks`` (Portkey's, when not strict; ``None`` when strict).

    def text(self, text: str, blocks: list[dict[str, Any]] | None = None) -> bytes:
        if blocks is None:
            return self._delta({"content": text}) if text else b""
        return self._with_blocks({"content": text} if text else {}, blocks)

    def reasoning(self, text: str, blocks: list[dict[str, Any]] | None = None) -> bytes:
        if blocks is None:
            return self._delta({"reasoning_content": text}) if text else b""
        return self._with_blocks({"reasoning_content": text} if text else {}, blocks)

    def thinking_block(self, block: Mapping[str, Any], blocks: list[dict[str, Any]] | None = None) -> bytes:
        """A whole signed thinking block, once its signature came (its text went out as
        ``reasoning_content`` deltas already)."""
        return self._with_blocks({"thinking_blocks": [block]}, blocks)

    def content_blocks(self, blocks: list[dict[str, Any]] | None) -> bytes:
        """A delta holding only ``content_blocks`` (a block start that has no OpenAI field)."""
        return self._with_blocks({}, blocks)

    def choice_extra(self, fields: Mapping[str, Any]) -> bytes:
        """A chunk with provider fields on its choice (Gemini's ``groundingMetadata``)."""
        return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None, **fields}])

    def tool_start(
        self,
        key: object,
        call_id: str,
        name: str,
        arguments: str = "",
        extra: Mapping[str, Any] | None = None,
        function_extra: Mapping[str, Any] | None = None,
    ) -> bytes:
        index = self._tools.setdefault(key, len(self._tools))
        call = {"index": index, **tool_call(call_id, name, arguments, extra, function_extra)}
        return self._delta({"tool_calls": [call]})

    def tool_arguments(self, key: object, fragment: str) -> bytes:
        index = self._tools.get(key)
        if index is None or not fragment:
            return b""
        return self._delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._tools)

    def finish(self, reason: str) -> bytes:
        self._finished = True
        return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])

    def close(self) -> bytes:
        """The usage chunk (when the client asked for it) and ``[DONE]``: the stream is complete."""
        if self.done:
            return b""
        self.done = True
        if self._include_usage and self.usage is not None:
            return self._chunk([], self.usage) + _DONE
        return _DONE

    def each(self, events: Sequence[_Event], translate: Callable[[_Event], bytes]) -> bytes:
        """The chunks ``translate`` makes of the events one read completed.

        An error after events of the same read that made chunks is held back until the next read
        or the end, so those chunks go out first: the client gets everything the provider sent
        before its error, however the network split the bytes.
        """
        if self._failure is not None:
            raise self._failure
        if len(events) == 1:  # the usual case: one event a read
            return translate(events[0])
        out: list[bytes] = []
        for event in events:
            try:
                out.append(translate(event))
            except GatewayError as failure:
                if not any(out):
                    raise
                self._failure = failure
                break
        return b"".join(out)

    def end(self, provider: str, *, finished_by_close: bool = False) -> bytes:
        """At the end of the body: close a stream that finished; a stream that did not is cut.

        ``finished_by_close``: only :meth:`close` (the provider's own end event) completes the
        stream, not a finish reason alone.
        """
        if self._failure is not None:
            raise self._failure
        if self.done:
            return b""
        if not self._finished or finished_by_close:
            raise UpstreamBroken(f"Provider {provider} ended the stream before it was complete.")
        return self.close()

    def _with_blocks(self, delta: dict[str, Any], blocks: list[dict[str, Any]] | None) -> bytes:
        if blocks:
            delta["content_blocks"] = blocks
        return self._delta(delta) if delta else b""

    def _delta(self, delta: Mapping[str, Any]) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        tail = orjson.dumps(choices)
        if usage is not None:
            tail += b',"usage":' + orjson.dumps(usage)
        return self._prefix + tail + b"}\n\n"


class TextChunkWriter(ChunkWriter):
    """The chunks of a streamed ``/v1/completions`` answer: ``text_completion`` objects whose choice
    carries ``text`` (no delta, no role), then the usage chunk and ``[DONE]`` as for chat."""

    __slots__ = ()

    def __init__(self, model: str, include_usage: bool, response_id: str | None = None) -> None:
        super().__init__(model, include_usage, response_id or new_id("cmpl-"))

    def start(self, response_id: str, model: str | None = None) -> None:
        self._model = model or self._model
        head = {"id": response_id, "object": "text_completion", "created": self._created}
        self._prefix = b"data: " + orjson.dumps({**head, "model": self._model})[:-1] + b',"choices":'

    def text(self, text: str, blocks: list[dict[str, Any]] | None = None) -> bytes:
        if not text:
            return b""
        return self._chunk([{"text": text, "index": 0, "logprobs": None, "finish_reason": None}])

    def finish(self, reason: str) -> bytes:
        self._finished = True
        return self._chunk([{"text": "", "index": 0, "logprobs": None, "finish_reason": reason}])

    def end_of_body(self) -> bytes:
        """For a provider whose stream has no end event (its body just ends): a held provider error
        is raised; otherwise the stream is complete, finished with ``stop`` if nothing said why."""
        if self._failure is not None:
            raise self._failure
        if self.done:
            return b""
        return (b"" if self._finished else self.finish("stop")) + self.close()
