"""Connection lifecycle against a real server: failed attempts, lost connections, reconnect().

Every failure that reached the network gives ``error`` then ``close(1006)``; a
clean close from the server gives ``close`` alone; either way an automatic
retry follows unless the socket was told to stop.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import partysocket
from partysocket import CloseEvent, ReconnectingWebSocket
from tests.recorder import Recorder, recording
from tests.servers import TIMEOUT, TestServer, free_port, wait_until

SLACK = 0.25


# -- failed attempts -----------------------------------------------------------


async def test_connection_timeout_gives_timeout_error_then_close_1006_then_retry() -> None:
    async with TestServer() as server:
        server.hang()
        started = time.monotonic()
        ws = ReconnectingWebSocket(server.url, connection_timeout=0.3, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 1, "the first retry")
            assert recorder.types()[:3] == ["error", "close", "retry"]
            error = recorder.errors()[0]
            close = recorder.closes()[0]
            assert isinstance(error.error, TimeoutError)
            assert close.code == 1006
            assert close.reason == "timeout"
            assert close.was_clean is False
            assert close.will_reconnect is True
            assert close.cause is error.error
            elapsed = recorder.times_of("error")[0] - started
            assert 0.3 * 0.9 <= elapsed < 0.3 + SLACK
            # and the retry really happens: a second handshake reaches the server
            await wait_until(lambda: len(server.handshakes) >= 2, what="the second attempt")
            assert server.handshakes[1] - recorder.times_of("close")[0] >= 0.05 * 0.9
        finally:
            await ws.aclose()


@pytest.mark.parametrize("status", [401, 403, 503])
async def test_rejected_handshake_gives_error_then_close_with_the_http_status(status: int) -> None:
    async with TestServer() as server:
        server.refuse(status)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 1, "the first retry")
            assert recorder.types()[:3] == ["error", "close", "retry"]
            error = recorder.errors()[0]
            close = recorder.closes()[0]
            assert isinstance(error.error, partysocket.HandshakeRejected)
            assert error.error.status == status
            assert close.code == 1006
            assert close.was_clean is False
            assert close.will_reconnect is True
            assert isinstance(close.cause, partysocket.HandshakeRejected)
            assert close.cause.status == status
        finally:
            await ws.aclose()


def stop_on_auth_failure(event: CloseEvent) -> bool:
    return getattr(event.cause, "status", None) not in (401, 403)


@pytest.mark.parametrize("status", [401, 403])
async def test_policy_stops_reconnecting_on_auth_rejection(status: int) -> None:
    async with TestServer() as server:
        server.refuse(status)
        ws = ReconnectingWebSocket(
            server.url, min_reconnection_delay=0.05, should_reconnect_on_close=stop_on_auth_failure
        )
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("close") >= 1, "the close event")
            close = recorder.closes()[0]
            assert close.will_reconnect is False
            assert recorder.types() == ["error", "close"]
            assert ws.ready_state == partysocket.CLOSED
            assert ws.should_reconnect is False
            assert ws.retry_count == 0
            with pytest.raises(partysocket.ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert raised.value.event is close
            with pytest.raises(partysocket.ConnectionClosed) as raised_open:
                await ws.wait_open(1.0)
            assert raised_open.value.event is close
            await asyncio.sleep(0.2)  # several retry delays: nothing more may happen
            assert len(server.handshakes) == 1
            assert recorder.types() == ["error", "close"]
        finally:
            await ws.aclose()


async def test_policy_keeps_reconnecting_on_503() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(
            server.url, min_reconnection_delay=0.05, should_reconnect_on_close=stop_on_auth_failure
        )
        recorder = Recorder(ws)
        try:
            await wait_until(lambda: len(server.handshakes) >= 3, what="three attempts")
            assert all(close.will_reconnect for close in recorder.closes())
            assert ws.should_reconnect is True
            server.accept()
            await ws.wait_open(TIMEOUT)
        finally:
            await ws.aclose()


async def test_connection_refused_gives_error_then_close_1006_then_retry() -> None:
    url = f"ws://127.0.0.1:{await free_port()}"
    ws = ReconnectingWebSocket(url, min_reconnection_delay=0.05)
    recorder = Recorder(ws)
    try:
        await recorder.until(lambda: recorder.count("error") >= 2, "the failure of the retry")
        assert recorder.types()[:4] == ["error", "close", "retry", "error"]
        error = recorder.errors()[0]
        close = recorder.closes()[0]
        assert isinstance(error.error, OSError)
        assert close.code == 1006
        assert close.was_clean is False
        assert close.will_reconnect is True
        assert close.cause is error.error
        assert ws.url == url
    finally:
        await ws.aclose()


async def test_ready_state_is_connecting_during_an_attempt_and_closed_between_attempts() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=0.2, min_reconnection_delay=0.1)
        states: dict[str, list[int]] = {"retry": [], "close": [], "open": []}
        for kind, seen in states.items():
            ws.add_event_listener(kind, lambda event, seen=seen: seen.append(ws.ready_state))
        try:
            assert ws.ready_state == partysocket.CONNECTING
            await wait_until(lambda: len(states["retry"]) >= 1, what="the first retry")
            assert states["close"][0] == partysocket.CLOSED
            assert states["retry"][0] == partysocket.CLOSED
            assert ws.ready_state == partysocket.CLOSED  # waiting for the next attempt
            await wait_until(lambda: len(server.handshakes) >= 2, what="the second attempt")
            assert ws.ready_state == partysocket.CONNECTING
            server.accept()
            await ws.wait_open(TIMEOUT)
            assert states["open"] == [partysocket.OPEN]
            assert ws.ready_state == partysocket.OPEN
        finally:
            await ws.aclose()


# -- an open connection ends -------------------------------------------------------


async def test_server_abort_gives_error_then_close_1006_and_reconnects() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            server.drop_all()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            assert recorder.types() == ["open", "error", "close", "retry", "open"]
            error = recorder.errors()[0]
            close = recorder.closes()[0]
            assert close.code == 1006
            assert close.was_clean is False
            assert close.will_reconnect is True
            assert close.cause is error.error
            assert server.opened == 2
        finally:
            await ws.aclose()


async def test_clean_close_from_server_gives_only_close_and_reconnects() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await server.close_all(4000, "bye")
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            assert recorder.types() == ["open", "close", "retry", "open"]
            close = recorder.closes()[0]
            assert close.code == 4000
            assert close.reason == "bye"
            assert close.was_clean is True
            assert close.wasClean is True
            assert close.will_reconnect is True
            assert close.cause is None
            assert server.opened == 2
        finally:
            await ws.aclose()


# -- reconnect() -------------------------------------------------------------------


async def test_reconnect_while_open_closes_once_and_connects_at_once() -> None:
    async with TestServer() as server:
        conns = recording(server)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=2.0)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            called = time.monotonic()
            ws.reconnect()
            # the close event is dispatched before reconnect() returns
            assert recorder.types() == ["open", "close"]
            close = recorder.closes()[0]
            assert close.code == 1000
            assert close.was_clean is True
            assert close.will_reconnect is True
            assert ws.retry_count == 0
            assert ws.ready_state == partysocket.CONNECTING
            await recorder.until(lambda: recorder.count("open") >= 2, "the new connection")
            assert recorder.types() == ["open", "close", "open"]  # no retry: immediate
            assert server.handshakes[1] - called < SLACK
            await wait_until(lambda: conns[0].close_code is not None, what="the old connection's close")
            assert conns[0].close_code == 1000
        finally:
            await ws.aclose()


async def test_reconnect_with_code_and_reason_sends_them_to_the_server() -> None:
    async with TestServer() as server:
        conns = recording(server)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=2.0)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.reconnect(code=4001, reason="x")
            close = recorder.closes()[0]
            assert (close.code, close.reason, close.will_reconnect) == (4001, "x", True)
            await wait_until(lambda: conns[0].close_code is not None, what="the old connection's close")
            assert conns[0].close_code == 4001
            assert conns[0].close_reason == "x"
            await recorder.until(lambda: recorder.count("open") >= 2, "the new connection")
        finally:
            await ws.aclose()


async def test_reconnect_while_connecting_abandons_the_attempt_and_connects() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=5.0, min_reconnection_delay=2.0)
        recorder = Recorder(ws)
        try:
            await wait_until(lambda: len(server.handshakes) >= 1, what="the hung handshake")
            server.accept()  # the first handshake stays hung; later ones are answered
            ws.reconnect()
            assert recorder.types() == ["close"]
            assert recorder.closes()[0].will_reconnect is True
            assert ws.retry_count == 0
            await ws.wait_open(TIMEOUT)
            assert recorder.types() == ["close", "open"]
            assert len(server.handshakes) == 2
        finally:
            await ws.aclose()


async def test_reconnect_while_waiting_between_attempts_connects_at_once() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=5.0)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 1, "the first retry")
            assert ws.retry_count == 1
            assert ws.ready_state == partysocket.CLOSED
            server.accept()
            called = time.monotonic()
            ws.reconnect()
            assert ws.retry_count == 0
            assert ws.ready_state == partysocket.CONNECTING
            assert recorder.count("close") == 1  # nothing was open: no new close event
            await ws.wait_open(2.0)  # well before the 5 s retry delay
            assert server.handshakes[1] - called < SLACK
            assert recorder.types() == ["error", "close", "retry", "open"]
        finally:
            await ws.aclose()


async def test_reconnect_after_close_connects_again() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=2.0)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.close()
            assert ws.ready_state == partysocket.CLOSED
            ws.reconnect()
            assert recorder.types() == ["open", "close"]  # close() dispatched it; reconnect() adds none
            assert ws.ready_state == partysocket.CONNECTING
            assert ws.should_reconnect is True
            await ws.wait_open(TIMEOUT)
            assert ws.retry_count == 0
            assert ws.send("after") is True
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "after"
            assert server.opened == 2
        finally:
            await ws.aclose()


async def test_policy_sees_a_clean_server_close_and_can_stop() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(
            server.url, min_reconnection_delay=0.05, should_reconnect_on_close=lambda event: event.code != 4000
        )
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await server.close_all(4000, "go away for good")
            await recorder.until(lambda: recorder.count("close") >= 1, "the close event")
            close = recorder.closes()[0]
            assert (close.code, close.reason, close.will_reconnect) == (4000, "go away for good", False)
            await asyncio.sleep(0.2)  # several retry delays: no reconnection
            assert recorder.types() == ["open", "close"]
            assert server.opened == 1
            with pytest.raises(partysocket.ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert raised.value.event is close
        finally:
            await ws.aclose()


async def test_connection_timeout_does_not_apply_once_open() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, connection_timeout=0.1, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await asyncio.sleep(0.4)  # four connection timeouts: the open connection must stay
            assert recorder.types() == ["open"]
            assert ws.ready_state == partysocket.OPEN
        finally:
            await ws.aclose()
