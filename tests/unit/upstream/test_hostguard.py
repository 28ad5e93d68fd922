"""Where the gateway may connect: the custom-host policy, URL checks and the connection guard,
without a network (addresses are classified, never dialled; sockets are created, never connected)."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.config.settings import CustomHostSettings, Settings, SettingsError, load_settings
from gateway.errors import InvalidRequest
from gateway.upstream.hostguard import ConnectGuard, check_custom_host
from gateway.upstream.hostpolicy import AddressRefused, HostPolicy, listens_on_loopback_only, parse_allow


def policy(
    *allow: str,
    public: bool = True,
    metadata: bool = False,
    server_host: str = "0.0.0.0",
    operator_urls: tuple[str, ...] = (),
) -> HostPolicy:
    return HostPolicy.build(
        allow,
        allow_public=public,
        allow_metadata=metadata,
        server_host=server_host,
        operator_urls=operator_urls,
    )


PRODUCTION = policy()
DEV = policy(server_host="127.0.0.1")


def refused(value: str, rules: HostPolicy) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check_custom_host(value, rules)
    return caught.value


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


INTERNAL_HOSTS = [
    "http://127.0.0.1:8000/v1",
    "http://2130706433/v1",
    "http://0x7f.1/v1",
    "http://0177.0.0.1/v1",
    "http://127.1/v1",
    "http://127.0.0.1./v1",
    "http://[::1]/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://localhost:8000/v1",
    "http://LOCALHOST./v1",
    "http://api.localhost/v1",
    "http://10.0.0.1/v1",
    "http://192.168.1.10:8000/v1",
    "http://172.16.5.4/v1",
    "http://100.64.1.1/v1",
    "http://[fd00::1]/v1",
    "http://[ff02::1]/v1",
    "http://224.0.0.1/v1",
    "http://0.0.0.0/v1",
    "http://[::]/v1",
    "http://198.18.0.1/v1",
    "http://kubernetes.default.svc/api",
    "http://kubernetes.default.svc.cluster.local/api",
    "http://vllm/v1",
    "http://printer.local/v1",
    "https://db.corp.internal/v1",
]
METADATA_HOSTS = [
    "http://169.254.169.254/latest",
    "http://169.254.10.1:8080/v1",
    "http://2852039166/latest",
    "http://[fd00:ec2::254]/v1",
    "http://[fe80::1]/v1",
    "http://[fe80::1%25eth0]/v1",
    "http://100.100.100.200/v1",
    "http://168.63.129.16/machine",
    "http://192.0.0.192/opc/v2",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://METADATA.google.internal./v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://[::ffff:a9fe:a9fe]/v1",
    "http://[::169.254.169.254]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",
    "http://[64:ff9b:1::a9fe:a9fe]/v1",
    "http://[2002:a9fe:a9fe::1]/v1",
]


@pytest.mark.parametrize("host", INTERNAL_HOSTS + METADATA_HOSTS)
def test_internal_and_metadata_hosts_are_refused_by_default_in_production(host: str) -> None:
    error = refused(host, PRODUCTION)
    assert (error.status, error.type, error.code) == (400, "invalid_request_error", "custom_host_not_allowed")
    assert error.param == "x-portkey-custom-host"
    assert "custom_hosts.allow" in error.message


@pytest.mark.parametrize(
    "host",
    ["http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]/v1", "http://api.localhost/v1"],
)
def test_loopback_is_allowed_while_the_gateway_listens_on_loopback_only(host: str) -> None:
    assert URL(check_custom_host(host, DEV)).host == URL(host).host


@pytest.mark.parametrize("host", ["http://10.0.0.1/v1", "http://169.254.169.254/v1", "http://vllm/v1"])
def test_dev_mode_opens_loopback_only(host: str) -> None:
    refused(host, DEV)


@pytest.mark.parametrize("server_host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_loopback_server_hosts_are_loopback_only(server_host: str) -> None:
    assert listens_on_loopback_only(server_host)


@pytest.mark.parametrize("server_host", ["0.0.0.0", "::", "10.0.0.5", "gateway.example.com", ""])
def test_other_server_hosts_are_not_loopback_only(server_host: str) -> None:
    assert not listens_on_loopback_only(server_host)


@pytest.mark.parametrize("host", METADATA_HOSTS)
def test_metadata_hosts_stay_refused_when_listed_without_allow_metadata(host: str) -> None:
    rules = policy("169.254.0.0/16", "fe80::/10", "metadata.google.internal", "0.0.0.0/0", "::/0")
    assert "metadata" in refused(host, rules).message


@pytest.mark.parametrize(
    "host",
    ["http://169.254.169.254/latest", "http://[fd00:ec2::254]/v1", "http://metadata.google.internal/v1"],
)
def test_metadata_hosts_are_allowed_when_the_settings_say_so(host: str) -> None:
    assert URL(check_custom_host(host, policy(metadata=True))).host == URL(host).host


@pytest.mark.parametrize(
    ("allow", "host"),
    [
        ("10.0.0.0/8", "http://10.20.30.40:8000/v1"),
        ("fd00::/8", "http://[fd00::1]/v1"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("[fd00::1]:8000", "http://[fd00::1]:8000/v1"),
        ("192.168.1.10", "http://192.168.1.10:9/v1"),
        ("vllm.internal", "http://vllm.internal:8000/v1"),
        ("VLLM.internal.", "http://vllm.internal/v1"),
        ("vllm.internal:8000", "http://vllm.internal:8000/v1"),
        ("ollama", "http://ollama:11434"),
        ("localhost", "http://localhost:11434"),
    ],
)
def test_allow_opens_hosts_ports_addresses_and_ranges(allow: str, host: str) -> None:
    assert check_custom_host(host, policy(allow)) == host


@pytest.mark.parametrize(
    ("allow", "host"),
    [
        ("10.0.0.0/16", "http://10.1.0.1/v1"),
        ("127.0.0.1:8000", "http://127.0.0.1:8001/v1"),
        ("vllm.internal:8000", "http://vllm.internal:8001/v1"),
        ("localhost", "http://127.0.0.1/v1"),  # a name opens the name, not its address
        ("127.0.0.1", "http://localhost/v1"),
    ],
)
def test_allow_opens_nothing_else(allow: str, host: str) -> None:
    refused(host, policy(allow))


def test_public_hosts_are_allowed_unless_allow_public_is_false() -> None:
    assert check_custom_host("https://api.example.com/v1", PRODUCTION) == "https://api.example.com/v1"
    assert check_custom_host("http://8.8.8.8/v1", PRODUCTION) == "http://8.8.8.8/v1"
    exclusive = policy("api.example.com", public=False)
    assert check_custom_host("https://api.example.com/v1", exclusive) == "https://api.example.com/v1"
    for host in ("https://other.example.com/v1", "http://8.8.8.8/v1"):
        assert "not in custom_hosts.allow" in refused(host, exclusive).message


def test_urls_the_operator_wrote_are_allowed_on_their_host_and_port() -> None:
    rules = policy(
        operator_urls=("http://10.0.0.7:8000/v1", "http://vllm.internal/v1", "https://[fd00::2]/x")
    )
    assert check_custom_host("http://10.0.0.7:8000/v1", rules)
    assert check_custom_host("http://vllm.internal:80/other", rules)
    assert check_custom_host("https://[fd00::2]/v1", rules)
    refused("http://10.0.0.7:8001/v1", rules)
    refused("http://vllm.internal:8080/v1", rules)


@pytest.mark.parametrize(
    "host",
    [
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "127.0.0.1:8000/v1",
        "not a url",
        "http://",
        "http:///v1",
        "http://" + "a" * 64 + ".test/v1",
        "http://bad..test/v1",
        "http://127.0.0.1:8000/v1?x=",
        "http://127.0.0.1:8000/v1#x",
        "http://user:s3cret@127.0.0.1:8000/v1",
        "http://user@127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/v1/../admin",
        "http://127.0.0.1:8000/v1/..",
        "http://127.0.0.1:8000/./v1",
        "http://127.0.0.1:8000/v1/%2e%2e/admin",
        "http://127.0.0.1:8000/v1/%2E./admin",
        "http://127.0.0.1:8000/v1/.%2E/admin",
        "http://127.0.0.1:8000/v1\\..\\admin",
        "http://127.0.0.1:8000/v 1",
        "http://127.0.0.1:8000/" + "a" * 2048,
        "http://134744072/v1",  # 8.8.8.8 spelled as a number: public, but write it a.b.c.d
    ],
)
def test_malformed_custom_hosts_are_bad_requests(host: str) -> None:
    error = refused(host, DEV)
    assert (error.status, error.code) == (400, "invalid_custom_host")


def test_errors_never_echo_a_userinfo_password() -> None:
    for rules in (DEV, PRODUCTION):
        error = refused("http://user:s3cret-pw@10.0.0.1/v1", rules)
        assert "s3cret-pw" not in error.message
        assert "user:" not in error.message


def test_config_custom_hosts_are_named_by_their_config_path() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_custom_host(
            "http://10.0.0.1/v1", PRODUCTION, "config.targets[1].custom_host", "x-portkey-config"
        )
    assert caught.value.param == "x-portkey-config"
    assert caught.value.message.startswith("config.targets[1].custom_host http://10.0.0.1 is refused")


def test_custom_host_is_returned_as_a_base_url_without_trailing_slash() -> None:
    assert check_custom_host(" http://127.0.0.1:8000/v1/ ", DEV) == "http://127.0.0.1:8000/v1"
    assert check_custom_host("ws://127.0.0.1:8000/v1", DEV) == "http://127.0.0.1:8000/v1"


def test_the_check_cache_is_keyed_on_the_policy() -> None:
    assert check_custom_host("http://10.0.0.1/v1", policy("10.0.0.0/8"))
    refused("http://10.0.0.1/v1", PRODUCTION)


def test_settings_derive_the_policy_from_server_host_and_operator_urls() -> None:
    dev = Settings()
    assert dev.host_policy.allow_loopback
    settings = load_settings(
        None,
        {
            "GATEWAY_HOST": "0.0.0.0",
            "GATEWAY_CUSTOM_HOSTS_ALLOW": "10.0.0.0/8, vllm.internal:8000",
            "GATEWAY_CUSTOM_HOSTS_ALLOW_PUBLIC": "false",
        },
    )
    assert not settings.host_policy.allow_loopback
    assert not settings.host_policy.allow_public
    assert settings.host_policy == parse_and_build(("10.0.0.0/8", "vllm.internal:8000"))


def parse_and_build(allow: tuple[str, ...]) -> HostPolicy:
    return HostPolicy(parse_allow(allow), allow_public=False, allow_loopback=False, allow_metadata=False)


@pytest.mark.parametrize(
    "entry", ["10.0.0.0/33", "10.0.0.0/8/1", "host:99999", "host:x", "a b", "u:p@host", "h/p"]
)
def test_bad_allow_entries_are_refused_at_start_up_naming_the_field(entry: str) -> None:
    with pytest.raises(SettingsError, match=r"^custom_hosts\.allow: "):
        CustomHostSettings(allow=(entry,))


@pytest.mark.parametrize(
    "addresses",
    [
        ("169.254.169.254",),
        ("fd00:ec2::254",),
        ("fe80::1%eth0",),
        ("::ffff:169.254.169.254",),
        ("10.0.0.1",),
        ("127.0.0.1",),
        ("8.8.8.8", "10.0.0.1"),  # DNS rebinding: one forbidden address refuses the name
    ],
)
async def test_name_resolving_to_a_forbidden_address_is_refused(addresses: tuple[str, ...]) -> None:
    guard = ConnectGuard(FixedResolver(*addresses), PRODUCTION)
    with pytest.raises(AddressRefused, match=r"^rebind\.example resolves to "):
        await guard.resolve("rebind.example", 80)


async def test_name_resolving_to_public_addresses_passes_through_unchanged() -> None:
    inner = FixedResolver("8.8.8.8", "2606:4700::1")
    answer = await ConnectGuard(inner, PRODUCTION).resolve("api.example.com", 443, socket.AF_UNSPEC)
    assert [result["host"] for result in answer] == ["8.8.8.8", "2606:4700::1"]
    assert {result["port"] for result in answer} == {443}
    assert inner.asked == ["api.example.com"]


async def test_allowed_name_may_resolve_anywhere_but_metadata() -> None:
    rules = policy("vllm.internal")
    answer = await ConnectGuard(FixedResolver("10.0.0.5", "fd00::5"), rules).resolve("vllm.internal", 80)
    assert [result["host"] for result in answer] == ["10.0.0.5", "fd00::5"]
    with pytest.raises(AddressRefused, match="metadata"):
        await ConnectGuard(FixedResolver("169.254.169.254"), rules).resolve("vllm.internal", 80)


def addr_info(
    address: str, port: int
) -> tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int]]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:10.0.0.1"])
def test_socket_factory_refuses_a_forbidden_address_before_any_socket(address: str) -> None:
    with pytest.raises(AddressRefused):
        ConnectGuard(FixedResolver(), PRODUCTION).socket(addr_info(address, 80))


async def test_socket_factory_lets_through_public_allowed_and_vouched_addresses() -> None:
    guard = ConnectGuard(
        FixedResolver("10.0.0.5"), policy("vllm.internal", "192.168.0.0/16", "127.0.0.1:8000")
    )
    await guard.resolve("vllm.internal", 80)
    for address, port in [("8.8.8.8", 443), ("192.168.3.4", 80), ("127.0.0.1", 8000), ("10.0.0.5", 80)]:
        guard.socket(addr_info(address, port)).close()
    with pytest.raises(AddressRefused):
        guard.socket(addr_info("127.0.0.1", 8001))


async def test_connect_guard_closes_the_resolver_it_wraps() -> None:
    inner = FixedResolver("127.0.0.1")
    await ConnectGuard(inner, PRODUCTION).close()
    assert inner.closed
