"""A fake of the Google APIs behind Vertex AI files and batches, on one local server.

It speaks the wire of each API as Google documents it: Cloud Storage's JSON API (objects.insert
with ``uploadType=media`` under ``/upload/storage/v1``, objects.get with and without
``alt=media`` under ``/storage/v1``), Vertex AI's batchPredictionJobs (create, get, list with page
tokens, ``:cancel``) under ``/v1/projects/{p}/locations/{r}``, and an OAuth2 token endpoint
(``/token``) for service-account keys. Every API call must carry a bearer token this fake issued
(or the one it was told callers hold); anything else is Google's 401. Objects and jobs are kept,
so a test goes upload → batch → output as a user would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from aiohttp import web

__all__ = [
    "CREATED",
    "Call",
    "FakeGoogle",
]

CREATED = "2025-03-01T10:00:00.123456Z"
_STORAGE = "/storage/v1/b/"
_UPLOAD = "/upload/storage/v1/b/"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeGoogle:
    #: An access token callers hold without a service-account key.
    access_token: str = "ya29.caller-token"
    port: int = 0
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    #: (status, Google error body) answered to the next API call instead of serving it.
    fail_next: tuple[int, dict[str, Any]] | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1234567890))

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_calls(self) -> list[Call]:
        return [call for call in self.calls if call.path != "/token"]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def finish(self, job_id: str, lines: list[dict[str, Any]], state: str = "JOB_STATE_SUCCEEDED") -> str:
        """End a job as Vertex does: its state, times, counts and a predictions.jsonl in a new
        prediction-* folder under the output prefix; returns that file's gs:// URI."""
        job = self.jobs[job_id]
        prefix = job["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
        directory = f"{prefix}/prediction-model-2025-03-01T10:05:00.000000Z"
        bucket, _, folder = directory.removeprefix("gs://").partition("/")
        self.objects[(bucket, f"{folder}/predictions.jsonl")] = b"".join(
            orjson.dumps(x) + b"\n" for x in lines
        )
        job.update(
            state=state,
            startTime="2025-03-01T10:01:00Z",
            endTime="2025-03-01T10:05:00Z",
            outputInfo={"gcsOutputDirectory": directory},
            completionStats={"successfulCount": str(len(lines)), "failedCount": "0", "incompleteCount": "0"},
        )
        return f"{directory}/predictions.jsonl"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw_path = request.raw_path.split("?")[0]
        call = Call(request.method, raw_path, parse_qs(request.query_string), dict(request.headers), body)
        self.calls.append(call)
        if call.path == "/token" and request.method == "POST":
            token = f"ya29.issued-{len(self.issued) + 1}"
            self.issued.append(token)
            return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in (self.access_token, *self.issued):
            return _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        if self.fail_next is not None:
            (status, error), self.fail_next = self.fail_next, None
            return web.json_response(error, status=status)
        if call.path.startswith(_UPLOAD):
            return self._insert(call)
        if call.path.startswith(_STORAGE):
            return self._get(call)
        return self._jobs(call)

    def _insert(self, call: Call) -> web.StreamResponse:
        bucket = call.path.removeprefix(_UPLOAD).removesuffix("/o")
        if call.method != "POST" or call.query.get("uploadType") != ["media"] or "name" not in call.query:
            return _error(
                400, "Upload requests must include an uploadType URL parameter.", "INVALID_ARGUMENT"
            )
        name = call.query["name"][0]
        self.objects[(bucket, name)] = call.body
        return web.json_response(_resource(bucket, name, call.body))

    def _get(self, call: Call) -> web.StreamResponse:
        bucket, _, rest = call.path.removeprefix(_STORAGE).partition("/o/")
        name = unquote(rest)
        data = self.objects.get((bucket, name))
        if call.method != "GET" or data is None:
            return _error(404, f"No such object: {bucket}/{name}", "NOT_FOUND")
        if call.query.get("alt") == ["media"]:
            return web.Response(body=data, content_type="application/octet-stream")
        return web.json_response(_resource(bucket, name, data))

    def _jobs(self, call: Call) -> web.StreamResponse:
        where, _, rest = call.path.partition("/batchPredictionJobs")
        if not where.startswith("/v1/projects/") or "/locations/" not in where:
            return _error(404, "Not found.", "NOT_FOUND")
        if rest == "" and call.method == "POST":
            return web.json_response(self._create(where.removeprefix("/v1/"), orjson.loads(call.body)))
        if rest == "" and call.method == "GET":
            return web.json_response(self._list(call.query))
        job_id, _, verb = rest.removeprefix("/").partition(":")
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, f"BatchPredictionJob {job_id} does not exist.", "NOT_FOUND")
        if verb == "cancel" and call.method == "POST":
            job["state"] = "JOB_STATE_CANCELLING"
            return web.json_response({})
        return web.json_response(job)

    def _create(self, parent: str, asked: dict[str, Any]) -> dict[str, Any]:
        job_id = str(next(self._ids))
        job = {
            **asked,
            "name": f"{parent}/batchPredictionJobs/{job_id}",
            "state": "JOB_STATE_PENDING",
            "createTime": CREATED,
            "updateTime": CREATED,
        }
        self.jobs[job_id] = job
        return job

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        size = int(query.get("pageSize", ["20"])[0])
        start = int(query.get("pageToken", ["0"])[0] or 0)
        jobs = list(self.jobs.values())
        page: dict[str, Any] = {"batchPredictionJobs": jobs[start : start + size]}
        if start + size < len(jobs):
            page["nextPageToken"] = str(start + size)
        return page


def _resource(bucket: str, name: str, data: bytes) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/1740823200123456",
        "name": name,
        "bucket": bucket,
        "generation": "1740823200123456",
        "contentType": "application/jsonl",
        "size": str(len(data)),
        "timeCreated": CREATED,
        "updated": CREATED,
    }


def _error(status: int, message: str, reason: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return web.json_response(body, status=status)
