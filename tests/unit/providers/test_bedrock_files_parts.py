"""The pure pieces of Bedrock files: the multipart reader, the batch-line translation, S3 names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.providers.bedrock import converse_body
from gateway.providers.bedrock_batch_input import BatchInput
from gateway.providers.form_parts import boundary_of, form_parts
from gateway.providers.s3 import object_url, parse_file_id, s3_object

BOUNDARY = b"----form-boundary-42"
OPTIONS = {"aws-region": "us-east-1"}


def form(*parts: tuple[str, str, bytes]) -> bytes:
    body = b"preamble to ignore\r\n"
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += b"--" + BOUNDARY + f"\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + b"--" + BOUNDARY + b"--\r\n"


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_form(data: bytes, size: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    name = ""
    async for part in form_parts(chunks(data, size), BOUNDARY):
        if part.start:
            name = part.name
            found[name] = [part.filename, b""]
        else:
            found[name][1] += part.data
    return found


@pytest.mark.parametrize("size", [1, 2, 3, 7, 23, 64, 4096])
async def test_form_parts_are_whole_however_the_reads_split_them(size: int) -> None:
    file = b"line one\r\n--not-the-boundary\r\n" + b"x" * 300
    data = form(("purpose", "", b"batch"), ("file", "in.jsonl", file))
    assert await read_form(data, size) == {"purpose": ["", b"batch"], "file": ["in.jsonl", file]}


@pytest.mark.parametrize(
    "data",
    [b"", b"no form here", b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=x\r\n\r\nopen"],
)
async def test_a_body_that_is_not_the_form_is_a_400(data: bytes) -> None:
    with pytest.raises(InvalidRequest):
        await read_form(data, 5)


def test_the_boundary_comes_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="abc-1"') == b"abc-1"
    with pytest.raises(InvalidRequest):
        boundary_of("multipart/form-data")


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


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("evil.com/x", "k"),
        ("a", "k"),
        ("UPPER", "k"),
        ("192.168.0.1", "k"),
        ("b..b", "k"),
        ("bucket", ""),
        ("bucket", "../x"),
        ("bucket", "a/./b"),
        ("bucket", "a\nb"),
    ],
)
def test_bucket_and_key_that_could_change_the_url_are_refused(bucket: str, key: str) -> None:
    with pytest.raises(InvalidRequest):
        s3_object(bucket, key, "x-portkey-aws-s3-bucket")


def test_object_urls_encode_the_key_and_keep_the_host() -> None:
    location = s3_object("my-bucket", "dir/a b?#%.jsonl", "p")
    assert (
        object_url("", OPTIONS, location)
        == "https://my-bucket.s3.us-east-1.amazonaws.com/dir/a%20b%3F%23%25.jsonl"
    )
    dotted = s3_object("my.bucket", "k", "p")
    assert object_url("", OPTIONS, dotted) == "https://s3.us-east-1.amazonaws.com/my.bucket/k"
    assert object_url("http://127.0.0.1:9/", OPTIONS, location, "attributes").startswith(
        "http://127.0.0.1:9/my-bucket/dir/a%20b"
    )


def test_file_ids_decode_once_or_twice() -> None:
    once = "s3%3A%2F%2Fmy-bucket%2Fa%25b.jsonl"  # the id of s3://my-bucket/a%b.jsonl, sent as is
    assert parse_file_id(once, "file_id").key == "a%b.jsonl"
    twice = once.replace("%", "%25")  # as the OpenAI SDK sends an id in a path
    assert parse_file_id(twice, "file_id").key == "a%b.jsonl"
