"""``/v1/batches`` on Vertex AI: batch prediction jobs over files in Cloud Storage.

Create (``POST /v1/batches``) → ``batchPredictionJobs.create`` for
``publishers/google/models/{model}`` (the body's ``model``, else ``x-portkey-provider-model``, as
Portkey), reading the uploaded file (``input_file_id``, ``vertex_files.py``) and writing its
predictions next to it (the file's folder, as Portkey). Retrieve, list (``limit`` → ``pageSize``,
``after`` → ``pageToken``: Vertex pages by token, given back as ``next_page_token``) and cancel
(``:cancel``) map to the jobs of the same name; every job is answered as an OpenAI Batch.

Job states → batch status (as Portkey): QUEUED, PENDING, PAUSED, UNSPECIFIED → ``validating``;
RUNNING, UPDATING → ``in_progress``; SUCCEEDED, PARTIALLY_SUCCEEDED → ``completed``; FAILED →
``failed``; CANCELLING → ``cancelling``; CANCELLED → ``cancelled``; EXPIRED → ``expired``. A job's
``output_file_id`` is its ``predictions.jsonl`` (Vertex's output lines, relayed as they are by
``GET /v1/files/{id}/content``).

API: https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from gateway.errors import InvalidRequest
from gateway.providers import gcs
from gateway.providers.base import ClientBody, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.batch_objects import ENDED_AT, object_list, page_query, unix_time
from gateway.providers.openai_format import upstream_error
from gateway.providers.translated import json_object, prepared_job
from gateway.providers.vertex_access import PROVIDER, VertexAuth, location_path

__all__ = [
    "MODEL",
    "VertexBatches",
    "batch_object",
]

MODEL = "provider-model"
_ENDPOINT = "/v1/chat/completions"
#: Vertex's job ids are numbers; a model is a publisher model name or a full resource name.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:/-]{0,255}")
_STATUS = {
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
#: Vertex names the output file of a Gemini batch job so, in the job's output directory.
_PREDICTIONS = "predictions.jsonl"


@dataclass(slots=True)
class JobRequest(NativeRequest):
    """A batch prediction jobs request and what its answer is: ``job`` (one job), ``list``, or
    ``cancel`` (Vertex answers ``{}``: the batch is answered from ``job_id``)."""

    answer: str = "job"
    job_id: str = ""


class VertexBatches(VertexAuth):
    """The ``batches`` endpoints (see the module's docstring)."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        return prepared_job(self, call, body)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> JobRequest:
        jobs = f"{location_path(call)}/batchPredictionJobs"
        json = {"Content-Type": "application/json"}
        parts, method = call.endpoint.split("/"), call.method
        if parts == ["batches"] and method == "POST":
            return JobRequest(jobs, orjson.dumps(_job(call, body)), json, "")
        if parts == ["batches"] and method == "GET":
            return JobRequest(f"{jobs}?{page_query(call.query, 100)}", b"", {}, "", answer="list")
        if len(parts) == 2 and method == "GET":
            return JobRequest(f"{jobs}/{_job_id(parts[1])}", b"", {}, "")
        if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
            job = _job_id(parts[1])
            return JobRequest(f"{jobs}/{job}:cancel", b"{}", json, "", answer="cancel", job_id=job)
        raise InvalidRequest(
            f"Vertex AI does not offer {method} /v1/{call.endpoint}: batches are created, retrieved, "
            "listed and cancelled.",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 400:
            return upstream_error(PROVIDER, status, body, ("error",))
        found = json_object(PROVIDER, body)
        assert isinstance(native, JobRequest)
        if native.answer == "cancel":
            return orjson.dumps({"id": native.job_id, "object": "batch", "status": "cancelling"})
        if native.answer == "list":
            return orjson.dumps(_batch_list(found))
        return orjson.dumps(batch_object(found))


def _job(call: UpstreamCall, body: Mapping[str, Any]) -> dict[str, Any]:
    """The BatchPredictionJob to create for an OpenAI batch request."""
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest(
            "'input_file_id' is required: the id of an uploaded file.", param="input_file_id"
        )
    source = gcs.object_of(file_id, "input_file_id")
    endpoint = body.get("endpoint", _ENDPOINT)
    if endpoint != _ENDPOINT:
        raise InvalidRequest(
            f"Vertex AI batches here serve {_ENDPOINT} only.", param="endpoint", code="unsupported_endpoint"
        )
    folder = source.uri.rsplit("/", 1)[0] + "/"
    return {
        "displayName": f"portkey-{uuid.uuid4()}",
        "model": _model(call, body),
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [source.uri]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": folder}},
        # The custom_id each line carries (vertex_files.py) stays out of the model's request and
        # comes back in the line's output.
        "instanceConfig": {"instanceType": "object", "excludedFields": ["requestId"]},
    }


def _model(call: UpstreamCall, body: Mapping[str, Any]) -> str:
    model = body.get("model") or call.options.get(MODEL, "")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "A Vertex AI batch needs its model: send 'model' in the body or x-portkey-provider-model.",
            param="model",
            code="missing_model",
        )
    if not _MODEL.fullmatch(model) or ".." in model:
        raise InvalidRequest("'model' is not a Vertex AI model name.", param="model", code="invalid_model")
    return model if model.startswith(("publishers/", "projects/")) else f"publishers/google/models/{model}"


def _job_id(value: str) -> str:
    if not _JOB_ID.fullmatch(value):
        raise InvalidRequest(
            "The batch id is not a Vertex AI job id.", param="batch_id", code="invalid_batch_id"
        )
    return value


def _batch_list(found: Mapping[str, Any]) -> dict[str, Any]:
    jobs = found.get("batchPredictionJobs")
    batches = [batch_object(job) for job in jobs if isinstance(job, dict)] if isinstance(jobs, list) else []
    return object_list(batches, found)


def batch_object(job: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI Batch for a Vertex BatchPredictionJob."""
    status = _STATUS.get(str(job.get("state")), "validating")
    stats = job.get("completionStats") or {}
    done, failed, left = (
        _count(stats, name) for name in ("successfulCount", "failedCount", "incompleteCount")
    )
    batch: dict[str, Any] = {
        "id": str(job.get("name", "")).rsplit("/", 1)[-1],
        "object": "batch",
        "endpoint": _ENDPOINT,
        "model": str(job.get("model", "")).rsplit("/", 1)[-1],
        "errors": _errors(job.get("error")),
        "input_file_id": _input_file(job),
        "completion_window": None,
        "status": status,
        "output_file_id": _output_file(job),
        "error_file_id": None,
        "created_at": unix_time(job.get("createTime")),
        "in_progress_at": unix_time(job.get("startTime")),
        "request_counts": {"total": done + failed + left, "completed": done, "failed": failed},
        "metadata": None,
    }
    if status in ENDED_AT:
        batch[ENDED_AT[status]] = unix_time(job.get("endTime"))
    return batch


def _count(stats: Mapping[str, Any], name: str) -> int:
    value = stats.get(name)  # int64 counts come as JSON strings
    return int(value) if isinstance(value, str | int) and str(value).isdigit() else 0


def _errors(error: object) -> dict[str, Any] | None:
    if not isinstance(error, dict):
        return None
    entry = {
        "code": str(error.get("code", "")),
        "message": str(error.get("message", "")),
        "param": None,
        "line": None,
    }
    return {"object": "list", "data": [entry]}


def _input_file(job: Mapping[str, Any]) -> str | None:
    uris = ((job.get("inputConfig") or {}).get("gcsSource") or {}).get("uris")
    return quote(uris[0], safe="") if isinstance(uris, list) and uris and isinstance(uris[0], str) else None


def _output_file(job: Mapping[str, Any]) -> str | None:
    directory = (job.get("outputInfo") or {}).get("gcsOutputDirectory")
    return quote(f"{directory}/{_PREDICTIONS}", safe="") if isinstance(directory, str) and directory else None
