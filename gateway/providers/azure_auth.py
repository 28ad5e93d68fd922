"""Microsoft Entra ID access tokens for Azure OpenAI: Portkey's ``x-portkey-azure-auth-mode``.

- ``entra``: the caller's app registration (tenant, client id, client secret) → the client-credentials
  grant at ``{authority_host}/{tenant}/oauth2/v2.0/token``;
- ``managed``: the gateway's own managed identity → ``GET {managed_identity_endpoint}`` (IMDS);
- ``workload``: the gateway's own workload identity (AKS) → its federated token file as the client
  assertion at the same token endpoint as ``entra``.

The gateway's own identities are off unless the operator turns them on, are limited to the resource
names the operator lists, and their tokens never go to a caller's custom host. Tokens are cached
until 5 minutes before they expire, keyed by a digest of everything that identifies the credential
(the client secret included), so two callers' credentials never share a token. No error or log line
carries a secret, a token or the token endpoint's own words (which can quote the request).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import orjson

from gateway.config.cloud import AzureSettings
from gateway.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PermissionDenied,
    UpstreamBroken,
    UpstreamUnreachable,
)
from gateway.upstream.expiring import Expiring, ExpiringCache, access_token

__all__ = [
    "AzureTokens",
]

MODES = ("entra", "managed", "workload")
DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: IMDS names a resource, not a scope: the scope without its ``.default``.
_IMDS_API_VERSION = "2018-02-01"
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_REFRESH_MARGIN = 300.0
_MODE = "azure-auth-mode"


class AzureTokens:
    """Bearer tokens for Azure OpenAI requests, by auth mode; one per process (``CloudAuth``)."""

    __slots__ = ("_operator_base_url", "_session", "_settings", "_tokens")

    def __init__(
        self, settings: AzureSettings, operator_base_url: str, session: aiohttp.ClientSession
    ) -> None:
        self._settings = settings
        #: ``[providers.azure-openai] base_url``: the one base URL besides Azure's own that the
        #: gateway's own tokens may go to (a caller's custom host never may).
        self._operator_base_url = operator_base_url
        self._session = session
        self._tokens: ExpiringCache[str] = ExpiringCache(margin=_REFRESH_MARGIN)

    async def bearer(self, options: Mapping[str, str], base_url: str) -> str | None:
        """The bearer token the request's options call for; ``None``: none (the api-key is used).

        ``x-portkey-azure-ad-token`` is used as given; an auth mode fetches (or reuses) a token.
        ``base_url`` is where the request goes (``""``: Azure's own host). Raises InvalidRequest for a
        missing or bad option, PermissionDenied for an own identity the settings do not lend,
        AuthenticationFailed when Entra ID refuses, UpstreamUnreachable/UpstreamBroken when its
        endpoint cannot be reached or answers nonsense.
        """
        ad_token = options.get("azure-ad-token", "")
        if ad_token:
            return ad_token.removeprefix("Bearer ").strip()
        mode = options.get(_MODE, "")
        if not mode:
            return None
        scope = options.get("azure-entra-scope", "") or DEFAULT_SCOPE
        if mode == "entra":
            return await self._entra(options, scope)
        if mode not in ("managed", "workload"):
            raise InvalidRequest(
                f"x-portkey-azure-auth-mode must be one of {', '.join(MODES)}.",
                param="x-portkey-azure-auth-mode",
            )
        self._check_own_identity(mode, options, base_url)
        if mode == "managed":
            return await self._managed(options.get("azure-managed-client-id", ""), scope)
        return await self._workload(options.get("azure-workload-client-id", ""), scope)

    async def _entra(self, options: Mapping[str, str], scope: str) -> str:
        names = ("azure-entra-tenant-id", "azure-entra-client-id", "azure-entra-client-secret")
        tenant, client_id, secret = (options.get(name, "") for name in names)
        missing = [
            f"x-portkey-{name}"
            for name, value in zip(names, (tenant, client_id, secret), strict=True)
            if not value
        ]
        if missing:
            raise InvalidRequest(
                f"x-portkey-azure-auth-mode entra needs {', '.join(missing)} (or their config keys).",
                param=missing[0],
                code="missing_azure_credentials",
            )
        form = {
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
            "grant_type": "client_credentials",
        }
        url = self._token_url(tenant, "x-portkey-azure-entra-tenant-id")
        return await self._tokens.get(
            _key("entra", tenant, client_id, secret, scope), lambda: self._post(url, form)
        )

    async def _managed(self, client_id: str, scope: str) -> str:
        query = {"api-version": _IMDS_API_VERSION, "resource": scope.removesuffix(".default")}
        if client_id:
            query["client_id"] = client_id

        async def fetch() -> Expiring[str]:
            url = self._settings.managed_identity_endpoint
            headers = {"Metadata": "true"}  # IMDS refuses requests without it (a proxy would not add it)
            return await _token_answer(
                self._session, "managed identity", "GET", url, params=query, headers=headers
            )

        return await self._tokens.get(_key("managed", client_id, scope), fetch)

    async def _workload(self, client_id: str, scope: str) -> str:
        settings = self._settings
        client_id = client_id or settings.client_id
        if not (settings.tenant_id and client_id and settings.federated_token_file):
            raise PermissionDenied(
                "x-portkey-azure-auth-mode workload: the gateway's workload identity is not configured "
                "(azure.tenant_id, azure.client_id, azure.federated_token_file).",
                param="x-portkey-azure-auth-mode",
                code="azure_identity_not_configured",
            )
        url = self._token_url(settings.tenant_id, "x-portkey-azure-auth-mode")

        async def fetch() -> Expiring[str]:
            form = {
                "client_id": client_id,
                "client_assertion": _federated_token(settings.federated_token_file),
                "client_assertion_type": ASSERTION_TYPE,
                "scope": scope,
                "grant_type": "client_credentials",
            }
            return await self._post(url, form)

        return await self._tokens.get(_key("workload", client_id, scope), fetch)

    def _check_own_identity(self, mode: str, options: Mapping[str, str], base_url: str) -> None:
        """The gateway's own identity is lent only where the operator said: a caller must not be
        able to borrow it at will, nor have its token sent to a host of their choosing."""
        settings = self._settings
        enabled = settings.managed_identity if mode == "managed" else settings.workload_identity
        where = "x-portkey-azure-auth-mode"
        if not enabled:
            setting = "azure.managed_identity" if mode == "managed" else "azure.workload_identity"
            raise PermissionDenied(
                f"{where} {mode} uses the gateway's own Azure identity, which this gateway does not lend "
                f"(the operator turns it on with {setting}).",
                param=where,
                code="azure_identity_not_allowed",
            )
        if base_url and base_url != self._operator_base_url:
            raise PermissionDenied(
                f"{where} {mode}: the gateway's own Azure identity is not sent to a custom host.",
                param="x-portkey-custom-host",
                code="azure_identity_not_allowed",
            )
        resource = options.get("azure-resource-name", "")
        if settings.identity_resources and resource not in settings.identity_resources:
            raise PermissionDenied(
                f"{where} {mode}: the gateway's own Azure identity is not lent for this resource "
                "(x-portkey-azure-resource-name is not in azure.identity_resources).",
                param="x-portkey-azure-resource-name",
                code="azure_identity_not_allowed",
            )

    def _token_url(self, tenant: str, param: str) -> str:
        # The tenant goes into the path: a GUID or a domain name, nothing that could change the URL.
        if not tenant.replace("-", "").replace(".", "").isalnum() or len(tenant) > 128:
            raise InvalidRequest(f"{param} is not an Entra ID tenant id or domain.", param=param)
        return f"{self._settings.authority_host.rstrip('/')}/{tenant}/oauth2/v2.0/token"

    async def _post(self, url: str, form: dict[str, str]) -> Expiring[str]:
        return await _token_answer(self._session, "Entra ID", "POST", url, data=form)


def _key(*parts: str) -> str:
    """The cache key of a credential: a digest, so the cache never holds the secret itself."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _federated_token(path: str) -> str:
    # Read on every fetch (misses only): the kubelet rotates the file's token.
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise UpstreamBroken(
            f"The gateway's workload identity token file (azure.federated_token_file) cannot be read "
            f"({type(exc).__name__})."
        ) from None


async def _token_answer(
    session: aiohttp.ClientSession,
    who: str,
    method: str,
    url: str,
    *,
    data: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Expiring[str]:
    """The access token and its lifetime from a token endpoint (redirects never followed)."""
    try:
        async with session.request(
            method, url, data=data, params=params, headers=headers, timeout=_TIMEOUT, allow_redirects=False
        ) as response:
            status, body = response.status, await response.read()
    except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
        raise UpstreamUnreachable(
            f"The Azure {who} token endpoint could not be reached ({type(exc).__name__})."
        ) from None
    if 300 <= status < 400:
        raise UpstreamBroken(
            f"The Azure {who} token endpoint answered with a redirect (HTTP {status}), which is not followed."
        )
    if status in (400, 401, 403):
        # Entra's error_description can quote the request: only its error code is passed on.
        raise AuthenticationFailed(
            f"Azure {who} refused the token request (HTTP {status}, {_error_code(body)}).",
            code="azure_auth_failed",
        )
    if status != 200:
        raise UpstreamBroken(f"The Azure {who} token endpoint failed (HTTP {status}).")
    return access_token(body, f"Azure {who}")


def _error_code(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    # Entra's codes are short identifiers (invalid_client); anything else is not echoed.
    return (
        error
        if isinstance(error, str) and error.replace("_", "").isalnum() and len(error) < 64
        else "no error code"
    )
