"""Service-account keys to Vertex AI access tokens, against a fake token endpoint that checks the JWT."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import AuthenticationFailed, InvalidRequest, UpstreamUnreachable
from gateway.providers.google_auth import (
    DEFAULT_TOKEN_URI,
    GRANT_TYPE,
    PARAM,
    SCOPE,
    ServiceAccountTokens,
)

EMAIL = "gateway@example-project.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    # 2048-bit generation takes ~50-200 ms: once per module.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(private_key: rsa.RSAPrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def key_json(pem: str, token_uri: str | None, **changes: Any) -> str:
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": KEY_ID,
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1234567890",
    }
    if token_uri is not None:
        info["token_uri"] = token_uri
    info.update(changes)
    return orjson.dumps(info).decode()


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeTokenEndpoint:
    """Google's token endpoint: verifies the assertion as Google does, counts requests.

    A failed check answers 400 with the reason as ``error_description``, so the test shows it.
    """

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self.public_key = public_key
        self.audience = ""
        self.requests = 0
        self.expires_in = 3599
        self.answer: tuple[int, dict[str, Any]] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        form = await request.post()
        try:
            self.check(str(form.get("grant_type")), str(form.get("assertion")))
        except (AssertionError, InvalidSignature, ValueError) as exc:
            return web.json_response(
                {"error": "fake_check_failed", "error_description": repr(exc)}, status=400
            )
        if self.answer is not None:
            return web.json_response(self.answer[1], status=self.answer[0])
        token = f"ya29.token-{self.requests}"
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    def check(self, grant_type: str, assertion: str) -> None:
        assert grant_type == GRANT_TYPE
        header_part, claims_part, signature_part = assertion.split(".")
        self.public_key.verify(
            b64url_decode(signature_part),
            f"{header_part}.{claims_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        assert orjson.loads(b64url_decode(header_part)) == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
        claims = orjson.loads(b64url_decode(claims_part))
        assert claims["iss"] == EMAIL
        assert claims["aud"] == self.audience
        assert claims["scope"] == SCOPE
        assert claims["exp"] - claims["iat"] == 3600


@pytest.fixture
async def endpoint(
    aiohttp_server: Callable[..., Awaitable[TestServer]], private_key: rsa.RSAPrivateKey
) -> FakeTokenEndpoint:
    fake = FakeTokenEndpoint(private_key.public_key())
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.audience = str(server.make_url("/token"))
    return fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_token_is_fetched_then_served_from_cache(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    tokens = ServiceAccountTokens()
    key = key_json(pem, endpoint.audience)
    assert await tokens.token(session, key) == "ya29.token-1"
    assert await tokens.token(session, key) == "ya29.token-1"
    assert endpoint.requests == 1


async def test_concurrent_callers_share_one_exchange(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    tokens = ServiceAccountTokens()
    key = key_json(pem, endpoint.audience)
    results = await asyncio.gather(*(tokens.token(session, key) for _ in range(20)))
    assert set(results) == {"ya29.token-1"}
    assert endpoint.requests == 1


async def test_token_near_expiry_is_refreshed(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    endpoint.expires_in = 200  # inside the 5-minute refresh margin: stale as soon as it arrives
    tokens = ServiceAccountTokens()
    key = key_json(pem, endpoint.audience)
    assert await tokens.token(session, key) == "ya29.token-1"
    assert await tokens.token(session, key) == "ya29.token-2"
    assert endpoint.requests == 2


async def test_cache_drops_the_oldest_key_when_full(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    tokens = ServiceAccountTokens(max_entries=1)
    first, second = key_json(pem, endpoint.audience), key_json(pem, endpoint.audience, project_id="other")
    for key in (first, second, first):
        await tokens.token(session, key)
    assert endpoint.requests == 3


async def test_check_url_gets_token_uri_and_its_result_is_used(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    checked: list[str] = []
    fake_url = endpoint.audience
    endpoint.audience = DEFAULT_TOKEN_URI  # the JWT's audience stays the key's token_uri

    def check_url(url: str) -> str:
        checked.append(url)
        return fake_url

    tokens = ServiceAccountTokens()
    assert await tokens.token(session, key_json(pem, None), check_url=check_url) == "ya29.token-1"
    assert checked == [DEFAULT_TOKEN_URI]
    assert endpoint.requests == 1


def pem_pieces(pem: str) -> list[str]:
    """The PEM's base64 lines: none of them may show up in an error."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.mark.parametrize(
    ("make_key", "problem"),
    [
        (lambda pem: key_json(pem, None)[:-10], "is not valid JSON"),
        (lambda pem: key_json(pem, None, type="authorized_user"), "is not a service-account key"),
        (lambda pem: orjson.dumps([pem]).decode(), "is not a service-account key"),
        (lambda pem: key_json(pem, None, client_email=None), "lacks client_email"),
        (lambda pem: key_json(pem.replace("A", "B", 40), None), "not an unencrypted PEM private key"),
        (lambda pem: key_json(pem[:-40], None), "not an unencrypted PEM private key"),
        (lambda pem: key_json(pem, "ftp://example.com/token"), "token_uri"),
    ],
    ids=[
        "bad-json",
        "not-service-account",
        "not-an-object",
        "missing-field",
        "bad-pem",
        "cut-pem",
        "bad-uri",
    ],
)
async def test_unusable_key_is_invalid_request_without_the_key(
    session: aiohttp.ClientSession, pem: str, make_key: Callable[[str], str], problem: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await ServiceAccountTokens().token(session, make_key(pem))
    error = raised.value
    assert (error.status, error.param, error.code) == (400, PARAM, "invalid_vertex_service_account")
    assert problem in error.message
    assert not any(piece in str(error) for piece in pem_pieces(pem))


async def test_refused_key_is_authentication_failed_with_googles_reason(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    endpoint.answer = (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    with pytest.raises(AuthenticationFailed) as raised:
        await ServiceAccountTokens().token(session, key_json(pem, endpoint.audience))
    error = raised.value
    assert (error.status, error.code) == (401, "vertex_auth_failed")
    assert "invalid_grant: Invalid JWT Signature." in error.message
    assert "eyJ" not in error.message  # no part of the assertion


async def test_failed_exchange_is_not_cached(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, pem: str
) -> None:
    tokens = ServiceAccountTokens()
    key = key_json(pem, endpoint.audience)
    endpoint.answer = (500, {"error": "internal_failure"})
    with pytest.raises(AuthenticationFailed):
        await tokens.token(session, key)
    endpoint.answer = None
    assert await tokens.token(session, key) == "ya29.token-2"


async def test_unreachable_token_endpoint_is_upstream_unreachable(
    session: aiohttp.ClientSession, pem: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamUnreachable) as raised:
        await ServiceAccountTokens().token(session, key_json(pem, f"http://127.0.0.1:{port}/token"))
    assert raised.value.status == 502
    assert "vertex-ai token endpoint" in raised.value.message
