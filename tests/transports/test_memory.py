"""The public in-memory transport: script a server without sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from partysocket import CloseEvent, HandshakeRejected, ReconnectingWebSocket
from partysocket.transports.memory import MemoryTransport
from tests.recorder import Recorder

FAST: dict[str, Any] = {"min_reconnection_delay": 0.01, "max_reconnection_delay": 0.05, "ping_interval": None}


async def test_refused_then_accepted_with_buffered_messages_first() -> None:
    transport = MemoryTransport()
    transport.refuse(503)
    ws = ReconnectingWebSocket("ws://memory.test/room", websocket=transport, **FAST)
    recorder = Recorder(ws)
    try:
        ws.send("queued")
        conn = await transport.next_connection()
        await recorder.until(lambda: recorder.count("open") == 1, "open")
        assert await conn.wait_sent(1) == ["queued"]
        assert recorder.types()[:3] == ["error", "close", "retry"]
        cause = recorder.closes()[0].cause
        assert isinstance(cause, HandshakeRejected) and cause.status == 503
        assert [r.url for r in transport.requests] == ["ws://memory.test/room"] * 2
    finally:
        await ws.aclose()


async def test_server_push_drop_and_clean_close() -> None:
    transport = MemoryTransport()
    ws = ReconnectingWebSocket("ws://memory.test/", websocket=transport, **FAST)
    recorder = Recorder(ws)
    try:
        conn = await transport.next_connection()
        await ws.wait_open(5)
        ws.__aiter__()
        conn.push("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
        conn.drop()
        second = await transport.next_connection()
        await recorder.until(lambda: recorder.count("open") == 2, "the second open")
        assert recorder.types() == ["open", "message", "error", "close", "retry", "open"]
        assert recorder.closes()[0].code == 1006
        second.close_from_server(4000, "bye")
        await recorder.until(lambda: any(c.code == 4000 for c in recorder.closes()), "the clean close")
        clean = next(c for c in recorder.closes() if c.code == 4000)
        assert isinstance(clean, CloseEvent) and clean.was_clean and clean.reason == "bye"
    finally:
        await ws.aclose()


async def test_client_close_is_recorded() -> None:
    transport = MemoryTransport()
    ws = ReconnectingWebSocket("ws://memory.test/", websocket=transport, **FAST)
    conn = await transport.next_connection()
    await ws.wait_open(5)
    await ws.aclose(4001, "done")
    assert conn.client_close == (4001, "done")
    assert not conn.open


async def test_hang_is_abandoned_at_connection_timeout() -> None:
    transport = MemoryTransport()
    transport.hang()
    ws = ReconnectingWebSocket("ws://memory.test/", websocket=transport, connection_timeout=0.1, **FAST)
    recorder = Recorder(ws)
    try:
        await transport.next_connection()
        first = recorder.closes()[0]
        assert (first.code, first.reason) == (1006, "timeout")
    finally:
        await ws.aclose()


async def test_fail_with_any_exception() -> None:
    transport = MemoryTransport()
    transport.fail(ConnectionRefusedError("nobody home"))
    ws = ReconnectingWebSocket("ws://memory.test/", websocket=transport, max_retries=0, **FAST)
    recorder = Recorder(ws)
    try:
        with pytest.raises(Exception, match="closed"):
            await ws.wait_open(5)
        assert isinstance(recorder.errors()[0].error, ConnectionRefusedError)
        assert recorder.closes()[-1].will_reconnect is False
    finally:
        await ws.aclose()
