"""``/v1/files`` on Fireworks AI: files are datasets of the account (``fireworks.py`` says where).

- ``POST /v1/files`` (purpose ``batch`` or ``fine-tune``): every line of the uploaded JSONL is
  checked to be a JSON object first (a bad one is a 400 naming its line; nothing is created), then
  the dataset is created (``POST /datasets``, id ``x-portkey-provider-file-name`` without its
  ``.jsonl``, else a new ``portkey-{uuid}``) and the file sent with ``POST
  /datasets/{id}:upload`` (multipart, Fireworks' direct upload, for files up to 150 MB). Fireworks
  takes OpenAI's batch lines as they are (``custom_id`` and ``body``), so nothing is translated.
  The file is read whole before the dataset is created (``upload_spool.py``): the check must see
  every line before anything is stored. This happens in the request's auth step, the one step
  that may do I/O. The answer is an OpenAI File whose id is the dataset id.
- ``GET /v1/files`` (``limit`` → ``pageSize``, ``after`` → ``pageToken``), ``GET /v1/files/{id}``,
  ``DELETE /v1/files/{id}``: list, get and delete datasets, answered as OpenAI Files. A dataset
  has no size in bytes and no purpose: ``bytes`` is 0 and ``purpose`` null there; its state READY
  is ``processed``, any other ``uploaded``.
- ``GET /v1/files/{id}/content`` is not offered (Fireworks hands out signed download URLs only).

Docs: https://docs.fireworks.ai/api-reference/create-dataset,
https://docs.fireworks.ai/api-reference/upload-dataset-files,
https://docs.fireworks.ai/api-reference/list-datasets, https://docs.fireworks.ai/api-reference/get-dataset,
https://docs.fireworks.ai/api-reference/delete-dataset
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.errors import InvalidRequest, ProviderError, UpstreamUnreachable
from gateway.providers.base import ClientBody, Credentials, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.batch_objects import object_list, page_query, unix_time
from gateway.providers.form_parts import boundary_of
from gateway.providers.jsonl import JsonLines
from gateway.providers.openai_format import error_message, upstream_error
from gateway.providers.translated import json_object
from gateway.providers.upload_spool import UploadSpool

__all__ = [
    "FILE_NAME",
    "PROVIDER",
    "FireworksFiles",
    "resource_id",
]

PROVIDER = "fireworks-ai"
FILE_NAME = "provider-file-name"
#: Fireworks resource ids (datasets, jobs): lowercase letters, digits and hyphens, 63 at most.
_RESOURCE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PURPOSES = (b"batch", b"fine-tune")
#: Creating a dataset is one small call; a slow answer should not hold the upload for long.
_CREATE_TIMEOUT = aiohttp.ClientTimeout(total=30)
_FORM_BOUNDARY = "gateway-fireworks-dataset"
_PATHS = (("error",), ())


def resource_id(value: str, param: str, what: str) -> str:
    """``value`` if it is a Fireworks resource id; a 400 naming ``param`` otherwise."""
    if not _RESOURCE_ID.fullmatch(value):
        raise InvalidRequest(
            f"{param} is not a Fireworks {what} id (lowercase letters, digits and '-', 63 at most).",
            param=param,
            code=f"invalid_{what.replace(' ', '_')}_id",
        )
    return value


@dataclass(slots=True)
class DatasetRequest(NativeRequest):
    """A datasets request and what its answer is: ``dataset``, ``list``, ``deleted`` or ``upload``
    (answered from what the gateway sent: ``spool`` and ``created_at``)."""

    answer: str = "dataset"
    dataset_id: str = ""
    spool: UploadSpool | None = None
    created_at: int = 0


class FireworksFiles:
    """The ``files`` endpoints (see the module's docstring); the caller's key as a bearer token."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody, base: str) -> PreparedRequest:
        parts, method = call.endpoint.split("/"), call.method
        headers = {"Authorization": f"Bearer {call.api_key}"} if call.api_key else {}
        datasets = f"{base}/datasets"
        if parts == ["files"] and method == "POST":
            return self._upload(call, body, datasets, headers)
        if parts == ["files"] and method == "GET":
            native = DatasetRequest(
                f"{datasets}?{page_query(call.query, 200)}", b"", headers, "", answer="list"
            )
        elif len(parts) == 2 and method in ("GET", "DELETE"):
            dataset = resource_id(parts[1], "file_id", "dataset")
            answer = "deleted" if method == "DELETE" else "dataset"
            native = DatasetRequest(
                f"{datasets}/{dataset}", b"", headers, "", answer=answer, dataset_id=dataset
            )
        else:
            raise InvalidRequest(
                f"Fireworks AI does not offer {method} /v1/{call.endpoint}: files are uploaded, listed, "
                "retrieved and deleted (their content is not offered).",
                param="x-portkey-provider",
                code="unsupported_endpoint",
            )
        return PreparedRequest(native.url, headers, None, False, self, native)

    def _upload(
        self, call: UpstreamCall, body: ClientBody, datasets: str, headers: dict[str, str]
    ) -> PreparedRequest:
        named = call.options.get(FILE_NAME, "").removesuffix(".jsonl")
        dataset = (
            resource_id(named, f"x-portkey-{FILE_NAME}", "dataset") if named else f"portkey-{uuid.uuid4()}"
        )
        if body.stream is None:
            raise InvalidRequest(
                "The upload has no body: send the file as multipart/form-data.", param="file"
            )
        boundary = boundary_of(call.client_headers.get("Content-Type", ""))
        spool = UploadSpool(body.stream, boundary, CheckedLines(), _check_purpose)
        url = f"{datasets}/{dataset}:upload"
        native = DatasetRequest(
            url,
            b"",
            headers,
            "",
            answer="upload",
            dataset_id=dataset,
            spool=spool,
            created_at=int(time.time()),
        )
        prepared = PreparedRequest(url, headers, None, False, self, native)
        prepared.authorize = _upload_step(prepared, native, datasets)
        return prepared

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        """Never called: every files request is prepared whole by :meth:`prepare`."""
        raise InvalidRequest("Fireworks files are prepared by the adapter.", code="unsupported_endpoint")

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        """Nothing to add: the key is in the prepared headers (an upload has its own step)."""

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 300:
            return upstream_error(PROVIDER, status, body, *_PATHS)
        assert isinstance(native, DatasetRequest)
        if native.answer == "upload":
            return orjson.dumps(_uploaded(native))
        if native.answer == "deleted":
            return orjson.dumps({"id": native.dataset_id, "object": "file", "deleted": True})
        found = json_object(PROVIDER, body)
        if native.answer == "list":
            datasets = found.get("datasets")
            files = (
                [file_object(item) for item in datasets if isinstance(item, dict)]
                if isinstance(datasets, list)
                else []
            )
            return orjson.dumps(object_list(files, found))
        return orjson.dumps(file_object(found))


class CheckedLines(JsonLines):
    """Passes the file's lines on as they are, each checked to be a JSON object (blank ones
    dropped); a 400 naming the first that is not. ``count``: the lines passed on."""

    __slots__ = ("_number", "count")

    def __init__(self) -> None:
        super().__init__()
        self._number = 0
        self.count = 0

    def _line(self, line: bytes) -> bytes:
        self._number += 1
        if not line.strip():
            return b""
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            item = None
        if not isinstance(item, dict):
            raise InvalidRequest(
                f"Line {self._number} of the file is not a JSON object; nothing was uploaded.",
                param="file",
                code="invalid_file",
            )
        self.count += 1
        return line + b"\n"


def _check_purpose(purpose: bytes) -> None:
    if purpose.strip() not in _PURPOSES:
        raise InvalidRequest(
            "Fireworks AI files take purpose 'batch' or 'fine-tune'.",
            param="purpose",
            code="unsupported_purpose",
        )


def _upload_step(
    prepared: PreparedRequest, native: DatasetRequest, datasets: str
) -> Callable[[Credentials], Awaitable[None]]:
    """Read and check the file, create its dataset, then leave the upload ready to send."""

    async def authorize(credentials: Credentials) -> None:
        spool = native.spool
        assert spool is not None
        await spool.fill()
        if spool.size == 0:
            raise InvalidRequest(
                "The file has no lines; nothing was uploaded.", param="file", code="invalid_file"
            )
        await _create_dataset(credentials.session, datasets, native.dataset_id, prepared.headers)
        head = (
            f'--{_FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{native.dataset_id}.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n'
        ).encode()
        tail = f"\r\n--{_FORM_BOUNDARY}--\r\n".encode()
        prepared.headers["Content-Type"] = f"multipart/form-data; boundary={_FORM_BOUNDARY}"
        prepared.headers["Content-Length"] = str(len(head) + spool.size + len(tail))
        prepared.body = _framed(head, spool.chunks(), tail)

    return authorize


async def _framed(head: bytes, chunks: AsyncIterator[bytes], tail: bytes) -> AsyncIterator[bytes]:
    yield head
    async for chunk in chunks:
        yield chunk
    yield tail


async def _create_dataset(
    session: aiohttp.ClientSession, datasets: str, dataset: str, headers: Mapping[str, str]
) -> None:
    """``POST /datasets`` for an uploaded dataset; its failure raised as the provider's error.
    The URL is the custom host's (checked by the SSRF guard when routing took it) or Fireworks'."""
    body = orjson.dumps({"datasetId": dataset, "dataset": {"userUploaded": {}}})
    sent = {**headers, "Content-Type": "application/json"}
    try:
        async with session.post(
            datasets, data=body, headers=sent, timeout=_CREATE_TIMEOUT, allow_redirects=False
        ) as response:
            status, answer = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamUnreachable(
            f"{PROVIDER}: creating the dataset failed: the account API could not be reached "
            f"({type(exc).__name__})."
        ) from exc
    if status >= 300:
        message, code = error_message(answer, *_PATHS)
        raise ProviderError(
            PROVIDER, status, f"creating the dataset failed: {message or f'HTTP {status}'}", code
        )


def _uploaded(native: DatasetRequest) -> dict[str, Any]:
    spool = native.spool
    assert spool is not None
    return {
        "id": native.dataset_id,
        "object": "file",
        "bytes": spool.size,
        "created_at": native.created_at,
        "filename": spool.filename or f"{native.dataset_id}.jsonl",
        "purpose": spool.purpose,
        "status": "processed",
        "status_details": None,
    }


def file_object(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI File for a Fireworks dataset resource."""
    dataset_id = str(dataset.get("name", "")).rsplit("/", 1)[-1]
    status = dataset.get("status")
    details = (
        status.get("message") if isinstance(status, dict) and status.get("code") not in (None, "OK") else None
    )
    return {
        "id": dataset_id,
        "object": "file",
        "bytes": 0,
        "created_at": unix_time(dataset.get("createTime")),
        "filename": dataset.get("displayName") or f"{dataset_id}.jsonl",
        "purpose": None,
        "status": "processed" if dataset.get("state") == "READY" else "uploaded",
        "status_details": details,
    }
