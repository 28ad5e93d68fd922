"""Providers whose own API is passed through: no OpenAI endpoint, only the provider's paths.

As in Portkey (``src/providers/<slug>/api.ts``, no transforms), the caller sends the provider's
own request under ``/v1/<path>`` and the gateway sends it to the provider's base URL plus
``/<path>``, with the key in the provider's auth form: the body, the query and the answer are
relayed byte for byte. Every OpenAI endpoint family is refused with a clear 400 (``endpoints`` is
empty), except where the provider's own API has paths of that name (Replicate's ``/v1/files`` and
``/v1/models``). Qdrant and Milvus have no public base URL: each cluster has its own, so the
custom host is required.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import InvalidRequest
from gateway.providers.base import (
    FILES,
    MODELS,
    ClientBody,
    PreparedRequest,
    ProviderAdapter,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.openai_compat import OpenAICompatible

__all__ = [
    "MESHY",
    "MILVUS",
    "QDRANT",
    "REPLICATE",
    "TRIPO3D",
    "Meshy",
    "PassThrough",
    "adapters",
]

REPLICATE = ProviderSpec(
    slug="replicate",
    name="Replicate (its own API, passed through)",
    base_url="https://api.replicate.com/v1",
    docs="https://sdks.replicate.com/typescript/resources/predictions/methods/create",
    # Replicate's own /v1/files and /v1/models (GET, DELETE) have these names; the rest of its API
    # (/v1/predictions, /v1/deployments, /v1/trainings...) is outside OpenAI's families.
    endpoints=frozenset({FILES, MODELS}),
)
MESHY = ProviderSpec(
    slug="meshy",
    name="Meshy (3D generation, its own API passed through)",
    # The gateway appends /v2/text-to-3d... or /v1/<path>: see Meshy.
    base_url="https://api.meshy.ai/openapi",
    docs="https://docs.meshy.ai/api/quick-start",
    endpoints=frozenset(),
)
TRIPO3D = ProviderSpec(
    slug="tripo3d",
    name="Tripo AI (3D generation, its own API passed through)",
    base_url="https://api.tripo3d.ai/v2/openapi",
    docs="https://docs.tripo3d.ai/get-started/quick-start.html",
    endpoints=frozenset(),
)
QDRANT = ProviderSpec(
    slug="qdrant",
    name="Qdrant (vector database, REST API passed through)",
    # A template, for the docs: each cluster has its own URL, so the custom host is required.
    base_url="https://{cluster}.cloud.qdrant.io:6333",
    docs="https://qdrant.tech/documentation/guides/security/",
    # Qdrant's documented form is the bare key in ``api-key``; Portkey sends ``api-key: Bearer
    # <key>``, which a Qdrant that checks ``api-key`` against its key refuses.
    auth="api-key",
    endpoints=frozenset(),
)
MILVUS = ProviderSpec(
    slug="milvus",
    name="Milvus / Zilliz Cloud (vector database, RESTful API passed through)",
    # A template, for the docs: each cluster has its own endpoint, so the custom host is required.
    base_url="https://{cluster-endpoint}",
    docs="https://docs.zilliz.com/reference",
    endpoints=frozenset(),
)


class PassThrough(OpenAICompatible):
    """The request as the client sent it, to ``base_url + "/" + path`` with the key in the row's
    auth form, plus the client headers of ``forwarded`` that the provider's API reads (Replicate's
    ``Prefer: wait``), which the gateway does not forward by default.

    ``custom_host_required``: without a custom host (or the settings' ``base_url``) the request is
    a 400 naming ``x-portkey-custom-host``, and nothing is sent.
    """

    __slots__ = ("_custom_host_required", "_forwarded")
    # The OpenAI options (OpenAI-Organization...) mean nothing to these APIs.
    option_headers: tuple[str, ...] = ()

    def __init__(
        self, spec: ProviderSpec, forwarded: tuple[str, ...] = (), *, custom_host_required: bool = False
    ) -> None:
        super().__init__(spec)
        self._forwarded = forwarded
        self._custom_host_required = custom_host_required

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        if self._custom_host_required and not call.base_url:
            raise InvalidRequest(
                f"{self._spec.slug} has no public base URL: send x-portkey-custom-host with your "
                f"cluster's URL, custom_host in the config, or base_url in [providers.{self._spec.slug}].",
                param="x-portkey-custom-host",
                code="missing_custom_host",
            )
        prepared = super().prepare(call, body)
        prepared.headers.update(_present(call.client_headers, self._forwarded))
        return prepared


class Meshy(PassThrough):
    """Meshy serves text-to-3d under ``/openapi/v2`` and its other tasks under ``/openapi/v1``; the
    version is picked from the path as Portkey picks it (``meshy/api.ts``). A custom host replaces
    ``https://api.meshy.ai/openapi``, so the version is kept (Portkey drops it there)."""

    __slots__ = ()

    def _endpoint(self, call: UpstreamCall) -> str:
        version = "v2" if call.endpoint.partition("/")[0] == "text-to-3d" else "v1"
        return f"{version}/{call.endpoint}"


def _present(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: value for name in names if (value := headers.get(name))}


def adapters() -> dict[str, ProviderAdapter]:
    """slug → adapter for every pass-through provider."""
    return {
        # Replicate reads Prefer (``wait`` or ``wait=<seconds>``: answer once the prediction is done).
        "replicate": PassThrough(REPLICATE, ("Prefer",)),
        "meshy": Meshy(MESHY),
        "tripo3d": PassThrough(TRIPO3D),
        "qdrant": PassThrough(QDRANT, custom_host_required=True),
        "milvus": PassThrough(MILVUS, custom_host_required=True),
    }
