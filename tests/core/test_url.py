"""check_ws_url: only ws:// and wss:// URLs with a host, and errors that say what to do."""

from __future__ import annotations

from typing import Any

import pytest

from partysocket.core.url import check_ws_url


@pytest.mark.parametrize(
    "url",
    [
        "ws://localhost",
        "ws://localhost:8080",
        "wss://example.com/socket",
        "wss://example.com:443/parties/main/room?_pk=abc&x=1",
        "ws://127.0.0.1:1999/path",
        "ws://[::1]:8080/",
        "WSS://EXAMPLE.COM/",
        "wss://user:pass@example.com/",
    ],
)
def test_ws_and_wss_urls_are_returned_unchanged(url: str) -> None:
    assert check_ws_url(url) == url


def test_empty_url() -> None:
    with pytest.raises(ValueError, match="empty") as info:
        check_ws_url("")
    assert "ws://" in str(info.value)


@pytest.mark.parametrize("url", ["localhost:8080", "localhost", "example.com/socket"])
def test_missing_scheme_says_to_add_one(url: str) -> None:
    with pytest.raises(ValueError, match="add ws://"):
        check_ws_url(url)


@pytest.mark.parametrize(("url", "suggestion"), [("http://x", "ws://"), ("https://x", "wss://"), ("HTTP://x", "ws://")])
def test_http_schemes_suggest_the_websocket_one(url: str, suggestion: str) -> None:
    with pytest.raises(ValueError, match=f"use {suggestion}"):
        check_ws_url(url)


@pytest.mark.parametrize("url", ["ftp://x", "file:///tmp/x", "wsx://x", "mailto://x"])
def test_other_schemes_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="only ws:// and wss://"):
        check_ws_url(url)


@pytest.mark.parametrize("url", ["ws://", "wss:///path", "ws://:8080/"])
def test_url_without_host(url: str) -> None:
    with pytest.raises(ValueError, match="no host"):
        check_ws_url(url)


def test_fragment_is_rejected() -> None:
    with pytest.raises(ValueError, match="fragment"):
        check_ws_url("wss://example.com/socket#part")


@pytest.mark.parametrize("url", ["ws://example.com:99999/", "ws://example.com:port/", "ws://[::1/"])
def test_malformed_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="invalid WebSocket URL"):
        check_ws_url(url)


@pytest.mark.parametrize("url", [None, 5, b"ws://x", ["ws://x"], 1.5])
def test_non_str_raises_type_error(url: Any) -> None:
    with pytest.raises(TypeError, match="must be a str") as info:
        check_ws_url(url)
    assert type(url).__name__ in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@example.com/?token=hunter2",
        "ftp://example.com/?token=hunter2",
        "ws://example.com:99999/?token=hunter2",
        "wss://example.com/?token=hunter2#frag",
        "example.com?token=hunter2",
    ],
)
def test_error_messages_do_not_leak_secrets(url: str) -> None:
    with pytest.raises(ValueError) as info:
        check_ws_url(url)
    assert "hunter2" not in str(info.value)
