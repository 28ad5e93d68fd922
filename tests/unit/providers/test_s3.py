"""S3 locations: names checked, keys encoded, the host kept, file ids read back."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.providers.s3 import object_url, parse_file_id, s3_object

OPTIONS = {"aws-region": "us-east-1"}


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("evil.com/x", "k"),
        ("a", "k"),
        ("UPPER", "k"),
        ("192.168.0.1", "k"),
        ("b..b", "k"),
        ("bucket", ""),
        ("bucket", "../x"),
        ("bucket", "a/./b"),
        ("bucket", "a\nb"),
    ],
)
def test_bucket_and_key_that_could_change_the_url_are_refused(bucket: str, key: str) -> None:
    with pytest.raises(InvalidRequest):
        s3_object(bucket, key, "x-portkey-aws-s3-bucket")


def test_object_urls_encode_the_key_and_keep_the_host() -> None:
    location = s3_object("my-bucket", "dir/a b?#%.jsonl", "p")
    assert (
        object_url("", OPTIONS, location)
        == "https://my-bucket.s3.us-east-1.amazonaws.com/dir/a%20b%3F%23%25.jsonl"
    )
    dotted = s3_object("my.bucket", "k", "p")
    assert object_url("", OPTIONS, dotted) == "https://s3.us-east-1.amazonaws.com/my.bucket/k"
    assert object_url("http://127.0.0.1:9/", OPTIONS, location, "attributes").startswith(
        "http://127.0.0.1:9/my-bucket/dir/a%20b"
    )


def test_file_ids_decode_once_or_twice() -> None:
    once = "s3%3A%2F%2Fmy-bucket%2Fa%25b.jsonl"  # the id of s3://my-bucket/a%b.jsonl, sent as is
    assert parse_file_id(once, "file_id").key == "a%b.jsonl"
    twice = once.replace("%", "%25")  # as the OpenAI SDK sends an id in a path
    assert parse_file_id(twice, "file_id").key == "a%b.jsonl"
