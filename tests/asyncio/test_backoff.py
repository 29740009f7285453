"""Backoff between attempts, measured at a real server (or at a port nothing listens on).

Delays are small (tens of milliseconds) so the schedule is visible quickly;
timing bounds are generous: an interval between two attempts is at least 90 %
of the expected delay and less than the expected delay + 0.25 s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import ReconnectingWebSocket
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer, free_port, wait_until

SLACK = 0.25  # an interval may exceed its delay by this much (handshake, scheduling)

FAST: dict[str, Any] = {
    "min_reconnection_delay": 0.05,
    "reconnection_delay_grow_factor": 2.0,
    "max_reconnection_delay": 0.4,
}


def schedule(count: int, min_delay: float, grow: float, max_delay: float) -> list[float]:
    """The reference schedule: delay before retry n is min(min * grow ** (n - 1), max)."""
    return [min(min_delay * grow ** (n - 1), max_delay) for n in range(1, count + 1)]


def intervals(stamps: Sequence[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(stamps)]


def assert_follows(measured: Sequence[float], expected: Sequence[float]) -> None:
    assert len(measured) == len(expected), (measured, expected)
    for index, (got, want) in enumerate(zip(measured, expected, strict=True)):
        assert want * 0.9 <= got < want + SLACK, (
            f"interval {index + 1} was {got:.3f} s, expected about {want:.3f} s; "
            f"all: {[round(x, 3) for x in measured]} vs {expected}"
        )


async def test_first_attempt_is_immediate() -> None:
    async with TestServer() as server:
        server.refuse(503)
        started = time.monotonic()
        ws = ReconnectingWebSocket(server.url, min_reconnection_delay=2.0)
        try:
            await wait_until(lambda: len(server.handshakes) >= 1, what="the first handshake")
            assert server.handshakes[0] - started < SLACK
        finally:
            await ws.aclose()


async def test_backoff_grows_then_caps_measured_at_the_server() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            await wait_until(lambda: len(server.handshakes) >= 7, what="7 handshakes")
        finally:
            await ws.aclose()
        # 0.05, 0.1, 0.2, then capped at 0.4 (uncapped would be 0.8 and 1.6)
        assert_follows(intervals(server.handshakes[:7]), [0.05, 0.1, 0.2, 0.4, 0.4, 0.4])


async def test_backoff_against_a_port_nothing_listens_on() -> None:
    url = f"ws://127.0.0.1:{await free_port()}"
    ws = ReconnectingWebSocket(url, **FAST)
    recorder = Recorder(ws)
    try:
        await recorder.until(lambda: recorder.count("error") >= 6, "6 failed attempts")
    finally:
        await ws.aclose()
    # each failed attempt reports an error at once, so errors are spaced like the attempts
    assert_follows(intervals(recorder.times_of("error")[:6]), [0.05, 0.1, 0.2, 0.4, 0.4])


async def test_retry_events_carry_attempt_and_delay_of_the_formula() -> None:
    url = f"ws://127.0.0.1:{await free_port()}"
    ws = ReconnectingWebSocket(
        url, min_reconnection_delay=0.03, reconnection_delay_grow_factor=1.5, max_reconnection_delay=0.1
    )
    recorder = Recorder(ws)
    counts_at_retry: list[int] = []
    ws.add_event_listener("retry", lambda event: counts_at_retry.append(ws.retry_count))
    try:
        await recorder.until(lambda: recorder.count("retry") >= 6, "6 retry events")
    finally:
        await ws.aclose()
    retries = recorder.retries()[:6]
    assert [event.attempt for event in retries] == [1, 2, 3, 4, 5, 6]
    assert [event.delay for event in retries] == pytest.approx(schedule(6, 0.03, 1.5, 0.1))
    # RetryEvent.attempt equals retry_count after the increment
    assert counts_at_retry[:6] == [1, 2, 3, 4, 5, 6]
    assert all(event.target is ws for event in retries)


async def test_jitter_keeps_each_delay_within_its_band() -> None:
    jitter = 0.5
    url = f"ws://127.0.0.1:{await free_port()}"
    ws = ReconnectingWebSocket(
        url, min_reconnection_delay=0.04, reconnection_delay_grow_factor=2.0, max_reconnection_delay=0.16, jitter=jitter
    )
    recorder = Recorder(ws)
    try:
        await recorder.until(lambda: recorder.count("error") >= 9, "9 failed attempts")
    finally:
        await ws.aclose()
    retries = recorder.retries()[:8]
    nominal = schedule(8, 0.04, 2.0, 0.16)
    for event, full in zip(retries, nominal, strict=True):
        assert (1 - jitter) * full - 1e-9 <= event.delay <= full + 1e-9, (event, full)
    # jitter is applied at all (8 draws all landing on the nominal delay is practically impossible)
    assert any(event.delay < full * 0.98 for event, full in zip(retries, nominal, strict=True))
    # the delay announced is the delay used
    assert_follows(intervals(recorder.times_of("error")[:9]), [event.delay for event in retries])


async def _collect_retries_then_open(
    server: TestServer, ws: ReconnectingWebSocket, recorder: Recorder, at_least: int
) -> int:
    """Let ``at_least`` attempts fail (server refusing), then accept; return the retries made."""
    await recorder.until(lambda: recorder.count("retry") >= at_least, f"{at_least} retries")
    server.accept()
    await recorder.until(lambda: recorder.count("open") >= 1, "the open")
    return recorder.count("retry")


async def test_retry_counter_resets_after_min_uptime() -> None:
    min_uptime = 0.3
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, min_uptime=min_uptime, **FAST)
        recorder = Recorder(ws)
        try:
            retries = await _collect_retries_then_open(server, ws, recorder, 2)
            opened_at = recorder.times_of("open")[0]
            assert ws.retry_count == retries  # younger than min_uptime: not reset yet
            await wait_until(lambda: ws.retry_count == 0, what="retry_count reset after min_uptime")
            assert time.monotonic() - opened_at >= min_uptime * 0.9
            server.drop_all()
            await recorder.until(lambda: recorder.count("retry") > retries, "the retry after the drop")
            retry = recorder.retries()[retries]
            assert retry.attempt == 1
            assert retry.delay == pytest.approx(0.05)
            assert ws.retry_count == 1
        finally:
            await ws.aclose()


async def test_retry_counter_continues_after_a_connection_shorter_than_min_uptime() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(
            server.url, min_uptime=5.0, min_reconnection_delay=0.05, reconnection_delay_grow_factor=2.0,
            max_reconnection_delay=5.0,
        )  # fmt: skip
        recorder = Recorder(ws)
        try:
            retries = await _collect_retries_then_open(server, ws, recorder, 2)
            assert ws.retry_count == retries
            server.drop_all()
            await recorder.until(lambda: recorder.count("retry") > retries, "the retry after the drop")
            retry = recorder.retries()[retries]
            assert retry.attempt == retries + 1
            assert retry.delay == pytest.approx(0.05 * 2.0**retries)
            assert ws.retry_count == retries + 1
        finally:
            await ws.aclose()


async def _close_cleanly(conn: ServerConnection) -> None:
    await conn.close(1000, "go away")


async def _abort(conn: ServerConnection) -> None:
    if conn.transport is not None:
        conn.transport.abort()


@pytest.mark.parametrize("hang_up", [_close_cleanly, _abort], ids=["clean-close", "abort"])
async def test_server_that_accepts_and_hangs_up_at_once_gets_growing_delays(
    hang_up: Callable[[ServerConnection], Awaitable[None]],
) -> None:
    async with TestServer() as server:
        server.on_connect = hang_up
        ws = ReconnectingWebSocket(server.url, min_uptime=5.0, **FAST)
        recorder = Recorder(ws)
        try:
            await wait_until(lambda: len(server.handshakes) >= 6, what="6 handshakes")
            # a tight loop would make many more handshakes in this short window
            window_end = server.handshakes[0] + 0.3
            assert sum(1 for t in server.handshakes if t <= window_end) <= 4
        finally:
            await ws.aclose()
        assert_follows(intervals(server.handshakes[:6]), [0.05, 0.1, 0.2, 0.4, 0.4])
        assert [event.attempt for event in recorder.retries()[:5]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("max_retries", [0, 3])
async def test_max_retries_then_gives_up_until_reconnect(max_retries: int) -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(
            server.url, max_retries=max_retries, min_reconnection_delay=0.03, reconnection_delay_grow_factor=1.0
        )
        recorder = Recorder(ws)
        try:
            await recorder.until(
                lambda: any(not event.will_reconnect for event in recorder.closes()), "the final close event"
            )
            assert ws.ready_state == partysocket.CLOSED
            assert ws.retry_count == max_retries
            assert ws.should_reconnect is False
            closes = recorder.closes()
            assert len(closes) == max_retries + 1
            assert [event.will_reconnect for event in closes] == [True] * max_retries + [False]
            assert [event.attempt for event in recorder.retries()] == list(range(1, max_retries + 1))
            with pytest.raises(partysocket.ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), 1.0)
            assert raised.value.event is closes[-1]
            with pytest.raises(partysocket.ConnectionClosed):
                await ws.wait_open(1.0)
            # it stays given up: no further attempt over several delays
            await asyncio.sleep(0.2)
            assert len(server.handshakes) == max_retries + 1
            assert recorder.count("close") == max_retries + 1

            server.accept()
            ws.reconnect()
            assert ws.retry_count == 0
            await ws.wait_open(TIMEOUT)
            ws.send("again")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "again"
        finally:
            await ws.aclose()


async def test_reconnect_restarts_the_backoff_schedule() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, **FAST)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("retry") >= 3, "three retries")
            ws.reconnect()
            retries_before = recorder.count("retry")
            await recorder.until(lambda: recorder.count("retry") > retries_before, "the retry after reconnect()")
            retry = recorder.retries()[retries_before]
            assert retry.attempt == 1
            assert retry.delay == pytest.approx(0.05)
        finally:
            await ws.aclose()


async def test_max_retries_counts_connections_shorter_than_min_uptime() -> None:
    async with TestServer() as server:
        server.on_connect = _close_cleanly
        ws = ReconnectingWebSocket(server.url, max_retries=2, min_uptime=5.0, min_reconnection_delay=0.03)
        recorder = Recorder(ws)
        try:
            await recorder.until(
                lambda: any(not event.will_reconnect for event in recorder.closes()), "the final close event"
            )
            assert server.opened == 3  # the first connection and two retries
            assert ws.retry_count == 2
            assert ws.ready_state == partysocket.CLOSED
        finally:
            await ws.aclose()
