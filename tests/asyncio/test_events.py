"""Events: Level-0 handlers, listeners, dispatch order, and the browser (camelCase) API surface."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import partysocket
from partysocket import CloseEvent, ErrorEvent, Event, MessageEvent, ReconnectingWebSocket, RetryEvent
from tests.servers import TIMEOUT, TestServer, wait_until

FAST: dict[str, Any] = {"min_reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


def collect(ws: ReconnectingWebSocket, kind: str) -> list[Any]:
    events: list[Any] = []
    ws.add_event_listener(kind, events.append)
    return events


async def test_level0_handlers_run_before_listeners_for_every_event_type() -> None:
    order: list[str] = []
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_retries=0, **FAST)
        try:
            for kind in ("open", "message", "error", "close"):
                # listeners are added BEFORE the handler is set: order is not registration order
                ws.add_event_listener(kind, lambda event: order.append(f"listener {event.type}"))
            ws.onopen = lambda event: order.append("handler open")
            ws.onmessage = lambda event: order.append("handler message")
            ws.onerror = lambda event: order.append("handler error")
            ws.onclose = lambda event: order.append("handler close")
            await ws.wait_open(TIMEOUT)
            ws.send("echo")
            await wait_until(lambda: "listener message" in order, what="the message")
            server.drop_all()
            await wait_until(lambda: "listener close" in order, what="the close event")
            assert order == [
                "handler open",
                "listener open",
                "handler message",
                "listener message",
                "handler error",
                "listener error",
                "handler close",
                "listener close",
            ]
        finally:
            await ws.aclose()


async def test_constructor_handlers_are_the_level0_handlers() -> None:
    seen: list[str] = []

    def on_open(event: Event) -> None:
        seen.append("open")

    def on_message(event: Event) -> None:
        seen.append("message")

    def on_error(event: Event) -> None:
        seen.append("error")

    def on_close(event: Event) -> None:
        seen.append("close")

    async with TestServer() as server:
        ws = ReconnectingWebSocket(
            server.url,
            on_open=on_open,
            on_message=on_message,
            on_error=on_error,
            on_close=on_close,
            max_retries=0,
            **FAST,
        )
        try:
            assert ws.onopen is on_open
            assert ws.onmessage is on_message
            assert ws.onerror is on_error
            assert ws.onclose is on_close
            ws.add_event_listener("open", lambda event: seen.append("listener open"))
            ws.send("x")
            await wait_until(lambda: "message" in seen, what="the message")
            server.drop_all()
            await wait_until(lambda: "close" in seen, what="the close event")
            assert seen == ["open", "listener open", "message", "error", "close"]
        finally:
            await ws.aclose()


async def test_listener_with_once_fires_once() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        once: list[Event] = []
        ws.add_event_listener("message", once.append, once=True)
        every: list[Event] = collect(ws, "message")
        try:
            ws.send("1")
            ws.send("2")
            ws.send("3")
            await wait_until(lambda: len(every) == 3, what="three messages")
            assert [getattr(event, "data", None) for event in once] == ["1"]
        finally:
            await ws.aclose()


async def test_listener_with_once_can_be_added_again_after_firing() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        once: list[Event] = []
        every: list[Event] = collect(ws, "message")
        try:
            ws.add_event_listener("message", once.append, once=True)
            ws.send("1")
            await wait_until(lambda: len(every) == 1, what="the first message")
            ws.add_event_listener("message", once.append, once=True)
            ws.send("2")
            ws.send("3")
            await wait_until(lambda: len(every) == 3, what="three messages")
            assert [getattr(event, "data", None) for event in once] == ["1", "2"]
        finally:
            await ws.aclose()


async def test_adding_the_same_listener_twice_registers_it_once() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        calls: list[Event] = []
        ws.add_event_listener("message", calls.append)
        ws.add_event_listener("message", calls.append)
        every: list[Event] = collect(ws, "message")
        try:
            ws.send("1")
            ws.send("2")
            await wait_until(lambda: len(every) == 2, what="two messages")
            assert len(calls) == 2
        finally:
            await ws.aclose()


async def test_remove_event_listener_stops_calls() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        removed: list[Event] = []
        every: list[Event] = collect(ws, "message")
        ws.add_event_listener("message", removed.append)
        try:
            ws.send("1")
            await wait_until(lambda: len(every) == 1, what="the first message")
            ws.remove_event_listener("message", removed.append)
            ws.remove_event_listener("message", removed.append)  # not registered any more: no error
            ws.remove_event_listener("open", removed.append)  # never registered: no error
            ws.send("2")
            await wait_until(lambda: len(every) == 2, what="the second message")
            assert [getattr(event, "data", None) for event in removed] == ["1"]
        finally:
            await ws.aclose()


async def test_remove_event_listener_from_inside_a_listener() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        calls: list[str] = []

        def first(event: Event) -> None:
            calls.append("first")
            ws.remove_event_listener("message", second)

        def second(event: Event) -> None:
            calls.append("second")

        ws.add_event_listener("message", first)
        ws.add_event_listener("message", second)
        every: list[Event] = collect(ws, "message")
        try:
            ws.send("1")
            ws.send("2")
            await wait_until(lambda: len(every) == 2, what="two messages")
            assert calls.count("first") == 2
            assert calls.count("second") <= 1  # removed for every later dispatch
        finally:
            await ws.aclose()


async def test_coroutine_listener_runs_as_a_task() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        gate = asyncio.Event()
        started: list[Any] = []
        finished: list[Event] = []
        dispatcher = asyncio.current_task()

        async def listener(event: Event) -> None:
            started.append(asyncio.current_task())
            await gate.wait()
            finished.append(event)

        ws.add_event_listener("message", listener)
        every: list[Event] = collect(ws, "message")
        try:
            ws.send("hi")
            await wait_until(lambda: len(every) == 1 and len(started) == 1, what="the listener to start")
            # dispatch did not wait for it: the next listener already ran while it is suspended
            assert finished == []
            assert started[0] is not None and started[0] is not dispatcher
            gate.set()
            await wait_until(lambda: len(finished) == 1, what="the listener to finish")
            assert isinstance(finished[0], MessageEvent)
            assert finished[0].data == "hi"
        finally:
            await ws.aclose()


async def test_coroutine_listener_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)

        async def listener(event: Event) -> None:
            raise RuntimeError("async boom")

        ws.add_event_listener("open", listener)
        try:
            await ws.wait_open(TIMEOUT)
            await wait_until(
                lambda: any("async boom" in (r.exc_text or str(r.exc_info)) for r in caplog.records),
                what="the logged exception",
            )
            ws.send("still working")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still working"
        finally:
            await ws.aclose()


async def test_coroutine_level0_handler_runs_as_a_task() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        done = asyncio.get_running_loop().create_future()

        async def on_open(event: Event) -> None:
            await asyncio.sleep(0)
            done.set_result(event.type)

        ws.onopen = on_open
        try:
            assert await asyncio.wait_for(done, TIMEOUT) == "open"
        finally:
            await ws.aclose()


async def test_object_with_handle_event_is_a_listener() -> None:
    class Handler:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def handle_event(self, event: Event) -> None:
            self.events.append(event)

    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        handler = Handler()
        ws.add_event_listener("open", handler)
        ws.add_event_listener("message", handler)
        try:
            ws.send("hi")
            await wait_until(lambda: len(handler.events) == 2, what="two events")
            assert [event.type for event in handler.events] == ["open", "message"]
            ws.remove_event_listener("message", handler)
            ws.send("again")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "again"
            assert len(handler.events) == 2
        finally:
            await ws.aclose()


async def test_object_with_handle_event_as_level0_handler() -> None:
    class Handler:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def handle_event(self, event: Event) -> None:
            self.events.append(event)

    async with TestServer() as server:
        handler = Handler()
        ws = ReconnectingWebSocket(server.url, on_open=handler, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert [event.type for event in handler.events] == ["open"]
        finally:
            await ws.aclose()


async def test_not_a_listener_is_rejected() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    with pytest.raises(TypeError, match="handle_event"):
        ws.add_event_listener("open", 42)


async def test_listener_exception_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)

        def broken(event: Event) -> None:
            raise RuntimeError("listener boom")

        ws.onmessage = broken
        ws.add_event_listener("message", broken)
        after: list[Event] = collect(ws, "message")
        try:
            ws.send("one")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "one"
            await wait_until(lambda: len(after) == 1, what="the listener after the broken one")
            errors = [r for r in caplog.records if r.name == "partysocket" and r.levelno >= logging.ERROR]
            assert len(errors) == 2  # the handler and the listener, each logged
            assert all(r.exc_info is not None and "listener boom" in str(r.exc_info[1]) for r in errors)
            # the socket keeps working
            assert ws.ready_state == partysocket.OPEN
            ws.send("two")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "two"
            assert len(after) == 2
        finally:
            await ws.aclose()


async def test_open_listener_exception_does_not_stop_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="partysocket")
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)

        def broken(event: Event) -> None:
            raise ValueError("open boom")

        ws.onopen = broken
        ws.send("buffered")
        try:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "buffered"
            assert ws.ready_state == partysocket.OPEN
            assert any(r.exc_info is not None and "open boom" in str(r.exc_info[1]) for r in caplog.records)
        finally:
            await ws.aclose()


async def test_event_target_is_the_socket() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, max_retries=0, **FAST)
        events: list[Event] = []
        for kind in ("open", "message", "error", "close"):
            ws.add_event_listener(kind, events.append)
        try:
            ws.send("x")
            await wait_until(lambda: len(events) == 2, what="open and message")
            server.drop_all()
            await wait_until(lambda: len(events) == 4, what="error and close")
            assert [event.type for event in events] == ["open", "message", "error", "close"]
            assert all(event.target is ws for event in events)
        finally:
            await ws.aclose()


async def test_dispatch_event_calls_handler_then_listeners() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    order: list[tuple[str, Event]] = []
    ws.add_event_listener("open", lambda event: order.append(("listener", event)))
    ws.onopen = lambda event: order.append(("handler", event))
    ws.add_event_listener("close", lambda event: order.append(("close listener", event)))
    event = Event("open")
    assert event.target is None
    ws.dispatch_event(event)
    assert [name for name, _ in order] == ["handler", "listener"]
    assert all(seen is event for _, seen in order)
    assert event.target is ws
    assert ws.ready_state == partysocket.CLOSED  # a dispatched event changes no state


async def test_dispatch_event_of_each_event_class() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    seen: list[Event] = []
    for kind in ("message", "close", "error", "retry"):
        ws.add_event_listener(kind, seen.append)
    events: list[Event] = [
        MessageEvent("data"),
        CloseEvent(code=4000, reason="r", was_clean=True),
        ErrorEvent(RuntimeError("e")),
        RetryEvent(1, 0.5),
    ]
    for event in events:
        ws.dispatch_event(event)
    assert seen == events


async def test_message_event_data_is_str_for_text_and_bytes_for_binary() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        messages: list[MessageEvent] = collect(ws, "message")
        try:
            ws.send("text")
            ws.send(b"\x00binary")
            await wait_until(lambda: len(messages) == 2, what="two messages")
            assert all(isinstance(event, MessageEvent) for event in messages)
            assert messages[0].data == "text" and type(messages[0].data) is str
            assert messages[1].data == b"\x00binary" and type(messages[1].data) is bytes
        finally:
            await ws.aclose()


async def test_retry_events_follow_error_and_close_with_attempt_and_delay() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(
            server.url,
            min_reconnection_delay=0.05,
            reconnection_delay_grow_factor=2.0,
            max_reconnection_delay=10,
            max_retries=2,
        )
        events: list[Event] = []
        for kind in ("error", "close", "retry"):
            ws.add_event_listener(kind, events.append)
        try:
            with pytest.raises(partysocket.ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            assert [event.type for event in events] == ["error", "close", "retry"] * 2 + ["error", "close"]
            retries = [event for event in events if isinstance(event, RetryEvent)]
            assert [event.attempt for event in retries] == [1, 2]
            assert [event.delay for event in retries] == pytest.approx([0.05, 0.1])
            assert all(event.target is ws for event in retries)
            closes = [event for event in events if isinstance(event, CloseEvent)]
            assert [event.will_reconnect for event in closes] == [True, True, False]
            assert ws.retry_count == 2
        finally:
            await ws.aclose()


def test_ready_state_constants_on_class_and_instance() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    for owner in (ReconnectingWebSocket, ws):
        assert (owner.CONNECTING, owner.OPEN, owner.CLOSING, owner.CLOSED) == (0, 1, 2, 3)
    assert (partysocket.CONNECTING, partysocket.OPEN, partysocket.CLOSING, partysocket.CLOSED) == (0, 1, 2, 3)
    assert partysocket.WebSocket is ReconnectingWebSocket


async def test_ready_state_alias_agrees_through_the_lifecycle() -> None:
    async with TestServer() as server:
        ws = ReconnectingWebSocket(server.url, **FAST)
        try:
            assert ws.readyState == ws.ready_state == ws.CONNECTING
            await ws.wait_open(TIMEOUT)
            assert ws.readyState == ws.ready_state == ws.OPEN
            ws.close()
            assert ws.readyState == ws.ready_state == ws.CLOSED
        finally:
            await ws.aclose()


def test_binary_type_alias_is_settable_and_validated() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    assert ws.binary_type == ws.binaryType == "blob"
    ws.binaryType = "arraybuffer"
    assert ws.binary_type == "arraybuffer"
    ws.binary_type = "blob"
    assert ws.binaryType == "blob"
    with pytest.raises(ValueError, match="arraybuffer"):
        ws.binaryType = "text"
    with pytest.raises(ValueError, match="blob"):
        ws.binary_type = "nodebuffer"
    assert ws.binary_type == "blob"


def test_buffered_amount_alias_agrees() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    assert ws.bufferedAmount == ws.buffered_amount == 0
    ws.send("é")
    assert ws.bufferedAmount == ws.buffered_amount == 2


async def test_retry_count_and_should_reconnect_aliases_agree() -> None:
    async with TestServer() as server:
        server.refuse(503)
        ws = ReconnectingWebSocket(server.url, max_retries=2, **FAST)
        try:
            assert ws.shouldReconnect is ws.should_reconnect is True
            assert ws.retryCount == ws.retry_count == 0
            with pytest.raises(partysocket.ConnectionClosed):
                await ws.wait_open(TIMEOUT)
            assert ws.retryCount == ws.retry_count == 2
            assert ws.shouldReconnect is ws.should_reconnect is False
        finally:
            await ws.aclose()


async def test_event_method_aliases_behave_like_the_snake_case_methods() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    calls: list[Event] = []
    ws.addEventListener("open", calls.append)
    ws.add_event_listener("open", calls.append)  # the same registration
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 1
    ws.removeEventListener("open", calls.append)
    ws.dispatch_event(Event("open"))
    assert len(calls) == 1
    ws.addEventListener("open", calls.append, once=True)
    ws.dispatchEvent(Event("open"))
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 2


def test_drain_queued_messages_alias() -> None:
    ws = ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    ws.send("a")
    ws.send(b"b")
    assert ws.drainQueuedMessages() == ["a", b"b"]
    assert ws.drain_queued_messages() == []
