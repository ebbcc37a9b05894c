"""Which addresses a customer's URL may reach: the URL is parsed, its host resolved once,
and every address it resolves to checked against private networks."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from automations.outbound.errors import OutboundBlocked, OutboundError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the resolved addresses) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def is_blocked_address(ip: IPAddress) -> bool:
    """True for addresses that are not public unicast ones, including IPv6 forms that
    embed a private IPv4 address (mapped, 6to4, NAT64, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(is_blocked_address(inner) for inner in embedded):
            return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def checked_target(url: str, allow_private: bool) -> Target:
    """The URL's target with every address its host resolves to; OutboundBlocked if one of
    them is private (unless ``allow_private``), OutboundError for a URL that cannot be
    called."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(f"{url!r} is not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundError(f"Only http and https URLs can be called, not {scheme or url!r}.")
    host = parts.hostname
    if not host:
        raise OutboundError(f"{url!r} has no host name.")
    if parts.username or parts.password:
        raise OutboundError("A URL with a user name or password in it is not accepted.")
    port = port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            if is_blocked_address(ipaddress.ip_address(address)):
                raise OutboundBlocked(host=host, address=address)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, addresses)


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to (numeric forms like 2130706433 included)."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        raise OutboundError(
            f"{host} could not be found: {exc.strerror}.", transient=transient
        ) from None
    except UnicodeError:
        raise OutboundError(f"{host!r} is not a valid host name.") from None
    addresses: list[str] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 scope id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundError(f"{host} could not be found.")
    return tuple(addresses)
