"""The multipart reader: a form's parts whole, however the reads split them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.providers.form_parts import boundary_of, form_parts

BOUNDARY = b"----form-boundary-42"


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
