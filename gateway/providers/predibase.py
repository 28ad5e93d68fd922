"""Predibase: OpenAI's chat format under per-tenant, per-deployment paths, named as Portkey names them.

Predibase documents its OpenAI-compatible API at
``https://serving.app.predibase.com/{tenant_id}/deployments/v2/llms/{deployment}/v1`` with the
LoRA adapter (``repo/version``, or ``""`` for the base model) as ``model``
(https://docs.predibase.com/user-guide/inference/migrate-openai). Portkey callers name the tenant
in the request's ``user`` field and write ``model`` as ``deployment[:adapter]``; the request that
leaves has ``model`` set to the adapter and no ``user`` (it was the tenant, not an end user). A
custom host replaces ``https://serving.app.predibase.com`` only, as in Portkey.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.errors import InvalidRequest
from gateway.providers.base import CHAT, ClientBody, PreparedRequest, ProviderSpec, UpstreamCall
from gateway.providers.openai_compat import OpenAICompatible
from gateway.providers.option_url import PATH_SEGMENT

__all__ = [
    "SPEC",
    "Predibase",
]

SPEC = ProviderSpec(
    slug="predibase",
    name="Predibase",
    base_url="https://serving.app.predibase.com",
    docs="https://docs.predibase.com/user-guide/inference/migrate-openai",
    endpoints=frozenset({CHAT}),
)


class Predibase(OpenAICompatible):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(SPEC)

    def prepare(self, call: UpstreamCall, body: ClientBody) -> PreparedRequest:
        params = body.params or {}
        tenant = _segment(params.get("user"), "user", "the Predibase tenant id")
        deployment = _segment(str(params.get("model") or "").partition(":")[0], "model", "the deployment")
        base = (call.base_url or SPEC.base_url).rstrip("/")
        routed = f"{base}/{tenant}/deployments/v2/llms/{deployment}/v1"
        return super().prepare(dataclasses.replace(call, base_url=routed), body)

    def _rewrite(self, endpoint: str, params: dict[str, Any]) -> bool:
        """``model`` becomes the adapter (``""``: the deployment's base model); ``user`` goes."""
        params["model"] = str(params.get("model") or "").partition(":")[2]
        params.pop("user", None)
        return True


def _segment(value: object, field: str, meaning: str) -> str:
    """``value`` as one path segment; a 400 naming the body ``field`` otherwise (never its value)."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"Provider predibase needs {meaning} in the request's {field} field "
            "(user: the tenant id; model: deployment[:adapter_repo/version]).",
            param=field,
            code="missing_predibase_route",
        )
    if PATH_SEGMENT.fullmatch(value) is None:
        raise InvalidRequest(
            f"The request's {field} field names {meaning} for provider predibase: it may hold only "
            "letters, digits, '_' and '-' (it is part of the URL).",
            param=field,
            code="invalid_provider_option",
        )
    return value
