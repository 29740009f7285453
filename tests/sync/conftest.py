"""A TestServer on its own thread and loop, for tests of the blocking API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tests.servers import TestServer

T = TypeVar("T")


class ThreadedServer:
    """Runs a :class:`TestServer` on a background loop; every method blocks until done."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-server", daemon=True)
        self.thread.start()
        self.server: TestServer = self.run(self._make(kwargs))
        self.run(self.server.start())

    @staticmethod
    async def _make(kwargs: dict[str, Any]) -> TestServer:
        return TestServer(**kwargs)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, function: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return function()

        return self.run(wrapper())

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.run(self.server.restart())

    def stop(self) -> None:
        self.run(self.server.stop())

    def start(self) -> None:
        self.run(self.server.start())

    def drop_all(self) -> None:
        self.call(self.server.drop_all)

    def received(self) -> list[str | bytes]:
        return self.call(lambda: list(self.server.received))

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    threaded = ThreadedServer()
    try:
        yield threaded
    finally:
        threaded.close()
