"""Real Anthropic recordings (``--fixtures-dir``/anthropic) through the adapter's own readers.

Streams go through :class:`MessagesStream` in 7-byte pieces (reads that end anywhere, even inside
a line or the padding of a JSON object), whole bodies through :func:`read_message` with the status
their ``.meta.json`` recorded. What the OpenAI side must hold is derived from each recording by the
simple parsing here (text deltas, tool_use blocks and their partial JSON, usage, stop_reason), never
copied from it by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import GatewayError
from gateway.providers.anthropic import MessagesStream, read_message
from tests.conftest import fixtures_present

pytestmark = pytest.mark.recordings

PIECE = 7
#: Anthropic's stop reasons as OpenAI's finish reasons (docs.anthropic.com, "stop_reason").
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def recordings(config: pytest.Config, pattern: str) -> list[Path]:
    folder = Path(config.getoption("--fixtures-dir")) / "anthropic"
    found = sorted(folder.glob(pattern))
    if not found and fixtures_present(config):
        pytest.fail(f"no Anthropic recordings {pattern} in {folder}: pass --fixtures-dir", pytrace=False)
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    patterns = {"stream": ["*.sse"], "whole": ["messages-*.json", "error-*.json"]}
    for name, globs in patterns.items():
        if name in metafunc.fixturenames:
            paths = [
                p for g in globs for p in recordings(metafunc.config, g) if not p.name.endswith(".meta.json")
            ]
            metafunc.parametrize(name, paths, ids=[p.name for p in paths])


def recorded_status(body: Path) -> int:
    """The status in the body's ``.meta.json``; 200 for a file copied without one (a success body)."""
    meta = body.with_name(body.name.rsplit(".", 1)[0] + ".meta.json")
    if not meta.is_file():
        assert body.name.startswith("messages-"), f"{body.name} has no .meta.json"
        return 200
    return int(json.loads(meta.read_text())["response"]["status"])


# --- the recording's own account, parsed simply --------------------------------------------------


def provider_events(body: bytes) -> list[dict[str, Any]]:
    """Each event's JSON (``data:`` lines joined), with its ``event:`` name checked against its type."""
    events = []
    for block in body.decode().split("\n\n"):
        lines = block.splitlines()
        data = "\n".join(line[len("data:") :].strip() for line in lines if line.startswith("data:"))
        if not data:
            continue
        payload = json.loads(data)
        names = [line[len("event:") :].strip() for line in lines if line.startswith("event:")]
        assert names in ([], [payload["type"]]), block
        events.append(payload)
    return events


def expected_from_stream(events: list[dict[str, Any]]) -> dict[str, Any]:
    text = ""
    calls: dict[int, dict[str, str]] = {}
    counts: dict[str, int] = {}
    stop_reason = None
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            counts.update(event["message"]["usage"])
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            block = event["content_block"]
            calls[event["index"]] = {"id": block["id"], "name": block["name"], "arguments": ""}
        elif kind == "content_block_start" and event["content_block"]["type"] == "text":
            text += event["content_block"]["text"]
        elif kind == "content_block_delta" and event["delta"]["type"] == "text_delta":
            text += event["delta"]["text"]
        elif kind == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            calls[event["index"]]["arguments"] += event["delta"]["partial_json"]
        elif kind == "message_delta":
            counts.update({k: v for k, v in event.get("usage", {}).items() if v is not None})
            stop_reason = event["delta"]["stop_reason"]
    return {
        "id": events[0]["message"]["id"],
        "model": events[0]["message"]["model"],
        "text": text,
        "tool_calls": [calls[index] for index in sorted(calls)],
        "usage": openai_usage(counts),
        "finish_reason": FINISH[stop_reason or ""],
    }


def openai_usage(counts: dict[str, Any]) -> dict[str, int]:
    cached = counts.get("cache_read_input_tokens") or 0
    written = counts.get("cache_creation_input_tokens") or 0
    prompt = counts["input_tokens"] + cached + written
    return {"prompt_tokens": prompt, "completion_tokens": counts["output_tokens"]}


# --- what the adapter made of it ----------------------------------------------------------------


def replay(body: bytes) -> list[dict[str, Any]]:
    """The OpenAI chunks the translator wrote for ``body`` fed in small pieces; ``[DONE]`` last."""
    stream = MessagesStream("anthropic", "claude-asked-for", include_usage=True)
    out = b"".join(stream.feed(body[i : i + PIECE]) for i in range(0, len(body), PIECE)) + stream.end()
    frames = out.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""], out[-200:]
    assert all(frame.startswith(b"data: ") and b"\n" not in frame for frame in frames[:-1])
    return [json.loads(frame[len(b"data: ") :]) for frame in frames[:-2]]


def reconstructed(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    for chunk in chunks:
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            for call in choice["delta"].get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                if "id" in call:
                    entry |= {"id": call["id"], "name": call["function"]["name"]}
                entry["arguments"] += call["function"].get("arguments") or ""
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert len({c["id"] for c in chunks}) == len({c["model"] for c in chunks}) == 1
    assert sorted(calls) == list(range(len(calls))), "tool-call indices are 0, 1, ... in order"
    return {
        "id": chunks[0]["id"],
        "model": chunks[0]["model"],
        "text": text,
        "tool_calls": [calls[index] for index in sorted(calls)],
        "usage": {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"]},
        "finish_reason": finish[0] if len(finish) == 1 else finish,
    }


def stream_body(path: Path) -> bytes:
    """The recorded stream. One is a file copy stored without its last line ending (see the
    fixtures README); the wire always ends the last event with a blank line, so it is put back."""
    body = path.read_bytes()
    return body if body.endswith(b"\n\n") else body.rstrip(b"\n") + b"\n\n"


def test_stream_recording_reconstructs_to_what_the_provider_sent(stream: Path) -> None:
    body = stream_body(stream)
    expected = expected_from_stream(provider_events(body))
    chunks = replay(body)
    assert reconstructed(chunks) == expected
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    for call in expected["tool_calls"]:
        json.loads(call["arguments"])  # the pieces make whole JSON again


def test_cut_stream_recording_never_ends_clean(stream: Path) -> None:
    body = stream_body(stream)
    cut = body[: body.rindex(b"event: message_stop")]
    translator = MessagesStream("anthropic", "claude", include_usage=False)
    for i in range(0, len(cut), PIECE):
        translator.feed(cut[i : i + PIECE])
    with pytest.raises(GatewayError, match="anthropic"):
        translator.end()


def test_whole_recording_reads_as_an_openai_answer(whole: Path) -> None:
    status = recorded_status(whole)
    body = whole.read_bytes()
    recorded = json.loads(body)
    answer = json.loads(read_message("anthropic", status, body, "claude-asked-for"))
    if status >= 400:
        assert answer == {"error": expected_error(status, recorded)}
        return
    choice = answer["choices"][0]
    message = choice["message"]
    blocks = recorded["content"]
    uses = [b for b in blocks if b["type"] == "tool_use"]
    assert (answer["object"], answer["id"], answer["model"]) == (
        "chat.completion",
        recorded["id"],
        recorded["model"],
    )
    assert message["content"] == "".join(b["text"] for b in blocks if b["type"] == "text")
    assert [(c["id"], c["function"]["name"]) for c in message.get("tool_calls", [])] == [
        (u["id"], u["name"]) for u in uses
    ]
    assert [json.loads(c["function"]["arguments"]) for c in message.get("tool_calls", [])] == [
        u["input"] for u in uses
    ]
    assert choice["finish_reason"] == FINISH[recorded["stop_reason"]]
    usage = answer["usage"]
    assert {k: usage[k] for k in ("prompt_tokens", "completion_tokens")} == openai_usage(recorded["usage"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def expected_error(status: int, recorded: dict[str, Any]) -> dict[str, Any]:
    error = recorded["error"]
    # Anthropic's 4xx type names are OpenAI's too; its 5xx ones (overloaded_error) are not.
    kind = error["type"] if status < 500 else "api_error"
    return {"message": f"anthropic: {error['message']}", "type": kind, "param": None, "code": error["type"]}
