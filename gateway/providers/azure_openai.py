"""Azure OpenAI: OpenAI's wire format behind per-resource hosts, deployment paths and api-version.

Two URL forms, both documented by Azure:
- with ``x-portkey-azure-deployment-id``, model endpoints go to the deployment:
  ``{base}/deployments/{deployment}/chat/completions?api-version={version}``; account-level ones
  (files, batches, fine-tuning, models...) to ``{base}/{endpoint}?api-version={version}``;
- without one, the v1 API: ``{base}/v1/{endpoint}`` (the model field names the deployment).
``{base}`` is ``https://{resource}.openai.azure.com/openai``, or the custom host.
Auth: the caller's key as ``api-key``; or a Microsoft Entra ID token as ``Authorization: Bearer``,
given (``x-portkey-azure-ad-token``) or fetched for ``x-portkey-azure-auth-mode`` (``azure_auth.py``).
"""

from __future__ import annotations

import functools
import re

from yarl import URL

from gateway.errors import InvalidRequest
from gateway.providers.base import (
    AUDIO,
    CHAT,
    CHAT_CHUNK_ENDPOINTS,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGES,
    REALTIME,
    ClientBody,
    Credentials,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "REALTIME_API_VERSION",
    "SPEC",
    "AzureOpenAI",
    "checked_name",
    "with_query",
]

#: The latest generally available dated version, used with deployment URLs when none is given.
DEFAULT_API_VERSION = "2024-10-21"
#: The dated versions that serve realtime are previews; this one is used when none is given.
REALTIME_API_VERSION = "2025-04-01-preview"
#: Resource, deployment and version names end up in the URL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DEPLOYMENT_FAMILIES = frozenset({CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, AUDIO})

SPEC = ProviderSpec(
    slug="azure-openai",
    name="Azure OpenAI",
    base_url="https://{resource}.openai.azure.com/openai",
    docs="https://learn.microsoft.com/azure/ai-foundry/openai/reference",
    auth="api-key",
)


class AzureOpenAI:
    __slots__ = ()
    option_headers: tuple[str, ...] = (
        "azure-resource-name",
        "azure-deployment-id",
        "azure-api-version",
        # Microsoft Entra ID auth instead of the api-key (azure_auth.py)
        "azure-ad-token",
        "azure-auth-mode",
        "azure-entra-tenant-id",
        "azure-entra-client-id",
        "azure-entra-client-secret",
        "azure-entra-scope",
        "azure-managed-client-id",
        "azure-workload-client-id",
    )

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        """The auth waits for :func:`_authorize`: an Entra ID token may have to be fetched first."""
        url = self._url(call)
        headers: dict[str, str] = {}
        authorize = functools.partial(_authorize, headers)
        chat_chunks = call.endpoint in CHAT_CHUNK_ENDPOINTS
        return PreparedRequest(url, headers, body.payload(), chat_chunks, authorize=authorize)

    def _url(self, call: UpstreamCall) -> str:
        base = call.base_url.rstrip("/") or self._resource_base(call)
        deployment = checked_name(call, "azure-deployment-id")
        version = checked_name(call, "azure-api-version")
        if not deployment and version in ("", "v1"):
            return with_query(f"{base}/v1/{call.endpoint}", call.query, "")
        family = call.endpoint.split("/", 1)[0]
        if family == REALTIME and deployment:
            # Realtime names its deployment in the query: /openai/realtime?deployment=...
            query = _with_param(call.query, "deployment", deployment)
            return with_query(f"{base}/{call.endpoint}", query, version or REALTIME_API_VERSION)
        path = (
            f"deployments/{deployment}/{call.endpoint}"
            if deployment and family in _DEPLOYMENT_FAMILIES
            else call.endpoint
        )
        return with_query(f"{base}/{path}", call.query, version or DEFAULT_API_VERSION)

    @staticmethod
    def _resource_base(call: UpstreamCall) -> str:
        resource = checked_name(call, "azure-resource-name")
        if not resource:
            raise InvalidRequest(
                "Azure OpenAI needs the resource name: send x-portkey-azure-resource-name "
                "(or x-portkey-custom-host with the resource's /openai URL).",
                param="x-portkey-azure-resource-name",
                code="missing_azure_resource_name",
            )
        return SPEC.base_url.format(resource=resource)


async def _authorize(headers: dict[str, str], credentials: Credentials) -> None:
    """An Entra ID token as the bearer token when the options ask for one; else the key: a
    Microsoft Entra ID access token (a JWT) as a bearer token, any other key as ``api-key``."""
    token = await credentials.cloud.azure.bearer(credentials.options, credentials.base_url)
    key = credentials.api_key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif key.startswith("eyJ"):
        headers["Authorization"] = f"Bearer {key}"
    elif key:
        headers["api-key"] = key


def checked_name(call: UpstreamCall, option: str) -> str:
    """An option that goes into the URL: empty, or letters, digits, '-', '_' and '.' only."""
    value = call.options.get(option, "")
    if value and not _NAME.fullmatch(value):
        raise InvalidRequest(
            f"x-portkey-{option} {value!r} is not a valid Azure name.",
            param=f"x-portkey-{option}",
            code=f"invalid_{option.replace('-', '_')}",
        )
    return value


def with_query(url: str, query: str, version: str) -> str:
    """``url`` with the caller's query string, plus ``api-version`` unless the caller set one."""
    if version:
        query = _with_param(query, "api-version", version)
    return f"{url}?{query}" if query else url


def _with_param(query: str, name: str, value: str) -> str:
    """``query`` with ``name=value`` added unless the caller set ``name`` (``value`` is URL-safe)."""
    if name in URL.build(query_string=query).query:
        return query
    return f"{query}&{name}={value}" if query else f"{name}={value}"
