"""``/v1/files`` on Vertex AI: OpenAI batch files stored in Google Cloud Storage.

Upload (``POST /v1/files``, Portkey's headers): the form's file is read as it streams, each line of
an OpenAI batch file (``{"custom_id", "method", "url", "body"}``) becomes a Vertex batch line
(``{"request": GenerateContentRequest, "requestId": custom_id}``, the body through the Gemini
translation, ``gemini.py``) and the lines go on to objects.insert (``uploadType=media``) of
``gs://{x-portkey-vertex-storage-bucket-name}/{x-portkey-provider-file-name or a new
{uuid}.jsonl}`` while the client still sends: neither the file nor its transform is ever held
whole. Purpose ``upload`` (Portkey's) stores the file as it is. The answer is an OpenAI File whose
id is the object's ``gs://`` URI, percent-encoded (``gcs.py``).
Retrieve (``GET /v1/files/{id}``) reads the object's metadata; ``GET /v1/files/{id}/content``
relays its bytes (``alt=media``) as they arrive. Listing and deleting files are not offered
(Portkey offers neither): a 400 says so.

Batch input format: https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import GatewayError, InvalidRequest
from gateway.providers import gcs, gemini
from gateway.providers.base import ClientBody, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.batch_objects import unix_time
from gateway.providers.form_upload import FormUpload, lines
from gateway.providers.openai_format import upstream_error
from gateway.providers.translated import json_object
from gateway.providers.vertex_access import PROVIDER, VertexAuth

__all__ = [
    "BUCKET",
    "FILE_NAME",
    "VertexFiles",
]

BUCKET = "vertex-storage-bucket-name"
FILE_NAME = "provider-file-name"
_PURPOSE_HEADER = "x-portkey-file-purpose"
#: One line of a batch file: a request, images inlined as base64 included (Gemini takes 20 MB).
MAX_LINE = 32 * 1024 * 1024
_CHAT = "/v1/chat/completions"


class BatchLines:
    """The uploaded file as Vertex gets it, transformed read by read. ``failure``: why it stopped
    early (a malformed form or line, the upload limit), for the gateway to answer instead of the
    broken upstream request."""

    __slots__ = ("_form", "failure", "purpose")

    def __init__(self, form: FormUpload, purpose: str) -> None:
        self._form = form
        self.purpose = purpose
        self.failure: GatewayError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks():
                yield chunk
        except GatewayError as exc:
            self.failure = exc
            raise

    async def _chunks(self) -> AsyncIterator[bytes]:
        file = aiter(self._form)
        first = await anext(file, b"")
        # The form's fields before the file are read by now (the OpenAI SDKs send purpose first).
        self.purpose = self.purpose or self._form.fields.get("purpose", "")
        if self.purpose == "upload":
            if first:
                yield first
            async for chunk in file:
                yield chunk
            return
        if not self.purpose:
            raise InvalidRequest(
                "The upload names no purpose: send the form's purpose field before the file (as the "
                "OpenAI SDKs do), or x-portkey-file-purpose.",
                param="purpose",
                code="missing_purpose",
            )
        if self.purpose != "batch":
            raise InvalidRequest(
                "Vertex AI files take purpose 'batch' (or 'upload', stored as sent), not "
                f"{self.purpose[:40]!r}.",
                param="purpose",
                code="unsupported_purpose",
            )
        number = 0
        async for line in lines(_chained(first, file), MAX_LINE):
            number += 1
            yield batch_line(line, number)


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def batch_line(line: bytes, number: int) -> bytes:
    """One OpenAI batch line as a Vertex Gemini batch line; a 400 that names the line otherwise."""
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        item = None
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        raise _bad_line(number, 'it is not a JSON object with a "body" object')
    if item.get("url", _CHAT) != _CHAT:
        raise _bad_line(number, f"Vertex AI batches here serve {_CHAT} only")
    try:
        request = gemini.content_body(item["body"], PROVIDER)
    except InvalidRequest as exc:
        raise _bad_line(number, exc.message) from None
    native: dict[str, Any] = {"request": request}
    if isinstance(item.get("custom_id"), str):
        # Left out of what the model sees (the job's instanceConfig), kept in its output line.
        native["requestId"] = item["custom_id"]
    return orjson.dumps(native) + b"\n"


def _bad_line(number: int, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"Line {number} of the file cannot be sent to Vertex AI: {why}.", code="invalid_file"
    )


@dataclass(slots=True)
class FileRequest(NativeRequest):
    """A Cloud Storage request, with what its answer describes: the object, and (for an upload)
    the transformed lines, which know the purpose once the form named it."""

    storage_object: gcs.StorageObject = field(default_factory=lambda: gcs.StorageObject("", ""))
    upload: BatchLines | None = None


class VertexFiles(VertexAuth):
    """The ``files`` endpoints (see the module's docstring); the same token as every Vertex call."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        parts = call.endpoint.split("/")
        if parts == ["files"] and call.method == "POST":
            return self._prepared(self._upload(call, body))
        if len(parts) == 2 and call.method == "GET":
            return self._prepared(self.request(call, {}))
        if len(parts) == 3 and parts[2] == "content" and call.method == "GET":
            native = self._request(call, parts[1], media=True)
            # No translation: the object's bytes are relayed as they arrive.
            return PreparedRequest(
                native.url, native.headers, None, authorize=functools.partial(self.authorize, native)
            )
        raise InvalidRequest(
            f"Vertex AI does not offer {call.method} /v1/{parts[0]}{'/{id}' if len(parts) > 1 else ''}: "
            "files are uploaded, retrieved and read (their content) only.",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> FileRequest:
        """objects.get of the file ``files/{id}`` names (its metadata)."""
        return self._request(call, call.endpoint.split("/")[1], media=False)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return upstream_error(PROVIDER, status, body, ("error",))
        assert isinstance(native, FileRequest)
        found = json_object(PROVIDER, body)
        purpose = native.upload.purpose if native.upload is not None else None
        return orjson.dumps(file_object(native.storage_object, found, purpose))

    def _prepared(self, native: FileRequest) -> PreparedRequest:
        authorize = functools.partial(self.authorize, native)
        return PreparedRequest(native.url, native.headers, native.upload, False, self, native, authorize)

    def _upload(self, call: UpstreamCall, body: ClientBody) -> FileRequest:
        bucket = call.options.get(BUCKET, "")
        if not bucket:
            raise InvalidRequest(
                "Uploading a file to Vertex AI needs the Cloud Storage bucket to put it in: send "
                "x-portkey-vertex-storage-bucket-name.",
                param=f"x-portkey-{BUCKET}",
                code="missing_vertex_storage_bucket_name",
            )
        if body.stream is None:
            raise InvalidRequest("POST /v1/files takes a multipart/form-data upload.", code="invalid_body")
        name = call.options.get(FILE_NAME) or f"{uuid.uuid4()}.jsonl"
        stored = gcs.StorageObject(
            gcs.bucket_name(bucket, f"x-portkey-{BUCKET}"), gcs.object_name(name, f"x-portkey-{FILE_NAME}")
        )
        form = FormUpload(body.stream, _header(call.client_headers, "Content-Type"))
        upload = BatchLines(form, _header(call.client_headers, _PURPOSE_HEADER))
        headers = {"Content-Type": "application/jsonl"}
        return FileRequest(
            stored.upload_url(_base(call)), b"", headers, "", storage_object=stored, upload=upload
        )

    def _request(self, call: UpstreamCall, file_id: str, media: bool) -> FileRequest:
        stored = gcs.object_of(file_id, "file_id")
        return FileRequest(stored.url(_base(call), media), b"", {}, "", storage_object=stored)


def _base(call: UpstreamCall) -> str:
    return call.base_url.rstrip("/") or gcs.BASE_URL


def _header(headers: Mapping[str, str], name: str) -> str:
    """A client header, whatever the case of its name (the mapping may be a plain dict)."""
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else ""


def file_object(stored: gcs.StorageObject, found: Mapping[str, Any], purpose: str | None) -> dict[str, Any]:
    """An OpenAI File for a Cloud Storage object resource (the purpose is known only at upload)."""
    size = found.get("size")
    return {
        "id": stored.file_id,
        "object": "file",
        "bytes": int(size) if isinstance(size, str) and size.isdigit() else 0,
        "created_at": unix_time(found.get("timeCreated")),
        "filename": stored.name,
        "purpose": purpose,
        "status": "processed",
    }
