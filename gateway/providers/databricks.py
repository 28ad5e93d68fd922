"""Databricks Model Serving: OpenAI's format under the workspace's ``/serving-endpoints``.

Databricks documents the OpenAI client against ``https://{workspace host}/serving-endpoints``, the
serving endpoint's name as ``model``, for chat, completions and embeddings
(https://docs.databricks.com/aws/en/machine-learning/model-serving/score-foundation-models). The
workspace host comes from ``x-portkey-databricks-workspace`` (config key ``databricks_workspace``),
given as the host or as the workspace URL (``https://dbc-1234abcd-5678.cloud.databricks.com``).
It must be a host under one of Databricks' workspace domains (AWS, Azure, GCP): the caller chooses
the workspace, never a host outside Databricks, so it needs no custom-host guard. A custom host
replaces the whole base URL (``https://<host>/serving-endpoints``), as for every provider.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from gateway.errors import InvalidRequest
from gateway.providers.base import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    ClientBody,
    PreparedRequest,
    ProviderSpec,
    UpstreamCall,
)
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_headers import OPENAI as OPENAI_OPTIONS
from gateway.providers.option_url import HOST_NAME

__all__ = [
    "SPEC",
    "Databricks",
    "workspace_base_url",
]

_OPTION = "databricks-workspace"
_HEADER = f"x-portkey-{_OPTION}"
#: Workspace hosts: ``*.cloud.databricks.com`` (AWS), ``*.azuredatabricks.net`` (Azure),
#: ``*.gcp.databricks.com`` (Google Cloud).
_DOMAINS = (".cloud.databricks.com", ".azuredatabricks.net", ".gcp.databricks.com")

SPEC = ProviderSpec(
    slug="databricks",
    name="Databricks Model Serving",
    base_url="https://{databricks-workspace}/serving-endpoints",
    docs="https://docs.databricks.com/aws/en/machine-learning/model-serving/score-foundation-models",
    endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS}),
)


class Databricks(OpenAICompatible):
    __slots__ = ()
    option_headers: tuple[str, ...] = (*OPENAI_OPTIONS, _OPTION)

    def __init__(self) -> None:
        super().__init__(SPEC)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        base = call.base_url or workspace_base_url(call.options)
        return super().prepare(dataclasses.replace(call, base_url=base), body)


def workspace_base_url(options: Mapping[str, str]) -> str:
    """``https://{workspace}/serving-endpoints``; a 400 naming the header for a missing workspace
    or one that is not a host under a Databricks workspace domain (never repeating the value)."""
    value = options.get(_OPTION, "").removeprefix("https://").removesuffix("/")
    if not value:
        raise InvalidRequest(
            f"Provider databricks needs the workspace: send {_HEADER} (config key databricks_workspace), "
            "such as dbc-1234abcd-5678.cloud.databricks.com, or x-portkey-custom-host with "
            "https://<workspace>/serving-endpoints.",
            param=_HEADER,
            code="missing_databricks_workspace",
        )
    host = value.lower()
    if HOST_NAME.fullmatch(host) is None or not host.endswith(_DOMAINS):
        raise InvalidRequest(
            f"{_HEADER} must be a Databricks workspace host (under {', '.join(d[1:] for d in _DOMAINS)}), "
            "or its https:// URL.",
            param=_HEADER,
            code="invalid_provider_option",
        )
    return f"https://{host}/serving-endpoints"
