"""Every gateway key and virtual key a gateway knows: the settings' (read-only) and those the admin
API creates, kept by a backend: this process's memory, or Redis (``limits/redis_key_store.py``),
shared by every process and replica naming it.

Nothing is cached in front of the backend: identify reads the key on every request, so a
revocation through any process is refused by every process from its next request on. With Redis
that is one ``HGET`` a request (0.7 ms with its parse, measured on loopback on a busy 2-core box);
Redis unreachable is a 503 (``key_store_unavailable``), never a request let through without its
key's grants and limits. The settings' keys are found before the backend is asked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.limits.caller import GatewayKey, VirtualKey

__all__ = [
    "KeyBackend",
    "KeyBook",
    "MemoryKeys",
    "Source",
]

#: Where a key's definition lives: ``settings`` (read-only) or ``admin`` (the admin API's).
Source = str


class KeyBackend(Protocol):
    """Where the admin API's keys live. Methods may raise a :class:`GatewayError` (a 503) when
    the backend cannot answer."""

    async def key_by_digest(self, digest: str) -> GatewayKey | None: ...
    async def key(self, key_id: str) -> GatewayKey | None: ...
    async def keys(self) -> list[GatewayKey]: ...
    async def add_key(self, key: GatewayKey) -> bool:
        """Store a new key; ``False`` (nothing stored) when its id is taken."""
        ...

    async def put_key(self, key: GatewayKey) -> None:
        """Replace the stored key of that id (its digest never changes)."""
        ...

    async def virtual_keys(self, names: list[str]) -> list[VirtualKey | None]: ...
    async def all_virtual_keys(self) -> list[VirtualKey]: ...
    async def add_virtual_key(self, virtual: VirtualKey) -> bool: ...
    async def put_virtual_key(self, virtual: VirtualKey) -> None: ...
    async def delete_virtual_key(self, name: str) -> bool: ...
    async def close(self) -> None: ...


class MemoryKeys:
    """The admin API's keys in this process only (other workers and replicas never see them)."""

    def __init__(self) -> None:
        self._keys: dict[str, GatewayKey] = {}
        self._by_digest: dict[str, GatewayKey] = {}
        self._virtual: dict[str, VirtualKey] = {}

    async def key_by_digest(self, digest: str) -> GatewayKey | None:
        return self._by_digest.get(digest)

    async def key(self, key_id: str) -> GatewayKey | None:
        return self._keys.get(key_id)

    async def keys(self) -> list[GatewayKey]:
        return list(self._keys.values())

    async def add_key(self, key: GatewayKey) -> bool:
        if key.id in self._keys:
            return False
        await self.put_key(key)
        return True

    async def put_key(self, key: GatewayKey) -> None:
        self._keys[key.id] = self._by_digest[key.digest] = key

    async def virtual_keys(self, names: list[str]) -> list[VirtualKey | None]:
        return [self._virtual.get(name) for name in names]

    async def all_virtual_keys(self) -> list[VirtualKey]:
        return list(self._virtual.values())

    async def add_virtual_key(self, virtual: VirtualKey) -> bool:
        if virtual.name in self._virtual:
            return False
        self._virtual[virtual.name] = virtual
        return True

    async def put_virtual_key(self, virtual: VirtualKey) -> None:
        self._virtual[virtual.name] = virtual

    async def delete_virtual_key(self, name: str) -> bool:
        return self._virtual.pop(name, None) is not None

    async def close(self) -> None:
        return None


class KeyBook:
    """The settings' keys over the backend's: the identify step's
    :class:`~gateway.limits.keys.KeyStore`, virtual key resolution, and what the admin API
    changes (the settings' keys and virtual keys are read-only: a 409 on change)."""

    def __init__(
        self,
        keys: Mapping[str, GatewayKey],
        virtual_keys: Mapping[str, VirtualKey],
        backend: KeyBackend,
    ) -> None:
        self._settings_keys = dict(keys)
        self._settings_digests = {key.digest: key for key in keys.values()}
        self._settings_virtual = dict(virtual_keys)
        self.backend = backend

    async def find(self, digest: str) -> GatewayKey | None:
        return self._settings_digests.get(digest) or await self.backend.key_by_digest(digest)

    async def resolve(self, names: Collection[str], param: str) -> dict[str, VirtualKey]:
        """The virtual keys ``names``; a 400 naming the first unknown one (``param``: where the
        request named it)."""
        found = {name: self._settings_virtual[name] for name in names if name in self._settings_virtual}
        missing = sorted(set(names) - set(found))
        if missing:
            for name, virtual in zip(missing, await self.backend.virtual_keys(missing), strict=True):
                if virtual is None:
                    raise InvalidRequest(
                        f"No virtual key named {name!r}: define it in [virtual_keys.<name>] or "
                        "through POST /admin/virtual-keys.",
                        param=param,
                        code="unknown_virtual_key",
                    )
                found[name] = virtual
        return found

    # The admin API's reads and changes.

    async def key(self, key_id: str) -> tuple[GatewayKey, Source]:
        if key_id in self._settings_keys:
            return self._settings_keys[key_id], "settings"
        key = await self.backend.key(key_id)
        if key is None:
            raise NotFound(f"No gateway key with id {key_id!r}.", code="unknown_gateway_key")
        return key, "admin"

    async def keys(self) -> list[tuple[GatewayKey, Source]]:
        listed = [(key, "settings") for key in self._settings_keys.values()]
        return listed + [(key, "admin") for key in await self.backend.keys()]

    async def create_key(self, key: GatewayKey) -> None:
        if key.id in self._settings_keys or not await self.backend.add_key(key):
            raise _conflict(f"A gateway key with id {key.id!r} exists already.", "gateway_key_exists")

    async def replace_key(self, key: GatewayKey) -> None:
        """Store ``key`` over the admin key of its id (a 409 for a settings key)."""
        await self.key(key.id)
        if key.id in self._settings_keys:
            raise _read_only("gateway key", key.id, "gateway_keys")
        await self.backend.put_key(key)

    async def virtual_key(self, name: str) -> tuple[VirtualKey, Source]:
        if name in self._settings_virtual:
            return self._settings_virtual[name], "settings"
        virtual = (await self.backend.virtual_keys([name]))[0]
        if virtual is None:
            raise NotFound(f"No virtual key named {name!r}.", code="unknown_virtual_key")
        return virtual, "admin"

    async def all_virtual_keys(self) -> list[tuple[VirtualKey, Source]]:
        listed = [(virtual, "settings") for virtual in self._settings_virtual.values()]
        return listed + [(virtual, "admin") for virtual in await self.backend.all_virtual_keys()]

    async def create_virtual_key(self, virtual: VirtualKey) -> None:
        if virtual.name in self._settings_virtual or not await self.backend.add_virtual_key(virtual):
            raise _conflict(f"A virtual key named {virtual.name!r} exists already.", "virtual_key_exists")

    async def replace_virtual_key(self, virtual: VirtualKey) -> None:
        await self._changeable_virtual(virtual.name)
        await self.backend.put_virtual_key(virtual)

    async def delete_virtual_key(self, name: str) -> None:
        await self._changeable_virtual(name)
        if not await self.backend.delete_virtual_key(name):
            raise NotFound(f"No virtual key named {name!r}.", code="unknown_virtual_key")

    async def _changeable_virtual(self, name: str) -> None:
        _, source = await self.virtual_key(name)
        if source == "settings":
            raise _read_only("virtual key", name, "virtual_keys")

    async def close(self) -> None:
        await self.backend.close()


def _read_only(what: str, name: str, table: str) -> GatewayError:
    return _conflict(
        f"The {what} {name!r} is defined in the settings file ([{table}.{name}]) and is read-only "
        "here: change it there.",
        "read_only_key",
    )


def _conflict(message: str, code: str) -> GatewayError:
    return InvalidRequest(message, code=code, status=409)
