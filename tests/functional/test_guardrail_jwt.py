"""``default.jwt`` through the wire: a request whose token the operator's JWKS vouches for passes,
a forged or missing one is denied (446) before the provider is called."""

from __future__ import annotations

import json

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import GatewayFactory
from tests.fake_provider import FakeProvider
from tests.unit.guardrails.checks.test_jwt_auth import Jwks, jwks  # noqa: F401  (the JWKS server fixture)

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


async def test_only_a_token_the_jwks_vouches_for_reaches_the_provider(
    make_gateway: GatewayFactory,
    fake: FakeProvider,
    jwks: Jwks,  # noqa: F811
) -> None:
    gateway = await make_gateway()
    hook = {"default.jwt": {"jwksUri": jwks.uri, "headerKey": "x-user-jwt"}, "deny": True}
    config = json.dumps({"input_guardrails": [hook]})
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.keys["forged"] = forged
    bad_token = jwks.token("forged")
    del jwks.keys["forged"]  # signed by a key the JWKS does not hold
    statuses = []
    async with aiohttp.ClientSession() as http:
        for token in (jwks.token("k1"), bad_token, None):
            headers = {
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": fake.base_url,
                "Authorization": "Bearer sk-test",
                "x-portkey-config": config,
                **({"x-user-jwt": f"Bearer {token}"} if token else {}),
            }
            async with http.post(
                f"http://127.0.0.1:{gateway.port}/v1/chat/completions", json=CHAT, headers=headers
            ) as response:
                body = await response.text()
                statuses.append(response.status)
                assert bad_token not in body
    assert statuses == [200, 446, 446]
    assert len(fake.received) == 1
