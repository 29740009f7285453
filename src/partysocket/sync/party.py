"""Blocking PartySocket: the PartyKit room socket for code without an event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..asyncio import party as _aio_party
from ..asyncio import socket as _aio
from ._runner import LoopThread
from .socket import ReconnectingWebSocket

if TYPE_CHECKING:
    import httpx

__all__ = ["PartySocket"]


class PartySocket(ReconnectingWebSocket):
    """A reconnecting WebSocket to a PartyKit room, for threads, scripts and notebooks.

    Same arguments and attributes as :class:`partysocket.PartySocket`; the
    blocking behaviour is that of :class:`partysocket.sync.ReconnectingWebSocket`.
    """

    _async_class: ClassVar[type[_aio.ReconnectingWebSocket]] = _aio_party.PartySocket
    _inner: _aio_party.PartySocket

    def __init__(self, host: str, room: str | None = None, **options: Any) -> None:
        self._init((host, room), options)
        # A carried-over socket (see reconnect() after close()) keeps its id.
        self._kwargs["id"] = self._inner.id

    @property
    def id(self) -> str:
        """The connection id, sent as the ``_pk`` query parameter."""
        return self._inner.id

    @property
    def room_url(self) -> str:
        """The room's WebSocket URL without the query."""
        return self._inner.room_url

    roomUrl = room_url

    @property
    def name(self) -> str:
        """The party name (``"main"`` by default)."""
        return self._inner.name

    @property
    def room(self) -> str | None:
        """The room name as given."""
        return self._inner.room

    @property
    def host(self) -> str:
        """The host without scheme and trailing ``/``."""
        return self._inner.host

    @property
    def path(self) -> str | None:
        """The extra path after the room, as given."""
        return self._inner.path

    @property
    def base_path(self) -> str | None:
        """The path that replaces ``parties/{party}/{room}``, as given."""
        return self._inner.base_path

    def update_properties(self, **changes: Any) -> None:
        """Change where the next attempt connects (see :meth:`partysocket.PartySocket.update_properties`)."""
        self._call(lambda: self._inner.update_properties(**changes))
        for key in ("host", "room"):
            if key in changes:
                index = 0 if key == "host" else 1
                self._args = (*self._args[:index], changes[key], *self._args[index + 1 :])
        self._kwargs.update({key: value for key, value in changes.items() if key not in ("host", "room")})

    updateProperties = update_properties

    @staticmethod
    def fetch(host: str, room: str | None = None, **options: Any) -> httpx.Response:
        """Blocking HTTP request to the room URL (see :meth:`partysocket.PartySocket.fetch`)."""
        runner = LoopThread.acquire()
        try:
            return runner.run(_aio_party.PartySocket.fetch(host, room, **options))
        finally:
            runner.release()
