"""Real Anthropic recordings as the Responses API: each recorded stream through the adapter's
translator to the chat form, then through ``formats/responses``'s stream; each recorded message
body through ``read_message`` then ``from_chat``. The SDK's own types and stream accumulator
must accept the result, and it must carry the recording's text, tool calls and usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.responses import Response

from gateway.formats.responses import ResponsesFormat
from gateway.providers.anthropic import read_message
from tests.contract.test_anthropic_recordings import (
    expected_from_stream,
    provider_events,
    recordings,
    replay,
    stream_body,
)
from tests.unit.formats.test_responses_stream import accumulated, events

pytestmark = pytest.mark.recordings

REQUEST = {"model": "claude-asked-for", "input": "Hi", "stream": True}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, pattern in {"stream": "*.sse", "message": "messages-*.json"}.items():
        if name in metafunc.fixturenames:
            paths = [p for p in recordings(metafunc.config, pattern) if not p.name.endswith(".meta.json")]
            metafunc.parametrize(name, paths, ids=[p.name for p in paths])


def outcome(response: Response) -> dict[str, Any]:
    calls = [(i.call_id, i.name, i.arguments) for i in response.output if i.type == "function_call"]
    assert response.usage is not None
    return {"text": response.output_text, "calls": calls, "output_tokens": response.usage.output_tokens}


def test_a_recorded_stream_is_the_same_answer_as_a_response_stream(stream: Path) -> None:
    body = stream_body(stream)
    recorded = expected_from_stream(provider_events(body))
    translator = ResponsesFormat().stream(REQUEST)
    written = b"".join(translator.feed(chunk) for chunk in replay(body)) + translator.end()
    found = events(written)
    assert [e.sequence_number for e in found] == list(range(len(found)))
    assert outcome(accumulated(found)) == {
        "text": recorded["text"],
        "calls": [(c["id"], c["name"], c["arguments"]) for c in recorded["tool_calls"]],
        "output_tokens": recorded["usage"]["completion_tokens"],
    }


def test_a_recorded_message_is_the_same_answer_as_a_response(message: Path) -> None:
    chat = orjson.loads(read_message("anthropic", 200, message.read_bytes(), "claude-asked-for"))
    response = Response.model_validate(ResponsesFormat().from_chat(chat, REQUEST))
    recorded = orjson.loads(message.read_bytes())
    text = "".join(b["text"] for b in recorded["content"] if b["type"] == "text")
    calls = [b for b in recorded["content"] if b["type"] == "tool_use"]
    assert outcome(response) == {
        "text": text,
        "calls": [(b["id"], b["name"], orjson.dumps(b["input"]).decode()) for b in calls],
        "output_tokens": recorded["usage"]["output_tokens"],
    }
