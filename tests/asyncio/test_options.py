"""Connection attributes and options: url/protocol/extensions, max_size, headers, validation."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import CloseEvent, ErrorEvent, Event, ReconnectingWebSocket
from tests.servers import TIMEOUT, TestServer, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


def test_url_protocol_and_extensions_are_empty_before_any_connection() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9/path", start_closed=True)
    assert ws.url == ""
    assert ws.protocol == ""
    assert ws.extensions == ""


async def test_url_is_the_url_of_the_connection() -> None:
    async with TestServer() as server:
        url = f"{server.url}/room?x=1"
        ws = ReconnectingWebSocket(url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.url == url
            assert server.paths == ["/room?x=1"]
            ws.close()
            assert ws.url == url  # the last connection's URL stays
        finally:
            await ws.aclose()


async def test_url_from_a_provider_is_the_resolved_url() -> None:
    async with TestServer() as server:

        async def provider() -> str:
            return f"{server.url}/resolved"

        ws = ReconnectingWebSocket(provider, **FAST)
        try:
            assert ws.url == ""
            await ws.wait_open(TIMEOUT)
            assert ws.url == f"{server.url}/resolved"
        finally:
            await ws.aclose()


async def test_protocol_is_the_subprotocol_the_server_selected() -> None:
    async with TestServer(subprotocols=["chat", "superchat"]) as server:
        ws = ReconnectingWebSocket(server.url, ["superchat", "other"], **FAST)
        try:
            assert ws.protocol == ""
            await ws.wait_open(TIMEOUT)
            assert ws.protocol == "superchat"
            assert server.request_headers[-1]["Sec-WebSocket-Protocol"] == "superchat, other"
            ws.close()
            assert ws.protocol == ""
        finally:
            await ws.aclose()


async def test_protocol_is_empty_when_none_was_requested() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.protocol == ""
            assert "Sec-WebSocket-Protocol" not in server.request_headers[-1]
        finally:
            await ws.aclose()


async def test_extensions_show_permessage_deflate_with_compression_on() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert "permessage-deflate" in ws.extensions
            ws.send("compressed " * 100)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "compressed " * 100
            ws.close()
            assert ws.extensions == ""  # not connected any more
        finally:
            await ws.aclose()


async def test_extensions_are_empty_with_compression_none() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, compression=None, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.extensions == ""
            assert "Sec-WebSocket-Extensions" not in server.request_headers[-1]
        finally:
            await ws.aclose()


async def test_message_larger_than_max_size_fails_the_connection_and_reconnects() -> None:
    sent_big: list[bool] = []

    async def big_once(conn: ServerConnection) -> None:
        if not sent_big:
            sent_big.append(True)
            await conn.send("x" * 2000)

    async with TestServer() as server:
        server.on_connect = big_once
        ws = ReconnectingWebSocket(server.url, max_size=1000, **FAST)
        events: list[Event] = []
        for kind in ("open", "message", "error", "close"):
            ws.add_event_listener(kind, events.append)
        try:
            await wait_until(lambda: [e.type for e in events].count("open") == 2, what="the reconnection")
            assert [event.type for event in events] == ["open", "error", "close", "open"]
            error, close = events[1], events[2]
            assert isinstance(error, ErrorEvent)
            assert isinstance(close, CloseEvent)
            assert close.code == 1006  # the client failed the connection: abnormal, as in a browser
            assert close.was_clean is False
            assert close.will_reconnect is True
            # a message within the limit still goes through on the new connection
            ws.send("y" * 1000)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "y" * 1000
        finally:
            await ws.aclose()


async def test_max_size_none_accepts_large_messages() -> None:
    big = "z" * (2**20 + 10)  # above the default limit of 1 MiB

    async def send_big(conn: ServerConnection) -> None:
        await conn.send(big)

    async with TestServer() as server:
        server.on_connect = send_big
        ws = ReconnectingWebSocket(server.url, max_size=None, **FAST)
        errors: list[Event] = collect(ws, "error")
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big
            assert errors == []
        finally:
            await ws.aclose()


async def test_headers_reach_the_server() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, headers={"X-Test": "yes", "X-Other": "2"}, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            headers = server.request_headers[-1]
            assert headers["X-Test"] == "yes"
            assert headers["X-Other"] == "2"
        finally:
            await ws.aclose()


async def test_headers_as_a_list_of_pairs_reach_the_server() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, headers=[("X-Multi", "a"), ("X-Multi", "b")], **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert server.request_headers[-1].get_all("X-Multi") == ["a", "b"]
        finally:
            await ws.aclose()


async def test_headers_provider_is_resolved_for_every_attempt() -> None:
    calls: list[int] = []

    async def provider() -> dict[str, str]:
        calls.append(1)
        return {"X-Attempt": str(len(calls))}

    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, headers=provider, **FAST)
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            server.drop_all()
            await wait_until(lambda: len(opens) == 2, what="the reconnection")
            assert [h["X-Attempt"] for h in server.request_headers] == ["1", "2"]
        finally:
            await ws.aclose()


INVALID_OPTIONS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("negative min delay", {"min_reconnection_delay": -1}, ValueError, "min_reconnection_delay"),
    ("negative max delay", {"max_reconnection_delay": -0.5}, ValueError, "max_reconnection_delay"),
    ("NaN max delay", {"max_reconnection_delay": math.nan}, ValueError, "max_reconnection_delay"),
    ("NaN connection timeout", {"connection_timeout": math.nan}, ValueError, "connection_timeout"),
    ("grow factor below 1", {"reconnection_delay_grow_factor": 0.5}, ValueError, "reconnection_delay_grow_factor"),
    ("jitter above 1", {"jitter": 2}, ValueError, "jitter"),
    ("negative jitter", {"jitter": -0.1}, ValueError, "jitter"),
    ("negative max_retries", {"max_retries": -1}, ValueError, "max_retries"),
    ("float max_retries", {"max_retries": 1.5}, TypeError, "max_retries"),
    ("negative max_enqueued_messages", {"max_enqueued_messages": -1}, ValueError, "max_enqueued_messages"),
    ("negative min_uptime", {"min_uptime": -1}, ValueError, "min_uptime"),
    ("string delay", {"min_reconnection_delay": "1"}, TypeError, "min_reconnection_delay"),
    ("ssl as a string", {"ssl": "yes"}, TypeError, "ssl"),
    ("unknown compression", {"compression": "gzip"}, ValueError, "compression"),
    ("zero max_size", {"max_size": 0}, ValueError, "max_size"),
    ("non-callable debug_logger", {"debug_logger": "stderr"}, TypeError, "debug_logger"),
    ("non-bool start_closed", {"start_closed": "yes"}, TypeError, "start_closed"),
    ("non-callable on_open", {"on_open": 42}, TypeError, "on_open"),
    ("bad protocols", {"protocols": 5}, TypeError, "protocols"),
    ("bad headers", {"headers": 5}, TypeError, "headers"),
]


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [case[1:] for case in INVALID_OPTIONS],
    ids=[case[0] for case in INVALID_OPTIONS],
)
async def test_invalid_option_raises_naming_the_option(
    options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error) as info:
        ReconnectingWebSocket("ws://127.0.0.1:9", **options)
    assert name in str(info.value)


INVALID_URLS: list[tuple[str, Any, type[Exception], str]] = [
    ("http scheme", "http://x", ValueError, "ws://"),
    ("https scheme", "https://x", ValueError, "wss://"),
    ("no scheme", "example.com/socket", ValueError, "ws://"),
    ("empty", "", ValueError, "ws://"),
    ("None", None, TypeError, "str"),
    ("int", 5, TypeError, "str"),
    ("no host", "ws://", ValueError, "host"),
]


@pytest.mark.parametrize(
    ("url", "error", "hint"),
    [case[1:] for case in INVALID_URLS],
    ids=[case[0] for case in INVALID_URLS],
)
async def test_invalid_url_raises_with_a_hint(url: Any, error: type[Exception], hint: str) -> None:
    with pytest.raises(error) as info:
        ReconnectingWebSocket(url)
    message = str(info.value)
    assert hint in message
    assert "URL" in message or "url" in message


def test_valid_unlimited_values_are_accepted() -> None:
    ws = ReconnectingWebSocket(
        "ws://127.0.0.1:9",
        start_closed=True,
        max_retries=math.inf,
        max_enqueued_messages=math.inf,
        jitter=1,
        reconnection_delay_grow_factor=1,
        ping_interval=None,
        ping_timeout=None,
        max_size=None,
        compression=None,
    )
    assert ws.ready_state == partysocket.CLOSED


def test_constructing_outside_a_loop_points_to_partysocket_sync() -> None:
    with pytest.raises(RuntimeError, match=r"partysocket\.sync"):
        ReconnectingWebSocket("ws://127.0.0.1:9")
