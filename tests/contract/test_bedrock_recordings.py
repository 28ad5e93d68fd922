"""Real Bedrock Converse recordings read through the Bedrock translation: what the client would get
says what Bedrock sent.

One case per Converse / ConverseStream recording with a ``.meta.json`` under
``<--fixtures-dir>/bedrock`` (the ``/invoke`` recordings hold Anthropic's own Messages format, which
this adapter never asks for: chat goes through Converse). The gateway's URL for the recorded model
and region must be the recorded one. Whole bodies go through ``read_body`` with their recorded
status; event streams (``.bin``) through the stream translator in 7-byte pieces, so frames cut
anywhere must still come out whole. Expectations come from the recording itself: the frames the
collector decoded (``.decoded.jsonl``) and the JSON bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from gateway.providers import bedrock
from gateway.providers.base import NativeRequest, UpstreamCall

pytestmark = pytest.mark.recordings

PIECE = 7
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
ACTIONS = ("converse", "converse-stream")


def _recordings(config: pytest.Config) -> list[Path]:
    folder = Path(config.getoption("--fixtures-dir")) / "bedrock"
    found = sorted(folder.glob("*.meta.json")) if folder.is_dir() else []
    return [path for path in found if _url(json.loads(path.read_text())).rsplit("/", 1)[1] in ACTIONS]


def _url(meta: dict[str, Any]) -> str:
    return str(meta["request"]["url"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "meta_path" in metafunc.fixturenames:
        found = _recordings(metafunc.config)
        metafunc.parametrize("meta_path", found, ids=[path.name.removesuffix(".meta.json") for path in found])


def test_the_bedrock_recordings_are_there(pytestconfig: pytest.Config) -> None:
    folder = Path(pytestconfig.getoption("--fixtures-dir")) / "bedrock"
    if not _recordings(pytestconfig):
        pytest.fail(f"No Bedrock Converse recordings in {folder}: give --fixtures-dir the shared fixtures.")


def _native(meta: dict[str, Any]) -> NativeRequest:
    """The gateway's request for the recorded one: the same model and region, streamed or not."""
    parts = urlsplit(_url(meta))
    region = parts.hostname.split(".")[1]  # type: ignore[union-attr]
    _, _, model, action = parts.path.split("/")
    body: dict[str, Any] = {"model": unquote(model), "messages": [{"role": "user", "content": "x"}]}
    if action == "converse-stream":
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    call = UpstreamCall("chat/completions", "", "", {"aws-region": region})
    return bedrock.BedrockConverse().request(call, body)


def test_recording(meta_path: Path) -> None:
    meta = json.loads(meta_path.read_text())
    body = meta_path.with_name(meta["body_file"]).read_bytes()
    native = _native(meta)
    assert native.url == _url(meta)
    if native.stream is not None:
        _check_stream(native, body, meta_path.with_name(meta["body_file"].replace(".bin", ".decoded.jsonl")))
        return
    status = int(meta["response"]["status"])
    answer = json.loads(bedrock.BedrockConverse().read_body(status, body, native))
    recorded = json.loads(body)
    if status >= 400:
        assert answer["error"]["message"] == f"bedrock: {recorded['message']}"
        return
    _check_message(answer, recorded)


def _check_message(answer: dict[str, Any], recorded: dict[str, Any]) -> None:
    blocks = recorded["output"]["message"]["content"]
    message = answer["choices"][0]["message"]
    texts = [block["text"] for block in blocks if "text" in block]
    assert message["content"] == ("".join(texts) if texts else None)
    uses = [block["toolUse"] for block in blocks if "toolUse" in block]
    calls = message.get("tool_calls", [])
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        (use["toolUseId"], use["name"], use["input"]) for use in uses
    ]
    assert answer["choices"][0]["finish_reason"] == FINISH[recorded["stopReason"]]
    _check_usage(answer["usage"], recorded["usage"])


def _check_usage(usage: dict[str, Any], recorded: dict[str, Any]) -> None:
    cached = recorded.get("cacheReadInputTokens", 0) + recorded.get("cacheWriteInputTokens", 0)
    assert usage["prompt_tokens"] == recorded["inputTokens"] + cached
    assert usage["completion_tokens"] == recorded["outputTokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def _check_stream(native: NativeRequest, body: bytes, decoded_path: Path) -> None:
    frames = [json.loads(line) for line in decoded_path.read_text().splitlines()]
    events = {frame["headers"][":event-type"]: frame["payload"] for frame in frames}  # last of each kind
    assert native.stream is not None
    out = b"".join(native.stream.feed(body[i : i + PIECE]) for i in range(0, len(body), PIECE))
    out += native.stream.end()
    data = [line.removeprefix(b"data: ") for line in out.split(b"\n\n") if line]
    assert data[-1] == b"[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    expected = _expected(frames)
    assert "".join(d.get("content") or "" for d in deltas) == expected["text"]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == expected["reasoning"]
    assert _tool_calls(deltas) == expected["tools"]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == FINISH[
        events["messageStop"]["stopReason"]
    ]
    assert chunks[-1]["choices"] == []
    _check_usage(chunks[-1]["usage"], events["metadata"]["usage"])
    assert native.stream.usage == chunks[-1]["usage"]


def _expected(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Text, reasoning and tool calls (id, name, arguments by block) as the frames carry them."""
    text, reasoning, tools = [], [], {}
    for frame in frames:
        kind, payload = frame["headers"][":event-type"], frame["payload"]
        index = payload.get("contentBlockIndex")
        if kind == "contentBlockStart" and "toolUse" in payload["start"]:
            use = payload["start"]["toolUse"]
            tools[index] = [use["toolUseId"], use["name"], ""]
        elif kind == "contentBlockDelta":
            delta = payload["delta"]
            text.append(delta.get("text", ""))
            reasoning.append(delta.get("reasoningContent", {}).get("text", ""))
            if "toolUse" in delta:
                tools[index][2] += delta["toolUse"]["input"]
    calls = [(call_id, name, json.loads(arguments)) for call_id, name, arguments in tools.values()]
    return {"text": "".join(text), "reasoning": "".join(reasoning), "tools": calls}


def _tool_calls(deltas: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    calls: dict[int, list[str]] = {}
    for delta in deltas:
        for part in delta.get("tool_calls", []):
            call = calls.setdefault(part["index"], ["", "", ""])
            call[0] += part.get("id", "")
            call[1] += part["function"].get("name", "")
            call[2] += part["function"].get("arguments", "")
    return [(call_id, name, json.loads(arguments)) for call_id, name, arguments in calls.values()]
