"""SSRF guard: webhook URLs may only reach public http(s) addresses.

Checked twice: when a subscription is registered (by resolving its host) and when a delivery
connects (`GuardedResolver` vets the very addresses aiohttp connects to, so a DNS answer that
changes after registration cannot redirect us inside the network). Redirects are never
followed. `SYNCLINE_ALLOW_PRIVATE_WEBHOOKS=1` turns the guard off (development and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges Python's `is_global` does not cover, named for the error message.
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215


class ForbiddenTargetError(OSError):
    """A webhook URL whose host is, or resolves to, an address we refuse to call.

    An OSError so that aiohttp reports it from the resolver as a connection error carrying
    this exception, which the worker records as a refused attempt.
    """


class UnresolvableHostError(ValueError):
    """A webhook URL whose host does not resolve."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, compatible, 6to4, Teredo or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(address.packed[-4:])
    packed = address.packed
    if packed[:12] == bytes(12) and packed[12:] not in (bytes(4), b"\0\0\0\1"):
        return ipaddress.IPv4Address(packed[-4:])  # deprecated IPv4-compatible ::a.b.c.d
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` may not be called (None: a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "scoped (link-local)"
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = forbidden_reason(inner)
            return f"{reason} (embedded in IPv6)" if reason else None
        if address in _NAT64_LOCAL:
            return "reserved"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _SHARED, "shared (CGNAT)"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),
    )
    return next((reason for hit, reason in checks if hit), None)


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL host spells in canonical form (`127.0.0.1`, `::1`), else None.

    Other spellings (`2130706433`, `0x7f.1`) are not literals to Python but are to the C
    resolver, so they go through resolution and are vetted there.
    """
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_address(host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    reason = forbidden_reason(ip)
    if reason is not None:
        target = host if host == address else f"{host} resolves to {address}, which"
        raise ForbiddenTargetError(f"{target} is a {reason} address; webhooks must be public")


def url_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTargetError("only http:// and https:// webhook URLs are allowed")
    if not parts.hostname:
        raise ForbiddenTargetError("the webhook URL has no host")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def check_url(
    url: str,
    *,
    resolve: Callable[..., list[tuple[Any, ...]]] = socket.getaddrinfo,
) -> None:
    """Refuse `url` unless every address its host resolves to is public (registration time)."""
    host, port = url_host_port(url)
    literal = ip_literal(host)
    if literal is not None:
        check_address(host, str(literal))
        return
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnresolvableHostError(f"the host {host} does not resolve") from None
    for info in infos:
        check_address(host, str(info[4][0]))


def check_literal_url(url: str) -> None:
    """The send-time check aiohttp's resolver cannot make: the scheme and literal-IP hosts."""
    host, _ = url_host_port(url)
    literal = ip_literal(host)
    if literal is not None:
        check_address(host, str(literal))


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses a host when any of its addresses is not public."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_address(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()
