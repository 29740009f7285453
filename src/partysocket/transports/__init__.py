"""Transports: the seam between a socket and a WebSocket implementation."""

from .base import Connection, ConnectionEnded, ConnectRequest, PushConnection, Transport

__all__ = ["ConnectRequest", "Connection", "ConnectionEnded", "PushConnection", "Transport"]
