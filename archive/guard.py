"""Which addresses a capture may reach.

A capture service that fetches any URL it is given can be turned against the
machine it runs on and its network (server-side request forgery). By default
only public unicast addresses are allowed; the check runs on every redirect hop,
after DNS resolution, and again on the address actually connected to, so a
public name pointing at 127.0.0.1 is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})


class RefusedURL(ValueError):
    """A URL a capture will not fetch: wrong scheme or a forbidden address."""


def forbidden_reason(address: str) -> str | None:
    """Why ``address`` (an IP literal) must not be fetched, or None if it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        # e.g. 100.64.0.0/10 (carrier-grade NAT) is neither private nor global
        ("non-public", not ip.is_global),
    ):
        if hit:
            return reason
    return None


def check_scheme(url: str) -> None:
    """Refuse ``url`` unless it is a well-formed http or https URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is what raises on a bad one)
    except ValueError as exc:  # unbalanced IPv6 brackets, a port out of range
        raise RefusedURL(f"invalid URL {url[:200]!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise RefusedURL(f"only http and https URLs can be captured, not {scheme or 'no scheme'!r}")


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse ``url`` unless its scheme is http(s) and every address its host
    resolves to is public (or ``allow_private`` is set)."""
    check_scheme(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 0, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RefusedURL(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    for *_, sockaddr in infos:
        check_address(host, str(sockaddr[0]))


def check_address(host: str, address: str) -> None:
    """Refuse a connection to ``address`` (resolved from ``host``) if forbidden."""
    reason = forbidden_reason(address)
    if reason:
        raise RefusedURL(
            f"refused {host!r}: it resolves to {reason} address {address} "
            "(set VESTIGE_CAPTURE_ALLOW_PRIVATE=1 to allow)"
        )
