from __future__ import annotations

from typing import Any

import pytest

from gateway.guardrails.check import AFTER_REQUEST, BEFORE_REQUEST, CheckParametersError, CheckResult
from gateway.guardrails.checks.pii import SPECS
from tests.unit.guardrails.checks.contexts import answer, request

CHECK = SPECS[0]


def run(text: str, *, after: bool = False, **parameters: Any) -> CheckResult:
    assert CHECK.run is not None
    context = answer(text) if after else request(text=text)
    return CHECK.run(context, CHECK.prepare(parameters))


def test_runs_before_and_after_the_model() -> None:
    assert CHECK.id == "gateway.pii"
    assert CHECK.events == {BEFORE_REQUEST, AFTER_REQUEST}


@pytest.mark.parametrize(
    ("category", "text"),
    [
        ("EMAIL_ADDRESS", "write to ada@example.com today"),
        ("PHONE_NUMBER", "call +1 415-555-0100"),
        ("PHONE_NUMBER", "call (020) 7946 0958"),
        ("CREDIT_CARD", "card 4111 1111 1111 1111 please"),
        ("IBAN", "pay GB82 WEST 1234 5698 7654 32"),
        ("IP_ADDRESS", "host 192.168.1.20"),
        ("IP_ADDRESS", "host 2001:db8::1"),
        ("SSN", "ssn 123-45-6789"),
        ("SECRET", "key sk-proj-abcdefghijklmnopqrstuvwx"),
        ("SECRET", "id AKIAIOSFODNN7EXAMPLE"),
        ("SECRET", "ghp_" + "a" * 36),
        ("SECRET", "xoxb-1234567890-abcdef"),
        ("SECRET", "-----BEGIN RSA PRIVATE KEY-----"),
        ("SECRET", "eyJhbGciOiJI.eyJzdWIiOiIx.abcdefghijklmnop"),
    ],
)
def test_each_category_is_found_and_fails_the_check(category: str, text: str) -> None:
    result = run(text, categories=[category])
    assert result.verdict is False
    assert result.data["detectedCategories"] == [category]
    assert result.data["counts"] == {category: 1}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "iban GB82 WEST 1234 5698 7654 33",  # fails mod-97
        "ssn 000-45-6789",  # no such area
        "at 12:30:45 on 2024-01-15, version 1.2.3",
        "plain text without anything personal",
    ],
)
def test_lookalikes_that_fail_their_checksum_or_shape_pass(text: str) -> None:
    result = run(text, categories=["CREDIT_CARD", "IBAN", "SSN", "IP_ADDRESS", "EMAIL_ADDRESS"])
    assert result.verdict is True
    assert result.data["detectedCategories"] == []


def test_data_counts_findings_but_never_shows_them() -> None:
    result = run("ada@example.com and bob@example.com, key sk-proj-abcdefghijklmnopqrstuvwx")
    assert result.data["counts"] == {"SECRET": 1, "EMAIL_ADDRESS": 2}
    assert "example.com" not in repr(result.data)
    assert "sk-proj" not in repr(result.data)


def test_redact_replaces_findings_in_the_request_and_passes() -> None:
    result = run("mail ada@example.com, card 4111-1111-1111-1111.", redact=True)
    assert result.verdict is True
    assert result.transformed_request is not None
    assert (
        result.transformed_request["messages"][-1]["content"] == "mail [EMAIL_ADDRESS], card [CREDIT_CARD]."
    )
    assert result.data["explanation"] == "Found and redacted PII in the text: EMAIL_ADDRESS, CREDIT_CARD"


def test_redact_replaces_findings_in_the_answer() -> None:
    result = run("Your SSN is 123-45-6789.", after=True, redact=True)
    assert result.transformed_response is not None
    assert result.transformed_response["choices"][0]["message"]["content"] == "Your SSN is [SSN]."


def test_clean_text_is_not_transformed() -> None:
    result = run("nothing here", redact=True)
    assert result.verdict is True
    assert result.transformed is False


def test_only_the_chosen_categories_count() -> None:
    assert run("mail ada@example.com", categories=["CREDIT_CARD"]).verdict is True


def test_not_passes_only_when_something_is_found() -> None:
    assert run("mail ada@example.com", **{"not": True}).verdict is True
    assert run("nothing here", **{"not": True}).verdict is False


def test_long_text_is_checked_in_linear_time() -> None:
    result = run("1 " * 50_000 + "a" * 50_000 + "@" * 10_000)
    assert result.verdict is True


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({"categories": ["PASSPORT"]}, "categories"),
        ({"categories": []}, "categories"),
        ({"redact": "yes"}, "redact"),
        ({"not": 1}, "not"),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, Any], param: str) -> None:
    with pytest.raises(CheckParametersError) as refused:
        CHECK.prepare(parameters)
    assert refused.value.param == param
