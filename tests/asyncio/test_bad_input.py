"""Bad input, table-driven: options, URLs, oversized messages, malformed frames, broken handshakes.

What must hold in every row: the problem is reported clearly (an exception at
construction naming the option, or an ``error`` event for something found
while connecting), nothing hangs (every wait is bounded), no task is left
(the conftest checks), and buffered messages are never lost: they are still
in ``drain_queued_messages()`` after giving up, or delivered exactly once to a
good server later.

Decided behaviour for oversized messages (documented in docs/reliability.md):

* the server sends a message larger than ``max_size``: the client fails that
  connection (it sends close 1009): ``error`` (a ``ConnectionLost`` naming
  1009) then ``close`` 1006, and it reconnects;
* the client sends a message larger than the server accepts: ``send()`` takes
  it (there is no client-side size limit; the server decides), the server
  closes with 1009, the socket gets ``close`` 1009 and reconnects. The message
  was written, so it is not sent again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import partysocket
from partysocket import ConnectionClosed, PartySocket, ReconnectingWebSocket
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer

FAST: dict[str, Any] = {"min_reconnection_delay": 0.02, "max_reconnection_delay": 0.1, "connection_timeout": 2.0}
URL = "ws://127.0.0.1:9"
NAN = math.nan

# -- constructor options ----------------------------------------------------------------


# (option, value, expected exception). Wrong type: TypeError; wrong range: ValueError.
async def _async_policy(event: Any) -> bool:
    return False


BAD_OPTIONS: list[tuple[str, Any, type[Exception]]] = [
    ("max_reconnection_delay", -1.0, ValueError),
    ("max_reconnection_delay", NAN, ValueError),
    ("max_reconnection_delay", math.inf, ValueError),
    ("max_reconnection_delay", "10", TypeError),
    ("max_reconnection_delay", None, TypeError),
    ("min_reconnection_delay", -0.5, ValueError),
    ("min_reconnection_delay", NAN, ValueError),
    ("min_reconnection_delay", "1", TypeError),
    ("min_reconnection_delay", True, TypeError),
    ("reconnection_delay_grow_factor", 0.5, ValueError),
    ("reconnection_delay_grow_factor", 0.999, ValueError),
    ("reconnection_delay_grow_factor", -2, ValueError),
    ("reconnection_delay_grow_factor", NAN, ValueError),
    ("reconnection_delay_grow_factor", "1.3", TypeError),
    ("min_uptime", -1, ValueError),
    ("min_uptime", NAN, ValueError),
    ("min_uptime", [5], TypeError),
    ("connection_timeout", -0.1, ValueError),
    ("connection_timeout", NAN, ValueError),
    ("connection_timeout", "4", TypeError),
    ("max_retries", -1, ValueError),
    ("max_retries", 1.5, TypeError),
    ("max_retries", NAN, TypeError),
    ("max_retries", "3", TypeError),
    ("max_retries", -math.inf, TypeError),
    ("max_enqueued_messages", -1, ValueError),
    ("max_enqueued_messages", 2.5, TypeError),
    ("max_enqueued_messages", "10", TypeError),
    ("start_closed", "yes", TypeError),
    ("start_closed", 1, TypeError),
    ("debug", "true", TypeError),
    ("jitter", -0.1, ValueError),
    ("jitter", 1.5, ValueError),
    ("jitter", NAN, ValueError),
    ("jitter", "0.5", TypeError),
    ("ping_interval", 0, ValueError),
    ("ping_interval", -1, ValueError),
    ("ping_interval", NAN, ValueError),
    ("ping_interval", "20", TypeError),
    ("ping_timeout", 0, ValueError),
    ("ping_timeout", -5, ValueError),
    ("ping_timeout", NAN, ValueError),
    ("ping_timeout", "20", TypeError),
    ("should_reconnect_on_close", 42, TypeError),
    ("should_reconnect_on_close", "no", TypeError),
    ("should_reconnect_on_close", _async_policy, TypeError),
    ("connection_timeout", 0, ValueError),
    ("protocols", "has space", ValueError),
    ("protocols", ["a,b"], ValueError),
    ("headers", {"Bad Name": "v"}, ValueError),
    ("headers", {"X-Key": "s3cret\r\nInjected: 1"}, ValueError),
    ("headers", {"X-Name": "\u20ac uro"}, ValueError),  # beyond Latin-1: HTTP cannot carry it
    ("debug_logger", 42, TypeError),
    ("websocket", object(), TypeError),
    ("headers", 42, TypeError),
    ("headers", {"Authorization": 1}, TypeError),
    ("headers", "Authorization: x", TypeError),
    ("ssl", True, TypeError),
    ("ssl", "default", TypeError),
    ("max_size", 0, ValueError),
    ("max_size", -1, ValueError),
    ("max_size", "big", TypeError),
    ("max_size", 1.5, TypeError),
    ("compression", "gzip", ValueError),
    ("compression", 1, TypeError),
    ("proxy", 42, TypeError),
    ("proxy", ["http://proxy"], TypeError),
    ("on_open", 42, TypeError),
    ("on_message", "print", TypeError),
    ("on_close", 1.0, TypeError),
    ("on_error", [], TypeError),
]


def ids(row: tuple[str, Any, type[Exception]]) -> str:
    return f"{row[0]}={row[1]!r}"


@pytest.mark.parametrize("row", BAD_OPTIONS, ids=ids)
async def test_bad_option_raises_at_construction_naming_the_option(row: tuple[str, Any, type[Exception]]) -> None:
    name, value, expected = row
    with pytest.raises(expected) as info:
        ReconnectingWebSocket(URL, **{name: value})
    assert name in str(info.value), str(info.value)


@pytest.mark.parametrize("row", BAD_OPTIONS[:12], ids=ids)
async def test_bad_option_raises_for_party_socket_too(row: tuple[str, Any, type[Exception]]) -> None:
    name, value, expected = row
    with pytest.raises(expected) as info:
        PartySocket("127.0.0.1:9", "room", **{name: value})
    assert name in str(info.value), str(info.value)


@pytest.mark.parametrize("name", ["min_reconection_delay", "maxRetries", "timeout", "url"])
async def test_unknown_option_name_is_a_type_error_naming_it(name: str) -> None:
    with pytest.raises(TypeError) as info:
        ReconnectingWebSocket(URL, **{name: 1})  # type: ignore[arg-type]
    assert name in str(info.value)
    with pytest.raises(TypeError) as info:
        PartySocket("127.0.0.1:9", "room", **{name: 1})  # type: ignore[arg-type]
    assert name in str(info.value)


async def test_valid_edge_values_are_accepted() -> None:
    """The boundaries themselves are fine: zero delays, grow factor 1, jitter 0 and 1, unlimited limits."""
    edge_values: list[dict[str, Any]] = [
        {"min_reconnection_delay": 0, "max_reconnection_delay": 0},
        {"reconnection_delay_grow_factor": 1},
        {"jitter": 0.0},
        {"jitter": 1.0},
        {"max_retries": math.inf, "max_enqueued_messages": math.inf},
        {"max_retries": 0, "max_enqueued_messages": 0},
        {"ping_interval": None, "ping_timeout": None},
        {"max_size": None, "compression": None, "proxy": None},
    ]
    for options in edge_values:
        ws = ReconnectingWebSocket(URL, start_closed=True, **options)
        assert ws.ready_state == partysocket.CLOSED


# -- URLs ------------------------------------------------------------------------------------

BAD_URLS: list[tuple[Any, type[Exception], str]] = [
    ("", ValueError, "empty"),
    ("example.com/socket", ValueError, "ws://"),
    ("127.0.0.1:8080", ValueError, "ws://"),
    ("http://example.com/socket", ValueError, "ws://"),
    ("https://example.com/socket", ValueError, "wss://"),
    ("ftp://example.com/socket", ValueError, "ws://"),
    ("ws://", ValueError, "host"),
    ("ws://example.com/#frag", ValueError, "fragment"),
    ("ws://example.com:99999/", ValueError, "port"),
    (None, TypeError, "str"),
    (42, TypeError, "str"),
    (b"ws://example.com", TypeError, "str"),
    ("ws://t0ken@example.com/", ValueError, "user name but no password"),
]


@pytest.mark.parametrize("row", BAD_URLS, ids=lambda row: repr(row[0]))
async def test_bad_static_url_raises_at_construction(row: tuple[Any, type[Exception], str]) -> None:
    url, expected, hint = row
    with pytest.raises(expected) as info:
        ReconnectingWebSocket(url)
    assert hint.lower() in str(info.value).lower(), str(info.value)


@pytest.mark.parametrize("row", BAD_URLS, ids=lambda row: repr(row[0]))
async def test_bad_url_from_a_provider_is_an_error_event_and_buffered_messages_stay(
    row: tuple[Any, type[Exception], str],
) -> None:
    url, expected, hint = row

    async def provider() -> Any:
        return url

    ws = ReconnectingWebSocket(provider, max_retries=1, **FAST)
    recorder = Recorder(ws)
    try:
        ws.send("m0")
        ws.send(b"m1")
        with pytest.raises(ConnectionClosed):
            await ws.wait_open(TIMEOUT)
        errors = recorder.errors()
        assert len(errors) == 2  # the first attempt and the one retry
        assert all(isinstance(e.error, expected) and hint.lower() in str(e.error).lower() for e in errors), errors
        assert ws.drain_queued_messages() == ["m0", b"m1"]
    finally:
        await ws.aclose()


async def test_bad_url_then_good_url_delivers_the_buffered_messages_once() -> None:
    async with TestServer() as server:
        urls = iter(["http://127.0.0.1/", "", server.url])

        def provider() -> str:
            return next(urls, server.url)

        ws = ReconnectingWebSocket(provider, **FAST)
        recorder = Recorder(ws)
        try:
            for i in range(5):
                ws.send(f"m{i}")
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: len(server.received) >= 5, "the buffered messages")
            assert server.received == [f"m{i}" for i in range(5)]
            assert recorder.types()[:4] == ["error", "retry", "error", "retry"]
        finally:
            await ws.aclose()


# -- a raw server that speaks just enough WebSocket to misbehave ----------------------------

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RawBehaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 2**16:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


def upgrade(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


@asynccontextmanager
async def raw_server(behaviour: RawBehaviour) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A TCP server on 127.0.0.1 that reads a handshake and then runs ``behaviour``.

    Yields its ws:// URL and the list of raw bytes received after each handshake.
    """
    tasks: set[asyncio.Task[None]] = set()
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            key = ""
            for line in request.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-key":
                    key = value.strip()
            await behaviour(reader, writer, key)
            await writer.drain()
            # read what the client sends until it goes away (bounded)
            data = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
                if not chunk:
                    break
                data += chunk
            received.append(data)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}", received
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def after_upgrade(*frames: bytes) -> RawBehaviour:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
        writer.write(upgrade(key))
        for data in frames:
            writer.write(data)

    return behaviour


def answer(raw: bytes) -> RawBehaviour:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
        writer.write(raw)
        writer.write_eof()

    return behaviour


# -- malformed frames after a good handshake --------------------------------------------------

MALFORMED: list[tuple[str, bytes, int]] = [
    # (what, frames sent after the upgrade, close code the client fails with)
    ("invalid UTF-8 text", frame(0x1, b"\xff\xfe\xfd"), 1007),
    ("truncated UTF-8 text", frame(0x1, "é".encode()[:1]), 1007),
    ("close code 1005", frame(0x8, struct.pack("!H", 1005)), 1002),
    ("close code 999", frame(0x8, struct.pack("!H", 999)), 1002),
    ("close code 5000", frame(0x8, struct.pack("!H", 5000)), 1002),
    ("close with a one-byte payload", frame(0x8, b"\x03"), 1002),
    ("close reason not UTF-8", frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
    ("reserved opcode", frame(0x3, b"x"), 1002),
    ("fragmented control frame", frame(0x9, b"x", fin=False), 1002),
    ("continuation without a start", frame(0x0, b"x"), 1002),
]


@pytest.mark.parametrize("row", MALFORMED, ids=lambda row: row[0])
async def test_malformed_frame_from_the_server_fails_the_connection_and_the_socket_recovers(
    row: tuple[str, bytes, int],
) -> None:
    """error then close 1006 (the client failed the connection), then a good server gets everything later."""
    what, frames, code = row
    async with raw_server(after_upgrade(frames)) as (bad_url, _), TestServer() as good:
        urls = iter([bad_url])
        # keep-alive on: see the next test for the same failure without it
        ws = ReconnectingWebSocket(lambda: next(urls, good.url), **FAST, ping_interval=0.3)
        recorder = Recorder(ws)
        try:
            await recorder.until(lambda: recorder.count("close") >= 1, f"the failure on {what}")
            assert recorder.types()[:3] == ["open", "error", "close"], recorder.types()
            close = recorder.closes()[0]
            assert close.code == 1006 and close.was_clean is False and close.will_reconnect is True
            assert str(code) in str(recorder.errors()[0].error), recorder.errors()[0].error
            for i in range(5):
                ws.send(f"m{i}")  # buffered while reconnecting
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            await recorder.until(lambda: len(good.received) >= 5, "the buffered messages")
            assert good.received == [f"m{i}" for i in range(5)]
            first_close = recorder.types().index("close")
            assert "message" not in recorder.types()[:first_close]  # nothing bogus was delivered
        finally:
            await ws.aclose()


@pytest.mark.parametrize("row", [MALFORMED[2], MALFORMED[7]], ids=lambda row: row[0])
async def test_protocol_error_from_a_server_that_then_stays_silent_is_reported_within_the_close_timeout(
    row: tuple[str, bytes, int],
) -> None:
    """The client fails the connection (sends close 1002) and the server never closes TCP.

    The closing handshake is bounded (``connection_timeout`` is the close
    timeout): the failure must be reported by then, without relying on a
    keep-alive ping to notice.
    """
    what, frames, _ = row
    async with raw_server(after_upgrade(frames)) as (url, _):
        ws = ReconnectingWebSocket(url, **{**FAST, "connection_timeout": 1.0}, ping_interval=None, max_retries=0)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: recorder.count("close") >= 1, f"the failure on {what}", timeout=1.0 + 2.0)
            assert recorder.types() == ["open", "error", "close"]
            assert recorder.closes()[0].code == 1006
        finally:
            await ws.aclose()


async def test_protocol_error_is_reported_as_such_even_when_keep_alive_is_faster_than_the_close_timeout() -> None:
    """No ping is sent once the connection is closing, so the cause stays the protocol error."""
    what, frames, code = MALFORMED[3]
    async with raw_server(after_upgrade(frames)) as (url, _):
        ws = ReconnectingWebSocket(
            url, **{**FAST, "connection_timeout": 1.0}, ping_interval=0.1, ping_timeout=0.1, max_retries=0
        )
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: recorder.count("close") >= 1, f"the failure on {what}")
            error = recorder.errors()[0].error
            assert not isinstance(error, TimeoutError), error
            assert str(code) in str(error), error
        finally:
            await ws.aclose()


async def test_a_header_with_a_line_break_from_a_provider_is_an_error_that_hides_the_value() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, headers=lambda: {"X-Key": "s3cret\r\nX: 1"}, max_retries=0, **FAST)
        recorder = Recorder(ws)
        try:
            with pytest.raises(ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            error = recorder.errors()[0].error
            assert isinstance(error, ValueError) and "X-Key" in str(error)
            assert "s3cret" not in str(error) and "s3cret" not in repr(error)
            assert server.handshakes == []  # it never reached the network
        finally:
            await ws.aclose()


# -- handshakes answered wrongly ------------------------------------------------------------

BAD_HANDSHAKES: list[tuple[str, RawBehaviour]] = [
    (
        "bad Sec-WebSocket-Accept",
        answer(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    ),
    ("no Sec-WebSocket-Accept", answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")),
    ("garbage", answer(b"this is not HTTP at all\r\n\r\n")),
    ("binary garbage", answer(os.urandom(64) + b"\r\n\r\n")),
    ("HTTP/1.0 200", answer(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")),
    ("HTTP/1.1 200 without upgrade", answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
    ("closed without an answer", answer(b"")),
    ("half a status line", answer(b"HTTP/1.1 10")),
]


@pytest.mark.parametrize("row", BAD_HANDSHAKES, ids=lambda row: row[0])
async def test_wrong_handshake_answer_is_an_error_and_buffered_messages_stay(row: tuple[str, RawBehaviour]) -> None:
    _, behaviour = row
    async with raw_server(behaviour) as (url, _):
        ws = ReconnectingWebSocket(url, max_retries=1, **FAST)
        recorder = Recorder(ws)
        try:
            ws.send("m0")
            ws.send("m1")
            with pytest.raises(ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            assert recorder.types() == ["error", "close", "retry", "error", "close"], recorder.types()
            for close in recorder.closes():
                assert (close.code, close.was_clean) == (1006, False)
            error = recorder.errors()[0].error
            assert isinstance(error, (partysocket.PartySocketError, OSError, EOFError)), repr(error)
            assert ws.drain_queued_messages() == ["m0", "m1"]
        finally:
            await ws.aclose()


async def test_wrong_handshake_then_good_server_delivers_the_buffered_messages_once() -> None:
    async with raw_server(BAD_HANDSHAKES[0][1]) as (bad_url, _), TestServer() as good:
        urls = iter([bad_url, bad_url])
        ws = ReconnectingWebSocket(lambda: next(urls, good.url), **FAST)
        recorder = Recorder(ws)
        try:
            for i in range(5):
                ws.send(f"m{i}")
            await ws.wait_open(TIMEOUT)
            await recorder.until(lambda: len(good.received) >= 5, "the buffered messages")
            assert good.received == [f"m{i}" for i in range(5)]
            assert recorder.count("error") == 2
        finally:
            await ws.aclose()


# -- oversized messages -----------------------------------------------------------------------


async def test_server_message_over_max_size_fails_the_connection_with_1009_and_reconnects() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_size=1000, **FAST)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            ws.send("x" * 2000)  # the echo is too big for this client
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            assert recorder.types()[:4] == ["open", "error", "close", "retry"]
            assert "1009" in str(recorder.errors()[0].error)
            assert recorder.closes()[0].code == 1006
            ws.send("small")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "small"
            assert "message" not in recorder.types()[:4]
        finally:
            await ws.aclose()


async def test_client_message_over_the_server_limit_is_closed_1009_by_the_server_and_not_resent() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.send("x" * (2**20 + 1)) is True  # no client-side limit: the server decides
            await recorder.until(lambda: recorder.count("close") >= 1, "the server's close")
            close = recorder.closes()[0]
            assert close.code == 1009 and close.will_reconnect is True
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            ws.send("after")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "after"
            assert server.received == ["after"]  # the huge one was written once and refused, never resent
        finally:
            await ws.aclose()


async def test_max_size_none_accepts_a_large_message() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_size=None, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            # the server's own limit is 1 MiB: stay under it, above the client's default
            big = b"y" * (2**20 - 64)
            ws.send(big)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big
        finally:
            await ws.aclose()
