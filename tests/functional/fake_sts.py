"""A fake AWS STS: a real aiohttp server answering the Query API's AssumeRole with temporary keys.

Like AWS, it checks the SigV4 signature first (recomputed with the secret it knows for the access
key, service ``sts``) and answers AWS's 403 XML when it differs. Each AssumeRole issues new keys
(``ASIATEMP1``, ``ASIATEMP2``...) and registers them with the fake Bedrock, which then accepts
requests signed with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDictProxy

from gateway.upstream.sigv4 import AwsCredentials, sign
from tests.functional.fake_bedrock import FakeBedrock

GATEWAY_KEY = "AKIAGATEWAYOWNKEY01"
GATEWAY_SECRET = "gateway/Own/Secret+Key/MARKER000000000000"


@dataclass
class AssumeRoleCall:
    fields: dict[str, str]
    headers: CIMultiDictProxy[str]
    region: str  # from the signature's credential scope


class FakeSts:
    def __init__(self, bedrock: FakeBedrock) -> None:
        self.bedrock = bedrock
        self.calls: list[AssumeRoleCall] = []
        self.port = 0
        self.lifetime = timedelta(hours=1)
        #: ``(status, code, message)`` to answer with instead of credentials.
        self.failure: tuple[int, str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        authorization = request.headers.get("Authorization", "")
        scope = authorization.split("Credential=")[1].split(",")[0] if "Credential=" in authorization else ""
        key_id, _, region, service, _ = (scope.split("/") + [""] * 5)[:5]
        if (
            key_id != GATEWAY_KEY
            or service != "sts"
            or authorization != self._expected(request, body, region)
        ):
            return _error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        fields = dict(parse_qsl(body.decode()))
        self.calls.append(AssumeRoleCall(fields, request.headers, region))
        if self.failure is not None:
            return _error(*self.failure)
        n = len(self.calls)
        key, secret, token = f"ASIATEMP{n}", f"temporary/secret/{n}", f"temporary-session-token-{n}"
        self.bedrock.secrets[key] = secret
        expiration = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.Response(
            content_type="text/xml",
            text=(
                '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
                f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
                f"<SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
                f"<AssumedRoleUser><Arn>{fields.get('RoleArn')}/x</Arn></AssumedRoleUser>"
                "</AssumeRoleResult></AssumeRoleResponse>"
            ),
        )

    @staticmethod
    def _expected(request: web.Request, body: bytes, region: str) -> str:
        authorization = request.headers["Authorization"]
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        headers = {name: request.headers[name] for name in signed if name not in ("host", "x-amz-date")}
        headers.pop("x-amz-security-token", None)
        now = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        credentials = AwsCredentials(GATEWAY_KEY, GATEWAY_SECRET)
        url = f"http://{request.host}{request.raw_path}"
        return sign(request.method, url, headers, body, credentials, region, "sts", now)["Authorization"]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        content_type="text/xml",
        text=f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>",
    )
