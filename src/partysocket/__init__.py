"""partysocket: a reconnecting WebSocket client with the browser WebSocket API.

A faithful Python port of the TypeScript library ``partysocket``::

    from partysocket import ReconnectingWebSocket

    async with ReconnectingWebSocket("wss://example.com/socket") as ws:
        ws.send("hello")
        async for message in ws:
            print(message)

The top level is the asyncio flavour; ``partysocket.sync`` has the same
classes for code without an event loop.
"""

from .asyncio.party import PartySocket
from .asyncio.socket import ReconnectingWebSocket, WebSocket
from .core.machine import ReadyState
from .events import CloseEvent, ErrorEvent, Event, MessageEvent, RetryEvent
from .exceptions import ConnectionClosed, ConnectionLost, HandshakeError, HandshakeRejected, PartySocketError

__version__ = "0.1.0"

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
    "ReadyState",
    "PartySocketError",
    "ConnectionClosed",
    "ConnectionLost",
    "HandshakeError",
    "HandshakeRejected",
    "__version__",
]
