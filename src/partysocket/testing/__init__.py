"""Test your app's reconnect handling against a real room server you can break on purpose.

With pytest, the ``party_server`` fixture is there as soon as partysocket is
installed (a ``pytest11`` plugin)::

    def test_my_bot_rejoins(party_server):
        ...  # connect to party_server.host / party_server.url("lobby")
        party_server.drop_all()                     # every client sees close code 1012
        party_server.wait_for(lambda: party_server.connections("lobby") == {"bot"})

Options for one test: ``@pytest.mark.party_server(echo=True, hold_for=5)``.

Without pytest, use :class:`PartyServer` directly (``with PartyServer() as server:``).

A :class:`PartyServer` runs a :class:`~partysocket.server.RoomServer` on
127.0.0.1 (a free port) on its own thread with its own event loop, so it
works the same from sync tests, from threads, and from ``async`` tests. Its
methods are thread-safe and never wait for a client: they only block for the
moment the server needs to apply them, so calling them from an ``async`` test
(on the loop your clients run on) is fine. The one exception is
:meth:`~PartyServer.wait_for`, which blocks until a condition holds; in
``async`` code use ``await`` :meth:`~PartyServer.wait_for_async` instead.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar, Union

from ..server import RoomServer

__all__ = ["Handshake", "PartyServer"]

T = TypeVar("T")
Data = Union[str, bytes]

#: How often ``wait_for`` also re-checks a condition between server events (seconds),
#: for conditions that depend on the client's state rather than the server's.
RECHECK = 0.02


@dataclass(frozen=True)
class Handshake:
    """A WebSocket handshake request the server received: its path (with query) and headers."""

    path: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``None``."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


class PartyServer:
    """A :class:`~partysocket.server.RoomServer` on its own thread, with thread-safe controls.

    ::

        with PartyServer(echo=True) as server:
            ws = PartySocket(server.host, "lobby")      # "127.0.0.1:PORT"; ws:// is chosen for you
            ...
            server.restart()                             # close 1012, same port, rooms kept
            server.wait_for(lambda: len(server.messages("lobby")) == 2)

    Keyword options are :class:`~partysocket.server.RoomServer`'s (``echo``,
    ``hold_for``, ``prefix``, ``drop_every``, ...).
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("host", "127.0.0.1")
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: RoomServer | None = None
        self._changed = threading.Condition()
        self._version = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> PartyServer:
        """Start the server thread and listen; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("this PartyServer is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="partysocket-party-server", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def start() -> RoomServer:
            server = RoomServer(**self._options)
            server.watchers.append(self._bump)
            await server.start()
            return server

        try:
            self._server = self._run(start)
        except BaseException:
            self._stop_thread()
            raise
        return self

    def stop(self) -> None:
        """Close every connection (code 1001), stop listening and end the thread. Idempotent."""
        if self._thread is None:
            return
        server = self._server
        try:
            if server is not None:
                self._run(server.stop)
        finally:
            self._server = None
            self._stop_thread()

    def __enter__(self) -> PartyServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------

    @property
    def server(self) -> RoomServer:
        """The :class:`~partysocket.server.RoomServer` (use it only on its own loop)."""
        if self._server is None:
            raise RuntimeError("the PartyServer is not running; use it as a context manager or call start()")
        return self._server

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self.server.port

    @property
    def host(self) -> str:
        """``"127.0.0.1:PORT"``: the ``host`` to give :class:`~partysocket.PartySocket`."""
        return f"{self.server.host}:{self.port}"

    def url(self, room: str, party: str = "main") -> str:
        """The WebSocket URL of a room: ``ws://127.0.0.1:PORT/parties/{party}/{room}`` (no ``_pk``)."""
        return self.server.room_url(room, party)

    # -- faults --------------------------------------------------------------------

    def drop_all(self, code: int | None = 1012, reason: str = "") -> None:
        """Disconnect every client and keep listening.

        With a ``code`` (default 1012, "service restart") the server sends a
        close frame; with ``None`` it aborts the TCP connections (clients see
        1006). Once it returns, :meth:`connections` no longer lists them.
        """
        server = self.server
        self._run(lambda: server.drop_all(code, reason, wait=False))

    def restart(self, downtime: float = 0.0) -> None:
        """Close every connection (code 1012), stop listening, and listen again on the same port.

        During ``downtime`` seconds connecting fails (connection refused).
        Rooms and recorded messages are kept. Returns once listening has
        stopped, without waiting out the downtime, so clients on the caller's
        event loop live through it (use :meth:`wait_for` to wait for them).
        """
        server = self.server
        self._run(lambda: server.restart(downtime, wait=False))

    def refuse(self, status: int = HTTPStatus.SERVICE_UNAVAILABLE, duration: float | None = None) -> None:
        """Answer every handshake (and HTTP request) with HTTP ``status``, for ``duration`` s or until resume()."""
        server = self.server
        self._call(lambda: server.refuse(status, duration))

    def delay_handshakes(self, seconds: float) -> None:
        """Answer each handshake only after ``seconds`` (until :meth:`resume`)."""
        server = self.server
        self._call(lambda: server.delay_handshakes(seconds))

    def hang_handshakes(self) -> None:
        """Accept TCP connections but answer no handshake until :meth:`resume` (open connections go on)."""
        self._call(self.server.hang_handshakes)

    def blackhole(self) -> None:
        """Keep every TCP connection open but pass nothing either way, until :meth:`resume`.

        Like a network outage: clients notice only through their own
        timeouts (keep-alive pings, ``connection_timeout``); what was sent
        meanwhile is delivered on :meth:`resume` if the connection still exists.
        """
        self._call(self.server.blackhole)

    def resume(self) -> None:
        """End every fault (refuse, delay, hang, blackhole)."""
        self._call(self.server.resume)

    # -- inspection ------------------------------------------------------------------

    def messages(self, room: str, party: str = "main") -> list[Data]:
        """Every message the server received in the room, in order (a copy)."""
        server = self.server
        return self._call(lambda: list(server.messages.get(f"{party}/{room}", ())))

    def connections(self, room: str, party: str = "main") -> set[str]:
        """The ids (``_pk``) of the room's open connections (a copy)."""
        server = self.server
        return self._call(lambda: set(server.rooms.get(f"{party}/{room}", ())))

    def rooms(self) -> dict[str, set[str]]:
        """Every room with open connections: ``{"party/room": {ids}}``."""
        server = self.server
        return self._call(lambda: {key: set(ids) for key, ids in server.rooms.items()})

    def handshakes(self) -> list[Handshake]:
        """Every WebSocket handshake request received so far (also refused ones), oldest first."""
        server = self.server
        return self._call(
            lambda: [Handshake(request.path, tuple(request.headers.raw_items())) for request in server.handshakes]
        )

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` is true; ``TimeoutError`` after ``timeout`` seconds.

        The predicate runs in the calling thread, after every connect,
        disconnect and message the server sees (and every few milliseconds,
        for conditions on your client's state). In ``async`` code use
        :meth:`wait_for_async`: blocking the loop your clients run on would
        stop them.
        """
        if _loop_running_here():
            raise RuntimeError(
                "wait_for() would block this event loop (and the clients on it); "
                "use `await party_server.wait_for_async(...)` in async code"
            )
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._version
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the condition did not hold within {timeout:g} s")
            with self._changed:
                if self._version == seen:
                    self._changed.wait(min(remaining, RECHECK))

    async def wait_for_async(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """``await`` until ``predicate()`` is true; ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        server = self.server
        self._call(lambda: server.watchers.append(wake))
        try:
            deadline = loop.time() + timeout
            while not predicate():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"the condition did not hold within {timeout:g} s")
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, RECHECK))
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._server is server:
                self._call(lambda: server.watchers.remove(wake))

    # -- plumbing --------------------------------------------------------------------

    def _bump(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop and return its result."""

        async def call() -> T:
            return function()

        return self._run(call)

    def _run(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the PartyServer is not running; use it as a context manager or call start()")
        if threading.current_thread() is self._thread:
            raise RuntimeError("PartyServer methods cannot be called from the server's own thread")
        return asyncio.run_coroutine_threadsafe(function(), loop).result()

    def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
