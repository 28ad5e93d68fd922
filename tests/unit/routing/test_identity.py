"""Target identities: one breaker per upstream and caller, shown without a secret."""

from __future__ import annotations

import json

from gateway.routing.identity import MAX_SHOWN, fingerprint, target_identity

URL = "https://api.openai.com/v1"


def test_same_target_and_key_is_one_identity_and_another_key_is_another() -> None:
    first = target_identity("openai", URL, "gpt-4o", {}, "sk-tenant-a")
    assert first == target_identity("openai", URL, "gpt-4o", {}, "sk-tenant-a")
    assert first != target_identity("openai", URL, "gpt-4o", {}, "sk-tenant-b")
    assert first != target_identity("openai", URL, "gpt-4o-mini", {}, "sk-tenant-a")


def test_hidden_options_change_the_fingerprint_and_never_show() -> None:
    options = {"aws-region": "us-east-1", "aws-secret-access-key": "SECRETVALUE"}
    identity = target_identity("bedrock", "https://b", "m", options, "")
    other = target_identity("bedrock", "https://b", "m", {**options, "aws-secret-access-key": "OTHER"}, "")
    assert identity != other
    shown = identity.describe()
    assert shown["options"] == {"aws-region": "us-east-1"}
    assert "SECRETVALUE" not in json.dumps(shown)


def test_described_identity_holds_no_key_and_no_url_password_or_query() -> None:
    url = "https://user:hunter2@host.example/v1?key=qsecret#frag"
    shown = target_identity("openai", url, "gpt-4o", {"openai-project": "p1"}, "sk-secret").describe()
    text = json.dumps(shown)
    for secret in ("sk-secret", "hunter2", "qsecret", "user"):
        assert secret not in text
    assert shown["base_url"] == "https://host.example/v1"
    assert shown["options"] == {"openai-project": "p1"}
    assert shown["credential"] == fingerprint(["sk-secret"])


def test_a_target_without_credentials_has_no_fingerprint() -> None:
    assert fingerprint([]) == ""
    assert target_identity("openai", URL, "m", {}, "").describe()["credential"] is None


def test_long_values_are_bounded_yet_two_with_one_prefix_stay_apart() -> None:
    a = target_identity("openai", URL, "m" * 500 + "a", {}, "k")
    b = target_identity("openai", URL, "m" * 500 + "b", {}, "k")
    assert len(a.model) <= MAX_SHOWN
    assert a != b
