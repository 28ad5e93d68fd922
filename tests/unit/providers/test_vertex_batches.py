"""Vertex batch prediction jobs read as OpenAI batches (``providers/vertex_batches.py``)."""

from __future__ import annotations

import pytest

from gateway.providers.vertex_batches import batch_object

JOB = {
    "name": "projects/p/locations/us-central1/batchPredictionJobs/42",
    "model": "publishers/google/models/gemini-2.0-flash",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
    "createTime": "2025-03-01T10:00:00Z",
    "startTime": "2025-03-01T10:01:00Z",
    "endTime": "2025-03-01T10:05:00Z",
}


@pytest.mark.parametrize(
    ("state", "status", "ended"),
    [
        ("JOB_STATE_QUEUED", "validating", None),
        ("JOB_STATE_PENDING", "validating", None),
        ("JOB_STATE_PAUSED", "validating", None),
        ("JOB_STATE_UNSPECIFIED", "validating", None),
        ("JOB_STATE_RUNNING", "in_progress", None),
        ("JOB_STATE_UPDATING", "in_progress", None),
        ("JOB_STATE_SUCCEEDED", "completed", "completed_at"),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", "completed", "completed_at"),
        ("JOB_STATE_FAILED", "failed", "failed_at"),
        ("JOB_STATE_CANCELLING", "cancelling", None),
        ("JOB_STATE_CANCELLED", "cancelled", "cancelled_at"),
        ("JOB_STATE_EXPIRED", "expired", "expired_at"),
    ],
)
def test_each_job_state_is_an_openai_batch_status(state: str, status: str, ended: str | None) -> None:
    batch = batch_object({**JOB, "state": state})
    assert batch["status"] == status
    stamps = {key for key in ("completed_at", "failed_at", "cancelled_at", "expired_at") if key in batch}
    assert stamps == ({ended} if ended else set())
    if ended:
        assert batch[ended] == 1740823500


def test_a_job_reads_as_a_batch_with_its_files_counts_and_error() -> None:
    job = {
        **JOB,
        "state": "JOB_STATE_FAILED",
        "outputInfo": {"gcsOutputDirectory": "gs://b/prediction-1"},
        "completionStats": {"successfulCount": "3", "failedCount": "1", "incompleteCount": "2"},
        "error": {"code": 3, "message": "Bad input."},
    }
    batch = batch_object(job)
    assert batch["id"] == "42"
    assert batch["model"] == "gemini-2.0-flash"
    assert batch["input_file_id"] == "gs%3A%2F%2Fb%2Fin.jsonl"
    assert batch["output_file_id"] == "gs%3A%2F%2Fb%2Fprediction-1%2Fpredictions.jsonl"
    assert batch["request_counts"] == {"total": 6, "completed": 3, "failed": 1}
    assert batch["errors"] == {
        "object": "list",
        "data": [{"code": "3", "message": "Bad input.", "param": None, "line": None}],
    }
    assert (batch["created_at"], batch["in_progress_at"]) == (1740823200, 1740823260)


def test_a_job_without_times_or_stats_still_reads() -> None:
    batch = batch_object({"name": "projects/p/locations/l/batchPredictionJobs/7"})
    assert batch["status"] == "validating"
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert batch["created_at"] is None
    assert batch["output_file_id"] is None
