"""Transports: the seam between a socket and a WebSocket implementation."""

from .base import ConnectionEnded, ConnectRequest, Connection, Transport

__all__ = ["ConnectRequest", "Connection", "ConnectionEnded", "Transport"]
