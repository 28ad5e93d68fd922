"""Which addresses a caller may make the gateway connect to: IP parsing in every spelling, and classes.

Pure functions, no I/O. An address is *public* only if it is globally routable and not a cloud
metadata service; everything else (loopback, private, link-local, CGNAT, ULA, multicast, reserved,
documentation...) is *internal* unless the settings open it. IPv6 forms that carry an IPv4 address
(mapped, compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they reach.

The tables are explicit rather than ``ipaddress``'s ``is_global``/``is_private``: those changed
between Python releases (3.11 calls 192.0.0.192 and all multicast global), and a security rule must
not move with the interpreter.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Final

__all__ = [
    "METADATA_NAMES",
    "IPAddress",
    "IPNetwork",
    "Kind",
    "classify",
    "is_legacy_ipv4",
    "parse_address",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Kind(enum.Enum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    METADATA = "cloud metadata"
    INTERNAL = "internal"


#: Instance metadata and host-agent endpoints: they hand out the machine's own credentials.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wireserver (a public address!)
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_NAMES: Final = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)


def _table(*rows: tuple[str, Kind, str]) -> tuple[tuple[IPNetwork, Kind, str], ...]:
    return tuple((ipaddress.ip_network(net), kind, label) for net, kind, label in rows)


_L, _M, _I = Kind.LOOPBACK, Kind.METADATA, Kind.INTERNAL
_IPV4: Final = _table(
    ("0.0.0.0/8", _I, "unspecified ('this network')"),
    ("10.0.0.0/8", _I, "private (RFC 1918)"),
    ("100.64.0.0/10", _I, "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", _L, "loopback"),
    # Link-local is where metadata services live (169.254.169.254, 169.254.170.2, ...).
    ("169.254.0.0/16", _M, "link-local"),
    ("172.16.0.0/12", _I, "private (RFC 1918)"),
    ("192.0.0.0/24", _I, "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", _I, "documentation"),
    ("192.88.99.0/24", _I, "reserved (6to4 relay)"),
    ("192.168.0.0/16", _I, "private (RFC 1918)"),
    ("198.18.0.0/15", _I, "benchmarking"),
    ("198.51.100.0/24", _I, "documentation"),
    ("203.0.113.0/24", _I, "documentation"),
    ("224.0.0.0/4", _I, "multicast"),
    ("240.0.0.0/4", _I, "reserved"),
)
_IPV6: Final = _table(
    ("::/128", _I, "unspecified"),
    ("::1/128", _L, "loopback"),
    ("64:ff9b:1::/48", _I, "local-use NAT64"),
    ("100::/64", _I, "reserved (discard)"),
    ("2001:db8::/32", _I, "documentation"),
    ("3fff::/20", _I, "documentation"),
    ("fc00::/7", _I, "unique local (ULA)"),
    ("fe80::/10", _M, "link-local"),
    ("fec0::/10", _I, "site-local"),
    ("ff00::/8", _I, "multicast"),
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.ip_network("::/96")
_LOCAL_NAT64: Final = ipaddress.ip_network("64:ff9b:1::/48")


def parse_address(host: str) -> IPAddress | None:
    """The address ``host`` names if it is an IP literal in any spelling, else ``None`` (a name).

    Accepts brackets, an IPv6 zone id (``fe80::1%eth0``), trailing dots, any case, and the legacy
    IPv4 forms ``inet_aton`` and browsers accept (``2130706433``, ``0177.0.0.1``, ``0x7f.1``,
    ``127.1``): a resolver turns each into an address, so each must be judged as one.
    """
    text = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return _legacy_ipv4(text)


def is_legacy_ipv4(host: str) -> bool:
    """Whether ``host`` is an IPv4 address written other than as four decimal parts."""
    text = host.strip().rstrip(".")
    address = parse_address(text)
    return isinstance(address, ipaddress.IPv4Address) and str(address) != text


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_legacy_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    *leading, last = [n for n in numbers if n is not None]
    # The last part fills every byte the leading parts (one byte each) left: 127.1 = 127.0.0.1.
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _legacy_number(part: str) -> int | None:
    """One part of a legacy IPv4 address: decimal, octal (leading 0) or hex (0x)."""
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def classify(address: IPAddress) -> tuple[Kind, str]:
    """The address's kind and a short label for messages (``"private (RFC 1918)"``)."""
    reached = embedded_ipv4(address)
    if reached is not None:
        kind, label = classify(reached)
        return kind, label if kind is Kind.PUBLIC else f"{label} ({reached} inside IPv6)"
    if address in METADATA_ADDRESSES:
        return Kind.METADATA, "cloud metadata"
    for network, kind, label in _IPV4 if address.version == 4 else _IPV6:
        if address in network:
            return kind, label
    if not address.is_global:  # anything reserved that the tables above do not name yet
        return Kind.INTERNAL, "reserved"
    return Kind.PUBLIC, "public"


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, IPv4-compatible (``::a.b.c.d``),
    NAT64 (64:ff9b::/96), 6to4 (2002::/16); or an internal one inside local-use NAT64
    (64:ff9b:1::/48) or Teredo (2001::/32)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    # Where the IPv4 address sits varies (local-use NAT64 prefixes of any length, Teredo's two
    # ends): these count only when internal, and the address stays internal by its own range.
    ends: tuple[ipaddress.IPv4Address, ...] = address.teredo or ()
    if address in _LOCAL_NAT64:
        ends = (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return next((end for end in ends if classify(end)[0] is not Kind.PUBLIC), None)
