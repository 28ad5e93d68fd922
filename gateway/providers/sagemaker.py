"""Amazon SageMaker AI runtime: the caller's own InvokeEndpoint requests, passed through and signed.

As in Portkey (``src/providers/sagemaker/api.ts``, no transforms), ``POST /v1/<path>`` goes to
``https://runtime.sagemaker.{region}.amazonaws.com/<path>`` (a custom host ``http://host:port``
replaces that base): ``/v1/endpoints/{name}/invocations`` becomes InvokeEndpoint,
``/v1/endpoints/{name}/invocations-response-stream`` its streaming form, whose
``application/vnd.amazon.eventstream`` answer is relayed as it arrives. The body, the query and the
answer are relayed byte for byte; every OpenAI endpoint family is refused with a clear 400.

Auth: SigV4 (service ``sagemaker``) with the same AWS options as Bedrock (``bedrock_access.py``:
the caller's ``x-portkey-aws-*`` keys, or an assumed role). Portkey's ``x-portkey-amzn-sagemaker-*``
options become InvokeEndpoint's ``X-Amzn-SageMaker-*`` headers, covered by the signature (Portkey
adds them after signing). A signature covers the body's hash, so the body is read whole first,
up to :data:`MAX_BODY` (SageMaker's own real-time limit is 6 MB), rather than streamed.

API reference: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterable, Mapping

from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.providers.base import ClientBody, Credentials, PreparedRequest, ProviderSpec, UpstreamCall
from gateway.providers.bedrock_access import OPTION_HEADERS as AWS_OPTIONS
from gateway.providers.bedrock_access import aws_region, sign_request

__all__ = [
    "MAX_BODY",
    "SPEC",
    "SageMaker",
]

SPEC = ProviderSpec(
    slug="sagemaker",
    name="Amazon SageMaker AI runtime (InvokeEndpoint, passed through)",
    base_url="https://runtime.sagemaker.{region}.amazonaws.com",
    docs="https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html",
    endpoints=frozenset(),
)
#: The SigV4 service name of the SageMaker runtime.
SERVICE = "sagemaker"
#: The most a request body may hold here: it is held whole in memory to be signed.
MAX_BODY = 32 * 1024 * 1024

#: Portkey's ``x-portkey-amzn-sagemaker-<name>`` options → InvokeEndpoint's request headers.
#: (Portkey also reads ``-amzn-sagemaker-model-name`` but never sends it: InvokeEndpoint has no
#: such header.)
HEADERS = {
    "amzn-sagemaker-custom-attributes": "X-Amzn-SageMaker-Custom-Attributes",
    "amzn-sagemaker-target-model": "X-Amzn-SageMaker-Target-Model",
    "amzn-sagemaker-target-variant": "X-Amzn-SageMaker-Target-Variant",
    "amzn-sagemaker-target-container-hostname": "X-Amzn-SageMaker-Target-Container-Hostname",
    "amzn-sagemaker-inference-id": "X-Amzn-SageMaker-Inference-Id",
    "amzn-sagemaker-enable-explanations": "X-Amzn-SageMaker-Enable-Explanations",
    "amzn-sagemaker-inference-component": "X-Amzn-SageMaker-Inference-Component",
    "amzn-sagemaker-session-id": "X-Amzn-SageMaker-Session-Id",
}
#: What InvokeEndpoint's headers may hold: up to 1024 visible US-ASCII characters (and spaces).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,1024}")


class SageMaker:
    """The request to the region's runtime host plus the client's path, signed just before each
    attempt (:attr:`PreparedRequest.authorize`), when its body has been read."""

    __slots__ = ()
    option_headers: tuple[str, ...] = (*AWS_OPTIONS, *HEADERS)

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        base = call.base_url.rstrip("/") or SPEC.base_url.format(region=aws_region(call.options, "SageMaker"))
        url = f"{base}/{call.endpoint}?{call.query}" if call.query else f"{base}/{call.endpoint}"
        prepared = PreparedRequest(url, _headers(call.options), body.payload())
        prepared.authorize = functools.partial(_authorize, prepared)
        return prepared


def _headers(options: Mapping[str, str]) -> dict[str, str]:
    """The ``X-Amzn-SageMaker-*`` headers the options set; a 400 naming the option for a value that
    is not a header value InvokeEndpoint takes (and that could otherwise break the request)."""
    headers = {}
    for option, header in HEADERS.items():
        value = options.get(option, "")
        if not value:
            continue
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidRequest(
                f"x-portkey-{option} must be 1 to 1024 visible US-ASCII characters.",
                param=f"x-portkey-{option}",
                code="invalid_sagemaker_option",
            )
        headers[header] = value
    return headers


async def _authorize(prepared: PreparedRequest, credentials: Credentials) -> None:
    """Read the body (the signature covers its hash), then sign the URL, the headers and the body."""
    if not isinstance(prepared.body, bytes):
        prepared.body = await _read(prepared.body)
    await sign_request(
        "POST", prepared.url, prepared.headers, prepared.body, credentials, SERVICE, "SageMaker"
    )


async def _read(stream: AsyncIterable[bytes] | None) -> bytes:
    """The whole body; a 413 past :data:`MAX_BODY` (the upload's own limits apply as it is read)."""
    if stream is None:
        return b""
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(
                "A SageMaker request body is signed, so held whole: this gateway takes up to "
                f"{MAX_BODY} bytes."
            )
        chunks.append(chunk)
    return b"".join(chunks)
