"""Bedrock with x-portkey-aws-auth-type: assumedRole: the gateway assumes the role at a fake STS with
its own keys and signs the call to a fake Bedrock with the temporary ones."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, BadRequestError, PermissionDeniedError

from gateway.config.settings import SettingsError, load_settings
from tests.conftest import GatewayFactory, settings_with
from tests.functional import fake_bedrock as fb
from tests.functional.fake_bedrock import FakeBedrock
from tests.functional.fake_sts import GATEWAY_KEY, GATEWAY_SECRET, FakeSts

ROLE = "arn:aws:iam::123456789012:role/bedrock-team-a"
OTHER_ROLE = "arn:aws:iam::123456789012:role/bedrock-team-b"
EXTERNAL_ID = "tenant-42"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def bedrock(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeBedrock:
    fake = FakeBedrock()
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


@pytest.fixture
async def sts(aiohttp_server: Callable[..., Awaitable[TestServer]], bedrock: FakeBedrock) -> FakeSts:
    fake = FakeSts(bedrock)
    fake.port = (await aiohttp_server(fake.app())).port
    return fake


def aws_settings(sts: FakeSts, **aws: Any) -> Any:
    return settings_with(
        aws={
            "assume_role": True,
            "allowed_role_arns": ("arn:aws:iam::123456789012:role/bedrock-*",),
            "access_key_id": GATEWAY_KEY,
            "secret_access_key": GATEWAY_SECRET,
            "sts_endpoint": sts.url,
            **aws,
        }
    )


def role_headers(bedrock: FakeBedrock, role: str = ROLE, **extra: str) -> dict[str, str]:
    return {
        "x-portkey-provider": "bedrock",
        "x-portkey-custom-host": bedrock.host,
        "x-portkey-aws-region": fb.REGION,
        "x-portkey-aws-auth-type": "assumedRole",
        "x-portkey-aws-role-arn": role,
        "x-portkey-aws-external-id": EXTERNAL_ID,
        **extra,
    }


async def chat(gateway: TestServer, headers: dict[str, str]) -> Any:
    async with AsyncOpenAI(
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        api_key="unused",
        default_headers=headers,
        max_retries=0,
    ) as client:
        return await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]


async def test_bedrock_is_signed_with_the_assumed_roles_temporary_keys(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    answer = await chat(gateway, role_headers(bedrock))
    assert answer.choices[0].message.content == "Hi there."
    call = sts.calls[0]
    assert call.fields == {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": "ai-gateway",
        "DurationSeconds": "3600",
        "ExternalId": EXTERNAL_ID,
    }
    assert call.region == fb.REGION  # the request's aws_region, in the STS signature's scope
    assert call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={GATEWAY_KEY}/")
    # The fake Bedrock checked the signature with the temporary secret it was given by the STS.
    assert bedrock.last.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIATEMP1/")
    assert bedrock.last.headers["X-Amz-Security-Token"] == "temporary-session-token-1"


async def test_one_assume_role_serves_many_requests_concurrent_ones_included(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    await asyncio.gather(*(chat(gateway, role_headers(bedrock)) for _ in range(5)))
    await chat(gateway, role_headers(bedrock))
    assert len(sts.calls) == 1
    assert len(bedrock.calls) == 6
    assert {c.headers["X-Amz-Security-Token"] for c in bedrock.calls} == {"temporary-session-token-1"}


async def test_each_role_gets_its_own_credentials(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    for role in (ROLE, OTHER_ROLE, ROLE):
        await chat(gateway, role_headers(bedrock, role))
    assert [call.fields["RoleArn"] for call in sts.calls] == [ROLE, OTHER_ROLE]
    tokens = [c.headers["X-Amz-Security-Token"] for c in bedrock.calls]
    assert tokens == ["temporary-session-token-1", "temporary-session-token-2", "temporary-session-token-1"]


async def test_credentials_near_expiry_are_assumed_again(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    sts.lifetime = timedelta(minutes=4)  # inside the 5-minute refresh margin
    for _ in range(2):
        await chat(gateway, role_headers(bedrock))
    assert len(sts.calls) == 2
    assert bedrock.last.headers["X-Amz-Security-Token"] == "temporary-session-token-2"


async def test_config_keys_carry_the_assumed_role(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    config = {
        "provider": "bedrock",
        "custom_host": bedrock.host,
        "aws_region": fb.REGION,
        "aws_auth_type": "assumedRole",
        "aws_role_arn": ROLE,
        "aws_external_id": EXTERNAL_ID,
    }
    await chat(gateway, {"x-portkey-config": orjson.dumps(config).decode()})
    assert sts.calls[0].fields["RoleArn"] == ROLE
    assert bedrock.last.headers["X-Amz-Security-Token"] == "temporary-session-token-1"


async def test_assumed_role_is_refused_unless_the_operator_enables_it(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(settings_with(aws={"sts_endpoint": sts.url}))
    with pytest.raises(PermissionDeniedError) as raised:
        await chat(gateway, role_headers(bedrock))
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "x-portkey-aws-auth-type"
    assert "aws.assume_role" in error["message"]
    assert sts.calls == []
    assert bedrock.calls == []


async def test_a_role_outside_the_allowed_list_is_refused_without_calling_sts(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    with pytest.raises(PermissionDeniedError) as raised:
        await chat(gateway, role_headers(bedrock, "arn:aws:iam::999999999999:role/admin"))
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == "x-portkey-aws-role-arn"
    assert raised.value.body["code"] == "assume_role_not_allowed"
    assert sts.calls == []


async def test_sts_refusal_is_a_403_naming_the_role_header_without_secrets(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    sts.failure = (403, "AccessDenied", f"not authorized {GATEWAY_SECRET}")
    with pytest.raises(PermissionDeniedError) as raised:
        await chat(gateway, role_headers(bedrock))
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["code"] == "assume_role_failed"
    assert "AccessDenied" in body["message"]
    assert GATEWAY_SECRET not in orjson.dumps(body).decode()
    assert bedrock.calls == []


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({"x-portkey-aws-role-arn": ""}, "x-portkey-aws-role-arn"),
        ({"x-portkey-aws-role-arn": "arn:aws:iam::123456789012:user/bob"}, "x-portkey-aws-role-arn"),
        ({"x-portkey-aws-external-id": "a b"}, "x-portkey-aws-external-id"),
        ({"x-portkey-aws-auth-type": "sso"}, "x-portkey-aws-auth-type"),
    ],
)
async def test_bad_assumed_role_options_are_a_400_naming_the_header(
    make_gateway: GatewayFactory, bedrock: FakeBedrock, sts: FakeSts, headers: dict[str, str], param: str
) -> None:
    gateway = await make_gateway(aws_settings(sts))
    all_headers = {k: v for k, v in {**role_headers(bedrock), **headers}.items() if v}
    with pytest.raises(BadRequestError) as raised:
        await chat(gateway, all_headers)
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["param"] == param
    assert sts.calls == []


def test_assume_role_without_the_gateways_own_keys_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"aws\.assume_role needs"):
        load_settings(None, {"GATEWAY_AWS_ASSUME_ROLE": "true"})
