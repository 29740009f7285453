"""The transport seam: how a socket opens, uses and ends one WebSocket connection.

A transport is any object with an async :meth:`Transport.connect` that takes a
:class:`ConnectRequest` and returns a :class:`Connection`. The socket owns the
reconnect logic; a transport only knows single connections. Errors are
translated here, at the seam: a connection that ends raises
:class:`ConnectionEnded` from :meth:`Connection.recv` and :meth:`Connection.send`,
and a failed connect raises a :mod:`partysocket.exceptions` class (or a
built-in ``OSError``/``TimeoutError``/``ValueError``).
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["ConnectRequest", "Connection", "ConnectionEnded", "PushConnection", "Transport"]


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """Everything needed to open one connection."""

    url: str
    subprotocols: Sequence[str] = ()
    headers: Sequence[tuple[str, str]] = ()
    ssl: _ssl.SSLContext | None = None
    max_size: int | None = 2**20
    compression: str | None = "deflate"
    proxy: str | bool | None = True
    close_timeout: float = 4.0
    extra: dict[str, object] = field(default_factory=dict)


class ConnectionEnded(Exception):
    """Raised by a :class:`Connection` once it has ended.

    ``code`` is the close code received from the peer, or 1006 when no close
    frame was received; ``cause`` is the failure behind an abnormal end.
    """

    def __init__(self, code: int, reason: str = "", was_clean: bool = False, cause: BaseException | None = None):
        super().__init__(f"connection ended with code {code}")
        self.code = code
        self.reason = reason
        self.was_clean = was_clean
        self.cause = cause


@runtime_checkable
class Connection(Protocol):
    """One open WebSocket connection."""

    @property
    def subprotocol(self) -> str:
        """The subprotocol the server chose, or ``""``."""

    @property
    def extensions(self) -> str:
        """The negotiated extensions as a header value, or ``""``."""

    @property
    def buffered_amount(self) -> int:
        """Bytes handed to the connection but not yet written to the network."""

    async def send(self, message: str | bytes) -> None:
        """Write one message (text for ``str``, binary for ``bytes``)."""

    async def recv(self) -> str | bytes:
        """The next message; raises :class:`ConnectionEnded` once the connection ended."""

    async def ping(self) -> Awaitable[object]:
        """Send a ping; the returned awaitable completes when the pong arrives."""

    async def close(self, code: int, reason: str) -> None:
        """Run the closing handshake (bounded by the request's ``close_timeout``)."""

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""


class PushConnection(Connection, Protocol):
    """Optional fast paths a :class:`Connection` may also offer (the bundled transports do).

    The socket looks for each method with ``getattr``; a connection with none
    of them is driven through :meth:`Connection.recv` and :meth:`Connection.send`.

    * :meth:`push_messages` replaces the receive loop: no task waits while the
      connection is open. It is then used with :meth:`pause_reading` /
      :meth:`resume_reading`, which bound the socket's ``recv()`` queue.
    * :meth:`write_nowait` with :meth:`writable` replaces ``send()``: a message
      is handed over only when the transport takes it synchronously, so a
      message is either written (never sent again) or still the socket's.
    """

    def push_messages(self, sink: Callable[[str | bytes], None], on_end: Callable[[ConnectionEnded], None]) -> None:
        """Call ``sink(message)`` for every message, then ``on_end(ended)`` once; both from the event loop.

        Messages that arrived before this call are delivered first.
        """

    def pause_reading(self) -> None:
        """Deliver nothing and read nothing more until :meth:`resume_reading`."""

    def resume_reading(self) -> None:
        """Deliver what was held back, then read again."""

    def write_nowait(self, messages: list[str | bytes]) -> bool:
        """Write ``messages`` now and return True, or write none of them and return False.

        False when flow control holds writes back, or when the connection is
        closing or closed (also when the write failed at once).
        """

    async def writable(self) -> bool:
        """Wait until :meth:`write_nowait` can write; False once it never will."""


@runtime_checkable
class Transport(Protocol):
    """Opens connections; pass one as the ``websocket`` option."""

    async def connect(self, request: ConnectRequest) -> Connection:
        """Open a connection or raise."""
