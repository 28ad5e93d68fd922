"""The stream-transform micro-benchmark runs for every provider it lists: each case's stream is a
complete one in its provider's format (the translator would raise on a cut or malformed stream)."""

from __future__ import annotations

import orjson
import pytest

from benchmarks import transforms


@pytest.mark.parametrize("case", transforms.CASES, ids=lambda case: case.name)
def test_each_case_streams_a_complete_answer_with_usage(case: transforms.Case) -> None:
    translator = case.translator()
    out = b"".join(translator.feed(event) for event in case.events(5)) + translator.end()
    if isinstance(translator, transforms.SplitterOnly):
        return
    assert out.count(b'"delta":{"content":"') + out.count(b'"function":{"arguments":"') >= 5
    assert out.endswith(b"data: [DONE]\n\n")
    assert translator.usage is not None


@pytest.mark.parametrize("case", transforms.COMPLETION_CASES, ids=lambda case: case.name)
def test_each_completion_case_streams_complete_text_completion_chunks(case: transforms.Case) -> None:
    translator = case.translator()
    out = b"".join(translator.feed(event) for event in case.events(5)) + translator.end()
    assert out.count(b'"object":"text_completion"') == 6  # five texts and the finish chunk
    assert out.count(b'"finish_reason":null') == 5
    assert out.endswith(b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


@pytest.mark.parametrize("case", transforms.FORMAT_CASES, ids=lambda case: case.name)
def test_each_format_case_streams_a_complete_answer_with_usage(case: transforms.Case) -> None:
    translator = case.translator()
    out = b"".join(translator.feed(event) for event in case.events(5)) + translator.end()
    if "messages" in case.name:  # Anthropic's events
        assert out.count(b'"type":"text_delta"') >= 5
        assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        assert b'"output_tokens":5' in out
        return
    assert (
        out.count(b'"type":"response.output_text.delta"')
        + out.count(b'"type":"response.function_call_arguments.delta"')
        >= 5
    )
    last = orjson.loads(out.rstrip().rpartition(b"\ndata: ")[2])
    assert last["type"] == "response.completed"
    assert last["response"]["usage"]["output_tokens"] == 5


@pytest.mark.parametrize("case", transforms.NATIVE_CASES, ids=lambda case: case.name)
def test_each_native_case_re_frames_a_complete_anthropic_stream_with_usage(case: transforms.Case) -> None:
    translator = case.translator()
    out = b"".join(translator.feed(event) for event in case.events(5)) + translator.end()
    assert out.count(b"event: content_block_delta\ndata: ") == 5
    assert out.startswith(b"event: message_start\ndata: ")
    assert out.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert translator.usage is not None
    assert translator.usage["completion_tokens"] == 5


def test_main_prints_a_row_per_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert transforms.main(["--deltas", "20", "--rounds", "2"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [
        case.name
        for case in transforms.CASES
        + transforms.COMPLETION_CASES
        + transforms.FORMAT_CASES
        + transforms.NATIVE_CASES
    ]
