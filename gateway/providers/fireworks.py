"""Fireworks AI: OpenAI's format for inference (its catalog row, unchanged), plus ``/v1/files`` and
``/v1/batches`` on Fireworks' account API (datasets and batch inference jobs), as Portkey offers them.

Inference goes to ``https://api.fireworks.ai/inference/v1``; the account API lives at
``https://api.fireworks.ai/v1/accounts/{account_id}``, the account named by
``x-portkey-fireworks-account-id`` (config key ``fireworks_account_id``), as in Portkey. A custom
host (or a settings base URL) given for inference, ``http://host:port/inference/v1``, serves both:
the account API is taken at ``http://host:port/v1/accounts/{account_id}`` (a custom host without
the ``/inference/v1`` ending is taken as the origin itself).

Files: ``fireworks_files.py``; batches: ``fireworks_batches.py``.
Docs: https://docs.fireworks.ai/api-reference/introduction (the account API: Datasets, Batch
Inference Jobs), https://docs.fireworks.ai/guides/batch-inference
"""

from __future__ import annotations

import re

from gateway.errors import InvalidRequest
from gateway.providers.base import ClientBody, PreparedRequest, ProviderSpec, UpstreamCall
from gateway.providers.fireworks_batches import MODEL, FireworksBatches
from gateway.providers.fireworks_files import FILE_NAME, PROVIDER, FireworksFiles
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS

__all__ = [
    "ACCOUNT",
    "PROVIDER",
    "FireworksAI",
    "account_base",
]

ACCOUNT = "fireworks-account-id"
ORIGIN = "https://api.fireworks.ai"
_INFERENCE = "/inference/v1"
#: Fireworks account ids: lowercase letters, digits and hyphens (a resource id, 63 at most).
_ACCOUNT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ACCOUNT_FAMILIES = ("files", "batches")


class FireworksAI(OpenAICompatible):
    """The catalog row's adapter, with files and batches sent to the account API."""

    __slots__ = ("_batches", "_files")
    option_headers: tuple[str, ...] = (*OPENAI_OPTIONS, ACCOUNT, FILE_NAME, MODEL)

    def __init__(self, spec: ProviderSpec) -> None:
        super().__init__(spec)
        self._files = FireworksFiles()
        self._batches = FireworksBatches()

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        # One prefix test is all inference pays: every other endpoint is the catalog row's.
        if not call.endpoint.startswith(_ACCOUNT_FAMILIES):
            return super().prepare(call, body)
        account = account_id(call)
        base = account_base(call.base_url, account)
        if call.endpoint.startswith("files"):
            return self._files.prepare(call, body, base)
        return self._batches.prepare(call, body, base, account)


def account_id(call: UpstreamCall) -> str:
    """The checked account id; a 400 naming its header when it is missing or not an account id."""
    value = call.options.get(ACCOUNT, "")
    if not value:
        raise InvalidRequest(
            "Fireworks files and batches belong to an account: send x-portkey-fireworks-account-id "
            "(config key fireworks_account_id).",
            param=f"x-portkey-{ACCOUNT}",
            code="missing_fireworks_account_id",
        )
    if not _ACCOUNT_ID.fullmatch(value):
        raise InvalidRequest(
            "x-portkey-fireworks-account-id is not a Fireworks account id (lowercase letters, digits "
            "and '-', 63 at most).",
            param=f"x-portkey-{ACCOUNT}",
            code="invalid_fireworks_account_id",
        )
    return value


def account_base(base_url: str, account: str) -> str:
    """``{origin}/v1/accounts/{account}``: the origin is Fireworks' own, or the custom host's
    (its ``/inference/v1`` ending, the inference base's, dropped)."""
    origin = base_url.rstrip("/").removesuffix(_INFERENCE) if base_url else ORIGIN
    return f"{origin}/v1/accounts/{account}"
