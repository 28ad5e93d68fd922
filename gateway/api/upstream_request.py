"""A target's upstream request, prepared by its adapter, for HTTP and realtime alike.

The adapter builds the whole request (``ProviderAdapter.prepare``); this module brings what only
the app has: the upstream session, the custom-host policy and the cloud credentials that an auth
step (a token to fetch, a signature) may need just before each attempt.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.api.bodies import too_deep
from gateway.appkeys import CLOUD_AUTH, SETTINGS, UPSTREAM
from gateway.providers.base import ClientBody, Credentials, PreparedRequest, UpstreamCall
from gateway.routing.target import Target
from gateway.upstream.hostguard import check_custom_host

__all__ = [
    "authorize",
    "credentials",
    "prepare",
]


def prepare(
    target: Target,
    endpoint: str,
    query: str,
    client_headers: Mapping[str, str],
    body: ClientBody,
    method: str = "POST",
) -> PreparedRequest:
    """``target``'s request for ``endpoint`` (the path after ``/v1/``) and the raw ``query``; the
    adapter's 400s pass through, and a body too deep to re-encode is a 400 as well."""
    call = UpstreamCall(
        endpoint,
        query,
        target.base_url,
        target.options,
        client_headers,
        target.strict_open_ai_compliance,
        target.api_key,
        method,
    )
    try:
        return target.adapter.prepare(call, body)
    except (orjson.JSONEncodeError, RecursionError):
        raise too_deep() from None


async def authorize(
    app: web.Application, target: Target, prepared: PreparedRequest, headers: CIMultiDict[str]
) -> None:
    """Run ``prepared``'s auth step (a caller checks that it has one) and put the headers it
    completed into ``headers``, the ones to send. Its failures (a refused token, a forbidden
    token URL, missing credentials) raise :class:`gateway.errors.GatewayError`."""
    assert prepared.authorize is not None
    await prepared.authorize(credentials(app, target.api_key, target.options, target.base_url))
    headers.update(prepared.headers)


def credentials(app: web.Application, api_key: str, options: Mapping[str, str], base_url: str) -> Credentials:
    """What an auth step may use to call for a key, its options and base URL."""
    check_url = functools.partial(
        check_custom_host,
        policy=app[SETTINGS].host_policy,
        where="The service account's token_uri",
        param="x-portkey-vertex-service-account-json",
    )
    return Credentials(api_key, options, app[UPSTREAM], check_url, app[CLOUD_AUTH], base_url)
