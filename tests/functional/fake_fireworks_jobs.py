"""A fake of Fireworks AI's account API (datasets, batch inference jobs) and of its inference API
(chat completions), on one local server.

It speaks the wire Fireworks documents: ``/v1/accounts/{account}/datasets`` (create with
``datasetId`` and ``dataset``, list with ``pageSize``/``pageToken``, get, delete, and
``datasets/{id}:upload`` taking a multipart ``file``), ``/v1/accounts/{account}/batchInferenceJobs``
(create, get, list) and ``/inference/v1/chat/completions``. Errors come in Fireworks' control-plane
shape (``{"code", "message", "details"}``); an unknown key is Fireworks' 403 with its
``{"error": {...}}`` body. Every call must carry ``Authorization: Bearer <key>`` for a key this fake
knows, and a key reaches only its own account. Datasets and jobs are kept, so a test goes upload →
batch → retrieve as a user would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

__all__ = [
    "CREATED",
    "Call",
    "FakeFireworks",
]

CREATED = "2025-03-01T10:00:00Z"
_GRPC_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeFireworks:
    #: key → the account it belongs to.
    keys: dict[str, str] = field(default_factory=lambda: {"fw-key-a": "acct-a", "fw-key-b": "acct-b"})
    port: int = 0
    #: (account, dataset id) → the dataset resource, and its uploaded file.
    datasets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: (path ending, status, message): the next call whose path ends so is answered with that error.
    fail_next: tuple[str, int, str] | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # Fireworks takes 150 MB uploads
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(
            Call(request.method, request.path, parse_qs(request.query_string), dict(request.headers), body)
        )
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key not in self.keys:
            invalid = {
                "message": "The API key you provided is invalid.",
                "param": None,
                "code": "UNAUTHORIZED",
            }
            body = {"error": {**invalid, "type": "error"}, "request_id": "req-1"}
            return web.Response(status=403, body=orjson.dumps(body), content_type="application/json")
        if self.fail_next is not None and request.path.endswith(self.fail_next[0]):
            _, status, message = self.fail_next
            self.fail_next = None
            return _error(status, message)
        if request.path == "/inference/v1/chat/completions":
            return _chat(orjson.loads(body))
        parts = request.path.split("/")
        if parts[:3] != ["", "v1", "accounts"] or len(parts) < 5:
            return _error(404, "not found")
        account = parts[3]
        if self.keys[key] != account:
            return _error(403, f"the key may not use account {account}")
        return await self._account(request, account, parts[4:], body)

    async def _account(
        self, request: web.Request, account: str, rest: list[str], body: bytes
    ) -> web.Response:
        method, query = request.method, parse_qs(request.query_string)
        if rest[0] == "datasets":
            if len(rest) == 1:
                return self._create_dataset(account, body) if method == "POST" else self._list(account, query)
            name, _, verb = rest[1].partition(":")
            if verb == "upload" and method == "POST":
                return self._upload(account, name, body, request.headers.get("Content-Type", ""))
            return self._dataset(account, name, method)
        if rest[0] == "batchInferenceJobs":
            if len(rest) == 1:
                return (
                    self._create_job(account, body) if method == "POST" else self._list_jobs(account, query)
                )
            job = self.jobs.get((account, rest[1]))
            return _json(job) if job is not None and method == "GET" else _error(404, "job not found")
        return _error(404, "not found")

    def _create_dataset(self, account: str, body: bytes) -> web.Response:
        asked = orjson.loads(body)
        dataset_id = asked["datasetId"]
        if (account, dataset_id) in self.datasets:
            return _error(409, f"dataset {dataset_id} already exists")
        if "userUploaded" not in asked.get("dataset", {}):
            return _error(400, "dataset source is required")
        dataset = {
            "name": f"accounts/{account}/datasets/{dataset_id}",
            "createTime": CREATED,
            "state": "UPLOADING",
            "status": {"code": "OK", "message": ""},
            "exampleCount": "0",
            "format": "FORMAT_UNSPECIFIED",
            **asked["dataset"],
        }
        self.datasets[(account, dataset_id)] = dataset
        return _json(dataset)

    def _upload(self, account: str, name: str, body: bytes, content_type: str) -> web.Response:
        dataset = self.datasets.get((account, name))
        if dataset is None:
            return _error(404, f"dataset {name} not found")
        boundary = content_type.partition("boundary=")[2].encode()
        head, _, rest = body.partition(b"\r\n\r\n")
        if not boundary or b'name="file"' not in head or not body.startswith(b"--" + boundary):
            return _error(400, "a multipart 'file' is required")
        content = rest.removesuffix(b"\r\n--" + boundary + b"--\r\n")
        self.files[(account, name)] = content
        dataset["state"] = "READY"
        answer = {"id": name, "object": "file", "bytes": len(content), "created_at": 1740823200}
        return _json({**answer, "filename": f"{name}.jsonl", "purpose": "fine-tune"})

    def _dataset(self, account: str, name: str, method: str) -> web.Response:
        dataset = self.datasets.get((account, name))
        if dataset is None:
            return _error(404, f"dataset {name} not found")
        if method == "DELETE":
            del self.datasets[(account, name)]
            return _json({})
        return _json(dataset)

    def _list(self, account: str, query: dict[str, list[str]]) -> web.Response:
        mine = [dataset for (owner, _), dataset in self.datasets.items() if owner == account]
        return _json(_page(mine, query, "datasets"))

    def _create_job(self, account: str, body: bytes) -> web.Response:
        asked = orjson.loads(body)
        source = asked.get("inputDatasetId", "")
        if source.rpartition("/")[2] not in {name for owner, name in self.datasets if owner == account}:
            return _error(400, f"input dataset {source} not found")
        job_id = f"job-{next(self._ids)}"
        job = {
            **asked,
            "name": f"accounts/{account}/batchInferenceJobs/{job_id}",
            "createTime": CREATED,
            "state": "JOB_STATE_VALIDATING",
            "status": {"code": "OK", "message": ""},
            "jobProgress": None,
            "lifecycle": None,
            "outputDatasetId": f"accounts/{account}/datasets/{job_id}-output",
        }
        self.jobs[(account, job_id)] = job
        return _json(job)

    def _list_jobs(self, account: str, query: dict[str, list[str]]) -> web.Response:
        mine = [job for (owner, _), job in self.jobs.items() if owner == account]
        return _json(_page(mine, query, "batchInferenceJobs"))


def _page(items: list[dict[str, Any]], query: dict[str, list[str]], key: str) -> dict[str, Any]:
    size = int(query.get("pageSize", ["50"])[0])
    start = int(query.get("pageToken", ["0"])[0])
    page = items[start : start + size]
    token = str(start + size) if start + size < len(items) else ""
    return {key: page, "nextPageToken": token, "totalSize": len(items)}


def _chat(body: dict[str, Any]) -> web.Response:
    return _json(
        {
            "id": "chatcmpl-fw",
            "object": "chat.completion",
            "created": 1740823200,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    body = {"code": _GRPC_STATUS.get(status, 2), "message": message, "details": []}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
