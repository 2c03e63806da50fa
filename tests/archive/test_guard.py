"""The address guard: only public unicast addresses, only http(s), checked at connect time."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from archive.guard import (
    GuardedBackend,
    RefusedURL,
    check_address,
    check_scheme,
    forbidden_reason,
    resolve,
)


def connect(url: str) -> None:
    """Connect to ``url``'s host as every outbound request does, private addresses refused."""
    parts = urlsplit(url)
    GuardedBackend(lambda _host: False).connect_tcp(parts.hostname, parts.port or 80).close()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.1.1", "link-local"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    assert forbidden_reason(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None
    check_address("example.org", address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0x7f.1/",
    ],
)
def test_private_hosts_are_refused_after_resolution_before_connecting(url: str) -> None:
    with pytest.raises(RefusedURL, match="VESTIGE_CAPTURE_ALLOW_PRIVATE"):
        connect(url)


def test_refusal_message_names_host_reason_and_address() -> None:
    with pytest.raises(RefusedURL) as refused:
        connect("http://localhost/")
    assert "'localhost'" in str(refused.value) and "loopback address" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "gopher://example.org/",
        "example.org/no-scheme",
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(RefusedURL, match="only http and https"):
        check_scheme(url)


def test_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(RefusedURL, match="cannot resolve host"):
        resolve("does-not-exist.invalid", 80)
