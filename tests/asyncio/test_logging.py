"""Debug output: where it goes, and that it never shows secrets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from partysocket import ConnectionClosed, Event, ReconnectingWebSocket
from tests.servers import TIMEOUT, TestServer, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


async def test_debug_logger_collects_lines() -> None:
    lines: list[str] = []
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, debug=True, debug_logger=lines.append, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert lines, "no debug line for a connection"
            assert all(isinstance(line, str) for line in lines)
            assert any("open" in line for line in lines)
            count = len(lines)
            ws.close()
            assert len(lines) > count  # the close is reported too
            assert any("close" in line for line in lines[count:])
        finally:
            await ws.aclose()


async def test_debug_lines_report_failures_and_retries() -> None:
    lines: list[str] = []
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, debug=True, debug_logger=lines.append, max_retries=1, **FAST)
        try:
            with pytest.raises(ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            text = "\n".join(lines)
            assert "503" in text
            assert "retry" in text
        finally:
            await ws.aclose()


async def test_no_debug_output_without_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    lines: list[str] = []
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, debug_logger=lines.append, **FAST)
        try:
            ws.send("x")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "x"
            ws.close()
        finally:
            await ws.aclose()
    assert lines == []
    assert [r for r in caplog.records if r.name == "partysocket" and r.levelno == logging.DEBUG] == []


async def test_debug_output_goes_to_the_partysocket_logger_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, debug=True, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
        finally:
            await ws.aclose()
    records = [r for r in caplog.records if r.name == "partysocket" and r.levelno == logging.DEBUG]
    assert records, "no DEBUG record on the partysocket logger"
    assert any("open" in r.getMessage() for r in records)


async def test_debug_logger_that_raises_does_not_break_the_socket() -> None:
    def broken(line: str) -> None:
        raise RuntimeError("logger boom")

    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, debug=True, debug_logger=broken, **FAST)
        try:
            ws.send("x")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "x"
        finally:
            await ws.aclose()


async def test_debug_output_and_repr_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="partysocket")
    lines: list[str] = []
    async with TestServer() as server:
        server.refuse(401)  # the first attempt fails: error output is covered too
        url = f"{server.url}/room?token=SECRET123&user=alice"
        ws = ReconnectingWebSocket(
            url,
            headers={"Authorization": "Bearer SECRET456"},
            debug=True,
            debug_logger=lines.append,
            **FAST,
        )
        retries: list[Event] = collect(ws, "retry")
        reprs = [repr(ws)]
        try:
            await wait_until(lambda: len(retries) >= 1, what="a failed attempt")
            reprs.append(repr(ws))
            server.accept()
            await ws.wait_open(TIMEOUT)
            reprs.append(repr(ws))
            ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello"
            server.drop_all()
            await wait_until(lambda: len(retries) >= 2, what="the connection loss")
            await ws.wait_open(TIMEOUT)
            ws.close()
            ws.send("after close")  # logs a warning
            reprs.append(repr(ws))
        finally:
            await ws.aclose()
        # the secrets really were used
        assert server.request_headers[-1]["Authorization"] == "Bearer SECRET456"
        assert "token=SECRET123" in server.paths[-1]
    assert lines
    assert any("127.0.0.1" in line for line in lines)  # redaction keeps the useful parts
    logged = [r.getMessage() for r in caplog.records]
    for text in [*lines, *reprs, *logged]:
        assert "SECRET123" not in text
        assert "SECRET456" not in text
        assert "alice" not in text


async def test_repr_of_a_url_provider_socket_hides_query_values() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(lambda: f"{server.url}/?token=SECRET789", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert "SECRET789" not in repr(ws)
            assert "OPEN" in repr(ws)
        finally:
            await ws.aclose()


async def test_debug_output_hides_a_password_in_the_url() -> None:
    lines: list[str] = []
    async with TestServer() as server:
        url = server.url.replace("ws://", "ws://alice:SECRETPW@") + "/?token=SECRET123"
        ws = ReconnectingWebSocket(url, debug=True, debug_logger=lines.append, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            shown = [*lines, repr(ws)]
        finally:
            await ws.aclose()
        assert "Authorization" in server.request_headers[-1]  # the credentials were used
    assert not any("alice" in text for text in shown)  # hidden too: a user name is often a token
    assert not any("SECRETPW" in text or "SECRET123" in text for text in shown)


async def test_debug_output_of_a_rejected_url_hides_query_values() -> None:
    lines: list[str] = []
    errors: list[Event] = []
    ws = ReconnectingWebSocket(
        lambda: "http://127.0.0.1:9/?token=SECRET123",
        debug=True,
        debug_logger=lines.append,
        max_retries=0,
        **FAST,
    )
    ws.add_event_listener("error", errors.append)
    try:
        with pytest.raises(ConnectionClosed):
            await ws.wait_open(TIMEOUT)
        assert len(errors) == 1
        assert any("ws://" in line for line in lines)  # the failure is reported, with its hint
        assert not any("SECRET123" in line for line in lines)
    finally:
        await ws.aclose()
