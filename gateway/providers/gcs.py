"""Google Cloud Storage objects as OpenAI file ids, and the JSON API URLs that reach them.

A file id is Portkey's: the object's ``gs://{bucket}/{name}`` URI, percent-encoded whole
(``gs%3A%2F%2Fbucket%2Fbatch.jsonl``), so it is one path segment of ``/v1/files/{id}``. Ids come
back from callers, so the bucket is checked against Cloud Storage's naming rules and the object
name is percent-encoded into the URL: neither can change the host, add a path segment, a query or
a fragment.

API: https://cloud.google.com/storage/docs/json_api/v1/objects/insert (``uploadType=media``),
https://cloud.google.com/storage/docs/json_api/v1/objects/get (metadata, or ``alt=media``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from gateway.errors import InvalidRequest

__all__ = [
    "BASE_URL",
    "StorageObject",
    "bucket_name",
    "object_name",
    "object_of",
]

BASE_URL = "https://storage.googleapis.com"
_SCHEME = "gs://"
#: https://cloud.google.com/storage/docs/buckets#naming: 3-63 characters (222 with dots),
#: lowercase letters, digits, dashes, underscores and dots, a letter or digit at each end.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
#: https://cloud.google.com/storage/docs/objects#naming: up to 1,024 bytes of UTF-8.
_MAX_NAME_BYTES = 1024


@dataclass(frozen=True, slots=True)
class StorageObject:
    """One object: its bucket (checked) and its name (any valid object name)."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"{_SCHEME}{self.bucket}/{self.name}"

    @property
    def file_id(self) -> str:
        return quote(self.uri, safe="")

    def upload_url(self, base: str) -> str:
        """objects.insert with the object's bytes as the whole body (``uploadType=media``)."""
        return f"{base}/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name={quote(self.name, safe='')}"

    def url(self, base: str, media: bool = False) -> str:
        """objects.get: the object's metadata, or (``media``) its bytes."""
        url = f"{base}/storage/v1/b/{self.bucket}/o/{quote(self.name, safe='')}"
        return f"{url}?alt=media" if media else url


def bucket_name(value: str, param: str) -> str:
    """``value`` if it is a bucket name Cloud Storage allows; a 400 naming ``param`` otherwise."""
    if not _BUCKET.fullmatch(value) or ".." in value:
        raise InvalidRequest(
            f"{param} must be a Cloud Storage bucket name (lowercase letters, digits, '-', '_' and '.').",
            param=param,
            code="invalid_bucket_name",
        )
    return value


def object_name(value: str, param: str) -> str:
    """``value`` if Cloud Storage allows it as an object name; a 400 naming ``param`` otherwise."""
    if (
        not value
        or value in (".", "..")
        or len(value.encode()) > _MAX_NAME_BYTES
        or "\r" in value
        or "\n" in value
    ):
        raise InvalidRequest(
            f"{param} must be a Cloud Storage object name: 1 to 1024 bytes, no line breaks, not '.' or '..'.",
            param=param,
            code="invalid_object_name",
        )
    return value


def object_of(file_id: str, param: str) -> StorageObject:
    """The object a file id (or a plain ``gs://`` URI) names; a 400 naming ``param`` otherwise.

    ``file_id`` is as it arrived in a path segment or a JSON field: decoded until it is a ``gs://``
    URI (an SDK that encodes path segments encodes the id's own ``%`` once more).
    """
    uri = file_id
    for _ in range(3):
        if uri.startswith(_SCHEME):
            break
        uri = unquote(uri)
    bucket, _, name = uri.removeprefix(_SCHEME).partition("/")
    if not uri.startswith(_SCHEME) or not name:
        raise InvalidRequest(
            f"{param} is not a Vertex AI file id: it names a gs://bucket/object in Cloud Storage.",
            param=param,
            code="invalid_file_id",
        )
    return StorageObject(bucket_name(bucket, param), object_name(name, param))
