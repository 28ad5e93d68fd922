"""The settings of the cloud credential exchanges: ``[azure]`` (Entra ID tokens) and ``[aws]`` (STS).

Their endpoints are the operator's, never a caller's: checked here, at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "AwsSettings",
    "AzureSettings",
    "SettingsError",
]


class SettingsError(ValueError):
    """A bad settings file or variable; the message names the dotted path of the field."""


@dataclass(frozen=True, slots=True)
class AzureSettings:
    """Microsoft Entra ID tokens for Azure OpenAI (``x-portkey-azure-auth-mode``; docs/providers.md,
    "Azure OpenAI").

    The endpoints are the operator's, never a caller's: checked at start-up, redirects never followed.
    """

    #: Token endpoint root for ``entra`` (the caller's app registration) and ``workload``:
    #: ``{authority_host}/{tenant}/oauth2/v2.0/token``. AKS's AZURE_AUTHORITY_HOST is the default.
    authority_host: str = "https://login.microsoftonline.com"
    #: Mode ``managed`` lends the gateway's own managed identity to callers: off unless true.
    managed_identity: bool = False
    managed_identity_endpoint: str = "http://169.254.169.254/metadata/identity/oauth2/token"
    #: Mode ``workload`` lends the gateway's own workload identity (AKS) to callers: off unless true.
    workload_identity: bool = False
    #: The workload identity; AKS's AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE
    #: are the defaults.
    tenant_id: str = ""
    client_id: str = ""
    federated_token_file: str = ""
    #: Azure resource names (x-portkey-azure-resource-name) the gateway's own identity may be used
    #: for; empty: any. Its tokens never go to a caller's custom host.
    identity_resources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_endpoint(self.authority_host, "azure.authority_host")
        _check_endpoint(self.managed_identity_endpoint, "azure.managed_identity_endpoint")


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """STS AssumeRole for Bedrock (``x-portkey-aws-auth-type: assumedRole``; docs/providers.md,
    "Bedrock assumed roles")."""

    #: Callers borrow the gateway's own AWS identity to assume a role: off unless true, and only
    #: for the role ARNs in ``allowed_role_arns`` (exact, or with ``*`` matching any run of characters).
    assume_role: bool = False
    allowed_role_arns: tuple[str, ...] = ()
    #: The gateway's own AWS credentials, which sign the AssumeRole call; AWS_ACCESS_KEY_ID,
    #: AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are the defaults.
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    #: The STS endpoint; ``{region}`` is the request's aws_region.
    sts_endpoint: str = "https://sts.{region}.amazonaws.com"
    #: Seconds the temporary credentials are asked for (STS allows 900 to the role's maximum).
    duration_seconds: int = 3600

    def __post_init__(self) -> None:
        _check_endpoint(self.sts_endpoint.replace("{region}", "us-east-1"), "aws.sts_endpoint")
        if self.assume_role and not (self.access_key_id and self.secret_access_key):
            raise SettingsError(
                "aws.assume_role needs the gateway's own credentials: aws.access_key_id and "
                "aws.secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        if not 900 <= self.duration_seconds <= 43200:
            raise SettingsError(f"aws.duration_seconds: expected 900 to 43200, got {self.duration_seconds}")


def _check_endpoint(url: str, path: str) -> None:
    """An operator's token endpoint: http(s), a host, no user info (it would be sent as a password)."""
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:
        has_host = False
    if parts.scheme not in ("http", "https") or not has_host or "@" in parts.netloc:
        raise SettingsError(f"{path}: expected an http(s) URL with a host and no user info")
