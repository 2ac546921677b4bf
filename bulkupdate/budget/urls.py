"""A shared budget's Redis URL: checked before a run starts, shown only without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from bulkupdate.errors import UsageError

BUDGET_SCHEMES = ("redis", "rediss", "unix")


def check_budget_url(url: str, *, flag: str = "--budget") -> str:
    """``url`` if it names a Redis server; else a ``UsageError`` that says what to give."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in BUDGET_SCHEMES or not rest:
        raise UsageError(
            f"{flag} must be a Redis URL: redis://HOST:PORT/DB, rediss://… for TLS, "
            "or unix:///path/to/redis.sock"
        )
    return url


def redacted_url(url: str) -> str:
    """``url`` with any password hidden, fit for logs and the journal."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
