"""The admin API for gateway keys and virtual keys (``/admin/keys``, ``/admin/virtual-keys``),
guarded by ``require_admin``.

A created gateway key is answered once, in ``key``; afterwards only its definition is shown, never
the key or its digest. A virtual key's secrets (``api_key``, ``options``) are accepted and never
shown: answers give a fingerprint of each. The settings' keys are listed and read-only (409).
Bodies are parsed by ``config/gateway_keys.py``, so errors name the field, never a value.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import orjson
from aiohttp import web

from gateway.api.admin_access import require_admin
from gateway.appkeys import BUDGETS, KEY_BOOK
from gateway.config.gateway_keys import (
    key_definition,
    parse_gateway_key,
    parse_virtual_key,
    virtual_key_definition,
)
from gateway.errors import InvalidRequest, NotFound
from gateway.limits.caller import GatewayKey, VirtualKey, key_digest
from gateway.routing.identity import fingerprint

__all__ = [
    "add_admin_routes",
]

#: A generated key: a recognisable prefix and 256 random bits.
_KEY_PREFIX = "gk-"
#: The largest admin body accepted (a key with long allow lists).
_MAX_BODY = 256 * 1024


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/keys", list_keys)
    router.add_post("/admin/keys", create_key)
    router.add_get("/admin/keys/{id}", get_key)
    router.add_patch("/admin/keys/{id}", update_key)
    router.add_delete("/admin/keys/{id}", revoke_key)
    router.add_get("/admin/keys/{id}/usage", key_usage)
    router.add_get("/admin/virtual-keys", list_virtual_keys)
    router.add_post("/admin/virtual-keys", create_virtual_key)
    router.add_get("/admin/virtual-keys/{name}", get_virtual_key)
    router.add_patch("/admin/virtual-keys/{name}", update_virtual_key)
    router.add_delete("/admin/virtual-keys/{name}", delete_virtual_key)


async def list_keys(request: web.Request) -> web.Response:
    require_admin(request)
    listed = await request.app[KEY_BOOK].keys()
    return _json({"object": "list", "data": [_shown_key(key, source) for key, source in listed]})


async def create_key(request: web.Request) -> web.Response:
    """Generates the key, stores its digest, and answers the key this once (201)."""
    require_admin(request)
    body = await _body(request)
    key_id = body.pop("id", None) or f"key-{secrets.token_hex(6)}"
    if not isinstance(key_id, str):
        raise InvalidRequest("id: expected a string.", param="id", code="invalid_key_definition")
    _refuse_key_fields(body)
    plain = _KEY_PREFIX + secrets.token_urlsafe(32)
    key = parse_gateway_key(key_id, {**body, "key_sha256": key_digest(plain)}, "body")
    await request.app[KEY_BOOK].create_key(key)
    return _json({**_shown_key(key, "admin"), "key": plain}, status=201)


async def get_key(request: web.Request) -> web.Response:
    require_admin(request)
    key, source = await request.app[KEY_BOOK].key(request.match_info["id"])
    return _json(_shown_key(key, source))


async def update_key(request: web.Request) -> web.Response:
    """Changes the fields the body gives (grants, limits, budgets, expiry, metadata...)."""
    require_admin(request)
    book = request.app[KEY_BOOK]
    key, _ = await book.key(request.match_info["id"])
    body = await _body(request)
    _refuse_key_fields(body)
    changed = parse_gateway_key(key.id, {**key_definition(key), **body}, "body")
    await book.replace_key(changed)
    return _json(_shown_key(changed, "admin"))


async def key_usage(request: web.Request) -> web.Response:
    """The key's requests, tokens and cost per period, and what each budget has left."""
    require_admin(request)
    key, _ = await request.app[KEY_BOOK].key(request.match_info["id"])
    budgets = request.app.get(BUDGETS)
    if budgets is None:
        raise NotFound(
            "Usage per key is counted with gateway keys on ([keys] enabled).", code="usage_not_counted"
        )
    return _json(await budgets.usage(key.id, key.budgets))


async def revoke_key(request: web.Request) -> web.Response:
    """Revokes the key: every process refuses it (401 ``revoked_gateway_key``) from its next request."""
    require_admin(request)
    book = request.app[KEY_BOOK]
    key, _ = await book.key(request.match_info["id"])
    revoked = dataclasses.replace(key, revoked=True)
    await book.replace_key(revoked)
    return _json(_shown_key(revoked, "admin"))


async def list_virtual_keys(request: web.Request) -> web.Response:
    require_admin(request)
    listed = await request.app[KEY_BOOK].all_virtual_keys()
    return _json({"object": "list", "data": [_shown_virtual(v, source) for v, source in listed]})


async def create_virtual_key(request: web.Request) -> web.Response:
    require_admin(request)
    body = await _body(request)
    name = body.pop("name", None)
    if not isinstance(name, str):
        raise InvalidRequest("name: expected a string.", param="name", code="invalid_key_definition")
    virtual = parse_virtual_key(name, body, "body")
    await request.app[KEY_BOOK].create_virtual_key(virtual)
    return _json(_shown_virtual(virtual, "admin"), status=201)


async def get_virtual_key(request: web.Request) -> web.Response:
    require_admin(request)
    virtual, source = await request.app[KEY_BOOK].virtual_key(request.match_info["name"])
    return _json(_shown_virtual(virtual, source))


async def update_virtual_key(request: web.Request) -> web.Response:
    require_admin(request)
    book = request.app[KEY_BOOK]
    virtual, _ = await book.virtual_key(request.match_info["name"])
    body = await _body(request)
    changed = parse_virtual_key(virtual.name, {**virtual_key_definition(virtual), **body}, "body")
    await book.replace_virtual_key(changed)
    return _json(_shown_virtual(changed, "admin"))


async def delete_virtual_key(request: web.Request) -> web.Response:
    require_admin(request)
    name = request.match_info["name"]
    await request.app[KEY_BOOK].delete_virtual_key(name)
    return _json({"name": name, "deleted": True})


def _shown_key(key: GatewayKey, source: str) -> dict[str, Any]:
    """The key's definition without its digest."""
    shown = key_definition(key)
    del shown["key_sha256"]
    return {"id": key.id, "source": source, "revoked": key.revoked, **shown}


def _shown_virtual(virtual: VirtualKey, source: str) -> dict[str, Any]:
    """The virtual key with each secret replaced by its fingerprint."""
    shown = virtual_key_definition(virtual)
    if "api_key" in shown:
        shown["api_key"] = {"fingerprint": fingerprint([shown["api_key"]])}
    if "options" in shown:
        shown["options"] = {
            name: {"fingerprint": fingerprint([value])} for name, value in shown["options"].items()
        }
    return {"name": virtual.name, "source": source, **shown}


def _refuse_key_fields(body: dict[str, Any]) -> None:
    # The gateway generates keys: a caller-chosen key (or digest) would be a guessable one.
    for field in ("key", "key_sha256"):
        if field in body:
            raise InvalidRequest(
                f"body.{field}: the gateway generates the key; leave {field} out.",
                param=f"body.{field}",
                code="invalid_key_definition",
            )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(_MAX_BODY + 1)
    if len(raw) > _MAX_BODY:
        raise InvalidRequest(f"The body is larger than {_MAX_BODY} bytes.", code="body_too_large")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The body must be a JSON object.", code="invalid_json")
    return value


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")
