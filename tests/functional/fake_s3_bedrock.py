"""A fake S3 and Bedrock control plane on one aiohttp server, as a custom host reaches both.

Like AWS, it checks every request's SigV4 signature first (service ``s3`` for objects, with the
payload's SHA-256 in ``x-amz-content-sha256``; ``bedrock`` for the job calls), and answers AWS's
403 when it differs. S3 is path-style (``/{bucket}/{key}``): PutObject (a body of declared length
only, as S3: no chunked upload), GetObject, GetObjectAttributes (``?attributes``), DeleteObject,
with S3's XML errors. The control plane implements CreateModelInvocationJob,
GetModelInvocationJob, ListModelInvocationJobs and StopModelInvocationJob as AWS's API reference
documents them, with AWS's JSON errors.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.upstream.sigv4 import AwsCredentials, sign
from tests.functional import fake_bedrock as fb

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BatchRole"
BUCKET = "batch-input-bucket"
_JOB_PATHS = ("/model-invocation-job", "/model-invocation-jobs")
_REQUIRED = ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig")


@dataclass
class Call:
    """One request the fake received, after its signature was checked."""

    method: str
    path: str  # raw, as sent
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class FakeS3Bedrock:
    def __init__(self) -> None:
        self.port = 0
        #: The secrets it knows by access key id (a fake STS adds temporary ones).
        self.secrets = dict(fb.SECRETS)
        self.buckets = {BUCKET}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, **options: str) -> dict[str, str]:
        """The Portkey headers that send files and batches here, plus ``x-portkey-<name>`` options."""
        return {
            "x-portkey-provider": "bedrock",
            "x-portkey-custom-host": self.host,
            "x-portkey-aws-region": fb.REGION,
            "x-portkey-aws-access-key-id": fb.ACCESS_KEY,
            "x-portkey-aws-secret-access-key": fb.SECRET_KEY,
            **{f"x-portkey-{name.replace('_', '-')}": value for name, value in options.items()},
        }

    def finish(self, arn: str, status: str = "Completed", output: bytes = b"") -> None:
        """Move a job on, as Bedrock would once it ran: its status, its end, its output file."""
        job = self.jobs[arn]
        job.update(status=status, endTime="2026-12-06T19:30:00Z", lastModifiedTime="2026-12-06T19:30:00Z")
        job.update(totalRecordCount=2, processedRecordCount=2, successRecordCount=2, errorRecordCount=0)
        if status == "Failed":
            job["message"] = "The input file has too few records."
        source = job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, _, prefix = job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"][5:].partition("/")
        key = f"{prefix.rstrip('/')}/{arn.rpartition('/')[2]}/{source.rpartition('/')[2]}.out".lstrip("/")
        self.objects[(bucket, key)] = output

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "PUT" and request.content_length is None:
            return _s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        body = await request.read()
        path = request.raw_path.partition("?")[0]
        control = path.startswith(_JOB_PATHS)
        refusal = self._refusal(request, body, "bedrock" if control else "s3")
        if refusal is not None:
            if control:
                return web.json_response({"message": refusal}, status=403)
            return _s3_error(403, "SignatureDoesNotMatch", refusal)
        self.calls.append(Call(request.method, path, request.query_string, request.headers, body))
        return self._control(request, path, body) if control else self._s3(request, path, body)

    def _refusal(self, request: web.Request, body: bytes, service: str) -> str | None:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "Missing Authentication Token"
        key_id = authorization.split("Credential=")[1].split("/")[0]
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        headers = {name: request.headers[name] for name in signed if name not in ("host", "x-amz-date")}
        now = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        token = request.headers.get("X-Amz-Security-Token", "")
        credentials = AwsCredentials(key_id, self.secrets.get(key_id, "unknown"), token)
        url = f"http://{request.host}{request.raw_path}"
        s3 = service == "s3"
        if s3 and request.headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
            return "The provided 'x-amz-content-sha256' header does not match what was computed."
        expected = sign(
            request.method,
            url,
            headers,
            body,
            credentials,
            fb.REGION,
            service,
            now,
            double_encode_path=not s3,
            sign_content_sha256=s3,
        )
        if expected["Authorization"] != authorization:
            return "The request signature we calculated does not match the signature you provided."
        return None

    # --- S3 -------------------------------------------------------------------------------------

    def _s3(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse:
        bucket, _, raw_key = path[1:].partition("/")
        key = unquote(raw_key)
        if bucket not in self.buckets:
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        if request.method == "PUT":
            self.objects[(bucket, key)] = body
            return web.Response(headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})  # S3's ETag
        if request.method == "DELETE":
            self.objects.pop((bucket, key), None)
            return web.Response(status=204)
        data = self.objects.get((bucket, key))
        if data is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if request.query_string == "attributes":
            size = f"<ObjectSize>{len(data)}</ObjectSize>"
            xml = f"<GetObjectAttributesResponse>{size}</GetObjectAttributesResponse>"
            return web.Response(body=xml.encode(), content_type="application/xml")
        return web.Response(body=data, content_type="binary/octet-stream")

    # --- control plane --------------------------------------------------------------------------

    def _control(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse:
        if path == "/model-invocation-job" and request.method == "POST":
            return self._create(orjson.loads(body))
        if path == "/model-invocation-jobs" and request.method == "GET":
            limit = int(request.query.get("maxResults", "1000"))
            jobs = list(self.jobs.values())
            page: dict[str, Any] = {"invocationJobSummaries": jobs[:limit]}
            if len(jobs) > limit:
                page["nextToken"] = "opaque-token"
            return web.json_response(page)
        identifier = unquote(path.removeprefix("/model-invocation-job/")).partition("/stop")[0]
        job = self.jobs.get(identifier) or next(
            (j for arn, j in self.jobs.items() if arn.endswith(f"/{identifier}")), None
        )
        if job is None:
            return _aws_error(404, "ResourceNotFoundException", "The specified job was not found.")
        if path.endswith("/stop"):
            job["status"] = "Stopping"
            return web.Response()
        return web.json_response(job)

    def _create(self, body: dict[str, Any]) -> web.Response:
        missing = [name for name in _REQUIRED if name not in body]
        if missing:
            return _aws_error(400, "ValidationException", f"Missing required field {missing[0]}.")
        arn = f"arn:aws:bedrock:{fb.REGION}:{ACCOUNT}:model-invocation-job/{secrets.token_hex(6)}"
        self.jobs[arn] = {
            **body,
            "jobArn": arn,
            "status": "Submitted",
            "submitTime": "2026-12-06T19:00:00Z",
            "lastModifiedTime": "2026-12-06T19:00:00Z",
            "jobExpirationTime": "2026-12-07T19:00:00Z",
        }
        return web.json_response({"jobArn": arn})


def _s3_error(status: int, code: str, message: str) -> web.Response:
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        + f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, body=xml.encode(), content_type="application/xml")


def _aws_error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": kind})
