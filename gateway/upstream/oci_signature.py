"""Oracle Cloud Infrastructure request signatures (version 1): the headers that authenticate one
request to an OCI API (Generative AI inference).

OCI signs with draft-cavage-http-signatures-08: an RSA-SHA256 signature over a signing string made
of ``date``, ``(request-target)`` and ``host``, plus ``content-length``, ``content-type`` and
``x-content-sha256`` for a request with a body, sent as ``Authorization: Signature version="1",
keyId="<tenancy>/<user>/<fingerprint>",...`` (https://docs.oracle.com/en-us/iaas/Content/API/
Concepts/signingrequests.htm). The signing string is checked against the POST example of that page
in ``tests/unit/test_oci_signature.py``.

Pure: no I/O. The private key is a secret: no error here quotes it, or any part of it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from email.utils import formatdate
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import InvalidRequest
from gateway.upstream.sigv4 import host_header

__all__ = [
    "SIGNED_WITH_BODY",
    "load_private_key",
    "sign",
    "signing_string",
]

#: The headers a request with a body signs, in the order of Oracle's own SDKs and examples.
SIGNED_WITH_BODY = ("date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256")
CONTENT_TYPE = "application/json"

#: One PEM block, however a header or a config flattened it (spaces, or ``\n`` typed as two characters,
#: in place of its line breaks: a header value cannot hold a line break).
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def load_private_key(pem: str, passphrase: str, param: str) -> rsa.RSAPrivateKey:
    """The RSA key of a PEM block (PKCS#1 ``RSA PRIVATE KEY`` or PKCS#8, encrypted with
    ``passphrase`` or not); a 400 naming ``param`` (never quoting the key) when it is not one."""
    match = _PEM.search(pem.replace("\\n", "\n"))
    if match is None:
        raise _malformed(param, "it is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    body = "".join(match[2].split())
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    text = f"-----BEGIN {match[1]}-----\n{lines}\n-----END {match[1]}-----\n"
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), passphrase.encode() or None)
    except TypeError:  # a passphrase missing for an encrypted key, or given for a plain one
        raise _malformed(
            param, "its passphrase (x-portkey-oracle-key-passphrase) is missing or not needed"
        ) from None
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise _malformed(param, "it cannot be read (or its passphrase is wrong)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _malformed(param, "OCI API keys are RSA keys")
    return key


def _malformed(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"The OCI private key in {param} is malformed: {why}.", param=param, code="invalid_private_key"
    )


def signing_string(method: str, url: str, date: str, body: bytes) -> tuple[str, dict[str, str]]:
    """(the signing string, the headers it signs that are not derived by the HTTP client from
    the URL) for ``method`` on ``url`` (as sent: its path and query already encoded) at ``date``.
    ``host`` is signed as aiohttp sends it; ``content-length`` is the body's, as aiohttp sends it."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    values = {
        "date": date,
        "(request-target)": f"{method.lower()} {target}",
        "host": host_header(parts),
        "content-length": str(len(body)),
        "content-type": CONTENT_TYPE,
        "x-content-sha256": digest,
    }
    text = "\n".join(f"{name}: {values[name]}" for name in SIGNED_WITH_BODY)
    sent = {"date": date, "content-type": CONTENT_TYPE, "x-content-sha256": digest}
    return text, sent


def sign(
    method: str, url: str, body: bytes, key: rsa.RSAPrivateKey, key_id: str, date: str | None = None
) -> dict[str, str]:
    """Headers to add to the request: ``date``, ``content-type``, ``x-content-sha256`` and
    ``authorization``. Every one must be sent as returned, with the body as given. ``key_id``
    is ``<tenancy OCID>/<user OCID>/<key fingerprint>``; ``date`` defaults to now."""
    text, headers = signing_string(method, url, date or formatdate(usegmt=True), body)
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    headers["authorization"] = (
        f'Signature version="1",keyId="{key_id}",algorithm="rsa-sha256",'
        f'headers="{" ".join(SIGNED_WITH_BODY)}",signature="{base64.b64encode(signature).decode("ascii")}"'
    )
    return headers
