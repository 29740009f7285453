"""The asyncio flavour of partysocket (also exported at the package top level)."""

from .socket import ReconnectingWebSocket, WebSocket

__all__ = ["ReconnectingWebSocket", "WebSocket"]
