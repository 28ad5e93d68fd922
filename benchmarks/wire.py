"""The bytes the mock provider sends and the load generator expects: one definition for both sides.

Stream events are numbered (``c000001``, ``c000002``, ...) so the client can check each one exactly:
a lost, reordered, altered or merged event is seen as such, never guessed from sizes.
"""

from __future__ import annotations

import orjson

_CHUNK_HEAD = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench",'
)
_CHOICE = b'"choices":[{"index":0,"delta":%s,"finish_reason":%s}]}\n\n'
ROLE_EVENT = _CHUNK_HEAD + _CHOICE % (b'{"role":"assistant","content":""}', b"null")
FINISH_EVENT = _CHUNK_HEAD + _CHOICE % (b"{}", b'"stop"')
DONE_EVENT = b"data: [DONE]\n\n"
_CONTENT_EVENT = _CHUNK_HEAD + _CHOICE % (b'{"content":"c%06d"}', b"null")
_COMPLETION = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}'
)
#: The marker of an event that carries generated text (time to first token ends at the first one).
CONTENT_MARKER = b'"delta":{"content":'
BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"


def usage_event(chunks: int) -> bytes:
    """The final usage chunk OpenAI sends with ``stream_options.include_usage``."""
    usage = b'"usage":{"prompt_tokens":8,"completion_tokens":%d,"total_tokens":%d}' % (chunks, chunks + 8)
    return _CHUNK_HEAD + b'"choices":[],' + usage + b"}\n\n"


def stream_events(chunks: int, usage: bool) -> list[bytes]:
    """Every event of a stream with ``chunks`` content chunks, in order, ``[DONE]`` last."""
    content = [_CONTENT_EVENT % i for i in range(1, chunks + 1)]
    tail = [usage_event(chunks)] if usage else []
    return [ROLE_EVENT, *content, FINISH_EVENT, *tail, DONE_EVENT]


def completion(body_bytes: int) -> bytes:
    """A chat completion padded (in its content) to about ``body_bytes`` bytes."""
    padding = max(0, body_bytes - len(_COMPLETION) + 2)
    return _COMPLETION % (b"x" * padding)


def chat_request_body(stream: bool, prompt_bytes: int = 900) -> bytes:
    """A ~1 KB chat request (``prompt_bytes`` of prompt), streaming or not."""
    messages = [{"role": "user", "content": "x" * prompt_bytes}]
    body: dict[str, object] = {"model": "bench", "messages": messages}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return orjson.dumps(body)


def multipart_upload(size: int) -> bytes:
    """A transcription upload: ``model`` field plus a ``size``-byte audio file."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return head + b"\0" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


def http_request(
    method: str, url_path: str, host: str, headers: dict[str, str], body: bytes, content_type: str
) -> bytes:
    """One HTTP/1.1 keep-alive request, prebuilt once so sending it costs a single write."""
    lines = [f"{method} {url_path} HTTP/1.1", f"Host: {host}", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
