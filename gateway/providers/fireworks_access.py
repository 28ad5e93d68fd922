"""Where Fireworks AI's account API is for a request, and its auth: the pieces
``fireworks_files.py`` and ``fireworks_batches.py`` share.

The account API lives at ``https://api.fireworks.ai/v1/accounts/{account_id}``, the account named
by ``x-portkey-fireworks-account-id`` (config key ``fireworks_account_id``), as in Portkey. A custom
host (or a settings base URL) given for inference, ``http://host:port/inference/v1``, serves both:
the account API is taken at ``http://host:port/v1/accounts/{account_id}`` (a custom host without
the ``/inference/v1`` ending is taken as the origin itself). Every id that goes into a URL is
checked first: Fireworks resource ids are lowercase letters, digits and hyphens, 63 at most.
"""

from __future__ import annotations

import re

from gateway.errors import InvalidRequest
from gateway.providers.base import Credentials, NativeRequest, UpstreamCall

__all__ = [
    "ACCOUNT",
    "PROVIDER",
    "AccountAuth",
    "account_base",
    "account_id",
    "resource_id",
]

PROVIDER = "fireworks-ai"
ACCOUNT = "fireworks-account-id"
ORIGIN = "https://api.fireworks.ai"
_INFERENCE = "/inference/v1"
_RESOURCE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def account_id(call: UpstreamCall) -> str:
    """The checked account id; a 400 naming its header when it is missing or not an account id."""
    value = call.options.get(ACCOUNT, "")
    if not value:
        raise InvalidRequest(
            "Fireworks files and batches belong to an account: send x-portkey-fireworks-account-id "
            "(config key fireworks_account_id).",
            param=f"x-portkey-{ACCOUNT}",
            code="missing_fireworks_account_id",
        )
    return resource_id(value, f"x-portkey-{ACCOUNT}", "account")


def account_base(call: UpstreamCall) -> str:
    """``{origin}/v1/accounts/{account}``: the origin is Fireworks' own, or the custom host's
    (its ``/inference/v1`` ending, the inference base's, dropped)."""
    account = account_id(call)
    origin = call.base_url.rstrip("/").removesuffix(_INFERENCE) if call.base_url else ORIGIN
    return f"{origin}/v1/accounts/{account}"


def resource_id(value: str, param: str, what: str) -> str:
    """``value`` if it is a Fireworks resource id; a 400 naming ``param`` otherwise."""
    if not _RESOURCE_ID.fullmatch(value):
        raise InvalidRequest(
            f"{param} is not a Fireworks {what} id (lowercase letters, digits and '-', 63 at most).",
            param=param,
            code=f"invalid_{what.replace(' ', '_')}_id",
        )
    return value


class AccountAuth:
    """The account API's auth: the caller's key as a bearer token (none: Fireworks' 401)."""

    __slots__ = ()

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        if credentials.api_key:
            native.headers["Authorization"] = f"Bearer {credentials.api_key}"
