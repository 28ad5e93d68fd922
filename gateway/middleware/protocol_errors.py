"""HTTP requests too malformed to reach a handler: an OpenAI-shaped answer, one log line, no echo.

aiohttp answers a request its parser refuses (a bad header, CL and TE together, an oversized line,
a bad method or version) in its ``RequestHandler.handle_error``: in text/plain with the offending
line, which can hold ``Authorization: Bearer <key>``, and it logs the same with a traceback each
time. No middleware runs for such a request, so the replacement lives in the connection's handler:
:class:`GatewayRequestHandler`, the base of the connection handler ``middleware/protocol.py`` makes
every server of the application use.
"""

from __future__ import annotations

import logging
import re

from aiohttp import http_exceptions, web

from gateway.errors import error_body

__all__ = [
    "GatewayRequestHandler",
]

logger = logging.getLogger("gateway.protocol")

#: What the client is told for the parser's errors it names, in place of aiohttp's message.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "the request line or a header is longer than this gateway accepts"),
    (http_exceptions.BadHttpMethod, "the request method is not valid"),
    (http_exceptions.BadStatusLine, "the request line or its HTTP version is not valid"),
    (http_exceptions.InvalidHeader, "a header is not valid"),
    (http_exceptions.InvalidURLError, "the request target is not valid"),
    (http_exceptions.ContentLengthError, "the body does not match its Content-Length"),
    (http_exceptions.TransferEncodingError, "the body's transfer encoding is not valid"),
)


#: Where the parser starts quoting (``b'...'``, ``'...'``): an apostrophe inside a word is text.
_QUOTED = re.compile(r"""(?:^|\s)b?['"]""")


class GatewayRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with errors answered OpenAI-shaped and logged without values."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request that failed outside the application: always JSON, the
        connection closed after it (as aiohttp does). ``message`` (aiohttp's, which quotes the
        offending line) is never used."""
        if request.writer.output_size > 0:
            # Part of an answer went out already: nothing sane can follow it (aiohttp's contract).
            raise ConnectionError("Response is sent already, cannot send another response")
        if isinstance(exc, http_exceptions.HttpProcessingError):
            status, reason = _refusal(exc)
            # A port scanner or TLS client on the first request is noise, not news.
            first_bad_method = isinstance(exc, http_exceptions.BadHttpMethod) and self._request_count == 1
            level = logging.DEBUG if first_bad_method else logging.WARNING
            logger.log(level, "bad HTTP request from %s: %s", request.remote, reason)
            message, type_, code = (
                f"Malformed HTTP request: {reason}.",
                "invalid_request_error",
                "bad_request",
            )
        else:
            # The application failed outside its error middleware (or timed out): a gateway bug.
            logger.error("request from %s failed outside the application", request.remote, exc_info=exc)
            message, type_, code = "The gateway failed to handle this request.", "api_error", "internal_error"
        response = web.json_response(error_body(message, type_, None, code), status=status)
        response.force_close()
        return response


def _refusal(exc: http_exceptions.HttpProcessingError) -> tuple[int, str]:
    """The status and the reason to give for a parser error, neither taken from the request."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return (413 if kind is http_exceptions.LineTooLong else 400), reason
    return 400, _first_words(exc.message)


def _first_words(message: str) -> str:
    """The parser's reason up to where it starts quoting the request (``Invalid header value
    char:\\n\\n  b'Authorization: ...'``): the first line, cut at a colon or a quote."""
    head = _QUOTED.split(message.partition("\n")[0].partition(":")[0])[0]
    return head.strip()[:100] or "the request could not be parsed"
