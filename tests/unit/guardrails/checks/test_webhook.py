"""The webhook's answer, read: what counts as an answer, its verdict and data, and its
``transformedData`` for the event it came from."""

from __future__ import annotations

import orjson
import pytest

from gateway.guardrails.check import CheckParametersError
from gateway.guardrails.checks.webhook import MAX_ANSWER_BYTES, SPECS, answer_result, parse_answer
from tests.unit.guardrails.checks.context import answer, request


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (500, b'{"verdict": true}'),
        (302, b'{"verdict": true}'),
        (200, b"<html>"),
        (200, b"[true]"),
        (200, b'{"verdict": "yes"}'),
        (200, b'{"data": 1}'),
        (200, b'{"verdict": true, "pad": "' + b"x" * MAX_ANSWER_BYTES + b'"}'),
    ],
)
def test_what_is_not_an_answer(status: int, raw: bytes) -> None:
    assert parse_answer(status, raw) is None


def test_a_2xx_json_object_with_a_boolean_verdict_is_an_answer() -> None:
    assert parse_answer(201, b'{"verdict": false, "data": {"why": "x"}}') == {
        "verdict": False,
        "data": {"why": "x"},
    }


def test_verdict_and_data_are_the_results() -> None:
    result = answer_result(request("hi"), {"verdict": False, "data": {"why": "x"}})
    assert (result.verdict, result.data, result.error, result.transformed) == (
        False,
        {"why": "x"},
        None,
        False,
    )


def test_transformed_data_of_the_event_replaces_its_body_only() -> None:
    new_request, new_response = {"messages": []}, {"choices": []}
    transformed = {"request": {"json": new_request}, "response": {"json": new_response}}
    before = answer_result(request("hi"), {"verdict": True, "transformedData": transformed})
    assert (before.transformed_request, before.transformed_response) == (new_request, None)
    after = answer_result(answer("hi"), {"verdict": True, "transformedData": transformed})
    assert (after.transformed_request, after.transformed_response) == (None, new_response)


@pytest.mark.parametrize("transformed", [None, [], {"request": []}, {"request": {"json": "text"}}])
def test_malformed_transformed_data_is_ignored(transformed: object) -> None:
    result = answer_result(request("hi"), {"verdict": True, "transformedData": transformed})
    assert result.transformed is False


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({"webhookURL": "ftp://x"}, "webhookURL"),
        ({"webhookURL": "http://x", "timeout": 0}, "timeout"),
        ({"webhookURL": "http://x", "timeout": True}, "timeout"),
        ({"webhookURL": "http://x", "fail_open": "yes"}, "fail_open"),
        ({"webhookURL": "http://x", "headers": "{not json"}, "headers"),
        ({"webhookURL": "http://x", "headers": {"a": 1}}, "headers"),
    ],
)
def test_bad_parameters_name_the_parameter(parameters: dict[str, object], param: str) -> None:
    with pytest.raises(CheckParametersError) as raised:
        SPECS[0].prepare(parameters)
    assert raised.value.param == param


def test_headers_may_be_json_text() -> None:
    prepared = SPECS[0].prepare({"webhookURL": "http://x", "headers": orjson.dumps({"k": "v"}).decode()})
    assert prepared.endpoint.headers == {"k": "v"}
    assert prepared.endpoint.timeout == 3.0
