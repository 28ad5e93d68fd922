"""The gateway's one error hierarchy, OpenAI-shaped at the edge.

Every error the gateway itself produces becomes ``{"error": {"message", "type", "param", "code"}}``
with a matching HTTP status, so every OpenAI SDK raises the exception its users already handle
(``BadRequestError`` for 400, ``NotFoundError`` for 404, ...).
"""

from __future__ import annotations

import orjson

__all__ = [
    "AttemptTimedOut",
    "AuthenticationFailed",
    "BodyTimeout",
    "BudgetExceeded",
    "GatewayError",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProviderError",
    "RateLimited",
    "RequestTimeout",
    "ServiceUnavailable",
    "UnsupportedMediaType",
    "UpstreamBroken",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "error_body",
    "provider_error_type",
]


class GatewayError(Exception):
    """An error answered to the client as an OpenAI-style error body with ``status``."""

    status = 500
    type = "api_error"
    code: str | None = None
    #: The connection cannot carry another request after this answer (a body left half-read).
    closes_connection = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str | None]]:
        return error_body(self.message, self.type, self.param, self.code)

    def to_json(self) -> bytes:
        return orjson.dumps(self.body())


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, dict[str, str | None]]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    """The caller's own deadline (``x-portkey-request-timeout``) passed."""

    status = 408
    type = "timeout_error"
    code = "request_timeout"


class AttemptTimedOut(RequestTimeout):
    """One attempt passed its routing config's ``request_timeout``: Portkey's 408, a status that
    ``retry.on_status_codes`` and ``strategy.on_status_codes`` can name."""


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class BudgetExceeded(GatewayError):
    """The caller's gateway key spent its budget for a period (``limits/budgets.py``). OpenAI's
    type for money run out, so every SDK raises its 429 error."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class UnsupportedMediaType(GatewayError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class RateLimited(GatewayError):
    """A gateway key's rate limit refused the request before any upstream byte. ``type`` is
    OpenAI's: ``requests`` or ``tokens``."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"


class UpstreamUnreachable(GatewayError):
    """The provider could not be reached (DNS, refused connection, TLS, reset before a response)."""

    status = 502
    type = "api_error"
    code = "upstream_unreachable"


class UpstreamBroken(GatewayError):
    """The provider answered, then broke off (connection cut, malformed framing)."""

    status = 502
    type = "api_error"
    code = "upstream_error"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "api_error"
    code = "service_unavailable"


class Overloaded(ServiceUnavailable):
    """Shed by admission control (too many requests in flight, a late event loop, too many body
    bytes held): the request did nothing, so the caller may retry after ``Retry-After``."""

    code = "overloaded"


class BodyTimeout(GatewayError):
    """The client's body did not arrive in time; the connection is closed after the answer."""

    status = 408
    type = "timeout_error"
    code = "body_timeout"
    closes_connection = True


class UpstreamTimeout(GatewayError):
    """A gateway-side timeout (connect, idle gap between bytes, total) passed."""

    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


#: OpenAI error types by status, so every OpenAI SDK raises the exception its users handle.
PROVIDER_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def provider_error_type(status: int) -> str:
    """The OpenAI error type for a provider's ``status`` (``api_error`` for any other)."""
    return PROVIDER_ERROR_TYPES.get(status, "api_error")


class ProviderError(GatewayError):
    """An error a translated provider reported, in OpenAI's shape, with the provider's status."""

    def __init__(self, provider: str, status: int, message: str, code: str | None = None) -> None:
        super().__init__(f"{provider}: {message}", code=code, status=status)
        self.type = provider_error_type(status)
