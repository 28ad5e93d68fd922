"""Bedrock batch output records into OpenAI batch output lines, as the file streams."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import ProviderError
from gateway.providers.bedrock_batch_output import BatchOutput, is_batch_output

ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}},
    "stopReason": "max_tokens",
    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
}


@pytest.mark.parametrize("size", [1, 5, 64, 10_000])
def test_records_become_openai_lines_however_the_reads_split_them(size: int) -> None:
    records = b"".join(
        orjson.dumps({"recordId": f"r{i}", "modelInput": {"messages": []}, "modelOutput": ANSWER}) + b"\n"
        for i in range(3)
    )
    output = BatchOutput("m")
    lines = b"".join(output.feed(records[i : i + size]) for i in range(0, len(records), size)) + output.end()
    parsed = [orjson.loads(line) for line in lines.splitlines()]
    assert [line["custom_id"] for line in parsed] == ["r0", "r1", "r2"]
    body = parsed[0]["response"]["body"]
    assert (body["choices"][0]["finish_reason"], body["model"]) == ("length", "m")
    assert parsed[0]["response"]["request_id"] == body["id"]


def test_a_record_without_output_is_an_error_line() -> None:
    output = BatchOutput("m")
    line = output.feed(b'{"recordId": "r", "modelInput": {}}') + output.end()
    assert orjson.loads(line)["error"] == {
        "code": None,
        "message": "Bedrock returned no output for this record.",
    }


def test_a_line_that_is_not_a_record_is_a_502_naming_bedrock() -> None:
    with pytest.raises(ProviderError) as broken:
        BatchOutput("m").feed(b"<html>\n")
    assert (broken.value.status, broken.value.message[:8]) == (502, "bedrock:")


def test_only_records_files_are_batch_output() -> None:
    assert is_batch_output("out/abcdefabcdef/in.jsonl.out")
    assert not is_batch_output("out/abcdefabcdef/manifest.json.out")
    assert not is_batch_output("in.jsonl")
