"""A fake SageMaker AI runtime: a real aiohttp server that checks SigV4 (service ``sagemaker``) as AWS
does, then answers InvokeEndpoint (``/endpoints/{name}/invocations``) with the body a test queued,
and InvokeEndpointWithResponseStream (``.../invocations-response-stream``) with real
``application/vnd.amazon.eventstream`` ``PayloadPart`` frames.

The signature is recomputed from the method, the URL as received (Host and port included), the
signed headers and the body, with the secret the fake knows for the access key: a request the
gateway signed over other bytes than it sent gets AWS's 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.streaming.eventstream import encode_frame
from gateway.upstream.sigv4 import AwsCredentials, sign
from tests.functional.fake_bedrock import ACCESS_KEY, REGION, SECRET_KEY

EVENT_STREAM = "application/vnd.amazon.eventstream"


@dataclass
class Call:
    """One request the fake received, after its signature was checked."""

    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def signed_headers(self) -> list[str]:
        return self.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")


def payload_parts(*parts: bytes) -> bytes:
    """The frames of a response stream: one ``PayloadPart`` event per part, as SageMaker sends them."""
    headers = {
        ":event-type": "PayloadPart",
        ":message-type": "event",
        ":content-type": "application/octet-stream",
    }
    return b"".join(encode_frame(headers, part) for part in parts)


class FakeSageMaker:
    def __init__(self) -> None:
        #: The secrets it knows by access key id (a fake STS adds temporary ones).
        self.secrets = {ACCESS_KEY: SECRET_KEY}
        self.calls: list[Call] = []
        #: What InvokeEndpoint answers: status, content type, body.
        self.reply: tuple[int, str, bytes] = (200, "application/json", b'{"generated_text": "hi"}')
        self.port = 0

    @property
    def host(self) -> str:
        """What a caller gives as x-portkey-custom-host for SageMaker."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The Portkey headers that send a request here, with this fake's AWS credentials."""
        return {
            "x-portkey-provider": "sagemaker",
            "x-portkey-custom-host": self.host,
            "x-portkey-aws-region": REGION,
            "x-portkey-aws-access-key-id": ACCESS_KEY,
            "x-portkey-aws-secret-access-key": SECRET_KEY,
        }

    @property
    def last(self) -> Call:
        return self.calls[-1]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        refusal = self._refusal(request, body)
        if refusal is not None:
            return web.json_response({"message": refusal}, status=403)
        path, _, query = request.raw_path.partition("?")
        self.calls.append(Call(request.method, path, query, request.headers, body))
        if path.endswith("/invocations-response-stream"):
            return await _stream(request, payload_parts(b'{"token": "Hel', b'lo"}\n', b'{"token": "!"}\n'))
        status, content_type, reply = self.reply
        return web.Response(status=status, body=reply, content_type=content_type)

    def _refusal(self, request: web.Request, body: bytes) -> str | None:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "Missing Authentication Token"
        if authorization != self._expected(request, body):
            return "The request signature we calculated does not match the signature you provided."
        return None

    def _expected(self, request: web.Request, body: bytes) -> str:
        authorization = request.headers["Authorization"]
        key_id = authorization.split("Credential=")[1].split("/")[0]
        scope = authorization.split("Credential=")[1].split(",")[0].split("/")
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        headers = {name: request.headers[name] for name in signed if name not in ("host", "x-amz-date")}
        headers.pop("x-amz-security-token", None)
        now = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        token = request.headers.get("X-Amz-Security-Token", "")
        credentials = AwsCredentials(key_id, self.secrets.get(key_id, "unknown"), token)
        # The scope must name this region and the sagemaker service, as AWS checks.
        if scope[2:4] != [REGION, "sagemaker"]:
            return "wrong scope"
        url = f"http://{request.host}{request.raw_path}"
        return sign(request.method, url, headers, body, credentials, REGION, "sagemaker", now)[
            "Authorization"
        ]


async def _stream(request: web.Request, frames: bytes) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": EVENT_STREAM, "X-Amzn-Invoked-Production-Variant": "v1"}
    )
    await response.prepare(request)
    for start in range(0, len(frames), 7):  # in small pieces, as a network may cut them
        await response.write(frames[start : start + 7])
    await response.write_eof()
    return response
