"""Real Cohere v2 recordings read through the Cohere translation: what the client would get says
what Cohere sent.

One case per recording with a ``.meta.json`` under ``<--fixtures-dir>/cohere``. Whole bodies go
through ``read_body`` with their recorded status; streams through the stream translator in 7-byte
pieces, so events cut anywhere must still come out whole. Every expectation is derived from the
recording itself (its text deltas, tool calls, usage and finish reason).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.errors import ProviderError
from gateway.providers import cohere
from gateway.providers.base import NativeRequest, Translation, UpstreamCall

pytestmark = pytest.mark.recordings

PIECE = 7
FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}


def _recordings(config: pytest.Config) -> list[Path]:
    folder = Path(config.getoption("--fixtures-dir")) / "cohere"
    return sorted(folder.glob("*.meta.json")) if folder.is_dir() else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "meta_path" in metafunc.fixturenames:
        found = _recordings(metafunc.config)
        metafunc.parametrize("meta_path", found, ids=[path.name.removesuffix(".meta.json") for path in found])


def test_the_cohere_recordings_are_there(pytestconfig: pytest.Config) -> None:
    folder = Path(pytestconfig.getoption("--fixtures-dir")) / "cohere"
    if not _recordings(pytestconfig):
        pytest.fail(f"No Cohere recordings in {folder}: give --fixtures-dir the shared fixtures directory.")


def _translation(meta: dict[str, Any]) -> tuple[str, Translation]:
    """The OpenAI endpoint the recorded Cohere one serves, and its translation."""
    endpoint = "embeddings" if urlsplit(meta["request"]["url"]).path == "/v2/embed" else "chat/completions"
    translation = cohere.provider().translation(endpoint)
    assert translation is not None
    return endpoint, translation


def _native(meta: dict[str, Any], stream: bool) -> NativeRequest:
    """The gateway's request for the recorded one (the same model, streamed or not)."""
    endpoint, translation = _translation(meta)
    model = meta["request"]["body"]["model"]
    body: dict[str, Any] = {"model": model, "input": "x", "encoding_format": "float"}
    if endpoint == "chat/completions":
        body = {"model": model, "messages": [{"role": "user", "content": "x"}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    return translation.request(UpstreamCall(endpoint, "", "", {}), body)


def _openai_usage(usage: dict[str, Any]) -> tuple[int, int]:
    counts = usage.get("tokens") or usage["billed_units"]
    return int(counts["input_tokens"]), int(counts["output_tokens"])


def test_recording(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    body = meta_path.with_name(meta["body_file"]).read_bytes()
    status = int(meta["response"]["status"])
    if meta["body_file"].endswith(".sse"):
        _check_stream(_native(meta, stream=True), body)
        return
    answer = json.loads(_translation(meta)[1].read_body(status, body, _native(meta, stream=False)))
    recorded = json.loads(body)
    if status >= 400:
        assert answer == {
            "error": {"message": f"cohere: {recorded['message']}", "type": answer["error"]["type"]}
            | {"param": None, "code": None}
        }
        return
    _check_answer(answer, recorded)


def _check_answer(answer: dict[str, Any], recorded: dict[str, Any]) -> None:
    message = answer["choices"][0]["message"]
    cohere_message = recorded["message"]
    texts = [part["text"] for part in cohere_message.get("content") or [] if part["type"] == "text"]
    calls = cohere_message.get("tool_calls") or []
    assert message["content"] == ("".join(texts) if texts or not calls else None)
    assert message.get("reasoning_content") == (cohere_message.get("tool_plan") or None)
    assert message.get("tool_calls", []) == calls
    assert answer["id"] == recorded["id"]
    assert answer["choices"][0]["finish_reason"] == FINISH[recorded["finish_reason"]]
    prompt, completion = _openai_usage(recorded["usage"])
    assert answer["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _check_stream(native: NativeRequest, body: bytes) -> None:
    stream = native.stream
    assert stream is not None
    out = b"".join(stream.feed(body[i : i + PIECE]) for i in range(0, len(body), PIECE)) + stream.end()
    events = [line[6:] for line in out.split(b"\n\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    recorded = [json.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: {")]
    deltas = [r["delta"]["message"]["content"] for r in recorded if r["type"] == "content-delta"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "".join(delta.get("text", "") for delta in deltas)
    end = next(r for r in recorded if r["type"] == "message-end")["delta"]
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finishes == [FINISH[end["finish_reason"]]]
    prompt, completion = _openai_usage(end["usage"])
    assert chunks[-1]["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert stream.usage == chunks[-1]["usage"]
    start = next(r for r in recorded if r["type"] == "message-start")
    assert {c["id"] for c in chunks} == {start["id"]}


def test_an_error_event_is_a_provider_error() -> None:
    """No recording has one; Cohere documents message-end's ``error``, this shape guards the rest."""
    native = _native(
        {"request": {"url": "https://api.cohere.com/v2/chat", "body": {"model": "m"}}}, stream=True
    )
    assert native.stream is not None
    with pytest.raises(ProviderError, match="cohere: overloaded"):
        native.stream.feed(b'event: error\ndata: {"message": "overloaded"}\n\n')
    assert native.url == "https://api.cohere.com/v2/chat"
