"""``/v1/files`` on Fireworks AI: files are datasets of the account (``fireworks_access.py`` says where).

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

Docs: https://docs.fireworks.ai/api-reference/upload-dataset-files,
https://docs.fireworks.ai/api-reference/list-datasets, https://docs.fireworks.ai/api-reference/get-dataset
(create and delete are the same resource's ``POST`` and ``DELETE``; the create body,
``{"datasetId", "dataset": {"userUploaded": {}}}``, is the one Fireworks' guides and Portkey send).
"""

from __future__ import annotations

import functools
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
from gateway.providers.fireworks_access import PROVIDER, AccountAuth, account_base, resource_id
from gateway.providers.form_parts import boundary_of
from gateway.providers.jsonl import JsonLines
from gateway.providers.openai_format import error_message, upstream_error
from gateway.providers.translated import json_object
from gateway.providers.upload_spool import UploadSpool

__all__ = [
    "FILE_NAME",
    "FireworksFiles",
]

FILE_NAME = "provider-file-name"
_PURPOSES = (b"batch", b"fine-tune")
#: Creating a dataset is one small call; a slow answer should not hold the upload for long.
_CREATE_TIMEOUT = aiohttp.ClientTimeout(total=30)
_FORM_BOUNDARY = "gateway-fireworks-dataset"
_PATHS = (("error",), ())


@dataclass(slots=True)
class DatasetRequest(NativeRequest):
    """A datasets request and what its answer is: ``dataset``, ``list``, ``deleted`` or ``upload``
    (answered from what the gateway sent: ``spool`` and ``created_at``)."""

    answer: str = "dataset"
    dataset_id: str = ""
    spool: UploadSpool | None = None
    lines: CheckedLines | None = None
    created_at: int = 0


class FireworksFiles(AccountAuth):
    """The ``files`` endpoints (see the module's docstring)."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        if call.endpoint == "files" and call.method == "POST":
            return self._upload(call, body)
        native = self.request(call, {})
        authorize = functools.partial(self.authorize, native)
        return PreparedRequest(native.url, native.headers, None, False, self, native, authorize)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> DatasetRequest:
        """List, get or delete datasets (an upload is :meth:`prepare`'s); a 400 for the rest."""
        parts, method = call.endpoint.split("/"), call.method
        datasets = f"{account_base(call)}/datasets"
        if parts == ["files"] and method == "GET":
            return DatasetRequest(f"{datasets}?{page_query(call.query, 200)}", b"", {}, "", answer="list")
        if len(parts) == 2 and method in ("GET", "DELETE"):
            dataset = resource_id(parts[1], "file_id", "dataset")
            answer = "deleted" if method == "DELETE" else "dataset"
            return DatasetRequest(f"{datasets}/{dataset}", b"", {}, "", answer=answer, dataset_id=dataset)
        raise InvalidRequest(
            f"Fireworks AI does not offer {method} /v1/{call.endpoint}: files are uploaded, listed, "
            "retrieved and deleted (their content is not offered).",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def _upload(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        datasets = f"{account_base(call)}/datasets"
        named = call.options.get(FILE_NAME, "").removesuffix(".jsonl")
        dataset = (
            resource_id(named, f"x-portkey-{FILE_NAME}", "dataset") if named else f"portkey-{uuid.uuid4()}"
        )
        if body.stream is None:
            raise InvalidRequest(
                "The upload has no body: send the file as multipart/form-data.", param="file"
            )
        boundary = boundary_of(call.client_headers.get("Content-Type", ""))
        lines = CheckedLines()
        spool = UploadSpool(body.stream, boundary, lines, _check_purpose)
        url = f"{datasets}/{dataset}:upload"
        native = DatasetRequest(
            url,
            b"",
            {},
            "",
            answer="upload",
            dataset_id=dataset,
            spool=spool,
            lines=lines,
            created_at=int(time.time()),
        )
        prepared = PreparedRequest(url, native.headers, None, False, self, native)
        prepared.authorize = _upload_step(self, prepared, native, datasets)
        return prepared

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
            items = datasets if isinstance(datasets, list) else []
            files = [file_object(item) for item in items if isinstance(item, dict)]
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
    auth: AccountAuth, prepared: PreparedRequest, native: DatasetRequest, datasets: str
) -> Callable[[Credentials], Awaitable[None]]:
    """Read and check the file, create its dataset, then leave the upload ready to send."""

    async def authorize(credentials: Credentials) -> None:
        await auth.authorize(native, credentials)
        spool, lines = native.spool, native.lines
        assert spool is not None
        assert lines is not None
        await spool.fill()
        if lines.count == 0:
            raise InvalidRequest(
                "The file has no lines; nothing was uploaded.", param="file", code="invalid_file"
            )
        dataset = {
            "datasetId": native.dataset_id,
            "dataset": {"userUploaded": {}, "exampleCount": str(lines.count)},
        }
        await _create_dataset(credentials.session, datasets, orjson.dumps(dataset), prepared.headers)
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
    session: aiohttp.ClientSession, datasets: str, body: bytes, headers: Mapping[str, str]
) -> None:
    """``POST /datasets`` with ``body``; its failure raised as the provider's error. The URL is
    the custom host's (checked by the SSRF guard when routing took it) or Fireworks' own. The
    example count makes the job's ``totalInputRequests`` right (Fireworks echoes it there)."""
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
