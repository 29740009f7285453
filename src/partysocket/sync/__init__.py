"""partysocket for code without an event loop: scripts, notebooks, threads.

The same classes as the asyncio flavour, driven by the very same core on one
library-owned background thread::

    from partysocket.sync import ReconnectingWebSocket

    with ReconnectingWebSocket("wss://example.com/socket") as ws:
        ws.send("hello")
        for message in ws:
            print(message)

``send()`` is thread-safe; handlers and listeners run on the background
thread (named ``partysocket-loop``); blocking calls block only their caller.
"""

from ..core.machine import ReadyState
from ..events import CloseEvent, ErrorEvent, Event, MessageEvent, RetryEvent
from ..exceptions import ConnectionClosed, ConnectionLost, HandshakeError, HandshakeRejected, PartySocketError
from .party import PartySocket
from .socket import ReconnectingWebSocket, WebSocket

CONNECTING = ReadyState.CONNECTING
OPEN = ReadyState.OPEN
CLOSING = ReadyState.CLOSING
CLOSED = ReadyState.CLOSED

__all__ = [
    "PartySocket",
    "ReconnectingWebSocket",
    "WebSocket",
    "Event",
    "MessageEvent",
    "CloseEvent",
    "ErrorEvent",
    "RetryEvent",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
    "PartySocketError",
    "ConnectionClosed",
    "ConnectionLost",
    "HandshakeError",
    "HandshakeRejected",
]
