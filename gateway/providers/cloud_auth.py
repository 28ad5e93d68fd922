"""The cloud credential exchanges a request may need before it is sent: Entra ID tokens for Azure
OpenAI (``azure_auth.py``) and assumed AWS roles for Bedrock (``aws_roles.py``). One per process,
on the app (``appkeys.CLOUD_AUTH``), with its own session (``upstream/session.create_token_session``).
Each exchange is built, and its module imported, by the first request that needs it
(``on_first_use.py``): most gateways never use them, and they hold ~0.4 MB (the AWS one's XML parser).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from gateway.config.settings import ProviderSettings, Settings
from gateway.on_first_use import load

if TYPE_CHECKING:
    from gateway.providers.aws_roles import AssumedRoles
    from gateway.providers.azure_auth import AzureTokens

__all__ = [
    "CloudAuth",
]


class CloudAuth:
    """``azure`` and ``aws``: the exchanges, each built by its first use and kept."""

    __slots__ = ("_aws", "_azure", "_session", "_settings")

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._azure: AzureTokens | None = None
        self._aws: AssumedRoles | None = None

    @classmethod
    def build(cls, settings: Settings, session: aiohttp.ClientSession) -> CloudAuth:
        return cls(settings, session)

    @property
    def azure(self) -> AzureTokens:
        if self._azure is None:
            base_url = self._settings.providers.get("azure-openai", ProviderSettings()).base_url
            tokens = load("gateway.providers.azure_auth:AzureTokens")
            self._azure = tokens(self._settings.azure, base_url, self._session)
        return self._azure

    @property
    def aws(self) -> AssumedRoles:
        if self._aws is None:
            roles = load("gateway.providers.aws_roles:AssumedRoles")
            self._aws = roles(self._settings.aws, self._session)
        return self._aws
