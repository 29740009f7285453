"""RoomServer: routing, connection ids, broadcast, echo, hold_for, stop/restart/drop_all."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from partysocket import CloseEvent, Event, MessageEvent, ReconnectingWebSocket
from partysocket.server import RoomServer
from partysocket.server.room import parse_room_path
from tests.servers import TIMEOUT, wait_until


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def join(server: RoomServer, path: str, conn_id: str) -> ClientConnection:
    """A raw websockets client, returned once the server has put it in its room."""
    ws = await connect(f"{server.url}{path}?_pk={conn_id}")
    await server.wait_until(lambda: any(conn_id in ids for ids in server.rooms.values()), TIMEOUT)
    return ws


# -- routing -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/parties", "/parties/main", "/parties//lobby", "/party/main/lobby", "/x/a/b"])
async def test_paths_other_than_parties_party_room_get_404(path: str) -> None:
    async with RoomServer() as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(server.url + path)
        assert info.value.response.status_code == 404
        assert server.rooms == {}


async def test_a_path_below_the_room_reaches_the_room() -> None:
    async with RoomServer() as server:
        ws = await join(server, "/parties/chat/lobby/sub/path", "alice")
        assert server.rooms == {"chat/lobby": {"alice"}}
        await ws.close()


def test_parse_room_path_decodes_names_and_reads_pk() -> None:
    assert parse_room_path("/parties/main/my%20room?_pk=abc&token=t") == ("main", "my room", "abc")
    assert parse_room_path("/parties/main/lobby") == ("main", "lobby", None)
    assert parse_room_path("/parties/main/lobby?_pk=") == ("main", "lobby", None)
    assert parse_room_path("/parties/main") is None


# -- connection ids --------------------------------------------------------------


async def test_the_connection_id_is_pk_and_query_secrets_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="partysocket.server")
    async with RoomServer() as server:
        ws = await connect(f"{server.url}/parties/main/lobby?_pk=alice&token=s3cret")
        await server.wait_until(lambda: server.rooms == {"main/lobby": {"alice"}}, TIMEOUT)
        await ws.close()
        await server.wait_until(lambda: server.rooms == {}, TIMEOUT)
    lines = [record.getMessage() for record in caplog.records if record.name == "partysocket.server"]
    assert "connect main/lobby id=alice (1 in room)" in lines
    assert "disconnect main/lobby id=alice (code 1000)" in lines
    assert not any("s3cret" in line for line in lines)


async def test_without_pk_the_id_is_a_uuid4() -> None:
    async with RoomServer() as server:
        ws = await connect(f"{server.url}/parties/main/lobby")
        await server.wait_until(lambda: "main/lobby" in server.rooms, TIMEOUT)
        (conn_id,) = server.rooms["main/lobby"]
        assert uuid.UUID(conn_id).version == 4
        await ws.close()


# -- broadcast -----------------------------------------------------------------


async def test_a_message_goes_to_the_other_connections_of_the_room_only() -> None:
    async with RoomServer() as server:
        alice = await join(server, "/parties/main/one", "alice")
        bob = await join(server, "/parties/main/one", "bob")
        carol = await join(server, "/parties/main/one", "carol")
        dave = await join(server, "/parties/main/two", "dave")
        erin = await join(server, "/parties/main/two", "erin")
        assert server.rooms == {"main/one": {"alice", "bob", "carol"}, "main/two": {"dave", "erin"}}

        await alice.send("hi from alice")
        assert await recv(bob) == "hi from alice"
        assert await recv(carol) == "hi from alice"
        await bob.send(b"\x00binary")
        assert await recv(alice) == b"\x00binary"  # not "hi from alice": no echo to the sender
        assert await recv(carol) == b"\x00binary"
        await erin.send("marker")
        assert await recv(dave) == "marker"  # nothing from room one reached room two

        assert server.messages == {"main/one": ["hi from alice", b"\x00binary"], "main/two": ["marker"]}
        for ws in (alice, bob, carol, dave, erin):
            await ws.close()


async def test_echo_sends_the_message_back_to_the_sender_too() -> None:
    async with RoomServer(echo=True) as server:
        alice = await join(server, "/parties/main/one", "alice")
        bob = await join(server, "/parties/main/one", "bob")
        await alice.send("hello")
        assert await recv(alice) == "hello"
        assert await recv(bob) == "hello"
        await alice.close()
        await bob.close()


@pytest.mark.parametrize(("hold_for", "first"), [(0.0, "seen"), (5.0, "missed")])
async def test_messages_for_a_disconnected_id_are_held_only_with_hold_for(hold_for: float, first: str) -> None:
    async with RoomServer(hold_for=hold_for) as server:
        alice = await join(server, "/parties/main/one", "alice")
        bob = await join(server, "/parties/main/one", "bob")
        await bob.close()
        await server.wait_until(lambda: server.rooms == {"main/one": {"alice"}}, TIMEOUT)
        await alice.send("missed")
        await server.wait_until(lambda: len(server.messages.get("main/one", [])) == 1, TIMEOUT)
        bob = await join(server, "/parties/main/one", "bob")
        await alice.send("seen")
        assert await recv(bob) == first
        assert server.held_total == (1 if hold_for else 0)
        await alice.close()
        await bob.close()


# -- lifecycle -------------------------------------------------------------------


async def test_stop_closes_connections_with_1001_and_stops_listening() -> None:
    server = RoomServer()
    await server.start()
    ws = await join(server, "/parties/main/one", "alice")
    await server.stop()
    assert not server.running
    assert server.rooms == {}
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    with pytest.raises(OSError):
        await connect(f"{server.url}/parties/main/one")


async def test_start_twice_raises_and_bad_hold_for_is_refused() -> None:
    with pytest.raises(ValueError, match="hold_for"):
        RoomServer(hold_for=-1)
    async with RoomServer() as server:
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()


async def test_drop_all_without_code_aborts_and_the_client_sees_1006() -> None:
    async with RoomServer() as server:
        ws = await join(server, "/parties/main/one", "alice")
        await server.drop_all(code=None)
        assert server.rooms == {}
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd is None  # no close frame: 1006
        assert server.running


async def test_restart_keeps_the_port_and_reconnecting_clients_lose_nothing() -> None:
    async with RoomServer(hold_for=5.0) as server:
        port = server.port
        closes: list[CloseEvent] = []
        opens: list[Event] = []
        alice = ReconnectingWebSocket(
            f"{server.url}/parties/main/one?_pk=alice", min_reconnection_delay=0.05, max_reconnection_delay=0.2
        )
        bob = ReconnectingWebSocket(
            f"{server.url}/parties/main/one?_pk=bob", min_reconnection_delay=0.05, max_reconnection_delay=0.2
        )
        closed = asyncio.Event()
        alice.add_event_listener("close", closes.append)
        alice.add_event_listener("close", lambda event: closed.set())
        alice.add_event_listener("open", opens.append)
        received: list[str | bytes] = []
        arrived = asyncio.Event()

        def on_message(event: MessageEvent) -> None:
            received.append(event.data)
            arrived.set()

        bob.add_event_listener("message", on_message)
        await alice.wait_open(TIMEOUT)
        await bob.wait_open(TIMEOUT)
        await server.wait_until(lambda: server.rooms == {"main/one": {"alice", "bob"}}, TIMEOUT)
        assert alice.send("before") is True

        restarting = asyncio.create_task(server.restart(downtime=0.2))
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        assert alice.send("while down") is False  # not connected: buffered by the client
        await restarting

        assert server.port == port
        await alice.wait_open(TIMEOUT)
        await bob.wait_open(TIMEOUT)
        assert alice.send("after") is True

        async def three_messages() -> None:
            while len(received) < 3:
                arrived.clear()
                await arrived.wait()

        await asyncio.wait_for(three_messages(), TIMEOUT)
        assert received == ["before", "while down", "after"]
        assert closes[0].code == 1012 and closes[0].will_reconnect
        assert len(opens) == 2
        await server.wait_until(lambda: server.rooms == {"main/one": {"alice", "bob"}}, TIMEOUT)
        await alice.aclose()
        await bob.aclose()


# -- prefix, HTTP, faults ----------------------------------------------------------


def test_parse_room_path_with_a_prefix() -> None:
    assert parse_room_path("/api/rooms/main/lobby?_pk=a", "api/rooms") == ("main", "lobby", "a")
    assert parse_room_path("/parties/main/lobby", "api/rooms") is None
    with pytest.raises(ValueError, match="prefix"):
        RoomServer(prefix="/")


async def test_a_prefix_moves_the_rooms() -> None:
    async with RoomServer(prefix="api") as server:
        assert server.room_url("lobby") == f"{server.url}/api/main/lobby"
        ws = await join(server, "/api/main/lobby", "alice")
        with pytest.raises(InvalidStatus) as info:
            await connect(f"{server.url}/parties/main/lobby")
        assert info.value.response.status_code == 404
        await ws.close()


async def test_http_without_content_length_is_refused_with_411() -> None:
    async with RoomServer() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /parties/main/lobby HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        await writer.wait_closed()
        assert response.startswith(b"HTTP/1.1 411 Length Required\r\n")


async def test_the_first_offered_subprotocol_is_accepted() -> None:
    async with RoomServer() as server:
        ws = await connect(server.room_url("lobby"), subprotocols=["b", "a"])  # type: ignore[list-item]
        assert ws.subprotocol == "b"
        assert server.handshakes[-1].headers["Sec-WebSocket-Protocol"] == "b, a"
        await ws.close()


async def test_drop_every_aborts_connections_periodically() -> None:
    async with RoomServer(drop_every=0.1) as server:
        ws = await join(server, "/parties/main/one", "alice")
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd is None  # aborted: 1006


async def test_drop_all_without_waiting_stops_counting_the_connections_at_once() -> None:
    async with RoomServer() as server:
        ws = await join(server, "/parties/main/one", "alice")
        await server.drop_all(1012, wait=False)
        assert server.rooms == {}
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012


@pytest.mark.parametrize("when", ["two restarts in the downtime", "while the restart is starting"])
async def test_stop_during_a_background_restart_leaves_the_server_stopped(when: str) -> None:
    server = RoomServer(host="127.0.0.1", port=0)
    await server.start()
    port = server.port
    await server.restart(0.3, wait=False)
    if when == "two restarts in the downtime":
        await server.restart(0.3, wait=False)
    else:
        restarting = server._restarting
        assert restarting is not None
        await wait_until(lambda: server._server is not None or restarting.done(), what="start() to listen")
    await server.stop()
    assert server._server is None
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
