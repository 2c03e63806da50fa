"""Fetching a URL for the archive: every redirect hop, bytes exactly as sent.

Bodies are read raw (no gzip/deflate/br decoding) into spool files that move
to disk past a few MiB, with block and payload digests computed on the way.
Every hop connects through the address guard (:class:`archive.guard.GuardedTransport`),
which checks the addresses a host resolves to and connects to exactly a checked one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from archive.config import Settings
from archive.guard import GuardedTransport, RefusedURL, check_scheme
from archive.urls import normalise_url
from archive.warc import Digest

_SPOOL_IN_MEMORY = 4 * 1024 * 1024
# Request headers that carry the client's credentials: not sent on to another origin.
_CREDENTIALS = frozenset({"cookie", "authorization"})


class FetchError(Exception):
    """A capture that could not be fetched; the message is one clear line."""


@dataclass
class Hop:
    """One HTTP exchange of a capture (a redirect or the final response)."""

    url: str
    fetched_at: datetime
    request_head: bytes
    status: int
    response_head: bytes
    body: BinaryIO
    body_length: int
    payload_digest: str
    block_digest: str
    ip_address: str | None
    location: str | None = None
    truncated: bool = False
    content_type: str | None = field(default=None)

    def close(self) -> None:
        self.body.close()


def _head(first_line: str, raw_headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [first_line.encode("latin-1")]
    lines += [name + b": " + value for name, value in raw_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _peer_address(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("server_addr")
    return str(address[0]) if address else None


class Fetcher:
    """An HTTP client configured for archiving; thread-safe, reuse it."""

    def __init__(self, settings: Settings, *, limits: httpx.Limits | None = None) -> None:
        self.settings = settings
        # Requests go straight to the transport: the client would parse each
        # Location itself (and fail on javascript: or malformed ones) before
        # the guard and normalise_url see it. No proxies from the environment:
        # they would connect out of the guard's sight.
        self.transport = GuardedTransport(self.allows_private, limits=limits)
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.fetch_timeout),
            headers={
                "User-Agent": settings.user_agent,
                # Not br: warcio cannot read brotli bodies with the current
                # brotli package (warcio issue #73), so neither could replay.
                "Accept-Encoding": "gzip, deflate",
            },
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()
        self.transport.close()

    def allows_private(self, host: str) -> bool:
        """Whether ``host`` may reach private addresses; asked on every new connection.

        Only ``VESTIGE_CAPTURE_ALLOW_PRIVATE`` decides; tests override this
        to allow one host and check that a redirect to another is still guarded.
        """
        return self.settings.capture_allow_private

    @contextmanager
    def fetch(
        self,
        url: str,
        *,
        truncate: bool = False,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> Iterator[list[Hop]]:
        """Fetch ``url`` following redirects; the hops' spool files close on exit.

        ``headers`` (a browser's own request headers) are sent over the defaults;
        cookies and credentials among them only to ``url``'s origin.
        ``deadline`` (a ``time.monotonic()`` value) ends a slow body early.
        """
        hops: list[Hop] = []
        try:
            first = current = normalise_url(url)
            for _ in range(self.settings.max_redirects + 1):
                sent = _for_origin(headers, first, current)
                hop = self._exchange(current, truncate=truncate, headers=sent, deadline=deadline)
                hops.append(hop)
                if hop.location is None:
                    break
                current = hop.location
            else:
                raise FetchError(
                    f"too many redirects (more than {self.settings.max_redirects}) from {url}"
                )
            yield hops
        finally:
            for hop in hops:
                hop.close()

    def _exchange(
        self,
        url: str,
        *,
        truncate: bool,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> Hop:
        try:
            request = self.client.build_request("GET", url, headers=headers)
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url}: {exc}") from exc
        fetched_at = datetime.now(UTC)
        try:
            response = self.transport.handle_request(request)
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out connecting to {request.url.host}") from exc
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect to {request.url.host}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"HTTP error from {request.url.host}: {exc}") from exc
        try:
            address = _peer_address(response)
            if address is None:  # the guard gives every stream one; refuse, never skip
                raise RefusedURL(f"refused {request.url.host!r}: no peer address")
            return self._read(
                url, request, response, fetched_at, address, truncate=truncate, deadline=deadline
            )
        finally:
            response.close()

    def _read(
        self,
        url: str,
        request: httpx.Request,
        response: httpx.Response,
        fetched_at: datetime,
        ip_address: str | None,
        *,
        truncate: bool,
        deadline: float | None = None,
    ) -> Hop:
        limit = self.settings.max_body_size
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit and not truncate:
            raise _too_large(url, int(declared), limit)
        target = request.url.raw_path.decode("ascii")
        request_head = _head(f"GET {target} HTTP/1.1", list(request.headers.raw))
        reason = response.reason_phrase or ""
        response_head = _head(
            f"{response.http_version} {response.status_code} {reason}".rstrip(),
            list(response.headers.raw),
        )
        location = None
        if response.is_redirect:
            try:
                location = urljoin(url, response.headers["Location"])
            except ValueError as exc:
                raise FetchError(f"{url} redirects to an invalid URL: {exc}") from exc
            check_scheme(location)  # before normalising: javascript: and data: have no host
            location = normalise_url(location)
        body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - owned by the Hop
        payload, block = Digest(), Digest(response_head)
        length, truncated = 0, False
        slowest = time.monotonic() + self.settings.fetch_timeout * 10
        deadline = slowest if deadline is None else min(deadline, slowest)
        try:
            for chunk in response.iter_raw():
                if length + len(chunk) > limit:
                    if not truncate:
                        raise _too_large(url, None, limit)
                    chunk = chunk[: limit - length]
                    truncated = True
                body.write(chunk)
                payload.update(chunk)
                block.update(chunk)
                length += len(chunk)
                if truncated:
                    break
                if time.monotonic() > deadline:
                    raise FetchError(f"{url} is sending too slowly; gave up after the deadline")
        except httpx.TimeoutException as exc:
            body.close()
            raise FetchError(f"timed out reading {url}") from exc
        except httpx.HTTPError as exc:
            body.close()
            raise FetchError(f"error reading {url}: {exc}") from exc
        except BaseException:
            body.close()
            raise
        return Hop(
            url=url,
            fetched_at=fetched_at,
            request_head=request_head,
            status=response.status_code,
            response_head=response_head,
            body=body,
            body_length=length,
            payload_digest=str(payload),
            block_digest=str(block),
            ip_address=ip_address,
            location=location,
            truncated=truncated,
            content_type=response.headers.get("Content-Type"),
        )


def _for_origin(
    headers: Mapping[str, str] | None, first: str, current: str
) -> dict[str, str] | None:
    """``headers`` for a hop to ``current`` of a fetch of ``first``: without cookies and
    credentials once a redirect leaves ``first``'s origin (a browser's jar would not
    send them there)."""
    if headers is None:
        return None
    same = urlsplit(first)[:2] == urlsplit(current)[:2]
    return {k: v for k, v in headers.items() if same or k.lower() not in _CREDENTIALS}


def _too_large(url: str, declared: int | None, limit: int) -> FetchError:
    size = f"{declared:,} bytes" if declared is not None else "more"
    return FetchError(
        f"{url} is too large ({size}; the limit is {limit:,} bytes, "
        "VESTIGE_MAX_BODY_SIZE); capture with --truncate to keep the first part"
    )


__all__ = ["FetchError", "Fetcher", "Hop", "RefusedURL"]
