"""Browser sessions: log in with an API token, get a signed, HttpOnly cookie.

The cookie holds the token's name and hash (never the token), an expiry and a
CSRF secret, signed with HMAC-SHA256 under a key kept in ``$VESTIGE_HOME``.
Every request re-checks the token hash in the catalog, so revoking a token
ends its sessions. Writes from a session need the CSRF secret too (a form field
or the ``X-CSRF-Token`` header): the cookie alone never authorises a change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response

from api.tokens import authenticate_hash, hash_token
from archive.catalog import Catalog

COOKIE = "vestige_session"
LOGIN_COOKIE = "vestige_login"  # double-submit CSRF for the login form itself
CSRF_HEADER = "x-csrf-token"
LIFETIME = 12 * 3600  # seconds


@dataclass(frozen=True)
class Session:
    """A logged-in browser: whose token it is and the CSRF secret its forms carry."""

    name: str
    token_hash: str
    csrf: str
    expires: int


def session_key(home: Path) -> bytes:
    """The signing key in ``$VESTIGE_HOME/session.key``, created (0600) on first use."""
    path = home / "session.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def encode(key: bytes, session: Session) -> str:
    payload = _b64(
        json.dumps(
            {"n": session.name, "h": session.token_hash, "c": session.csrf, "e": session.expires}
        ).encode()
    )
    return f"{payload}.{_sign(key, payload)}"


def decode(key: bytes, cookie: str) -> Session | None:
    """The session in a cookie, or None if it is forged, damaged or expired."""
    payload, _, signature = cookie.partition(".")
    if not signature or not hmac.compare_digest(signature, _sign(key, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(str(data["n"]), str(data["h"]), str(data["c"]), int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


def start(catalog: Catalog, key: bytes, token: str) -> tuple[Session, str] | None:
    """Log in with ``token`` (blocking): the session and its cookie value, or None."""
    name = authenticate_hash(catalog, hash_token(token))
    if name is None:
        return None
    session = Session(
        name, hash_token(token), secrets.token_urlsafe(32), int(time.time()) + LIFETIME
    )
    return session, encode(key, session)


def current(catalog: Catalog, key: bytes, cookie: str | None) -> Session | None:
    """The request's session if its cookie is valid and its token not revoked (blocking)."""
    if not cookie:
        return None
    session = decode(key, cookie)
    if session is None or authenticate_hash(catalog, session.token_hash) is None:
        return None
    return session


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Whether a form or header carried this session's CSRF secret."""
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A cookie scripts cannot read and other sites never make the browser send."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
