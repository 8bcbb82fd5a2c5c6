"""Who is calling: the TCP peer, or what trusted proxies say it is.

The caller's address feeds ``ip-filter`` and the gateway log's
`CallerIpAddress`.  By default it is the TCP peer, since any client can
write an ``X-Forwarded-For`` header.  When the operator lists the proxies
in front of the gateway (``listener.trusted_proxies``), a request from one of
them is traced back through ``X-Forwarded-For`` from the right: each hop a
trusted proxy appended is believed, and the first address that is not a
trusted proxy is the caller.  A value that is not an IP address ends the
walk; the hop that reported it is then the caller, as nothing before it can
be believed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and CIDR ranges; raises ValueError naming the first bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or range") from None
    return tuple(networks)


@functools.lru_cache(maxsize=4096)
def parse_address(value: str) -> Address | None:
    """An IP address as clients and proxies write it, or None.

    Takes the forms seen in ``X-Forwarded-For`` and peer names: IPv6 in
    brackets, with a port, with a zone, and IPv4 mapped into IPv6.
    """
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Resolves the caller's address of each request."""

    def __init__(self, networks: tuple[Network, ...] = ()) -> None:
        self.networks = networks

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def caller(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The caller's address as text; ``peer`` is the TCP peer's."""
        current = parse_address(peer)
        if current is None:
            return peer
        if not self.networks or not self.trusts(current):
            return str(current)
        for hop in reversed(_hops(forwarded_for)):
            reported = parse_address(hop)
            if reported is None:
                break
            current = reported
            if not self.trusts(current):
                break
        return str(current)


def _hops(headers: Iterable[str]) -> list[str]:
    hops: list[str] = []
    for header in headers:
        hops.extend(part for part in header.split(",") if part.strip())
    return hops
