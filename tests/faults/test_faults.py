"""Real faults between a real client and a real server, injected by :class:`FaultProxy`.

Which delivery guarantee is tested
----------------------------------
partysocket promises (API.md): messages sent while the socket is not OPEN are
buffered and go out, in order, exactly once, on the next connection, before its
``open`` event; messages handed to an OPEN connection but not yet written when
it dies go back to the front of the buffer.

It cannot promise anything about a message that was already *written*: once
its bytes are in the kernel's socket buffer (or in ``websockets``' small write
buffer below its high-water mark), a dying connection takes it along, and
resending it could duplicate it. So every test here asserts:

* **exactly once, in order**, for the messages sent while the fault is active
  *after* it was detected (``send()`` returned ``False``: they were buffered),
  and for messages still unwritten when the fault was detected (the stall test);
* **at most once, in order** for every message the server received at all
  (no duplicates, no reordering, whatever was lost in a dead connection).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import CloseEvent, ReconnectingWebSocket
from tests.faults.proxy import TO_CLIENT, TO_SERVER, FaultProxy
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer, wait_until

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.3
#: generous slack on top of every detection bound (a loaded CI machine)
MARGIN = 1.5

FAST: dict[str, Any] = {
    "min_reconnection_delay": 0.02,
    "max_reconnection_delay": 0.2,
    "connection_timeout": 1.0,
    "ping_interval": PING_INTERVAL,
    "ping_timeout": PING_TIMEOUT,
}


def index(message: str | bytes) -> int:
    text = message if isinstance(message, str) else message[:16].decode("ascii", "replace")
    return int(text[1:].split(":")[0])


def texts(received: list[str | bytes]) -> list[str | bytes]:
    """The numbered messages (``m<i>...``), without connection markers."""
    return [m for m in received if (m[:1] == "m" if isinstance(m, str) else m[:1] == b"m")]


def assert_at_most_once_in_order(received: list[str | bytes]) -> list[int]:
    """Every numbered message the server got: no duplicate, no reordering. Returns the indexes."""
    indexes = [index(m) for m in texts(received)]
    assert indexes == sorted(set(indexes)), f"duplicated or reordered: {indexes}"
    return indexes


def mark_connections(server: TestServer) -> None:
    """Put a ``#conn<n>`` marker in ``server.received`` when connection ``n`` opens."""

    async def on_connect(conn: ServerConnection) -> None:
        server.received.append(f"#conn{server.opened}")

    server.on_connect = on_connect


def after_marker(received: list[str | bytes], marker: str) -> list[int]:
    at = received.index(marker)
    return [index(m) for m in texts(received[at:])]


async def test_proxy_forwards_both_ways_and_follows_frames() -> None:
    """Sanity: with no fault the proxy is transparent (and survives large binary frames)."""
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        ws = ReconnectingWebSocket(proxy.url, **FAST)
        try:
            big = b"m0:" + os.urandom(200_000)
            ws.send(big)
            ws.send("m1")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m1"
            assert proxy.connections == 1
        finally:
            await ws.aclose()


async def test_blackholed_connection_is_detected_by_keepalive_and_reconnects() -> None:
    """Half-open: TCP stays up, nothing arrives. Keep-alive notices within ping_interval + ping_timeout.

    The reconnection attempts made while the blackhole lasts stall in the
    handshake and are abandoned at ``connection_timeout``. Messages sent after
    detection arrive exactly once, in order, after the network heals.
    """
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        ws = ReconnectingWebSocket(proxy.url, **FAST)
        recorder = Recorder(ws)
        try:
            ws.send("m0")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"
            proxy.blackhole()
            started = time.monotonic()
            # written into the blackhole before detection: may be lost, never duplicated
            assert ws.send("m1") is True
            await recorder.until(lambda: recorder.count("close") >= 1, "keep-alive detection")
            detection = recorder.times_of("close")[0] - started
            # the next ping leaves at most ping_interval after the fault, its pong is due ping_timeout later
            assert detection < PING_INTERVAL + PING_TIMEOUT + MARGIN, detection
            assert detection >= PING_TIMEOUT * 0.9, detection
            assert recorder.types()[-3:] == ["error", "close", "retry"] or recorder.types()[-2:] == [
                "error",
                "close",
            ]
            close = recorder.closes()[0]
            assert (close.code, close.was_clean, close.will_reconnect) == (1006, False, True)
            assert isinstance(close.cause, TimeoutError)
            assert recorder.errors()[0].error is close.cause

            after = [f"m{i}" for i in range(2, 22)]
            for message in after:
                assert ws.send(message) is False  # not OPEN: buffered
            # a reconnection through the blackhole stalls and is abandoned at connection_timeout
            await recorder.until(
                lambda: any(c.reason == "timeout" for c in recorder.closes()), "a stalled handshake timing out"
            )
            assert ws.ready_state != partysocket.OPEN
            proxy.heal()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            await recorder.until(lambda: "m21" in server.received, "the buffered messages")
            indexes = assert_at_most_once_in_order(server.received)
            assert indexes[-20:] == list(range(2, 22))
            assert ws.drain_queued_messages() == []
        finally:
            await ws.aclose()


@pytest.mark.parametrize("fault", ["blackhole", "drip", "stall", "latency"])
async def test_stalled_handshake_is_abandoned_at_connection_timeout(fault: str) -> None:
    """A handshake that never completes (nothing, or bytes too slowly) ends at connection_timeout.

    Then the fault heals: the messages buffered during the fault are sent,
    exactly once and in order, before the ``open`` event.
    """
    timeout = 0.5
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        if fault == "blackhole":
            proxy.blackhole()
        elif fault == "drip":
            proxy.drip(1, 0.02)  # ~250-byte request and response: seconds, far beyond the timeout
        elif fault == "stall":
            proxy.stall()
        else:
            proxy.latency = 0.6  # each way: the response comes after 1.2 s
        created = time.monotonic()
        ws = ReconnectingWebSocket(proxy.url, **{**FAST, "connection_timeout": timeout})
        recorder = Recorder(ws)
        try:
            messages = [f"m{i}" for i in range(10)]
            for message in messages:
                assert ws.send(message) is False
            await recorder.until(lambda: recorder.count("close") >= 1, "the connection timeout")
            elapsed = recorder.times_of("close")[0] - created
            assert timeout * 0.9 <= elapsed < timeout + MARGIN, elapsed
            assert recorder.types()[:2] == ["error", "close"]
            assert isinstance(recorder.errors()[0].error, TimeoutError)
            close = recorder.closes()[0]
            assert (close.code, close.reason, close.was_clean) == (1006, "timeout", False)
            assert recorder.count("open") == 0
            proxy.heal()
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: "m9" in server.received, "the buffered messages")
            assert texts(server.received) == messages  # exactly once, in order
            assert ws.buffered_amount == 0
        finally:
            await ws.aclose()


async def test_latency_below_the_timeouts_keeps_the_connection() -> None:
    """50 ms each way: pings are answered in time, nothing reconnects, order is kept."""
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        proxy.latency = 0.05
        ws = ReconnectingWebSocket(proxy.url, **{**FAST, "ping_interval": 0.1, "ping_timeout": 0.5})
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            for i in range(30):
                ws.send(f"m{i}")
            got = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(30)]
            assert got == [f"m{i}" for i in range(30)]
            await asyncio.sleep(0.5)  # several pings under latency: none may fail
            assert recorder.types() == ["open"] + ["message"] * 30
            assert server.opened == 1
        finally:
            await ws.aclose()


@pytest.mark.parametrize("direction", [TO_CLIENT, TO_SERVER])
async def test_connection_cut_mid_frame_gives_error_then_close_1006_and_reconnects(direction: str) -> None:
    """The proxy forwards 100 bytes of a 50 kB frame and closes: error, close 1006, retry, open.

    Toward the client, the partial frame is never delivered as a message.
    Toward the server, the message being written may be lost (it was written)
    or re-queued (it was not): either way it arrives at most once.
    """
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        mark_connections(server)
        ws = ReconnectingWebSocket(proxy.url, **{**FAST, "ping_interval": None, "compression": None})
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            proxy.cut_mid_frame(100, direction)
            big = b"m0:" + os.urandom(50_000)
            assert ws.send(big) is True
            await recorder.until(lambda: recorder.count("close") >= 1, "the cut")
            assert recorder.types()[:3] == ["open", "error", "close"]
            close = recorder.closes()[0]
            assert (close.code, close.was_clean, close.will_reconnect) == (1006, False, True)
            assert proxy.cut_done.is_set()
            after = [f"m{i}" for i in range(1, 11)]
            for message in after:
                ws.send(message)
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            await recorder.until(lambda: "m10" in server.received, "the buffered messages")
            indexes = assert_at_most_once_in_order(server.received)
            assert indexes[-10:] == list(range(1, 11))
            if direction == TO_CLIENT:
                assert server.received[:2] == ["#conn1", big]  # the server got it whole
                first_messages = [e for e in recorder.events[: recorder.types().index("close")] if e.type == "message"]
                assert first_messages == []  # the client never saw the partial frame as a message
        finally:
            await ws.aclose()


async def test_reset_connection_gives_error_then_close_1006_and_buffered_messages_survive() -> None:
    """An RST (SO_LINGER 0): error, close 1006, reconnect; messages sent after it arrive once, in order."""
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        ws = ReconnectingWebSocket(proxy.url, **FAST)
        recorder = Recorder(ws)
        try:
            ws.send("m0")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"
            proxy.reset()
            await recorder.until(lambda: recorder.count("close") >= 1, "the reset")
            close = recorder.closes()[0]
            assert recorder.types()[-3:-1] == ["error", "close"] or recorder.types()[-2:] == ["error", "close"]
            assert (close.code, close.was_clean) == (1006, False)
            for i in range(1, 21):
                ws.send(f"m{i}")
            await recorder.until(lambda: "m20" in server.received, "the buffered messages")
            assert texts(server.received) == [f"m{i}" for i in range(21)]
        finally:
            await ws.aclose()


async def test_refused_connections_are_retried_and_buffered_messages_go_out_once_on_accept() -> None:
    """While nothing listens every attempt is an error (ECONNREFUSED); nothing is lost or repeated."""
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        ws = ReconnectingWebSocket(proxy.url, **FAST)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await proxy.refuse()
            proxy.reset()
            await recorder.until(lambda: recorder.count("error") >= 3, "refused attempts")
            refused = [e.error for e in recorder.errors()[1:]]
            assert all(isinstance(error, ConnectionRefusedError) for error in refused), refused
            for i in range(20):
                assert ws.send(f"m{i}") is False
            await proxy.accept()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            # flushed before the open event: by the time open is seen, they were handed over in order
            await recorder.until(lambda: "m19" in server.received, "the buffered messages")
            assert texts(server.received) == [f"m{i}" for i in range(20)]
            assert all(isinstance(c, CloseEvent) and c.code == 1006 for c in recorder.closes())
        finally:
            await ws.aclose()


async def test_stalled_peer_with_full_buffers_is_detected_and_unwritten_messages_are_requeued() -> None:
    """The peer stops reading: TCP windows fill, writes block, keep-alive must still notice.

    The messages still waiting in the socket's own queue when the connection
    is declared dead (accepted by ``send()`` while OPEN, never written) are put
    back at the front of the buffer and arrive, exactly once and in order, on
    the next connection. Messages written into kernel buffers before that die
    with the connection (at most once).
    """
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        mark_connections(server)
        ws = ReconnectingWebSocket(proxy.url, **{**FAST, "compression": None})
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            proxy.stall()
            started = time.monotonic()
            pad = "x" * 65_536
            count = 400  # ~26 MB: far more than the loopback socket buffers hold
            for i in range(count):
                assert ws.send(f"m{i}:{pad}") is True
            await recorder.until(
                lambda: recorder.count("close") >= 1,
                "keep-alive detection",
                timeout=PING_INTERVAL + PING_TIMEOUT + MARGIN + 2.0,
            )
            detection = recorder.times_of("close")[0] - started
            assert detection < PING_INTERVAL + PING_TIMEOUT + MARGIN, detection
            assert recorder.closes()[0].code == 1006
            # the dead connection's bytes still sitting in the proxy must not be replayed later
            proxy.reset()
            proxy.heal()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection", timeout=TIMEOUT)
            await recorder.until(
                lambda: any(isinstance(m, str) and m.startswith(f"m{count - 1}:") for m in server.received),
                "the re-queued messages",
            )
            indexes = assert_at_most_once_in_order(server.received)
            second = after_marker(server.received, "#conn2")
            # everything the second connection carried was accepted while OPEN on the first one: re-queued
            assert second and second == list(range(second[0], count)), second[:5]
            assert indexes == sorted(indexes)
        finally:
            await bounded_aclose(ws)


async def test_aclose_with_a_peer_that_stopped_reading_is_bounded() -> None:
    """A closing handshake cannot complete when the peer reads nothing: aclose() must still return.

    The close frame sits behind megabytes nobody reads; after ``connection_timeout``
    (the writer's grace period) plus the close timeout, the connection is aborted.
    """
    async with TestServer() as server, FaultProxy(server.port) as proxy:
        ws = ReconnectingWebSocket(proxy.url, **{**FAST, "ping_interval": None, "compression": None})
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            proxy.stall()
            pad = "x" * 65_536
            for i in range(200):
                ws.send(f"m{i}:{pad}")
            await asyncio.sleep(0.2)  # let the writer fill the TCP windows
            started = time.monotonic()
            ws.close()
            assert recorder.types()[-1] == "close"  # dispatched synchronously
            assert ws.ready_state == partysocket.CLOSED
        finally:
            await bounded_aclose(ws)
        took = time.monotonic() - started
        assert took < 2 * FAST["connection_timeout"] + MARGIN, took


async def bounded_aclose(ws: ReconnectingWebSocket, limit: float = 2 * 1.0 + MARGIN + 1.0) -> None:
    """``aclose()``, failing (instead of hanging the suite) when it takes longer than ``limit``."""
    try:
        await asyncio.wait_for(ws.aclose(), limit)
    except asyncio.TimeoutError:
        raise AssertionError(f"aclose() did not return within {limit} s") from None


@pytest.mark.parametrize("reset_after", [300, 700, 1100])
async def test_a_reset_while_the_writer_waits_for_room_duplicates_nothing(reset_after: int) -> None:
    """Small socket buffers and a slow reader: the writer keeps waiting for room.

    When the server resets the connection, part of what was written has reached
    it. What goes out again on the next connection must be only what was never
    written: the server sees every message at most once, in order.
    """
    import socket

    import websockets
    from websockets.asyncio.server import serve

    received: list[list[int]] = []

    async def handler(conn: ServerConnection) -> None:
        mine: list[int] = []
        received.append(mine)
        first = len(received) == 1
        sock = conn.transport.get_extra_info("socket")
        try:
            async for message in conn:
                mine.append(int(message[:8]))
                if first:
                    await asyncio.sleep(0.0005)  # a slow reader (the scenario, not a synchronisation)
                    if len(mine) >= reset_after:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                        conn.transport.abort()
                        return
        except websockets.ConnectionClosed:
            pass

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    async with serve(handler, sock=listener, ping_interval=None, max_size=None, max_queue=1):
        port = listener.getsockname()[1]
        ws = ReconnectingWebSocket(
            f"ws://127.0.0.1:{port}",
            ping_interval=None,
            connection_timeout=1.0,
            min_reconnection_delay=0.02,
            compression=None,
        )
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            link = ws._link
            assert link is not None and link.conn is not None
            raw = link.conn._ws.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2048)
            seq = 0
            deadline = time.monotonic() + TIMEOUT
            while recorder.count("open") < 2 and time.monotonic() < deadline:
                for _ in range(20):
                    ws.send(f"{seq:08d}" + "p" * 1500)
                    seq += 1
                await asyncio.sleep(0.001)  # keep the writer backed up without flooding memory
            assert recorder.count("open") == 2, "the server did not reset the first connection"
            for _ in range(10):
                ws.send(f"{seq:08d}")
                seq += 1
            last = seq - 1
            await wait_until(lambda: len(received) == 2 and received[1][-1:] == [last], what="the last message")
        finally:
            await ws.aclose()
    first, second = received
    assert len(first) >= reset_after
    assert not set(first) & set(second), "messages were delivered twice"
    everything = first + second
    assert everything == sorted(everything), "messages were reordered"


@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_messages_sent_into_a_connection_reset_unnoticed_while_reading_is_paused_are_not_lost(
    transport: str,
) -> None:
    """Reading is paused (a full recv() queue), so the client has not noticed a reset.

    Its next write fails at once: those messages were never written, and must
    reach the next connection.
    """
    import socket
    import struct

    from websockets.asyncio.server import serve

    from partysocket.asyncio.socket import RECV_QUEUE_SIZE

    conns: list[ServerConnection] = []
    second: list[str | bytes] = []
    reset_now = asyncio.Event()
    sockets: list[socket.socket] = []

    async def handler(conn: ServerConnection) -> None:
        conns.append(conn)
        if len(conns) == 1:
            for i in range(RECV_QUEUE_SIZE + 44):
                await conn.send(f"m{i}")
            await reset_now.wait()
            sock = conn.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sockets.append(sock)
            conn.transport.abort()
            return
        async for message in conn:
            second.append(message)

    options: dict[str, Any] = {}
    if transport == "picows":
        from partysocket.transports.picows import PicowsTransport

        options["websocket"] = PicowsTransport()
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = ReconnectingWebSocket(f"ws://127.0.0.1:{port}", min_reconnection_delay=0.05, **options)
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "m0"  # pulled: the queue fills, reading pauses
            await wait_until(lambda: ws._link is not None and ws._link.paused, what="reading to pause")
            reset_now.set()
            # The server's socket is closed (RST sent); the client, not reading, cannot see it.
            await wait_until(lambda: bool(sockets) and sockets[0].fileno() == -1, what="the reset")
            sent = [ws.send(text) for text in ("a", "b", "c")]
            await wait_until(lambda: ws.ready_state != partysocket.OPEN, what="the reset to be noticed")
            sent.append(ws.send("d"))
            while ws._inbox:  # make room: reading resumes
                await ws.recv()
            await wait_until(lambda: second[-1:] == ["d"], what="the messages on the next connection")
            assert second == ["a", "b", "c", "d"], (sent, second)
        finally:
            await ws.aclose()
