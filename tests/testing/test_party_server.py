"""PartyServer (the fixture's object) used directly by our own tests: faults and inspection."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from partysocket import CloseEvent, ReconnectingWebSocket
from partysocket.testing import PartyServer
from tests.servers import TIMEOUT


def test_blackhole_is_detected_by_keepalive_and_resume_lets_clients_back(party_server: PartyServer) -> None:
    async def scenario() -> None:
        closes: list[CloseEvent] = []
        closed = asyncio.Event()
        ws = ReconnectingWebSocket(
            party_server.url("lobby") + "?_pk=bot",
            min_reconnection_delay=0.05,
            max_reconnection_delay=0.1,
            connection_timeout=0.3,
            ping_interval=0.1,
            ping_timeout=0.2,
        )

        def on_close(event: CloseEvent) -> None:
            closes.append(event)
            closed.set()

        ws.add_event_listener("close", on_close)
        await ws.wait_open(TIMEOUT)
        party_server.blackhole()
        await asyncio.wait_for(closed.wait(), TIMEOUT)  # the pong never came
        assert closes[0].code == 1006 and closes[0].will_reconnect
        assert party_server.connections("lobby") == {"bot"}  # the server never saw the client go
        party_server.resume()
        await ws.wait_open(TIMEOUT)
        await party_server.wait_for_async(lambda: party_server.connections("lobby") == {"bot"})
        await ws.aclose()

    asyncio.run(scenario())


def test_what_was_sent_into_a_blackhole_arrives_on_resume(party_server: PartyServer) -> None:
    with connect(party_server.url("lobby") + "?_pk=alice") as alice:
        party_server.wait_for(lambda: party_server.connections("lobby") == {"alice"})
        party_server.blackhole()
        alice.send("in the dark")
        party_server.resume()
        party_server.wait_for(lambda: party_server.messages("lobby") == ["in the dark"])


def test_refuse_for_a_duration_then_accept(party_server: PartyServer) -> None:
    party_server.refuse(429, duration=0.3)
    with pytest.raises(InvalidStatus) as info:
        connect(party_server.url("lobby"))
    assert info.value.response.status_code == 429

    async def scenario() -> None:
        ws = ReconnectingWebSocket(party_server.url("lobby"), min_reconnection_delay=0.05, max_reconnection_delay=0.1)
        await ws.wait_open(TIMEOUT)  # once the 0.3 s are over
        await ws.aclose()

    asyncio.run(scenario())


def test_delayed_handshakes_trip_a_short_connection_timeout(party_server: PartyServer) -> None:
    party_server.delay_handshakes(TIMEOUT)
    with pytest.raises(TimeoutError):
        connect(party_server.url("lobby"), open_timeout=0.2)
    party_server.resume()
    with connect(party_server.url("lobby"), open_timeout=TIMEOUT):
        pass


def test_restart_keeps_the_port_and_the_messages(party_server: PartyServer) -> None:
    port = party_server.port
    with connect(party_server.url("lobby")) as ws:
        ws.send("kept")
        party_server.wait_for(lambda: party_server.messages("lobby") == ["kept"])
        party_server.restart()
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
    assert ws.close_code == 1012
    assert party_server.port == port
    assert party_server.messages("lobby") == ["kept"]
    with connect(party_server.url("lobby")):
        pass


def test_wait_for_refuses_to_block_a_running_loop(party_server: PartyServer) -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="wait_for_async"):
            party_server.wait_for(lambda: True)
        with pytest.raises(TimeoutError):
            await party_server.wait_for_async(lambda: False, timeout=0.05)

    asyncio.run(scenario())


def test_http_requests_are_answered_with_json(party_server: PartyServer) -> None:
    from partysocket import PartySocket

    async def scenario() -> None:
        with connect(party_server.url("lobby") + "?_pk=alice"):
            await party_server.wait_for_async(lambda: party_server.connections("lobby") == {"alice"})
            response = await PartySocket.fetch(
                party_server.host, "lobby", method="PUT", json={"n": 1}, query={"q": "1"}
            )
        assert response.status_code == 200
        assert response.json() == {
            "room": "lobby",
            "party": "main",
            "connections": ["alice"],
            "method": "PUT",
            "path": "/parties/main/lobby",
            "query": {"q": "1"},
            "body": '{"n":1}',
        }
        party_server.refuse(503)
        assert (await PartySocket.fetch(party_server.host, "lobby")).status_code == 503

    asyncio.run(scenario())


def test_stopped_server_says_so() -> None:
    server = PartyServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.url("lobby")
    with server:
        assert server.host == f"127.0.0.1:{server.port}"
    server.stop()  # idempotent


def test_restart_with_downtime_returns_at_once_so_async_clients_live_through_the_outage(
    party_server: PartyServer,
) -> None:
    async def scenario() -> None:
        ws = ReconnectingWebSocket(
            party_server.url("lobby") + "?_pk=bot", min_reconnection_delay=0.05, max_reconnection_delay=0.1
        )
        errors: list[object] = []
        ws.add_event_listener("error", errors.append)
        try:
            await ws.wait_open(TIMEOUT)
            loop = asyncio.get_running_loop()
            started = loop.time()
            party_server.restart(downtime=2.0)
            assert loop.time() - started < 1.5  # the caller's loop (and its clients) were not blocked
            await party_server.wait_for_async(lambda: len(errors) >= 2)  # refused attempts during the downtime
            await ws.wait_open(TIMEOUT)
            assert loop.time() - started >= 2.0  # it came back only after the downtime
            assert party_server.connections("lobby") == {"bot"}
        finally:
            await ws.aclose()

    asyncio.run(scenario())


def test_stop_during_a_restart_downtime_does_not_come_back() -> None:
    server = PartyServer().start()
    port = server.port
    server.restart(downtime=0.2)
    server.stop()
    import socket
    import time

    time.sleep(0.5)  # past the downtime: a restart still pending would be listening by now
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))
