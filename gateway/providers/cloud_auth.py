"""The cloud credential exchanges a request may need before it is sent: Entra ID tokens for Azure
OpenAI (``azure_auth.py``) and assumed AWS roles for Bedrock (``aws_roles.py``). One per process,
on the app (``appkeys.CLOUD_AUTH``), with its own session (``upstream/session.create_token_session``).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from gateway.config.settings import ProviderSettings, Settings
from gateway.providers.aws_roles import AssumedRoles
from gateway.providers.azure_auth import AzureTokens

__all__ = [
    "CloudAuth",
]


@dataclass(frozen=True, slots=True)
class CloudAuth:
    azure: AzureTokens
    aws: AssumedRoles

    @classmethod
    def build(cls, settings: Settings, session: aiohttp.ClientSession) -> CloudAuth:
        azure_base_url = settings.providers.get("azure-openai", ProviderSettings()).base_url
        return cls(AzureTokens(settings.azure, azure_base_url, session), AssumedRoles(settings.aws, session))
