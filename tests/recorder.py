"""Shared helpers for the behaviour tests: an event recorder and a server-side connection log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

from partysocket import CloseEvent, ErrorEvent, Event, ReconnectingWebSocket, RetryEvent
from tests.servers import TIMEOUT, TestServer


class Recorder:
    """Every event a socket dispatches, in order, with the monotonic time of its dispatch."""

    def __init__(self, ws: ReconnectingWebSocket) -> None:
        self.events: list[Event] = []
        self.times: list[float] = []
        self._changed = asyncio.Event()
        for kind in ("open", "message", "close", "error", "retry"):
            ws.add_event_listener(kind, self._record)

    def _record(self, event: Event) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())
        self._changed.set()

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event.type == kind)

    def closes(self) -> list[CloseEvent]:
        return [event for event in self.events if isinstance(event, CloseEvent)]

    def errors(self) -> list[ErrorEvent]:
        return [event for event in self.events if isinstance(event, ErrorEvent)]

    def retries(self) -> list[RetryEvent]:
        return [event for event in self.events if isinstance(event, RetryEvent)]

    def times_of(self, kind: str) -> list[float]:
        return [t for event, t in zip(self.events, self.times, strict=True) if event.type == kind]

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        """Wait (on events, not by polling) until ``predicate`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; events: {self.types()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


def recording(server: TestServer) -> list[ServerConnection]:
    """Record the server side of every connection, in order."""
    conns: list[ServerConnection] = []

    async def on_connect(conn: ServerConnection) -> None:
        conns.append(conn)

    server.on_connect = on_connect
    return conns
