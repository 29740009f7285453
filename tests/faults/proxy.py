"""A fault-injecting TCP proxy for the reliability tests (asyncio, 127.0.0.1 only).

It sits between a client and a server (``FaultProxy(target_port)``), forwards
bytes both ways, and injects the faults a real network produces:

* :meth:`FaultProxy.blackhole`: both directions are read and thrown away while
  every TCP connection stays open (a half-open connection: writes succeed,
  nothing arrives). New connections are accepted and blackholed too, so a
  handshake through the proxy stalls.
* :meth:`FaultProxy.stall`: the proxy stops reading in both directions; the
  TCP windows fill up and the peers' writes eventually block.
* :attr:`FaultProxy.latency`: every chunk is delayed by this many seconds.
* :meth:`FaultProxy.drip`: at most ``size`` bytes are forwarded every
  ``interval`` seconds.
* :meth:`FaultProxy.cut_mid_frame`: the next WebSocket frame longer than ``n``
  bytes in a direction is forwarded up to its ``n``-th byte, then both sides
  of that connection are closed (the proxy follows frame boundaries after the
  HTTP handshake).
* :meth:`FaultProxy.reset`: every connection is reset (``SO_LINGER`` 0, then
  ``transport.abort()``: an RST, no FIN).
* :meth:`FaultProxy.refuse`: the proxy stops listening, so new connections are
  refused (``ECONNREFUSED``); :meth:`FaultProxy.accept` listens again on the
  same port.

When one side of a connection closes, the proxy closes the other side (it is a
proxy, not a network: it does not keep a dead peer's half alive). Every task
the proxy starts ends in :meth:`FaultProxy.stop`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["FaultProxy", "FrameScanner", "TO_CLIENT", "TO_SERVER"]

TO_CLIENT = "to_client"
TO_SERVER = "to_server"
HOST = "127.0.0.1"
CHUNK = 65536


class FrameScanner:
    """Follows WebSocket frame boundaries in one direction of a byte stream.

    The stream starts with an HTTP message (request or response) ending with an
    empty line; frames follow. :meth:`feed` returns ``(start, length)`` for
    every frame whose header completed in the chunk: ``start`` is the absolute
    stream offset of the frame's first byte and ``length`` its total size
    (header, mask key and payload).
    """

    def __init__(self) -> None:
        self.offset = 0  # absolute offset of the next byte fed
        self._http = True
        self._tail = b""
        self._head = bytearray()
        self._head_start = 0
        self._skip = 0

    @staticmethod
    def _header_size(head: bytearray) -> int | None:
        if len(head) < 2:
            return None
        length = head[1] & 0x7F
        extended = 2 if length == 126 else 8 if length == 127 else 0
        return 2 + extended + (4 if head[1] & 0x80 else 0)

    @staticmethod
    def _payload_size(head: bytearray) -> int:
        length = head[1] & 0x7F
        if length == 126:
            return int(struct.unpack("!H", bytes(head[2:4]))[0])
        if length == 127:
            return int(struct.unpack("!Q", bytes(head[2:10]))[0])
        return length

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        frames: list[tuple[int, int]] = []
        i, n = 0, len(data)
        while i < n:
            if self._http:
                buffer = self._tail + data[i:]
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    self._tail = buffer[-3:]
                    break
                i += end + 4 - len(self._tail)
                self._tail = b""
                self._http = False
                continue
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            if not self._head:
                self._head_start = self.offset + i
            self._head.append(data[i])
            i += 1
            size = self._header_size(self._head)
            if size is not None and len(self._head) == size:
                payload = self._payload_size(self._head)
                frames.append((self._head_start, size + payload))
                self._skip = payload
                self._head.clear()
        self.offset += n
        return frames


@dataclass
class _Cut:
    """Close the connection after ``keep`` bytes of the next frame longer than that."""

    keep: int
    at: int | None = None  # absolute stream offset where the cut happens, once known


@dataclass(eq=False)
class _Pipe:
    """One proxied connection: the client's and the server's streams and the two pumps."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False
    sent: dict[str, int] = field(default_factory=lambda: {TO_CLIENT: 0, TO_SERVER: 0})


def _abort(writer: asyncio.StreamWriter, *, rst: bool) -> None:
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``127.0.0.1:target_port``. ``async with FaultProxy(port)``."""

    __test__ = False

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.latency = 0.0
        self.connections = 0  # connections accepted so far
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._blackholed = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._drip: tuple[int, float] | None = None
        self._cuts: dict[str, _Cut] = {}
        #: set when a connection is cut, reset or closed by the proxy
        self.cut_done = asyncio.Event()

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- listening -------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # Python >= 3.12 waits for the connections too; ours are ended separately.
            if not self._pipes:
                await server.wait_closed()

    async def stop(self) -> None:
        """Stop listening, reset every connection and end every task."""
        self.heal()  # wakes stalled pumps so that they see their pipe closed
        await self._stop_listening()
        for pipe in list(self._pipes):
            self._end(pipe, rst=True)
        handlers = list(self._handlers)
        if handlers:
            # reset pipes end their pumps by themselves; cancelling is the bounded fallback
            # (asyncio logs an error for a cancelled client_connected_cb task)
            _, pending = await asyncio.wait(handlers, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    # -- faults ----------------------------------------------------------------

    def blackhole(self) -> None:
        """Throw away every byte both ways; connections (and new ones) stay open."""
        self._blackholed = True

    def stall(self) -> None:
        """Stop reading both ways: the peers' TCP windows fill and their writes block."""
        self._flowing.clear()

    def heal(self) -> None:
        """Undo :meth:`blackhole`, :meth:`stall`, :meth:`drip` and the latency."""
        self._blackholed = False
        self._drip = None
        self.latency = 0.0
        self._flowing.set()

    def drip(self, size: int, interval: float) -> None:
        """Forward at most ``size`` bytes every ``interval`` seconds, both ways."""
        self._drip = (size, interval)

    def cut_mid_frame(self, keep: int, direction: str = TO_CLIENT) -> None:
        """Cut the connection after ``keep`` bytes of the next frame (longer than ``keep``) sent ``direction``."""
        assert direction in (TO_CLIENT, TO_SERVER)
        assert keep >= 1
        self.cut_done.clear()
        self._cuts[direction] = _Cut(keep)

    def reset(self) -> None:
        """Reset every open connection (RST both ways)."""
        for pipe in list(self._pipes):
            self._end(pipe, rst=True)

    async def refuse(self) -> None:
        """Stop listening: new connections get ECONNREFUSED. Open ones are left alone."""
        await self._stop_listening()

    async def accept(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            await self.start()

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    # -- forwarding ------------------------------------------------------------

    def _end(self, pipe: _Pipe, *, rst: bool) -> None:
        if pipe.closed:
            return
        pipe.closed = True
        self._pipes.discard(pipe)
        _abort(pipe.client, rst=rst)
        if pipe.server is not None:
            _abort(pipe.server, rst=rst)
        self.cut_done.set()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        pipe = _Pipe(client_writer)
        self._pipes.add(pipe)
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(HOST, self.target_port)
            except OSError:
                self._end(pipe, rst=True)
                return
            pipe.server = server_writer
            if pipe.closed:  # reset while connecting
                _abort(server_writer, rst=True)
                return
            await asyncio.gather(
                self._pump(pipe, client_reader, server_writer, TO_SERVER),
                self._pump(pipe, server_reader, client_writer, TO_CLIENT),
            )
        except asyncio.CancelledError:
            self._end(pipe, rst=True)
            raise
        finally:
            self._end(pipe, rst=False)
            self._handlers.discard(task)

    async def _pump(
        self, pipe: _Pipe, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
    ) -> None:
        scanner = FrameScanner()
        try:
            while not pipe.closed:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data or pipe.closed:
                    break
                if self._blackholed:
                    scanner.feed(data)
                    continue
                cut_at = self._cut_point(scanner, data, direction)
                if cut_at is not None:
                    await self._forward(pipe, writer, data[:cut_at], direction)
                    del self._cuts[direction]
                    self._end(pipe, rst=False)
                    break
                await self._forward(pipe, writer, data, direction)
        except (ConnectionError, OSError):
            pass
        finally:
            self._end(pipe, rst=False)

    def _cut_point(self, scanner: FrameScanner, data: bytes, direction: str) -> int | None:
        """Where to cut inside ``data`` (an index), or None; updates the frame scanner."""
        start = scanner.offset
        frames = scanner.feed(data)
        cut = self._cuts.get(direction)
        if cut is None:
            return None
        if cut.at is None:
            for frame_start, length in frames:
                if length > cut.keep and frame_start + cut.keep >= start:
                    cut.at = frame_start + cut.keep
                    break
        if cut.at is not None and cut.at < start + len(data):
            return cut.at - start
        return None

    async def _forward(self, pipe: _Pipe, writer: asyncio.StreamWriter, data: bytes, direction: str) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        while data and not pipe.closed:
            if self._drip is not None:
                size, interval = self._drip
                piece, data = data[:size], data[size:]
                await asyncio.sleep(interval)
            else:
                piece, data = data, b""
            if self._blackholed or pipe.closed:
                return
            writer.write(piece)
            pipe.sent[direction] += len(piece)
            await writer.drain()
