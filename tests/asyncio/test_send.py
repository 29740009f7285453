"""Behaviour of ``send()``, the send buffer and ``buffered_amount`` against a real server."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import CloseEvent, Event, ReconnectingWebSocket
from tests.servers import TIMEOUT, TestServer, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


def first_connection_reads_nothing() -> Callable[[ServerConnection], Awaitable[None]]:
    """A server handler: the first connection stops reading (and records nothing); later ones are normal."""
    connections: list[ServerConnection] = []

    async def on_connect(conn: ServerConnection) -> None:
        connections.append(conn)
        if len(connections) == 1:
            assert conn.transport is not None
            conn.transport.pause_reading()
            await conn.wait_closed()
            raise RuntimeError("first connection: record nothing it sent")

    return on_connect


def warnings_matching(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "partysocket" and record.levelno == logging.WARNING and text in record.getMessage()
    ]


async def test_send_returns_true_when_open() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.send("live") is True
            await wait_until(lambda: server.received == ["live"], what="the live message")
        finally:
            await ws.aclose()


async def test_send_returns_false_when_buffered() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            assert ws.ready_state == partysocket.CONNECTING
            assert ws.send("early") is False
            await wait_until(lambda: server.received == ["early"], what="the buffered message")
        finally:
            await ws.aclose()


async def test_str_is_sent_as_a_text_frame() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            ws.send("héllo")
            await wait_until(lambda: len(server.received) == 1, what="one message")
            assert server.received[0] == "héllo"
            assert isinstance(server.received[0], str)
        finally:
            await ws.aclose()


@pytest.mark.parametrize(
    "payload",
    [b"\x00\x01\xff", bytearray(b"\x00\x01\xff"), memoryview(b"\x00\x01\xff")],
    ids=["bytes", "bytearray", "memoryview"],
)
async def test_bytes_like_is_sent_as_a_binary_frame(payload: bytes | bytearray | memoryview) -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.send(payload) is True
            await wait_until(lambda: len(server.received) == 1, what="one message")
            assert server.received[0] == b"\x00\x01\xff"
            assert type(server.received[0]) is bytes
        finally:
            await ws.aclose()


async def test_bytearray_mutated_after_send_while_open_is_sent_as_it_was() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            data = bytearray(b"original")
            assert ws.send(data) is True
            data[:] = b"MUTATED!"  # before the writer task had a chance to run
            await wait_until(lambda: len(server.received) == 1, what="one message")
            assert server.received == [b"original"]
        finally:
            await ws.aclose()


async def test_bytearray_mutated_after_send_while_buffered_is_sent_as_it_was() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            data = bytearray(b"original")
            assert ws.send(data) is False
            data[:] = b"MUTATED!"
            await wait_until(lambda: len(server.received) == 1, what="one message")
            assert server.received == [b"original"]
        finally:
            await ws.aclose()


@pytest.mark.parametrize("value", [{"a": 1}, 5, None, ["x"]], ids=["dict", "int", "None", "list"])
async def test_send_of_other_types_raises_type_error(value: Any) -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    with pytest.raises(TypeError) as info:
        ws.send(value)
    message = str(info.value)
    assert type(value).__name__ in message  # says what was passed
    assert "str" in message and "bytes" in message  # and what to pass instead
    assert ws.drain_queued_messages() == []  # nothing was buffered


async def test_buffered_messages_are_flushed_before_the_open_event() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        sent_from_open: list[bool] = []

        def on_open(event: Event) -> None:
            sent_from_open.append(ws.send("from-open"))

        ws.onopen = on_open
        try:
            for text in ("one", "two", "three"):
                assert ws.send(text) is False
            await wait_until(lambda: len(server.received) == 4, what="four messages")
            assert server.received == ["one", "two", "three", "from-open"]
            assert sent_from_open == [True]
        finally:
            await ws.aclose()


async def test_messages_sent_while_the_server_is_down_are_delivered_once_in_order() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        closes: list[CloseEvent] = collect(ws, "close")
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            ws.send("before")
            await wait_until(lambda: server.received == ["before"], what="the first message")
            await server.stop()
            await wait_until(lambda: len(closes) == 1, what="the close event")
            results = [ws.send(f"down-{i}") for i in range(5)]
            assert results == [False] * 5
            await server.start()
            await wait_until(lambda: len(server.received) == 6, what="the buffered messages")
            await wait_until(lambda: len(opens) == 2, what="the second open")
            ws.send("after")
            await wait_until(lambda: len(server.received) == 7, what="the last message")
            assert server.received == ["before", *(f"down-{i}" for i in range(5)), "after"]
        finally:
            await ws.aclose()


async def test_messages_sent_from_the_close_handler_after_a_drop_are_delivered_after_reconnect() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        results: list[bool] = []

        def on_close(event: Event) -> None:
            if not results:
                results.extend(ws.send(f"late-{i}") for i in range(3))

        ws.add_event_listener("close", on_close)
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            server.drop_all()
            await wait_until(lambda: len(opens) == 2, what="the reconnection")
            await wait_until(lambda: len(server.received) >= 3, what="the buffered messages")
            ws.send("marker")  # anything sent twice would show up before the marker
            await wait_until(lambda: "marker" in server.received, what="the marker")
            assert results == [False, False, False]
            assert server.received == ["late-0", "late-1", "late-2", "marker"]
        finally:
            await ws.aclose()


async def test_messages_accepted_but_not_written_when_the_connection_dies_are_not_lost() -> None:
    """Messages handed to an OPEN connection but not yet written are sent again after reconnecting.

    The server stops reading on its first connection, so the client's writer
    backs up with most of the 300 x 64 KiB messages still queued. Then the
    server aborts the connection and accepts the next one normally.

    Messages already written into the kernel's socket buffers (or the
    transport's buffer) when the connection died may be lost: that is TCP, no
    WebSocket client can know whether they arrived. What must hold is that
    nothing is duplicated, the order is kept, and every message that was still
    queued (in particular the last one) arrives, so the server sees a
    contiguous run ending with the last message.
    """
    count = 300
    size = 64 * 1024
    on_connect = first_connection_reads_nothing()

    def message(i: int) -> bytes:
        return f"{i:06d}".encode().ljust(size, b".")

    async with TestServer(echo=False) as server:
        server.on_connect = on_connect
        ws = ReconnectingWebSocket(server.url, compression=None, **FAST)
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            results = [ws.send(message(i)) for i in range(count)]
            assert results == [True] * count
            total = count * size
            # The writer is backed up once the kernel refuses more and the transport keeps bytes.
            link = ws._link
            assert link is not None and link.conn is not None
            conn = link.conn
            await wait_until(lambda: conn.buffered_amount > 0, what="the writer to back up")
            assert 0 < ws.buffered_amount < total
            assert ws.buffered_amount > 4 * size  # whole messages are still queued
            server.drop_all()
            await wait_until(lambda: len(opens) == 2, what="the reconnection")
            await wait_until(
                lambda: bool(server.received) and server.received[-1] == message(count - 1),
                timeout=3 * TIMEOUT,
                what="the last message",
            )
            assert all(isinstance(data, bytes) for data in server.received)
            indices = [int(data[:6]) for data in server.received]
            assert len(indices) == len(set(indices)), "a message was delivered twice"
            assert indices == list(range(indices[0], count)), "messages were lost or reordered"
            assert all(data == message(i) for i, data in zip(indices, server.received, strict=True))
        finally:
            await ws.aclose()


@pytest.mark.parametrize("how", ["reconnect", "close-then-reconnect"])
async def test_unwritten_messages_of_a_backed_up_connection_go_on_the_next_one_in_order(how: str) -> None:
    """``reconnect()`` (or ``close()`` then ``reconnect()``) while the old peer reads nothing.

    What the old connection had not written must go out on the new connection,
    ahead of what is sent later, and never wait in the buffer while OPEN.
    """
    count = 300
    size = 64 * 1024
    on_connect = first_connection_reads_nothing()

    def message(i: int) -> bytes:
        return f"{i:06d}".encode().ljust(size, b".")

    async with TestServer(echo=False) as server:
        server.on_connect = on_connect
        ws = ReconnectingWebSocket(server.url, compression=None, connection_timeout=0.5, ping_interval=None, **FAST)
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            assert [ws.send(message(i)) for i in range(count)] == [True] * count
            link = ws._link
            assert link is not None and link.conn is not None
            conn = link.conn
            await wait_until(lambda: conn.buffered_amount > 0, what="the writer to back up")
            if how == "close-then-reconnect":
                ws.close()
            ws.reconnect()
            await wait_until(lambda: len(opens) == 2, what="the new connection")
            ws.send(b"after")
            await wait_until(lambda: server.received[-1:] == [b"after"], timeout=3 * TIMEOUT, what="'after'")
            assert len(ws._machine.buffer) == 0
            # Past the old connection's close timeout, nothing turns up late in the buffer.
            await wait_until(lambda: not any(task.get_name() != "partysocket-listener" for task in ws._tasks))
            assert len(ws._machine.buffer) == 0
            assert ws.buffered_amount == 0
            indices = [int(data[:6]) for data in server.received[:-1]]
            assert indices, "the new connection got none of the unwritten messages"
            assert indices == list(range(indices[0], count)), "messages were lost, duplicated or reordered"
        finally:
            await ws.aclose()


async def test_max_enqueued_messages_keeps_the_first_n(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_enqueued_messages=3, **FAST)
        try:
            results = [ws.send(f"m{i}") for i in range(6)]
            assert results == [False] * 6
            assert len(warnings_matching(caplog, "max_enqueued_messages")) == 1
            await ws.wait_open(TIMEOUT)
            ws.send("marker")
            await wait_until(lambda: "marker" in server.received, what="the marker")
            assert server.received == ["m0", "m1", "m2", "marker"]
        finally:
            await ws.aclose()


async def test_buffer_overflow_warns_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_enqueued_messages=1, **FAST)
        closes: list[CloseEvent] = collect(ws, "close")
        try:
            for i in range(4):
                ws.send(f"first-{i}")
            assert len(warnings_matching(caplog, "max_enqueued_messages")) == 1
            await ws.wait_open(TIMEOUT)  # the flush ends the episode
            await wait_until(lambda: server.received == ["first-0"], what="the kept message")
            await server.stop()
            await wait_until(lambda: len(closes) == 1, what="the close event")
            for i in range(4):
                assert ws.send(f"second-{i}") is False
            assert len(warnings_matching(caplog, "max_enqueued_messages")) == 2
            await server.start()
            await wait_until(lambda: len(server.received) == 2, what="the kept messages")
            assert server.received == ["first-0", "second-0"]
        finally:
            await ws.aclose()


async def test_send_after_close_buffers_and_is_delivered_after_reconnect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        opens: list[Event] = collect(ws, "open")
        try:
            await ws.wait_open(TIMEOUT)
            await ws.aclose()
            assert ws.send("x") is False
            assert ws.send("y") is False
            assert len(warnings_matching(caplog, "close()")) == 1
            assert server.received == []
            ws.reconnect()
            await wait_until(lambda: len(opens) == 2, what="the reconnection")
            await wait_until(lambda: len(server.received) == 2, what="the buffered messages")
            assert server.received == ["x", "y"]
        finally:
            await ws.aclose()


async def test_send_after_close_warns_once_per_close_cycle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close()
            ws.send("a")
            ws.send("b")
            assert len(warnings_matching(caplog, "close()")) == 1
            ws.reconnect()
            await ws.wait_open(TIMEOUT)
            ws.close()
            ws.send("c")
            ws.send("d")
            assert len(warnings_matching(caplog, "close()")) == 2
        finally:
            await ws.aclose()


async def test_send_while_open_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            ws.send("buffered")
            await ws.wait_open(TIMEOUT)
            ws.send("live")
            await wait_until(lambda: len(server.received) == 2, what="both messages")
            assert [r for r in caplog.records if r.name == "partysocket" and r.levelno >= logging.WARNING] == []
        finally:
            await ws.aclose()


async def test_drain_queued_messages_returns_and_removes_the_buffer() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            ws.send("a")
            ws.send(b"b")
            assert ws.drain_queued_messages() == ["a", b"b"]
            assert ws.drain_queued_messages() == []
            assert ws.buffered_amount == 0
            await ws.wait_open(TIMEOUT)
            ws.send("marker")
            await wait_until(lambda: "marker" in server.received, what="the marker")
            assert server.received == ["marker"]
        finally:
            await ws.aclose()


async def test_buffered_amount_counts_utf8_bytes_and_returns_to_zero_after_flush() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            assert ws.buffered_amount == 0
            ws.send("é")
            assert ws.buffered_amount == 2
            ws.send("abc")
            assert ws.buffered_amount == 5
            ws.send(b"\x00\x01")
            assert ws.buffered_amount == 7
            ws.send("€")
            assert ws.buffered_amount == 10
            await ws.wait_open(TIMEOUT)
            await wait_until(lambda: len(server.received) == 4, what="the flushed messages")
            await wait_until(lambda: ws.buffered_amount == 0, what="buffered_amount to return to 0")
        finally:
            await ws.aclose()


def test_buffered_amount_counts_messages_of_a_socket_never_started() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    ws.send("ü" * 10)
    assert ws.buffered_amount == 20
    assert ws.drain_queued_messages() == ["ü" * 10]
    assert ws.buffered_amount == 0


async def test_draining_ends_an_overflow_episode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True, max_enqueued_messages=2)
    for i in range(4):
        ws.send(f"a{i}")
    assert ws.drain_queued_messages() == ["a0", "a1"]
    assert len(warnings_matching(caplog, "max_enqueued_messages")) == 1
    for i in range(4):
        ws.send(f"b{i}")
    assert ws.drain_queued_messages() == ["b0", "b1"]
    assert len(warnings_matching(caplog, "max_enqueued_messages")) == 2
