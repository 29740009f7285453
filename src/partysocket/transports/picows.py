"""An optional fast transport over `picows <https://github.com/tarasko/picows>`_ (Cython).

``pip install "partysocket[fast]"``, then::

    from partysocket.transports.picows import PicowsTransport
    ws = ReconnectingWebSocket(url, websocket=PicowsTransport())

Differences from the default transport: no ``permessage-deflate`` compression
(``compression`` is ignored and ``extensions`` is always ``""``), ``max_size``
limits each frame rather than each reassembled message, and ``proxy=True``
reads the usual ``*_proxy`` environment variables through :mod:`urllib.request`.
This is the only module that imports ``picows``.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

from picows import (
    WSError,
    WSFrame,
    WSHandshakeError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from ..exceptions import ConnectionLost, HandshakeError, HandshakeRejected, PartySocketError
from .base import ConnectionEnded, ConnectRequest

__all__ = ["PicowsTransport", "PicowsConnection"]

_USER_AGENT = "partysocket-python picows"
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_PONG = WSMsgType.PONG


class PicowsConnection(WSListener):
    """A :class:`~partysocket.transports.Connection` that is also picows' listener for it.

    Frames are reassembled into messages in :meth:`on_ws_frame` and handed to
    the socket's sink (:meth:`push_messages`), or queued for :meth:`recv` when
    used pull-style; :meth:`send` writes at once and waits only while the
    transport's write buffer is above its high-water mark.
    """

    def __init__(self, close_timeout: float) -> None:
        self._transport: WSTransport | None = None
        self._close_timeout = close_timeout
        self._inbox: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self._pongs: deque[asyncio.Future[None]] = deque()
        self._fragments: list[bytes] = []
        self._fragment_type = _BINARY
        self._ended: ConnectionEnded | None = None
        self._closed = asyncio.get_running_loop().create_future()
        self._sink: Callable[[str | bytes], None] | None = None
        self._on_end: Callable[[ConnectionEnded], None] | None = None
        self._holding = False
        self.subprotocol = ""
        self.extensions = ""

    # -- picows callbacks ------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        response = transport.response
        if response is not None:
            self.subprotocol = response.headers.get("Sec-WebSocket-Protocol", "") or ""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _BINARY or kind is _TEXT:
            if frame.fin:
                data: str | bytes = frame.get_payload_as_utf8_text() if kind is _TEXT else frame.get_payload_as_bytes()
                self._deliver(data)
            else:
                self._fragment_type = kind
                self._fragments = [frame.get_payload_as_bytes()]
        elif kind is _CONTINUATION:
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                whole = b"".join(self._fragments)
                self._fragments = []
                self._deliver(whole.decode("utf-8") if self._fragment_type is _TEXT else whole)
        elif kind is _CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind is _PONG and self._pongs:
            pong = self._pongs.popleft()
            if not pong.done():
                pong.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        handshake = transport.close_handshake
        received = handshake.recv if handshake is not None else None
        if received is not None:
            code = int(cast(Any, received.code))
            self._ended = ConnectionEnded(
                1005 if code == 0 else code, received.reason or "", handshake is not None and handshake.sent is not None
            )
        else:
            self._ended = ConnectionEnded(1006, "", False, ConnectionLost("the connection was lost"))
        for future in (self._waiter, self._writable, *self._pongs):
            if future is not None and not future.done():
                future.set_result(None)
        self._pongs.clear()
        if not self._closed.done():
            self._closed.set_result(None)
        if self._on_end is not None:
            asyncio.get_running_loop().call_soon(self._report_end)

    def _report_end(self) -> None:
        assert self._on_end is not None and self._ended is not None
        # Messages held back (the socket's recv() queue was full) were received: deliver them.
        inbox, sink = self._inbox, self._sink
        try:
            while inbox and sink is not None:
                sink(inbox.popleft())
        finally:
            self._on_end(self._ended)  # whatever a listener did, the end is reported

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _deliver(self, data: str | bytes) -> None:
        sink = self._sink
        if sink is not None and not self._holding and not self._inbox:
            sink(data)
            return
        self._inbox.append(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- Connection --------------------------------------------------------------

    @property
    def buffered_amount(self) -> int:
        transport = self._transport
        if transport is None or transport.is_disconnected:
            return 0
        return int(transport.underlying_transport.get_write_buffer_size())

    def write_nowait(self, messages: list[str | bytes]) -> bool:
        """Write ``messages`` now; False (nothing written) if the connection ended or its buffer is full."""
        transport = self._transport
        if self._ended is not None or self._writable is not None or transport is None or transport.is_close_frame_sent:
            return False
        underlying = transport.underlying_transport
        if underlying.is_closing():
            return False
        send = transport.send
        for message in messages:
            send(_TEXT if type(message) is str else _BINARY, message)
        # A write that fails at once (connection reset) closes the transport, which then
        # drops every later write silently: none of these went out, so they stay the socket's.
        return not underlying.is_closing()

    async def writable(self) -> bool:
        """Wait until :meth:`write_nowait` can write; False once it never will (closing or closed)."""
        while self._writable is not None and self._ended is None:
            await self._writable
        transport = self._transport
        return self._ended is None and transport is not None and not transport.is_close_frame_sent

    def push_messages(self, sink: Callable[[str | bytes], None], on_end: Callable[[ConnectionEnded], None]) -> None:
        """Deliver every message to ``sink`` as it arrives, then call ``on_end`` once with how the connection ended."""
        self._sink = sink
        self._on_end = on_end
        self._drain_inbox()
        if self._ended is not None:
            asyncio.get_running_loop().call_soon(self._report_end)

    def pause_reading(self) -> None:
        """Deliver nothing more, and stop reading from the network, until :meth:`resume_reading`."""
        self._holding = True
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        self._holding = False
        self._drain_inbox()
        transport = self._transport
        if not self._holding and transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()

    def _drain_inbox(self) -> None:
        inbox, sink = self._inbox, self._sink
        while inbox and sink is not None and not self._holding:
            sink(inbox.popleft())

    async def send(self, message: str | bytes) -> None:
        while self._writable is not None and self._ended is None:
            await self._writable
        if self._ended is not None:
            raise self._ended
        assert self._transport is not None
        self._transport.send(_TEXT if isinstance(message, str) else _BINARY, message)

    async def recv(self) -> str | bytes:
        while True:
            if self._inbox:
                return self._inbox.popleft()
            if self._ended is not None:
                raise self._ended
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def ping(self) -> Awaitable[object]:
        if self._ended is not None:
            raise self._ended
        assert self._transport is not None
        if self._transport.is_close_frame_sent:
            raise ConnectionEnded(1006, "", False)  # closing: no pong is coming, and none is needed
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        self._transport.send_ping()
        return pong

    async def close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None or self._closed.done():
            return
        if not transport.is_close_frame_sent:
            transport.send_close(cast(Any, code), reason.encode("utf-8"))
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), self._close_timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if not self._closed.done():
                transport.disconnect(graceful=False)

    def abort(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            transport.disconnect(graceful=False)


def _proxy_for(url: str, setting: str | bool | None) -> str | None:
    if isinstance(setting, str):
        return setting
    if not setting:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    scheme = "https" if parts.scheme == "wss" else "http"
    return proxies.get(scheme) or proxies.get("all") or None


def _translate(exc: BaseException, url: str) -> BaseException:
    if isinstance(exc, WSHandshakeError):
        response = exc.response
        if response is not None and int(response.status) != 101:
            return HandshakeRejected(
                int(response.status), dict(response.headers.items()), bytes(exc.raw_body or b"")[:512]
            )
        return HandshakeError(f"the WebSocket handshake failed: {exc}")
    if isinstance(exc, WSInvalidURL):
        return ValueError(f"invalid WebSocket URL: {exc}")
    if isinstance(exc, WSError):
        return PartySocketError(str(exc))
    return exc


class PicowsTransport:
    """Opens connections with ``picows.ws_connect``; its keep-alive is off (the socket pings)."""

    async def connect(self, request: ConnectRequest) -> PicowsConnection:
        secure = request.url[:4].lower() == "wss:"
        headers = [("User-Agent", _USER_AGENT), *request.headers]
        if request.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(request.subprotocols)))
        options: dict[str, Any] = {
            "websocket_handshake_timeout": None,
            "enable_auto_ping": False,
            "enable_auto_pong": True,
            "max_frame_size": request.max_size if request.max_size is not None else 2**62,
            "extra_headers": headers,
            "proxy": _proxy_for(request.url, request.proxy),
            **request.extra,
        }
        if secure:
            options["ssl_context"] = request.ssl if request.ssl is not None else _ssl.create_default_context()
        close_timeout = request.close_timeout
        try:
            _transport, listener = await ws_connect(lambda: PicowsConnection(close_timeout), request.url, **options)
        except (OSError, TimeoutError):
            raise
        except Exception as exc:
            translated = _translate(exc, request.url)
            if translated is exc:
                raise
            raise translated from exc
        conn = cast(PicowsConnection, listener)
        if request.subprotocols and conn.subprotocol and conn.subprotocol not in request.subprotocols:
            conn.abort()
            raise HandshakeError(f"the server chose a subprotocol that was not offered: {conn.subprotocol!r}")
        return conn
