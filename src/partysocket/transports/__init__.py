"""Transports: the seam between a socket and a WebSocket implementation."""

from .base import Connection, ConnectionEnded, ConnectRequest, Transport

__all__ = ["ConnectRequest", "Connection", "ConnectionEnded", "Transport"]
