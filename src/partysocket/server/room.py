"""A PartyKit-style room server on ``websockets``: rooms, connection ids, broadcast.

Clients connect to ``ws://HOST:PORT/parties/{party}/{room}`` (anything after the
room, such as ``/parties/main/lobby/sub``, reaches the same room; any other path
is refused with HTTP 404). The connection id is the ``_pk`` query parameter, as
``PartySocket`` sends it, or a fresh uuid4 when there is none. Every message a
connection sends is relayed to the *other* connections of its room (and back to
the sender too with ``echo=True``).

It is a development and test server: everything lives in memory, and it must be
used from the event loop that started it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Union
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

__all__ = ["RoomServer", "parse_room_path"]

logger = logging.getLogger("partysocket.server")

Data = Union[str, bytes]


def parse_room_path(path: str) -> tuple[str, str, str | None] | None:
    """``(party, room, id)`` for a request path ``/parties/{party}/{room}[/...][?_pk=id]``, else ``None``.

    Names are percent-decoded; ``id`` is ``None`` when ``_pk`` is missing or empty.
    """
    parts = urlsplit(path)
    segments = parts.path.split("/")
    if len(segments) < 4 or segments[0] or segments[1] != "parties":
        return None
    party, room = unquote(segments[2]), unquote(segments[3])
    if not party or not room:
        return None
    ids = parse_qs(parts.query).get("_pk")
    return party, room, ids[0] if ids else None


@dataclass(eq=False)
class _Member:
    """A connection id in a room: its live connection, or when it left (while held)."""

    conn: ServerConnection | None
    held: list[Data] = field(default_factory=list)
    left_at: float = 0.0


class RoomServer:
    """A local PartyKit-style room server.

    ::

        async with RoomServer() as server:          # 127.0.0.1, a free port
            url = f"{server.url}/parties/main/lobby?_pk=alice"
            ...
            await server.restart()                  # same port; clients see close code 1012

    ``rooms`` maps each room key (``"party/room"``) to the ids of its open
    connections and ``messages`` maps it to every message received, in order.

    ``hold_for`` (seconds, default 0: PartyKit's behaviour) keeps a connection id
    in its room for that long after it disconnects; messages broadcast meanwhile
    are held and delivered, in order, when a connection with the same id rejoins
    the room. It makes a restart lossless for clients that reconnect with the
    same id in time, including messages that were in flight while the server
    was closing. ``restart()`` keeps rooms; ``stop()`` forgets them.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        echo: bool = False,
        hold_for: float = 0.0,
        record_messages: bool = True,
    ) -> None:
        if hold_for < 0:
            raise ValueError(f"hold_for must be >= 0 seconds, got {hold_for!r}")
        self.host = host
        #: The port to listen on; after :meth:`start` the port actually bound (also for ``port=0``).
        self.port = port
        self.echo = echo
        self.hold_for = hold_for
        self.record_messages = record_messages
        #: Every message received, per room key, in arrival order (when ``record_messages``).
        self.messages: dict[str, list[Data]] = {}
        #: How many messages were held for members that were reconnecting.
        self.held_total = 0
        self._members: dict[str, dict[str, _Member]] = {}
        self._active: set[ServerConnection] = set()
        self._server: Server | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    # -- introspection -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://HOST:PORT`` of the server (append ``/parties/{party}/{room}``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    @property
    def rooms(self) -> dict[str, set[str]]:
        """Room key (``"party/room"``) to the ids of its open connections; empty rooms are left out."""
        rooms: dict[str, set[str]] = {}
        for key, members in self._members.items():
            ids = {member_id for member_id, member in members.items() if member.conn is not None}
            if ids:
                rooms[key] = ids
        return rooms

    def room_url(self, room: str, party: str = "main") -> str:
        """The WebSocket URL of a room (without ``_pk``)."""
        return f"{self.url}/parties/{party}/{room}"

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, checked after every connect, disconnect and message.

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()

        async def wait() -> None:
            while not predicate():
                future = loop.create_future()
                self._waiters.add(future)
                try:
                    await future
                finally:
                    self._waiters.discard(future)

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"the room server condition did not hold within {timeout:g} s") from None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start listening on ``host:port`` (``port`` is updated when it was 0)."""
        if self._server is not None:
            raise RuntimeError("the room server is already running; call stop() or restart()")
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("listening on %s/parties/{party}/{room}", self.url)

    async def stop(self) -> None:
        """Close every connection (code 1001), stop listening and forget the rooms."""
        await self._shutdown(1001, "going away")
        self._members.clear()
        self._notify()

    async def restart(self, downtime: float = 0.0) -> None:
        """Close every connection (code 1012), stop listening, and start again on the same port.

        ``downtime`` seconds pass in between, during which connecting fails.
        Rooms are kept (see ``hold_for``).
        """
        await self._shutdown(1012, "service restart")
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def drop_all(self, code: int | None = 1012, reason: str = "", timeout: float = 10.0) -> None:
        """Disconnect every client and keep listening.

        With ``code`` the connections are closed with a closing handshake; with
        ``None`` they are aborted (the clients see 1006). Returns once every
        dropped connection has left its room.
        """
        conns = list(self._active)
        if code is None:
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.abort()
        elif conns:
            await asyncio.gather(*(conn.close(code, reason) for conn in conns))
        await self.wait_until(lambda: self._active.isdisjoint(conns), timeout)

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _shutdown(self, code: int, reason: str) -> None:
        server = self._server
        if server is None:
            return
        self._server = None
        server.close(close_connections=False)  # stop accepting; late handshakes get 503
        while True:
            await asyncio.sleep(0)  # let the listener close before looking for connections
            conns = [conn for conn in self._active if conn.state is State.OPEN]
            if not conns:
                break
            await asyncio.gather(*(conn.close(code, reason) for conn in conns))
        await server.wait_closed()
        logger.info("stopped listening on %s", self.url)

    # -- connections -------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if parse_room_path(request.path) is None:
            logger.info("refused %s: not /parties/{party}/{room} (HTTP 404)", urlsplit(request.path).path)
            return conn.respond(HTTPStatus.NOT_FOUND, "Not Found: connect to /parties/{party}/{room}\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        target = parse_room_path(conn.request.path)
        assert target is not None  # checked in _process_request
        party, room, given_id = target
        key = f"{party}/{room}"
        conn_id = given_id or str(uuid.uuid4())
        self._join(key, conn_id, conn)
        try:
            async for message in conn:
                self._relay(key, conn_id, message)
        except ConnectionClosed:
            pass  # ended without a proper closing handshake; reported by _leave
        finally:
            self._leave(key, conn_id, conn)

    def _join(self, key: str, conn_id: str, conn: ServerConnection) -> None:
        members = self._members.setdefault(key, {})
        member = members.get(conn_id)
        delivered = 0
        if member is None:
            members[conn_id] = _Member(conn)
        else:
            if member.conn is None and self._expired(member, time.monotonic()):
                member.held.clear()
            member.conn = conn  # a second connection with the same id takes over
            delivered = len(member.held)
            for message in member.held:
                broadcast([conn], message)
            member.held.clear()
        self._active.add(conn)
        count = sum(1 for m in members.values() if m.conn is not None)
        extra = f", delivered {delivered} held messages" if delivered else ""
        logger.info("connect %s id=%s (%d in room%s)", key, conn_id, count, extra)
        self._notify()

    def _relay(self, key: str, sender_id: str, message: Data) -> None:
        if self.record_messages:
            self.messages.setdefault(key, []).append(message)
        members = self._members.get(key, {})
        now = time.monotonic()
        for member_id, member in list(members.items()):
            if member_id == sender_id and not self.echo:
                continue
            conn = member.conn
            if conn is not None and conn.state is State.OPEN:
                broadcast([conn], message)
            elif conn is None and self._expired(member, now):
                del members[member_id]
            elif self.hold_for > 0:
                member.held.append(message)
                self.held_total += 1
        self._notify()

    def _leave(self, key: str, conn_id: str, conn: ServerConnection) -> None:
        self._active.discard(conn)
        members = self._members.get(key)
        member = members.get(conn_id) if members is not None else None
        if members is not None and member is not None and member.conn is conn:
            if self.hold_for > 0:
                member.conn = None
                member.left_at = time.monotonic()
            else:
                del members[conn_id]
            if not members:
                del self._members[key]
        logger.info("disconnect %s id=%s (code %s)", key, conn_id, conn.close_code)
        self._notify()

    def _expired(self, member: _Member, now: float) -> bool:
        return now - member.left_at > self.hold_for

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)
