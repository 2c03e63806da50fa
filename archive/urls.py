"""URL normalisation and SURT keys.

Archives disagree on how to store URLs with non-ASCII characters, which breaks
replay and lookup. Vestige stores one form: IDNA (punycode) host and UTF-8
percent-encoded path and query; any spelling of the same URL normalises to it.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import quote, urlsplit, urlunsplit

import idna
from surt import surt as surt_key

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters RFC 3986 allows unescaped in a path or query; everything else is
# percent-encoded. '%' is kept so existing escapes are not double-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class InvalidURL(ValueError):
    """A URL that cannot be normalised (no host, bad host name, bad port)."""


def _encode_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise InvalidURL("URL has no host")
    try:
        return ipaddress.ip_address(host).compressed  # one spelling of each address
    except ValueError:
        pass
    if host.isascii():
        if not _HOST_NAME.match(host):
            raise InvalidURL(f"invalid host name {host!r}")
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidURL(f"invalid internationalised host name {host!r}: {exc}") from exc


def _quote(text: str, safe: str) -> str:
    """Percent-encode ``text`` as UTF-8, keeping valid ``%XX`` escapes (in
    upper case, so either spelling of an escape finds the same URL)."""
    text = _LONE_PERCENT.sub("%25", text)
    return _ESCAPE.sub(lambda match: match[0].upper(), quote(text, safe=safe))


@lru_cache(maxsize=1024)
def normalise_url(url: str) -> str:
    """Return the stored form of ``url``: lowercase scheme and host, punycode
    host, percent-encoded path and query, no default port, no fragment.

    Cached: a capture normalises its URL at each step (request, fetch, catalog
    row, SURT key), and a crawl each link it meets on every page linking to it.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # bad port or unbalanced IPv6 brackets
        raise InvalidURL(f"invalid URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    host = _encode_host(parts.hostname or "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username is not None:
        auth = quote(parts.username, safe="%")
        if parts.password is not None:
            auth += ":" + quote(parts.password, safe="%")
        netloc = f"{auth}@{netloc}"
    path = _quote(parts.path, _PATH_SAFE) or "/"
    query = _quote(parts.query, _QUERY_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def lookup_key(url: str) -> str:
    """The stored form of a URL to look up: ``urn:`` names (submitted files) as they are."""
    return url.strip() if url.strip().lower().startswith("urn:") else normalise_url(url)


def checked_url(url: str, *, fetchable: bool = False, what: str = "URL") -> str:
    """The stored form of a URL someone gave (a command argument, a form line).

    Raises :class:`InvalidURL` with one line naming the URL and what is wrong with it.
    ``fetchable``: it must also be http or https (to capture, crawl, follow or watch),
    not only a key to look up (imported archives hold ``ftp:`` and ``dns:`` records too).
    """
    shown = repr(url if len(url) <= 200 else url[:200] + "...")
    try:
        stored = lookup_key(url)  # a submitted file's urn:sha256:... is a key too
    except InvalidURL as exc:
        reason = str(exc).removeprefix(f"invalid URL {url!r}: ")
        raise InvalidURL(f"invalid {what} {shown}: {reason}") from exc
    if fetchable and not stored.startswith(("http://", "https://")):
        raise InvalidURL(f"invalid {what} {shown}: only http and https URLs can be fetched")
    return stored


def surt(url: str) -> str:
    """Sort-friendly URI Reordering Transform key, as CDX(J) indexes use:
    ``http://www.Example.com/a?b=2&a=1`` becomes ``com,example)/a?a=1&b=2``.

    The ``surt`` package's, which pywb and py-wacz's ``cdxj-indexer`` use, so every index
    Vestige writes keys a record as they do (IP hosts reversed too: ``1,0,0,127:80)/``).
    """
    return surt_key(normalise_url(url))
