"""URL normalisation and SURT keys: one stored form for every spelling."""

from __future__ import annotations

import pytest

from archive.urls import InvalidURL, normalise_url, surt


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com/a#section", "http://example.com/a"),
        ("http://example.com./a", "http://example.com/a"),
        # Chinese path and query: UTF-8 percent-encoded
        (
            "http://example.com/新闻/报道?标题=中文&page=2",
            "http://example.com/%E6%96%B0%E9%97%BB/%E6%8A%A5%E9%81%93"
            "?%E6%A0%87%E9%A2%98=%E4%B8%AD%E6%96%87&page=2",
        ),
        # existing escapes are kept (upper-cased), never double-encoded
        ("http://example.com/%E6%96%B0?q=%e4%b8%ad", "http://example.com/%E6%96%B0?q=%E4%B8%AD"),
        ("http://example.com/a%20b c", "http://example.com/a%20b%20c"),
        # a '%' that starts no escape is encoded
        ("http://example.com/100%/x?y=50%", "http://example.com/100%25/x?y=50%25"),
        # non-UTF-8 query bytes sent percent-encoded (GBK) stay as they are
        ("http://example.com/s?wd=%D6%D0%CE%C4", "http://example.com/s?wd=%D6%D0%CE%C4"),
        # internationalised domain names become punycode
        ("http://例子.中国/", "http://xn--fsqu00a.xn--fiqs8s/"),
        ("http://BÜCHER.de/", "http://xn--bcher-kva.de/"),
        ("http://例子。中国/", "http://xn--fsqu00a.xn--fiqs8s/"),
        # IPv6 literals: one spelling, brackets kept, default port dropped
        ("http://[::1]/", "http://[::1]/"),
        ("http://[0:0:0:0:0:0:0:1]:80/", "http://[::1]/"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"),
        ("http://user:pa ss@example.com/", "http://user:pa%20ss@example.com/"),
    ],
)
def test_normalise_url(url: str, stored: str) -> None:
    assert normalise_url(url) == stored
    assert normalise_url(stored) == stored  # idempotent


def test_iri_and_percent_encoded_forms_are_one_url() -> None:
    iri = "https://news.example.cn/时政/2024?关键词=人权"
    encoded = normalise_url(iri)
    assert encoded.isascii()
    assert normalise_url(encoded) == normalise_url(encoded.lower().replace("https", "HTTPS"))
    assert surt(iri) == surt(encoded)


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http:///path",
        "http://example.com:99999/",
        "http://[::1/",
        "http://a..b/",
        "http://exa mple.com/",
        "http://exa<mple.com/",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidURL):
        normalise_url(url)


def test_invalid_idn_is_refused() -> None:
    with pytest.raises(InvalidURL, match="internationalised"):
        normalise_url("http://☃.中国/")


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://www.Example.com/a?b=2&a=1", "com,example)/a?a=1&b=2"),
        ("https://news.example.co.uk:8443/Story", "uk,co,example,news:8443)/story"),
        ("http://例子.中国/新闻", "xn--fiqs8s,xn--fsqu00a)/%e6%96%b0%e9%97%bb"),
        ("http://127.0.0.1:8000/x", "127.0.0.1:8000)/x"),
        ("http://[::1]:8000/x", "[::1]:8000)/x"),
        ("http://example.com", "com,example)/"),
    ],
)
def test_surt(url: str, key: str) -> None:
    assert surt(url) == key
