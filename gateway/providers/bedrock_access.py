"""Where a Bedrock runtime request goes and how it is signed, for every Bedrock endpoint.

Where: ``https://bedrock-runtime.{region}.amazonaws.com`` (a custom host ``http://host:port``
replaces it), region from ``x-portkey-aws-region`` (required: it is in the host and in the
signature). Auth: SigV4 with the caller's ``x-portkey-aws-*`` keys (or an assumed role's), signed
over the final URL, the body and the headers we set; without AWS keys, the caller's bearer key
goes as a Bedrock API key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from gateway.errors import InvalidRequest
from gateway.providers.aws_roles import ASSUMED_ROLE
from gateway.providers.base import (
    BATCHES,
    CHAT,
    EMBEDDINGS,
    FILES,
    IMAGES,
    MESSAGES,
    MODELS,
    Credentials,
    NativeRequest,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.bedrock_answers import SLUG
from gateway.upstream.sigv4 import AwsCredentials, sign

__all__ = [
    "EVENT_STREAM",
    "OPTION_HEADERS",
    "SPEC",
    "authorize",
    "aws_region",
    "control_plane",
    "model_url",
    "sign_request",
    "signing_keys",
]

SPEC = ProviderSpec(
    slug=SLUG,
    name="AWS Bedrock",
    base_url="https://bedrock-runtime.{region}.amazonaws.com",
    docs="https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html",
    endpoints=frozenset({CHAT, EMBEDDINGS, IMAGES, MESSAGES, MODELS, FILES, BATCHES}),
)
OPTION_HEADERS = (
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "aws-region",
    "aws-auth-type",
    "aws-role-arn",
    "aws-external-id",
    # Files and batches (bedrock_files.py, bedrock_batches.py): Portkey's names, each pair's second
    # one the fallback for the first.
    "aws-s3-bucket",
    "aws-s3-object-key",
    "provider-file-name",
    "aws-bedrock-model",
    "provider-model",
)
#: ``x-portkey-aws-auth-type`` values, as Portkey names them (none: the AWS keys, or the bearer key).
AUTH_TYPES = (ASSUMED_ROLE, "apiKey")
#: The SigV4 service name of the Bedrock runtime and of its control plane.
SERVICE = "bedrock"
CONTROL_PLANE = "https://bedrock.{region}.amazonaws.com"
EVENT_STREAM = "application/vnd.amazon.eventstream"
#: Region names go into the host: only what AWS names look like (us-east-1, us-gov-west-1).
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def model_url(call: UpstreamCall, model: str, action: str) -> str:
    """``{base}/model/{modelId}/{action}``; the id is one path segment (ARNs hold ``/`` and ``:``)."""
    base = call.base_url.rstrip("/") or SPEC.base_url.format(region=aws_region(call.options))
    return f"{base}/model/{quote(model, safe='')}/{action}"


def control_plane(call: UpstreamCall) -> str:
    """Bedrock's control plane (model lists, batch jobs): ``https://bedrock.{region}.amazonaws.com``,
    or the custom host, which stands for every Bedrock host."""
    where = aws_region(call.options)  # checked even for a custom host: the signature's scope holds it
    return call.base_url.rstrip("/") or CONTROL_PLANE.format(region=where)


def aws_region(options: Mapping[str, str], provider: str = "Bedrock") -> str:
    """``x-portkey-aws-region``: required (it is in the host and in the signature), and only what
    an AWS region name looks like; a 400 naming ``provider`` otherwise."""
    region = options.get("aws-region", "")
    if not region:
        slug = provider.lower()
        raise InvalidRequest(
            f"{provider} needs an AWS region: send x-portkey-aws-region (like us-east-1), "
            f"aws_region in the config, or aws-region in the [providers.{slug}] options.",
            param="x-portkey-aws-region",
            code="missing_region",
        )
    if not _REGION.fullmatch(region):
        raise InvalidRequest(
            f"x-portkey-aws-region {region[:40]!r} is not an AWS region name (like us-east-1).",
            param="x-portkey-aws-region",
            code="invalid_region",
        )
    return region


async def authorize(native: NativeRequest, credentials: Credentials, method: str = "POST") -> None:
    """SigV4 with the caller's AWS keys, or with an assumed role's temporary keys
    (``x-portkey-aws-auth-type: assumedRole``); the bearer key as a Bedrock API key without AWS keys
    (or with ``apiKey``)."""
    keys = await signing_keys(credentials)
    if keys is None:
        native.headers["Authorization"] = f"Bearer {credentials.api_key}"
        return
    where = aws_region(credentials.options)
    native.headers.update(sign(method, native.url, native.headers, native.body, keys, where, SERVICE))


async def sign_request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    service: str,
    provider: str,
) -> None:
    """Add the SigV4 headers for ``service`` to ``headers`` (every entry of which is signed), with
    AWS keys only (another AWS service than Bedrock takes no Bedrock API key); a 400 naming
    ``provider`` for what is missing."""
    keys = await signing_keys(credentials, api_key_allowed=False, provider=provider)
    assert keys is not None  # signing_keys raises instead, with api_key_allowed off
    headers.update(sign(method, url, headers, body, keys, aws_region(credentials.options, provider), service))


async def signing_keys(
    credentials: Credentials, *, api_key_allowed: bool = True, provider: str = "Bedrock"
) -> AwsCredentials | None:
    """The AWS keys to sign with: the caller's ``x-portkey-aws-*`` keys or an assumed role's;
    ``None``: the bearer key goes as a Bedrock API key instead (never with ``api_key_allowed``
    off: S3 takes AWS signatures only). A 400 naming the header for what is missing or wrong."""
    options = credentials.options
    auth_type = options.get("aws-auth-type", "")
    if auth_type and auth_type not in AUTH_TYPES:
        raise InvalidRequest(
            f"x-portkey-aws-auth-type must be {' or '.join(AUTH_TYPES)} (or absent, for AWS keys).",
            param="x-portkey-aws-auth-type",
            code="invalid_aws_auth_type",
        )
    if auth_type == ASSUMED_ROLE:
        return await credentials.cloud.aws.credentials(options, aws_region(options, provider))
    key_id = options.get("aws-access-key-id", "")
    secret = options.get("aws-secret-access-key", "")
    bearer = auth_type == "apiKey" or (not key_id and not secret)
    if api_key_allowed and bearer and credentials.api_key:
        return None
    if not key_id or not secret:
        missing = "x-portkey-aws-secret-access-key" if key_id else "x-portkey-aws-access-key-id"
        raise InvalidRequest(
            f"{provider} needs AWS credentials and {missing} is missing: send x-portkey-aws-access-key-id "
            "and x-portkey-aws-secret-access-key (plus x-portkey-aws-session-token for temporary "
            "credentials)"
            + (
                ", or a Bedrock API key as the bearer token."
                if api_key_allowed
                else ": it takes AWS keys only."
            ),
            param=missing,
            code="missing_credentials",
        )
    return AwsCredentials(key_id, secret, options.get("aws-session-token", ""))
