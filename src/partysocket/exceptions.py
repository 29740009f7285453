"""The package's own exceptions.

::

    PartySocketError
    ├── ConnectionClosed        recv()/wait_open() after the socket closed for good
    ├── ConnectionLost          a connection ended without a closing handshake
    └── HandshakeError          the opening handshake failed
        └── HandshakeRejected   the server answered with an HTTP status other than 101

Misuse (bad arguments, wrong state) raises the built-in ``TypeError``,
``ValueError`` or ``RuntimeError``; timeouts raise the built-in ``TimeoutError``.
Errors from the transport library are translated into these classes, with the
original chained as ``__cause__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import CloseEvent

__all__ = [
    "PartySocketError",
    "ConnectionClosed",
    "ConnectionLost",
    "HandshakeError",
    "HandshakeRejected",
]


class PartySocketError(Exception):
    """Base class of every exception this package defines."""


class ConnectionClosed(PartySocketError):
    """The socket is closed for good (``close()``, retries exhausted, or told not to reconnect).

    ``event`` is the last :class:`~partysocket.CloseEvent`, or ``None`` when the
    socket never connected.
    """

    def __init__(self, event: CloseEvent | None) -> None:
        self.event = event
        if event is None:
            message = "the socket is closed and will not reconnect; call reconnect() to connect again"
        else:
            message = (
                f"the socket is closed (code {event.code}"
                f"{', reason ' + repr(event.reason) if event.reason else ''}) and will not "
                "reconnect; call reconnect() to connect again"
            )
        super().__init__(message)


class ConnectionLost(PartySocketError):
    """The connection ended abnormally: no closing handshake (close code 1006)."""


class HandshakeError(PartySocketError):
    """The WebSocket opening handshake failed."""


class HandshakeRejected(HandshakeError):
    """The server refused the WebSocket upgrade with an HTTP response.

    ``status`` is the HTTP status code (for example 401, 403, 503), ``headers``
    the response headers and ``body`` the first bytes of the response body.
    """

    def __init__(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        super().__init__(f"server rejected the WebSocket handshake with HTTP {status}")
