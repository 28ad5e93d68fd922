"""Vertex AI's adapter with its files and batches: Cloud Storage objects (``vertex_files.py``) and
batch prediction jobs (``vertex_batches.py``) behind ``/v1/files`` and ``/v1/batches``.

Portkey's headers (and routing config keys) pick the storage: ``x-portkey-vertex-storage-bucket-name``
(``vertex_storage_bucket_name``), ``x-portkey-provider-file-name``, ``x-portkey-provider-model``.
Cloud Storage is reached at ``https://storage.googleapis.com``, or at the custom host (the same one
as Vertex's: their paths do not overlap), with the same Google token as every Vertex call.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.providers.base import ClientBody, PreparedRequest, ProviderSpec, Translation, UpstreamCall
from gateway.providers.google_auth import ServiceAccountTokens
from gateway.providers.translated import NativeEndpoint, TranslatedProvider
from gateway.providers.vertex_batches import MODEL, VertexBatches
from gateway.providers.vertex_files import BUCKET, FILE_NAME, VertexFiles

__all__ = [
    "OPTIONS",
    "VertexProvider",
]

OPTIONS = (BUCKET, FILE_NAME, MODEL)


class VertexProvider(TranslatedProvider):
    """Files and batches by the first segment of the path; every other endpoint as translated."""

    __slots__ = ("_batches", "_files")

    def __init__(
        self,
        spec: ProviderSpec,
        tokens: ServiceAccountTokens,
        translations: Mapping[str, Translation],
        option_headers: tuple[str, ...],
        natives: Mapping[str, NativeEndpoint],
    ) -> None:
        super().__init__(spec, translations, option_headers, natives)
        self._files = VertexFiles(tokens)
        self._batches = VertexBatches(tokens)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        family = call.endpoint.partition("/")[0]
        if family == "files":
            return self._files.prepare(call, body)
        if family == "batches":
            return self._batches.prepare(call, body)
        return super().prepare(call, body)
