"""PartySocket: a ReconnectingWebSocket addressed by PartyKit host, party and room."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.url import RoomAddress
from .socket import ReconnectingWebSocket, _resolve

if TYPE_CHECKING:
    import httpx

__all__ = ["PartySocket"]

logger = logging.getLogger("partysocket")

_UNSET: Any = object()
_FIELDS = ("host", "room", "party", "base_path", "prefix", "path", "protocol")


def _check_query(query: object) -> None:
    if query is None or callable(query):
        return
    if not isinstance(query, Mapping):
        raise TypeError("query must be a dict, a callable (sync or async) returning one, or None")
    if "_pk" in query:
        raise ValueError("query must not contain '_pk'; pass the connection id as id=... instead")


async def _resolve_query(query: object) -> dict[str, object]:
    value = await _resolve(query)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"the query provider must return a dict (or None), got {type(value).__name__}")
    return dict(value)


def _warn_names(party: object, room: object) -> None:
    for kind, name in (("party", party), ("room", room)):
        if isinstance(name, str) and "/" in name:
            logger.warning(
                "PartySocket: %s name %r contains '/', which may cause routing issues; use a name without "
                "'/' or pass disable_name_validation=True to silence this warning",
                kind,
                name,
            )


class PartySocket(ReconnectingWebSocket):
    """A reconnecting WebSocket to a PartyKit / PartyServer room.

    Connects to ``{protocol}://{host}/parties/{party}/{room}?_pk={id}&{query}``
    (``base_path`` replaces ``parties/{party}/{room}``; ``prefix`` replaces
    ``parties``; ``path`` is appended). ``protocol`` defaults to ``ws`` for
    localhost and private addresses and ``wss`` elsewhere. ``query`` may be a
    dict or a (sync or async) callable returning one, resolved before every
    attempt, so an auth token can be refreshed. Every other keyword is a
    :class:`ReconnectingWebSocket` option.
    """

    __slots__ = ("_address", "_disable_name_validation", "_fields", "_id", "_query")

    def __init__(
        self,
        host: str,
        room: str | None = None,
        *,
        party: str | None = None,
        id: str | None = None,  # noqa: A002 - the reference's name
        base_path: str | None = None,
        prefix: str | None = None,
        protocol: str | None = None,
        protocols: Any = None,
        path: str | None = None,
        query: Any = None,
        disable_name_validation: bool = False,
        **reconnecting_options: Any,
    ) -> None:
        if id is None:
            id = str(uuid.uuid4())  # noqa: A001
        elif not isinstance(id, str) or not id:
            raise TypeError("id must be a non-empty str (or None for a random uuid4)")
        _check_query(query)
        start_closed = bool(reconnecting_options.get("start_closed", False))
        self._fields: dict[str, Any] = {
            "host": host,
            "room": room,
            "party": party,
            "base_path": base_path,
            "prefix": prefix,
            "path": path,
            "protocol": protocol,
        }
        self._address: RoomAddress | None = self._build_address(self._fields, required=not start_closed)
        if not start_closed and not room and not base_path:
            raise ValueError(
                "PartySocket needs a room (or a base_path) to connect; pass room=..., or start_closed=True "
                "and set it later with update_properties() before calling reconnect()"
            )
        self._id = id
        self._query = query
        self._disable_name_validation = disable_name_validation
        if not disable_name_validation:
            _warn_names(party, room)
        super().__init__(self._party_url, protocols, **reconnecting_options)

    @staticmethod
    def _build_address(fields: Mapping[str, Any], *, required: bool) -> RoomAddress | None:
        host = fields["host"]
        if (host is None or host == "") and not required:
            return None
        return RoomAddress.create(
            host,
            fields["room"],
            party=fields["party"],
            base_path=fields["base_path"],
            prefix=fields["prefix"],
            path=fields["path"],
            protocol=fields["protocol"],
        )

    async def _party_url(self) -> str:
        address = self._address
        if address is None:
            raise ValueError("PartySocket has no host; set one with update_properties(host=...)")
        if not address.room and not address.base_path:
            raise ValueError("PartySocket has no room (or base_path); set one with update_properties(room=...)")
        query = await _resolve_query(self._query)
        query.pop("_pk", None)
        return address.url({"_pk": self._id, **query})

    # -- attributes ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The connection id, sent as the ``_pk`` query parameter."""
        return self._id

    @property
    def room_url(self) -> str:
        """The room's WebSocket URL without the query (``""`` without a host)."""
        return self._address.room_url() if self._address is not None else ""

    roomUrl = room_url

    @property
    def name(self) -> str:
        """The party name (``"main"`` by default)."""
        party = self._fields["party"]
        return party if party is not None else "main"

    @property
    def room(self) -> str | None:
        """The room name as given."""
        room: str | None = self._fields["room"]
        return room

    @property
    def host(self) -> str:
        """The host without scheme and trailing ``/`` (``"example.com"``)."""
        return self._address.host if self._address is not None else ""

    @property
    def path(self) -> str | None:
        """The extra path after the room, as given (``"sub"`` for ``path="sub"``)."""
        path: str | None = self._fields["path"]
        return path

    @property
    def base_path(self) -> str | None:
        """The path that replaces ``parties/{party}/{room}``, as given."""
        base_path: str | None = self._fields["base_path"]
        return base_path

    # -- updates ---------------------------------------------------------------

    def update_properties(
        self,
        *,
        host: str = _UNSET,
        room: str | None = _UNSET,
        party: str | None = _UNSET,
        id: str = _UNSET,  # noqa: A002
        base_path: str | None = _UNSET,
        prefix: str | None = _UNSET,
        protocol: str | None = _UNSET,
        protocols: Any = _UNSET,
        path: str | None = _UNSET,
        query: Any = _UNSET,
        disable_name_validation: bool = _UNSET,
    ) -> None:
        """Change where the next attempt connects; unspecified properties keep their values.

        It does not reconnect by itself: the change applies from the next
        attempt, automatic or manual (call :meth:`reconnect` to apply it now).
        """
        changes = {
            "host": host,
            "room": room,
            "party": party,
            "base_path": base_path,
            "prefix": prefix,
            "path": path,
            "protocol": protocol,
        }
        fields = dict(self._fields)
        fields.update({key: value for key, value in changes.items() if value is not _UNSET})
        address = self._build_address(fields, required=False)
        if id is not _UNSET and (not isinstance(id, str) or not id):
            raise TypeError("id must be a non-empty str")
        if query is not _UNSET:
            _check_query(query)
        if disable_name_validation is not _UNSET:
            self._disable_name_validation = bool(disable_name_validation)
        if not self._disable_name_validation:
            _warn_names(
                party if party is not _UNSET else None,
                room if room is not _UNSET else None,
            )
        self._fields = fields
        self._address = address
        if id is not _UNSET:
            self._id = id
        if query is not _UNSET:
            self._query = query
        if protocols is not _UNSET:
            self._protocols_provider = protocols

    updateProperties = update_properties

    def reconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the current connection and connect again at once (see :class:`ReconnectingWebSocket`)."""
        if self._address is None:
            raise ValueError("PartySocket has no host; set one with update_properties(host=...) before reconnect()")
        if not self._fields["room"] and not self._fields["base_path"]:
            raise ValueError(
                "PartySocket has no room (or base_path); set one with update_properties(room=...) before reconnect()"
            )
        super().reconnect(code, reason)

    # -- HTTP ------------------------------------------------------------------

    @staticmethod
    async def fetch(
        host: str,
        room: str | None = None,
        *,
        party: str | None = None,
        base_path: str | None = None,
        prefix: str | None = None,
        path: str | None = None,
        protocol: str | None = None,
        query: Any = None,
        method: str = "GET",
        **request_kwargs: Any,
    ) -> httpx.Response:
        """Send an HTTP request to the room's URL and return the ``httpx.Response``.

        ``http``/``https`` is chosen like ``ws``/``wss``; ``query`` is a dict or
        a (sync or async) callable; ``request_kwargs`` (``headers``,
        ``content``, ``json``, ...) go to ``httpx.AsyncClient.request``. No
        ``_pk`` is sent. Needs the ``http`` extra: ``pip install "partysocket[http]"``.
        """
        try:
            import httpx
        except ImportError:  # pragma: no cover - exercised in a venv without httpx
            raise ImportError(
                'PartySocket.fetch needs httpx: install the http extra with pip install "partysocket[http]"'
            ) from None
        if not room and not base_path:
            raise ValueError("PartySocket.fetch needs a room (or a base_path)")
        if query is not None and not callable(query) and not isinstance(query, Mapping):
            raise TypeError("query must be a dict, a callable (sync or async) returning one, or None")
        address = RoomAddress.create(
            host, room, party=party, base_path=base_path, prefix=prefix, path=path, protocol=protocol
        )
        url = address.url(await _resolve_query(query), http=True)
        async with httpx.AsyncClient() as client:
            return await client.request(method, url, **request_kwargs)
