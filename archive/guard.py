"""Which addresses Vestige may reach, enforced where it connects.

A capture service that fetches any URL it is given can be turned against the
machine it runs on and its network (server-side request forgery). By default
only public unicast addresses are allowed. The check runs inside the network
backend of every outbound HTTP client Vestige makes (:class:`GuardedTransport`):
the host is resolved once, every address it resolves to is checked, and the
socket is connected to exactly a checked address, before a byte is sent. A
name that answers a public address to a check and 127.0.0.1 to the connection
(DNS rebinding) therefore reaches nothing; TLS still verifies the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

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


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, duplicates dropped.

    The one lookup per connection: what is checked is what is connected to.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedURL(f"cannot resolve host {host!r}: {getattr(exc, 'strerror', exc)}") from exc
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


def check_address(host: str, address: str) -> None:
    """Refuse a connection to ``address`` (resolved from ``host``) if forbidden."""
    reason = forbidden_reason(address)
    if reason:
        raise RefusedURL(
            f"refused {host!r}: it resolves to {reason} address {address} "
            "(set VESTIGE_CAPTURE_ALLOW_PRIVATE=1 to allow)"
        )


class GuardedBackend(httpcore.SyncBackend):
    """An httpcore network backend that connects only to checked addresses.

    ``allows_private(host)`` says whether ``host`` may reach non-public
    addresses; it is asked on every new connection.
    """

    def __init__(self, allows_private: Callable[[str], bool]) -> None:
        self.allows_private = allows_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve ``host`` once, refuse it if an address is forbidden, connect to a checked one."""
        guarded = not self.allows_private(host)
        addresses = resolve(host, port)
        if guarded:
            # Every address, not just the first: which one a retry or another
            # client would use is not ours to predict.
            for address in addresses:
                check_address(host, address)
        error: Exception = RefusedURL(f"cannot resolve host {host!r}: no address")
        for address in addresses:
            try:
                # An IP literal: the superclass's create_connection does no DNS lookup for it.
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            if not stream.get_extra_info("server_addr"):  # refuse, never skip
                stream.close()
                raise RefusedURL(f"refused {host!r}: cannot tell which address it connected to")
            return stream
        raise error


class GuardedTransport(httpx.HTTPTransport):
    """httpx's HTTP transport whose connections go through :class:`GuardedBackend`.

    No proxy, whatever the environment says: a proxy would connect for us,
    out of the guard's sight.
    """

    def __init__(
        self, allows_private: Callable[[str], bool], *, limits: httpx.Limits | None = None
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(limits=limits, trust_env=False)
        # httpx has no public parameter for a network backend yet (encode/httpx
        # PR 3749), so the pool the superclass made is replaced by an equal one
        # that has ours; handle_request() and close() use it unchanged.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allows_private),
        )


def guarded_client(allow_private: bool, *, timeout: float, user_agent: str) -> httpx.Client:
    """An ``httpx.Client`` for requests other than captures (webhooks), guarded the same way."""
    return httpx.Client(
        transport=GuardedTransport(lambda _host: allow_private),
        timeout=timeout,
        headers={"User-Agent": user_agent},
        trust_env=False,
    )
