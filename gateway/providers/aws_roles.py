"""AWS STS AssumeRole for Bedrock: Portkey's ``x-portkey-aws-auth-type: assumedRole``.

The gateway signs ``AssumeRole`` (STS Query API, SigV4) with its own AWS credentials and signs the
Bedrock call with the temporary credentials it gets back. That lends the gateway's identity to the
caller (a confused deputy on a shared gateway), so it is off unless the operator turns it on, and
only the role ARNs the operator lists may be assumed. Temporary credentials are cached until 5
minutes before they expire, keyed by role, external id and region.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

import aiohttp

from gateway.config.cloud import AwsSettings
from gateway.errors import InvalidRequest, PermissionDenied, UpstreamBroken, UpstreamUnreachable
from gateway.upstream.expiring import Expiring, ExpiringCache
from gateway.upstream.sigv4 import AwsCredentials, sign

__all__ = [
    "ASSUMED_ROLE",
    "AssumedRoles",
]

ASSUMED_ROLE = "assumedRole"
SERVICE = "sts"
SESSION_NAME = "ai-gateway"
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_REFRESH_MARGIN = 300.0
#: STS answers are a few KiB; a bigger one is not parsed.
_MAX_ANSWER = 64 * 1024


class AssumedRoles:
    """Temporary credentials for the roles callers name; one per process (``CloudAuth``)."""

    __slots__ = ("_allowed", "_cache", "_own", "_session", "_settings")

    def __init__(self, settings: AwsSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._own = AwsCredentials(settings.access_key_id, settings.secret_access_key, settings.session_token)
        # Compiled once: ``*`` matches any run of characters, everything else itself.
        self._allowed = [
            re.compile(".*".join(map(re.escape, pattern.split("*"))))
            for pattern in settings.allowed_role_arns
        ]
        self._cache: ExpiringCache[AwsCredentials] = ExpiringCache(margin=_REFRESH_MARGIN)

    async def credentials(self, options: Mapping[str, str], region: str) -> AwsCredentials:
        """The temporary credentials of ``x-portkey-aws-role-arn`` (with ``-aws-external-id``).

        Raises PermissionDenied when the settings do not lend the gateway's identity for the role,
        InvalidRequest for a missing or malformed option, PermissionDenied when STS refuses, and
        UpstreamUnreachable/UpstreamBroken when STS cannot be reached or answers nonsense.
        """
        role_arn = self._allowed_role(options.get("aws-role-arn", ""))
        external_id = options.get("aws-external-id", "")
        if external_id and not _EXTERNAL_ID.fullmatch(external_id):
            raise InvalidRequest(
                "x-portkey-aws-external-id must be 2 to 1224 letters, digits or +=,.@:/-_.",
                param="x-portkey-aws-external-id",
            )
        key = hashlib.sha256(f"{role_arn}\0{external_id}\0{region}".encode()).hexdigest()
        return await self._cache.get(key, lambda: self._assume(role_arn, external_id, region))

    def _allowed_role(self, role_arn: str) -> str:
        header = "x-portkey-aws-auth-type"
        if not self._settings.assume_role:
            raise PermissionDenied(
                f"{header} assumedRole lends the gateway's own AWS identity, which this gateway does not "
                "lend (the operator turns it on with aws.assume_role and aws.allowed_role_arns).",
                param=header,
                code="assume_role_not_allowed",
            )
        if not role_arn:
            raise InvalidRequest(
                f"{header} assumedRole needs x-portkey-aws-role-arn (or aws_role_arn in the config).",
                param="x-portkey-aws-role-arn",
                code="missing_role_arn",
            )
        if not _ROLE_ARN.fullmatch(role_arn):
            raise InvalidRequest(
                "x-portkey-aws-role-arn is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).",
                param="x-portkey-aws-role-arn",
            )
        if not any(pattern.fullmatch(role_arn) for pattern in self._allowed):
            raise PermissionDenied(
                "x-portkey-aws-role-arn is not one of the roles this gateway may assume "
                "(aws.allowed_role_arns).",
                param="x-portkey-aws-role-arn",
                code="assume_role_not_allowed",
            )
        return role_arn

    async def _assume(self, role_arn: str, external_id: str, region: str) -> Expiring[AwsCredentials]:
        fields = {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": SESSION_NAME,
            "DurationSeconds": str(self._settings.duration_seconds),
        }
        if external_id:
            fields["ExternalId"] = external_id
        body = urlencode(fields).encode()
        url = self._settings.sts_endpoint.replace("{region}", region)
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        headers.update(sign("POST", url, headers, body, self._own, region, SERVICE))
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=_TIMEOUT, allow_redirects=False
            ) as response:
                status, answer = response.status, await response.content.read(_MAX_ANSWER + 1)
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            raise UpstreamUnreachable(f"AWS STS could not be reached ({type(exc).__name__}).") from None
        if 400 <= status < 500:
            raise PermissionDenied(
                f"AWS STS refused to assume the role in x-portkey-aws-role-arn (HTTP {status}, "
                f"{_error_code(answer)}).",
                param="x-portkey-aws-role-arn",
                code="assume_role_failed",
            )
        if status != 200 or len(answer) > _MAX_ANSWER:
            raise UpstreamBroken(f"AWS STS failed to assume the role (HTTP {status}).")
        return _temporary_credentials(answer)


def _children(answer: bytes) -> dict[str, str]:
    """Every element's text by its local name (STS answers are namespaced and shallow)."""
    try:
        root = ET.fromstring(answer)
    except ET.ParseError:
        return {}
    return {element.tag.rpartition("}")[2]: (element.text or "").strip() for element in root.iter()}


def _error_code(answer: bytes) -> str:
    code = _children(answer).get("Code", "")
    # STS codes are identifiers (AccessDenied); the message is not echoed.
    return code if code.isalnum() and len(code) < 64 else "no error code"


def _temporary_credentials(answer: bytes) -> Expiring[AwsCredentials]:
    found = _children(answer)
    names = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    key_id, secret, token, expiration = (found.get(name, "") for name in names)
    try:
        expires = datetime.fromisoformat(expiration)
    except ValueError:
        expires = None
    if not (key_id and secret and token) or expires is None or expires.tzinfo is None:
        raise UpstreamBroken("AWS STS answered without temporary credentials.")
    lifetime = (expires - datetime.now(UTC)).total_seconds()
    return Expiring(AwsCredentials(key_id, secret, token), lifetime)
