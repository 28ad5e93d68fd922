"""Real Gemini and Vertex AI recordings read through the Google translations: what the client would
get says what Google sent.

One case per recording with a ``.meta.json`` under ``<--fixtures-dir>/gemini`` that answers a
request the gateway makes (``generateContent``, ``streamGenerateContent?alt=sse``,
``batchEmbedContents``; the JSON-array stream without ``alt=sse`` is a form the gateway never asks
for). Whole bodies go through ``read_body`` with their recorded status; streams (CRLF-framed)
through the stream translator in 7-byte pieces, so events and line endings cut anywhere must still
come out whole. Every expectation is derived from the recording itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from gateway.providers import gemini, vertex
from gateway.providers.base import NativeRequest, StreamTranslator, Translation, UpstreamCall

pytestmark = pytest.mark.recordings

PIECE = 7
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}
SERVED = (":generateContent", ":batchEmbedContents", ":streamGenerateContent?alt=sse")


def _folder(config: pytest.Config) -> Path:
    return Path(config.getoption("--fixtures-dir")) / "gemini"


def _recordings(config: pytest.Config) -> list[Path]:
    folder = _folder(config)
    found = sorted(folder.glob("*.meta.json")) if folder.is_dir() else []
    return [path for path in found if json.loads(path.read_text())["request"]["url"].endswith(SERVED)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "meta_path" in metafunc.fixturenames:
        found = _recordings(metafunc.config)
        metafunc.parametrize("meta_path", found, ids=[path.name.removesuffix(".meta.json") for path in found])


def test_the_gemini_recordings_are_there(pytestconfig: pytest.Config) -> None:
    if not _recordings(pytestconfig):
        pytest.fail(
            f"No Gemini recordings in {_folder(pytestconfig)}: "
            "give --fixtures-dir the shared fixtures directory."
        )


def _request(meta: dict[str, Any]) -> tuple[str, Translation, NativeRequest]:
    """The provider slug, translation and the gateway's request for the recorded one (same model,
    same method: streamed or not, chat or embeddings)."""
    url = urlsplit(meta["request"]["url"])
    model, method = unquote(url.path).rsplit("/", 1)[1].split(":")
    on_vertex = url.hostname == "aiplatform.googleapis.com"
    module = vertex if on_vertex else gemini
    endpoint = "embeddings" if method == "batchEmbedContents" else "chat/completions"
    body: dict[str, Any] = {"model": model, "input": "x", "encoding_format": "float"}
    if endpoint == "chat/completions":
        body = {"model": model, "messages": [{"role": "user", "content": "x"}]}
        if method == "streamGenerateContent":
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    translation = module.provider().translation(endpoint)
    assert translation is not None
    native = translation.request(UpstreamCall(endpoint, "", "", {"vertex-project-id": "p"}), body)
    assert urlsplit(native.url).path.endswith(f"/models/{model}:{method}")
    return module.SPEC.slug, translation, native


def test_recording(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    body = meta_path.with_name(meta["body_file"]).read_bytes()
    status = int(meta["response"]["status"])
    slug, translation, native = _request(meta)
    if native.stream is not None:
        _check_stream(native.stream, body)
        return
    answer = json.loads(translation.read_body(status, body, native))
    recorded = json.loads(body)
    if status >= 400:
        error = recorded["error"]
        assert answer["error"]["message"] == f"{slug}: {error['message']}"
        assert answer["error"]["code"] == error["status"]
    elif "embeddings" in recorded:
        assert [item["embedding"] for item in answer["data"]] == [e["values"] for e in recorded["embeddings"]]
    else:
        _check_completion(answer, recorded)


def _expected(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """What the recorded answer says, from its parts, last finish reason and last usage."""
    parts = [part for p in payloads for c in p.get("candidates", [])[:1] for part in c["content"]["parts"]]
    calls = [
        (p["functionCall"]["name"], p["functionCall"].get("args", {}), p.get("thoughtSignature"))
        for p in parts
        if "functionCall" in p
    ]
    finish = [c["finishReason"] for p in payloads for c in p.get("candidates", [])[:1] if "finishReason" in c]
    reason = FINISH.get(finish[-1], "stop")
    counts = [p["usageMetadata"] for p in payloads if "usageMetadata" in p][-1]
    thoughts = counts.get("thoughtsTokenCount", 0)
    return {
        "text": "".join(part.get("text", "") for part in parts if "text" in part and not part.get("thought")),
        "reasoning": "".join(part["text"] for part in parts if part.get("thought")),
        "calls": calls,
        "finish": "tool_calls" if calls and reason == "stop" else reason,
        "usage": (
            counts["promptTokenCount"] + counts.get("toolUsePromptTokenCount", 0),
            counts.get("candidatesTokenCount", 0) + thoughts,
            counts["totalTokenCount"],
            thoughts or None,
        ),
        "id": payloads[-1]["responseId"],
    }


def _calls(calls: list[dict[str, Any]]) -> list[tuple[str, Any, str | None]]:
    """(name, arguments, thought signature) of OpenAI tool calls."""
    return [
        (
            call["function"]["name"],
            json.loads(call["function"]["arguments"]),
            call.get("extra_content", {}).get("google", {}).get("thought_signature"),
        )
        for call in calls
    ]


def _usage(usage: dict[str, Any]) -> tuple[int, int, int, int | None]:
    reasoning = usage.get("completion_tokens_details", {}).get("reasoning_tokens")
    return usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"], reasoning


def _check_completion(answer: dict[str, Any], recorded: dict[str, Any]) -> None:
    expected = _expected([recorded])
    message = answer["choices"][0]["message"]
    assert answer["id"] == expected["id"]
    assert message["content"] == (expected["text"] if expected["text"] or not expected["calls"] else None)
    assert message.get("reasoning_content", "") == expected["reasoning"]
    assert _calls(message.get("tool_calls", [])) == expected["calls"]
    assert all(call["id"] for call in message.get("tool_calls", []))
    assert answer["choices"][0]["finish_reason"] == expected["finish"]
    assert _usage(answer["usage"]) == expected["usage"]


def _check_stream(stream: StreamTranslator, body: bytes) -> None:
    out = b"".join(stream.feed(body[i : i + PIECE]) for i in range(0, len(body), PIECE)) + stream.end()
    events = [line[len(b"data: ") :] for line in out.split(b"\n\n") if line]
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    payloads = [json.loads(event[len(b"data: ") :]) for event in body.split(b"\r\n\r\n") if event.strip()]
    expected = _expected(payloads)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert {chunk["id"] for chunk in chunks} == {expected["id"]}
    assert "".join(d.get("content") or "" for d in deltas) == expected["text"]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == expected["reasoning"]
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert [call["index"] for call in calls] == list(range(len(calls)))
    assert _calls(calls) == expected["calls"]
    finishes = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    assert [reason for reason in finishes if reason] == [expected["finish"]]
    assert chunks[-1]["choices"] == []
    assert _usage(chunks[-1]["usage"]) == expected["usage"]
