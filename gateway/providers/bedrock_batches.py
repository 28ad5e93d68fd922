"""``/v1/batches`` on Bedrock: batch inference jobs (model invocation jobs) on the control plane.

``https://bedrock.{region}.amazonaws.com`` (a custom host replaces it), SigV4 as the runtime.

| OpenAI | Bedrock |
|---|---|
| ``POST /v1/batches`` | ``POST /model-invocation-job`` (CreateModelInvocationJob) |
| ``GET /v1/batches/{id}`` | ``GET /model-invocation-job/{jobIdentifier}`` |
| ``GET /v1/batches`` | ``GET /model-invocation-jobs`` |
| ``POST /v1/batches/{id}/cancel`` | ``POST /model-invocation-job/{jobIdentifier}/stop`` |

A job is created with ``modelInvocationType: Converse`` (the records ``bedrock_files.py`` wrote),
the input file's S3 location, ``model`` (or ``x-portkey-aws-bedrock-model``), the service role
``role_arn`` and, when given, ``job_name`` and ``output_data_config: {"s3Uri": ...}`` from the body
(Portkey's fields; the output defaults to the input file's folder). A batch id is the job's ARN
percent-encoded (Portkey's ids); it is checked against AWS's job identifier pattern before it goes
into a URL. Bedrock's statuses map to OpenAI's: Submitted, Validating → ``validating``; Scheduled,
InProgress → ``in_progress``; Completed, PartiallyCompleted → ``completed``; Failed → ``failed``;
Stopping → ``cancelling``; Stopped → ``cancelled``; Expired → ``expired``.
Docs: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelInvocationJob.html,
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetModelInvocationJob.html,
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListModelInvocationJobs.html,
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_StopModelInvocationJob.html,
https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import orjson

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, Credentials, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.bedrock_access import authorize, control_plane
from gateway.providers.bedrock_answers import SLUG, read_error
from gateway.providers.s3 import file_id, parse_file_id, parse_uri
from gateway.providers.translated import json_object

__all__ = [
    "BedrockBatches",
]

#: AWS's jobIdentifier pattern (an ARN, or the bare 12-character id).
_JOB = re.compile(r"(arn:aws(-[^:/]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12}")
_STATUSES = {
    "Submitted": "validating",
    "Validating": "validating",
    "Scheduled": "in_progress",
    "InProgress": "in_progress",
    "Completed": "completed",
    "PartiallyCompleted": "completed",
    "Failed": "failed",
    "Stopping": "cancelling",
    "Stopped": "cancelled",
    "Expired": "expired",
}
#: The OpenAI timestamp each final status sets (``endTime``).
_ENDED = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
_ENDPOINT = "/v1/chat/completions"
_MAX_LIMIT = 1000


@dataclass(slots=True)
class JobRequest(NativeRequest):
    """A control-plane request, with what its answer needs: the operation, the batch id asked for,
    and what the gateway sent for a job it creates."""

    operation: str = ""
    batch_id: str = ""
    created: dict[str, Any] | None = None


class BedrockBatches:
    """Prepares each ``/v1/batches`` call's control-plane request and reads its answers."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        parts = call.endpoint.split("/")
        if parts == ["batches"]:
            native = self._create(call, body.params or {}) if call.method == "POST" else _list(call)
        elif len(parts) == 2 and call.method == "GET":
            native = _job_request(call, parts[1], "get")
        elif len(parts) == 3 and parts[2] == "cancel" and call.method == "POST":
            native = _job_request(call, parts[1], "stop")
        else:
            raise InvalidRequest(
                "Bedrock batches are created, retrieved, listed and cancelled; "
                f"{call.method} /v1/{call.endpoint[:80]} is none of them.",
                param="x-portkey-provider",
                code="unsupported_endpoint",
            )
        method = "GET" if native.operation in ("get", "list") else "POST"
        sign = functools.partial(authorize, native, method=method)
        return PreparedRequest(native.url, native.headers, native.body, False, self, native, sign)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> NativeRequest:
        """CreateModelInvocationJob for an OpenAI batch ``body`` (the other calls carry no body)."""
        return self._create(call, body)

    def _create(self, call: UpstreamCall, body: Mapping[str, Any]) -> JobRequest:
        if body.get("endpoint", _ENDPOINT) != _ENDPOINT:
            raise InvalidRequest(f"Bedrock batches serve {_ENDPOINT} only.", param="endpoint")
        source = parse_file_id(_string(body, "input_file_id", "the uploaded file's id"), "input_file_id")
        output = body.get("output_data_config") or {}
        output_uri = output.get("s3Uri") if isinstance(output, dict) else None
        if output_uri is None:
            output_uri = f"s3://{source.bucket}/{source.key.rpartition('/')[0]}".rstrip("/") + "/"
        elif not isinstance(output_uri, str) or not output_uri.startswith("s3://"):
            raise InvalidRequest(
                "output_data_config.s3Uri must be an s3:// location.", param="output_data_config"
            )
        options = call.options
        model = options.get("aws-bedrock-model") or options.get("provider-model")
        if "model" in body or not model:
            model = _string(body, "model", "the model (or x-portkey-aws-bedrock-model)")
        job = {
            "jobName": body.get("job_name") or f"batch-{uuid.uuid4()}",
            "roleArn": _string(body, "role_arn", "the service role Bedrock runs the job as"),
            "modelId": model,
            "modelInvocationType": "Converse",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": source.uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}},
        }
        created = {"input_file_id": file_id(source), "created_at": int(time.time())}
        url = f"{control_plane(call)}/model-invocation-job"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        return JobRequest(url, orjson.dumps(job), headers, model, operation="create", created=created)

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        await authorize(native, credentials)

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 300:
            return read_error(status, body)
        assert isinstance(native, JobRequest)
        if native.operation == "stop":  # StopModelInvocationJob answers an empty body
            return orjson.dumps({"id": native.batch_id, "object": "batch", "status": "cancelling"})
        answer = json_object(SLUG, body)
        if native.operation == "create":
            return orjson.dumps(_created(answer, native.created or {}))
        if native.operation == "list":
            return orjson.dumps(_page(answer))
        return orjson.dumps(batch_object(answer))


def _string(body: Mapping[str, Any], name: str, what: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Bedrock batches need {what}: send '{name}'.", param=name, code="missing_field")
    return value


def _job_request(call: UpstreamCall, raw_id: str, operation: str) -> JobRequest:
    """GetModelInvocationJob or StopModelInvocationJob for the batch id in the path."""
    job = _job_identifier(raw_id)
    url = f"{control_plane(call)}/model-invocation-job/{quote(job, safe='')}"
    if operation == "stop":
        url += "/stop"
    headers = {"Accept": "application/json"}
    return JobRequest(url, b"", headers, "", operation=operation, batch_id=quote(job, safe=""))


def _job_identifier(raw_id: str) -> str:
    """The job ARN (or id) a batch id names. The id is the ARN percent-encoded, and the OpenAI
    SDKs encode it once more in the path: decoded until it is a job identifier, at most twice."""
    value = unquote(raw_id)
    if not _JOB.fullmatch(value):
        value = unquote(value)
    if not _JOB.fullmatch(value):
        raise InvalidRequest(
            "The batch id is not a Bedrock batch job id (a model-invocation-job ARN, percent-encoded).",
            param="batch_id",
            code="invalid_batch_id",
        )
    return value


def _list(call: UpstreamCall) -> JobRequest:
    """ListModelInvocationJobs; ``limit`` becomes ``maxResults``. Bedrock pages by its own token,
    not by a batch id, so ``after`` is refused rather than answered with the first page again."""
    query = parse_qs(call.query)
    if "after" in query:
        raise InvalidRequest(
            f"Bedrock lists batch jobs by its own page token, not by 'after': ask for a larger "
            f"'limit' (up to {_MAX_LIMIT}).",
            param="after",
            code="unsupported_parameter",
        )
    limit = (query.get("limit") or ["20"])[0]
    if not limit.isdigit() or not 1 <= int(limit) <= _MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {_MAX_LIMIT}.", param="limit")
    url = f"{control_plane(call)}/model-invocation-jobs?maxResults={int(limit)}"
    return JobRequest(url, b"", {"Accept": "application/json"}, "", operation="list")


# --- answers ----------------------------------------------------------------------------------


def _created(answer: Mapping[str, Any], created: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": quote(str(answer.get("jobArn", "")), safe=""),
        "object": "batch",
        "endpoint": _ENDPOINT,
        "completion_window": "24h",
        "status": "validating",
        "errors": None,
        "output_file_id": None,
        "error_file_id": None,
        **created,
    }


def _page(answer: Mapping[str, Any]) -> dict[str, Any]:
    jobs = [batch_object(job) for job in answer.get("invocationJobSummaries") or []]
    return {
        "object": "list",
        "data": jobs,
        "first_id": jobs[0]["id"] if jobs else None,
        "last_id": jobs[-1]["id"] if jobs else None,
        "has_more": bool(answer.get("nextToken")),
    }


def batch_object(job: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI Batch object for a GetModelInvocationJob answer (or a list's job summary)."""
    status = _STATUSES.get(str(job.get("status")), "in_progress")
    source = ((job.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri", "")
    batch: dict[str, Any] = {
        "id": quote(str(job.get("jobArn", "")), safe=""),
        "object": "batch",
        "endpoint": _ENDPOINT,
        "completion_window": "24h",
        "status": status,
        "input_file_id": quote(source, safe=""),
        "output_file_id": _output_file_id(job, source) if status == "completed" else None,
        "error_file_id": None,
        "created_at": _seconds(job.get("submitTime")),
        "expires_at": _seconds(job.get("jobExpirationTime")),
        "errors": _errors(job.get("message")) if status == "failed" else None,
        "metadata": {"job_name": job["jobName"]} if isinstance(job.get("jobName"), str) else None,
        "model": job.get("modelId"),
    }
    if status in _ENDED and job.get("endTime"):
        batch[_ENDED[status]] = _seconds(job["endTime"])
    if "totalRecordCount" in job:
        batch["request_counts"] = {
            "total": job.get("totalRecordCount") or 0,
            "completed": job.get("successRecordCount") or 0,
            "failed": job.get("errorRecordCount") or 0,
        }
    return batch


def _output_file_id(job: Mapping[str, Any], source: str) -> str | None:
    """Where Bedrock writes the records: ``{output s3Uri}/{job id}/{input file name}.out``."""
    output = ((job.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri", "")
    job_id = str(job.get("jobArn", "")).rpartition("/")[2]
    if not output or not source or not job_id:
        return None
    name = source.rpartition("/")[2]
    try:
        return file_id(parse_uri(f"{output.rstrip('/')}/{job_id}/{name}.out", "outputDataConfig"))
    except InvalidRequest:  # a location the gateway could not read back: no id rather than a bad one
        return None


def _errors(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, str):
        return None
    return {"object": "list", "data": [{"code": "failed", "message": message, "param": None, "line": None}]}


def _seconds(value: Any) -> int | None:
    """An AWS timestamp (ISO 8601) in Unix seconds, as OpenAI's objects hold times."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
