"""``/v1/files`` on Bedrock: batch input files kept in S3, as Portkey keeps them.

- ``POST /v1/files`` (purpose ``batch``): the OpenAI batch JSONL is translated line by line into
  Bedrock batch records (``bedrock_batch_input.py``) and written with one S3 ``PutObject`` to
  ``s3://{x-portkey-aws-s3-bucket}/{x-portkey-aws-s3-object-key | -provider-file-name | <uuid>.jsonl}``
  for the model in ``x-portkey-aws-bedrock-model`` (or ``-provider-model``).
- ``GET /v1/files/{id}``: S3 ``GetObjectAttributes`` (the object's size).
- ``GET /v1/files/{id}/content``: S3 ``GetObject``, relayed as it streams; a batch job's output
  records become OpenAI batch output lines on the way (``bedrock_batch_output.py``).

A file id is its ``s3://bucket/key`` URI percent-encoded (Portkey's ids), so ids from either
gateway work in both; every id is parsed and checked (``s3.py``) before it goes into a URL.

Why the upload is spooled: ``PutObject`` needs the body's length before the body (S3 refuses a
chunked upload), and the translated file's length is known only once it is all translated. The
translated records go to a temporary file (``upload_spool.py``: in memory up to 8 MiB, on disk
past that), its SHA-256 computed on the way so the signature covers the very bytes sent; the
client's upload itself is capped by the gateway's ``max_upload_bytes``. This happens in the
request's auth step, which runs just before the attempt and is the one step that may do I/O: the
signature needs the final bytes.
Docs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, Credentials, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.bedrock_answers import SLUG
from gateway.providers.bedrock_batch_input import BatchInput, Translate
from gateway.providers.bedrock_batch_output import BatchOutput, is_batch_output
from gateway.providers.form_parts import boundary_of
from gateway.providers.openai_format import error, upstream_error
from gateway.providers.s3 import S3Object, file_id, object_url, parse_file_id, s3_keys, s3_object, sign_s3
from gateway.providers.upload_spool import UploadSpool

__all__ = [
    "BedrockFiles",
    "file_object",
    "read_s3_error",
]

_JSONL = "application/jsonl"
_S3_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_S3_MESSAGE = re.compile(rb"<Message>([^<]{1,1000})</Message>")
_OBJECT_SIZE = re.compile(rb"<ObjectSize>(\d{1,20})</ObjectSize>")


@dataclass(slots=True)
class FileRequest(NativeRequest):
    """An S3 request for one file: where it is, and (an upload) what was written."""

    location: S3Object | None = None
    size: int = 0
    created_at: int = 0


class BedrockFiles:
    """Prepares the S3 request for each ``/v1/files`` call and reads S3's answers as OpenAI's.

    ``translate`` turns one chat request body into the model's batch record input (Bedrock's
    Converse request: ``bedrock.converse_body``)."""

    __slots__ = ("_translate",)

    def __init__(self, translate: Translate) -> None:
        self._translate = translate

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        """The S3 request for ``call``; a 400 for what cannot be asked (an option missing, a bad id,
        listing files, which S3 offers per bucket only)."""
        parts = call.endpoint.split("/")
        if parts == ["files"] and call.method == "POST":
            return self._upload(call, body)
        if len(parts) == 2 and call.method == "GET":
            native = self.request(call, {})
            sign = functools.partial(self.authorize, native)
            return PreparedRequest(native.url, native.headers, None, False, self, native, sign)
        if len(parts) == 3 and parts[2] == "content" and call.method == "GET":
            return self._content(call, parse_file_id(parts[1], "file_id"))
        # DeleteObject answers 204 No Content, which cannot carry OpenAI's deletion object.
        raise InvalidRequest(
            "Bedrock keeps files in S3: upload, retrieve and download them by id; listing and "
            "deleting files are not offered (delete the S3 object directly).",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def _upload(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        options = call.options
        bucket = _required(options, "aws-s3-bucket", "the S3 bucket the file goes to")
        model = options.get("aws-bedrock-model") or _required(
            options, "provider-model", "the Bedrock model the batch runs", "x-portkey-aws-bedrock-model"
        )
        key = options.get("aws-s3-object-key") or options.get("provider-file-name") or f"{uuid.uuid4()}.jsonl"
        location = s3_object(bucket, key, "x-portkey-aws-s3-object-key")
        if body.stream is None:
            raise InvalidRequest(
                "The upload has no body: send the file as multipart/form-data.", param="file"
            )
        boundary = boundary_of(call.client_headers.get("Content-Type", ""))
        url = object_url(call.base_url, options, location)
        headers = {"Content-Type": _JSONL}
        native = FileRequest(url, b"", headers, model, location=location, created_at=int(time.time()))
        spool = UploadSpool(body.stream, boundary, BatchInput(model, self._translate), _check_purpose)
        prepared = PreparedRequest(url, headers, None, translation=self, native=native, method="PUT")
        prepared.authorize = _upload_authorize(spool, prepared, native)
        return prepared

    def _content(self, call: UpstreamCall, location: S3Object) -> PreparedRequest:
        """GetObject, relayed as it streams: a batch job's output records as OpenAI batch output
        lines (``bedrock_batch_output.py``), any other object as it is."""
        url = object_url(call.base_url, call.options, location)
        output = is_batch_output(location.key)
        stream = BatchOutput("", call.strict_open_ai_compliance) if output else None
        native = FileRequest(url, b"", {}, "", stream, media_type=_JSONL, location=location)
        sign = functools.partial(self.authorize, native)
        if stream is None:
            return PreparedRequest(url, native.headers, None, authorize=sign)
        return PreparedRequest(url, native.headers, None, False, self, native, sign)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        """GetObjectAttributes (the size) for the file ``call`` names (``files/{id}``); uploads are
        multipart, prepared by :meth:`prepare` itself."""
        location = parse_file_id(call.endpoint.partition("/")[2], "file_id")
        url = object_url(call.base_url, call.options, location, "attributes")
        return FileRequest(url, b"", {"x-amz-object-attributes": "ObjectSize"}, "", location=location)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        """S3's signature for a request without a body (an upload signs its own: ``_upload_authorize``)."""
        sign_s3("GET", native.url, native.headers, await s3_keys(credentials), credentials.options)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        """An upload's or GetObjectAttributes' answer as an OpenAI File object; S3's errors as
        OpenAI errors naming the provider."""
        if status >= 300:
            return read_s3_error(status, body)
        assert isinstance(native, FileRequest)
        assert native.location is not None
        if native.created_at:  # an upload: the gateway knows what it wrote
            return orjson.dumps(file_object(native.location, native.size, native.created_at))
        size = _OBJECT_SIZE.search(body)
        return orjson.dumps(file_object(native.location, int(size.group(1)) if size else 0, 0))


def _required(options: Mapping[str, str], name: str, what: str, header: str = "") -> str:
    value = options.get(name, "")
    if not value:
        header = header or f"x-portkey-{name}"
        raise InvalidRequest(
            f"Bedrock files need {what}: send {header}.", param=header, code="missing_option"
        )
    return value


def _upload_authorize(
    spool: UploadSpool, prepared: PreparedRequest, native: FileRequest
) -> Callable[[Credentials], Awaitable[None]]:
    async def authorize(credentials: Credentials) -> None:
        keys = await s3_keys(credentials)  # missing credentials: refused before the upload is read
        await spool.fill()
        native.size = spool.size
        prepared.body = spool.chunks()
        prepared.headers["Content-Length"] = str(spool.size)
        sign_s3("PUT", prepared.url, prepared.headers, keys, credentials.options, spool.sha256)

    return authorize


def _check_purpose(purpose: bytes) -> None:
    if purpose.strip() not in (b"", b"batch"):  # none: batch, the only one
        raise InvalidRequest(
            "Bedrock files are batch inputs: send purpose 'batch'.",
            param="purpose",
            code="unsupported_purpose",
        )


# --- answers ----------------------------------------------------------------------------------


def file_object(location: S3Object, size: int, created_at: int) -> dict[str, Any]:
    """An OpenAI File object for an S3 object (``filename``: its ``s3://`` URI, as Portkey's)."""
    return {
        "id": file_id(location),
        "object": "file",
        "bytes": size,
        "created_at": created_at,
        "filename": location.uri,
        "purpose": "batch",
        "status": "processed",
        "status_details": None,
    }


def read_s3_error(status: int, body: bytes) -> bytes:
    """S3's XML error (``<Code>``, ``<Message>``) as an OpenAI error naming the provider."""
    code, message = _S3_CODE.search(body), _S3_MESSAGE.search(body)
    if message is not None:
        prefix = f"S3 {code.group(1).decode(errors='replace')}: " if code else "S3: "
        return error(SLUG, status, prefix + message.group(1).decode(errors="replace"))
    return upstream_error(SLUG, status, body, ())
