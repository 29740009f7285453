"""The asyncio flavour of partysocket (also exported at the package top level)."""

from .party import PartySocket
from .socket import ReconnectingWebSocket, WebSocket

__all__ = ["PartySocket", "ReconnectingWebSocket", "WebSocket"]
