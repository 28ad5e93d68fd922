"""OpenAI-format providers whose base URL is built from provider options, or is the caller's own.

A catalog row's ``base_url`` may name options in braces:
``https://{snowflake-account}.snowflakecomputing.com/api/v2/cortex/v1`` is filled from
``x-portkey-snowflake-account`` (or the config key ``snowflake_account``). A value lands in the
host or in one path segment, so it is checked against a strict character set first: a host
value takes DNS labels joined by single dots, a path value letters, digits, ``_`` and ``-``;
neither can hold ``/``, ``@``, ``:``, ``?``, ``#`` or ``..``, so no value can move the request to
another path, nor out of the provider's domain (a host placeholder is always followed by it: a row
whose whole host is the caller's takes it as a custom host, through the SSRF guard). A missing or
refused value is a 400 naming the header; nothing is sent.

A custom host replaces the whole base URL (the options are then not needed), as in Portkey; an
operator's settings ``base_url`` may hold the same placeholders (a proxy in front of the
provider). A row without a base URL (a provider that runs on the caller's own host) needs a
custom host. Rows whose URL is fixed stay on :class:`OpenAICompatible`: this class costs a
``dataclasses.replace`` per request, only for the rows that need it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from collections.abc import Mapping

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, PreparedRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS

__all__ = [
    "HOST_NAME",
    "PATH_SEGMENT",
    "OptionURL",
    "UrlTemplate",
    "needs_options",
    "parse_template",
]

#: DNS labels joined by single dots (a Snowflake ``locator.region.cloud``), no leading dot.
HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|\.(?=[A-Za-z0-9])){0,252}")
#: One path segment: no dot at all, so never ``.`` or ``..``.
PATH_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def needs_options(spec: ProviderSpec) -> bool:
    """Whether the row's URL comes from options or the caller (this module serves it then)."""
    return not spec.base_url or "{" in spec.base_url


@dataclasses.dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A base URL with ``{option}`` placeholders, split once into literal text and slots."""

    #: (literal text, option or ``""`` at the end, whether the option lands in the host).
    pieces: tuple[tuple[str, str, bool], ...]

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(option for _, option, _ in self.pieces if option))

    def fill(self, options: Mapping[str, str], provider: str) -> str:
        """The URL with every placeholder filled; a 400 naming the header of a value that is
        missing or outside its character set (the value itself is never repeated)."""
        parts = []
        for literal, option, in_host in self.pieces:
            parts.append(literal)
            if option:
                parts.append(_checked(options.get(option, ""), option, in_host, provider))
        return "".join(parts)


@functools.lru_cache(maxsize=64)
def parse_template(text: str) -> UrlTemplate:
    """``text`` split into its pieces (cached: settings base URLs are a handful of strings)."""
    authority_end = text.find("/", text.find("://") + 3) if "://" in text else 0
    pieces = []
    position = 0
    for literal, field, _, _ in string.Formatter().parse(text):
        position += len(literal)
        pieces.append((literal, field or "", authority_end < 0 or position < authority_end))
        position += len(field or "") + (2 if field is not None else 0)
    return UrlTemplate(tuple(pieces))


def _checked(value: str, option: str, in_host: bool, provider: str) -> str:
    header = f"x-portkey-{option}"
    if not value:
        raise InvalidRequest(
            f"Provider {provider} needs {header} (config key {option.replace('-', '_')}), "
            "or x-portkey-custom-host with the full base URL.",
            param=header,
            code=f"missing_{option.replace('-', '_')}",
        )
    pattern, allowed = (
        (HOST_NAME, "letters, digits, '-' and single dots")
        if in_host
        else (PATH_SEGMENT, "letters, digits, '_' and '-'")
    )
    if pattern.fullmatch(value) is None:
        raise InvalidRequest(
            f"{header} for provider {provider} may hold only {allowed} (it names part of the "
            "provider's URL).",
            param=header,
            code="invalid_provider_option",
        )
    return value


class OptionURL(OpenAICompatible):
    """:class:`OpenAICompatible` with the base URL filled from options, and the client headers
    the row's ``passed_headers`` names sent on as they came (a provider's own second credential,
    such as Modal's ``Modal-Key``: the caller sent it for this provider)."""

    __slots__ = ("_passed", "_template", "option_headers")

    def __init__(self, spec: ProviderSpec) -> None:
        super().__init__(spec)
        self._template = parse_template(spec.base_url)
        self._passed = spec.passed_headers
        self.option_headers = OPENAI_OPTIONS + self._template.options

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        base = call.base_url or self._spec.base_url
        if not base:
            raise InvalidRequest(
                f"Provider {self._spec.slug} runs on your own host: send x-portkey-custom-host "
                "(or a config target's custom_host) with its base URL.",
                param="x-portkey-custom-host",
                code="missing_custom_host",
            )
        if "{" in base:
            template = self._template if base is self._spec.base_url else parse_template(base)
            base = template.fill(call.options, self._spec.slug)
        prepared = super().prepare(dataclasses.replace(call, base_url=base), body)
        for name in self._passed:
            if value := call.client_headers.get(name):
                prepared.headers[name] = value
        return prepared
