"""Amazon S3 objects as the gateway names and reaches them: ``s3://bucket/key`` locations, their
URLs and their SigV4 signature (service ``s3``).

Every bucket and key comes from a caller (a header, a file id), so both are checked before they go
into a URL: a bucket by S3's naming rules (it becomes a host name), a key by length and characters,
never with ``.``/``..`` segments, and percent-encoded segment by segment, so neither can change the
host, add a query or fragment, or climb out of the bucket.

Where: ``https://{bucket}.s3.{region}.amazonaws.com/{key}`` (path style,
``https://s3.{region}.amazonaws.com/{bucket}/{key}``, for a bucket with dots, which the
virtual-host certificate does not cover); a custom host ``http://host:port`` takes
``/{bucket}/{key}`` (path style, as S3-compatible servers and local fakes expect).
Docs: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from gateway.errors import InvalidRequest
from gateway.providers.base import Credentials
from gateway.providers.bedrock_access import aws_region, signing_keys
from gateway.upstream.sigv4 import AwsCredentials, sign

__all__ = [
    "S3Object",
    "file_id",
    "object_url",
    "parse_file_id",
    "parse_uri",
    "s3_keys",
    "s3_object",
    "sign_s3",
]

SERVICE = "s3"
#: S3's general-purpose bucket names: 3-63 lowercase letters, digits, dots and hyphens, a letter or
#: digit at each end (the IP-address and ``..`` rules are checked apart).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")
#: S3 keys are up to 1,024 bytes of UTF-8; control characters are refused (AWS advises against
#: them and they have no place in a URL).
_MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class S3Object:
    """A checked ``s3://bucket/key`` location (build with :func:`s3_object` or :func:`parse_uri`)."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The key's last segment (the file name)."""
        return self.key.rpartition("/")[2]


def s3_object(bucket: str, key: str, param: str) -> S3Object:
    """``bucket``/``key`` checked; a 400 naming ``param`` (where they came from) otherwise."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP.fullmatch(bucket):
        raise InvalidRequest(
            f"{param} does not hold a valid S3 bucket name (3-63 lowercase letters, digits, '.' and '-').",
            param=param,
            code="invalid_s3_bucket",
        )
    segments = key.split("/")
    if (
        not key
        or len(key.encode()) > _MAX_KEY_BYTES
        or _CONTROL.search(key)
        or any(segment in (".", "..") for segment in segments)
    ):
        raise InvalidRequest(
            f"{param} does not hold a valid S3 object key (1-1024 bytes, no control characters, "
            "no '.' or '..' segments).",
            param=param,
            code="invalid_s3_key",
        )
    return S3Object(bucket, key)


def parse_uri(uri: str, param: str) -> S3Object:
    """``s3://bucket/key`` → the checked location; a 400 naming ``param`` otherwise."""
    bucket, slash, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not slash:
        raise InvalidRequest(
            f"{param} is not an s3://bucket/key location.", param=param, code="invalid_s3_uri"
        )
    return s3_object(bucket, key, param)


def parse_file_id(raw: str, param: str) -> S3Object:
    """The location a file id names. The id is the ``s3://`` URI percent-encoded (Portkey's ids),
    and the OpenAI SDKs encode it once more in a path: decoded until it is a URI, at most twice."""
    value = unquote(raw)
    return parse_uri(value if value.startswith("s3://") else unquote(value), param)


def file_id(location: S3Object) -> str:
    """The OpenAI file id for ``location``: its URI percent-encoded whole (one path segment)."""
    return quote(location.uri, safe="")


def object_url(base_url: str, options: Mapping[str, str], location: S3Object, query: str = "") -> str:
    """The object's URL (see the module's docstring), its key percent-encoded segment by segment."""
    where = aws_region(options)  # checked even for a custom host: the signature's scope holds it
    key = quote(location.key, safe="/")
    suffix = f"?{query}" if query else ""
    if base_url:
        return f"{base_url.rstrip('/')}/{location.bucket}/{key}{suffix}"
    if "." in location.bucket:
        return f"https://s3.{where}.amazonaws.com/{location.bucket}/{key}{suffix}"
    return f"https://{location.bucket}.s3.{where}.amazonaws.com/{key}{suffix}"


async def s3_keys(credentials: Credentials) -> AwsCredentials:
    """The AWS keys to sign S3 requests with: the caller's or an assumed role's (S3 takes no
    Bedrock API key); a 400 naming the header for what is missing."""
    keys = await signing_keys(credentials, api_key_allowed=False)
    assert keys is not None  # signing_keys raises instead, with api_key_allowed off
    return keys


def sign_s3(
    method: str,
    url: str,
    headers: dict[str, str],
    keys: AwsCredentials,
    options: Mapping[str, str],
    payload_hash: str = "",
) -> None:
    """Add S3's SigV4 headers to ``headers`` for a request with an empty body, or a body whose
    SHA-256 is ``payload_hash``."""
    added = sign(
        method,
        url,
        headers,
        b"",
        keys,
        aws_region(options),
        SERVICE,
        double_encode_path=False,
        sign_content_sha256=True,
        payload_hash=payload_hash,
    )
    headers.update(added)
