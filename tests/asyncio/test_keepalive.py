"""Keep-alive pings against a real server.

A server that stops reading (its transport paused) never answers the pings:
the client must notice within ``ping_interval + ping_timeout`` (+ slack),
report ``error`` then ``close(1006)`` without waiting for a closing handshake,
and reconnect. A healthy server answers the pings and the connection stays.
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import ReconnectingWebSocket
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer

PING_INTERVAL = 0.2
PING_TIMEOUT = 0.3


def go_silent_on_first_connection(server: TestServer) -> None:
    """The first connection stops reading at once (pings are never answered); later ones are healthy."""

    async def on_connect(conn: ServerConnection) -> None:
        if server.opened == 1 and conn.transport is not None:
            conn.transport.pause_reading()

    server.on_connect = on_connect


async def test_unanswered_ping_gives_error_then_close_1006_and_reconnects() -> None:
    async with TestServer() as server:
        go_silent_on_first_connection(server)
        ws = ReconnectingWebSocket(
            server.url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, min_reconnection_delay=0.05
        )
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: recorder.count("close") >= 1, "the keep-alive close", timeout=5.0)
            assert recorder.types() == ["open", "error", "close", "retry"]
            opened_at = recorder.times_of("open")[0]
            closed_at = recorder.times_of("close")[0]
            # the first ping goes out ping_interval after the open, the close follows its timeout
            assert (PING_INTERVAL + PING_TIMEOUT) * 0.9 <= closed_at - opened_at < PING_INTERVAL + PING_TIMEOUT + 1.0
            error = recorder.errors()[0]
            close = recorder.closes()[0]
            assert close.code == 1006
            assert close.was_clean is False
            assert close.will_reconnect is True
            assert close.cause is error.error
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            assert server.opened == 2
        finally:
            await ws.aclose()


async def test_healthy_connection_stays_open_over_several_ping_intervals() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, ping_interval=0.1, ping_timeout=0.2, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await asyncio.sleep(0.6)  # six ping intervals: the connection must not be dropped
            assert recorder.types() == ["open"]
            assert ws.ready_state == partysocket.OPEN
            assert server.opened == 1
            ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still here"
        finally:
            await ws.aclose()


async def test_without_keepalive_a_silent_server_is_not_detected() -> None:
    async with TestServer() as server:
        go_silent_on_first_connection(server)
        ws = ReconnectingWebSocket(server.url, ping_interval=None, connection_timeout=0.5, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await asyncio.sleep(PING_INTERVAL + PING_TIMEOUT + 0.2)  # nothing may happen
            assert recorder.types() == ["open"]
            assert ws.ready_state == partysocket.OPEN
        finally:
            await ws.aclose()


async def test_aclose_of_a_dead_connection_does_not_hang() -> None:
    async with TestServer() as server:
        go_silent_on_first_connection(server)
        ws = ReconnectingWebSocket(
            server.url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, connection_timeout=0.5
        )
        try:
            await ws.wait_open(TIMEOUT)
            started = time.monotonic()
            await asyncio.wait_for(ws.aclose(), 3.0)
            assert time.monotonic() - started < 0.5 + 0.5
        finally:
            await ws.aclose()
