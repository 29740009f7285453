"""A PartyKit-style room server on ``websockets``: rooms, connection ids, broadcast, HTTP, faults.

Clients connect to ``ws://HOST:PORT/parties/{party}/{room}`` (``prefix``
replaces ``parties``; anything after the room, such as
``/parties/main/lobby/sub``, reaches the same room; any other path is refused
with HTTP 404). The connection id is the ``_pk`` query parameter, as
``PartySocket`` sends it, or a fresh uuid4 when there is none. Every message a
connection sends is relayed to the *other* connections of its room (and back to
the sender too with ``echo=True``).

A plain HTTP request (not a WebSocket upgrade) to a room URL, such as the one
``PartySocket.fetch`` sends, is answered with JSON describing the room and the
request: ``{"room", "party", "connections", "method", "path", "query", "body"}``.
Request bodies are read when they have a ``Content-Length`` (up to 1 MiB);
chunked bodies are answered with HTTP 411.

Faults, for demos and tests (each logged): :meth:`RoomServer.drop_all` and
``drop_every``, :meth:`~RoomServer.refuse`, :meth:`~RoomServer.delay_handshakes`,
:meth:`~RoomServer.hang_handshakes`, :meth:`~RoomServer.blackhole`,
:meth:`~RoomServer.restart`; :meth:`~RoomServer.resume` ends them.

It is a development and test server: everything lives in memory, and it must be
used from the event loop that started it (see :mod:`partysocket.testing` for a
thread-safe wrapper).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Union
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

__all__ = ["RoomServer", "parse_room_path"]

logger = logging.getLogger("partysocket.server")

Data = Union[str, bytes]

MAX_HEAD = 64 * 1024  # bytes of an HTTP request head
MAX_BODY = 2**20  # bytes of an HTTP request body


def parse_room_path(path: str, prefix: str = "parties") -> tuple[str, str, str | None] | None:
    """``(party, room, id)`` for a request path ``/{prefix}/{party}/{room}[/...][?_pk=id]``, else ``None``.

    ``prefix`` may have several segments (``"api/parties"``). Names are
    percent-decoded; ``id`` is ``None`` when ``_pk`` is missing or empty.
    """
    parts = urlsplit(path)
    segments = parts.path.split("/")
    head = prefix.strip("/").split("/")
    if len(segments) < len(head) + 3 or segments[0] or segments[1 : len(head) + 1] != head:
        return None
    party, room = unquote(segments[len(head) + 1]), unquote(segments[len(head) + 2])
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


class _RoomConnection(ServerConnection):
    """A ``websockets`` server connection that can also answer plain HTTP and be frozen.

    Until the request head is complete, bytes are kept here. A WebSocket
    upgrade is then handed to ``websockets`` unchanged; any other request is
    read (head and body) and answered by the room server. While *frozen*
    (:meth:`RoomServer.blackhole`) nothing passes either way: incoming bytes,
    outgoing bytes, end of stream and connection loss are kept and replayed on
    :meth:`thaw`, as TCP would after a network outage.
    """

    owner: RoomServer  # set on the per-server subclass

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._head = bytearray()
        self._mode = "head"  # then "ws" or "http"
        self._http: tuple[str, str, Headers, int] | None = None
        self.frozen = self.owner.blackholed
        self._held_in: list[bytes] = []
        self._held_out: list[bytes] = []
        self._held_eof = False
        self._held_lost: tuple[Exception | None] | None = None
        self.owner._conns.add(self)
        super().connection_made(transport)

    # -- freezing ----------------------------------------------------------------

    def thaw(self) -> None:
        """Let everything kept while frozen through, in order."""
        if not self.frozen:
            return
        self.frozen = False
        held_out, self._held_out = self._held_out, []
        for data in held_out:
            self._write(data)
        held_in, self._held_in = self._held_in, []
        for data in held_in:
            self.data_received(data)
        if self._held_eof:
            self._held_eof = False
            self.eof_received()
        if self._held_lost is not None:
            (exc,) = self._held_lost
            self._held_lost = None
            self.connection_lost(exc)

    def send_data(self) -> None:
        if not self.frozen:
            super().send_data()
            return
        self._held_out.extend(self.protocol.data_to_send())

    def _write(self, data: bytes) -> None:
        if data:
            self.transport.write(data)
        elif self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except Exception:  # pragma: no cover - as websockets does
                pass

    def eof_received(self) -> None:
        if self.frozen:
            self._held_eof = True
            return
        if self._mode == "ws":
            super().eof_received()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.frozen:
            self._held_lost = (exc,)
            return
        self.owner._conns.discard(self)
        super().connection_lost(exc)
        self.owner._notify()

    # -- request head ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.frozen:
            self._held_in.append(data)
            return
        if self._mode == "ws":
            super().data_received(data)
            return
        self._head += data
        if self._mode == "head":
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > MAX_HEAD:
                    too_large = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    self._answer(_json_response(too_large, {"error": "request head too large"}))
                return
            head = bytes(self._head[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            headers = Headers()
            for line in header_lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip()] = value.strip()
            if "websocket" in headers.get("Upgrade", "").lower():
                self._mode = "ws"
                buffered, self._head = bytes(self._head), bytearray()
                super().data_received(buffered)
                return
            self._mode = "http"
            del self._head[: end + 4]
            method, _, rest = request_line.partition(" ")
            target = rest.rpartition(" ")[0] or rest
            if "chunked" in headers.get("Transfer-Encoding", "").lower():
                self._answer(_json_response(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length body"}))
                return
            try:
                length = int(headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(_json_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "bad body length"}))
                return
            self._http = (method, target, headers, length)
        if self._http is not None and len(self._head) >= self._http[3]:
            method, target, headers, length = self._http
            self._http = None
            body = bytes(self._head[:length])
            self.owner._spawn(self.owner._answer_http(self, method, target, body))

    def _answer(self, response: Response) -> None:
        """Answer a plain HTTP request and close the TCP connection."""
        self._mode = "done"
        if not self.transport.is_closing():
            self.transport.write(response.serialize())
            self.transport.close()


def _json_response(status: HTTPStatus, payload: object) -> Response:
    body = json.dumps(payload).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


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

    Fault options: ``drop_every`` (seconds: drop every connection that often,
    aborting them, or closing them with ``drop_code``), ``refuse_status`` and
    ``refuse_for`` (answer handshakes with that HTTP status, for that many
    seconds after :meth:`start` or for ever), ``delay_handshake`` (seconds).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        echo: bool = False,
        hold_for: float = 0.0,
        record_messages: bool = True,
        prefix: str = "parties",
        drop_every: float | None = None,
        drop_code: int | None = None,
        refuse_status: int | None = None,
        refuse_for: float | None = None,
        delay_handshake: float = 0.0,
        close_timeout: float = 2.0,
    ) -> None:
        for name, value in (("hold_for", hold_for), ("delay_handshake", delay_handshake)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
        for name, option in (("drop_every", drop_every), ("refuse_for", refuse_for)):
            if option is not None and option <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {option!r}")
        if not prefix.strip("/") or any(not part for part in prefix.strip("/").split("/")):
            raise ValueError(f"prefix must be a non-empty path such as 'parties', got {prefix!r}")
        if refuse_for is not None and refuse_status is None:
            refuse_status = HTTPStatus.SERVICE_UNAVAILABLE
        if refuse_status is not None:
            _check_status(refuse_status)
        self.host = host
        #: The port to listen on; after :meth:`start` the port actually bound (also for ``port=0``).
        self.port = port
        self.echo = echo
        self.hold_for = hold_for
        self.record_messages = record_messages
        self.prefix = prefix.strip("/")
        self.drop_every = drop_every
        self.drop_code = drop_code
        self.close_timeout = close_timeout
        #: Every message received, per room key, in arrival order (when ``record_messages``).
        self.messages: dict[str, list[Data]] = {}
        #: Every WebSocket handshake request received (also refused ones): its path and headers.
        self.handshakes: list[Request] = []
        #: How many messages were held for members that were reconnecting.
        self.held_total = 0
        self._members: dict[str, dict[str, _Member]] = {}
        self._active: set[ServerConnection] = set()  # connections in a room
        self._closing: set[ServerConnection] = set()  # the server started closing them
        self._conns: set[_RoomConnection] = set()  # every TCP connection
        self._server: Server | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        #: Callables run (on the server's loop) after every connect, disconnect and message.
        self.watchers: list[Callable[[], object]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restarting: asyncio.Task[Any] | None = None  # restart(wait=False) waiting out its downtime
        self._dropper: asyncio.Task[None] | None = None
        self._refuse_status: int | None = refuse_status
        self._refuse_for = refuse_for
        self._refuse_until: float | None = None
        self._delay = delay_handshake
        self._hanging = False
        self._resume: asyncio.Future[None] | None = None  # resolved by resume() and shutdowns
        self.blackholed = False
        self._started_before = False

        class _Connection(_RoomConnection):
            pass

        _Connection.owner = self
        self._connection_class = _Connection

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
        """Room key (``"party/room"``) to the ids of its open connections; empty rooms are left out.

        A connection the server has started to close (``drop_all``,
        ``restart``) is no longer counted.
        """
        rooms: dict[str, set[str]] = {}
        for key, members in self._members.items():
            ids = {
                member_id
                for member_id, member in members.items()
                if member.conn is not None and member.conn.state is State.OPEN and member.conn not in self._closing
            }
            if ids:
                rooms[key] = ids
        return rooms

    def room_url(self, room: str, party: str = "main") -> str:
        """The WebSocket URL of a room (without ``_pk``)."""
        return f"{self.url}/{self.prefix}/{party}/{room}"

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
            create_connection=self._connection_class,
            select_subprotocol=_first_offered,
            open_timeout=None,
            close_timeout=self.close_timeout,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self._started_before:  # the first time, whoever started the server says where it listens
            logger.info("listening again on %s", self.room_url("{room}", "{party}"))
        self._started_before = True
        if self._refuse_for is not None and self._refuse_until is None:
            self._refuse_until = asyncio.get_running_loop().time() + self._refuse_for
        if self.drop_every is not None:
            self._dropper = asyncio.create_task(self._drop_periodically(self.drop_every))

    async def stop(self) -> None:
        """Close every connection (code 1001), stop listening and forget the rooms."""
        await self._cancel_restart()  # a restart(wait=False) still in its downtime never comes back
        await self._shutdown(1001, "going away")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._members.clear()
        self._notify()

    async def restart(self, downtime: float = 0.0, *, wait: bool = True) -> None:
        """Close every connection (code 1012), stop listening, and start again on the same port.

        ``downtime`` seconds pass in between, during which connecting fails.
        Rooms are kept (see ``hold_for``). With ``wait=False`` nothing that
        depends on the clients is awaited (they may run on a loop that is
        blocked meanwhile): the closing handshakes finish in the background,
        and so does the downtime: this returns once listening has stopped, and
        the server listens again ``downtime`` seconds later.
        """
        await self._cancel_restart()
        await self._shutdown(1012, "service restart", wait=wait)
        if downtime > 0 and not wait:
            self._restarting = self._spawn(self._start_after(downtime))
            return
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.start()

    async def _start_after(self, downtime: float) -> None:
        try:
            await asyncio.sleep(downtime)
            await self.start()
        finally:
            self._restarting = None

    async def _cancel_restart(self) -> None:
        """Stop a restart(wait=False) that is still in its downtime (or starting)."""
        restarting = self._restarting
        if restarting is None:
            return
        restarting.cancel()
        await asyncio.gather(restarting, return_exceptions=True)
        # Cancelled after start() began listening: that listening stops with the caller's shutdown.

    async def drop_all(
        self, code: int | None = 1012, reason: str = "", timeout: float = 10.0, *, wait: bool = True
    ) -> None:
        """Disconnect every client and keep listening.

        With ``code`` the connections are closed with a closing handshake; with
        ``None`` they are aborted (the clients see 1006). Returns once every
        dropped connection has left its room (with ``wait=False``, as soon as
        the closes are under way: :attr:`rooms` no longer counts them).
        """
        self._thaw_all()
        conns = list(self._active)
        how = "aborted" if code is None else f"closed with code {code}"
        logger.info("dropping %d connection%s (%s)", len(conns), "" if len(conns) == 1 else "s", how)
        if code is None:
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.abort()
        elif conns:
            closes = self._close(conns, code, reason)
            if wait:
                await asyncio.gather(*closes)
        if wait or code is None:
            await self.wait_until(lambda: self._active.isdisjoint(conns), timeout)

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _shutdown(self, code: int, reason: str, *, wait: bool = True) -> None:
        server = self._server
        if server is None:
            return
        self._server = None
        dropper, self._dropper = self._dropper, None
        if dropper is not None:
            dropper.cancel()
            await asyncio.gather(dropper, return_exceptions=True)
        self._thaw_all()
        self._wake_hung()
        server.close(close_connections=False)  # stop accepting; late handshakes get 503
        while True:
            await asyncio.sleep(0)  # let the listener close before looking for connections
            conns = [conn for conn in self._active if conn.state is State.OPEN and conn not in self._closing]
            if not conns:
                break
            closes = self._close(conns, code, reason)
            if wait:
                await asyncio.gather(*closes)
        if wait:
            await server.wait_closed()
        else:
            self._spawn(server.wait_closed())
        logger.info("stopped listening on %s", self.url)

    def _close(self, conns: list[ServerConnection], code: int, reason: str) -> list[asyncio.Task[Any]]:
        """Start closing ``conns``; from now on :attr:`rooms` does not count them."""
        self._closing.update(conns)
        return [self._spawn(conn.close(code, reason)) for conn in conns]

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task owned by the server: awaited by :meth:`stop`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drop_periodically(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.drop_all(self.drop_code, "dropped" if self.drop_code is not None else "", wait=False)

    # -- faults --------------------------------------------------------------------

    def refuse(self, status: int = HTTPStatus.SERVICE_UNAVAILABLE, duration: float | None = None) -> None:
        """Answer every handshake (and HTTP request) with HTTP ``status``, for ``duration`` s or until resume()."""
        _check_status(status)
        self._refuse_status = status
        self._refuse_until = None if duration is None else asyncio.get_running_loop().time() + duration
        logger.info("refusing handshakes with HTTP %d%s", status, "" if duration is None else f" for {duration:g} s")

    def delay_handshakes(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each handshake (0 to stop)."""
        if seconds < 0:
            raise ValueError(f"the handshake delay must be >= 0 seconds, got {seconds!r}")
        self._delay = seconds
        logger.info("delaying handshakes by %g s", seconds)

    def hang_handshakes(self) -> None:
        """Accept TCP connections and read handshakes but answer none until :meth:`resume`."""
        self._hanging = True
        logger.info("hanging handshakes")

    def blackhole(self) -> None:
        """Keep every TCP connection open but let nothing through either way, until :meth:`resume`.

        Open connections go silent (their messages, pings and closes are kept,
        and delivered on resume, as TCP would after an outage); new
        connections are accepted and never answered. Clients find out only
        through their own timeouts (keep-alive pings, ``connection_timeout``).
        """
        self.blackholed = True
        for conn in self._conns:
            conn.frozen = True
        logger.info("blackhole: %d connection%s frozen", len(self._conns), "" if len(self._conns) == 1 else "s")

    def resume(self) -> None:
        """End every fault: refusing, delaying and hanging handshakes, and the blackhole."""
        self._refuse_status = None
        self._refuse_until = None
        self._refuse_for = None
        self._delay = 0.0
        self._hanging = False
        self._wake_hung()
        self._thaw_all()
        logger.info("resumed: no faults")

    def _refusing(self) -> int | None:
        if self._refuse_status is None:
            return None
        if self._refuse_until is not None and asyncio.get_running_loop().time() >= self._refuse_until:
            self._refuse_status = self._refuse_until = None
            return None
        return self._refuse_status

    def _resumed(self) -> asyncio.Future[None]:
        """A future resolved at the next resume() or shutdown."""
        if self._resume is None:
            self._resume = asyncio.get_running_loop().create_future()
        return self._resume

    def _wake_hung(self) -> None:
        resume, self._resume = self._resume, None
        if resume is not None and not resume.done():
            resume.set_result(None)

    def _thaw_all(self) -> None:
        self.blackholed = False
        for conn in list(self._conns):
            conn.thaw()

    async def _admit(self, path: str, kind: str) -> tuple[HTTPStatus, str] | None:
        """Apply the handshake faults and the routing; a refusal ``(status, message)`` or ``None``."""
        shown = urlsplit(path).path
        if self._delay > 0:
            logger.info("delaying %s %s by %g s", kind, shown, self._delay)
            try:  # resume() and stop() cut the delay short
                await asyncio.wait_for(asyncio.shield(self._resumed()), self._delay)
            except asyncio.TimeoutError:
                pass
        if self._hanging and self.running:
            logger.info("hanging %s %s", kind, shown)
            while self._hanging and self.running:
                await asyncio.shield(self._resumed())
        if not self.running:
            return HTTPStatus.SERVICE_UNAVAILABLE, "the room server is shutting down"
        status = self._refusing()
        if status is not None:
            logger.info("refused %s %s (HTTP %d)", kind, shown, status)
            return HTTPStatus(status), "refused by the room server (fault injection)"
        if parse_room_path(path, self.prefix) is None:
            logger.info("refused %s %s: not /%s/{party}/{room} (HTTP 404)", kind, shown, self.prefix)
            return HTTPStatus.NOT_FOUND, f"Not Found: use /{self.prefix}/{{party}}/{{room}}"
        return None

    # -- connections -------------------------------------------------------------

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request)
        refusal = await self._admit(request.path, "handshake")
        if refusal is None:
            return None
        status, message = refusal
        return conn.respond(status, message + "\n")

    async def _answer_http(self, conn: _RoomConnection, method: str, target: str, body: bytes) -> None:
        refusal = await self._admit(target, f"HTTP {method}")
        if refusal is not None:
            status, message = refusal
            conn._answer(_json_response(status, {"error": message}))
            return
        parsed = parse_room_path(target, self.prefix)
        assert parsed is not None
        party, room, _ = parsed
        key = f"{party}/{room}"
        payload = {
            "room": room,
            "party": party,
            "connections": sorted(self.rooms.get(key, ())),
            "method": method,
            "path": urlsplit(target).path,
            "query": dict(parse_qsl(urlsplit(target).query, keep_blank_values=True)),
            "body": body.decode("utf-8", errors="replace"),
        }
        logger.info("http %s %s (HTTP 200)", method, key)
        conn._answer(_json_response(HTTPStatus.OK, payload))

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        target = parse_room_path(conn.request.path, self.prefix)
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
        extra = f", delivered {delivered} held message{'' if delivered == 1 else 's'}" if delivered else ""
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
        self._closing.discard(conn)
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
        for watcher in self.watchers:
            watcher()


def _first_offered(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """Accept the client's first subprotocol, whatever it is (a development server is not picky)."""
    return offered[0] if offered else None


def _check_status(status: int) -> None:
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"the refusal status must be an HTTP error status (400-599), got {status!r}")
