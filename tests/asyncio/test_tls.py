"""wss:// against a real TLS server whose certificate comes from a test CA (trustme)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

import partysocket
from partysocket import CloseEvent, ErrorEvent, ReconnectingWebSocket, RetryEvent
from tests.servers import TIMEOUT, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def echo(conn: ServerConnection) -> None:
    try:
        async for message in conn:
            await conn.send(message)
    except Exception:
        pass


@asynccontextmanager
async def wss_server(context: ssl.SSLContext) -> AsyncIterator[str]:
    """A TLS echo server on 127.0.0.1; yields its wss:// URL."""
    async with serve(echo, "127.0.0.1", 0, ssl=context, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"wss://127.0.0.1:{port}"


def is_certificate_error(error: BaseException) -> bool:
    if isinstance(error, ssl.SSLCertVerificationError):
        return True
    return isinstance(error, OSError) and "certificate" in str(error).lower()


async def test_untrusted_certificate_is_an_error_event_and_the_socket_retries(
    server_context: ssl.SSLContext,
) -> None:
    async with wss_server(server_context) as url:
        ws = ReconnectingWebSocket(url, **FAST)  # default verification: the test CA is unknown
        errors: list[ErrorEvent] = collect(ws, "error")
        closes: list[CloseEvent] = collect(ws, "close")
        retries: list[RetryEvent] = collect(ws, "retry")
        try:
            await wait_until(lambda: len(errors) >= 2, what="two failed attempts")
            assert all(is_certificate_error(event.error) for event in errors), [e.error for e in errors]
            assert closes[0].code == 1006
            assert closes[0].was_clean is False
            assert closes[0].will_reconnect is True
            assert [event.attempt for event in retries[:2]] == [1, 2]
            assert ws.ready_state != partysocket.OPEN
        finally:
            await ws.aclose()


async def test_untrusted_certificate_with_max_retries_gives_up(server_context: ssl.SSLContext) -> None:
    async with wss_server(server_context) as url:
        ws = ReconnectingWebSocket(url, max_retries=1, **FAST)
        errors: list[ErrorEvent] = collect(ws, "error")
        try:
            with pytest.raises(partysocket.ConnectionClosed) as info:
                await ws.wait_open(TIMEOUT)
            assert len(errors) == 2
            event = info.value.event
            assert event is not None and event.code == 1006
            assert event.cause is not None and is_certificate_error(event.cause)
        finally:
            await ws.aclose()


async def test_context_trusting_the_ca_connects_and_echoes(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async with wss_server(server_context) as url:
        ws = ReconnectingWebSocket(url, ssl=client_context, **FAST)
        errors: list[ErrorEvent] = collect(ws, "error")
        try:
            ws.send("over tls")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "over tls"
            ws.send(b"\x00binary")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x00binary"
            assert ws.ready_state == partysocket.OPEN
            assert ws.url == url
            assert errors == []
        finally:
            await ws.aclose()


async def test_context_trusting_the_ca_checks_the_host_name(ca: trustme.CA, client_context: ssl.SSLContext) -> None:
    wrong = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(wrong)  # valid chain, wrong name
    async with wss_server(wrong) as url:
        ws = ReconnectingWebSocket(url, ssl=client_context, max_retries=0, **FAST)
        errors: list[ErrorEvent] = collect(ws, "error")
        try:
            with pytest.raises(partysocket.ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            assert len(errors) == 1
            assert is_certificate_error(errors[0].error)
        finally:
            await ws.aclose()
