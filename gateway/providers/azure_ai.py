"""Azure AI Foundry models (the Azure AI model inference API): OpenAI's wire format at a URL the
caller gives, with Azure's routing headers.

The base URL is ``x-portkey-azure-foundry-url`` (config key ``azure_foundry_url``): a Foundry models
endpoint (``https://{resource}.services.ai.azure.com/models``), a serverless API endpoint
(``https://{name}.{region}.models.ai.azure.com``) or a managed online endpoint. Routing checks it
with the SSRF guard as it checks a custom host (``ProviderSpec.host_option``); a custom host wins
over it. The request path is OpenAI's (``/chat/completions``), with ``api-version`` from
``x-portkey-azure-api-version``; ``extra-parameters`` (what the service does with fields its API
does not define) is ``x-portkey-azure-extra-params``, ``drop`` when not given, as Portkey sends;
``azureml-model-deployment`` is ``x-portkey-azure-deployment-name`` (endpoints with several
deployments). Auth: a Microsoft Entra ID token (given, or fetched for ``x-portkey-azure-auth-mode``
by ``azure_auth.py``) or else the key, as ``Authorization: Bearer``, as Portkey sends both.
API reference: https://learn.microsoft.com/azure/ai-foundry/model-inference/reference/reference-model-inference-api
"""

from __future__ import annotations

import functools

from gateway.errors import InvalidRequest
from gateway.providers.azure_openai import AzureOpenAI, checked_name, with_query
from gateway.providers.base import (
    AUDIO,
    CHAT,
    CHAT_CHUNK_ENDPOINTS,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGES,
    ClientBody,
    Credentials,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)

__all__ = [
    "SPEC",
    "AzureAI",
]

_FOUNDRY_URL = "azure-foundry-url"
_ENTRA_OPTIONS = ("azure-ad-", "azure-auth-", "azure-entra-", "azure-managed-", "azure-workload-")
#: The values Azure documents for the ``extra-parameters`` header.
_EXTRA_PARAMETERS = frozenset({"pass-through", "drop", "error"})

SPEC = ProviderSpec(
    slug="azure-ai",
    name="Azure AI Foundry models (Azure AI model inference)",
    base_url="",
    docs="https://learn.microsoft.com/azure/ai-foundry/model-inference/reference/reference-model-inference-api",
    endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, AUDIO}),
    host_option=_FOUNDRY_URL,
)


class AzureAI:
    __slots__ = ()
    option_headers: tuple[str, ...] = (
        _FOUNDRY_URL,
        "azure-api-version",
        "azure-extra-params",
        "azure-deployment-name",
        # Microsoft Entra ID auth (azure_auth.py), as on azure-openai
        *(name for name in AzureOpenAI.option_headers if name.startswith(_ENTRA_OPTIONS)),
    )

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        """The auth waits for :func:`_authorize`: an Entra ID token may have to be fetched first."""
        base = call.base_url.rstrip("/")
        if not base:
            raise InvalidRequest(
                "Provider azure-ai needs the endpoint's URL: send x-portkey-azure-foundry-url (config key "
                "azure_foundry_url), such as https://<resource>.services.ai.azure.com/models.",
                param=f"x-portkey-{_FOUNDRY_URL}",
                code="missing_azure_foundry_url",
            )
        url = with_query(f"{base}/{call.endpoint}", call.query, checked_name(call, "azure-api-version"))
        headers = {"extra-parameters": _extra_parameters(call)}
        if deployment := checked_name(call, "azure-deployment-name"):
            headers["azureml-model-deployment"] = deployment
        authorize = functools.partial(_authorize, headers)
        chat_chunks = call.endpoint in CHAT_CHUNK_ENDPOINTS
        return PreparedRequest(url, headers, body.payload(), chat_chunks, authorize=authorize)


def _extra_parameters(call: UpstreamCall) -> str:
    value = call.options.get("azure-extra-params", "") or "drop"
    if value not in _EXTRA_PARAMETERS:
        raise InvalidRequest(
            f"x-portkey-azure-extra-params must be one of {', '.join(sorted(_EXTRA_PARAMETERS))}.",
            param="x-portkey-azure-extra-params",
            code="invalid_azure_extra_params",
        )
    return value


async def _authorize(headers: dict[str, str], credentials: Credentials) -> None:
    """An Entra ID token when the options ask for one, else the key, as a bearer token."""
    token = await credentials.cloud.azure.bearer(credentials.options, credentials.base_url)
    secret = token if token is not None else credentials.api_key
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
