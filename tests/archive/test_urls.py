"""URL normalisation and SURT keys: one stored form for every spelling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
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
        # as pywb's indexer writes them: addresses reversed too, subdomains www2... dropped
        ("http://127.0.0.1:8000/x", "1,0,0,127:8000)/x"),
        ("http://[::1]:8000/x", "::1:8000)/x"),
        ("http://www2.example.com/A/", "com,example)/a"),
        ("http://example.com", "com,example)/"),
    ],
)
def test_surt(url: str, key: str) -> None:
    assert surt(url) == key


runner = CliRunner()
MALFORMED = ["htp:/x", "", "http://", "http://exa mple.com/", "http://[::1/", "http://x:99999/"]


def test_every_command_taking_a_url_refuses_a_malformed_one_in_one_line(home, corpus: Path) -> None:
    """Exit 2 and one ``error: invalid URL ...`` line naming the URL, never a traceback."""
    page = corpus / "en" / "readability" / "cnn" / "source.html"
    imported = runner.invoke(app, ["import", "--url", "https://edition.cnn.com/a", str(page)])
    assert imported.exit_code == 0, imported.output
    commands: list[Callable[[str], list[str]]] = [
        lambda url: ["capture", url],
        lambda url: ["captures", url],
        lambda url: ["captures", url, "--format", "cdxj"],
        lambda url: ["versions", url],
        lambda url: ["crawl", "start", url],
        lambda url: ["follow", "add", url],
        lambda url: ["watch", "add", url],
        lambda url: ["watch", "remove", url],
        lambda url: ["changes", "--url", url],
        lambda url: ["import", "--url", url, str(page)],
        lambda url: ["show", url],
        lambda url: ["story", url],
        lambda url: ["relations", url],
        lambda url: ["relate", url, "covers", "https://edition.cnn.com/a"],
        lambda url: ["unrelate", "https://edition.cnn.com/a", "covers", url],
        lambda url: ["diff", "https://edition.cnn.com/a", url],
    ]
    for command in commands:
        for url in MALFORMED:
            args = command(url)
            result = runner.invoke(app, args)
            lines = result.output.strip().splitlines()
            assert result.exit_code == 2 and len(lines) == 1, (args, result.output)
            what = "seed" if args[0] == "crawl" else "URL"
            assert lines[0].startswith(f"error: invalid {what} {url!r}: "), (args, lines)
    # Fetching commands refuse a well-formed URL they cannot fetch the same way.
    for args in (["capture", "ftp://example.com/"], ["watch", "add", "ftp://example.com/"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: invalid URL 'ftp://example.com/': only http")
