"""Files, batches and fine-tuning jobs through the real wire (SDK → gateway → fake provider).

Uploads are compared byte for byte with what the fake received; downloads with what it sent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fake_provider import FakeProvider
from tests.functional.endpoint_support import (
    BINARY,
    KEY,
    answer,
    answer_bytes,
    assert_reached,
    file_parts,
    form_fields,
    multipart_parts,
    page,
)

JSONL = b"".join(
    b'{"custom_id": "req-%d", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "gpt-4o-mini"}}\n' % i
    for i in range(200)
)
FILE: dict[str, Any] = {
    "id": "file-abc123",
    "object": "file",
    "bytes": len(JSONL),
    "created_at": 1711471533,
    "expires_at": 1711475133,
    "filename": "batch.jsonl",
    "purpose": "batch",
    "status": "processed",
    "status_details": None,
}
CONTENT = random.Random(11).randbytes(2 * 1024 * 1024 + 3)


@pytest.fixture
def sync_client(gateway_url: str, provider_headers: dict[str, str]) -> Iterator[OpenAI]:
    """The sync SDK; call it through ``asyncio.to_thread`` (the gateway runs in the test's loop)."""
    sdk = OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, default_headers=provider_headers, max_retries=0)
    yield sdk
    sdk.close()


async def test_file_upload_reaches_the_provider_byte_for_byte(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    answer(fake, "POST", "/v1/files", FILE)
    created = await client.files.create(
        file=("batch.jsonl", JSONL, "application/jsonl"),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/files"))
    assert form_fields(parts) == {
        "purpose": ["batch"],
        "expires_after[anchor]": ["created_at"],
        "expires_after[seconds]": ["3600"],
    }
    assert file_parts(parts) == {"file": [("batch.jsonl", JSONL)]}
    assert created.to_dict() == FILE


async def test_binary_file_upload_works_from_the_sync_sdk(sync_client: OpenAI, fake: FakeProvider) -> None:
    uploaded = {**FILE, "filename": "weights.bin", "purpose": "user_data", "bytes": len(BINARY)}
    answer(fake, "POST", "/v1/files", uploaded)
    created = await asyncio.to_thread(
        sync_client.files.create,
        file=("weights.bin", BINARY, "application/octet-stream"),
        purpose="user_data",
    )
    parts = multipart_parts(assert_reached(fake, "POST", "/v1/files"))
    assert file_parts(parts) == {"file": [("weights.bin", BINARY)]}
    assert created.to_dict() == uploaded


async def test_file_list_passes_purpose_and_cursor_query(client: AsyncOpenAI, fake: FakeProvider) -> None:
    body = page([FILE], first_id=FILE["id"], last_id=FILE["id"], has_more=True)
    answer(fake, "GET", "/v1/files", body)
    listed = await client.files.list(purpose="batch", limit=1, after="file-000", order="asc")
    assert_reached(
        fake,
        "GET",
        "/v1/files",
        {"purpose": ["batch"], "limit": ["1"], "after": ["file-000"], "order": ["asc"]},
    )
    assert [item.to_dict() for item in listed.data] == [FILE]
    assert listed.has_more is True


async def test_file_retrieve_and_delete_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    deleted = {"id": FILE["id"], "object": "file", "deleted": True}
    answer(fake, "GET", "/v1/files/file-abc123", FILE)
    answer(fake, "DELETE", "/v1/files/file-abc123", deleted)
    retrieved = await client.files.retrieve("file-abc123")
    assert_reached(fake, "GET", "/v1/files/file-abc123")
    assert retrieved.to_dict() == FILE

    fake.received.clear()
    gone = await client.files.delete("file-abc123")
    assert_reached(fake, "DELETE", "/v1/files/file-abc123")
    assert gone.to_dict() == deleted


async def test_file_content_download_is_byte_identical(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer_bytes(fake, "GET", "/v1/files/file-abc123/content", CONTENT, "application/octet-stream", chunks=40)
    async with client.files.with_streaming_response.content("file-abc123") as download:
        assert download.headers["Content-Type"] == "application/octet-stream"
        received = b"".join([chunk async for chunk in download.iter_bytes()])
    assert assert_reached(fake, "GET", "/v1/files/file-abc123/content").body == b""
    assert len(received) == len(CONTENT)
    assert received == CONTENT


async def test_file_content_download_with_a_content_length_is_byte_identical_from_the_sync_sdk(
    sync_client: OpenAI, fake: FakeProvider
) -> None:
    answer_bytes(fake, "GET", "/v1/files/file-abc123/content", CONTENT, "application/octet-stream")
    content = await asyncio.to_thread(lambda: sync_client.files.content("file-abc123").read())
    assert_reached(fake, "GET", "/v1/files/file-abc123/content")
    assert content == CONTENT


BATCH: dict[str, Any] = {
    "id": "batch_abc123",
    "object": "batch",
    "endpoint": "/v1/chat/completions",
    "errors": None,
    "input_file_id": "file-abc123",
    "completion_window": "24h",
    "status": "validating",
    "output_file_id": None,
    "error_file_id": None,
    "created_at": 1711471533,
    "in_progress_at": None,
    "expires_at": 1711557933,
    "finalizing_at": None,
    "completed_at": None,
    "failed_at": None,
    "expired_at": None,
    "cancelling_at": None,
    "cancelled_at": None,
    "request_counts": {"total": 0, "completed": 0, "failed": 0},
    "metadata": {"job": "nightly"},
}


async def test_batch_create_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "POST", "/v1/batches", BATCH)
    batch = await client.batches.create(
        input_file_id="file-abc123",
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert assert_reached(fake, "POST", "/v1/batches").json() == {
        "input_file_id": "file-abc123",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"job": "nightly"},
    }
    assert batch.to_dict() == BATCH


async def test_batch_list_passes_cursor_query(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "GET", "/v1/batches", page([BATCH], first_id=BATCH["id"], last_id=BATCH["id"]))
    listed = await client.batches.list(after="batch_000", limit=1)
    assert_reached(fake, "GET", "/v1/batches", {"after": ["batch_000"], "limit": ["1"]})
    assert [item.to_dict() for item in listed.data] == [BATCH]


async def test_batch_retrieve_and_cancel_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    cancelling = {**BATCH, "status": "cancelling", "cancelling_at": 1711471600}
    answer(fake, "GET", "/v1/batches/batch_abc123", BATCH)
    answer(fake, "POST", "/v1/batches/batch_abc123/cancel", cancelling)
    retrieved = await client.batches.retrieve("batch_abc123")
    assert_reached(fake, "GET", "/v1/batches/batch_abc123")
    assert retrieved.to_dict() == BATCH

    fake.received.clear()
    cancelled = await client.batches.cancel("batch_abc123")
    assert assert_reached(fake, "POST", "/v1/batches/batch_abc123/cancel").body == b""
    assert cancelled.to_dict() == cancelling


HYPERPARAMETERS = {"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": "auto"}
JOB: dict[str, Any] = {
    "object": "fine_tuning.job",
    "id": "ftjob-abc123",
    "model": "gpt-4o-mini-2024-07-18",
    "created_at": 1721764800,
    "fine_tuned_model": None,
    "organization_id": "org-123",
    "result_files": [],
    "status": "queued",
    "validation_file": None,
    "training_file": "file-abc123",
    "hyperparameters": HYPERPARAMETERS,
    "trained_tokens": None,
    "error": None,
    "finished_at": None,
    "seed": 42,
    "estimated_finish": None,
    "integrations": None,
    "metadata": {"team": "search"},
    "method": {"type": "supervised", "supervised": {"hyperparameters": HYPERPARAMETERS}},
}
JOB_PATH = "/v1/fine_tuning/jobs/ftjob-abc123"


async def test_fine_tuning_job_create_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "POST", "/v1/fine_tuning/jobs", JOB)
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file="file-abc123",
        seed=42,
        suffix="search",
        metadata={"team": "search"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    assert assert_reached(fake, "POST", "/v1/fine_tuning/jobs").json() == {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": "file-abc123",
        "seed": 42,
        "suffix": "search",
        "metadata": {"team": "search"},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    }
    assert job.to_dict() == JOB


async def test_fine_tuning_job_list_passes_after_and_limit(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "GET", "/v1/fine_tuning/jobs", page([JOB], has_more=True))
    listed = await client.fine_tuning.jobs.list(after="ftjob-000", limit=1, metadata={"team": "search"})
    assert_reached(
        fake,
        "GET",
        "/v1/fine_tuning/jobs",
        {"after": ["ftjob-000"], "limit": ["1"], "metadata[team]": ["search"]},
    )
    assert [item.to_dict() for item in listed.data] == [JOB]
    assert listed.has_more is True


async def test_fine_tuning_job_retrieve_round_trip(client: AsyncOpenAI, fake: FakeProvider) -> None:
    answer(fake, "GET", JOB_PATH, JOB)
    job = await client.fine_tuning.jobs.retrieve("ftjob-abc123")
    assert_reached(fake, "GET", JOB_PATH)
    assert job.to_dict() == JOB


@pytest.mark.parametrize(
    ("action", "status"), [("cancel", "cancelled"), ("pause", "paused"), ("resume", "running")]
)
async def test_fine_tuning_job_state_changes_round_trip(
    client: AsyncOpenAI, fake: FakeProvider, action: str, status: str
) -> None:
    changed = {**JOB, "status": status}
    answer(fake, "POST", f"{JOB_PATH}/{action}", changed)
    job = await getattr(client.fine_tuning.jobs, action)("ftjob-abc123")
    assert assert_reached(fake, "POST", f"{JOB_PATH}/{action}").body == b""
    assert job.to_dict() == changed


async def test_fine_tuning_job_events_list_passes_cursor_query(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    events = [
        {
            "object": "fine_tuning.job.event",
            "id": "ftevent-2",
            "created_at": 1721764900,
            "level": "info",
            "message": "Step 10/100: training loss=0.52",
            "data": {"step": 10, "train_loss": 0.52},
            "type": "metrics",
        },
        {
            "object": "fine_tuning.job.event",
            "id": "ftevent-1",
            "created_at": 1721764800,
            "level": "warn",
            "message": "Fine-tuning job started",
            "data": {},
            "type": "message",
        },
    ]
    answer(fake, "GET", f"{JOB_PATH}/events", page(events, has_more=False))
    listed = await client.fine_tuning.jobs.list_events("ftjob-abc123", after="ftevent-3", limit=2)
    assert_reached(fake, "GET", f"{JOB_PATH}/events", {"after": ["ftevent-3"], "limit": ["2"]})
    assert [item.to_dict() for item in listed.data] == events


async def test_fine_tuning_job_checkpoints_list_passes_cursor_query(
    client: AsyncOpenAI, fake: FakeProvider
) -> None:
    checkpoint = {
        "object": "fine_tuning.job.checkpoint",
        "id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
        "created_at": 1721764867,
        "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:org-123::9Xo4ZJ0m:ckpt-step-88",
        "fine_tuning_job_id": "ftjob-abc123",
        "metrics": {"step": 88.0, "train_loss": 0.478, "train_mean_token_accuracy": 0.924},
        "step_number": 88,
    }
    path = f"{JOB_PATH}/checkpoints"
    answer(fake, "GET", path, page([checkpoint], first_id=checkpoint["id"], last_id=checkpoint["id"]))
    listed = await client.fine_tuning.jobs.checkpoints.list("ftjob-abc123", after="ftckpt_0", limit=1)
    assert_reached(fake, "GET", path, {"after": ["ftckpt_0"], "limit": ["1"]})
    assert [item.to_dict() for item in listed.data] == [checkpoint]
