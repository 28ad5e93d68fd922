"""Where the gateway may connect: custom-host checks and the DNS-rebinding guard, without a network."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.config.settings import CustomHostSettings
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.upstream.hostguard import GuardedResolver, check_custom_host, guarded

DEFAULT = CustomHostSettings()
METADATA_ALLOWED = CustomHostSettings(allow_metadata=True)

METADATA_HOSTS = [
    "http://169.254.169.254/latest",
    "http://169.254.10.1:8080/v1",
    "http://[fd00:ec2::254]/v1",
    "http://[fe80::1]/v1",
    "http://100.100.100.200/v1",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://METADATA.google.internal/v1",
    # IPv4-mapped IPv6 literals connect to the IPv4 address on a dual-stack socket.
    "http://[::ffff:169.254.169.254]/v1",
    "http://[::ffff:a9fe:a9fe]/v1",
]


class FixedResolver(AbstractResolver):
    """A stand-in for DNS: answers every name with the same addresses and records what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_hosts_are_refused_by_default(host: str) -> None:
    with pytest.raises(PermissionDenied) as caught:
        check_custom_host(host, DEFAULT)
    assert caught.value.status == 403
    assert caught.value.code == "custom_host_not_allowed"


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_hosts_are_allowed_when_the_settings_say_so(host: str) -> None:
    assert URL(check_custom_host(host, METADATA_ALLOWED)).host == URL(host).host


@pytest.mark.parametrize(
    "host",
    [
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "127.0.0.1:8000/v1",
        "not a url",
        "http://",
        "http:///v1",
        # Names no resolver can look up (a label over 63 characters, an empty label).
        "http://" + "a" * 64 + ".test/v1",
        "http://bad..test/v1",
    ],
)
def test_non_http_hostless_or_unresolvable_custom_hosts_are_bad_requests(host: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_custom_host(host, DEFAULT)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_custom_host"


def test_custom_host_is_returned_as_a_base_url_without_trailing_slash() -> None:
    assert check_custom_host(" http://127.0.0.1:8000/v1/ ", DEFAULT) == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("allow", [("127.0.0.1",), ("127.0.0.1:8000",), ("10.0.0.1", "127.0.0.1:8000")])
def test_allowlist_accepts_listed_host_or_host_and_port(allow: tuple[str, ...]) -> None:
    settings = CustomHostSettings(allow=allow)
    assert check_custom_host("http://127.0.0.1:8000/v1", settings) == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("allow", [("127.0.0.2",), ("127.0.0.1:8001",), ("localhost",)])
def test_allowlist_refuses_every_other_host(allow: tuple[str, ...]) -> None:
    with pytest.raises(PermissionDenied) as caught:
        check_custom_host("http://127.0.0.1:8000/v1", CustomHostSettings(allow=allow))
    assert "custom_hosts.allow" in caught.value.message


@pytest.mark.parametrize(
    "addresses",
    [
        ("169.254.169.254",),
        ("fd00:ec2::254",),
        ("fe80::1%eth0",),
        ("::ffff:169.254.169.254",),
        ("93.184.215.14", "169.254.169.254"),
    ],
)
async def test_name_resolving_to_a_metadata_address_is_refused(addresses: tuple[str, ...]) -> None:
    resolver = GuardedResolver(FixedResolver(*addresses))
    with pytest.raises(OSError, match="cloud metadata"):
        await resolver.resolve("rebind.example", 80)


async def test_name_resolving_to_ordinary_addresses_passes_through_unchanged() -> None:
    inner = FixedResolver("127.0.0.1", "::1", "10.1.2.3")
    answer = await GuardedResolver(inner).resolve("models.internal", 8000, socket.AF_UNSPEC)
    assert [result["host"] for result in answer] == ["127.0.0.1", "::1", "10.1.2.3"]
    assert {result["port"] for result in answer} == {8000}
    assert inner.asked == ["models.internal"]


async def test_guarded_resolver_closes_the_resolver_it_wraps() -> None:
    inner = FixedResolver("127.0.0.1")
    await GuardedResolver(inner).close()
    assert inner.closed


def test_resolver_is_guarded_unless_metadata_is_allowed() -> None:
    inner = FixedResolver("169.254.169.254")
    assert isinstance(guarded(inner, DEFAULT), GuardedResolver)
    assert guarded(inner, METADATA_ALLOWED) is inner
