"""``GET /v1/models`` and ``GET /v1/models/{model}`` where the provider has no model list to ask.

A provider whose row does not list the ``models`` family (a catalog row such as Perplexity's;
Vertex AI, whose only list is Model Garden's, per publisher and in v1beta1 only) is answered by the
gateway itself, in OpenAI's list shape: the models the price table (``gateway/data/prices.json``
and the operator's ``[pricing] file``) knows for that provider, each ``owned_by`` it. Providers
with a list of their own are asked (OpenAI-format rows as they are, translated ones through
``providers/model_lists.py``).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway.appkeys import SETTINGS
from gateway.errors import InvalidRequest, NotFound
from gateway.providers.base import MODELS
from gateway.providers.openai_format import openai_model
from gateway.providers.translated import TranslatedProvider
from gateway.routing.attempts import RequestContext

__all__ = [
    "local_models",
]

#: Longest model id a not-found error repeats.
_LONGEST_ECHOED = 100


def local_models(context: RequestContext) -> web.Response | None:
    """The gateway's own answer when the first target has no model list (``None``: ask it); a
    404 ``model_not_found`` for one model the price table does not know for that provider; a 400
    for a DELETE on a translated provider (only OpenAI-format providers delete models)."""
    request = context.request
    adapter = context.targets[0].adapter
    spec = adapter.spec
    if request.method != "GET":
        if isinstance(adapter, TranslatedProvider):
            raise InvalidRequest(
                f"Provider {spec.slug} has no model deletion: DELETE /v1/models/{{model}} is OpenAI's, "
                "for fine-tuned models.",
                param="x-portkey-provider",
                code="unsupported_endpoint",
            )
        return None
    if spec.endpoints is None or MODELS in spec.endpoints:
        return None
    names = sorted(request.app[SETTINGS].pricing.table.prices.get(spec.slug, {}))
    model = request.match_info.get("model")
    if model is None:
        body = {"object": "list", "data": [openai_model(name, spec.slug) for name in names]}
    elif model in names:
        body = openai_model(model, spec.slug)
    else:
        named = repr(model) if len(model) <= _LONGEST_ECHOED else f"({len(model)} characters)"
        raise NotFound(
            f"Model {named} is not in the gateway's model list for provider {spec.slug}, which has "
            "no model list of its own (GET /v1/models shows the models the gateway knows).",
            param="model",
            code="model_not_found",
        )
    headers = {"x-portkey-provider": spec.slug}
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)
