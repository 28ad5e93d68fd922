"""An uploaded JSONL file held whole before it is sent: for providers whose upload needs its
length (S3's ``PutObject``, a multipart ``Content-Length``) or needs every line checked before
anything is stored upstream (Fireworks datasets).

The form (``form_parts.py``) is read in the request's auth step, its ``file`` part passed line by
line through a :class:`~gateway.providers.jsonl.JsonLines` (a translation, or a check), into a
temporary file: in memory up to 8 MiB, on disk past that. The client's upload itself is capped by
the gateway's ``max_upload_bytes``. The temporary file goes (closed, deleted) with the request
that holds it.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import IO

from gateway.errors import InvalidRequest
from gateway.providers.form_parts import form_parts
from gateway.providers.jsonl import JsonLines

__all__ = [
    "UploadSpool",
]

#: The file stays in memory up to this size, then goes to disk.
_SPOOL_MEMORY = 8 * 1024 * 1024
_READ = 256 * 1024
#: A form field other than the file (``purpose``) is a short word.
_MAX_FIELD = 1024


class UploadSpool:
    """The form's ``file`` part as ``lines`` turned it: written whole (:meth:`fill`), then sent
    (:meth:`chunks`). ``check_purpose`` gets the form's ``purpose`` field (``b""`` without one) and
    raises a 400 for one the provider does not take."""

    __slots__ = (
        "_boundary",
        "_check_purpose",
        "_file",
        "_form",
        "_lines",
        "filename",
        "purpose",
        "sha256",
        "size",
    )

    def __init__(
        self,
        form: AsyncIterable[bytes],
        boundary: bytes,
        lines: JsonLines,
        check_purpose: Callable[[bytes], None],
    ) -> None:
        self._form = form
        self._boundary = boundary
        self._lines = lines
        self._check_purpose = check_purpose
        self._file: IO[bytes] | None = None
        self.sha256 = ""
        self.size = 0
        self.filename = ""
        self.purpose = ""

    async def fill(self) -> None:
        """Read the form: its ``file`` part through ``lines`` into the spool, its ``purpose`` checked."""
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)  # noqa: SIM115 (kept open)
        digest = hashlib.sha256()
        fields: dict[str, bytes] = {}
        current, found = "", False
        async for part in form_parts(self._form, self._boundary):
            if part.start:
                current = part.name
                if current == "file":
                    found, self.filename = True, part.filename
                continue
            out = self._lines.feed(part.data) if current == "file" else _field(fields, current, part.data)
            spool.write(out)
            digest.update(out)
        if not found:
            raise InvalidRequest("The upload has no 'file' part.", param="file", code="invalid_body")
        last = self._lines.end()
        spool.write(last)
        digest.update(last)
        purpose = fields.get("purpose", b"")
        self._check_purpose(purpose)
        self.purpose = purpose.strip().decode(errors="replace")
        self.size, self.sha256, self._file = spool.tell(), digest.hexdigest(), spool

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self._file is not None
        self._file.seek(0)
        while block := self._file.read(_READ):
            yield block


def _field(fields: dict[str, bytes], name: str, data: bytes) -> bytes:
    """Keep a short form field's value; nothing of it goes into the spool."""
    value = fields.get(name, b"") + data
    if len(value) > _MAX_FIELD:
        raise InvalidRequest(
            f"The form field {name[:40]!r} is too long.", param=name[:40], code="invalid_body"
        )
    fields[name] = value
    return b""
