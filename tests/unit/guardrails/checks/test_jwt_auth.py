"""``default.jwt`` against a local JWKS server with keys made here."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.config.settings import Settings
from gateway.guardrails.check import BEFORE_REQUEST, CheckParametersError, CheckResult, CheckServices
from gateway.guardrails.checks.jwt_auth import SPECS
from gateway.upstream.session import create_upstream_session
from tests.unit.guardrails.checks.contexts import request

CHECK = SPECS[0]


@dataclass
class Jwks:
    """The JWKS server: its keys (kid → private key) and how often it was asked."""

    server: TestServer
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    hits: int = 0

    @property
    def uri(self) -> str:
        return str(self.server.make_url("/.well-known/jwks.json"))

    def add_key(self, kid: str) -> rsa.RSAPrivateKey:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def token(self, kid: str, **claims: Any) -> str:
        payload = {"sub": "user-1", "iat": int(time.time()), "exp": int(time.time()) + 300, **claims}
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def jwks(aiohttp_server: Callable[..., Any]) -> Jwks:
    holder: list[Jwks] = []

    async def serve(request: web.Request) -> web.Response:
        state = holder[0]
        state.hits += 1
        keys = []
        for kid, private in state.keys.items():
            public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            keys.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        return web.json_response({"keys": keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", serve)
    state = Jwks(await aiohttp_server(app, host="127.0.0.1"))
    holder.append(state)
    state.add_key("k1")
    return state


@pytest.fixture
async def services() -> AsyncIterator[CheckServices]:
    settings = Settings()
    session = create_upstream_session(settings)
    yield CheckServices(session, settings.host_policy, 2.0)
    await session.close()


async def check(services: CheckServices, prepared: Any, headers: dict[str, str] | None = None) -> CheckResult:
    assert CHECK.run_async is not None
    context = request(headers=headers)
    context.services = services
    return await CHECK.run_async(context, prepared)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_runs_before_the_model_only() -> None:
    assert CHECK.id == "default.jwt"
    assert CHECK.events == {BEFORE_REQUEST}


async def test_a_token_signed_by_a_jwks_key_passes(jwks: Jwks, services: CheckServices) -> None:
    result = await check(services, CHECK.prepare({"jwksUri": jwks.uri}), bearer(jwks.token("k1")))
    assert result.verdict is True
    assert result.data == {"verdict": True, "explanation": "JWT token validation succeeded"}


async def test_the_jwks_is_fetched_once_for_many_requests(jwks: Jwks, services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": jwks.uri})
    for _ in range(3):
        assert (await check(services, prepared, bearer(jwks.token("k1")))).verdict is True
    assert jwks.hits == 1


async def test_a_rotated_key_is_found_by_fetching_again(jwks: Jwks, services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": jwks.uri})
    assert (await check(services, prepared, bearer(jwks.token("k1")))).verdict is True
    prepared.cache.fetched_at -= 60  # past the refetch interval
    jwks.add_key("k2")
    assert (await check(services, prepared, bearer(jwks.token("k2")))).verdict is True
    assert jwks.hits == 2


async def test_unknown_kids_do_not_refetch_on_every_request(jwks: Jwks, services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": jwks.uri})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for index in range(3):
        token = jwt.encode(
            {"iat": int(time.time())}, stranger, algorithm="RS256", headers={"kid": f"x{index}"}
        )
        result = await check(services, prepared, bearer(token))
        assert result.verdict is False
        assert result.data["explanation"] == "No matching key found for kid"
    assert jwks.hits == 1


async def test_a_token_signed_by_another_key_fails(jwks: Jwks, services: CheckServices) -> None:
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iat": int(time.time())}, forged, algorithm="RS256", headers={"kid": "k1"})
    result = await check(services, CHECK.prepare({"jwksUri": jwks.uri}), bearer(token))
    assert result.verdict is False
    assert result.data["explanation"] == "JWT validation error: the signature does not verify"


async def test_an_expired_token_fails_without_showing_its_claims(jwks: Jwks, services: CheckServices) -> None:
    token = jwks.token("k1", exp=int(time.time()) - 60, sub="secret-subject-marker")
    result = await check(services, CHECK.prepare({"jwksUri": jwks.uri}), bearer(token))
    assert result.verdict is False
    assert result.data["explanation"] == "JWT validation error: the token has expired (exp)"
    assert "secret-subject-marker" not in repr(result)
    assert token not in repr(result)


async def test_the_clock_tolerance_accepts_a_just_expired_token(jwks: Jwks, services: CheckServices) -> None:
    token = jwks.token("k1", exp=int(time.time()) - 3)
    prepared = CHECK.prepare({"jwksUri": jwks.uri, "clockTolerance": 30})
    assert (await check(services, prepared, bearer(token))).verdict is True


async def test_a_token_older_than_max_token_age_fails(jwks: Jwks, services: CheckServices) -> None:
    token = jwks.token("k1", iat=int(time.time()) - 3600)
    prepared = CHECK.prepare({"jwksUri": jwks.uri, "maxTokenAge": "10m"})
    result = await check(services, prepared, bearer(token))
    assert result.verdict is False
    assert result.data["explanation"] == "JWT validation error: the token is older than maxTokenAge (iat)"


async def test_an_hmac_token_is_refused_even_keyed_with_the_public_key(
    jwks: Jwks, services: CheckServices
) -> None:
    token = jwt.encode(
        {"iat": int(time.time())},
        "a-shared-secret-long-enough-for-hs256!!",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    result = await check(services, CHECK.prepare({"jwksUri": jwks.uri}), bearer(token))
    assert result.verdict is False
    assert result.data["explanation"] == "JWT validation error: the token's alg is not its key's algorithm"


async def test_the_token_is_read_from_the_header_key(jwks: Jwks, services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": jwks.uri, "headerKey": "x-user-token"})
    assert (await check(services, prepared, {"X-User-Token": jwks.token("k1")})).verdict is True
    missing = await check(services, prepared, bearer(jwks.token("k1")))
    assert missing.verdict is False
    assert missing.data["explanation"] == "Missing authorization header"


async def test_an_unreachable_jwks_leaves_the_check_undecided(services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": "http://127.0.0.1:9/jwks.json"})
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iat": int(time.time())}, signer, algorithm="RS256", headers={"kid": "k1"})
    result = await check(services, prepared, bearer(token))
    assert result.verdict is False
    assert result.error == "the JWKS at jwksUri could not be fetched (ClientConnectorError)"


async def test_a_jwks_on_a_refused_address_is_never_fetched(jwks: Jwks, services: CheckServices) -> None:
    prepared = CHECK.prepare({"jwksUri": "http://169.254.169.254/jwks.json"})
    token = jwks.token("k1")
    result = await check(services, prepared, bearer(token))
    assert result.verdict is False
    assert result.error is not None
    assert "refused" in result.error


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({}, "jwksUri"),
        ({"jwksUri": "file:///etc/keys"}, "jwksUri"),
        ({"jwksUri": "http://127.0.0.1/j", "cacheMaxAge": "long"}, "cacheMaxAge"),
        ({"jwksUri": "http://127.0.0.1/j", "clockTolerance": -1}, "clockTolerance"),
        ({"jwksUri": "http://127.0.0.1/j", "maxTokenAge": "forever"}, "maxTokenAge"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare(parameters)
    assert refused.value.param == param
