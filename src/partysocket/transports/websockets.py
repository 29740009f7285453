"""The default transport: the ``websockets`` asyncio client.

This is the only module that imports ``websockets``; its exceptions are
translated here into :mod:`partysocket.exceptions` and built-ins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.protocol import State
from websockets.version import version as websockets_version

from ..core.redact import redact_url
from ..exceptions import ConnectionLost, HandshakeError, HandshakeRejected, PartySocketError
from .base import ConnectionEnded, ConnectRequest

__all__ = ["WebsocketsTransport", "WebsocketsConnection"]

#: write_nowait() declines once this many bytes wait in the write buffer (websockets' default write limit).
_NOWAIT_LIMIT = 2**15

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
    if isinstance(exc, InvalidHandshake):
        return HandshakeError(f"the WebSocket handshake failed: {exc}")
    if isinstance(exc, ConnectionClosed):
        return ConnectionLost(f"the connection closed during the handshake: {exc}")
    if isinstance(exc, WebSocketException):
        return PartySocketError(str(exc))
    return exc


class _ClientConnection(ClientConnection):
    """``ClientConnection`` that enforces its close timeout on its own.

    Once the closing handshake is under way (for example after the client
    failed the connection on a protocol error from the server), websockets
    records a close deadline but only acts on it when the application sends or
    closes. A peer that then stays silent would keep the connection half-open
    forever; here a timer aborts it at the deadline.
    """

    _close_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
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


class WebsocketsConnection:
    """A :class:`~partysocket.transports.Connection` over a ``websockets`` client connection."""

    __slots__ = ("_ws", "subprotocol", "extensions")

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.subprotocol: str = ws.subprotocol or ""
        header = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response is not None else None
        self.extensions: str = header or ""

    @property
    def buffered_amount(self) -> int:
        transport = self._ws.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def _ended(self, exc: ConnectionClosed) -> ConnectionEnded:
        received = exc.rcvd
        if received is None:
            cause: BaseException = ConnectionLost(str(exc))
            cause.__cause__ = exc.__cause__ or exc
            return ConnectionEnded(1006, "", False, cause)
        return ConnectionEnded(received.code, received.reason, exc.sent is not None)

    async def send(self, message: str | bytes) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise self._ended(exc) from None

    def write_nowait(self, messages: list[str | bytes]) -> bool:
        """Frame and write ``messages`` at once (one system call) if nothing stands in the way.

        Only while the connection is open and its write buffer is below the
        flow-control mark, so no drain is needed; otherwise it writes nothing
        and returns False, and the messages take the awaited path.
        """
        ws = self._ws
        transport = ws.transport
        if (
            ws.protocol.state is not State.OPEN
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() >= _NOWAIT_LIMIT
        ):
            return False
        protocol = ws.protocol
        for message in messages:
            if isinstance(message, str):
                protocol.send_text(message.encode())
            else:
                protocol.send_binary(message)
        transport.write(b"".join(protocol.data_to_send()))
        return True

    async def send_batch(self, messages: list[str | bytes]) -> None:
        """Write several messages with one system call (text for ``str``, binary for ``bytes``).

        Frames them with the sans-I/O protocol inside the connection's send
        context, as ``ClientConnection.send`` does for one message.
        """
        ws = self._ws
        try:
            async with ws.send_context():
                protocol = ws.protocol
                for message in messages:
                    if isinstance(message, str):
                        protocol.send_text(message.encode())
                    else:
                        protocol.send_binary(message)
                chunks = protocol.data_to_send()
                data = b"".join(chunks)
                if data:
                    ws.transport.write(data)  # one write for the whole batch
                if len(data) == 0 or not all(chunks):  # an end-of-stream marker: let websockets handle it
                    for chunk in chunks:
                        if not chunk and ws.transport.can_write_eof():
                            ws.transport.write_eof()
        except ConnectionClosed as exc:
            raise self._ended(exc) from None

    async def recv(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise self._ended(exc) from None

    async def ping(self) -> Awaitable[object]:
        try:
            return await self._ws.ping()
        except ConnectionClosed as exc:
            raise self._ended(exc) from None

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
            raise translated from exc
        return WebsocketsConnection(ws)
