"""A real ``websockets`` server for behaviour tests, with fault switches.

It listens on 127.0.0.1, can be stopped and started again on the same port,
refuse handshakes with an HTTP status, hang handshakes (TCP accepted, never
answered), drop or close every connection, and records what it saw: the
time of every handshake attempt, the query of every connection, and every
message received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

#: One scale for every wait in the tests; raise it on a slow machine.
TIMEOUT = 10.0

Handler = Callable[[ServerConnection], Awaitable[None]]


async def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds (short ticks), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class TestServer:
    """A controllable WebSocket server. Use ``async with TestServer() as server``."""

    __test__ = False  # not a test class

    def __init__(self, *, echo: bool = True, subprotocols: list[str] | None = None) -> None:
        self.echo = echo
        self.subprotocols = subprotocols
        self.port = 0
        self._server: Server | None = None
        self._status: int | None = None
        self._hang = asyncio.Event()
        self._hanging = False
        self._hung: set[asyncio.Future[None]] = set()
        #: monotonic time of every handshake request received (also refused and hung ones)
        self.handshakes: list[float] = []
        #: request paths (with query) of every handshake request
        self.paths: list[str] = []
        #: request headers of every handshake request
        self.request_headers: list[Headers] = []
        self.connections: set[ServerConnection] = set()
        self.opened = 0
        self.received: list[str | bytes] = []
        self.on_connect: Callable[[ServerConnection], Awaitable[None]] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._process_request,
            subprotocols=self.subprotocols,  # type: ignore[arg-type]
            open_timeout=None,
            ping_interval=None,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort every connection and hung handshake."""
        for future in self._hung:
            future.cancel()
        server = self._server
        self._server = None
        if server is None:
            return
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        server.close(close_connections=False)
        await server.wait_closed()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def refuse(self, status: int) -> None:
        """Answer every handshake with HTTP ``status`` until :meth:`accept`."""
        self._status = status
        self._hanging = False

    def hang(self) -> None:
        """Accept TCP, read the handshake and never answer, until :meth:`accept`."""
        self._hanging = True
        self._status = None

    def accept(self) -> None:
        self._status = None
        self._hanging = False

    def drop_all(self) -> None:
        """Abort every open connection (the client sees 1006)."""
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()

    async def close_all(self, code: int = 1000, reason: str = "") -> None:
        """Close every open connection with a closing handshake."""
        await asyncio.gather(*(conn.close(code, reason) for conn in list(self.connections)))

    def query(self, index: int = -1) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.paths[index]).query)

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(time.monotonic())
        self.paths.append(request.path)
        self.request_headers.append(request.headers)
        if self._hanging:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._hung.add(future)
            try:
                await future
            finally:
                self._hung.discard(future)
        if self._status is not None:
            status = HTTPStatus(self._status)
            return conn.respond(status, f"{status.phrase}\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        self.opened += 1
        try:
            if self.on_connect is not None:
                await self.on_connect(conn)
            async for message in conn:
                self.received.append(message)
                if self.echo:
                    await conn.send(message)
        except Exception:
            pass
        finally:
            self.connections.discard(conn)


async def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound and released)."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port
