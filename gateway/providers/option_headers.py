"""Provider options that the provider's own API reads as request headers.

Portkey callers set these as ``x-portkey-openai-beta``, ``x-portkey-anthropic-version``... or as
config target keys (``openai_organization``, ``anthropic_beta``...); an adapter that lists them in
its ``option_headers`` gets them in ``Target.options`` (config key over header over settings, see
``routing/target.py``), and the upstream request carries them under the provider's header name.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "sent_as_headers",
]

#: The options every OpenAI-format provider takes (OpenAI's account scoping and beta selection).
OPENAI = ("openai-organization", "openai-project", "openai-beta")
#: Anthropic's API version and beta features.
ANTHROPIC = ("anthropic-beta", "anthropic-version")

_HEADER_NAMES = {
    "openai-organization": "OpenAI-Organization",
    "openai-project": "OpenAI-Project",
    "openai-beta": "OpenAI-Beta",
    "anthropic-beta": "anthropic-beta",
    "anthropic-version": "anthropic-version",
}


def sent_as_headers(options: Mapping[str, str]) -> dict[str, str]:
    """The upstream headers for the options in ``options`` that are headers of the provider's API
    (the others, such as an Azure deployment or AWS keys, shape the URL or the signature)."""
    return {_HEADER_NAMES[name]: value for name, value in options.items() if value and name in _HEADER_NAMES}
