"""What a request can fail with, by kind, whoever serves it.

The stages and the service functions raise these (or their own errors derived
from them); the web service turns each kind into one HTTP status in one place
(:mod:`api.errors`), its HTML pages render the same message, and the command
line prints it. ``str(error)`` is written for the user.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be served, for a reason the user is told."""

    # Seconds after which the same request may succeed; None: it will not by waiting.
    retry_after: int | None = None


class InvalidQuery(DomainError, ValueError):
    """A lookup asked in a form that cannot be answered: a malformed query, URL or date."""


class NotLoggedIn(DomainError):
    """Who is asking is not known: log in first."""


class Forbidden(DomainError):
    """Who is asking may not do this (a missing or wrong CSRF token, say)."""


class NotFound(DomainError, LookupError):
    """What the request names does not exist (or no longer does)."""


class Conflict(DomainError):
    """What the request names is in a state that does not allow it (already running...)."""


class InvalidInput(DomainError, ValueError):
    """Something submitted cannot be made: a bad URL, interval, collection, file..."""


class Busy(DomainError):
    """Too many such requests are under way; try again later."""


class Unavailable(DomainError):
    """A part the request needs (the search engine, the capture queue) is down or full."""
