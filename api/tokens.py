"""API tokens: created once, shown once, stored as a SHA-256 hash.

A token is 32 random bytes, so a plain SHA-256 is enough (no salt or slow hash
is needed against guessing); the hash is what the catalog keeps and looks up.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from api.models import ApiToken
from archive.catalog import Catalog, utcnow

PREFIX = "vst_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class TokenError(ValueError):
    """A token name that is invalid, taken or unknown."""


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token itself."""

    name: str
    created: datetime
    last_used: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(catalog: Catalog, name: str) -> str:
    """Store a new token called ``name`` and return it (the only time it is known)."""
    if not _NAME.match(name):
        raise TokenError(
            f"invalid token name {name!r}: use letters, digits, '.', '_', '@' and '-' "
            "(at most 100, starting with a letter or digit)"
        )
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with catalog.session() as session:
            session.add(ApiToken(name=name, token_hash=hash_token(token)))
    except IntegrityError as exc:
        raise TokenError(f"a token named {name!r} already exists") from exc
    return token


def list_tokens(catalog: Catalog) -> list[TokenInfo]:
    """Every token, by name."""
    with catalog.session() as session:
        return [
            TokenInfo(row.name, row.created, row.last_used)
            for row in session.scalars(select(ApiToken).order_by(ApiToken.name))
        ]


def revoke_token(catalog: Catalog, name: str) -> None:
    """Delete the token called ``name``; requests using it fail from now on."""
    with catalog.session() as session:
        if session.execute(delete(ApiToken).where(ApiToken.name == name)).rowcount == 0:
            raise TokenError(f"no token named {name!r}")


def authenticate(catalog: Catalog, token: str) -> str | None:
    """The name of the token, or None if it is unknown or revoked."""
    return authenticate_hash(catalog, hash_token(token))


def authenticate_hash(catalog: Catalog, digest: str) -> str | None:
    """Like :func:`authenticate`, given the token's hash (as a browser session keeps it)."""
    with catalog.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None:
            return None
        now = utcnow()
        # Record use at most once a minute: a write per request would serialise readers.
        if row.last_used is None or now - row.last_used > _LAST_USED_RESOLUTION:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used=now))
        return row.name
