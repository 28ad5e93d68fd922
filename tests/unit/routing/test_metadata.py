"""``x-portkey-metadata``: an object of strings, bounded; anything else is a 400 naming the header."""

from __future__ import annotations

import json

import pytest

from gateway.errors import InvalidRequest
from gateway.routing.metadata import MAX_KEYS, MAX_VALUE_LENGTH, parse_metadata


def test_an_absent_or_empty_header_is_no_metadata() -> None:
    assert parse_metadata(None) == {}
    assert parse_metadata("") == {}


def test_an_object_of_strings_is_returned_as_sent() -> None:
    assert parse_metadata('{"_user": "u1", "env": "prod"}') == {"_user": "u1", "env": "prod"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"n": 1}', "value of 'n' must be a string"),
        (json.dumps({f"k{i}": "v" for i in range(MAX_KEYS + 1)}), f"has more than {MAX_KEYS} keys"),
        (json.dumps({"long": "x" * (MAX_VALUE_LENGTH + 1)}), "is longer than"),
    ],
)
def test_bad_metadata_is_a_400_naming_the_header(value: str, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_metadata(value)
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "invalid_metadata", "x-portkey-metadata")
    assert error.message.startswith("x-portkey-metadata ")
    assert problem in error.message


def test_the_limits_themselves_are_accepted() -> None:
    at_limit = {f"k{i}": "x" * MAX_VALUE_LENGTH for i in range(MAX_KEYS)}
    assert parse_metadata(json.dumps(at_limit)) == at_limit
