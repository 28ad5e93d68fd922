"""AWS Signature Version 4: the headers that authenticate one request to an AWS API (Bedrock runtime).

Pure: no I/O, standard library only. The canonical request follows the AWS general reference
("Create a canonical request for Signature Version 4"); it is checked against AWS's published
``aws-sig-v4-test-suite`` vectors in ``tests/unit/test_sigv4.py``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import SplitResult, quote, unquote_to_bytes, urlsplit

__all__ = [
    "AwsCredentials",
    "host_header",
    "sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Headers never taken from the caller: ``sign`` sets them from its own arguments (and never signs
#: ``authorization``), so a stale copy in ``headers`` can never disagree with what is sent.
_NOT_FROM_CALLER = frozenset(
    ("host", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
)


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, plus the session token that comes with temporary (STS) credentials."""

    access_key_id: str
    # Out of the repr, which would otherwise print them into any log line or traceback showing us.
    secret_access_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime | None = None,
    *,
    double_encode_path: bool = True,
    sign_content_sha256: bool = False,
    payload_hash: str = "",
) -> dict[str, str]:
    """Headers to add to the request: ``Authorization``, ``X-Amz-Date``, ``X-Amz-Content-Sha256``
    (only with ``sign_content_sha256``; S3 wants it, Bedrock does not) and ``X-Amz-Security-Token``
    (only with a session token).

    ``url`` is the URL exactly as it will be sent, its path already percent-encoded; the signed
    ``host`` is its host, lowercased as aiohttp sends it, with any non-default port. Every entry of
    ``headers`` is signed, so each must be sent unchanged (``host`` and the headers returned here
    come from the arguments instead). ``now`` must be timezone-aware and defaults to the current
    time. ``double_encode_path`` applies AWS's rule for every service but S3: each path segment is
    URI-encoded once more for the canonical request (``%3A`` is signed as ``%253A``).
    ``payload_hash``: the body's SHA-256 (hex) when the caller already has it (a spooled upload
    streamed from disk, passed with an empty ``body``).
    """
    parts = urlsplit(url)
    amz_date = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    added = {"X-Amz-Date": amz_date}
    if sign_content_sha256:
        added["X-Amz-Content-Sha256"] = payload_hash
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    signed = _canonical_headers(headers, {"host": host_header(parts), **added})
    request = _canonical_request(method, parts, signed, payload_hash, double_encode_path)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    key = _signing_key(credentials.secret_access_key, amz_date[:8], region, service)
    signature = hmac.new(key, _string_to_sign(amz_date, scope, request), hashlib.sha256).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return {"Authorization": authorization, **added}


def _canonical_request(
    method: str, parts: SplitResult, signed: Mapping[str, str], payload_hash: str, double_encode: bool
) -> str:
    return "\n".join(
        (
            method.upper(),
            _canonical_uri(parts.path, double_encode),
            _canonical_query(parts.query),
            "".join(f"{name}:{value}\n" for name, value in signed.items()),
            ";".join(signed),
            payload_hash,
        )
    )


def host_header(parts: SplitResult) -> str:
    """The Host header aiohttp (yarl) sends for a URL: lowercased, default port dropped, no user info
    (OCI request signatures sign it too)."""
    host = parts.netloc.rpartition("@")[2].lower()
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(parts.scheme):
        host = host.rpartition(":")[0]
    return host


def _canonical_uri(path: str, double_encode: bool) -> str:
    """Each segment decoded, then URI-encoded once (or twice), so raw and encoded input agree."""
    segments = [quote(unquote_to_bytes(segment), safe="") for segment in (path or "/").split("/")]
    if double_encode:
        segments = [quote(segment, safe="") for segment in segments]
    return "/".join(segments)


def _canonical_query(query: str) -> str:
    """Parameters URI-encoded (RFC 3986 unreserved set kept) and sorted by name, then value."""
    pairs = []
    for parameter in filter(None, query.split("&")):
        name, _, value = parameter.partition("=")
        pairs.append((quote(unquote_to_bytes(name), safe=""), quote(unquote_to_bytes(value), safe="")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _canonical_headers(caller: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """Lowercased names, sorted, to trimmed values; caller names differing only in case are joined by ','."""
    merged: dict[str, list[str]] = {}
    for name, value in caller.items():
        key = name.strip().lower()
        if key not in _NOT_FROM_CALLER:
            # AWS trims the value and collapses each run of whitespace to one space.
            merged.setdefault(key, []).append(" ".join(value.split()))
    for name, value in own.items():
        merged[name.lower()] = [value]
    return {name: ",".join(merged[name]) for name in sorted(merged)}


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> bytes:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}".encode()


@functools.lru_cache(maxsize=32)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key, cached: four HMACs that change once a day per region and service."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key
