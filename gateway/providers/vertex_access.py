"""Where a Vertex AI request goes and how it is authorised, for every Vertex endpoint.

Where: ``x-portkey-vertex-project-id`` (default: the service-account key's ``project_id``) and
``x-portkey-vertex-region`` (default :data:`DEFAULT_REGION`; ``global`` is served by
``aiplatform.googleapis.com``). Auth: a ``x-portkey-vertex-service-account-json`` key is exchanged
for an access token (cached until shortly before it expires, see ``google_auth.py``); without one,
the caller's key is the access token. The key comes first, as in Portkey: the OpenAI SDKs always
send some API key, often a placeholder, when the service account is what authenticates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from gateway.errors import InvalidRequest
from gateway.providers.base import Credentials, NativeRequest, UpstreamCall
from gateway.providers.google_auth import ServiceAccountTokens

__all__ = [
    "DEFAULT_REGION",
    "PROVIDER",
    "REGIONAL_BASE",
    "VertexAuth",
    "location_path",
]

PROVIDER = "vertex-ai"
REGIONAL_BASE = "https://{region}-aiplatform.googleapis.com"
DEFAULT_REGION = "us-central1"
#: The ``global`` location has no regional host.
GLOBAL_BASE = "https://aiplatform.googleapis.com"
_SERVICE_ACCOUNT = "vertex-service-account-json"
#: Project ids (``my-project``, legacy ``example.com:my-project``) and regions go into the URL.
_NAMES = {
    "vertex-project-id": re.compile(r"[a-z0-9][a-z0-9.:-]{0,127}"),
    "vertex-region": re.compile(r"[a-z0-9][a-z0-9-]{0,62}"),
}


class VertexAuth:
    """A token for the service-account key as the bearer token; without a key, the caller's key."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: ServiceAccountTokens) -> None:
        self._tokens = tokens

    async def authorize(self, native: NativeRequest, credentials: Credentials) -> None:
        key = credentials.options.get(_SERVICE_ACCOUNT, "")
        token = credentials.api_key
        if key:
            token = await self._tokens.token(credentials.session, key, check_url=credentials.check_url)
        elif not token:
            raise InvalidRequest(
                "Vertex AI needs credentials: send a service-account key in "
                "x-portkey-vertex-service-account-json, or an OAuth2 access token as the API key.",
                param="x-portkey-vertex-service-account-json",
                code="missing_vertex_credentials",
            )
        native.headers["Authorization"] = f"Bearer {token}"


def location_path(call: UpstreamCall) -> str:
    """``{base}/v1/projects/{project}/locations/{region}``; a 400 for a missing project or a name
    that cannot go into a URL."""
    region = _checked(call.options, "vertex-region") or DEFAULT_REGION
    project = _checked(call.options, "vertex-project-id") or _key_project(call.options)
    if not project:
        raise InvalidRequest(
            "Vertex AI needs the Google Cloud project: send x-portkey-vertex-project-id "
            "(or a service-account key with a project_id).",
            param="x-portkey-vertex-project-id",
            code="missing_vertex_project_id",
        )
    host = GLOBAL_BASE if region == "global" else REGIONAL_BASE.format(region=region)
    base = call.base_url.rstrip("/") or host
    return f"{base}/v1/projects/{project}/locations/{region}"


def _checked(options: Mapping[str, str], option: str, value: str | None = None) -> str:
    """``option``'s value (or ``value`` given for it): empty, or a name Google allows there."""
    value = options.get(option, "") if value is None else value
    if value and not _NAMES[option].fullmatch(value):
        raise InvalidRequest(
            f"x-portkey-{option} {value!r} is not a valid Google Cloud name.",
            param=f"x-portkey-{option}",
            code=f"invalid_{option.replace('-', '_')}",
        )
    return value


def _key_project(options: Mapping[str, str]) -> str:
    """The ``project_id`` of the service-account key, if one was given (an unusable key is reported
    when it is exchanged for a token, never quoted here)."""
    try:
        key = orjson.loads(options.get(_SERVICE_ACCOUNT) or "{}")
    except orjson.JSONDecodeError:
        return ""
    project = key.get("project_id") if isinstance(key, dict) else None
    return _checked(options, "vertex-project-id", project) if isinstance(project, str) else ""
