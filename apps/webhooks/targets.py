"""Where a webhook may send: http(s) URLs whose host resolves only to public addresses (SSRF).

A host is checked after DNS resolution, every address it resolves to, and the delivery then connects to an address
it checked (apps/webhooks/outbound.py), never resolving the name a second time: a name that answers a public
address to the check and a private one to the connection (DNS rebinding) gains nothing.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Blocks whose addresses embed an IPv4 address in their last 32 bits: judged by that address.
_IPV4_EMBEDDING = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated), and :: / ::1 themselves
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class RefusedTarget(ValueError):
    """The URL may not be a webhook's target; the message says why (shown to the caller and on the attempt)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the Host header, the TLS server name)
    port: int
    path: str  # path and query
    addresses: tuple[str, ...]  # the checked addresses, in resolver order


def parse_url(url: str) -> SplitResult:
    """The URL split, or RefusedTarget: http(s), a host, no credentials, no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedTarget(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget("the URL must be http or https")
    if not parts.hostname:
        raise RefusedTarget("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("the URL may not carry credentials")
    if port == 0:
        raise RefusedTarget("the URL's port must be 1..65535")
    return parts


def resolve(url: str) -> Target:
    """Resolve the URL's host and check every address; RefusedTarget unless all are allowed."""
    parts = parse_url(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedTarget(f"the host {parts.hostname!r} does not resolve ({error})") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise RefusedTarget(f"the host {parts.hostname!r} does not resolve")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            reason = internal_reason(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason:
                raise RefusedTarget(f"the host {parts.hostname!r} resolves to {address}, {reason}: refused")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, addresses)


def internal_reason(address: IPAddress) -> str | None:
    """Why a webhook may not reach `address` (an internal or non-unicast one), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = internal_reason(embedded)
            return reason and f"{reason} (as IPv6 {address})"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a carrier-grade NAT address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "a site-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for internal, reason in checks if internal), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in network for network in _IPV4_EMBEDDING) and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
