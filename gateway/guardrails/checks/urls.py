"""``default.validUrls``: every URL in the answer works (``onlyDNS``: its host name resolves).

URLs come from model output, so the model chooses where the gateway connects. Each URL is vetted
by the host policy before anything is sent (the same rules as custom hosts) and fetched only
through the gateway's upstream session, whose connector checks the address actually dialled; a
refused URL counts as invalid, with the reason in ``data.reasons``. At most
:data:`MAX_URLS` distinct URLs are checked (Portkey fetches every one): an answer with more
cannot be decided. URLs are reported and fetched without userinfo (``user:password@``).

A URL works when a ``HEAD`` answers 2xx or 3xx within the services' timeout. The session follows
no redirect (each hop would need vetting again), so a redirect counts as working; Portkey's
``fetch`` follows it and judges the last answer. Portkey's DNS mode asks a public
DNS-over-HTTPS server; this one asks the event loop's resolver.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import aiohttp
from yarl import URL

from gateway.config.regex import compile_regex
from gateway.guardrails.check import AFTER_REQUEST, CheckResult, CheckServices, CheckSpec, HookContext
from gateway.guardrails.checks import parameters
from gateway.guardrails.checks.report import excerpt, undecided
from gateway.guardrails.text import text_of
from gateway.upstream.hostpolicy import AddressRefused

__all__ = [
    "MAX_URLS",
    "SPECS",
]

#: Most URLs checked per answer (each is a request or a lookup, concurrently).
MAX_URLS = 20


class _Finder(Protocol):
    def findall(self, text: str) -> list[str]: ...


#: Portkey's pattern: http(s):// then anything up to a space, comma, quote, brace or bracket.
_URL = cast(_Finder, compile_regex(r"""https?://[^\s,"'{}\[\]]+"""))


@dataclass(frozen=True, slots=True)
class ValidUrls:
    only_dns: bool
    invert: bool


def prepare(params: Mapping[str, Any]) -> ValidUrls:
    return ValidUrls(parameters.flag(params, "onlyDNS"), parameters.flag(params, "not"))


async def run(context: HookContext, prepared: ValidUrls) -> CheckResult:
    """Passes when every URL works (``not``: when none does). No URL fails, whatever ``not``
    says (as in Portkey); no text, no services or too many URLs cannot be decided."""
    text, invert = text_of(context), prepared.invert
    method = "DNS lookup" if prepared.only_dns else "HTTP request"
    details = {"validationMethod": method, "not": invert}
    if not text:
        return undecided("Missing text to analyze", "An error occurred while validating URLs", text, details)
    urls = list(dict.fromkeys(_without_userinfo(url) for url in _URL.findall(text)))
    problem = _unchecked(urls, context.services)
    if problem is not None:
        return undecided(problem, "An error occurred while validating URLs", text, details)
    if not urls:
        data = {
            "explanation": "No URLs found in the text.",
            "urls": [],
            **details,
            "textExcerpt": excerpt(text),
        }
        return CheckResult(verdict=False, data=data)
    assert context.services is not None
    check = _resolves if prepared.only_dns else _answers
    reasons = await asyncio.gather(*(check(url, context.services) for url in urls))
    return _result(urls, reasons, prepared, details, text)


def _unchecked(urls: list[str], services: CheckServices | None) -> str | None:
    if len(urls) > MAX_URLS:
        return f"The text has {len(urls)} distinct URLs; at most {MAX_URLS} are checked"
    if urls and services is None:
        return "No network services to check URLs with"
    return None


def _result(
    urls: list[str], reasons: list[str | None], prepared: ValidUrls, details: dict[str, Any], text: str
) -> CheckResult:
    valid = [url for url, reason in zip(urls, reasons, strict=True) if reason is None]
    invalid = [url for url, reason in zip(urls, reasons, strict=True) if reason is not None]
    verdict = (not invalid) != prepared.invert
    if verdict:
        explanation = (
            f"All URLs are invalid as expected ({len(invalid)} of {len(urls)})."
            if prepared.invert
            else f"All URLs are valid ({len(valid)} found)."
        )
    else:
        explanation = (
            f"Some URLs are valid when they should all be invalid ({len(valid)} of {len(urls)})."
            if prepared.invert
            else f"Some URLs are invalid ({len(invalid)} of {len(urls)} failed)."
        )
    data = {"verdict": verdict, "not": prepared.invert, "explanation": explanation}
    data |= {
        "validUrls": valid,
        "invalidUrls": invalid,
        "reasons": {url: why for url, why in zip(urls, reasons, strict=True) if why},
    }
    return CheckResult(verdict=verdict, data={**data, **details, "textExcerpt": excerpt(text)})


def _without_userinfo(url: str) -> str:
    try:
        return str(URL(url).with_user(None))
    except ValueError:
        return url  # not a URL yarl can read: it fails the policy below, as written


def _refusal(url: str, services: CheckServices) -> tuple[URL | None, str | None]:
    """The parsed URL, or why it may not be called."""
    try:
        parsed = URL(url)
    except ValueError:
        return None, "not a URL"
    if not parsed.host:
        return None, "not a URL"
    reason = services.host_policy.refusal(parsed.host, parsed.port)
    return (parsed, None) if reason is None else (None, f"refused: {reason}")


async def _answers(url: str, services: CheckServices) -> str | None:
    """``None`` when a HEAD of ``url`` answers 2xx or 3xx, else why not."""
    parsed, reason = _refusal(url, services)
    if parsed is None:
        return reason
    timeout = aiohttp.ClientTimeout(total=services.timeout)
    try:
        async with services.session.head(parsed, allow_redirects=False, timeout=timeout) as response:
            return None if response.status < 400 else f"answered {response.status}"
    except AddressRefused as exc:
        return f"refused: {exc}"
    except TimeoutError:
        return "timed out"
    except (aiohttp.ClientError, OSError, ValueError):
        return "unreachable"


async def _resolves(url: str, services: CheckServices) -> str | None:
    """``None`` when ``url``'s host name resolves, else why not."""
    parsed, reason = _refusal(url, services)
    if parsed is None:
        return reason
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(services.timeout):
            found = await loop.getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM)
    except TimeoutError:
        return "timed out"
    except (OSError, UnicodeError):
        return "does not resolve"
    return None if found else "does not resolve"


SPECS = (CheckSpec("default.validUrls", prepare, run_async=run, events=frozenset({AFTER_REQUEST})),)
