"""Checks on WebSocket URLs (pure)."""

from __future__ import annotations

from urllib.parse import urlsplit

from .redact import redact_url

__all__ = ["check_ws_url"]

_SUGGEST = {"http": "ws", "https": "wss"}


def check_ws_url(url: object) -> str:
    """Return ``url`` if it is a usable ``ws://`` or ``wss://`` URL, else raise.

    ``TypeError`` for a non-string, ``ValueError`` naming the fix otherwise.
    """
    if not isinstance(url, str):
        raise TypeError(
            f"the URL must be a str such as 'wss://example.com/socket' (or a callable returning one), "
            f"got {type(url).__name__}"
        )
    if not url:
        raise ValueError("the URL is empty; pass a ws:// or wss:// URL such as 'wss://example.com/socket'")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        if scheme in _SUGGEST:
            hint = f"use {_SUGGEST[scheme]}:// instead of {scheme}://"
        elif not scheme or "://" not in url:
            hint = "add ws:// (or wss:// for TLS) in front of the host"
        else:
            hint = "only ws:// and wss:// are WebSocket schemes"
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: {hint}")
    if not host:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: it has no host")
    if parts.fragment:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: a WebSocket URL cannot have a #fragment")
    return url
