"""Fireworks AI: OpenAI's format for inference (its catalog row, unchanged), plus ``/v1/files`` and
``/v1/batches`` on Fireworks' account API (datasets and batch inference jobs), as Portkey offers them.

Where the account API is: ``fireworks_access.py``; files: ``fireworks_files.py``; batches:
``fireworks_batches.py``.
Docs: https://docs.fireworks.ai/api-reference/introduction, https://docs.fireworks.ai/guides/batch-inference
"""

from __future__ import annotations

from gateway.providers.base import ClientBody, PreparedRequest, ProviderSpec, UpstreamCall
from gateway.providers.fireworks_access import ACCOUNT
from gateway.providers.fireworks_batches import MODEL, FireworksBatches
from gateway.providers.fireworks_files import FILE_NAME, FireworksFiles
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS

__all__ = [
    "FireworksAI",
]

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
        if call.endpoint.startswith("files"):
            return self._files.prepare(call, body)
        return self._batches.prepare(call, body)
