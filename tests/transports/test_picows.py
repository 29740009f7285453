"""The optional picows transport, against a real local server (the websockets test server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

try:
    import picows  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip(
        "picows is NOT installed: the optional fast transport (partysocket[fast]) is untested here; "
        "pip install picows to run these tests",
        allow_module_level=True,
    )

from websockets.asyncio.server import ServerConnection

import partysocket
from partysocket import CloseEvent, HandshakeRejected
from partysocket.transports import Connection, ConnectRequest, Transport
from partysocket.transports.picows import PicowsConnection, PicowsTransport
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer, wait_until


def _closes(events: Recorder) -> list[CloseEvent]:
    return [event for event in events.events if isinstance(event, CloseEvent)]


def _socket(url: str, **options: Any) -> partysocket.ReconnectingWebSocket:
    return partysocket.ReconnectingWebSocket(
        url, websocket=PicowsTransport(), min_reconnection_delay=0.05, max_reconnection_delay=0.2, **options
    )


async def test_implements_the_transport_protocols() -> None:
    assert isinstance(PicowsTransport(), Transport)
    async with TestServer() as server:
        conn = await PicowsTransport().connect(ConnectRequest(url=server.url))
        assert isinstance(conn, Connection)
        assert conn.subprotocol == "" and conn.extensions == "" and conn.buffered_amount == 0
        await conn.close(1000, "")


async def test_buffered_then_live_text_and_binary() -> None:
    async with TestServer() as server:
        ws = _socket(server.url)
        ws.__aiter__()
        assert ws.send("buffered") is False
        await ws.wait_open(TIMEOUT)
        assert ws.send("héllo") is True
        assert ws.send(b"\x00\x01") is True
        assert ws.send(b"x" * 300_000) is True
        assert await ws.recv() == "buffered"
        assert await ws.recv() == "héllo"
        assert await ws.recv() == b"\x00\x01"
        assert await ws.recv() == b"x" * 300_000
        assert server.received == ["buffered", "héllo", b"\x00\x01", b"x" * 300_000]
        await ws.aclose()


async def test_fragmented_messages_are_reassembled() -> None:
    async def on_connect(conn: ServerConnection) -> None:
        await conn.send(["frag", "mé", "nted"])
        await conn.send([b"a", b"b", b"c"])

    async with TestServer() as server:
        server.on_connect = on_connect
        ws = _socket(server.url)
        ws.__aiter__()
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "fragménted"
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"abc"
        await ws.aclose()


async def test_client_close_code_and_reason_reach_the_server() -> None:
    closed: list[tuple[int | None, str | None]] = []

    async def on_connect(conn: ServerConnection) -> None:
        await conn.wait_closed()
        closed.append((conn.close_code, conn.close_reason))

    async with TestServer(echo=False) as server:
        server.on_connect = on_connect
        ws = _socket(server.url)
        await ws.wait_open(TIMEOUT)
        await ws.aclose(4001, "done here")
        await wait_until(lambda: bool(closed), what="the server to see the close")
        assert closed == [(4001, "done here")]


async def test_server_close_gives_a_clean_close_event_and_reconnects() -> None:
    async with TestServer() as server:
        ws = _socket(server.url)
        events = Recorder(ws)
        await ws.wait_open(TIMEOUT)
        await server.close_all(4002, "go away")
        await wait_until(lambda: server.opened == 2, what="a reconnection")
        close = _closes(events)[0]
        assert (close.code, close.reason, close.was_clean) == (4002, "go away", True)
        await ws.aclose()


async def test_dropped_connection_is_1006_and_buffered_messages_survive() -> None:
    async with TestServer() as server:
        ws = _socket(server.url)
        events = Recorder(ws)
        ws.__aiter__()
        await ws.wait_open(TIMEOUT)
        server.drop_all()
        await wait_until(lambda: bool(_closes(events)), what="the close event")
        assert _closes(events)[0].code == 1006 and not _closes(events)[0].was_clean
        assert ws.send("while down") is False
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "while down"
        await ws.aclose()


async def test_refused_handshake_is_handshake_rejected() -> None:
    async with TestServer() as server:
        server.refuse(403)
        with pytest.raises(HandshakeRejected) as info:
            await PicowsTransport().connect(ConnectRequest(url=server.url))
        assert info.value.status == 403


async def test_refused_connection_is_an_oserror() -> None:
    async with TestServer() as server:
        url = server.url
    with pytest.raises(OSError):
        await PicowsTransport().connect(ConnectRequest(url=url))


async def test_subprotocol_headers_and_ping() -> None:
    async with TestServer(subprotocols=["chat.v2"]) as server:
        request = ConnectRequest(url=server.url, subprotocols=["chat.v1", "chat.v2"], headers=[("X-Token", "t")])
        conn = await PicowsTransport().connect(request)
        assert conn.subprotocol == "chat.v2"
        assert server.request_headers[0]["X-Token"] == "t"
        assert "partysocket" in server.request_headers[0]["User-Agent"]
        pong = await conn.ping()
        await asyncio.wait_for(pong, TIMEOUT)
        await conn.close(1000, "")


async def test_recv_and_send_raise_connection_ended_after_the_end() -> None:
    async with TestServer() as server:
        conn = await PicowsTransport().connect(ConnectRequest(url=server.url))
        assert isinstance(conn, PicowsConnection)
        await conn.send("one")
        assert await asyncio.wait_for(conn.recv(), TIMEOUT) == "one"
        server.drop_all()
        with pytest.raises(partysocket.transports.ConnectionEnded) as info:
            await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert info.value.code == 1006
        with pytest.raises(partysocket.transports.ConnectionEnded):
            await conn.send("two")
