"""Which targets serve Anthropic's Messages API in its own format (the inbound-format hook)."""

from __future__ import annotations

import pytest

from gateway.providers.registry import ProviderRegistry
from gateway.providers.translated import serves_natively


@pytest.mark.parametrize(
    ("provider", "endpoint", "model", "native"),
    [
        ("anthropic", "messages", "claude-sonnet-4-5", True),
        ("anthropic", "messages/count_tokens", "claude-sonnet-4-5", True),
        ("bedrock", "messages", "anthropic.claude-3-5-sonnet-20240620-v1:0", True),
        ("bedrock", "messages", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("bedrock", "messages", "meta.llama3-70b-instruct-v1:0", False),
        ("bedrock", "messages/count_tokens", "anthropic.claude-3-5-sonnet-20240620-v1:0", True),
        ("bedrock", "messages/count_tokens", "meta.llama3-70b-instruct-v1:0", False),
        ("vertex-ai", "messages/count_tokens", "claude-sonnet-4@20250514", True),
        ("vertex-ai", "messages/count_tokens", "gemini-2.0-flash", True),
        ("google", "messages/count_tokens", "gemini-2.0-flash", True),
        ("cohere", "messages/count_tokens", "command-a-03-2025", False),
        ("openai", "messages/count_tokens", "gpt-4o", False),
        ("vertex-ai", "messages", "claude-sonnet-4@20250514", True),
        ("vertex-ai", "messages", "gemini-2.0-flash", False),
        ("openai", "messages", "gpt-4o", False),
        ("google", "messages", "gemini-2.0-flash", False),
        ("anthropic", "chat/completions", "claude-sonnet-4-5", False),
    ],
)
def test_messages_are_native_only_where_the_provider_speaks_them(
    provider: str, endpoint: str, model: str, native: bool
) -> None:
    adapter = ProviderRegistry.default().get(provider)
    assert serves_natively(adapter, endpoint, model) is native
