"""The default transport: the ``websockets`` asyncio client.

This is the only module that imports ``websockets``; its exceptions are
translated here into :mod:`partysocket.exceptions` and built-ins.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidHeader,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.frames import DATA_OPCODES, CloseCode, Frame, Opcode
from websockets.protocol import Event, State
from websockets.version import version as websockets_version

from ..core.redact import redact_url
from ..exceptions import ConnectionLost, HandshakeError, HandshakeRejected, PartySocketError
from .base import ConnectionEnded, ConnectRequest

__all__ = ["WebsocketsTransport", "WebsocketsConnection"]

_USER_AGENT = f"partysocket-python websockets/{websockets_version}"


def translate_connect_error(exc: BaseException, url: str) -> BaseException:
    """Map an exception from ``websockets.connect`` to one of ours."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        return HandshakeRejected(
            response.status_code, dict(response.headers.raw_items()), bytes(response.body or b"")[:512]
        )
    if isinstance(exc, InvalidURI):
        return ValueError(f"invalid WebSocket URL {redact_url(url)!r}: {exc.msg}")
    if isinstance(exc, InvalidProxy):
        return ValueError(f"invalid proxy setting: {exc.msg}")
    if isinstance(exc, InvalidHeader):
        # The value is not shown: it may be a secret (a token in a header).
        return HandshakeError(f"the WebSocket handshake failed: invalid {exc.name} header")
    if isinstance(exc, InvalidHandshake):
        return HandshakeError(f"the WebSocket handshake failed: {exc}")
    if isinstance(exc, ConnectionClosed):
        return ConnectionLost(f"the connection closed during the handshake: {exc}")
    if isinstance(exc, WebSocketException):
        return PartySocketError(str(exc))
    return exc


def _ending(exc: ConnectionClosed) -> ConnectionEnded:
    """How a connection ended, from websockets' exception."""
    received = exc.rcvd
    if received is None:
        cause: BaseException = ConnectionLost(str(exc))
        cause.__cause__ = exc.__cause__ or exc
        return ConnectionEnded(1006, "", False, cause)
    return ConnectionEnded(received.code, received.reason, exc.sent is not None)


class _ClientConnection(ClientConnection):
    """``ClientConnection`` that enforces its close timeout on its own.

    Once the closing handshake is under way (for example after the client
    failed the connection on a protocol error from the server), websockets
    records a close deadline but only acts on it when the application sends or
    closes. A peer that then stays silent would keep the connection half-open
    forever; here a timer aborts it at the deadline.
    """

    _close_timer: asyncio.TimerHandle | None = None
    _sink: Callable[[str | bytes], None] | None = None
    _backlog: deque[str | bytes] | None = None  # messages not yet delivered (no sink yet, or paused)
    _holding = False
    _fragments: list[bytes] | None = None
    _fragments_text = False
    _on_lost: Callable[[ConnectionEnded], None] | None = None  # told how the connection ended

    def set_sink(self, sink: Callable[[str | bytes], None]) -> None:
        """Deliver every complete message to ``sink`` (first those that came before)."""
        self._sink = sink
        self._drain_backlog()

    def hold(self) -> None:
        """Stop delivering messages and reading from the network (back-pressure)."""
        self._holding = True
        if self.transport is not None:
            self.transport.pause_reading()

    def release(self) -> None:
        """Deliver what was held back, then read from the network again (unless held again)."""
        self._holding = False
        self._drain_backlog()
        if not self._holding and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _drain_backlog(self) -> None:
        backlog, sink = self._backlog, self._sink
        while backlog and sink is not None and not self._holding:
            sink(backlog.popleft())

    def _deliver(self, message: str | bytes) -> None:
        if self._sink is not None and not self._holding and not self._backlog:
            self._sink(message)
        elif self._backlog is None:
            self._backlog = deque((message,))
        else:
            self._backlog.append(message)

    def process_event(self, event: Event) -> None:
        # Data frames bypass websockets' receive queue: messages are pushed to the sink.
        if not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)
            return
        sink = self._deliver
        # Reassemble fragmented messages here (the protocol already bounds their total size).
        if event.opcode is Opcode.CONT:
            if self._fragments is None:
                return
            self._fragments.append(bytes(event.data))
            if not event.fin:
                return
            data, text, self._fragments = b"".join(self._fragments), self._fragments_text, None
        elif not event.fin:
            self._fragments, self._fragments_text = [bytes(event.data)], event.opcode is Opcode.TEXT
            return
        else:
            data, text = bytes(event.data), event.opcode is Opcode.TEXT
        if text:
            try:
                sink(data.decode())
            except UnicodeDecodeError as exc:
                self.set_connection_exc(exc)
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                self.send_data()
        else:
            sink(data)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.close_deadline is None and self.close_timeout is not None and self.protocol.close_expected():
            # process_event() failed the connection (invalid UTF-8) after websockets set its deadlines.
            self.close_deadline = self.loop.time() + self.close_timeout
        deadline = self.close_deadline
        if deadline is not None and self._close_timer is None and self.transport is not None:
            self._close_timer = self.loop.call_at(deadline, self._close_deadline_passed)

    def _close_deadline_passed(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.set_connection_exc(TimeoutError("the peer did not finish the closing handshake"))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        super().connection_lost(exc)
        if self._on_lost is not None:
            self.loop.call_soon(self._report_lost)

    def _report_lost(self) -> None:
        assert self._on_lost is not None
        # Messages held back (the socket's recv() queue was full) were received: deliver them.
        backlog, sink = self._backlog, self._sink
        try:
            while backlog and sink is not None:
                sink(backlog.popleft())
        finally:
            self._on_lost(_ending(self.close_exc))  # whatever a listener did, the end is reported


class WebsocketsConnection:
    """A :class:`~partysocket.transports.Connection` over a ``websockets`` client connection."""

    __slots__ = ("_queue", "_ws", "extensions", "subprotocol")

    def __init__(self, ws: _ClientConnection) -> None:
        self._ws = ws
        self._queue: asyncio.Queue[str | bytes] | None = None
        self.subprotocol: str = ws.subprotocol or ""
        header = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response is not None else None
        self.extensions: str = header or ""

    @property
    def buffered_amount(self) -> int:
        transport = self._ws.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    async def send(self, message: str | bytes) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise _ending(exc) from None

    def write_nowait(self, messages: list[str | bytes]) -> bool:
        """Frame and write ``messages`` at once (one system call), or write nothing and return False.

        Writes only while the connection is open and flow control is not
        holding writes back (the write buffer is below its high-water mark);
        :meth:`writable` waits for that. Once this returns True the messages
        are the transport's: they are never handed back.
        """
        ws = self._ws
        transport = ws.transport
        if ws.protocol.state is not State.OPEN or transport is None or transport.is_closing() or ws.paused:
            return False
        protocol = ws.protocol
        for message in messages:
            if isinstance(message, str):
                protocol.send_text(message.encode())
            else:
                protocol.send_binary(message)
        transport.write(b"".join(protocol.data_to_send()))
        # A write that fails at once (connection reset) closes the transport before any
        # byte of it went out: the messages were not written, so they are not the transport's.
        return not transport.is_closing()

    async def writable(self) -> bool:
        """Wait until :meth:`write_nowait` can write; False once it never will (closing or closed)."""
        ws = self._ws
        while True:
            transport = ws.transport
            if ws.protocol.state is not State.OPEN or transport is None or transport.is_closing():
                return False
            if not ws.paused:
                return True
            try:
                await ws.drain()
            except Exception:
                return False

    def push_messages(self, sink: Callable[[str | bytes], None], on_end: Callable[[ConnectionEnded], None]) -> None:
        """Deliver every message to ``sink`` as it arrives, then call ``on_end`` once with how the connection ended.

        Both are called from the event loop; no task waits in between, so an
        idle connection costs no task.
        """
        ws = self._ws
        ws._on_lost = on_end
        ws.set_sink(sink)
        if ws.connection_lost_waiter.done():  # lost before we asked
            ws.loop.call_soon(ws._report_lost)

    def pause_reading(self) -> None:
        """Deliver nothing more, and stop reading from the network, until :meth:`resume_reading`."""
        self._ws.hold()

    def resume_reading(self) -> None:
        self._ws.release()

    async def recv(self) -> str | bytes:
        """Pull-style receive, for users of the transport on its own (the socket uses push)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = asyncio.Queue()
            self._ws.set_sink(queue.put_nowait)
        if queue.empty() and self._ws.connection_lost_waiter.done():
            raise _ending(self._ws.close_exc)
        getter: asyncio.Future[str | bytes] = asyncio.ensure_future(queue.get())
        lost: asyncio.Future[None] = self._ws.connection_lost_waiter
        try:
            await asyncio.wait([getter, lost], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise _ending(self._ws.close_exc)

    async def ping(self) -> Awaitable[object]:
        if self._ws.protocol.state is not State.OPEN:
            # Closing already (the closing handshake is bounded by its own timeout): a ping
            # would only wait for the close and be mistaken for a dead connection.
            raise ConnectionEnded(1006, "", False)
        try:
            return await self._ws.ping()
        except ConnectionClosed as exc:
            raise _ending(exc) from None

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)

    def abort(self) -> None:
        transport = self._ws.transport
        if transport is not None:
            transport.abort()


class WebsocketsTransport:
    """Opens connections with ``websockets.asyncio.client.connect``.

    Keep-alive and timeouts are handled by the socket, so they are disabled in
    ``websockets``.
    """

    async def connect(self, request: ConnectRequest) -> WebsocketsConnection:
        secure = request.url[:4].lower() == "wss:"
        try:
            ws = await connect(
                request.url,
                subprotocols=list(request.subprotocols) or None,  # type: ignore[arg-type]
                additional_headers=list(request.headers) or None,
                compression=request.compression,
                max_size=request.max_size,
                proxy=request.proxy,  # type: ignore[arg-type]
                ssl=(request.ssl if request.ssl is not None else True) if secure else None,
                open_timeout=None,
                ping_interval=None,
                ping_timeout=None,
                close_timeout=request.close_timeout,
                user_agent_header=_USER_AGENT,
                create_connection=_ClientConnection,
                **request.extra,  # type: ignore[arg-type]
            )
        except (OSError, TimeoutError):
            raise
        except Exception as exc:
            translated = translate_connect_error(exc, request.url)
            if translated is exc:
                raise
            if isinstance(exc, InvalidHeader):
                raise translated from None  # its text holds the header's value
            raise translated from exc
        assert isinstance(ws, _ClientConnection)
        return WebsocketsConnection(ws)
