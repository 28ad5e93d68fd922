"""OpenAI batch lines into Bedrock batch records, as the upload streams."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.providers.bedrock import converse_body
from gateway.providers.bedrock_batch_input import BatchInput


def line(custom_id: str, **body: Any) -> bytes:
    request = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(request)


def test_batch_lines_become_records_as_they_complete() -> None:
    batch = BatchInput("model-x", converse_body)
    first = line("a", messages=[{"role": "user", "content": "hi"}])
    assert batch.feed(first[:10]) == b""
    out = batch.feed(first[10:] + b"\r\n" + line("b", messages=[{"role": "user", "content": "yo"}]))
    out += batch.end()
    records = [orjson.loads(record) for record in out.splitlines()]
    assert [r["recordId"] for r in records] == ["a", "b"]
    assert records[0]["modelInput"] == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json}\n", "Line 1 of the batch file is not valid JSON"),
        (b'{"body": {}}\n', "Line 1 of the batch file needs a 'custom_id'"),
        (b'\n{"custom_id": "a", "url": "/v1/embeddings", "body": {}}\n', "Line 2 of the batch file asks for"),
        (b"\n\n", "The batch file holds no request"),
    ],
)
def test_a_bad_batch_line_is_refused_by_number(content: bytes, why: str) -> None:
    def translate_whole_file() -> bytes:
        batch = BatchInput("model-x", converse_body)
        return batch.feed(content) + batch.end()

    with pytest.raises(InvalidRequest) as refused:
        translate_whole_file()
    assert refused.value.message.startswith(why)
