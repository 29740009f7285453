"""close(), aclose() and start_closed against a real server.

``close()`` is permanent until ``reconnect()``: the close event is dispatched
before it returns, nothing reconnects afterwards, and ``aclose()`` also waits
for the closing handshake and for every task of the socket.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import partysocket
from partysocket import Event, ReconnectingWebSocket
from tests.recorder import Recorder, recording
from tests.servers import TIMEOUT, TestServer, wait_until


def _is_server_task(task: asyncio.Task[object]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "websockets/asyncio/server" in code.co_filename.replace("\\", "/")


def assert_no_task_left() -> None:
    """No task is running but this test's and the test server's (a hung handshake keeps one)."""
    current = asyncio.current_task()
    left = [
        task for task in asyncio.all_tasks() if task is not current and not task.done() and not _is_server_task(task)
    ]
    assert left == []


async def test_close_dispatches_the_close_event_before_returning() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close()
            assert recorder.types() == ["open", "close"]
            close = recorder.closes()[0]
            assert close.code == 1000
            assert close.reason == ""
            assert close.was_clean is True
            assert close.cause is None
            assert close.will_reconnect is False
            assert close.target is ws
            assert ws.ready_state == partysocket.CLOSED
            assert ws.should_reconnect is False
        finally:
            await ws.aclose()


async def test_close_is_idempotent() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close(4000, "first")
            ws.close()
            ws.close(4001, "third")
            assert recorder.types() == ["open", "close"]
            await ws.aclose()
            assert recorder.types() == ["open", "close"]
            assert recorder.closes()[0].code == 4000
        finally:
            await ws.aclose()


async def test_close_does_not_reconnect() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close()
            await asyncio.sleep(0.3)  # several retry delays: nothing may happen
            assert server.opened == 1
            assert len(server.handshakes) == 1
            assert recorder.types() == ["open", "close"]
        finally:
            await ws.aclose()


async def test_close_while_waiting_between_attempts_cancels_the_retry_silently() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.1, reconnection_delay_grow_factor=1.0)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 1, "the first retry")
            last_close = recorder.closes()[-1]
            ws.close()
            assert recorder.types() == ["error", "close", "retry"]
            assert ws.ready_state == partysocket.CLOSED
            await asyncio.sleep(0.35)  # three retry delays: no attempt may start
            assert len(server.handshakes) == 1
            assert recorder.types() == ["error", "close", "retry"]
            with pytest.raises(partysocket.ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert raised.value.event is last_close
        finally:
            await ws.aclose()


async def test_close_after_giving_up_is_a_no_op() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, max_retries=0)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("close") >= 1, "the close event")
            ws.close()
            assert recorder.types() == ["error", "close"]
            assert ws.retry_count == 0
        finally:
            await ws.aclose()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1005, ""), (999, ""), (1006, ""), (1015, ""), (2999, ""), (5000, ""), (1000, "é" * 62)],
    ids=["1005", "999", "1006", "1015", "2999", "5000", "reason-124-bytes"],
)
async def test_close_rejects_an_invalid_code_or_a_long_reason(code: int, reason: str) -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            with pytest.raises(ValueError):
                ws.close(code, reason)
            with pytest.raises(ValueError):
                ws.reconnect(code, reason)
            # the socket is untouched
            assert ws.ready_state == partysocket.OPEN
            assert recorder.types() == ["open"]
        finally:
            await ws.aclose()


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1003, "x"), (3000, "app"), (4999, "a" * 123)])
async def test_close_accepts_valid_codes_and_a_123_byte_reason(code: int, reason: str) -> None:
    async with TestServer() as server:
        conns = recording(server)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        try:
            await ws.wait_open(TIMEOUT)
            await ws.aclose(code, reason)
            assert conns[0].close_code == code
            assert conns[0].close_reason == reason
        finally:
            await ws.aclose()


async def test_aclose_waits_for_the_closing_handshake() -> None:
    async with TestServer() as server:
        conns = recording(server)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        try:
            await ws.wait_open(TIMEOUT)
            await wait_until(lambda: len(conns) == 1, what="the server side of the connection")
            assert conns[0].close_code is None
            await ws.aclose(4002, "done")
            # when aclose() returns, the server has already received the close frame
            assert conns[0].close_code == 4002
            assert conns[0].close_reason == "done"
            assert_no_task_left()
        finally:
            await ws.aclose()


async def test_close_flushes_messages_sent_before_it() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.send("one") is True
            assert ws.send("two") is True
            await ws.aclose()
            assert server.received == ["one", "two"]
        finally:
            await ws.aclose()


async def test_aclose_while_connecting_leaves_no_task() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=5.0)
        recorder = Recorder(ws)
        try:
            await wait_until(lambda: len(server.handshakes) >= 1, what="the hung handshake")
            started = time.monotonic()
            await asyncio.wait_for(ws.aclose(), 2.0)
            assert time.monotonic() - started < 1.0  # no waiting for the hung handshake
            assert ws.ready_state == partysocket.CLOSED
            assert recorder.count("close") == 1
            assert recorder.closes()[0].will_reconnect is False
            assert_no_task_left()
        finally:
            await ws.aclose()


async def test_aclose_while_waiting_between_attempts_leaves_no_task() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=5.0)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 1, "the first retry")
            await asyncio.wait_for(ws.aclose(), 2.0)
            assert_no_task_left()
            assert recorder.types() == ["error", "close", "retry"]
        finally:
            await ws.aclose()


async def test_recv_and_wait_open_raise_connection_closed_after_close() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await ws.aclose()
            close = recorder.closes()[0]
            with pytest.raises(partysocket.ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert raised.value.event is close
            assert isinstance(raised.value, partysocket.PartySocketError)
            with pytest.raises(partysocket.ConnectionClosed):
                await asyncio.wait_for(ws.wait_open(), 1.0)
        finally:
            await ws.aclose()


async def test_close_wakes_a_pending_recv_and_wait_open() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=5.0)
        try:
            receiving = asyncio.ensure_future(ws.recv())
            opening = asyncio.ensure_future(ws.wait_open())
            await wait_until(lambda: len(server.handshakes) >= 1, what="the hung handshake")
            assert not receiving.done()
            assert not opening.done()
            ws.close()
            done, _ = await asyncio.wait({receiving, opening}, timeout=2.0)
            assert done == {receiving, opening}
            assert isinstance(receiving.exception(), partysocket.ConnectionClosed)
            assert isinstance(opening.exception(), partysocket.ConnectionClosed)
        finally:
            await ws.aclose()


# -- start_closed ------------------------------------------------------------------


async def test_start_closed_does_not_connect_until_reconnect() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, start_closed=True, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            assert ws.ready_state == partysocket.CLOSED
            assert ws.url == ""
            await asyncio.sleep(0.2)  # nothing may happen by itself
            assert server.handshakes == []
            assert recorder.types() == []
            ws.reconnect()
            await ws.wait_open(TIMEOUT)
            assert recorder.types() == ["open"]
            assert ws.url == server.url
        finally:
            await ws.aclose()


async def test_start_closed_recv_and_wait_open_raise_at_once() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    try:
        with pytest.raises(partysocket.ConnectionClosed) as raised:
            await asyncio.wait_for(ws.recv(), 1.0)
        assert raised.value.event is None
        with pytest.raises(partysocket.ConnectionClosed) as raised_open:
            await asyncio.wait_for(ws.wait_open(), 1.0)
        assert raised_open.value.event is None
        with pytest.raises(partysocket.ConnectionClosed):
            await ws.wait_open(5.0)
    finally:
        await ws.aclose()


def test_start_closed_can_be_built_outside_a_running_loop() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    assert ws.ready_state == partysocket.CLOSED
    ws.close()  # no loop needed to close a socket that never started
    assert ws.ready_state == partysocket.CLOSED


def test_start_closed_socket_connects_from_a_loop_started_later() -> None:
    address: dict[str, str] = {}

    async def scenario(ws: ReconnectingWebSocket) -> None:
        async with TestServer() as server:
            address["url"] = server.url
            ws.reconnect()
            try:
                await ws.wait_open(TIMEOUT)
                assert ws.url == server.url
            finally:
                await ws.aclose()

    ws = ReconnectingWebSocket(lambda: address["url"], start_closed=True)
    asyncio.run(scenario(ws))
    assert ws.ready_state == partysocket.CLOSED


def test_construction_outside_a_running_loop_points_to_partysocket_sync() -> None:
    with pytest.raises(RuntimeError, match=r"partysocket\.sync"):
        ReconnectingWebSocket("ws://127.0.0.1:9")


# -- close() or reconnect() called from a listener -------------------------------------

ENDINGS = {
    # how the connection ends -> the events it dispatches
    "server-close": ["open", "close"],
    "server-abort": ["open", "error", "close"],
    "refused": ["error", "close"],
}


async def _end_connection(server: TestServer, ws: ReconnectingWebSocket, ending: str) -> None:
    if ending == "refused":
        server.refuse(503)
        return
    await ws.wait_open(TIMEOUT)
    if ending == "server-close":
        await server.close_all(4000, "bye")
    else:
        server.drop_all()


LISTENER_CASES = [(ending, kind) for ending in ENDINGS for kind in ("close", "error") if kind in ENDINGS[ending]]


@pytest.mark.parametrize(("ending", "listener_type"), LISTENER_CASES, ids=[f"{e}-{k}" for e, k in LISTENER_CASES])
async def test_close_from_a_listener_stops_reconnecting(ending: str, listener_type: str) -> None:
    async with TestServer() as server:
        if ending == "refused":
            server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05, reconnection_delay_grow_factor=1.0)
        recorder = Recorder(ws)  # registered first: it records what the listener's close() leaves behind
        ws.add_event_listener(listener_type, lambda event: ws.close())
        try:
            await _end_connection(server, ws, ending)
            await recorder.until(lambda: recorder.count("close") >= 1, "the close event")
            attempts = len(server.handshakes)
            await asyncio.sleep(0.3)  # six retry delays: no retry may be announced or made
            assert recorder.types() == ENDINGS[ending]
            assert len(server.handshakes) == attempts
            assert ws.ready_state == partysocket.CLOSED
            assert ws.should_reconnect is False
            # the close event dispatched after close() was called must not promise a retry
            assert recorder.closes()[0].will_reconnect is (listener_type == "close")
            with pytest.raises(partysocket.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 1.0)
        finally:
            await ws.aclose()


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_reconnect_from_a_close_listener_connects_at_once_without_a_stale_retry(ending: str) -> None:
    async with TestServer() as server:
        if ending == "refused":
            server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=5.0)
        recorder = Recorder(ws)
        reconnected: list[bool] = []

        def reconnect_once(event: Event) -> None:
            if not reconnected:
                reconnected.append(True)
                server.accept()
                ws.reconnect()

        ws.add_event_listener("close", reconnect_once)
        try:
            await _end_connection(server, ws, ending)
            await recorder.until(lambda: recorder.count("close") >= 1, "the close event")
            opens_before = recorder.count("open")
            # well before the 5 s retry delay: reconnect() started an attempt at once
            await recorder.until(lambda: recorder.count("open") > opens_before, "the reconnection", timeout=2.0)
            assert recorder.types() == [*ENDINGS[ending], "open"]  # no retry announced for a cancelled retry
            assert ws.retry_count == 0
        finally:
            await ws.aclose()


async def test_aclose_waits_for_a_short_async_listener_and_cancels_a_long_one_after_the_timeout() -> None:
    async with TestServer() as server:
        finished: list[str] = []
        cancelled: list[str] = []

        async def short(event: Event) -> None:
            await asyncio.sleep(0.05)
            finished.append("short")

        async def long(event: Event) -> None:
            try:
                await asyncio.sleep(60)
                finished.append("long")
            except asyncio.CancelledError:
                cancelled.append("long")
                raise

        ws = ReconnectingWebSocket(server.url, connection_timeout=0.5, min_reconnection_delay=0.05)
        ws.add_event_listener("close", short)
        ws.add_event_listener("close", long)
        await ws.wait_open(TIMEOUT)
        started = time.monotonic()
        await asyncio.wait_for(ws.aclose(), TIMEOUT)
        elapsed = time.monotonic() - started
        assert finished == ["short"]
        assert cancelled == ["long"]
        assert elapsed < 0.5 + 2.0  # the listener bound (connection_timeout) plus a generous margin
        assert_no_task_left()


async def test_a_policy_returning_an_awaitable_is_logged_and_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    async def verdict() -> bool:
        return False

    async with TestServer() as server:
        ws = ReconnectingWebSocket(
            server.url,
            should_reconnect_on_close=lambda event: verdict(),  # type: ignore[arg-type,return-value]  # not a bool
            min_reconnection_delay=0.05,
        )
        opens: list[Event] = []
        ws.add_event_listener("open", opens.append)
        try:
            await ws.wait_open(TIMEOUT)
            server.drop_all()
            await wait_until(lambda: len(opens) == 2, what="the reconnection")
            assert any("returned an awaitable" in record.getMessage() for record in caplog.records)
        finally:
            await ws.aclose()
