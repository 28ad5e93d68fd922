"""The streamed multipart reader and line splitter behind uploads that are transformed on the way
(``providers/form_upload.py``): whatever way the network splits the body, the file's bytes and the
fields come out the same."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.errors import InvalidRequest
from gateway.providers.form_upload import FormUpload, lines

BOUNDARY = "----form-boundary-1234"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
FILE = b'{"a": 1}\r\n{"b": 2}\n--not-the-boundary\n' * 3


def form(purpose: str = "batch", file: bytes = FILE) -> bytes:
    return (
        (
            f"preamble\r\n--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="purpose"\r\n\r\n'
            f"{purpose}\r\n--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + file
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def pieces(data: bytes, *cuts: int) -> AsyncIterator[bytes]:
    start = 0
    for cut in (*cuts, len(data)):
        if cut > start:
            yield data[start:cut]
            start = cut


async def read(upload: FormUpload) -> bytes:
    return b"".join([chunk async for chunk in upload])


async def test_the_file_and_fields_are_the_same_wherever_the_body_is_cut() -> None:
    body = form()
    for cut in range(1, len(body)):
        upload = FormUpload(pieces(body, cut), CONTENT_TYPE)
        assert await read(upload) == FILE, cut
        assert upload.fields == {"purpose": "batch"}
        assert upload.filename == "in.jsonl"


async def test_a_body_read_byte_by_byte_gives_the_same_file() -> None:
    body = form()
    upload = FormUpload(pieces(body, *range(1, len(body))), f'multipart/form-data; boundary="{BOUNDARY}"')
    assert await read(upload) == FILE


async def test_the_fields_before_the_file_are_known_when_its_first_bytes_come() -> None:
    upload = FormUpload(pieces(form("fine-tune")), CONTENT_TYPE)
    async for _ in upload:
        assert upload.fields["purpose"] == "fine-tune"
        break


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (form()[:-30], CONTENT_TYPE),  # cut inside the file
        (form().replace(b"Content-Disposition", b"X-Other"), CONTENT_TYPE),
        (f"--{BOUNDARY}\r\n".encode() + b"x" * 10_000, CONTENT_TYPE),  # headers that never end
        (form(), "multipart/form-data"),  # no boundary
    ],
)
async def test_a_malformed_form_is_a_400(body: bytes, content_type: str) -> None:
    with pytest.raises(InvalidRequest):
        await read(FormUpload(pieces(body, 7, 50), content_type))


async def test_lines_come_whole_however_they_are_split_and_blank_ones_are_skipped() -> None:
    data = b'{"a": 1}\n\n{"b": 22}\r\n  \n{"c": 333}'
    for cut in range(1, len(data)):
        found = [line async for line in lines(pieces(data, cut, cut + 3), max_line=100)]
        assert found == [b'{"a": 1}', b'{"b": 22}\r', b'{"c": 333}'], cut


async def test_a_line_longer_than_the_limit_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        [line async for line in lines(pieces(b"x" * 500, 100, 200, 300, 400), max_line=250)]
