"""OCI Generative AI through the gateway: the OpenAI SDK on one side, a fake speaking OCI's
inference API on the other, which verifies every request's signature with the caller's public key.

Each test checks both ends: what the SDK gets back (OpenAI's format) and what OCI received
(``/20231130/actions/chat``, a valid signature, the ``ChatDetails`` body).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openai import APIError, APIStatusError, AsyncOpenAI, AuthenticationError, BadRequestError, RateLimitError

from tests.conftest import GatewayFactory, settings_with
from tests.functional.fake_oracle import (
    CHAT,
    FakeOracle,
    chat_answer,
    event,
    finish_event,
    text_event,
    usage_event,
)

TENANCY = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq"
USER_ID = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq"
FINGERPRINT = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
KEY_ID = f"{TENANCY}/{USER_ID}/{FINGERPRINT}"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa"
MODEL = "meta.llama-3.3-70b-instruct"
PASSPHRASE = "MARKER-PASSPHRASE-7f3a"
HANG = 10.0  # wide upper bound: only a hang (a buffering gateway) ever reaches it
USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def flat_pem(key: rsa.RSAPrivateKey, passphrase: str = "") -> str:
    """The key as a header carries it: its line breaks typed as ``\\n``."""
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem.decode().replace("\n", "\\n")


@pytest.fixture
async def oracle(aiohttp_server: Callable[..., Awaitable[TestServer]], key: rsa.RSAPrivateKey) -> FakeOracle:
    fake = FakeOracle()
    fake.keys[KEY_ID] = key.public_key()
    server = await aiohttp_server(fake.app())
    fake.port = server.port
    return fake


def oracle_headers(oracle: FakeOracle, key: rsa.RSAPrivateKey, **changes: str) -> dict[str, str]:
    headers = {
        "x-portkey-provider": "oracle",
        "x-portkey-custom-host": oracle.host,
        "x-portkey-oracle-region": "us-chicago-1",
        "x-portkey-oracle-compartment-id": COMPARTMENT,
        "x-portkey-oracle-tenancy": TENANCY,
        "x-portkey-oracle-user": USER_ID,
        "x-portkey-oracle-fingerprint": FINGERPRINT,
        "x-portkey-oracle-private-key": flat_pem(key),
    }
    headers.update({f"x-portkey-oracle-{name.replace('_', '-')}": value for name, value in changes.items()})
    return {name: value for name, value in headers.items() if value}


@pytest.fixture
async def sdk(gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers=oracle_headers(oracle, key),
        max_retries=0,
    )
    yield client
    await client.close()


async def _chat(sdk: AsyncOpenAI, **params: Any) -> Any:
    return await sdk.chat.completions.create(**{"model": MODEL, "messages": USER, **params})


async def _chunks(sdk: AsyncOpenAI, **params: Any) -> list[Any]:
    stream = await _chat(sdk, stream=True, **params)
    return [chunk async for chunk in stream]


async def _drain(stream: Any, seen: list[Any]) -> None:
    """Collect chunks into ``seen`` until the stream ends or raises."""
    async for chunk in stream:
        seen.append(chunk)


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- request and answer ------------------------------------------------------------------------


async def test_text_answer_and_the_signed_chat_details_oracle_received(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    answer = await _chat(
        sdk,
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                ],
            },
        ],
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop="END",
        seed=7,
    )
    assert answer.choices[0].message.content == "Hello!"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == MODEL
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        12,
        3,
        15,
    )
    assert answer.usage.prompt_tokens_details.cached_tokens == 4
    assert oracle.last.path == CHAT
    assert oracle.last.signed_by == KEY_ID
    assert oracle.last.body == {
        "compartmentId": COMPARTMENT,
        "servingMode": {"servingType": "ON_DEMAND", "modelId": MODEL},
        "chatRequest": {
            "apiFormat": "GENERIC",
            "messages": [
                {"role": "SYSTEM", "content": [{"type": "TEXT", "text": "Be brief."}]},
                {
                    "role": "USER",
                    "content": [
                        {"type": "TEXT", "text": "What is this?"},
                        {"type": "IMAGE", "imageUrl": {"url": "https://example.com/a.png", "detail": "low"}},
                    ],
                },
            ],
            "maxTokens": 50,
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "stop": ["END"],
        },
    }


async def test_dedicated_serving_mode_sends_the_model_as_the_endpoint(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    endpoint = "ocid1.generativeaiendpoint.oc1.us-chicago-1.amaaaaaabbbb"
    headers = oracle_headers(oracle, key, serving_mode="DEDICATED", api_version="20240101")
    async with aiohttp.ClientSession() as session:
        body = {"model": endpoint, "messages": USER}
        async with session.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status == 200
    assert oracle.last.path == "/20240101/actions/chat"
    assert oracle.last.body["servingMode"] == {"servingType": "DEDICATED", "endpointId": endpoint}
    assert oracle.last.signed_by == KEY_ID


async def test_tools_and_a_tool_round_trip(sdk: AsyncOpenAI, oracle: FakeOracle) -> None:
    call = {"id": "call_1", "type": "FUNCTION", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    oracle.reply(chat_answer("", finish="tool_calls", toolCalls=[call]))
    answer = await _chat(
        sdk, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}')
    ]
    sent = oracle.last.body["chatRequest"]
    assert sent["tools"] == [
        {
            "type": "FUNCTION",
            "name": "get_weather",
            "parameters": WEATHER["function"]["parameters"],
            "description": "Weather in a city",
        }
    ]
    assert sent["toolChoice"] == {"type": "FUNCTION", "name": "get_weather"}

    oracle.reply(chat_answer("Sunny."))
    history = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [message.tool_calls[0].model_dump()]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22C, sunny"},
    ]
    answer = await _chat(sdk, messages=history, tools=[WEATHER], tool_choice="required")
    assert answer.choices[0].message.content == "Sunny."
    sent = oracle.last.body["chatRequest"]
    assert sent["toolChoice"] == {"type": "REQUIRED"}
    assert sent["messages"][1:] == [
        {
            "role": "ASSISTANT",
            "content": [],
            "toolCalls": [
                {"id": "call_1", "type": "FUNCTION", "name": "get_weather", "arguments": '{"city":"Paris"}'}
            ],
        },
        {"role": "TOOL", "content": [{"type": "TEXT", "text": "22C, sunny"}], "toolCallId": "call_1"},
    ]


async def test_json_schema_response_format(sdk: AsyncOpenAI, oracle: FakeOracle) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    await _chat(
        sdk,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "thing", "schema": schema, "strict": True},
        },
    )
    assert oracle.last.body["chatRequest"]["responseFormat"] == {
        "type": "JSON_SCHEMA",
        "jsonSchema": {"name": "thing", "schema": schema, "isStrict": True},
    }


# --- stream ------------------------------------------------------------------------------------


async def test_text_stream_with_usage_at_the_end(sdk: AsyncOpenAI, oracle: FakeOracle) -> None:
    chunks = await _chunks(sdk, stream_options={"include_usage": True})
    assert _text(chunks) == "Hello, world!"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 3)
    assert all(c.model == MODEL for c in chunks)
    sent = oracle.last.body["chatRequest"]
    assert sent["isStream"] is True
    assert sent["streamOptions"] == {"isIncludeUsage": True}
    assert oracle.last.signed_by == KEY_ID


async def test_stream_without_include_usage_has_no_usage_chunk(sdk: AsyncOpenAI) -> None:
    chunks = await _chunks(sdk)
    assert _text(chunks) == "Hello, world!"
    assert all(c.usage is None for c in chunks)


async def test_streamed_tool_call_arguments_join_the_call_they_continue(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    def tool_delta(**call: str) -> bytes:
        return event(
            {"index": 0, "message": {"role": "ASSISTANT", "toolCalls": [{"type": "FUNCTION", **call}]}}
        )

    oracle.stream(
        [
            tool_delta(id="call_9", name="get_weather", arguments=""),
            tool_delta(arguments='{"city": '),
            tool_delta(id="call_9", arguments='"Oslo"'),
            tool_delta(arguments="}"),
            finish_event("tool_calls"),
            usage_event(),
        ]
    )
    chunks = await _chunks(sdk, tools=[WEATHER])
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert (calls[0].id, calls[0].function.name) == ("call_9", "get_weather")
    assert [call.id for call in calls[1:]] == [None, None, None]  # named once, as OpenAI streams it
    assert {call.index for call in calls} == {0}
    assert "".join(call.function.arguments or "" for call in calls) == '{"city": "Oslo"}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


async def test_a_stream_cut_before_its_finish_is_an_error_not_a_short_answer(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    oracle.stream([text_event("Hel")])
    seen: list[Any] = []
    with pytest.raises(APIError, match="oracle"):
        await _drain(await _chat(sdk, stream=True), seen)
    assert _text(seen) == "Hel"
    assert all(c.choices[0].finish_reason is None for c in seen)


async def test_stream_is_translated_in_lock_step(sdk: AsyncOpenAI, oracle: FakeOracle) -> None:
    # The fake sends the next event only after the client has the chunk of the previous one (the
    # text or the finish), so any buffering in the gateway deadlocks.
    texts = ["one", " two", " three"]
    acks: asyncio.Queue[None] = asyncio.Queue()
    oracle.stream([*(text_event(t) for t in texts), finish_event(), usage_event()], acks)

    async def lock_step() -> list[Any]:
        seen = []
        async for chunk in await _chat(sdk, stream=True):
            seen.append(chunk)
            if chunk.choices and (chunk.choices[0].delta.content or chunk.choices[0].finish_reason):
                acks.put_nowait(None)
        return seen

    seen = await asyncio.wait_for(lock_step(), HANG)
    assert _text(seen) == "".join(texts)
    assert seen[-1].choices[0].finish_reason == "stop"


# --- errors ------------------------------------------------------------------------------------


async def test_upstream_errors_keep_their_status_and_name_the_provider(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    oracle.fail(429, "TooManyRequests", "User-rate limit exceeded.")
    with pytest.raises(RateLimitError) as limited:
        await _chat(sdk)
    error = limited.value.body
    assert error["message"] == "oracle: User-rate limit exceeded."
    assert error["code"] == "TooManyRequests"


async def test_an_answer_without_choices_is_a_502_naming_the_provider(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    oracle.reply({"modelId": MODEL, "chatResponse": {"apiFormat": "GENERIC"}})
    with pytest.raises(APIStatusError) as broken:
        await _chat(sdk)
    assert broken.value.status_code == 502
    assert broken.value.body["message"].startswith("oracle: ")


async def test_finish_reason_is_openais_unless_strict_compliance_is_off(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    oracle.reply(chat_answer(finish="MAX_TOKENS"))
    reasons = []
    async with aiohttp.ClientSession() as session:
        for strict in ("true", "false"):
            headers = {**oracle_headers(oracle, key), "x-portkey-strict-open-ai-compliance": strict}
            body = {"model": MODEL, "messages": USER}
            async with session.post(
                f"{gateway_url}/v1/chat/completions", json=body, headers=headers
            ) as response:
                reasons.append((await response.json())["choices"][0]["finish_reason"])
    assert reasons == ["length", "MAX_TOKENS"]


async def test_a_signature_oracle_cannot_verify_is_its_401(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = AsyncOpenAI(
        base_url=f"{gateway_url}/v1",
        api_key="unused",
        default_headers=oracle_headers(oracle, key, private_key=flat_pem(other)),
        max_retries=0,
    )
    async with client:
        with pytest.raises(AuthenticationError) as refused:
            await _chat(client)
    assert refused.value.body["code"] == "NotAuthenticated"
    assert refused.value.body["message"].startswith("oracle: ")
    assert oracle.last.signed_by is None


async def test_an_encrypted_key_signs_with_its_passphrase(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    headers = oracle_headers(oracle, key, private_key=flat_pem(key, PASSPHRASE), key_passphrase=PASSPHRASE)
    async with aiohttp.ClientSession() as session:
        body = {"model": MODEL, "messages": USER}
        async with session.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status == 200
    assert oracle.last.signed_by == KEY_ID


@pytest.mark.parametrize("option", ["compartment_id", "tenancy", "user", "fingerprint", "private_key"])
async def test_a_missing_option_is_a_400_naming_its_header(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey, option: str
) -> None:
    header = f"x-portkey-oracle-{option.replace('_', '-')}"
    status, error = await _post(gateway_url, oracle_headers(oracle, key, **{option: ""}))
    assert status == 400
    assert error["param"] == header
    assert header in error["message"]
    assert oracle.received == []


async def test_without_a_custom_host_the_region_is_required_and_checked(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    headers = oracle_headers(oracle, key, region="")
    del headers["x-portkey-custom-host"]
    status, error = await _post(gateway_url, headers)
    assert (status, error["param"]) == (400, "x-portkey-oracle-region")
    for region in ("us-chicago-1.evil.example/x", "us-chicago-1#", "../x"):
        status, error = await _post(gateway_url, {**headers, "x-portkey-oracle-region": region})
        assert (status, error["param"]) == (400, "x-portkey-oracle-region")
        assert region not in error["message"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("tenancy", 'ocid1.tenancy.oc1..a",keyId="x'),
        ("fingerprint", "20:3b"),
        ("api_version", "2023/../x"),
        ("serving_mode", "SOMETIMES"),
        ("compartment_id", "not-an-ocid"),
    ],
)
async def test_a_malformed_option_is_a_400_naming_its_header(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey, option: str, value: str
) -> None:
    status, error = await _post(gateway_url, oracle_headers(oracle, key, **{option: value}))
    assert (status, error["param"]) == (400, f"x-portkey-oracle-{option.replace('_', '-')}")
    assert oracle.received == []


async def test_a_malformed_key_is_a_400_that_never_echoes_it(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    pem = flat_pem(key)
    broken = pem[:200] + "MARKERKEYMARKER" + pem[215:]
    for bad, passphrase in ((broken, ""), (flat_pem(key, PASSPHRASE), "wrong-" + PASSPHRASE)):
        headers = oracle_headers(oracle, key, private_key=bad, key_passphrase=passphrase)
        async with aiohttp.ClientSession() as session:
            body = {"model": MODEL, "messages": USER}
            async with session.post(
                f"{gateway_url}/v1/chat/completions", json=body, headers=headers
            ) as response:
                raw = await response.read()
                shown = raw + str(dict(response.headers)).encode()
        assert response.status == 400
        error = orjson.loads(raw)["error"]
        assert (error["param"], error["code"]) == ("x-portkey-oracle-private-key", "invalid_private_key")
        assert b"MARKER" not in shown
        assert pem[40:80].encode() not in shown
    assert oracle.received == []


async def test_config_target_keys_name_the_oracle_options(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    config = {
        "provider": "oracle",
        "custom_host": oracle.host,
        "oracle_region": "us-chicago-1",
        "oracle_compartment_id": COMPARTMENT,
        "oracle_tenancy": TENANCY,
        "oracle_user": USER_ID,
        "oracle_fingerprint": FINGERPRINT,
        "oracle_private_key": flat_pem(key),
    }
    async with aiohttp.ClientSession() as session:
        body = {"model": MODEL, "messages": USER}
        headers = {"x-portkey-config": orjson.dumps(config).decode()}
        async with session.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["choices"][0]["message"]["content"] == "Hello!"
    assert oracle.last.signed_by == KEY_ID


async def test_unsupported_parameters_are_refused_before_anything_is_sent(
    sdk: AsyncOpenAI, oracle: FakeOracle
) -> None:
    with pytest.raises(BadRequestError) as refused:
        await _chat(sdk, n=2)
    assert refused.value.body["param"] == "n"
    with pytest.raises(BadRequestError):
        await _chat(
            sdk,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}],
                }
            ],
        )
    assert oracle.received == []


async def test_callers_with_their_own_keys_share_one_gateway_each_signing_with_theirs(
    gateway_url: str, oracle: FakeOracle, key: rsa.RSAPrivateKey
) -> None:
    # The adapter keeps loaded keys across requests: under concurrency and in sequence, each
    # request must be signed with its own caller's key, and a refused key must not stick to anyone.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_fingerprint = "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
    oracle.keys[f"{TENANCY}/{USER_ID}/{other_fingerprint}"] = other.public_key()
    first = oracle_headers(oracle, key)
    second = oracle_headers(oracle, key, private_key=flat_pem(other), fingerprint=other_fingerprint)
    wrong = oracle_headers(oracle, key, private_key=flat_pem(other))  # the other key, this fingerprint
    callers = [first, second, wrong] * 4
    async with aiohttp.ClientSession() as session:

        async def call(headers: dict[str, str]) -> int:
            body = {"model": MODEL, "messages": USER}
            async with session.post(
                f"{gateway_url}/v1/chat/completions", json=body, headers=headers
            ) as response:
                await response.read()
                return response.status

        concurrent = await asyncio.gather(*(call(headers) for headers in callers))
        in_sequence = [await call(headers) for headers in callers]
    assert concurrent == in_sequence == [200, 200, 401] * 4
    by_fingerprint = {FINGERPRINT: 0, other_fingerprint: 0, None: 0}
    for request in oracle.received:
        by_fingerprint[request.signed_by.rpartition("/")[2] if request.signed_by else None] += 1
    assert by_fingerprint == {FINGERPRINT: 8, other_fingerprint: 8, None: 8}


async def test_no_oracle_secret_reaches_a_log_an_answer_or_the_provider(
    make_gateway: GatewayFactory, oracle: FakeOracle, key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_gateway(settings_with(server={"access_log": True}))
    url = f"http://127.0.0.1:{server.port}"
    encrypted = flat_pem(key, PASSPHRASE)
    secrets = [PASSPHRASE, *(encrypted[i : i + 24] for i in range(40, len(encrypted) - 60, 200))]
    shown = []
    async with aiohttp.ClientSession() as session:
        for passphrase in (PASSPHRASE, "wrong-" + PASSPHRASE):  # a signed request, then a refused key
            headers = oracle_headers(oracle, key, private_key=encrypted, key_passphrase=passphrase)
            async with session.post(
                f"{url}/v1/chat/completions", json={"model": MODEL, "messages": USER}, headers=headers
            ) as response:
                shown.append(await response.text() + str(dict(response.headers)))
    assert oracle.last.signed_by == KEY_ID
    assert not [name for name in oracle.last.headers if name.lower().startswith("x-portkey-")]
    assert caplog.text.count("provider=oracle") == 2  # the access log saw both requests
    text = "".join(shown) + caplog.text
    assert not [secret for secret in secrets if secret in text]


async def _post(gateway_url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        body = {"model": MODEL, "messages": USER}
        async with session.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers) as response:
            return response.status, (await response.json())["error"]
