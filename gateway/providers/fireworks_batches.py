"""``/v1/batches`` on Fireworks AI: batch inference jobs of the account (``fireworks_access.py``).

Create (``POST /v1/batches``) → ``POST /batchInferenceJobs`` reading the dataset the file id names
(``input_file_id``, ``fireworks_files.py``) with the body's ``model`` (else
``x-portkey-provider-model``; a bare name is ``accounts/fireworks/models/{name}``); Fireworks
creates the output dataset. The body's ``max_tokens``, ``temperature``, ``top_p``, ``top_k`` and
``n`` (not OpenAI's, optional) become the job's ``inferenceParameters``. Retrieve and list
(``limit`` → ``pageSize``, ``after`` → ``pageToken``) map to the jobs of the same name; every job
is answered as an OpenAI Batch whose ``output_file_id`` is its output dataset (a file id here).
Fireworks documents no way to cancel a batch inference job: ``POST /v1/batches/{id}/cancel`` is a
400 that says so, and nothing is sent.

Job states → batch status: VALIDATING, CREATING, PENDING and any other → ``validating``;
RUNNING, WRITING_RESULTS → ``in_progress``; COMPLETED → ``completed``; FAILED → ``failed``;
EXPIRED → ``expired`` (Fireworks stops a job after 24 hours); CANCELLING → ``cancelling``;
CANCELLED, DELETING, DELETING_CLEANING_UP → ``cancelled``. ``in_progress_at`` is the job's
``lifecycle.runStartTime``; a final status's time its ``lifecycle.endTime`` (else ``updateTime``).

Docs: https://docs.fireworks.ai/api-reference/create-batch-inference-job,
https://docs.fireworks.ai/api-reference/get-batch-inference-job,
https://docs.fireworks.ai/guides/batch-inference
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, NativeRequest, PreparedRequest, UpstreamCall
from gateway.providers.batch_objects import ENDED_AT, object_list, page_query, unix_time
from gateway.providers.fireworks_access import PROVIDER, AccountAuth, account_base, account_id, resource_id
from gateway.providers.openai_format import upstream_error
from gateway.providers.translated import json_object, prepared_job

__all__ = [
    "MODEL",
    "FireworksBatches",
    "batch_object",
]

MODEL = "provider-model"
_ENDPOINT = "/v1/chat/completions"
#: A model name or a resource name (``accounts/fireworks/models/llama-v3p1-8b-instruct``).
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,255}")
_STATUS = {
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_WRITING_RESULTS": "in_progress",
    "JOB_STATE_COMPLETED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "expired",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_DELETING": "cancelled",
    "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
}
#: OpenAI-style sampling fields a batch may carry → the job's ``inferenceParameters``.
_PARAMETERS = {
    "max_tokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "n",
}
_PATHS = (("error",), ())


@dataclass(slots=True)
class JobRequest(NativeRequest):
    """A batch inference jobs request and what its answer is: one ``job``, or a ``list``."""

    answer: str = "job"


class FireworksBatches(AccountAuth):
    """The ``batches`` endpoints (see the module's docstring)."""

    __slots__ = ()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        return prepared_job(self, call, body)

    def request(self, call: UpstreamCall, body: dict[str, Any]) -> JobRequest:
        """Create, get or list jobs; a 400 for cancel (Fireworks has none) and the rest."""
        parts, method = call.endpoint.split("/"), call.method
        if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
            raise InvalidRequest(
                "Fireworks AI offers no way to cancel a batch inference job; it ends by itself (at the "
                "latest after 24 hours).",
                param="batch_id",
                code="unsupported_endpoint",
            )
        jobs = f"{account_base(call)}/batchInferenceJobs"
        if parts == ["batches"] and method == "POST":
            job = orjson.dumps(_job(call, body))
            return JobRequest(jobs, job, {"Content-Type": "application/json"}, "")
        if parts == ["batches"] and method == "GET":
            return JobRequest(f"{jobs}?{page_query(call.query, 200)}", b"", {}, "", answer="list")
        if len(parts) == 2 and method == "GET":
            return JobRequest(
                f"{jobs}/{resource_id(parts[1], 'batch_id', 'batch inference job')}", b"", {}, ""
            )
        raise InvalidRequest(
            f"Fireworks AI does not offer {method} /v1/{call.endpoint}: batches are created, "
            "retrieved and listed.",
            param="x-portkey-provider",
            code="unsupported_endpoint",
        )

    def read_body(self, status: int, body: bytes, native: NativeRequest) -> bytes:
        if status >= 300:
            return upstream_error(PROVIDER, status, body, *_PATHS)
        assert isinstance(native, JobRequest)
        found = json_object(PROVIDER, body)
        if native.answer == "list":
            jobs = found.get("batchInferenceJobs")
            batches = (
                [batch_object(job) for job in jobs if isinstance(job, dict)] if isinstance(jobs, list) else []
            )
            return orjson.dumps(object_list(batches, found))
        return orjson.dumps(batch_object(found))


def _job(call: UpstreamCall, body: Mapping[str, Any]) -> dict[str, Any]:
    """The BatchInferenceJob to create for an OpenAI batch ``body``."""
    source = body.get("input_file_id")
    if not isinstance(source, str) or not source:
        raise InvalidRequest(
            "A batch needs 'input_file_id'.", param="input_file_id", code="missing_input_file_id"
        )
    dataset = resource_id(source, "input_file_id", "dataset")
    if body.get("endpoint", _ENDPOINT) != _ENDPOINT:
        raise InvalidRequest(
            f"Fireworks AI batches serve {_ENDPOINT} only.", param="endpoint", code="unsupported_endpoint"
        )
    job: dict[str, Any] = {
        "model": _model(call, body),
        "inputDatasetId": f"accounts/{account_id(call)}/datasets/{dataset}",
    }
    parameters = {theirs: body[ours] for ours, theirs in _PARAMETERS.items() if ours in body}
    for name, value in parameters.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"'{name}' must be a number.", param=name, code="invalid_parameter")
    if parameters:
        job["inferenceParameters"] = parameters
    return job


def _model(call: UpstreamCall, body: Mapping[str, Any]) -> str:
    model = body.get("model") or call.options.get(MODEL, "")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "A Fireworks AI batch needs its model: send 'model' in the body or x-portkey-provider-model.",
            param="model",
            code="missing_model",
        )
    if not _MODEL.fullmatch(model) or ".." in model:
        raise InvalidRequest("'model' is not a Fireworks AI model name.", param="model", code="invalid_model")
    return model if "/" in model else f"accounts/fireworks/models/{model}"


def batch_object(job: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI Batch for a Fireworks BatchInferenceJob."""
    status = _STATUS.get(str(job.get("state")), "validating")
    progress = job.get("jobProgress")
    progress = progress if isinstance(progress, dict) else {}
    done, failed = _count(progress, "successfullyProcessedRequests"), _count(progress, "failedRequests")
    # Either total alone can be short (Fireworks' own note): the input count is the dataset's
    # declared one, the processed count stops where a job ended early.
    total = max(_count(progress, "totalInputRequests"), _count(progress, "totalProcessedRequests"))
    lifecycle = job.get("lifecycle")
    lifecycle = lifecycle if isinstance(lifecycle, dict) else {}
    batch: dict[str, Any] = {
        "id": str(job.get("name", "")).rsplit("/", 1)[-1],
        "object": "batch",
        "endpoint": _ENDPOINT,
        "model": job.get("model"),
        "errors": _errors(job.get("status")) if status == "failed" else None,
        "input_file_id": _dataset_of(job.get("inputDatasetId")),
        "completion_window": "24h",
        "status": status,
        "output_file_id": _dataset_of(job.get("outputDatasetId")),
        "error_file_id": None,
        "created_at": unix_time(job.get("createTime")),
        "expires_at": unix_time(job.get("expireTime")),
        "in_progress_at": unix_time(lifecycle.get("runStartTime")),
        "request_counts": {
            "total": max(total, done + failed),
            "completed": done,
            "failed": failed,
        },
        "metadata": None,
    }
    if status in ENDED_AT:
        batch[ENDED_AT[status]] = unix_time(lifecycle.get("endTime") or job.get("updateTime"))
    return batch


def _count(progress: Mapping[str, Any], name: str) -> int:
    value = progress.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _errors(status: object) -> dict[str, Any] | None:
    if not isinstance(status, dict) or not status.get("message"):
        return None
    entry = {
        "code": str(status.get("code", "")),
        "message": str(status["message"]),
        "param": None,
        "line": None,
    }
    return {"object": "list", "data": [entry]}


def _dataset_of(name: object) -> str | None:
    """The dataset id of a dataset resource name (``accounts/{a}/datasets/{id}``), or the id given."""
    return name.rsplit("/", 1)[-1] if isinstance(name, str) and name else None
