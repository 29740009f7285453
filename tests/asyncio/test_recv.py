"""Pull-style consumption: ``recv()``, ``async for``, ``async with`` and ``wait_open()``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import CloseEvent, ConnectionClosed, Event, ReconnectingWebSocket
from partysocket.asyncio.socket import RECV_QUEUE_SIZE
from tests.servers import TIMEOUT, TestServer, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def flood(total: int) -> Callable[[ServerConnection], Awaitable[None]]:
    """A server handler that sends ``m0`` ... ``m{total-1}`` as fast as it can."""

    async def handler(conn: ServerConnection) -> None:
        for i in range(total):
            await conn.send(f"m{i}")

    return handler


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


async def test_recv_returns_str_for_text_frames() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            ws.send("héllo")
            data = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert data == "héllo"
            assert type(data) is str
        finally:
            await ws.aclose()


async def test_recv_returns_bytes_for_binary_frames() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            ws.send(b"\x00\xff")
            data = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert data == b"\x00\xff"
            assert type(data) is bytes
        finally:
            await ws.aclose()


async def test_binary_is_bytes_with_either_binary_type() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            ws.binary_type = "arraybuffer"
            ws.send(b"ab")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"ab"
            ws.binary_type = "blob"
            ws.send(b"cd")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"cd"
        finally:
            await ws.aclose()


async def test_recv_keeps_the_order_of_messages() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            for i in range(50):
                ws.send(str(i))
            received = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(50)]
            assert received == [str(i) for i in range(50)]
        finally:
            await ws.aclose()


async def test_async_for_continues_across_a_server_restart() -> None:
    async def greet(conn: ServerConnection) -> None:
        await conn.send(f"hello from connection {server.opened}")

    async with TestServer() as server:
        server.on_connect = greet
        ws = ReconnectingWebSocket(server.url, **FAST)
        received: list[str | bytes] = []

        async def consume() -> None:
            async for data in ws:
                received.append(data)
                if len(received) == 1:
                    await server.restart()
                if len(received) == 2:
                    break

        try:
            await asyncio.wait_for(consume(), TIMEOUT)
            assert received == ["hello from connection 1", "hello from connection 2"]
        finally:
            await ws.aclose()


async def test_async_for_yields_messages_sent_after_a_drop() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        opens: list[Event] = collect(ws, "open")
        received: list[str | bytes] = []

        async def consume() -> None:
            async for data in ws:
                received.append(data)
                if data == "first":
                    server.drop_all()
                    await wait_until(lambda: len(opens) == 2, what="the reconnection")
                    ws.send("second")
                elif data == "second":
                    break

        try:
            ws.send("first")
            await asyncio.wait_for(consume(), TIMEOUT)
            assert received == ["first", "second"]
        finally:
            await ws.aclose()


async def test_async_for_ends_after_close() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        received: list[str | bytes] = []

        async def consume() -> None:
            async for data in ws:
                received.append(data)
                ws.close()

        try:
            ws.send("only")
            await asyncio.wait_for(consume(), TIMEOUT)  # ends by itself
            assert received == ["only"]
        finally:
            await ws.aclose()


async def test_async_for_ends_when_closed_from_another_task() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)

        async def consume() -> list[str | bytes]:
            return [data async for data in ws]

        try:
            task = asyncio.ensure_future(consume())
            await ws.wait_open(TIMEOUT)
            await asyncio.sleep(0.05)  # the consumer is waiting in recv()
            assert not task.done()
            ws.close()
            assert await asyncio.wait_for(task, TIMEOUT) == []
        finally:
            await ws.aclose()


async def test_anext_raises_stop_async_iteration_after_close() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close()
            with pytest.raises(StopAsyncIteration):
                await ws.__aiter__().__anext__()
        finally:
            await ws.aclose()


async def test_recv_raises_connection_closed_with_the_close_event_after_close() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        closes: list[CloseEvent] = collect(ws, "close")
        try:
            await ws.wait_open(TIMEOUT)
            await ws.aclose(4000, "bye")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert isinstance(info.value, partysocket.PartySocketError)
            assert len(closes) == 1
            assert info.value.event is closes[0]
            assert info.value.event.code == 4000
            assert info.value.event.reason == "bye"
        finally:
            await ws.aclose()


async def test_recv_returns_messages_received_before_close_then_raises() -> None:
    async def greet(conn: ServerConnection) -> None:
        for text in ("a", "b", "c"):
            await conn.send(text)

    async with TestServer() as server:
        server.on_connect = greet
        ws = ReconnectingWebSocket(server.url, **FAST)
        messages: list[Event] = collect(ws, "message")
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "a"
            await wait_until(lambda: len(messages) == 3, what="three messages")
            ws.close()
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "b"
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "c"
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert info.value.event is not None
            assert info.value.event.code == 1000
        finally:
            await ws.aclose()


async def test_recv_waiting_during_close_raises_connection_closed() -> None:
    async with TestServer(echo=False) as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            task = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.05)  # let recv() start waiting
            assert not task.done()
            ws.close()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(task, TIMEOUT)
        finally:
            await ws.aclose()


async def test_recv_on_a_socket_never_started_raises_connection_closed_without_event() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.event is None


async def test_async_with_waits_for_open_on_entry() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        async with ws as entered:
            assert entered is ws
            assert ws.ready_state == partysocket.OPEN
            ws.send("inside")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "inside"


async def test_async_with_closes_cleanly_on_exit() -> None:
    async with TestServer() as server:
        connections: list[ServerConnection] = []

        async def remember(conn: ServerConnection) -> None:
            connections.append(conn)

        server.on_connect = remember
        async with ReconnectingWebSocket(server.url, **FAST) as ws:
            await wait_until(lambda: len(connections) == 1, what="the server connection")
        assert ws.ready_state == partysocket.CLOSED
        assert not ws.should_reconnect
        await wait_until(lambda: connections[0].close_code is not None, what="the server to see the close")
        assert connections[0].close_code == 1000
        with pytest.raises(ConnectionClosed):
            await ws.recv()


async def test_async_with_detaches_construction_handlers_after_they_see_the_close() -> None:
    seen: list[str] = []

    def on_open(event: Event) -> None:
        seen.append("open")

    def on_message(event: Event) -> None:
        seen.append("message")

    def on_close(event: Event) -> None:
        assert isinstance(event, CloseEvent)
        seen.append(f"close {event.code}")

    def on_error(event: Event) -> None:
        seen.append("error")

    async with TestServer() as server:
        ws = ReconnectingWebSocket(
            server.url, on_open=on_open, on_message=on_message, on_close=on_close, on_error=on_error, **FAST
        )
        async with ws:
            ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ping"
        assert seen == ["open", "message", "close 1000"]
        assert ws.onopen is None
        assert ws.onmessage is None
        assert ws.onclose is None
        assert ws.onerror is None


async def test_async_with_against_a_refusing_server_raises_connection_closed() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, max_retries=1, **FAST)
        try:
            with pytest.raises(ConnectionClosed) as info:
                async with ws:
                    pytest.fail("the body must not run")
            assert len(server.handshakes) == 2  # the first attempt and one retry
            event = info.value.event
            assert event is not None
            assert event.code == 1006
            assert event.will_reconnect is False
            assert ws.ready_state == partysocket.CLOSED
        finally:
            await ws.aclose()


async def test_recv_queue_is_bounded_and_loses_nothing() -> None:
    total = 5000

    async with TestServer(echo=False) as server:
        server.on_connect = flood(total)
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"
            await wait_until(lambda: len(ws._inbox) >= RECV_QUEUE_SIZE, what="the queue to fill")
            await asyncio.sleep(0.3)  # reading must stay paused: the queue does not grow
            assert len(ws._inbox) <= RECV_QUEUE_SIZE

            async def read_rest() -> list[str | bytes]:
                return [await ws.recv() for _ in range(1, total)]

            rest = await asyncio.wait_for(read_rest(), 3 * TIMEOUT)
            assert rest == [f"m{i}" for i in range(1, total)]
            assert len(ws._inbox) == 0
        finally:
            await ws.aclose()


async def test_paused_recv_queue_does_not_stop_message_events_for_later_messages() -> None:
    total = RECV_QUEUE_SIZE * 2

    async with TestServer(echo=False) as server:
        server.on_connect = flood(total)
        ws = ReconnectingWebSocket(server.url, **FAST)
        messages: list[Event] = collect(ws, "message")
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"
            rest = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(1, total)]
            assert rest == [f"m{i}" for i in range(1, total)]
            assert [getattr(event, "data", None) for event in messages] == [f"m{i}" for i in range(total)]
        finally:
            await ws.aclose()


async def test_async_with_and_listeners_only_is_not_stalled_by_the_unread_recv_queue() -> None:
    total = RECV_QUEUE_SIZE * 4

    async with TestServer(echo=False) as server:
        server.on_connect = flood(total)
        seen: list[str] = []
        ws = ReconnectingWebSocket(server.url, on_message=lambda event: seen.append(event.data), **FAST)
        async with ws:  # lifecycle only: messages are consumed by the handler, recv() never called
            await wait_until(lambda: len(seen) == total, what="every message to reach the handler")
            assert seen == [f"m{i}" for i in range(total)]
            assert len(ws._inbox) < RECV_QUEUE_SIZE  # nothing kept for a recv() nobody makes


async def test_a_slow_recv_consumer_is_not_taken_for_a_dead_connection() -> None:
    total = RECV_QUEUE_SIZE * 3

    async with TestServer(echo=False) as server:
        server.on_connect = flood(total)
        ws = ReconnectingWebSocket(server.url, ping_interval=0.1, ping_timeout=0.1, **FAST)
        closes = collect(ws, "close")
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"
            await wait_until(lambda: len(ws._inbox) >= RECV_QUEUE_SIZE, what="the queue to fill")
            # The consumer is busy for several keep-alive rounds while reading is paused
            # (this sleep is the scenario, not a synchronisation).
            await asyncio.sleep(1.0)
            rest = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(1, total)]
            assert rest == [f"m{i}" for i in range(1, total)]
            assert closes == []
            assert server.opened == 1
        finally:
            await ws.aclose()


async def test_async_with_cancelled_on_entry_closes_the_socket() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, **FAST)

        async def enter() -> None:
            async with ws:
                raise AssertionError("the server refuses: entry cannot succeed")

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(enter(), 0.5)
        assert ws.ready_state == partysocket.CLOSED
        assert ws.should_reconnect is False  # no retry keeps running for a socket nobody holds
        attempts = len(server.handshakes)
        await ws.aclose()
        assert not ws._timers
        assert len(server.handshakes) == attempts


async def test_wait_open_returns_at_once_when_open() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.ready_state == partysocket.OPEN
            await asyncio.wait_for(ws.wait_open(), 0.5)
            await ws.wait_open(0.5)
        finally:
            await ws.aclose()


async def test_wait_open_raises_timeout_error() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=30, **FAST)
        try:
            with pytest.raises(TimeoutError):
                await ws.wait_open(0.2)
            assert ws.ready_state == partysocket.CONNECTING  # the timeout does not affect the socket
            server.accept()
        finally:
            await ws.aclose()


async def test_wait_open_after_a_timeout_can_still_succeed() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            with pytest.raises(TimeoutError):
                await ws.wait_open(0.1)
            server.accept()
            await ws.wait_open(TIMEOUT)
            assert ws.ready_state == partysocket.OPEN
        finally:
            await ws.aclose()


async def test_wait_open_raises_connection_closed_when_the_socket_gives_up() -> None:
    async with TestServer() as server:
        server.refuse(403)
        ws = ReconnectingWebSocket(server.url, max_retries=0, **FAST)
        try:
            with pytest.raises(ConnectionClosed) as info:
                await ws.wait_open(TIMEOUT)
            assert info.value.event is not None
            assert info.value.event.code == 1006
        finally:
            await ws.aclose()


async def test_wait_open_raises_connection_closed_when_closed_while_waiting() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=30, **FAST)
        try:
            waiter = asyncio.ensure_future(ws.wait_open(TIMEOUT))
            await asyncio.sleep(0.05)  # wait_open() is waiting
            assert not waiter.done()
            ws.close()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(waiter, TIMEOUT)
            server.accept()
        finally:
            await ws.aclose()


async def test_wait_open_on_a_socket_never_started_raises_connection_closed_at_once() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    with pytest.raises(ConnectionClosed) as info:
        await ws.wait_open(TIMEOUT)
    assert info.value.event is None


async def test_recv_raises_connection_closed_when_the_socket_gives_up() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_retries=1, **FAST)
        closes: list[CloseEvent] = collect(ws, "close")
        try:
            ws.send("one")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "one"
            server.refuse(503)
            server.drop_all()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert info.value.event is closes[-1]
            assert info.value.event.will_reconnect is False
        finally:
            await ws.aclose()


async def test_async_for_ends_when_should_reconnect_on_close_says_no() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, should_reconnect_on_close=lambda event: event.code != 4001, **FAST)
        received: list[str | bytes] = []

        async def consume() -> None:
            async for data in ws:
                received.append(data)
                await server.close_all(4001, "go away")

        try:
            ws.send("one")
            await asyncio.wait_for(consume(), TIMEOUT)
            assert received == ["one"]
            assert ws.ready_state == partysocket.CLOSED
        finally:
            await ws.aclose()


async def test_async_with_closes_when_the_body_raises() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        with pytest.raises(KeyError):
            async with ws:
                raise KeyError("body")
        assert ws.ready_state == partysocket.CLOSED
        assert not ws.should_reconnect
