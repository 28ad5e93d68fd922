"""Address parsing and classification in every spelling (classified only: nothing here is dialled)."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.upstream.addresses import Kind, classify, is_legacy_ipv4, parse_address


@pytest.mark.parametrize(
    "spelling",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "0177.0.0.1",  # octal
        "0x7f.1",  # hex, short
        "0x7F000001",
        "017700000001",
        "127.1",  # short
        "127.0.0.1.",  # trailing dot
        "127.000.000.001",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "[::ffff:7f00:1]",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::7f00:1",  # NAT64
        "2002:7f00:1::1",  # 6to4
        "::1",
        "[::1]",
    ],
)
def test_every_spelling_of_loopback_is_loopback(spelling: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert classify(address)[0] is Kind.LOOPBACK


@pytest.mark.parametrize(
    "spelling",
    [
        "169.254.169.254",
        "2852039166",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "::169.254.169.254",  # IPv4-compatible: passed every check before
        "64:ff9b::a9fe:a9fe",  # NAT64: passed every check before
        "::ffff:169.254.169.254",
        "2002:a9fe:a9fe::",  # 6to4
        "fd00:ec2::254",
        "FD00:EC2::254",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
        "169.254.170.2",
        "fe80::1%eth0",  # zone id
        "[fe80::a9fe:a9fe%25en0]",
    ],
)
def test_every_spelling_of_a_metadata_address_is_metadata(spelling: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert classify(address)[0] is Kind.METADATA


@pytest.mark.parametrize(
    ("spelling", "label"),
    [
        ("10.1.2.3", "private (RFC 1918)"),
        ("172.16.0.1", "private (RFC 1918)"),
        ("192.168.1.1", "private (RFC 1918)"),
        ("0xc0.0xa8.1.1", "private (RFC 1918)"),
        ("100.64.0.1", "carrier-grade NAT (RFC 6598)"),
        ("100.127.255.254", "carrier-grade NAT (RFC 6598)"),
        ("fd12:3456::1", "unique local (ULA)"),
        ("fc00::1", "unique local (ULA)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified ('this network')"),
        ("0", "unspecified ('this network')"),
        ("::", "unspecified"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("2001:db8::1", "documentation"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "reserved (IETF protocol assignments)"),
        ("64:ff9b:1::a00:1", "private (RFC 1918) (10.0.0.1 inside IPv6)"),
        ("64:ff9b:1::808:808", "local-use NAT64"),
        ("100::1", "reserved (discard)"),
        ("fec0::1", "site-local"),
        ("::ffff:10.0.0.1", "private (RFC 1918) (10.0.0.1 inside IPv6)"),
        ("64:ff9b::c0a8:101", "private (RFC 1918) (192.168.1.1 inside IPv6)"),
        # Teredo whose client end (obfuscated in the last 32 bits) is 192.0.2.45.
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation (192.0.2.45 inside IPv6)"),
    ],
)
def test_internal_addresses_are_internal_with_a_label_for_messages(spelling: str, label: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert classify(address) == (Kind.INTERNAL, label)


@pytest.mark.parametrize(
    "spelling",
    ["8.8.8.8", "1.1.1.1", "2606:4700::1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_public(spelling: str) -> None:
    address = parse_address(spelling)
    assert address is not None
    assert classify(address) == (Kind.PUBLIC, "public")


@pytest.mark.parametrize("name", ["localhost", "vllm.internal", "example.com", "1.2.3.4.5", "256.1.1.1", ""])
def test_names_and_impossible_addresses_are_not_addresses(name: str) -> None:
    assert parse_address(name) is None


@pytest.mark.parametrize(("host", "legacy"), [("127.1", True), ("2130706433", True), ("127.0.0.1", False)])
def test_legacy_ipv4_forms_are_told_apart_from_dotted_decimal(host: str, legacy: bool) -> None:
    assert is_legacy_ipv4(host) is legacy
    assert parse_address(host) == ipaddress.ip_address("127.0.0.1")
