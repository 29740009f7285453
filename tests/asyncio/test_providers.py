"""URL, protocols and headers providers, resolved before every attempt, against real servers.

A provider is a value, a function or a coroutine function. One that raises or
returns the wrong type makes its attempt fail with an ``error`` event alone
(the network was never reached, so there is no ``close``), and the normal retry
schedule goes on until the provider recovers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

import partysocket
from partysocket import ReconnectingWebSocket
from tests.recorder import Recorder
from tests.servers import TIMEOUT, TestServer, wait_until

SLACK = 0.25


def provider(value: Callable[[], Any], flavour: str) -> Callable[[], Any]:
    """Wrap a zero-argument function as a sync or an async (coroutine function) provider."""
    if flavour == "sync":
        return value

    async def resolve() -> Any:
        await asyncio.sleep(0)
        return value()

    return resolve


def unhandled_exceptions() -> list[dict[str, Any]]:
    """Collect what reaches the loop's exception handler (an escaped task exception)."""
    seen: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: seen.append(context))
    return seen


# -- url -------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_url_provider_is_resolved_before_every_attempt(flavour: str) -> None:
    async with TestServer() as server:
        calls: list[float] = []

        def url() -> str:
            calls.append(time.monotonic())
            return server.url

        ws = ReconnectingWebSocket(provider(url, flavour), min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert len(calls) == 1
            ws.reconnect()  # a manual attempt
            await recorder.until(lambda: recorder.count("open") >= 2, "the second open")
            assert len(calls) == 2
            server.refuse(503)
            server.drop_all()  # automatic attempts, failing ones included
            await wait_until(lambda: len(server.handshakes) >= 4, what="two refused attempts")
            server.accept()
            await recorder.until(lambda: recorder.count("open") >= 3, "the third open")
            assert len(calls) == len(server.handshakes)
            assert ws.url == server.url
        finally:
            await ws.aclose()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_url_provider_round_robin_between_two_servers(flavour: str) -> None:
    async with TestServer() as first, TestServer() as second:
        servers = itertools.cycle([first, second])
        ws = ReconnectingWebSocket(provider(lambda: next(servers).url, flavour), min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.url == first.url
            first.drop_all()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection to the second server")
            assert ws.url == second.url
            assert (first.opened, second.opened) == (1, 1)
            await second.close_all(4000, "move")
            await recorder.until(lambda: recorder.count("open") >= 3, "the reconnection to the first server")
            assert ws.url == first.url
            assert (first.opened, second.opened) == (2, 1)
        finally:
            await ws.aclose()


async def test_url_is_empty_before_any_attempt_and_the_resolved_url_after() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(lambda: server.url + "/room?x=1", start_closed=True)
        try:
            assert ws.url == ""
            ws.reconnect()
            await ws.wait_open(TIMEOUT)
            assert ws.url == server.url + "/room?x=1"
            assert server.paths == ["/room?x=1"]
        finally:
            await ws.aclose()


# -- protocols ---------------------------------------------------------------------------


async def _async_chat() -> str:
    return "chat"


@pytest.mark.parametrize(
    ("protocols", "offered", "chosen"),
    [
        ("superchat", "superchat", "superchat"),
        (["superchat", "chat"], "superchat, chat", "chat"),  # the server prefers chat
        (lambda: ["superchat"], "superchat", "superchat"),
        (_async_chat, "chat", "chat"),
    ],
    ids=["str", "list", "sync-callable", "async-callable"],
)
async def test_protocols_reach_the_server_and_protocol_reflects_its_choice(
    protocols: Any, offered: str, chosen: str
) -> None:
    async with TestServer(subprotocols=["chat", "superchat"]) as server:
        ws = ReconnectingWebSocket(server.url, protocols, min_reconnection_delay=0.05)
        try:
            assert ws.protocol == ""
            await ws.wait_open(TIMEOUT)
            assert server.request_headers[0]["Sec-WebSocket-Protocol"] == offered
            assert ws.protocol == chosen
            ws.close()
            assert ws.protocol == ""
        finally:
            await ws.aclose()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_protocols_provider_is_resolved_before_every_attempt(flavour: str) -> None:
    async with TestServer(subprotocols=["chat", "superchat"]) as server:
        choices = itertools.cycle(["chat", "superchat"])
        ws = ReconnectingWebSocket(server.url, provider(lambda: next(choices), flavour), min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.protocol == "chat"
            server.drop_all()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            assert ws.protocol == "superchat"
            ws.reconnect()
            await recorder.until(lambda: recorder.count("open") >= 3, "the manual reconnection")
            assert ws.protocol == "chat"
            offered = [headers["Sec-WebSocket-Protocol"] for headers in server.request_headers]
            assert offered == ["chat", "superchat", "chat"]
        finally:
            await ws.aclose()


# -- headers -----------------------------------------------------------------------------


async def _async_headers() -> dict[str, str]:
    return {"X-Token": "abc", "X-Client": "tests"}


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Token": "abc", "X-Client": "tests"},
        [("X-Token", "abc"), ("X-Client", "tests")],
        lambda: {"X-Token": "abc", "X-Client": "tests"},
        _async_headers,
    ],
    ids=["dict", "pairs", "sync-callable", "async-callable"],
)
async def test_headers_reach_the_server(headers: Any) -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, headers=headers, min_reconnection_delay=0.05)
        try:
            await ws.wait_open(TIMEOUT)
            assert server.request_headers[0]["X-Token"] == "abc"
            assert server.request_headers[0]["X-Client"] == "tests"
        finally:
            await ws.aclose()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_headers_provider_is_resolved_before_every_attempt(flavour: str) -> None:
    async with TestServer() as server:
        tokens = (f"token-{n}" for n in itertools.count(1))
        ws = ReconnectingWebSocket(
            server.url, headers=provider(lambda: {"Authorization": f"Bearer {next(tokens)}"}, flavour),
            min_reconnection_delay=0.05,
        )  # fmt: skip
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            server.drop_all()
            await recorder.until(lambda: recorder.count("open") >= 2, "the reconnection")
            ws.reconnect()
            await recorder.until(lambda: recorder.count("open") >= 3, "the manual reconnection")
            sent = [headers["Authorization"] for headers in server.request_headers]
            assert sent == ["Bearer token-1", "Bearer token-2", "Bearer token-3"]
        finally:
            await ws.aclose()


# -- failing providers ---------------------------------------------------------------------


class Flaky:
    """A provider whose first ``failures`` calls raise ``error`` (or return ``wrong``), then give ``good``."""

    def __init__(self, good: object, *, error: BaseException | None = None, wrong: object = None, failures: int = 2):
        self.good = good
        self.error = error
        self.wrong = wrong
        self.failures = failures
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if self.calls > self.failures:
            return self.good
        if self.error is not None:
            raise self.error
        return self.wrong


FAILURES = [
    ("url", "raises"),
    ("url", "wrong-type"),
    ("protocols", "raises"),
    ("protocols", "wrong-type"),
    ("headers", "raises"),
    ("headers", "wrong-type"),
]


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(("which", "how"), FAILURES, ids=[f"{which}-{how}" for which, how in FAILURES])
async def test_failing_provider_gives_only_error_then_retries_until_it_recovers(
    which: str, how: str, flavour: str
) -> None:
    escaped = unhandled_exceptions()
    async with TestServer(subprotocols=["chat"]) as server:
        good: dict[str, object] = {"url": server.url, "protocols": ["chat"], "headers": {"X-Token": "abc"}}
        boom = RuntimeError(f"{which} provider is down")
        flaky = Flaky(good[which], error=boom) if how == "raises" else Flaky(good[which], wrong=5)
        chosen: dict[str, Any] = {name: (lambda value=value: value) for name, value in good.items()}
        chosen[which] = flaky
        ws = ReconnectingWebSocket(
            provider(chosen["url"], flavour),
            provider(chosen["protocols"], flavour),
            headers=provider(chosen["headers"], flavour),
            min_reconnection_delay=0.05,
        )
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert recorder.types() == ["error", "retry", "error", "retry", "open"]
            for event in recorder.errors():
                if how == "raises":
                    assert event.error is boom
                else:
                    assert isinstance(event.error, TypeError)
            assert [event.attempt for event in recorder.retries()] == [1, 2]
            assert flaky.calls == 3
            assert len(server.handshakes) == 1  # the failed attempts never reached the network
            assert server.request_headers[0]["X-Token"] == "abc"
            assert ws.protocol == "chat"
        finally:
            await ws.aclose()
    assert escaped == []


async def test_failing_provider_respects_max_retries() -> None:
    def url() -> str:
        raise RuntimeError("no URL today")

    ws = ReconnectingWebSocket(url, max_retries=2, min_reconnection_delay=0.02)
    recorder = Recorder(ws)
    try:
        with pytest.raises(partysocket.ConnectionClosed) as raised:
            await ws.wait_open(TIMEOUT)
        # giving up always ends with a close event that promises no reconnection
        assert recorder.types() == ["error", "retry", "error", "retry", "error", "close"]
        close = recorder.closes()[0]
        assert close.will_reconnect is False
        assert close.cause is recorder.errors()[-1].error
        assert raised.value.event is close
        assert ws.ready_state == partysocket.CLOSED
        assert ws.retry_count == 2
    finally:
        await ws.aclose()


# -- wait_open ----------------------------------------------------------------------------


async def test_wait_open_times_out_with_timeout_error() -> None:
    async with TestServer() as server:
        server.hang()
        ws = ReconnectingWebSocket(server.url, connection_timeout=5.0)
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await ws.wait_open(0.2)
            assert 0.2 * 0.9 <= time.monotonic() - started < 0.2 + SLACK
            assert ws.ready_state == partysocket.CONNECTING  # the attempt goes on
            server.accept()
            ws.reconnect()
            await ws.wait_open(TIMEOUT)
        finally:
            await ws.aclose()


async def test_a_hanging_url_provider_is_abandoned_after_connection_timeout_and_retried() -> None:
    async with TestServer() as server:
        calls = 0
        never = asyncio.Event()

        async def url() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                await never.wait()  # the first resolution never finishes
            return server.url

        started = time.monotonic()
        ws = ReconnectingWebSocket(url, connection_timeout=0.2, min_reconnection_delay=0.05)
        recorder = Recorder(ws)
        try:
            await ws.wait_open(TIMEOUT)
            assert recorder.types()[0] == "error"
            assert isinstance(recorder.errors()[0].error, TimeoutError)
            assert 0.2 * 0.9 <= recorder.times_of("error")[0] - started < 0.2 + SLACK
            assert recorder.count("retry") == 1
            assert recorder.types()[-1] == "open"
            assert calls == 2
        finally:
            await ws.aclose()
