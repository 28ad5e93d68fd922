"""Provider options that travel as the provider's own request headers."""

from __future__ import annotations

from gateway.providers.option_headers import ANTHROPIC, OPENAI, sent_as_headers


def test_openai_and_anthropic_options_get_the_providers_header_names() -> None:
    options = {"openai-organization": "org-1", "openai-project": "proj-1", "openai-beta": "assistants=v2"}
    assert sent_as_headers(options) == {
        "OpenAI-Organization": "org-1",
        "OpenAI-Project": "proj-1",
        "OpenAI-Beta": "assistants=v2",
    }
    assert sent_as_headers({"anthropic-version": "2023-06-01", "anthropic-beta": "x"}) == {
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "x",
    }


def test_options_that_shape_the_url_or_signature_and_empty_values_are_not_headers() -> None:
    options = {"azure-deployment-id": "d", "aws-region": "us-east-1", "openai-project": ""}
    assert sent_as_headers(options) == {}


def test_every_listed_option_has_a_header_name() -> None:
    assert set(sent_as_headers(dict.fromkeys(OPENAI + ANTHROPIC, "v"))) == {
        "OpenAI-Organization",
        "OpenAI-Project",
        "OpenAI-Beta",
        "anthropic-beta",
        "anthropic-version",
    }
