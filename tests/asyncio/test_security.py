"""Security: certificate verification by default, secrets never shown, uuid4 ids.

tests/asyncio/test_tls.py already covers an untrusted certificate (error
events, retries, giving up), a context trusting the test CA, and a wrong host
name. This file adds: an expired certificate, the system default context (it
does not know the test CA), PartySocket over wss, and what the failures *say*
(clear, and free of secrets).

Secrets are query values, URL passwords, header values (and a proxy URL's
password). They must never appear in debug lines, log records, ``repr()`` of
sockets and events, exception messages (``str``/``repr`` of error events, close
event causes and ``ConnectionClosed``), whichever way the connection fails.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

from partysocket import ConnectionClosed, Event, PartySocket, ReconnectingWebSocket
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer, free_port

FAST: dict[str, Any] = {"min_reconnection_delay": 0.02, "max_reconnection_delay": 0.1, "connection_timeout": 1.0}
SECRETS = ("QSECRET1", "HSECRET2", "PWSECRET3", "PXSECRET4")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, **cert: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", **cert).configure_cert(context)
    return context


async def echo(conn: ServerConnection) -> None:
    try:
        async for message in conn:
            await conn.send(message)
    except Exception:
        pass


@asynccontextmanager
async def wss_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    async with serve(echo, "127.0.0.1", 0, ssl=context, ping_interval=None) as server:
        yield server.sockets[0].getsockname()[1]


def certificate_failure(error: BaseException | None) -> bool:
    return isinstance(error, ssl.SSLCertVerificationError) or (
        isinstance(error, OSError) and "certificate verify failed" in str(error)
    )


# -- TLS ------------------------------------------------------------------------------------


async def test_expired_certificate_from_a_trusted_ca_is_rejected(ca: trustme.CA) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    context = server_context(ca, not_before=past, not_after=past + datetime.timedelta(days=1))
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with wss_server(context) as port:
        ws = ReconnectingWebSocket(f"wss://127.0.0.1:{port}", ssl=trusting, max_retries=0, **FAST)
        recorder = Recorder(ws)
        try:
            with pytest.raises(ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            error = recorder.errors()[0].error
            assert certificate_failure(error), repr(error)
            assert "expired" in str(error)  # a clear message: it says why
        finally:
            await ws.aclose()


async def test_system_default_context_does_not_trust_a_private_ca(ca: trustme.CA) -> None:
    async with wss_server(server_context(ca)) as port:
        ws = ReconnectingWebSocket(f"wss://127.0.0.1:{port}", ssl=ssl.create_default_context(), max_retries=0, **FAST)
        recorder = Recorder(ws)
        try:
            with pytest.raises(ConnectionClosed) as info:
                await ws.wait_open(TIMEOUT)
            assert certificate_failure(recorder.errors()[0].error)
            event = info.value.event
            assert event is not None and certificate_failure(event.cause)
            assert ws.drain_queued_messages() == []
        finally:
            await ws.aclose()


async def test_party_socket_over_wss_verifies_by_default_and_connects_with_a_trusting_context(
    ca: trustme.CA,
) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with wss_server(server_context(ca)) as port:
        untrusted = PartySocket(f"127.0.0.1:{port}", "room", protocol="wss", max_retries=0, **FAST)
        recorder = Recorder(untrusted)
        try:
            untrusted.send("kept")
            with pytest.raises(ConnectionClosed):
                await untrusted.wait_open(TIMEOUT)
            assert certificate_failure(recorder.errors()[0].error)
            assert untrusted.drain_queued_messages() == ["kept"]  # nothing went out unverified
        finally:
            await untrusted.aclose()
        trusted = PartySocket(f"127.0.0.1:{port}", "room", protocol="wss", ssl=trusting, **FAST)
        try:
            trusted.send("hello")
            assert await asyncio.wait_for(trusted.recv(), TIMEOUT) == "hello"
            assert trusted.url.startswith("wss://")
        finally:
            await trusted.aclose()


async def test_plain_ws_to_a_tls_server_fails_cleanly(ca: trustme.CA) -> None:
    async with wss_server(server_context(ca)) as port:
        ws = ReconnectingWebSocket(f"ws://127.0.0.1:{port}", max_retries=1, **FAST)
        recorder = Recorder(ws)
        try:
            ws.send("m0")
            with pytest.raises(ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            assert recorder.count("error") == 2
            assert ws.drain_queued_messages() == ["m0"]
        finally:
            await ws.aclose()


# -- secrets ------------------------------------------------------------------------------------


class Shown:
    """Everything a socket shows a person: debug lines, log records, reprs, exception texts."""

    def __init__(self, ws: ReconnectingWebSocket, lines: list[str]) -> None:
        self.ws = ws
        self.lines = lines
        self.texts: list[str] = []
        for kind in ("open", "message", "close", "error", "retry"):
            ws.add_event_listener(kind, self.record)

    def record(self, event: Event) -> None:
        self.texts.append(repr(event))
        self.texts.append(repr(self.ws))
        for name in ("error", "cause"):
            error = getattr(event, name, None)
            while error is not None:
                self.texts += [str(error), repr(error)]
                error = error.__cause__ or error.__context__

    def exception(self, exc: BaseException) -> None:
        self.texts += [str(exc), repr(exc)]
        event = getattr(exc, "event", None)
        if event is not None:
            self.record(event)

    def check(self, caplog: pytest.LogCaptureFixture) -> None:
        logged = [record.getMessage() for record in caplog.records]
        logged += [caplog.text]
        everything = [*self.lines, *self.texts, *logged, repr(self.ws)]
        assert self.lines, "debug output was expected"
        for text in everything:
            for secret in SECRETS:
                assert secret not in text, f"{secret} shown in: {text[:300]}"


def secret_url(base: str) -> str:
    return base.replace("ws://", "ws://alice:PWSECRET3@") + "/room?token=QSECRET1&plain=QSECRET1"


HEADERS = {"Authorization": "Bearer HSECRET2", "X-Api-Key": "HSECRET2"}

Scenario = Callable[[TestServer], Any]


async def refused_port(server: TestServer) -> str:
    return f"ws://127.0.0.1:{await free_port()}"


SCENARIOS = ["refused", "rejected_401", "hung_handshake", "dropped", "server_close_4000", "bad_url_from_provider"]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_secrets_never_shown_whatever_the_failure(scenario: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    lines: list[str] = []
    async with TestServer() as server:
        base = server.url
        if scenario == "refused":
            base = await refused_port(server)
        elif scenario == "rejected_401":
            server.refuse(401)
        elif scenario == "hung_handshake":
            server.hang()
        url = secret_url(base)
        if scenario == "bad_url_from_provider":
            url = url.replace("ws://", "http://")

        async def provider() -> str:
            return url

        ws = ReconnectingWebSocket(
            provider, headers=HEADERS, debug=True, debug_logger=lines.append, max_retries=1, **FAST
        )
        shown = Shown(ws, lines)
        recorder = Recorder(ws)
        try:
            if scenario in ("dropped", "server_close_4000"):
                await ws.wait_open(TIMEOUT)
                shown.texts.append(repr(ws))
                if scenario == "dropped":
                    server.drop_all()
                else:
                    await server.close_all(4000, "bye")
                await recorder.until(lambda: recorder.count("close") >= 1, "the close")
                ws.close()
            with pytest.raises(ConnectionClosed) as info:
                await ws.wait_open(TIMEOUT)
            shown.exception(info.value)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            shown.exception(info.value)
            ws.send("after close")  # a warning is logged
        finally:
            await ws.aclose()
        if scenario not in ("refused", "bad_url_from_provider"):
            # the secrets really went over the wire
            assert "QSECRET1" in server.paths[0]
            assert "Bearer HSECRET2" in server.request_headers[0].get_all("Authorization")
    assert recorder.count("error") >= 1 or scenario in ("dropped", "server_close_4000")
    shown.check(caplog)


async def test_secrets_in_a_proxy_url_are_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    lines: list[str] = []
    port = await free_port()
    ws = ReconnectingWebSocket(
        "ws://127.0.0.1:9/?token=QSECRET1",
        proxy=f"http://bob:PXSECRET4@127.0.0.1:{port}",
        debug=True,
        debug_logger=lines.append,
        max_retries=0,
        **FAST,
    )
    shown = Shown(ws, lines)
    try:
        with pytest.raises(ConnectionClosed) as info:
            await ws.wait_open(TIMEOUT)
        shown.exception(info.value)
    finally:
        await ws.aclose()
    shown.check(caplog)


async def test_party_socket_query_secrets_are_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    lines: list[str] = []
    async with TestServer() as server:
        server.refuse(403)
        ws = PartySocket(
            f"127.0.0.1:{server.port}",
            "room",
            query=lambda: {"token": "QSECRET1"},
            headers=HEADERS,
            debug=True,
            debug_logger=lines.append,
            max_retries=1,
            **FAST,
        )
        shown = Shown(ws, lines)
        try:
            with pytest.raises(ConnectionClosed) as info:
                await ws.wait_open(TIMEOUT)
            shown.exception(info.value)
            shown.texts += [repr(ws), ws.room_url]
        finally:
            await ws.aclose()
        assert parse_qs(urlsplit(server.paths[0]).query)["token"] == ["QSECRET1"]
    shown.check(caplog)


# -- ids -------------------------------------------------------------------------------------------


async def test_party_socket_ids_are_uuid4_and_sent_as_pk() -> None:
    sockets = [PartySocket("127.0.0.1:9", "room", start_closed=True) for _ in range(200)]
    ids = [ws.id for ws in sockets]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value  # canonical lower-case form
    async with TestServer() as server:
        ws = PartySocket(f"127.0.0.1:{server.port}", "room", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert server.query()["_pk"] == [ws.id]
            assert uuid.UUID(ws.id).version == 4
            ws.update_properties(room="other")
            ws.reconnect()
            await ws.wait_open(TIMEOUT)
            assert server.query()["_pk"] == [ws.id]  # the id stays for the socket's life
        finally:
            await ws.aclose()
