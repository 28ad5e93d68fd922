"""Google service-account keys traded for OAuth2 access tokens (the JWT bearer grant, RFC 7523).

A key file holds an RSA private key. The gateway signs a one-hour JWT with it, posts the JWT to the
key's ``token_uri`` and gets an access token for Vertex AI. Tokens and loaded keys are cached under
the SHA-256 of the key's JSON text, so the cache never holds the key text itself.

Secrets stay out of errors and logs: no message carries the private key, the JWT or the access token.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import AuthenticationFailed, InvalidRequest, UpstreamBroken, UpstreamUnreachable
from gateway.upstream.expiring import Expiring, ExpiringCache, access_token, remember

__all__ = [
    "DEFAULT_TOKEN_URI",
    "GRANT_TYPE",
    "PARAM",
    "SCOPE",
    "ServiceAccountTokens",
]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
PARAM = "x-portkey-vertex-service-account-json"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Google accepts assertions valid for at most an hour.
_ASSERTION_LIFETIME = 3600
#: A token this close to expiry is refreshed, so a request never reaches Vertex with a dead token.
_REFRESH_MARGIN = 300.0
_TIMEOUT = aiohttp.ClientTimeout(total=10)
#: Google's error text is echoed to the caller; a custom token_uri could send anything, so cap it.
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class _Key:
    client_email: str
    key_id: str
    token_uri: str
    private_key: rsa.RSAPrivateKey


class ServiceAccountTokens:
    """Access tokens for service-account keys, cached until shortly before they expire.

    Each cache (loaded keys, tokens) holds at most ``max_entries`` keys and drops the oldest first.
    """

    __slots__ = ("_keys", "_max_entries", "_tokens")

    def __init__(self, *, max_entries: int = 256) -> None:
        self._max_entries = max_entries
        self._keys: dict[str, _Key] = {}
        self._tokens: ExpiringCache[str] = ExpiringCache(margin=_REFRESH_MARGIN, max_entries=max_entries)

    async def token(
        self,
        session: aiohttp.ClientSession,
        service_account_json: str,
        *,
        check_url: Callable[[str], str] | None = None,
    ) -> str:
        """An OAuth2 access token for the key (scope https://www.googleapis.com/auth/cloud-platform).

        A cached token is returned until 5 minutes before it expires. Otherwise one exchange runs per
        key, shared by every concurrent caller; it finishes (and fills the cache) even if the caller
        that started it is cancelled. ``check_url`` gets the key's token_uri before any request and
        returns the URL to post to (or raises). Raises InvalidRequest for an unusable key,
        AuthenticationFailed when Google refuses it, UpstreamUnreachable/UpstreamBroken when the token
        endpoint cannot be reached or answers nonsense.
        """
        digest = hashlib.sha256(service_account_json.encode()).hexdigest()

        async def exchange() -> Expiring[str]:
            key = self._key(digest, service_account_json)
            url = check_url(key.token_uri) if check_url is not None else key.token_uri
            return await _exchange(session, key, url)

        return await self._tokens.get(digest, exchange)

    def _key(self, digest: str, service_account_json: str) -> _Key:
        key = self._keys.get(digest)
        if key is None:
            # Loading a PEM key costs ~ms of CPU on the event loop: do it once per key.
            key = _parse_key(service_account_json)
            remember(self._keys, digest, key, self._max_entries)
        return key


def _invalid(problem: str) -> InvalidRequest:
    return InvalidRequest(f"{PARAM} {problem}.", param=PARAM, code="invalid_vertex_service_account")


def _parse_key(service_account_json: str) -> _Key:
    """The key's fields and loaded private key; InvalidRequest (never quoting the key) if unusable."""
    try:
        info = orjson.loads(service_account_json)
    except orjson.JSONDecodeError:
        # ``from None``: the decode error keeps the whole document, private key included.
        raise _invalid("is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise _invalid('is not a service-account key (its "type" must be "service_account")')
    fields = {name: info.get(name) for name in ("client_email", "private_key", "private_key_id")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise _invalid(f"lacks {', '.join(missing)}")
    token_uri = info.get("token_uri", DEFAULT_TOKEN_URI)
    if not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://")):
        raise _invalid("has a token_uri that is not an http(s) URL")
    return _Key(
        client_email=str(fields["client_email"]),
        key_id=str(fields["private_key_id"]),
        token_uri=token_uri,
        private_key=_load_private_key(str(fields["private_key"])),
    )


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _invalid("has a private_key that is not an unencrypted PEM private key") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise _invalid("has a private_key that is not an RSA key")
    return private_key


def _assertion(key: _Key, now: int) -> str:
    """The signed JWT (RS256) that asks ``key.token_uri`` for a cloud-platform token."""
    header = {"alg": "RS256", "typ": "JWT", "kid": key.key_id}
    claims = {
        "iss": key.client_email,
        "scope": SCOPE,
        "aud": key.token_uri,
        "iat": now,
        "exp": now + _ASSERTION_LIFETIME,
    }
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _exchange(session: aiohttp.ClientSession, key: _Key, url: str) -> Expiring[str]:
    # JWT timestamps are wall-clock; the cache's expiry is monotonic (immune to clock steps).
    form = {"grant_type": GRANT_TYPE, "assertion": _assertion(key, int(time.time()))}
    try:
        # Never followed: a redirect's target was not checked by the SSRF guard (check_url).
        async with session.post(url, data=form, timeout=_TIMEOUT, allow_redirects=False) as response:
            status, body = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamUnreachable(
            f"The vertex-ai token endpoint could not be reached ({type(exc).__name__})."
        ) from exc
    if 300 <= status < 400:
        raise UpstreamBroken(
            f"The vertex-ai token endpoint answered with a redirect (HTTP {status}), which the gateway "
            "does not follow."
        )
    if status != 200:
        raise AuthenticationFailed(
            f"Google refused the Vertex AI service-account key (HTTP {status}): {_google_error(body)}",
            code="vertex_auth_failed",
        )
    return access_token(body, "vertex-ai")


def _google_error(body: bytes) -> str:
    """Google's ``error: error_description``, or a note that the answer had none."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return "no error details."
    parts = [str(data[name]) for name in ("error", "error_description") if data.get(name)]
    return ": ".join(parts)[:_MAX_ERROR_CHARS] or "no error details."
