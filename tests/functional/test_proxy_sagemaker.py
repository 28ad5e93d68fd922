"""SageMaker: the caller's InvokeEndpoint request passes through to the runtime, SigV4-signed (service
``sagemaker``) over the exact bytes sent, with Portkey's ``amzn-sagemaker-*`` options as signed
``X-Amzn-SageMaker-*`` headers; the answer, streamed or whole, comes back byte for byte.

The fake checks every signature as AWS does (``fake_sagemaker.py``): a request signed over other
bytes, another host or another region gets AWS's 403, which these tests would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.providers.base import ClientBody, UpstreamCall
from gateway.providers.registry import ProviderRegistry
from gateway.providers.sagemaker import MAX_BODY
from tests.conftest import GatewayFactory, settings_with
from tests.functional.fake_bedrock import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN
from tests.functional.fake_sagemaker import EVENT_STREAM, FakeSageMaker, payload_parts
from tests.functional.fake_sts import GATEWAY_KEY, GATEWAY_SECRET, FakeSts

INVOKE = "/v1/endpoints/llama-3-8b-ep/invocations"
BODY = b'{"inputs": "Hello \\u00e9", "parameters": {"max_new_tokens": 20, "temperature": 0.70}}'
OPTIONS = {
    "x-portkey-amzn-sagemaker-custom-attributes": "trace=abc-123",
    "x-portkey-amzn-sagemaker-target-model": "model-a.tar.gz",
    "x-portkey-amzn-sagemaker-target-variant": "variant-1",
    "x-portkey-amzn-sagemaker-target-container-hostname": "container-2",
    "x-portkey-amzn-sagemaker-inference-id": "inference-42",
    "x-portkey-amzn-sagemaker-enable-explanations": "`true`",
    "x-portkey-amzn-sagemaker-inference-component": "ic-llama",
    "x-portkey-amzn-sagemaker-session-id": "NEW_SESSION",
}


@pytest.fixture
async def sagemaker(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeSageMaker:
    fake = FakeSageMaker()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateway_url) as session:
        yield session


async def invoke(
    http: aiohttp.ClientSession, headers: dict[str, str], body: bytes = BODY, path: str = INVOKE
) -> tuple[int, Any, bytes]:
    sent = {"Content-Type": "application/json", **headers}
    async with http.post(path, data=body, headers=sent) as response:
        return response.status, response.headers, await response.read()


async def test_an_invocation_is_signed_over_the_bytes_sent_and_relayed_back(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    sagemaker.reply = (200, "application/json", b'[{"generated_text":  "Hello there"}]')
    status, headers, answer = await invoke(http, sagemaker.headers)

    assert status == 200
    assert answer == b'[{"generated_text":  "Hello there"}]'
    assert headers["x-portkey-provider"] == "sagemaker"
    call = sagemaker.last
    assert (call.method, call.path) == ("POST", "/endpoints/llama-3-8b-ep/invocations")
    assert call.body == BODY
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/sagemaker/aws4_request" in call.headers["Authorization"]
    assert SECRET_KEY not in str(dict(call.headers))


async def test_a_binary_body_and_the_query_reach_the_endpoint_unchanged(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    image = bytes(range(256)) * 40
    sagemaker.reply = (200, "application/x-npy", b"\x93NUMPY\x01\x00")
    headers = {**sagemaker.headers, "Content-Type": "application/x-image", "Accept": "application/x-npy"}
    path = "/v1/endpoints/resnet/invocations?trace=a%20b"
    async with http.post(path, data=image, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-npy"
        assert await response.read() == b"\x93NUMPY\x01\x00"
    assert sagemaker.last.body == image
    assert sagemaker.last.query == "trace=a%20b"
    assert sagemaker.last.headers["Content-Type"] == "application/x-image"
    assert sagemaker.last.headers["Accept"] == "application/x-npy"


async def test_the_amzn_sagemaker_options_become_signed_invoke_endpoint_headers(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    status, _, _ = await invoke(http, {**sagemaker.headers, **OPTIONS})
    assert status == 200
    call = sagemaker.last
    for option, value in OPTIONS.items():
        header = "X-Amzn-SageMaker-" + option.removeprefix("x-portkey-amzn-sagemaker-").title()
        assert call.headers[header] == value
        assert header.lower() in call.signed_headers
    assert not any(name.lower().startswith("x-portkey-") for name in call.headers)


async def test_the_options_come_from_a_config_target_too(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    config = {
        "provider": "sagemaker",
        "custom_host": sagemaker.host,
        "aws_region": REGION,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_session_token": SESSION_TOKEN,
        "amzn_sagemaker_inference_component": "ic-from-config",
        "amzn_sagemaker_custom_attributes": "from=config",
    }
    status, _, _ = await invoke(http, {"x-portkey-config": orjson.dumps(config).decode()})
    assert status == 200
    call = sagemaker.last
    assert call.headers["X-Amzn-SageMaker-Inference-Component"] == "ic-from-config"
    assert call.headers["X-Amzn-SageMaker-Custom-Attributes"] == "from=config"
    assert call.headers["X-Amz-Security-Token"] == SESSION_TOKEN


async def test_a_response_stream_is_relayed_as_the_event_stream_frames_sent(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    path = "/v1/endpoints/llama-3-8b-ep/invocations-response-stream"
    status, headers, answer = await invoke(http, sagemaker.headers, path=path)
    assert status == 200
    assert headers["Content-Type"] == EVENT_STREAM
    assert headers["X-Amzn-Invoked-Production-Variant"] == "v1"
    assert answer == payload_parts(b'{"token": "Hel', b'lo"}\n', b'{"token": "!"}\n')
    assert sagemaker.last.path == "/endpoints/llama-3-8b-ep/invocations-response-stream"


async def test_many_callers_at_once_are_each_signed_with_their_own_keys(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    callers = [(f"AKIAFAKECALLER{i:03d}", f"secret/{i}/" + "x" * 30) for i in range(6)]
    sagemaker.secrets.update(callers)

    async def call(i: int, key_id: str, secret: str) -> int:
        headers = {
            **sagemaker.headers,
            "x-portkey-aws-access-key-id": key_id,
            "x-portkey-aws-secret-access-key": secret,
        }
        body = b'{"inputs": "caller %d"}' % i
        status, _, _ = await invoke(http, headers, body=body, path=f"/v1/endpoints/ep-{i}/invocations")
        return status

    statuses = await asyncio.gather(*(call(i, *caller) for i, caller in enumerate(callers)))
    assert statuses == [200] * len(callers)
    seen = {
        (c.path, c.body, c.headers["Authorization"].split("Credential=")[1].split("/")[0])
        for c in sagemaker.calls
    }
    assert seen == {
        (f"/endpoints/ep-{i}/invocations", b'{"inputs": "caller %d"}' % i, key_id)
        for i, (key_id, _) in enumerate(callers)
    }


async def test_the_endpoints_error_keeps_its_status_and_body(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    error = b'{"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "Message": "Received client error (400)"}'
    sagemaker.reply = (424, "application/json", error)
    status, _, answer = await invoke(http, sagemaker.headers)
    assert (status, answer) == (424, error)


async def test_an_assumed_role_signs_the_invocation_with_its_temporary_keys(
    make_gateway: GatewayFactory,
    sagemaker: FakeSageMaker,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    sts = FakeSts(sagemaker)  # type: ignore[arg-type]  # it only gives the fake its temporary secrets
    sts.port = (await aiohttp_server(sts.app())).port
    settings = settings_with(
        aws={
            "assume_role": True,
            "allowed_role_arns": ("arn:aws:iam::123456789012:role/sagemaker-*",),
            "access_key_id": GATEWAY_KEY,
            "secret_access_key": GATEWAY_SECRET,
            "sts_endpoint": sts.url,
        }
    )
    gateway = await make_gateway(settings)
    headers = {
        "x-portkey-provider": "sagemaker",
        "x-portkey-custom-host": sagemaker.host,
        "x-portkey-aws-region": REGION,
        "x-portkey-aws-auth-type": "assumedRole",
        "x-portkey-aws-role-arn": "arn:aws:iam::123456789012:role/sagemaker-invoke",
    }
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{gateway.port}") as session:
        status, _, _ = await invoke(session, headers)
    assert status == 200
    assert sts.calls[0].fields["RoleArn"] == "arn:aws:iam::123456789012:role/sagemaker-invoke"
    assert sagemaker.last.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIATEMP1/")


@pytest.mark.parametrize(
    ("dropped", "param", "code"),
    [
        ("x-portkey-aws-region", "x-portkey-aws-region", "missing_region"),
        ("x-portkey-aws-access-key-id", "x-portkey-aws-access-key-id", "missing_credentials"),
        ("x-portkey-aws-secret-access-key", "x-portkey-aws-secret-access-key", "missing_credentials"),
    ],
)
async def test_missing_aws_settings_are_a_400_naming_the_header_and_nothing_is_sent(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession, dropped: str, param: str, code: str
) -> None:
    headers = {name: value for name, value in sagemaker.headers.items() if name != dropped}
    status, _, answer = await invoke(http, headers)
    error = orjson.loads(answer)["error"]
    assert status == 400
    assert (error["param"], error["code"]) == (param, code)
    assert "SageMaker" in error["message"]
    assert SECRET_KEY not in answer.decode()
    assert sagemaker.calls == []


@pytest.mark.parametrize("value", ["x" * 1025, "caf\u00e9", "a\tb"])
async def test_an_option_sagemaker_cannot_take_is_a_400_naming_it(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession, value: str
) -> None:
    config = {
        "provider": "sagemaker",
        "custom_host": sagemaker.host,
        "aws_region": REGION,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "amzn_sagemaker_custom_attributes": value,
    }
    status, _, answer = await invoke(http, {"x-portkey-config": orjson.dumps(config).decode()})
    error = orjson.loads(answer)["error"]
    assert status == 400
    assert error["param"] == "x-portkey-amzn-sagemaker-custom-attributes"
    assert error["code"] == "invalid_sagemaker_option"
    assert sagemaker.calls == []


async def test_a_body_too_large_to_hold_for_signing_is_a_413_and_nothing_is_sent(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession
) -> None:
    status, _, answer = await invoke(http, sagemaker.headers, body=b"x" * (MAX_BODY + 1))
    assert status == 413
    assert orjson.loads(answer)["error"]["code"] == "payload_too_large"
    assert sagemaker.calls == []


def test_without_a_custom_host_the_request_goes_to_the_regions_runtime_host() -> None:
    adapter = ProviderRegistry.default().get("sagemaker")
    call = UpstreamCall("endpoints/ep-1/invocations", "", "", {"aws-region": "ap-south-1"})
    prepared = adapter.prepare(call, ClientBody(raw=BODY))
    assert prepared.url == "https://runtime.sagemaker.ap-south-1.amazonaws.com/endpoints/ep-1/invocations"


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "us-east-1/x", "US-EAST-1"])
async def test_a_region_that_is_not_an_aws_region_name_never_reaches_the_url(
    sagemaker: FakeSageMaker, http: aiohttp.ClientSession, region: str
) -> None:
    headers = {name: value for name, value in sagemaker.headers.items() if name != "x-portkey-custom-host"}
    status, _, answer = await invoke(http, {**headers, "x-portkey-aws-region": region})
    assert status == 400
    assert orjson.loads(answer)["error"]["code"] == "invalid_region"
    assert sagemaker.calls == []
