"""An in-memory transport for tests: script the server without sockets.

Pass a :class:`MemoryTransport` as the ``websocket`` option and decide, attempt
by attempt, what the "server" does: accept, refuse with an HTTP status, fail
with any exception, or never answer. Accepted connections are
:class:`MemoryConnection` objects: read what the client sent from ``sent``,
push messages with :meth:`MemoryConnection.push`, and end them cleanly
(:meth:`MemoryConnection.close_from_server`) or abnormally
(:meth:`MemoryConnection.drop`)::

    transport = MemoryTransport()
    transport.refuse(503)          # the first attempt is refused
    ws = ReconnectingWebSocket("ws://test/", websocket=transport, min_reconnection_delay=0.01)
    conn = await transport.next_connection()   # the retry is accepted
    conn.push("hello")

Behaviour tests of the library itself still use real servers; this fake is
for code built on top of partysocket.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any

from ..exceptions import HandshakeRejected
from .base import ConnectionEnded, ConnectRequest

__all__ = ["MemoryTransport", "MemoryConnection"]

_HANG = object()


class MemoryConnection:
    """One accepted in-memory connection; the test plays the server."""

    def __init__(self, request: ConnectRequest, subprotocol: str = "") -> None:
        self.request = request
        self.subprotocol = subprotocol
        self.extensions = ""
        #: Every message the client sent on this connection, in order.
        self.sent: list[str | bytes] = []
        #: The close code and reason the client sent, once it closed.
        self.client_close: tuple[int, str] | None = None
        self._incoming: asyncio.Queue[str | bytes | ConnectionEnded] = asyncio.Queue()
        self._ended: ConnectionEnded | None = None
        self._sent_changed = asyncio.Event()

    @property
    def buffered_amount(self) -> int:
        return 0

    @property
    def open(self) -> bool:
        return self._ended is None

    # -- the server's side -------------------------------------------------------

    def push(self, message: str | bytes) -> None:
        """The server sends ``message`` to the client."""
        if self._ended is None:
            self._incoming.put_nowait(message)

    def close_from_server(self, code: int = 1000, reason: str = "") -> None:
        """The server closes cleanly with ``code`` and ``reason``."""
        self._end(ConnectionEnded(code, reason, True))

    def drop(self, cause: BaseException | None = None) -> None:
        """The connection breaks without a closing handshake (the client sees 1006)."""
        self._end(ConnectionEnded(1006, "", False, cause or ConnectionResetError("memory connection dropped")))

    async def wait_sent(self, count: int, timeout: float = 5.0) -> list[str | bytes]:
        """Wait until the client has sent ``count`` messages on this connection."""

        async def wait() -> None:
            while len(self.sent) < count:
                self._sent_changed.clear()
                await self._sent_changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.sent[:count]

    def _end(self, ended: ConnectionEnded) -> None:
        if self._ended is None:
            self._ended = ended
            self._incoming.put_nowait(ended)

    # -- the client's side (the Connection protocol) -----------------------------

    async def send(self, message: str | bytes) -> None:
        if self._ended is not None:
            raise self._ended
        self.sent.append(message)
        self._sent_changed.set()

    async def recv(self) -> str | bytes:
        item = await self._incoming.get()
        if isinstance(item, ConnectionEnded):
            self._incoming.put_nowait(item)  # every later call ends too
            raise item
        return item

    async def ping(self) -> Awaitable[object]:
        if self._ended is not None:
            raise self._ended
        pong: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        pong.set_result(0.0)
        return pong

    async def close(self, code: int, reason: str) -> None:
        self.client_close = (code, reason)
        self._end(ConnectionEnded(code, reason, True))

    def abort(self) -> None:
        self._end(ConnectionEnded(1006, "", False, ConnectionAbortedError("aborted by the client")))


class MemoryTransport:
    """A scripted in-memory server. Unscripted attempts are accepted."""

    def __init__(self, *, subprotocol: str = "") -> None:
        self.subprotocol = subprotocol
        #: Every connection request, in order (url, subprotocols, headers ...).
        self.requests: list[ConnectRequest] = []
        #: Every accepted connection, in order.
        self.connections: list[MemoryConnection] = []
        self._plan: deque[Any] = deque()
        self._accepted: asyncio.Queue[MemoryConnection] | None = None

    def accept(self) -> None:
        """The next attempt succeeds (the default when nothing is scripted)."""
        self._plan.append(None)

    def refuse(self, status: int = 503) -> None:
        """The next attempt gets an HTTP ``status`` instead of the upgrade."""
        self._plan.append(HandshakeRejected(status))

    def fail(self, error: BaseException) -> None:
        """The next attempt fails with ``error`` (for example ``ConnectionRefusedError()``)."""
        self._plan.append(error)

    def hang(self) -> None:
        """The next attempt never completes (until the socket's connection_timeout)."""
        self._plan.append(_HANG)

    async def next_connection(self, timeout: float = 5.0) -> MemoryConnection:
        """Wait for the next accepted connection."""
        return await asyncio.wait_for(self._queue().get(), timeout)

    def _queue(self) -> asyncio.Queue[MemoryConnection]:
        if self._accepted is None:
            self._accepted = asyncio.Queue()
        return self._accepted

    async def connect(self, request: ConnectRequest) -> MemoryConnection:
        self.requests.append(request)
        step = self._plan.popleft() if self._plan else None
        if step is _HANG:
            await asyncio.Event().wait()
        if isinstance(step, BaseException):
            raise step
        conn = MemoryConnection(request, self.subprotocol)
        self.connections.append(conn)
        self._queue().put_nowait(conn)
        return conn
