"""OCI request signatures, against the POST example of Oracle's "Request Signatures" page
(https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm).

RSASSA-PKCS1-v1_5 is deterministic: a signer is right when it builds Oracle's signing string and
signs it with RSA-SHA256. The first is checked against the page's string; the second by verifying
the signature with the public half of a key made per run (no private key is kept in the repository,
not even Oracle's published test key).
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.errors import InvalidRequest
from gateway.upstream.oci_signature import load_private_key, sign, signing_string

# Oracle's example: its fixed date, URL and body (316 bytes, indented with four spaces).
DATE = "Thu, 05 Jan 2014 21:31:40 GMT"
URL = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments"
BODY = (
    b"{\n"
    b'    "compartmentId": "ocid1.compartment.oc1..'
    b'aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa",\n'
    b'    "instanceId": "ocid1.instance.oc1.phx.'
    b'abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a",\n'
    b'    "volumeId": "ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q"\n'
    b"}"
)
EXPECTED_SIGNING_STRING = (
    "date: Thu, 05 Jan 2014 21:31:40 GMT\n"
    "(request-target): post /20160918/volumeAttachments\n"
    "host: iaas.us-phoenix-1.oraclecloud.com\n"
    "content-length: 316\n"
    "content-type: application/json\n"
    "x-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
)
KEY_ID = (
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/"
    "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/"
    "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
)
PARAM = "x-portkey-oracle-private-key"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, passphrase: bytes = b"") -> str:
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def verifies(key: rsa.RSAPrivateKey, text: str, authorization: str) -> bool:
    match = re.search(r'signature="([^"]+)"', authorization)
    assert match is not None
    try:
        key.public_key().verify(
            base64.b64decode(match[1]), text.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:
        return False
    return True


def test_signing_string_is_oracles_documented_post_example() -> None:
    text, headers = signing_string("POST", URL, DATE, BODY)
    assert text == EXPECTED_SIGNING_STRING
    assert headers == {
        "date": DATE,
        "content-type": "application/json",
        "x-content-sha256": "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=",
    }


def test_signature_is_rsa_sha256_of_the_signing_string_in_oracles_header_format(
    key: rsa.RSAPrivateKey,
) -> None:
    headers = sign("POST", URL, BODY, key, KEY_ID, DATE)
    authorization = headers.pop("authorization")
    assert re.fullmatch(
        rf'Signature version="1",keyId="{re.escape(KEY_ID)}",algorithm="rsa-sha256",'
        r'headers="date \(request-target\) host content-length content-type x-content-sha256",'
        r'signature="[A-Za-z0-9+/]+=*"',
        authorization,
    )
    assert verifies(key, EXPECTED_SIGNING_STRING, authorization)
    assert not verifies(key, EXPECTED_SIGNING_STRING.replace("316", "317"), authorization)


def test_signed_host_and_target_are_as_aiohttp_sends_them(key: rsa.RSAPrivateKey) -> None:
    text, _ = signing_string("POST", "http://127.0.0.1:8123/20231130/actions/chat?a=%2F", DATE, b"{}")
    assert "(request-target): post /20231130/actions/chat?a=%2F\nhost: 127.0.0.1:8123\n" in text
    text, _ = signing_string("POST", "https://Inference.example:443/x", DATE, b"")
    assert "\nhost: inference.example\n" in text


@pytest.mark.parametrize(
    "flatten",
    [
        pytest.param(lambda text: text, id="as-written"),
        pytest.param(lambda text: text.replace("\n", "\\n"), id="escaped-newlines"),
        pytest.param(lambda text: text.replace("\n", " "), id="spaces-for-newlines"),
        pytest.param(lambda text: text.replace("\n", ""), id="one-line"),
    ],
)
@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_keys_load_however_a_header_flattened_them(
    key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, flatten: object
) -> None:
    assert callable(flatten)
    loaded = load_private_key(flatten(pem(key, fmt)), "", PARAM)
    assert loaded.private_numbers() == key.private_numbers()


def test_encrypted_key_loads_with_its_passphrase(key: rsa.RSAPrivateKey) -> None:
    encrypted = pem(key, serialization.PrivateFormat.PKCS8, b"open sesame")
    assert load_private_key(encrypted, "open sesame", PARAM).private_numbers() == key.private_numbers()
    for wrong in ("", "not it"):
        with pytest.raises(InvalidRequest) as refused:
            load_private_key(encrypted, wrong, PARAM)
        assert refused.value.param == PARAM
        assert "open sesame" not in str(refused.value.message)


def test_malformed_key_is_a_400_that_never_quotes_it(key: rsa.RSAPrivateKey) -> None:
    real = pem(key, serialization.PrivateFormat.PKCS8)
    body = real.splitlines()[1]
    not_rsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for bad in (
        "not a key MARKER-SECRET",
        real.replace(body, body[:20] + "MARKERSECRET" + body[32:]),
        real[: len(real) // 2],
        not_rsa.decode(),
    ):
        with pytest.raises(InvalidRequest) as refused:
            load_private_key(bad, "", PARAM)
        message = str(refused.value.message)
        assert refused.value.code == "invalid_private_key"
        assert PARAM in message
        assert "malformed" in message
        assert "MARKER" not in message
        assert body[:16] not in message
