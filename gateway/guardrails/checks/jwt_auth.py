"""``default.jwt``: the request carries a JWT that a key of the operator's JWKS signed.

As Portkey's: the token is the ``headerKey`` header (``Authorization`` by default, ``Bearer``
stripped); its ``kid`` picks the key of the JWKS at ``jwksUri``, fetched and kept for
``cacheMaxAge`` seconds (86400); ``clockTolerance`` (5 s) loosens ``exp``/``nbf``/``iat``;
``maxTokenAge`` (``1d``; ``30s``, ``15m``, ``2h``, ``1w`` or seconds) bounds the age from ``iat``,
which is then required. An unknown ``kid`` fetches the JWKS again (a rotated key), at most once
per :data:`REFETCH_INTERVAL` seconds: Portkey refetches for every unknown ``kid``, which lets any
caller make the gateway hammer the JWKS host. ``aud`` and ``iss`` are not checked (as Portkey).

Safer than Portkey's in what it accepts and shows:
- the JWKS URL passes the SSRF guard (``upstream/hostguard.py``) and is fetched through the
  upstream session (the address dialled is checked too; no redirect), with the services'
  timeout and at most :data:`MAX_JWKS_BYTES`;
- only asymmetric keys verify (RSA, RSA-PSS, EC, EdDSA), each with its own algorithm: a token's
  ``alg`` never picks ``none`` or an HMAC over a public key;
- neither the token nor its claims appear in ``data`` or ``error``: they say which check failed.
A JWKS that cannot be fetched leaves the check undecided (``error`` set, ``verdict`` false).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import orjson

from gateway.errors import GatewayError
from gateway.guardrails.check import (
    BEFORE_REQUEST,
    CheckParametersError,
    CheckResult,
    CheckServices,
    CheckSpec,
    HookContext,
)
from gateway.upstream.hostguard import check_custom_host

__all__ = [
    "MAX_JWKS_BYTES",
    "REFETCH_INTERVAL",
    "SPECS",
]

#: Largest JWKS document read.
MAX_JWKS_BYTES = 256 * 1024
#: Fewest seconds between two fetches caused by an unknown ``kid``.
REFETCH_INTERVAL = 30.0
#: Algorithms a JWKS key may verify with: public-key ones only.
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512", "EdDSA"}
)
_AGE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)?\s*$"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _JwksUnavailable(Exception):
    """The JWKS could not be had; ``str()`` says why without a URL or a body."""


@dataclass(slots=True)
class _KeyCache:
    """The one JWKS of this check's ``jwksUri`` (a prepared check names one URI): kid → key."""

    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")


@dataclass(frozen=True, slots=True)
class _Prepared:
    jwks_uri: str
    header_key: str
    cache_max_age: float
    clock_tolerance: float
    max_token_age: float
    cache: _KeyCache = field(default_factory=_KeyCache, compare=False)


def _prepare(parameters: Mapping[str, Any]) -> _Prepared:
    uri = parameters.get("jwksUri")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise CheckParametersError("jwksUri", "jwksUri must be an http(s) URL.")
    header_key = parameters.get("headerKey") or "Authorization"
    if not isinstance(header_key, str):
        raise CheckParametersError("headerKey", "headerKey must be a header name.")
    return _Prepared(
        uri,
        header_key,
        _seconds(parameters, "cacheMaxAge", 86400),
        _seconds(parameters, "clockTolerance", 5),
        _token_age(parameters.get("maxTokenAge", "1d")),
    )


def _seconds(parameters: Mapping[str, Any], name: str, default: float) -> float:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CheckParametersError(name, f"{name} must be a number of seconds (0 or more).")
    return float(value)


def _token_age(value: Any) -> float:
    """``maxTokenAge``: seconds, or jose's ``<number><unit>`` (``30s``, ``15m``, ``2h``, ``1d``, ``1w``)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _AGE.match(value) if isinstance(value, str) else None
    if match is None:
        raise CheckParametersError("maxTokenAge", "maxTokenAge must be seconds or like 30s, 15m, 2h, 1d, 1w.")
    return float(match[1]) * _UNIT_SECONDS[(match[2] or "s")[0]]


async def _run(context: HookContext, prepared: _Prepared) -> CheckResult:
    header = _header(context.request_headers, prepared.header_key)
    if not header:
        return CheckResult(False, {"verdict": False, "explanation": "Missing authorization header"})
    token = re.sub(r"^Bearer\s+", "", header, flags=re.IGNORECASE).strip()
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        return _invalid("the token is malformed")
    if context.services is None:
        return _undecided("no upstream session to fetch the JWKS with")
    try:
        key = await _key(prepared, context.services, kid)
    except _JwksUnavailable as exc:
        return _undecided(str(exc))
    if key is None:
        return CheckResult(False, {"verdict": False, "explanation": "No matching key found for kid"})
    problem = _verify(token, key, prepared)
    if problem is not None:
        return _invalid(problem)
    return CheckResult(True, {"verdict": True, "explanation": "JWT token validation succeeded"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict: headers are case-insensitive
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _invalid(problem: str) -> CheckResult:
    return CheckResult(False, {"verdict": False, "explanation": f"JWT validation error: {problem}"})


def _undecided(problem: str) -> CheckResult:
    data = {"verdict": False, "explanation": f"JWT validation error: {problem}"}
    return CheckResult(False, data, error=problem)


async def _key(prepared: _Prepared, services: CheckServices, kid: Any) -> jwt.PyJWK | None:
    """The key for ``kid`` from the cached JWKS, fetched when stale or when ``kid`` is unknown
    (that at most once per :data:`REFETCH_INTERVAL`)."""
    cache, now = prepared.cache, time.monotonic()
    stale = now - cache.fetched_at >= prepared.cache_max_age
    unknown = not isinstance(kid, str) or kid not in cache.keys
    if stale or (unknown and now - cache.fetched_at >= REFETCH_INTERVAL):
        await _refresh(prepared, services, now)
    return cache.keys.get(kid) if isinstance(kid, str) else None


async def _refresh(prepared: _Prepared, services: CheckServices, now: float) -> None:
    document = await _fetch(prepared.jwks_uri, services)
    prepared.cache.keys = _usable_keys(document)
    prepared.cache.fetched_at = now


async def _fetch(uri: str, services: CheckServices) -> Any:
    try:
        url = check_custom_host(uri, services.host_policy, "jwksUri", "jwksUri")
    except GatewayError as exc:
        raise _JwksUnavailable(str(exc)) from None
    try:
        async with services.session.get(
            url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=services.timeout)
        ) as response:
            if response.status != 200:
                raise _JwksUnavailable(f"the JWKS at jwksUri answered HTTP {response.status}")
            body = await _bounded_body(response)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise _JwksUnavailable(f"the JWKS at jwksUri could not be fetched ({type(exc).__name__})") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _JwksUnavailable("the JWKS at jwksUri is not JSON") from None


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_JWKS_BYTES:
        raise _JwksUnavailable(f"the JWKS at jwksUri is larger than {MAX_JWKS_BYTES} bytes")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_JWKS_BYTES:
            raise _JwksUnavailable(f"the JWKS at jwksUri is larger than {MAX_JWKS_BYTES} bytes")
    return bytes(body)


def _usable_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The JWKS's asymmetric keys that have a ``kid``; others are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise _JwksUnavailable("the JWKS at jwksUri has no keys list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if key.algorithm_name in _ASYMMETRIC:
            keys[entry["kid"]] = key
    return keys


def _verify(token: str, key: jwt.PyJWK, prepared: _Prepared) -> str | None:
    """``None`` when the token verifies; else which check failed (no claim values)."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            leeway=prepared.clock_tolerance,
            options={"verify_aud": False, "require": ["iat"]},
        )
    except jwt.ExpiredSignatureError:
        return "the token has expired (exp)"
    except jwt.ImmatureSignatureError:
        return "the token is not valid yet (nbf or iat)"
    except jwt.MissingRequiredClaimError as exc:
        return f"the token has no {exc.claim} claim"
    except jwt.InvalidSignatureError:
        return "the signature does not verify"
    except jwt.InvalidAlgorithmError:
        return "the token's alg is not its key's algorithm"
    except jwt.InvalidTokenError:
        return "the token is malformed or invalid"
    issued = claims.get("iat")
    if (
        not isinstance(issued, int | float)
        or time.time() - issued > prepared.max_token_age + prepared.clock_tolerance
    ):
        return "the token is older than maxTokenAge (iat)"
    return None


SPECS = (CheckSpec("default.jwt", _prepare, run_async=_run, events=frozenset({BEFORE_REQUEST})),)
