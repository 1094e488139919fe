"""The SSRF guard: hostile webhook URLs are refused, public ones pass (no network needed)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from delivery.ssrf import (
    ForbiddenTargetError,
    GuardedResolver,
    check_literal_url,
    check_url,
    embedded_ipv4,
    forbidden_reason,
)

# Every one resolves without DNS: IP literals in all their spellings, and localhost.
HOSTILE = [
    "http://127.0.0.1/",
    "https://127.0.0.1:8443/hook",
    "http://127.1/",
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0x7f.1/",  # hex
    "http://0x7f000001/",
    "http://017700000001/",  # octal
    "http://0177.0.0.1/",
    "http://0/",  # 0.0.0.0
    "http://0.0.0.0:8000/",
    "http://localhost/",
    "http://LOCALHOST/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated)
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",  # AWS IMDS over IPv6 (unique local)
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://100.127.255.254/",
    "http://198.18.0.1/",  # benchmarking
    "http://192.0.0.1/",
    "http://192.0.2.1/",  # documentation
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://[fc00::1]/",
    "http://[2001:db8::1]/",
    "http://[64:ff9b:1::1]/",
]
NOT_HTTP = ["ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1/", "ws://a.b/"]
PUBLIC = [
    "https://93.184.216.34/hook",
    "http://8.8.8.8:8080/",
    "https://[2606:4700:4700::1111]/x",
    "http://[::ffff:8.8.8.8]/",
    "http://100.128.0.1/",  # just outside CGNAT
    "http://172.32.0.1/",  # just outside 172.16/12
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenTargetError, match="webhooks must be public"):
        check_url(url)


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(ForbiddenTargetError, match="http"):
        check_url(url)
    with pytest.raises(ForbiddenTargetError):
        check_literal_url(url)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_pass(url: str) -> None:
    check_url(url)
    check_literal_url(url)


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    def resolve(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("8.8.8.8", port)), (2, 1, 6, "", ("10.1.2.3", port))]

    with pytest.raises(ForbiddenTargetError, match=r"hooks\.example resolves to 10\.1\.2\.3"):
        check_url("https://hooks.example/in", resolve=resolve)


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::10.0.0.1", "10.0.0.1"),
        ("2002:a00:1::", "10.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2606:4700::1111", None),
        ("::1", None),
    ],
)
def test_ipv4_embedded_in_ipv6_is_found(address: str, inner: str | None) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(found) if found else None) == inner


def test_reasons_name_the_range() -> None:
    assert forbidden_reason(ipaddress.ip_address("100.64.1.1")) == "shared (CGNAT)"
    assert forbidden_reason(ipaddress.ip_address("169.254.169.254")) == "link-local"
    assert (
        forbidden_reason(ipaddress.ip_address("::ffff:127.0.0.1")) == "loopback (embedded in IPv6)"
    )
    assert forbidden_reason(ipaddress.ip_address("1.1.1.1")) is None


def test_the_send_time_resolver_refuses_localhost() -> None:
    async def resolve() -> None:
        resolver = GuardedResolver()
        try:
            await resolver.resolve("localhost", 80)
        finally:
            await resolver.close()

    with pytest.raises(ForbiddenTargetError, match="localhost resolves to"):
        asyncio.run(resolve())


def test_literal_hosts_are_checked_at_send_time_without_resolving() -> None:
    with pytest.raises(ForbiddenTargetError):
        check_literal_url("http://[::ffff:127.0.0.1]:9000/")
    check_literal_url("http://hooks.example/")  # names are left to the resolver
