"""Files and batches on Fireworks AI (``x-portkey-provider: fireworks-ai``) with the OpenAI SDK,
unchanged, against one local fake of Fireworks' account and inference APIs
(``fake_fireworks_jobs.py``): uploads become datasets of the account in
``x-portkey-fireworks-account-id``, batches become batch inference jobs, and both are read back
as OpenAI objects; inference keeps going to the inference API through the same custom host."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import (
    AsyncOpenAI,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

from tests.functional.fake_fireworks_jobs import FakeFireworks

ACCOUNT = "acct-a"
KEY = "fw-key-a"
MODEL = "llama-v3p1-8b-instruct"
Client = Callable[..., AsyncOpenAI]


def batch_line(custom_id: str, text: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "body": {"messages": [{"role": "user", "content": text}], "max_tokens": 10},
    }


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def message_of(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    assert isinstance(body, dict)
    return str(body["message"])


@pytest.fixture
async def fireworks(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeFireworks:
    fake = FakeFireworks()
    server = await aiohttp_server(fake.app())
    fake.port = server.port or 0
    return fake


@pytest.fixture
async def make_client(gateway_url: str, fireworks: FakeFireworks) -> AsyncIterator[Client]:
    """An SDK client for Fireworks through the gateway, with the custom host an inference caller
    gives (``…/inference/v1``); ``headers`` become x-portkey-<name> headers (``None`` drops one)."""
    made: list[AsyncOpenAI] = []

    def make(api_key: str = KEY, **headers: str | None) -> AsyncOpenAI:
        defaults: dict[str, str | None] = {
            "provider": "fireworks-ai",
            "custom-host": f"{fireworks.host}/inference/v1",
            "fireworks-account-id": ACCOUNT,
        }
        defaults.update({name.replace("_", "-"): value for name, value in headers.items()})
        sent = {f"x-portkey-{name}": value for name, value in defaults.items() if value is not None}
        sdk = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, default_headers=sent, max_retries=0)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        await sdk.close()


@pytest.fixture
def client(make_client: Client) -> AsyncOpenAI:
    return make_client()


async def upload(client: AsyncOpenAI, *lines: dict[str, Any], purpose: Any = "batch") -> Any:
    return await client.files.create(file=("input.jsonl", jsonl(*lines)), purpose=purpose)


async def test_upload_creates_a_dataset_and_sends_the_file_to_it(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    client = make_client(provider_file_name="questions.jsonl")
    content = jsonl(batch_line("r1", "Hello"), batch_line("r2", "Bye"))
    created = await client.files.create(file=("input.jsonl", content), purpose="batch")

    create, send = fireworks.calls
    assert (create.method, create.path) == ("POST", f"/v1/accounts/{ACCOUNT}/datasets")
    assert orjson.loads(create.body) == {
        "datasetId": "questions",
        "dataset": {"userUploaded": {}, "exampleCount": "2"},
    }
    assert (send.method, send.path) == ("POST", f"/v1/accounts/{ACCOUNT}/datasets/questions:upload")
    assert send.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert all(call.headers["Authorization"] == f"Bearer {KEY}" for call in fireworks.calls)
    assert fireworks.files[(ACCOUNT, "questions")] == content
    assert (created.id, created.object, created.purpose, created.status) == (
        "questions",
        "file",
        "batch",
        "processed",
    )
    assert (created.bytes, created.filename) == (len(content), "input.jsonl")


async def test_a_large_file_arrives_whole_and_in_order(make_client: Client, fireworks: FakeFireworks) -> None:
    lines = [batch_line(f"req-{n}", f"Question {n} " + "x" * (n % 500)) for n in range(26000)]
    content = jsonl(*lines)
    assert len(content) > 8 * 1024 * 1024  # past what the spool keeps in memory
    await make_client(provider_file_name="big").files.create(file=("big.jsonl", content), purpose="batch")
    assert fireworks.files[(ACCOUNT, "big")] == content
    assert fireworks.datasets[(ACCOUNT, "big")]["exampleCount"] == "26000"


async def test_upload_without_a_file_name_gets_a_new_dataset_id(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    created = await upload(client, batch_line("r1", "Hi"), purpose="fine-tune")
    [(account, dataset)] = fireworks.datasets
    assert (account, created.id, created.purpose) == (ACCOUNT, dataset, "fine-tune")
    assert dataset.startswith("portkey-")
    assert len(dataset) == len("portkey-") + 36


async def test_a_line_that_is_not_a_json_object_is_a_400_naming_it_and_nothing_is_created(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    content = jsonl(batch_line("r1", "Hi")) + b"\n[1, 2]\n" + jsonl(batch_line("r3", "Bye"))
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("input.jsonl", content), purpose="batch")
    assert "Line 3 " in message_of(caught.value)
    assert fireworks.calls == []


async def test_a_purpose_fireworks_does_not_take_is_refused_before_anything_is_sent(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await upload(client, batch_line("r1", "Hi"), purpose="assistants")
    assert caught.value.body["param"] == "purpose"  # type: ignore[index]
    assert fireworks.calls == []


@pytest.mark.parametrize("account", [None, "acct.evil.example:80", "../acct-b", "Acct-A"])
async def test_a_missing_or_invalid_account_id_is_a_400_naming_the_header_and_nothing_is_sent(
    make_client: Client, fireworks: FakeFireworks, account: str | None
) -> None:
    client = make_client(fireworks_account_id=account)
    calls: list[Awaitable[Any]] = [
        upload(client, batch_line("r1", "Hi")),
        client.files.list(),
        client.files.retrieve("questions"),
        client.batches.retrieve("job-1"),
    ]
    for call in calls:
        with pytest.raises(BadRequestError) as caught:
            await call
        assert caught.value.body["param"] == "x-portkey-fireworks-account-id"  # type: ignore[index]
    assert fireworks.calls == []


@pytest.mark.parametrize("name", ["a/b", "..", "x?y", "UPPER"])
async def test_a_file_name_that_is_not_a_dataset_id_is_refused_before_anything_is_sent(
    make_client: Client, fireworks: FakeFireworks, name: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await upload(make_client(provider_file_name=name), batch_line("r1", "Hi"))
    assert caught.value.body["param"] == "x-portkey-provider-file-name"  # type: ignore[index]
    assert fireworks.calls == []


async def test_files_are_listed_retrieved_and_deleted_as_openai_files(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    for name in ("first", "second", "third"):
        await upload(make_client(provider_file_name=name), batch_line("r1", "Hi"))
    client = make_client()
    page = await client.files.list(extra_query={"limit": 2})
    assert [item.id for item in page.data] == ["first", "second"]
    assert fireworks.calls[-1].query == {"pageSize": ["2"]}
    extra = page.model_extra or {}
    rest = await client.files.list(extra_query={"limit": 2, "after": extra["next_page_token"]})
    assert [item.id for item in rest.data] == ["third"]

    found = await client.files.retrieve("second")
    assert fireworks.calls[-1].path == f"/v1/accounts/{ACCOUNT}/datasets/second"
    assert (found.id, found.object, found.status, found.created_at) == (
        "second",
        "file",
        "processed",
        1740823200,
    )

    deleted = await client.files.delete("second")
    assert (deleted.id, deleted.deleted) == ("second", True)
    assert (fireworks.calls[-1].method, fireworks.calls[-1].path) == (
        "DELETE",
        f"/v1/accounts/{ACCOUNT}/datasets/second",
    )
    assert (ACCOUNT, "second") not in fireworks.datasets


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_limit_fireworks_would_not_page_by_is_a_400_and_nothing_is_sent(
    client: AsyncOpenAI, fireworks: FakeFireworks, limit: int
) -> None:
    with pytest.raises(BadRequestError) as listed:
        await client.files.list(extra_query={"limit": limit})
    with pytest.raises(BadRequestError) as batches:
        await client.batches.list(limit=limit)
    for caught in (listed, batches):
        assert caught.value.body["param"] == "limit"  # type: ignore[index]
    assert fireworks.calls == []


async def test_a_file_id_that_is_not_a_dataset_id_is_refused(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    with pytest.raises(BadRequestError):
        await client.files.retrieve("x:upload")
    with pytest.raises(BadRequestError):
        await client.files.content("questions")
    assert fireworks.calls == []


async def test_a_batch_becomes_a_batch_inference_job_on_the_uploaded_dataset(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    client = make_client(provider_file_name="questions")
    created = await upload(client, batch_line("r1", "Hi"))
    batch = await client.batches.create(
        input_file_id=created.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"model": MODEL, "max_tokens": 64, "temperature": 0.2},
    )
    sent = fireworks.calls[-1]
    assert (sent.method, sent.path) == ("POST", f"/v1/accounts/{ACCOUNT}/batchInferenceJobs")
    assert orjson.loads(sent.body) == {
        "model": f"accounts/fireworks/models/{MODEL}",
        "inputDatasetId": f"accounts/{ACCOUNT}/datasets/questions",
        "inferenceParameters": {"maxTokens": 64, "temperature": 0.2},
    }
    assert (batch.id, batch.object, batch.status) == ("job-1", "batch", "validating")
    assert (batch.input_file_id, batch.output_file_id) == ("questions", "job-1-output")
    assert batch.endpoint == "/v1/chat/completions"
    assert batch.created_at == 1740823200


async def test_a_model_from_the_header_and_a_full_model_name_are_sent_as_fireworks_names(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    client = make_client(provider_file_name="questions", provider_model="accounts/me/models/tuned")
    await upload(client, batch_line("r1", "Hi"))
    await client.batches.create(
        input_file_id="questions", endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert orjson.loads(fireworks.calls[-1].body)["model"] == "accounts/me/models/tuned"


async def test_a_batch_without_a_model_is_a_400_and_nothing_is_sent(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.batches.create(
            input_file_id="questions", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert fireworks.calls == []


async def test_retrieved_and_listed_jobs_map_their_state_progress_and_times(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    client = make_client(provider_file_name="questions")
    await upload(client, batch_line("r1", "Hi"))
    for _ in range(3):
        await client.batches.create(
            input_file_id="questions",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"model": MODEL},
        )
    fireworks.jobs[(ACCOUNT, "job-1")].update(
        state="JOB_STATE_COMPLETED",
        updateTime="2025-03-01T11:00:01Z",
        lifecycle={"runStartTime": "2025-03-01T10:30:00Z", "endTime": "2025-03-01T11:00:00Z"},
        jobProgress={
            "totalInputRequests": 3,
            "totalProcessedRequests": 5,
            "successfullyProcessedRequests": 4,
            "failedRequests": 1,
        },
    )
    fireworks.jobs[(ACCOUNT, "job-2")].update(
        state="JOB_STATE_FAILED", status={"code": "INVALID_ARGUMENT", "message": "line 2 has no messages"}
    )
    fireworks.jobs[(ACCOUNT, "job-3")]["state"] = "JOB_STATE_RUNNING"

    done = await client.batches.retrieve("job-1")
    assert fireworks.calls[-1].path == f"/v1/accounts/{ACCOUNT}/batchInferenceJobs/job-1"
    assert (done.status, done.in_progress_at, done.completed_at) == ("completed", 1740825000, 1740826800)
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (5, 4, 1)

    failed = await client.batches.retrieve("job-2")
    assert failed.status == "failed"
    assert failed.errors is not None
    assert failed.errors.data is not None
    assert failed.errors.data[0].message == "line 2 has no messages"

    page = await client.batches.list(limit=2)
    assert [(item.id, item.status) for item in page.data] == [("job-1", "completed"), ("job-2", "failed")]
    assert fireworks.calls[-1].query == {"pageSize": ["2"]}
    token = (page.model_extra or {})["next_page_token"]
    rest = await client.batches.list(limit=2, extra_query={"after": token})
    assert [(item.id, item.status) for item in rest.data] == [("job-3", "in_progress")]


async def test_cancel_is_a_400_saying_fireworks_offers_none_and_nothing_is_sent(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.batches.cancel("job-1")
    assert "cancel" in message_of(caught.value)
    with pytest.raises(BadRequestError):
        await client.batches.retrieve("job.1")
    assert fireworks.calls == []


async def test_upstream_errors_are_openai_errors_naming_fireworks(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.files.retrieve("nowhere")
    assert message_of(missing.value) == "fireworks-ai: dataset nowhere not found"
    with pytest.raises(NotFoundError) as no_job:
        await client.batches.retrieve("job-9")
    assert message_of(no_job.value).startswith("fireworks-ai: ")


async def test_a_refused_dataset_creation_is_the_providers_error_and_nothing_is_uploaded(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    fireworks.fail_next = ("/datasets", 429, "quota exceeded for datasets")
    client = make_client(provider_file_name="questions")
    with pytest.raises(RateLimitError) as caught:
        await upload(client, batch_line("r1", "Hi"))
    assert (
        message_of(caught.value) == "fireworks-ai: creating the dataset failed: quota exceeded for datasets"
    )
    assert [call.path for call in fireworks.calls] == [f"/v1/accounts/{ACCOUNT}/datasets"]
    assert fireworks.files == {}


async def test_a_wrong_key_is_fireworks_403_and_the_key_is_never_echoed(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    secret = "fw-secret-marker-123"
    client = make_client(api_key=secret)
    with pytest.raises(PermissionDeniedError) as listed:
        await client.files.list()
    with pytest.raises(PermissionDeniedError) as uploaded:
        await upload(client, batch_line("r1", "Hi"))
    assert message_of(listed.value) == "fireworks-ai: The API key you provided is invalid."
    assert message_of(uploaded.value) == (
        "fireworks-ai: creating the dataset failed: The API key you provided is invalid."
    )
    for caught in (listed, uploaded):
        assert secret not in str(caught.value.body)
    assert fireworks.files == {}


async def test_a_key_on_another_account_is_fireworks_403(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await make_client(api_key="fw-key-b").files.list()
    assert message_of(caught.value) == f"fireworks-ai: the key may not use account {ACCOUNT}"


async def test_an_unreachable_account_api_is_a_502_naming_fireworks_and_nothing_is_uploaded(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    with socket.socket() as closed:  # a port nothing listens on once it is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = make_client(custom_host=f"http://127.0.0.1:{port}/inference/v1")
    with pytest.raises(InternalServerError) as caught:
        await upload(client, batch_line("r1", "Hi"))
    assert caught.value.status_code == 502
    assert message_of(caught.value).startswith("fireworks-ai: creating the dataset failed")


async def test_concurrent_callers_with_different_keys_reach_only_their_own_accounts(
    make_client: Client, fireworks: FakeFireworks
) -> None:
    callers = {
        "acct-a": make_client(api_key="fw-key-a"),
        "acct-b": make_client(api_key="fw-key-b", fireworks_account_id="acct-b"),
    }

    async def work(account: str, client: AsyncOpenAI, n: int) -> tuple[str, str, str]:
        name = f"{account}-file-{n}"
        created = await client.with_options(
            default_headers={"x-portkey-provider-file-name": name}
        ).files.create(file=("in.jsonl", jsonl(batch_line(f"{account}-{n}", "Hi"))), purpose="batch")
        batch = await client.batches.create(
            input_file_id=created.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"model": MODEL},
        )
        found = await client.batches.retrieve(batch.id)
        return account, created.id, str(found.input_file_id)

    results = await asyncio.gather(
        *(work(account, client, n) for n in range(5) for account, client in callers.items())
    )
    assert all(file_id == input_id and file_id.startswith(account) for account, file_id, input_id in results)
    for (account, dataset), content in fireworks.files.items():
        assert dataset.startswith(account)
        assert account.encode() in content
    for call in fireworks.calls:
        account = call.path.split("/")[3]
        assert call.headers["Authorization"] == f"Bearer {fireworks_key(fireworks, account)}"
    assert len(fireworks.jobs) == 10


def fireworks_key(fake: FakeFireworks, account: str) -> str:
    return next(key for key, owner in fake.keys.items() if owner == account)


async def test_the_account_comes_from_the_config_key_too(gateway_url: str, fireworks: FakeFireworks) -> None:
    config = {
        "provider": "fireworks-ai",
        "api_key": KEY,
        "fireworks_account_id": ACCOUNT,
        "custom_host": fireworks.host,
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers={"x-portkey-config": orjson.dumps(config).decode()},
        max_retries=0,
    ) as client:
        page = await client.batches.list()
    assert page.data == []
    assert fireworks.calls[-1].path == f"/v1/accounts/{ACCOUNT}/batchInferenceJobs"


async def test_inference_through_the_same_custom_host_still_goes_to_the_inference_api(
    client: AsyncOpenAI, fireworks: FakeFireworks
) -> None:
    answer = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content == "Hi!"
    [call] = fireworks.calls
    assert (call.path, call.headers["Authorization"]) == ("/inference/v1/chat/completions", f"Bearer {KEY}")
    assert "fireworks-account-id" not in str(call.headers).lower()
