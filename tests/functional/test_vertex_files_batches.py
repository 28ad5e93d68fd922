"""Files and batches on Vertex AI (``x-portkey-provider: vertex-ai``) with the OpenAI SDK, unchanged,
against one local fake of Cloud Storage, Vertex AI's batch prediction jobs and Google's token
endpoint (``fake_gcs_vertex.py``): the batch file lands in the bucket as Vertex batch lines, the
jobs are created, read, listed and cancelled as OpenAI batches, and the output is read back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import (
    APIStatusError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)

from tests.conftest import settings_with
from tests.functional.fake_gcs_vertex import FakeGoogle
from tests.functional.fake_gemini import service_account_json

PROJECT = "my-project"
BUCKET = "my-batches"
JOBS = f"/v1/projects/{PROJECT}/locations/us-central1/batchPredictionJobs"
MODEL = "gemini-2.0-flash"
Client = Callable[..., AsyncOpenAI]


def openai_line(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **params}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def message_of(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    assert isinstance(body, dict)
    return str(body["message"])


def stored_lines(google: FakeGoogle, name: str) -> list[Any]:
    return [orjson.loads(line) for line in google.objects[(BUCKET, name)].splitlines()]


@pytest.fixture
async def google(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeGoogle:
    fake = FakeGoogle()
    server = await aiohttp_server(fake.app())
    fake.port = server.port or 0
    return fake


@pytest.fixture
async def make_client(gateway_url: str, google: FakeGoogle) -> AsyncIterator[Client]:
    """An SDK client for Vertex through the gateway; ``headers`` become x-portkey-<name> headers
    (``None`` drops a default one)."""
    made: list[AsyncOpenAI] = []

    def make(
        api_key: str = google.access_token, url: str = gateway_url, **headers: str | None
    ) -> AsyncOpenAI:
        defaults: dict[str, str | None] = {
            "provider": "vertex-ai",
            "custom-host": google.host,
            "vertex-project-id": PROJECT,
            "vertex-storage-bucket-name": BUCKET,
        }
        defaults.update({name.replace("_", "-"): value for name, value in headers.items()})
        sent = {f"x-portkey-{name}": value for name, value in defaults.items() if value is not None}
        sdk = AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key, default_headers=sent, max_retries=0)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        await sdk.close()


@pytest.fixture
def client(make_client: Client) -> AsyncOpenAI:
    return make_client(provider_file_name="batch-1.jsonl")


async def test_upload_stores_the_batch_file_in_the_bucket_as_vertex_batch_lines(
    client: AsyncOpenAI, google: FakeGoogle
) -> None:
    system = {"role": "system", "content": "Be brief."}
    first = openai_line("req-1", "Hello", max_tokens=20)
    first["body"]["messages"].insert(0, system)
    created = await client.files.create(
        file=("batch.jsonl", jsonl(first, openai_line("req-2", "Bye", temperature=0.5))), purpose="batch"
    )
    assert stored_lines(google, "batch-1.jsonl") == [
        {
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "generationConfig": {"maxOutputTokens": 20},
            },
            "requestId": "req-1",
        },
        {
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "Bye"}]}],
                "generationConfig": {"temperature": 0.5},
            },
            "requestId": "req-2",
        },
    ]
    upload = google.api_calls[0]
    assert upload.path == f"/upload/storage/v1/b/{BUCKET}/o"
    assert upload.query == {"uploadType": ["media"], "name": ["batch-1.jsonl"]}
    assert upload.headers["Authorization"] == f"Bearer {google.access_token}"
    assert created.id == quote(f"gs://{BUCKET}/batch-1.jsonl", safe="")
    assert (created.object, created.purpose, created.status) == ("file", "batch", "processed")
    assert created.filename == "batch-1.jsonl"
    assert created.bytes == len(google.objects[(BUCKET, "batch-1.jsonl")])
    assert created.created_at == 1740823200


async def test_upload_without_a_file_name_gets_a_new_jsonl_object(
    make_client: Client, google: FakeGoogle
) -> None:
    created = await make_client().files.create(
        file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch"
    )
    [(bucket, name)] = google.objects
    assert bucket == BUCKET
    assert name.endswith(".jsonl")
    assert len(name) == len("12345678-1234-1234-1234-123456789012.jsonl")
    assert created.id == quote(f"gs://{BUCKET}/{name}", safe="")


async def test_a_large_file_arrives_whole_and_in_order(client: AsyncOpenAI, google: FakeGoogle) -> None:
    lines = [openai_line(f"req-{n}", f"Question number {n} " + "x" * (n % 300)) for n in range(6000)]
    await client.files.create(file=("big.jsonl", jsonl(*lines)), purpose="batch")
    stored = stored_lines(google, "batch-1.jsonl")
    assert [line["requestId"] for line in stored] == [f"req-{n}" for n in range(6000)]
    assert (
        stored[4321]["request"]["contents"][0]["parts"][0]["text"]
        == lines[4321]["body"]["messages"][0]["content"]
    )


async def test_purpose_upload_stores_the_file_as_sent(client: AsyncOpenAI, google: FakeGoogle) -> None:
    native = b'{"request": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}}\n'
    created = await client.files.create(file=("native.jsonl", native), purpose="upload")  # type: ignore[arg-type]
    assert google.objects[(BUCKET, "batch-1.jsonl")] == native
    assert created.purpose == "upload"


async def test_a_service_account_key_authorises_storage_and_jobs_with_its_token(
    make_client: Client, google: FakeGoogle
) -> None:
    key = service_account_json(f"{google.host}/token", project_id=PROJECT)
    client = make_client(api_key="unused", vertex_project_id=None, vertex_service_account_json=key)
    created = await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch")
    batch = await client.batches.create(
        input_file_id=created.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"model": MODEL},
    )
    assert batch.status == "validating"
    assert google.issued == ["ya29.issued-1"]  # exchanged once, used for both APIs
    assert [call.headers["Authorization"] for call in google.api_calls] == ["Bearer ya29.issued-1"] * 2
    assert google.api_calls[1].path == JOBS


async def test_upload_without_the_bucket_is_a_400_naming_the_header(
    make_client: Client, google: FakeGoogle
) -> None:
    client = make_client(vertex_storage_bucket_name=None)
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch")
    assert caught.value.body["param"] == "x-portkey-vertex-storage-bucket-name"  # type: ignore[index]
    assert google.calls == []


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({"vertex_storage_bucket_name": "Evil.example.com:80"}, "x-portkey-vertex-storage-bucket-name"),
        ({"vertex_storage_bucket_name": "my-batches/o"}, "x-portkey-vertex-storage-bucket-name"),
        ({"provider_file_name": ".."}, "x-portkey-provider-file-name"),
    ],
)
async def test_names_cloud_storage_would_not_take_are_refused_before_anything_is_sent(
    make_client: Client, google: FakeGoogle, headers: dict[str, str], param: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await make_client(**headers).files.create(
            file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch"
        )
    assert caught.value.body["param"] == param  # type: ignore[index]
    assert google.calls == []


async def test_a_line_vertex_cannot_take_is_a_400_naming_it_and_nothing_is_stored(
    client: AsyncOpenAI, google: FakeGoogle
) -> None:
    bad = openai_line("b", "Hi", n=3)
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"), bad)), purpose="batch")
    assert "Line 2 of the file" in caught.value.message
    assert google.objects == {}


async def test_a_line_that_is_not_json_is_a_400(client: AsyncOpenAI, google: FakeGoogle) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("b.jsonl", b"not json\n"), purpose="batch")
    assert "Line 1 of the file" in caught.value.message
    assert google.objects == {}


async def test_an_upload_past_the_upload_limit_is_a_413_and_nothing_is_stored(
    make_gateway: Callable[..., Awaitable[TestServer]], make_client: Client, google: FakeGoogle
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_upload_bytes": 4096}))
    client = make_client(url=f"http://127.0.0.1:{gateway.port}")
    lines = [openai_line(f"r{n}", "Hello there") for n in range(100)]
    with pytest.raises(APIStatusError) as caught:
        await client.files.create(file=("b.jsonl", jsonl(*lines)), purpose="batch")
    assert caught.value.status_code == 413
    assert google.objects == {}


async def test_a_batch_goes_from_upload_to_output(client: AsyncOpenAI, google: FakeGoogle) -> None:
    uploaded = await client.files.create(file=("b.jsonl", jsonl(openai_line("req-1", "Hi"))), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"model": MODEL},
    )
    [(job_id, job)] = google.jobs.items()
    assert google.api_calls[-1].path == JOBS
    assert {key: job[key] for key in ("model", "inputConfig", "outputConfig", "instanceConfig")} == {
        "model": f"publishers/google/models/{MODEL}",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{BUCKET}/batch-1.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": f"gs://{BUCKET}/"},
        },
        "instanceConfig": {"instanceType": "object", "excludedFields": ["requestId"]},
    }
    assert (batch.id, batch.status, batch.input_file_id) == (job_id, "validating", uploaded.id)
    assert batch.endpoint == "/v1/chat/completions"
    assert batch.output_file_id is None

    output = {
        "requestId": "req-1",
        "status": "",
        "response": {"candidates": [{"content": {"parts": [{"text": "Hey"}]}}]},
    }
    output_uri = google.finish(job_id, [output])
    done = await client.batches.retrieve(job_id)
    assert google.api_calls[-1].path == f"{JOBS}/{job_id}"
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (1, 1, 0)
    assert (done.in_progress_at, done.completed_at) == (1740823260, 1740823500)
    assert done.output_file_id == quote(output_uri, safe="")

    content = await client.files.content(done.output_file_id)
    assert orjson.loads(content.content) == output
    assert google.api_calls[-1].query == {"alt": ["media"]}
    described = await client.files.retrieve(done.output_file_id)
    assert described.bytes == len(content.content)
    assert described.filename == output_uri.split(f"gs://{BUCKET}/")[1]


async def test_the_model_may_come_from_the_provider_model_header(
    make_client: Client, google: FakeGoogle
) -> None:
    client = make_client(provider_model="gemini-2.5-pro")
    await client.batches.create(
        input_file_id=f"gs://{BUCKET}/in.jsonl", endpoint="/v1/chat/completions", completion_window="24h"
    )
    [job] = google.jobs.values()
    assert job["model"] == "publishers/google/models/gemini-2.5-pro"


async def test_a_batch_without_a_model_is_a_400_and_nothing_is_sent(
    client: AsyncOpenAI, google: FakeGoogle
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.batches.create(
            input_file_id=f"gs://{BUCKET}/in.jsonl", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert "x-portkey-provider-model" in caught.value.message
    assert google.calls == []


async def test_batches_are_listed_page_by_page_and_cancelled(client: AsyncOpenAI, google: FakeGoogle) -> None:
    for _ in range(3):
        await client.batches.create(
            input_file_id=f"gs://{BUCKET}/in.jsonl",
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"model": MODEL},
        )
    first = await client.batches.list(limit=2)
    assert google.api_calls[-1].query == {"pageSize": ["2"]}
    assert [batch.id for batch in first.data] == list(google.jobs)[:2]
    assert first.has_more is True
    token = (first.model_extra or {})["next_page_token"]
    second = await client.batches.list(limit=2, after=token)
    assert google.api_calls[-1].query == {"pageSize": ["2"], "pageToken": [token]}
    assert [batch.id for batch in second.data] == list(google.jobs)[2:]
    assert second.has_more is False

    job_id = list(google.jobs)[1]
    cancelled = await client.batches.cancel(job_id)
    assert google.api_calls[-1].path == f"{JOBS}/{job_id}:cancel"
    assert (cancelled.id, cancelled.status) == (job_id, "cancelling")
    assert (await client.batches.retrieve(job_id)).status == "cancelling"


async def test_upstream_errors_are_openai_errors_that_name_the_provider(
    client: AsyncOpenAI, google: FakeGoogle
) -> None:
    google.fail_next = (
        403,
        {"error": {"code": 403, "message": "Permission denied on bucket.", "status": "PERMISSION_DENIED"}},
    )
    with pytest.raises(PermissionDeniedError) as denied:
        await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch")
    assert message_of(denied.value) == "vertex-ai: Permission denied on bucket."
    with pytest.raises(NotFoundError) as missing:
        await client.batches.retrieve("404404")
    assert message_of(missing.value) == "vertex-ai: BatchPredictionJob 404404 does not exist."
    with pytest.raises(NotFoundError) as absent:
        await client.files.retrieve(quote(f"gs://{BUCKET}/nothing.jsonl", safe=""))
    assert message_of(absent.value) == f"vertex-ai: No such object: {BUCKET}/nothing.jsonl"


async def test_object_names_are_percent_encoded_into_one_path_segment(
    client: AsyncOpenAI, google: FakeGoogle
) -> None:
    name = "in/a b?c#d.jsonl"
    google.objects[(BUCKET, name)] = b"{}\n"
    found = await client.files.retrieve(quote(f"gs://{BUCKET}/{name}", safe=""))
    assert google.api_calls[-1].path == f"/storage/v1/b/{BUCKET}/o/in%2Fa%20b%3Fc%23d.jsonl"
    assert google.api_calls[-1].query == {}
    assert found.filename == name


@pytest.mark.parametrize(
    "file_id", ["gs://Evil.example.com/x", "gs://my-batches", "s3://my-batches/x", "plain"]
)
async def test_file_ids_that_name_no_cloud_storage_object_are_a_400(
    client: AsyncOpenAI, google: FakeGoogle, file_id: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.files.retrieve(quote(file_id, safe=""))
    assert caught.value.body["param"] == "file_id"  # type: ignore[index]
    assert google.calls == []


async def test_listing_and_deleting_files_are_a_clear_400(client: AsyncOpenAI, google: FakeGoogle) -> None:
    with pytest.raises(BadRequestError):
        await client.files.list()
    with pytest.raises(BadRequestError):
        await client.files.delete(quote(f"gs://{BUCKET}/batch-1.jsonl", safe=""))
    assert google.calls == []


async def test_a_routing_config_target_names_the_bucket(make_client: Client, google: FakeGoogle) -> None:
    config = {
        "provider": "vertex-ai",
        "vertex_storage_bucket_name": "config-bucket",
        "vertex_project_id": PROJECT,
    }
    client = make_client(vertex_storage_bucket_name=None, config=orjson.dumps(config).decode())
    created = await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch")
    assert created.id.startswith(quote("gs://config-bucket/", safe=""))
    assert google.api_calls[0].path == "/upload/storage/v1/b/config-bucket/o"


async def test_callers_uploading_at_once_each_reach_their_own_bucket_with_their_own_token(
    make_client: Client, google: FakeGoogle
) -> None:
    key = service_account_json(f"{google.host}/token", project_id=PROJECT)
    callers = [
        make_client(vertex_storage_bucket_name=f"bucket-{n}", provider_file_name=f"caller-{n}.jsonl")
        if n % 2
        else make_client(
            api_key="unused",
            vertex_service_account_json=key,
            vertex_storage_bucket_name=f"bucket-{n}",
            provider_file_name=f"caller-{n}.jsonl",
        )
        for n in range(6)
    ]
    uploads = [
        caller.files.create(file=("b.jsonl", jsonl(openai_line(f"from-{n}", "Hi " * n))), purpose="batch")
        for n, caller in enumerate(callers)
    ]
    created = await asyncio.gather(*uploads)
    for n, file in enumerate(created):
        assert file.id == quote(f"gs://bucket-{n}/caller-{n}.jsonl", safe="")
        [line] = [orjson.loads(x) for x in google.objects[(f"bucket-{n}", f"caller-{n}.jsonl")].splitlines()]
        assert line["requestId"] == f"from-{n}"
    tokens = {call.path.split("/")[5]: call.headers["Authorization"] for call in google.api_calls}
    assert tokens == {
        f"bucket-{n}": f"Bearer {google.access_token}" if n % 2 else "Bearer ya29.issued-1" for n in range(6)
    }


async def test_no_credential_appears_in_an_error(make_client: Client, google: FakeGoogle) -> None:
    key = service_account_json(f"{google.host}/token", project_id=PROJECT)
    client = make_client(api_key="ya29.secret-marker", vertex_service_account_json=key)
    google.fail_next = (
        401,
        {"error": {"code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED"}},
    )
    with pytest.raises(AuthenticationError) as refused:
        await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="batch")
    with pytest.raises(BadRequestError) as bad:
        await client.files.create(file=("b.jsonl", b"{not json\n"), purpose="batch")
    for error in (refused.value, bad.value):
        text = orjson.dumps(error.body).decode()
        assert "ya29." not in text
        assert "PRIVATE KEY" not in text
        assert "secret-marker" not in text


async def test_an_upload_that_names_no_purpose_is_a_400(client: AsyncOpenAI, google: FakeGoogle) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.files.create(file=("b.jsonl", jsonl(openai_line("a", "Hi"))), purpose="")  # type: ignore[arg-type]
    assert message_of(caught.value).startswith("The upload names no purpose")
    assert google.objects == {}
