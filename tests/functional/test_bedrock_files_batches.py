"""Files and batches on Bedrock through the real wire: the OpenAI SDK → the gateway → one fake S3
and Bedrock control plane (``fake_s3_bedrock.py``), which checks every SigV4 signature as AWS does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import APIStatusError, AsyncOpenAI, BadRequestError, NotFoundError

from tests.conftest import GatewayFactory, settings_with
from tests.functional import fake_bedrock as fb
from tests.functional.fake_s3_bedrock import BUCKET, ROLE, FakeS3Bedrock
from tests.functional.fake_sts import GATEWAY_KEY, GATEWAY_SECRET, FakeSts

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
KEY = "inputs/run-1.jsonl"
FILE_ID = quote(f"s3://{BUCKET}/{KEY}", safe="")


def batch_line(index: int, **body: Any) -> bytes:
    request = {
        "custom_id": f"req-{index}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"Question {index}?"}], **body},
    }
    return orjson.dumps(request) + b"\n"


@pytest.fixture
async def aws(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeS3Bedrock:
    fake = FakeS3Bedrock()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


@pytest.fixture
async def sdk(gateway_url: str, aws: FakeS3Bedrock) -> AsyncIterator[AsyncOpenAI]:
    headers = aws.headers(aws_s3_bucket=BUCKET, aws_s3_object_key=KEY, aws_bedrock_model=CLAUDE)
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    )
    yield client
    await client.close()


async def upload(sdk: AsyncOpenAI, content: bytes) -> Any:
    return await sdk.files.create(file=("batch.jsonl", content), purpose="batch")


def no_secret(*answers: Any) -> None:
    for answer in answers:
        text = answer.model_dump_json() if hasattr(answer, "model_dump_json") else str(answer)
        assert fb.SECRET_KEY not in text
        assert fb.SECRET_KEY.split("/")[0] not in text


async def test_upload_writes_bedrock_records_to_s3(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    content = batch_line(1, max_tokens=50, temperature=0.2) + batch_line(2)
    created = await upload(sdk, content)

    stored = aws.objects[(BUCKET, KEY)]
    records = [orjson.loads(line) for line in stored.splitlines()]
    assert records[0] == {
        "recordId": "req-1",
        "modelInput": {
            "messages": [{"role": "user", "content": [{"text": "Question 1?"}]}],
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.2},
        },
    }
    assert records[1]["recordId"] == "req-2"
    put = aws.calls[-1]
    assert (put.method, put.path) == ("PUT", f"/{BUCKET}/{KEY}")
    assert put.headers["Content-Type"] == "application/jsonl"
    assert created.id == FILE_ID
    assert (created.filename, created.bytes, created.purpose) == (
        f"s3://{BUCKET}/{KEY}",
        len(stored),
        "batch",
    )
    no_secret(created)


async def test_a_large_upload_is_translated_whole_across_reads(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    # ~3 MiB: lines cross every read and the spool's move from memory to disk.
    padding = "x" * 3000
    content = b"".join(batch_line(i, user=f"{i}{padding}") for i in range(1000))
    created = await upload(sdk, content)

    records = [orjson.loads(line) for line in aws.objects[(BUCKET, KEY)].splitlines()]
    assert [r["recordId"] for r in records] == [f"req-{i}" for i in range(1000)]
    assert records[999]["modelInput"]["requestMetadata"] == {"user": f"999{padding}"}
    assert created.bytes == len(aws.objects[(BUCKET, KEY)])


async def test_upload_without_bucket_names_the_header_and_sends_nothing(
    gateway_url: str, aws: FakeS3Bedrock
) -> None:
    headers = aws.headers(aws_bedrock_model=CLAUDE)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(BadRequestError) as refused:
            await upload(client, batch_line(1))
    assert refused.value.body["param"] == "x-portkey-aws-s3-bucket"  # type: ignore[index]
    assert aws.calls == []


async def test_upload_without_model_names_the_header(gateway_url: str, aws: FakeS3Bedrock) -> None:
    headers = aws.headers(aws_s3_bucket=BUCKET)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(BadRequestError) as refused:
            await upload(client, batch_line(1))
    assert refused.value.body["param"] == "x-portkey-aws-bedrock-model"  # type: ignore[index]
    assert aws.calls == []


async def test_upload_options_from_a_config_target(gateway_url: str, aws: FakeS3Bedrock) -> None:
    config = {
        "provider": "bedrock",
        "custom_host": aws.host,
        "aws_region": fb.REGION,
        "aws_access_key_id": fb.ACCESS_KEY,
        "aws_secret_access_key": fb.SECRET_KEY,
        "aws_s3_bucket": BUCKET,
        "aws_s3_object_key": "from-config.jsonl",
        "aws_bedrock_model": CLAUDE,
    }
    headers = {"x-portkey-config": orjson.dumps(config).decode()}
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        created = await upload(client, batch_line(1))
    assert created.id == quote(f"s3://{BUCKET}/from-config.jsonl", safe="")
    assert (BUCKET, "from-config.jsonl") in aws.objects


async def test_s3_and_the_control_plane_are_signed_with_an_assumed_role(
    make_gateway: GatewayFactory, aiohttp_server: Callable[..., Awaitable[TestServer]], aws: FakeS3Bedrock
) -> None:
    sts = FakeSts(aws)  # type: ignore[arg-type]  # it only adds the temporary secret to .secrets
    sts.port = (await aiohttp_server(sts.app())).port
    role = "arn:aws:iam::123456789012:role/bedrock-batch-caller"
    settings = settings_with(
        aws={
            "assume_role": True,
            "allowed_role_arns": (role,),
            "access_key_id": GATEWAY_KEY,
            "secret_access_key": GATEWAY_SECRET,
            "sts_endpoint": sts.url,
        }
    )
    gateway = await make_gateway(settings)
    headers = {
        "x-portkey-provider": "bedrock",
        "x-portkey-custom-host": aws.host,
        "x-portkey-aws-region": fb.REGION,
        "x-portkey-aws-auth-type": "assumedRole",
        "x-portkey-aws-role-arn": role,
        "x-portkey-aws-s3-bucket": BUCKET,
        "x-portkey-aws-s3-object-key": KEY,
        "x-portkey-aws-bedrock-model": CLAUDE,
    }
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        api_key="unused",
        default_headers=headers,
        max_retries=0,
    ) as client:
        created = await upload(client, batch_line(1))
        await client.batches.create(
            input_file_id=created.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"role_arn": ROLE},
        )
    assert [call.method for call in aws.calls] == ["PUT", "POST"]
    for call in aws.calls:  # the fake checked each signature with the STS's temporary secret
        assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIATEMP1/")
        assert call.headers["X-Amz-Security-Token"] == "temporary-session-token-1"


async def test_s3_takes_no_bedrock_api_key(gateway_url: str, aws: FakeS3Bedrock) -> None:
    headers = {
        "x-portkey-provider": "bedrock",
        "x-portkey-custom-host": aws.host,
        "x-portkey-aws-region": fb.REGION,
        "x-portkey-aws-s3-bucket": BUCKET,
        "x-portkey-aws-bedrock-model": CLAUDE,
    }
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key=fb.API_KEY, default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(BadRequestError) as refused:
            await upload(client, batch_line(1))
    assert refused.value.body["param"] == "x-portkey-aws-access-key-id"  # type: ignore[index]
    assert fb.API_KEY not in refused.value.body["message"]  # type: ignore[index]
    assert aws.calls == []


async def test_an_upload_past_the_gateway_limit_is_a_413_and_nothing_is_stored(
    make_gateway: GatewayFactory, aws: FakeS3Bedrock
) -> None:
    gateway = await make_gateway(settings_with(limits={"max_upload_bytes": 64 * 1024}))
    headers = aws.headers(aws_s3_bucket=BUCKET, aws_s3_object_key=KEY, aws_bedrock_model=CLAUDE)
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        api_key="unused",
        default_headers=headers,
        max_retries=0,
    ) as client:
        with pytest.raises(APIStatusError) as refused:
            await upload(client, b"".join(batch_line(i) for i in range(2000)))
    assert refused.value.status_code == 413
    assert aws.calls == []


async def test_only_batch_files_are_taken(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    with pytest.raises(BadRequestError) as refused:
        await sdk.files.create(file=("data.jsonl", batch_line(1)), purpose="fine-tune")
    assert refused.value.body["param"] == "purpose"  # type: ignore[index]
    assert aws.calls == []


async def test_a_line_bedrock_cannot_take_is_refused_by_number(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    content = batch_line(1) + batch_line(2, n=3)
    with pytest.raises(BadRequestError) as refused:
        await upload(sdk, content)
    assert "Line 2 of the batch file" in refused.value.message
    assert aws.calls == []
    assert aws.objects == {}


async def test_a_bucket_name_that_could_change_the_url_is_refused(
    gateway_url: str, aws: FakeS3Bedrock
) -> None:
    for bucket, key in (("evil.com/x", KEY), (BUCKET, "a/../../other"), ("Bad_Bucket", KEY)):
        headers = aws.headers(aws_s3_bucket=bucket, aws_s3_object_key=key, aws_bedrock_model=CLAUDE)
        async with AsyncOpenAI(
            base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
        ) as client:
            with pytest.raises(BadRequestError):
                await upload(client, batch_line(1))
    assert aws.calls == []


async def test_an_s3_error_is_openai_shaped_and_names_bedrock(gateway_url: str, aws: FakeS3Bedrock) -> None:
    headers = aws.headers(aws_s3_bucket="no-such-bucket", aws_bedrock_model=CLAUDE)
    async with AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
    ) as client:
        with pytest.raises(NotFoundError) as missing:
            await upload(client, batch_line(1))
    assert missing.value.body["message"].startswith("bedrock: S3 NoSuchBucket")  # type: ignore[index]
    no_secret(missing.value.body)


async def test_retrieve_and_download_a_file(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    await upload(sdk, batch_line(1))
    stored = aws.objects[(BUCKET, KEY)]

    found = await sdk.files.retrieve(FILE_ID)
    content = await sdk.files.content(FILE_ID)

    assert (found.id, found.bytes, found.filename) == (FILE_ID, len(stored), f"s3://{BUCKET}/{KEY}")
    assert content.content == stored
    assert aws.calls[-2].query == "attributes"


async def test_a_missing_file_is_a_404_naming_bedrock(sdk: AsyncOpenAI) -> None:
    with pytest.raises(NotFoundError) as missing:
        await sdk.files.retrieve(quote(f"s3://{BUCKET}/nothing.jsonl", safe=""))
    assert "bedrock" in missing.value.message
    with pytest.raises(NotFoundError) as no_output:
        await sdk.files.content(quote(f"s3://{BUCKET}/out/abcdefabcdef/in.jsonl.out", safe=""))
    assert no_output.value.body["message"] == "bedrock: S3 NoSuchKey: The specified key does not exist."  # type: ignore[index]


async def test_listing_and_deleting_files_are_refused_without_a_call(
    sdk: AsyncOpenAI, aws: FakeS3Bedrock
) -> None:
    with pytest.raises(BadRequestError):
        await sdk.files.delete(FILE_ID)
    with pytest.raises(BadRequestError):
        await sdk.files.list()
    assert aws.calls == []


async def test_a_file_id_that_is_not_an_s3_location_is_refused(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    for file_id in ("file-abc123", quote("s3://bucket/../x", safe=""), quote("http://evil/x", safe="")):
        with pytest.raises(BadRequestError):
            await sdk.files.retrieve(file_id)
    assert aws.calls == []


async def test_batch_lifecycle(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    await upload(sdk, batch_line(1) + batch_line(2))
    created = await sdk.batches.create(
        input_file_id=FILE_ID,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"role_arn": ROLE, "job_name": "nightly-run"},
    )
    create = aws.calls[-1]
    assert (create.method, create.path) == ("POST", "/model-invocation-job")
    assert create.json() == {
        "jobName": "nightly-run",
        "roleArn": ROLE,
        "modelId": CLAUDE,
        "modelInvocationType": "Converse",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{KEY}"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/inputs/"}},
    }
    arn = next(iter(aws.jobs))
    assert created.id == quote(arn, safe="")
    assert (created.status, created.input_file_id) == ("validating", FILE_ID)

    found = await sdk.batches.retrieve(created.id)
    assert (found.id, found.status, found.created_at) == (created.id, "validating", 1796583600)

    listed = await sdk.batches.list(limit=5)
    assert [batch.id for batch in listed.data] == [created.id]
    assert aws.calls[-1].query == "maxResults=5"

    cancelled = await sdk.batches.cancel(created.id)
    assert (cancelled.id, cancelled.status) == (created.id, "cancelling")
    assert aws.jobs[arn]["status"] == "Stopping"
    assert (await sdk.batches.retrieve(created.id)).status == "cancelling"
    no_secret(created, found, listed, cancelled)


async def test_a_finished_batch_points_at_its_output(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    await upload(sdk, batch_line(1))
    created = await sdk.batches.create(
        input_file_id=FILE_ID,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"role_arn": ROLE},
    )
    arn = next(iter(aws.jobs))
    answered = {"recordId": "req-1", "modelInput": {}, "modelOutput": fb.converse("Paris.")}
    failed = {"recordId": "req-2", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "Too long."}}
    aws.finish(arn, output=orjson.dumps(answered) + b"\n" + orjson.dumps(failed) + b"\n")

    done = await sdk.batches.retrieve(created.id)
    assert (done.status, done.completed_at) == ("completed", 1796585400)
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.failed) == (2, 0)
    job_id = arn.rpartition("/")[2]
    assert done.output_file_id == quote(f"s3://{BUCKET}/inputs/{job_id}/run-1.jsonl.out", safe="")
    content = await sdk.files.content(done.output_file_id)
    assert content.response.headers["Content-Type"] == "application/jsonl"
    first, second = (orjson.loads(line) for line in content.content.splitlines())
    assert (first["id"], first["custom_id"], first["error"]) == ("batch_req_req-1", "req-1", None)
    assert first["response"]["status_code"] == 200
    body = first["response"]["body"]
    assert (body["object"], body["choices"][0]["message"]["content"]) == ("chat.completion", "Paris.")
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    assert second == {
        "id": "batch_req_req-2",
        "custom_id": "req-2",
        "response": None,
        "error": {"code": "400", "message": "Too long."},
    }


async def test_a_failed_batch_says_why(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    await upload(sdk, batch_line(1))
    created = await sdk.batches.create(
        input_file_id=FILE_ID,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"role_arn": ROLE},
    )
    aws.finish(next(iter(aws.jobs)), status="Failed")
    failed = await sdk.batches.retrieve(created.id)
    assert failed.status == "failed"
    assert failed.errors is not None
    assert failed.errors.data is not None
    assert failed.errors.data[0].message == "The input file has too few records."


async def test_a_batch_without_role_names_the_field_and_sends_nothing(
    sdk: AsyncOpenAI, aws: FakeS3Bedrock
) -> None:
    with pytest.raises(BadRequestError) as refused:
        await sdk.batches.create(
            input_file_id=FILE_ID, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert refused.value.body["param"] == "role_arn"  # type: ignore[index]
    assert aws.calls == []


async def test_an_unknown_batch_is_a_404_naming_bedrock(sdk: AsyncOpenAI) -> None:
    arn = f"arn:aws:bedrock:{fb.REGION}:123456789012:model-invocation-job/abcdefabcdef"
    with pytest.raises(NotFoundError) as missing:
        await sdk.batches.retrieve(quote(arn, safe=""))
    assert missing.value.body["message"] == "bedrock: The specified job was not found."  # type: ignore[index]


async def test_a_batch_id_that_is_not_a_job_is_refused(sdk: AsyncOpenAI, aws: FakeS3Bedrock) -> None:
    for batch_id in ("batch_abc123", quote("arn:aws:bedrock:x:1:model-invocation-job/../../x", safe="")):
        with pytest.raises(BadRequestError):
            await sdk.batches.retrieve(batch_id)
    assert aws.calls == []


async def test_many_callers_through_one_gateway_keep_their_own_files_and_keys(
    gateway_url: str, aws: FakeS3Bedrock
) -> None:
    aws.secrets["AKIASECONDCALLER01"] = "second/caller/secret/0000000000000000000"

    async def caller(index: int, key_id: str, secret: str) -> Any:
        headers = aws.headers(
            aws_s3_bucket=BUCKET,
            aws_s3_object_key=f"callers/{index}.jsonl",
            aws_bedrock_model=CLAUDE,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        async with AsyncOpenAI(
            base_url=f"{gateway_url}/v1", api_key="unused", default_headers=headers, max_retries=0
        ) as client:
            try:
                return await upload(client, batch_line(index))
            except APIStatusError as exc:
                return exc

    keys = [(fb.ACCESS_KEY, fb.SECRET_KEY), ("AKIASECONDCALLER01", aws.secrets["AKIASECONDCALLER01"])]
    keys.append((fb.ACCESS_KEY, "a-wrong-secret-for-this-key-0000000000000"))
    answers = await asyncio.gather(*(caller(i, *keys[i % 3]) for i in range(12)))

    for index, answer in enumerate(answers):
        if index % 3 == 2:  # the wrong secret: refused by "S3", nothing stored, no secret echoed
            assert isinstance(answer, APIStatusError)
            assert answer.status_code == 403
            assert "a-wrong-secret" not in str(answer.body)
            assert (BUCKET, f"callers/{index}.jsonl") not in aws.objects
        else:
            stored = aws.objects[(BUCKET, f"callers/{index}.jsonl")]
            assert orjson.loads(stored)["recordId"] == f"req-{index}"
            assert answer.bytes == len(stored)
    signers = {call.path: call.headers["Authorization"].split("/")[0] for call in aws.calls}
    assert signers[f"/{BUCKET}/callers/1.jsonl"].endswith("AKIASECONDCALLER01")
    assert signers[f"/{BUCKET}/callers/0.jsonl"].endswith(fb.ACCESS_KEY)
