"""Hide secrets in what we log: query values, passwords and header values."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "redact_headers", "REDACTED"]

REDACTED = "***"


def redact_url(url: str) -> str:
    """``url`` with every query value, and any user name and password, replaced by ``***``.

    A query item without ``=`` (``?TOKEN``) is hidden whole: it may be the secret itself.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{REDACTED}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = "&".join(
        f"{item.partition('=')[0]}={REDACTED}" if "=" in item else REDACTED for item in parts.query.split("&") if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header names kept, every value replaced by ``***``."""
    return [(name, REDACTED) for name, _ in headers]
