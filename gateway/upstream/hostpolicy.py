"""The custom-host policy: which hosts callers may name, and which addresses the gateway may dial.

Built once from the settings (``Settings.host_policy``), immutable and hashable, so checks keyed on
it can be cached without a policy change ever being bypassed. Pure: no I/O, no aiohttp.

Rules, in order (``refusal`` returns the reason, ``None`` when allowed):
1. cloud metadata (names and addresses, in any spelling) only with ``allow_metadata``;
2. a name, address, CIDR range or ``host:port`` in ``custom_hosts.allow`` (or in a URL the operator
   wrote in the settings file) is allowed;
3. loopback is allowed while the gateway itself listens on loopback only (local development);
4. other internal addresses and internal-looking names (``localhost``, single labels, ``.internal``,
   ``.svc``, ``.local``...) are refused;
5. public hosts are allowed when ``allow_public`` (always, for the addresses a resolver returns:
   the providers' own hosts are public).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.upstream.addresses import METADATA_NAMES, IPAddress, IPNetwork, Kind, classify, parse_address

__all__ = [
    "AddressRefused",
    "HostPolicy",
    "listens_on_loopback_only",
    "normal_name",
    "parse_allow",
]

#: Suffixes of names that only an internal resolver answers (cluster services, mDNS, intranets).
_INTERNAL_SUFFIXES = (
    ".internal",
    ".local",
    ".localdomain",
    ".svc",
    ".lan",
    ".home.arpa",
    ".intranet",
    ".corp",
)
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class AddressRefused(OSError):
    """Raised by the connection guard for an address the policy refuses (mapped to a 400)."""


@dataclass(frozen=True, slots=True)
class AllowRules:
    """``custom_hosts.allow`` parsed: names and addresses, each on any port or on one port."""

    names: frozenset[str] = frozenset()
    name_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    address_ports: frozenset[tuple[IPAddress, int]] = frozenset()

    def name(self, host: str, port: int | None) -> bool:
        return host in self.names or (host, port) in self.name_ports

    def address(self, address: IPAddress, port: int | None) -> bool:
        return (address, port) in self.address_ports or any(address in network for network in self.networks)


def parse_allow(entries: Iterable[str]) -> AllowRules:
    """Parse allow entries; ``ValueError`` names the first bad one.

    Entries: ``10.0.0.0/8``, ``fd00::/8``, ``10.1.2.3``, ``10.1.2.3:8000``, ``[fd00::1]:8000``,
    ``vllm.internal``, ``vllm.internal:8000``.
    """
    names: set[str] = set()
    name_ports: set[tuple[str, int]] = set()
    networks: list[IPNetwork] = []
    address_ports: set[tuple[IPAddress, int]] = set()
    for entry in entries:
        host, port = _split_entry(entry)
        if "/" in host:
            networks.append(ipaddress.ip_network(host, strict=False))
            continue
        address = parse_address(host)
        if address is not None and port is not None:
            address_ports.add((address, port))
        elif address is not None:
            networks.append(ipaddress.ip_network(address))
        elif port is not None:
            name_ports.add((normal_name(host), port))
        else:
            names.add(normal_name(host))
    return AllowRules(frozenset(names), frozenset(name_ports), tuple(networks), frozenset(address_ports))


def _split_entry(entry: str) -> tuple[str, int | None]:
    text = entry.strip()
    if "/" in text:
        ipaddress.ip_network(text, strict=False)  # raises ValueError for a bad range
        return text, None
    # Parsed as the authority of a URL: brackets around IPv6, an optional port.
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"{entry!r} is not a host, host:port, address or CIDR range") from None
    if not host or parts.path or parts.query or parts.fragment or "@" in text:
        raise ValueError(f"{entry!r} is not a host, host:port, address or CIDR range")
    if ":" in text and not text.startswith("[") and text.count(":") > 1:
        host, port = text, None  # a bare IPv6 address (urlsplit would misread its last group)
        ipaddress.ip_address(host)
    if parse_address(host) is None and not _NAME.fullmatch(host.lower()):
        raise ValueError(f"{entry!r} is not a host, host:port, address or CIDR range")
    return host, port


def normal_name(host: str) -> str:
    """A host name as the policy compares it: lower case, no trailing dot."""
    return host.strip().lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class HostPolicy:
    allow: AllowRules = AllowRules()
    allow_public: bool = True
    allow_loopback: bool = False
    allow_metadata: bool = False

    @classmethod
    def build(
        cls,
        allow: Iterable[str],
        *,
        allow_public: bool,
        allow_metadata: bool,
        server_host: str,
        operator_urls: Iterable[str] = (),
    ) -> HostPolicy:
        """The policy for these settings; ``operator_urls`` (base URLs and custom hosts written in
        the settings file) are allowed on their own host and port."""
        entries = [*allow, *filter(None, (_authority(url) for url in operator_urls))]
        return cls(parse_allow(entries), allow_public, listens_on_loopback_only(server_host), allow_metadata)

    def refusal(self, host: str, port: int | None) -> str | None:
        """Why a custom host naming ``host`` (a name or an IP literal) is refused; ``None``: allowed.

        A name that passes is checked again on the addresses it resolves to (:meth:`address_refusal`).
        """
        address = parse_address(host)
        if address is not None:
            return self.address_refusal(address, port, caller_named=True)
        name = normal_name(host)
        if name in METADATA_NAMES:
            return None if self.allow_metadata else "a cloud metadata name"
        if self.allow.name(name, port):
            return None
        if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
            return None if self.allow_loopback else "a loopback name"
        if "." not in name or name.endswith(_INTERNAL_SUFFIXES):
            return "an internal name"
        return None if self.allow_public else "not in custom_hosts.allow"

    def address_refusal(
        self, address: IPAddress, port: int | None, *, caller_named: bool = False
    ) -> str | None:
        """Why connecting to ``address`` is refused; ``None``: allowed. ``caller_named``: the address is
        a custom host's literal (public addresses then also need ``allow_public``)."""
        kind, label = classify(address)
        if kind is Kind.METADATA:
            return None if self.allow_metadata else f"a {label} address"
        if self.allow.address(address, port):
            return None
        if kind is Kind.LOOPBACK and self.allow_loopback:
            return None
        if kind is not Kind.PUBLIC:
            return f"a {label} address"
        return None if self.allow_public or not caller_named else "not in custom_hosts.allow"

    def resolved_refusal(self, host: str, port: int | None, address: IPAddress) -> str | None:
        """Why connecting to ``address``, which ``host`` resolved to, is refused; ``None``: allowed.

        A name in the allow rules may resolve anywhere but to cloud metadata."""
        if not self.vouches(host, port):
            return self.address_refusal(address, port)
        kind, label = classify(address)
        return f"a {label} address" if kind is Kind.METADATA and not self.allow_metadata else None

    def vouches(self, host: str, port: int | None) -> bool:
        """Whether ``host`` is named in the allow rules (any address it resolves to is then fine,
        metadata aside)."""
        return self.allow.name(normal_name(host), port)


def listens_on_loopback_only(server_host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: only this machine can reach the gateway."""
    if normal_name(server_host) == "localhost":
        return True
    address = parse_address(server_host)
    return address is not None and address.is_loopback


def _authority(url: str) -> str | None:
    """``host:port`` of an operator URL (its default port when none is written), or ``None``."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    port = port or {"https": 443, "wss": 443}.get(parts.scheme, 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
