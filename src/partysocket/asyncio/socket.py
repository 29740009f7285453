"""ReconnectingWebSocket for asyncio: a thin driver over the pure core.

The :class:`~partysocket.core.machine.Machine` makes every decision; this
module performs its actions with asyncio (tasks, timers, a transport) and
turns network happenings back into machine inputs. Every task it starts
belongs to the socket and is cancelled or awaited by :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random as _random
import re
import ssl as _ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import FunctionType, MethodType, TracebackType
from typing import Any, ClassVar, TypeAlias, TypeVar, Union

from ..core.buffer import Message, message_size
from ..core.machine import (
    Action,
    CancelAttempt,
    CancelTimer,
    CloseConnection,
    Dispatch,
    Finish,
    Flush,
    Machine,
    ReadyState,
    SendOutcome,
    SetTimer,
    StartAttempt,
    Timer,
)
from ..core.options import Options
from ..core.redact import redact_headers, redact_url
from ..core.url import check_ws_url
from ..events import CloseEvent, ErrorEvent, Event, MessageEvent, RetryEvent
from ..exceptions import ConnectionClosed
from ..transports.base import Connection, ConnectionEnded, ConnectRequest, Transport

__all__ = ["ReconnectingWebSocket", "WebSocket", "UrlProvider", "ProtocolsProvider", "Listener"]

logger = logging.getLogger("partysocket")
_S = TypeVar("_S", bound="ReconnectingWebSocket")

UrlProvider: TypeAlias = Union[str, Callable[[], str], Callable[[], Awaitable[str]]]
Protocols: TypeAlias = Union[str, Sequence[str], None]
ProtocolsProvider: TypeAlias = Union[Protocols, Callable[[], Protocols], Callable[[], Awaitable[Protocols]]]
HeadersLike: TypeAlias = Union[Mapping[str, str], Sequence[tuple[str, str]]]
HeadersProvider: TypeAlias = Union[HeadersLike, Callable[[], Any], None]
Listener: TypeAlias = Any  # a callable, a coroutine function, or an object with handle_event()

_EMPTY = object()  # _try_recv found nothing
_NO_INBOX: deque[Message] = deque(maxlen=0)  # stands in until the pull API is used; never filled

_LISTENER_TASK = "partysocket-listener"  # the name of tasks that run coroutine listeners

#: Messages the pull-style API (recv / async for) holds before reading pauses.
RECV_QUEUE_SIZE = 256

_LEVEL0 = {"open": "onopen", "message": "onmessage", "close": "onclose", "error": "onerror", "retry": "onretry"}


async def _resolve(value: Any) -> Any:
    """Call a provider (sync or async) or return a plain value."""
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


def as_message(data: object) -> Message:
    """``data`` as a message to send: ``str`` or ``bytes`` (bytes-like data is copied)."""
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"send() takes str, bytes, bytearray or memoryview, not {type(data).__name__}; "
        "serialise other objects first (for example json.dumps(obj))"
    )


#: An HTTP token (RFC 9110): what header names and subprotocols are made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: What a header value may hold: no line breaks or other control characters but tab.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _check_protocols(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        protocols = [value]
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        protocols = list(value)
    else:
        raise TypeError(f"protocols must be None, a str or a list of str, got {value!r}")
    for protocol in protocols:
        if not _TOKEN.fullmatch(protocol):
            raise ValueError(
                f"invalid subprotocol {protocol!r} in protocols: a subprotocol is one token "
                "(letters, digits and !#$%&'*+-.^_`|~, no spaces or commas); pass several as a list"
            )
    return protocols


def _check_headers(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    items: Any = value.items() if isinstance(value, Mapping) else value
    if isinstance(items, (str, bytes)):
        raise TypeError("headers must be a dict of str to str or a list of (name, value) pairs")
    try:
        pairs = [(name, val) for name, val in items]
    except (TypeError, ValueError):
        raise TypeError("headers must be a dict of str to str or a list of (name, value) pairs") from None
    for name, val in pairs:
        if not isinstance(name, str) or not isinstance(val, str):
            raise TypeError("headers must be a dict of str to str or a list of (name, value) pairs")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r} in headers: use letters, digits and !#$%&'*+-.^_`|~ only")
        if not _HEADER_VALUE.fullmatch(val):
            # The value is not shown: it is often a secret.
            raise ValueError(
                f"in headers, the value of {name!r} has a line break, a control character or a character "
                "beyond Latin-1 (encode it, for example with urllib.parse.quote)"
            )
    return pairs


#: A write batch stops growing at this many bytes (the transport's flow-control
#: high-water mark), so flow control can step in between batches.
BATCH_BYTES = 2**15
BATCH_MESSAGES = 512


def _take_batch(pending: deque[Message]) -> list[Message]:
    """Pop the next messages to write together (at least one)."""
    first = pending.popleft()
    batch = [first]
    size = len(first)
    while pending and size < BATCH_BYTES and len(batch) < BATCH_MESSAGES:
        message = pending[0]
        size += len(message)
        if size > BATCH_BYTES:
            break
        batch.append(pending.popleft())
    return batch


def _write_batches(pending: deque[Message], write: Callable[[list[Message]], bool]) -> None:
    """Hand ``pending`` to a synchronous write, batch by batch, until it is empty or the write declines."""
    while pending:
        batch = _take_batch(pending)
        if not write(batch):
            pending.extendleft(reversed(batch))  # not taken: it stays queued, in order
            return


async def _ping_pong(conn: Connection) -> None:
    pong = await conn.ping()
    await pong


def _default_transport() -> Transport:
    from ..transports.websockets import WebsocketsTransport

    return WebsocketsTransport()


class _Link:
    """One attempt: its task and, once open, its connection, writer and keep-alive."""

    __slots__ = (
        "owner",
        "attempt",
        "task",
        "conn",
        "pending",
        "in_flight",
        "ping_timer",
        "writer",
        "pinger",
        "detached",
        "paused",
        "cause",
        "write_nowait",
        "flush_scheduled",
    )

    def __init__(self, owner: ReconnectingWebSocket, attempt: int) -> None:
        self.owner = owner
        self.attempt = attempt
        self.task: asyncio.Task[None] | None = None
        self.conn: Connection | None = None
        #: Messages accepted for this connection and not yet written; created on first use
        #: and dropped once written, so an idle connection holds none.
        self.pending: deque[Message] | None = None
        #: The message a transport without write_nowait() is sending (awaited) right now.
        self.in_flight: Message | None = None
        self.ping_timer: asyncio.TimerHandle | None = None
        self.writer: asyncio.Task[None] | None = None
        self.pinger: asyncio.Task[None] | None = None
        self.detached = False  # the machine has moved on: report nothing
        self.paused = False  # reading is paused because the recv() queue is full
        self.cause: BaseException | None = None  # set by keep-alive before aborting
        #: The transport's synchronous write, if it has one (see Connection.write_nowait).
        self.write_nowait: Callable[[list[Message]], bool] | None = None
        self.flush_scheduled = False

    def queue(self) -> deque[Message]:
        """The pending queue, created if needed."""
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        return pending

    def take_unwritten(self) -> list[Message]:
        """Remove and return every message not yet written: the one being sent first, then the queue."""
        messages = [] if self.in_flight is None else [self.in_flight]
        self.in_flight = None  # taken back: the writer must not give it back again
        pending, self.pending = self.pending, None
        if pending:
            messages = [*messages, *pending]
            pending.clear()  # a writer still holding this queue finds nothing more to write
        return messages

    # A push transport's callbacks: bound methods, so an open connection holds no closures.

    def deliver(self, data: Message) -> None:
        """One message from a push transport."""
        if self.detached:
            return  # closing: dropped, and reading goes on so the close frame gets through
        owner = self.owner
        owner._on_message(data)
        if (
            owner._inbox_active
            and len(owner._inbox) >= RECV_QUEUE_SIZE
            and not self.detached
            and not self.paused
            and owner._must_pause_reading()
        ):
            conn: Any = self.conn
            conn.pause_reading()
            self.paused = True
            owner._on_space = self.resume

    def resume(self) -> None:
        """The recv() queue has room again (or the connection is closing): read on."""
        if self.paused:
            self.paused = False
            conn: Any = self.conn
            conn.resume_reading()

    def ended(self, ended: ConnectionEnded) -> None:
        """A push transport's connection ended."""
        if not self.detached:
            owner = self.owner
            owner._own(owner._get_loop().create_task(owner._connection_ended(self, ended)), "connection")


class ReconnectingWebSocket:
    """A WebSocket client that reconnects by itself, with the browser WebSocket API.

    It starts connecting as soon as it is created (inside a running event
    loop), buffers messages sent while not connected and sends them, in order,
    before the ``open`` event of the next connection. Between attempts it waits
    ``min(min_reconnection_delay * reconnection_delay_grow_factor ** (n - 1),
    max_reconnection_delay)`` seconds after ``n`` failed attempts; the counter
    resets once a connection stays open for ``min_uptime`` seconds.

    Consume it with events (``onmessage``, ``add_event_listener``), or pull
    style with ``await ws.recv()`` / ``async for data in ws``. Every duration
    is in seconds. See the README for the full option list.
    """

    CONNECTING: ClassVar[int] = ReadyState.CONNECTING
    OPEN: ClassVar[int] = ReadyState.OPEN
    CLOSING: ClassVar[int] = ReadyState.CLOSING
    CLOSED: ClassVar[int] = ReadyState.CLOSED

    # Slots keep an idle socket small (thousands of them per process are common).
    __slots__ = (
        "__weakref__",
        "_binary_type",
        "_compression",
        "_ctor_handlers",
        "_debug_logger",
        "_headers_provider",
        "_inbox",
        "_inbox_active",
        "_inbox_hook",
        "_inbox_pulled",
        "_link",
        "_listeners",
        "_loop",
        "_machine",
        "_max_size",
        "_on_space",
        "_open_waiters",
        "_options",
        "_policy",
        "_protocols_provider",
        "_proxy",
        "_recv_waiters",
        "_ssl",
        "_target",
        "_tasks",
        "_timers",
        "_transport",
        "_url_provider",
        "_work",
        "_working",
        "onclose",
        "onerror",
        "onmessage",
        "onopen",
        "onretry",
    )

    def __init__(
        self,
        url: UrlProvider,
        protocols: ProtocolsProvider = None,
        *,
        max_reconnection_delay: float = 10.0,
        min_reconnection_delay: float | None = None,
        reconnection_delay_grow_factor: float = 1.3,
        min_uptime: float = 5.0,
        connection_timeout: float = 4.0,
        max_retries: int | float | None = None,
        max_enqueued_messages: int | float | None = None,
        start_closed: bool = False,
        should_reconnect_on_close: Callable[[CloseEvent], bool] | None = None,
        debug: bool = False,
        debug_logger: Callable[[str], Any] | None = None,
        websocket: Transport | None = None,
        jitter: float = 0.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        headers: HeadersProvider = None,
        ssl: _ssl.SSLContext | None = None,
        max_size: int | None = 2**20,
        compression: str | None = "deflate",
        proxy: str | bool | None = True,
        on_open: Listener | None = None,
        on_message: Listener | None = None,
        on_close: Listener | None = None,
        on_error: Listener | None = None,
    ) -> None:
        self._options = Options.build(
            random=_random.random,
            max_reconnection_delay=max_reconnection_delay,
            min_reconnection_delay=min_reconnection_delay,
            reconnection_delay_grow_factor=reconnection_delay_grow_factor,
            min_uptime=min_uptime,
            connection_timeout=connection_timeout,
            max_retries=max_retries,
            max_enqueued_messages=max_enqueued_messages,
            start_closed=start_closed,
            jitter=jitter,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            debug=debug,
            should_reconnect_on_close=should_reconnect_on_close,
        )
        if not callable(url):
            check_ws_url(url)
        if not callable(protocols):
            _check_protocols(protocols)
        if headers is not None and not callable(headers):
            _check_headers(headers)
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError("ssl must be an ssl.SSLContext (for example ssl.create_default_context()) or None")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)):
            raise TypeError(f"max_size must be an int (bytes) or None for no limit, got {type(max_size).__name__}")
        if max_size is not None and max_size <= 0:
            raise ValueError(f"max_size must be a positive int (bytes) or None for no limit, got {max_size!r}")
        if compression is not None and not isinstance(compression, str):
            raise TypeError(f"compression must be 'deflate' or None, got {type(compression).__name__}")
        if proxy is not None and not isinstance(proxy, (str, bool)):
            raise TypeError(
                f"proxy must be True (from the environment), None/False (none) or a proxy URL str, got {proxy!r}"
            )
        if compression not in (None, "deflate"):
            raise ValueError(f"compression must be 'deflate' or None, got {compression!r}")
        if websocket is not None and not callable(getattr(websocket, "connect", None)):
            raise TypeError("websocket must be a transport: an object with an async connect(request) method")
        if debug_logger is not None and not callable(debug_logger):
            raise TypeError("debug_logger must be a callable taking one str, or None")
        for name, handler in (
            ("on_open", on_open),
            ("on_message", on_message),
            ("on_close", on_close),
            ("on_error", on_error),
        ):
            if handler is not None and not (callable(handler) or callable(getattr(handler, "handle_event", None))):
                raise TypeError(f"{name} must be a callable or an object with handle_event(event)")

        self._url_provider: UrlProvider = url
        self._protocols_provider: ProtocolsProvider = protocols
        self._headers_provider = headers
        self._ssl = ssl
        self._max_size = max_size
        self._compression = compression
        self._proxy: str | bool | None = None if proxy is False else proxy
        self._transport: Transport = websocket if websocket is not None else _default_transport()
        self._debug_logger = debug_logger
        self._binary_type = "blob"

        self._machine = Machine(
            self._options,
            clock=time.monotonic,
            random=_random.random,
            should_reconnect_on_close=self._safe_policy if should_reconnect_on_close else None,
        )
        self._policy = should_reconnect_on_close

        self.onopen: Listener | None = on_open
        self.onmessage: Listener | None = on_message
        self.onclose: Listener | None = on_close
        self.onerror: Listener | None = on_error
        self.onretry: Listener | None = None
        self._ctor_handlers = {"onopen": on_open, "onmessage": on_message, "onclose": on_close, "onerror": on_error}
        self._listeners: dict[str, list[list[Any]]] = {}

        self._link: _Link | None = None
        self._timers: dict[Timer, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[Any]] = []  # a list: 56 bytes when empty, a set 216
        self._work: list[Action] = []
        self._working = False

        self._inbox: deque[Message] = _NO_INBOX  # a deque of its own once the pull API is used
        self._inbox_active = False
        self._inbox_pulled = False  # recv() or iteration was used (not only `async with`)
        #: Called on the loop's thread when a message is queued or the socket closes for good.
        self._inbox_hook: Callable[[], None] | None = None
        #: What ``event.target`` is set to (the sync twin sets itself).
        self._target: Any = self
        self._recv_waiters: list[asyncio.Future[None]] = []
        #: Called once when the inbox has room again (the reader paused for it).
        self._on_space: Callable[[], None] | None = None
        self._open_waiters: list[asyncio.Future[None]] = []

        self._loop: asyncio.AbstractEventLoop | None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            if not self._options.start_closed:
                raise RuntimeError(
                    "ReconnectingWebSocket must be created inside a running asyncio event loop "
                    "(create it inside an 'async def' function run by asyncio.run()); code without an "
                    "event loop should use partysocket.sync.ReconnectingWebSocket, the blocking twin; or pass "
                    "start_closed=True and call reconnect() from the loop later"
                ) from None
            self._loop = None
        if not self._options.start_closed:
            self._debug(f"connecting to {self._describe_url()}")
            self._run(self._machine.start())

    # -- attributes ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The resolved URL of the current or last attempt (``""`` before any)."""
        return self._machine.url

    @property
    def ready_state(self) -> int:
        """``CONNECTING`` (0), ``OPEN`` (1), ``CLOSING`` (2) or ``CLOSED`` (3)."""
        return self._machine.ready_state

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected, ``""`` when not connected."""
        link = self._link
        if link is None or link.conn is None or self._machine.ready_state != ReadyState.OPEN:
            return ""
        return link.conn.subprotocol

    @property
    def extensions(self) -> str:
        """The extensions the server selected, ``""`` when not connected."""
        link = self._link
        if link is None or link.conn is None or self._machine.ready_state != ReadyState.OPEN:
            return ""
        return link.conn.extensions

    @property
    def binary_type(self) -> str:
        """``"blob"`` (default) or ``"arraybuffer"``; binary data is ``bytes`` either way."""
        return self._binary_type

    @binary_type.setter
    def binary_type(self, value: str) -> None:
        if value not in ("blob", "arraybuffer"):
            raise ValueError(f"binary_type must be 'blob' or 'arraybuffer', got {value!r}")
        self._binary_type = value

    @property
    def buffered_amount(self) -> int:
        """UTF-8 bytes buffered by ``send()`` and not yet written to the network."""
        amount = self._machine.buffer.byte_size
        link = self._link
        if link is not None and not link.detached:
            if link.pending:
                amount += sum(message_size(m) for m in link.pending)
            if link.conn is not None:
                amount += link.conn.buffered_amount
        return amount

    @property
    def retry_count(self) -> int:
        """Automatic retries since the last stable connection or ``reconnect()``."""
        return self._machine.retry_count

    @property
    def should_reconnect(self) -> bool:
        """Whether the socket reconnects by itself when the connection ends."""
        return self._machine.should_reconnect

    # camelCase aliases for code ported from JavaScript
    readyState = ready_state
    bufferedAmount = buffered_amount
    retryCount = retry_count
    shouldReconnect = should_reconnect
    binaryType = binary_type

    def __repr__(self) -> str:
        state = ReadyState(self._machine.ready_state).name
        return f"<{type(self).__name__} {self._describe_url()} {state}>"

    # -- user calls ------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send ``data``: ``True`` if handed to the open connection, ``False`` if buffered or dropped.

        Buffered messages go out, in order, when the next connection opens,
        before its ``open`` event. ``str`` is sent as a text frame, bytes-like
        data as a binary frame.
        """
        message = as_message(data)
        outcome = self._machine.send(message)
        if outcome is SendOutcome.WRITE:
            link = self._link
            assert link is not None
            link.queue().append(message)
            if not link.flush_scheduled:
                # The first message of a loop turn is written at once (latency); the others
                # sent during the same turn are written together when the turn ends (throughput).
                link.flush_scheduled = True
                self._get_loop().call_soon(self._flush, link)
                self._write_pending(link)
            return True
        for warning in self._machine.take_warnings():
            logger.warning(warning)
        if self._options.debug:
            self._debug(f"send: {outcome.value} ({message_size(message)} bytes)")
        return False

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good (until :meth:`reconnect`); the ``close`` event is dispatched before this returns.

        Messages already handed to the open connection are written before the
        close frame. Idempotent.
        """
        if self._options.debug and not self._machine.closed_for_good:  # a repeated close() is not news
            self._debug(f"close({code}, {reason!r})")
        self._run(self._machine.close(code, reason))

    def reconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the current connection (one ``close`` event) and connect again at once.

        Resets the retry counter. Needs a running event loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("reconnect() must be called from the event loop the socket runs on")
        self._debug("reconnect()")
        self._run(self._machine.reconnect(code, reason))

    def drain_queued_messages(self) -> list[str | bytes]:
        """Remove and return the messages buffered and not yet sent."""
        return self._machine.drain()

    drainQueuedMessages = drain_queued_messages

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """:meth:`close`, then wait for the closing handshake and every task of the socket.

        Coroutine listeners still running may go on until ``connection_timeout``
        seconds after this was called; then they are cancelled (and awaited),
        so no task outlives this.
        """
        self.close(code, reason)
        await self._wait_idle()

    async def _wait_idle(self) -> None:
        """Wait until no task of the socket runs (coroutine listeners: bounded, then cancelled)."""
        current = asyncio.current_task()
        loop = self._get_loop()
        deadline = loop.time() + self._options.connection_timeout
        while True:
            tasks = [task for task in self._tasks if task is not current]
            if not tasks:
                return
            own = [task for task in tasks if task.get_name() != _LISTENER_TASK]
            if own:  # the socket's own work (closing handshake, writer): bounded by itself
                await asyncio.gather(*own, return_exceptions=True)
                continue
            remaining = deadline - loop.time()
            if remaining > 0:
                await asyncio.wait(tasks, timeout=remaining)
                continue
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_open(self, timeout: float | None = None) -> None:
        """Wait until the socket is OPEN.

        Raises ``TimeoutError`` after ``timeout`` seconds and
        :class:`~partysocket.ConnectionClosed` if the socket closes for good first.
        """
        if timeout is None:
            await self._wait_open()
            return
        try:
            await asyncio.wait_for(self._wait_open(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"the socket was not open after {timeout:g} s") from None

    async def _wait_open(self) -> None:
        while True:
            if self._machine.ready_state == ReadyState.OPEN:
                return
            if self._machine.closed_for_good:
                raise ConnectionClosed(self._machine.last_close)
            future = self._get_loop().create_future()
            self._open_waiters.append(future)
            try:
                await future
            finally:
                if future in self._open_waiters:
                    self._open_waiters.remove(future)

    async def recv(self) -> str | bytes:
        """The next message's data (``str`` or ``bytes``), across reconnections.

        Raises :class:`~partysocket.ConnectionClosed` once the socket is closed
        for good and every message already received has been returned.
        """
        while True:
            data = self._try_recv()
            if data is not _EMPTY:
                return data  # type: ignore[return-value]
            future = self._get_loop().create_future()
            self._recv_waiters.append(future)
            try:
                await future
            finally:
                if future in self._recv_waiters:
                    self._recv_waiters.remove(future)

    def _try_recv(self) -> str | bytes | object:
        """The next received message, or ``_EMPTY``; raises once closed for good and empty.

        Runs on the loop's thread; shared by :meth:`recv` and the sync twin.
        """
        self._activate_inbox(pulled=True)
        if self._inbox:
            data = self._inbox.popleft()
            on_space = self._on_space
            if on_space is not None and len(self._inbox) < RECV_QUEUE_SIZE:
                self._on_space = None
                on_space()
            return data
        if self._machine.closed_for_good:
            raise ConnectionClosed(self._machine.last_close)
        return _EMPTY

    def _activate_inbox(self, *, pulled: bool) -> None:
        """From now on received messages are also kept for recv() / iteration.

        ``pulled`` is False for ``async with`` / ``with``: those keep messages for a
        later recv() but do not yet say the messages are consumed that way.
        """
        if not self._inbox_active:
            self._inbox_active = True
            self._inbox = deque()
        if pulled:
            self._inbox_pulled = True

    def _must_pause_reading(self) -> bool:
        """The recv() queue is full: should reading pause until recv() makes room?

        Yes for pull-style consumers. A socket entered with ``async with`` whose
        messages go only to ``onmessage`` / listeners (recv() never called) would
        stall its listeners for a queue nobody reads: it stops keeping messages
        for recv() instead, and reading goes on.
        """
        if self._inbox_pulled or (self.onmessage is None and not self._listeners.get("message")):
            return True
        self._inbox_active = False
        self._inbox = _NO_INBOX
        self._debug(f"{RECV_QUEUE_SIZE} messages unread by recv() while listeners take every message: no longer kept")
        return False

    def __aiter__(self: _S) -> _S:
        self._activate_inbox(pulled=True)
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self: _S) -> _S:
        self._activate_inbox(pulled=False)
        try:
            await self.wait_open()
        except BaseException:
            self.close()  # cancelled or timed out: nobody else holds the socket to close it
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
        for name, handler in self._ctor_handlers.items():
            if handler is not None and getattr(self, name) is handler:
                setattr(self, name, None)

    # -- events ----------------------------------------------------------------

    def add_event_listener(self, type: str, listener: Listener, *, once: bool = False) -> None:  # noqa: A002
        """Call ``listener(event)`` for every ``type`` event (once only with ``once=True``).

        ``listener`` may be a function, a coroutine function (run as a task) or
        an object with ``handle_event(event)``. Adding it twice registers it once.
        """
        if not (callable(listener) or callable(getattr(listener, "handle_event", None))):
            raise TypeError("listener must be a callable or an object with handle_event(event)")
        entries = self._listeners.setdefault(type, [])
        if not any(entry[0] == listener for entry in entries):
            entries.append([listener, once])

    def remove_event_listener(self, type: str, listener: Listener) -> None:  # noqa: A002
        """Stop calling ``listener`` for ``type`` events (no error if it was not added)."""
        entries = self._listeners.get(type)
        if entries:
            entries[:] = [entry for entry in entries if entry[0] != listener]

    def dispatch_event(self, event: Event) -> bool:
        """Dispatch ``event``: the Level-0 handler (``on<type>``) first, then the listeners."""
        self._dispatch(event)
        return True

    addEventListener = add_event_listener
    removeEventListener = remove_event_listener
    dispatchEvent = dispatch_event

    def _dispatch(self, event: Event) -> None:
        event.target = self._target
        name = _LEVEL0.get(event.type)
        if name is not None:
            handler = getattr(self, name, None)
            if handler is not None:
                self._call(handler, event)
        entries = self._listeners.get(event.type)
        if entries:
            for entry in list(entries):
                if entry not in entries:
                    continue  # removed by an earlier listener of this dispatch
                if entry[1]:
                    entries.remove(entry)
                self._call(entry[0], event)

    def _call(self, listener: Listener, event: Event) -> None:
        try:
            if type(listener) is FunctionType or type(listener) is MethodType:
                result = listener(event)
            else:
                handle = getattr(listener, "handle_event", None)
                result = handle(event) if callable(handle) else listener(event)
            if result is not None and inspect.isawaitable(result):
                task = asyncio.ensure_future(result, loop=self._get_loop())
                if isinstance(task, asyncio.Task):  # not a future someone else owns
                    task.set_name(_LISTENER_TASK)
                    self._own(task, f"{event.type} listener")
        except Exception:
            logger.exception("a %r listener raised; the socket carries on", event.type)

    def _safe_policy(self, event: CloseEvent) -> bool:
        assert self._policy is not None
        try:
            verdict = self._policy(event)
        except Exception:
            logger.exception("should_reconnect_on_close raised; reconnecting anyway")
            return True
        if inspect.isawaitable(verdict):
            if inspect.iscoroutine(verdict):
                verdict.close()
            logger.error("should_reconnect_on_close returned an awaitable, not a bool; reconnecting anyway")
            return True
        return bool(verdict)

    # -- the action runner -----------------------------------------------------

    def _run(self, actions: list[Action]) -> None:
        """Carry out the machine's actions in order; nested calls queue behind."""
        if not actions:
            return
        self._work.extend(actions)
        if self._working:
            return
        self._working = True
        try:
            while self._work:
                self._execute(self._work.pop(0))
        finally:
            self._working = False

    def _execute(self, action: Action) -> None:
        if isinstance(action, Dispatch):
            if not self._machine.settle(action):
                return
            event = action.event
            if self._options.debug:
                self._debug_event(event)
            self._dispatch(event)
            if event.type == "open":
                self._wake(self._open_waiters)
        elif isinstance(action, StartAttempt):
            old = self._link
            if old is not None and old.detached and (old.in_flight is not None or old.pending):
                # A closed connection is still writing what it was handed: that goes to the
                # new connection instead, ahead of what is buffered, so order is kept.
                self._take_back(old)
            new = _Link(self, action.attempt)
            self._link = new
            new.task = self._own(self._get_loop().create_task(self._attempt(new)), "connection")
        elif isinstance(action, SetTimer):
            self._cancel_timer(action.timer)
            self._timers[action.timer] = self._get_loop().call_later(action.delay, self._on_timer, action.timer)
        elif isinstance(action, CancelTimer):
            self._cancel_timer(action.timer)
        elif isinstance(action, Flush):
            current = self._link
            if current is None or current.attempt != action.attempt or current.detached:
                self._run(self._machine.requeue(action.messages, action.attempt))
            else:
                # To the front: ahead of anything sent since (older messages given back by requeue()).
                current.queue().extendleft(reversed(action.messages))
                self._write_pending(current)
        elif isinstance(action, CloseConnection):
            self._close_link(action)
        elif isinstance(action, CancelAttempt):
            cancelled = self._link
            if cancelled is not None and cancelled.attempt == action.attempt:
                cancelled.detached = True
                if cancelled.task is not None:
                    cancelled.task.cancel()
        elif isinstance(action, Finish):
            self._wake(self._recv_waiters)
            self._wake(self._open_waiters)
            if self._inbox_hook is not None:
                self._inbox_hook()

    def _on_timer(self, timer: Timer) -> None:
        self._timers.pop(timer, None)
        self._run(self._machine.timer_fired(timer))

    def _cancel_timer(self, timer: Timer) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    # -- one attempt -----------------------------------------------------------

    async def _attempt(self, link: _Link) -> None:
        machine = self._machine
        try:
            url = check_ws_url(await _resolve(self._url_provider))
            protocols = _check_protocols(await _resolve(self._protocols_provider))
            headers = _check_headers(await _resolve(self._headers_provider))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._debug(f"attempt {link.attempt}: a provider failed: {exc!r}")
            self._run(machine.attempt_failed(link.attempt, exc))
            return
        machine.attempt_resolved(link.attempt, url)
        if self._options.debug:
            self._debug(
                f"attempt {link.attempt}: opening {redact_url(url)} protocols={protocols} "
                f"headers={redact_headers(headers)}"
            )
        request = ConnectRequest(
            url=url,
            subprotocols=protocols,
            headers=headers,
            ssl=self._ssl,
            max_size=self._max_size,
            compression=self._compression,
            proxy=self._proxy,
            close_timeout=self._options.connection_timeout,
        )
        connecting = asyncio.ensure_future(self._transport.connect(request))
        try:
            conn = await connecting
        except asyncio.CancelledError:
            if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
                connecting.result().abort()
            raise
        except Exception as exc:
            self._debug(f"attempt {link.attempt}: failed: {exc!r}")
            self._run(machine.attempt_failed(link.attempt, exc))
            return
        del connecting
        if not machine.is_current(link.attempt):
            conn.abort()
            return
        link.conn = conn
        link.write_nowait = getattr(conn, "write_nowait", None)
        self._schedule_ping(link)
        self._run(machine.opened(link.attempt))
        push = getattr(conn, "push_messages", None)
        if push is None:
            await self._read_loop(link, conn)
        else:
            # The transport calls back per message and once at the end: no task waits
            # while the connection is open.
            push(link.deliver, link.ended)
            link.task = None  # this task ends here; nothing waits while the connection is open

    async def _read_loop(self, link: _Link, conn: Connection) -> None:
        """Receive from a pull-only transport until the connection ends, then report the end."""
        try:
            await self._pull_messages(link, conn)
        except ConnectionEnded as exc:
            ended = exc
        except asyncio.CancelledError:
            if not link.detached:
                conn.abort()
            raise
        except Exception as exc:  # a transport bug: treat as an abnormal end
            logger.exception("the transport failed while receiving")
            conn.abort()
            ended = ConnectionEnded(1006, "", False, exc)
        await self._connection_ended(link, ended)

    async def _connection_ended(self, link: _Link, ended: ConnectionEnded) -> None:
        """Stop the connection's helpers, put its unwritten messages back, and tell the machine."""
        if link.detached:
            return
        link.detached = True
        await self._stop_helpers(link)
        self._take_back(link)
        cause = link.cause or ended.cause
        self._debug(f"attempt {link.attempt}: connection ended with code {ended.code}")
        self._run(self._machine.connection_lost(link.attempt, ended.code, ended.reason, ended.was_clean, cause))

    async def _pull_messages(self, link: _Link, conn: Connection) -> None:
        """Receive by awaiting the transport; returns only by raising ConnectionEnded."""
        while True:
            data = await conn.recv()
            if link.detached:
                # Closing: keep reading (and dropping) so the peer's close frame gets through.
                continue
            self._on_message(data)
            if (
                self._inbox_active
                and len(self._inbox) >= RECV_QUEUE_SIZE
                and not link.detached
                and self._must_pause_reading()
            ):
                waiter: asyncio.Future[None] = self._get_loop().create_future()

                def room(waiter: asyncio.Future[None] = waiter) -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                self._on_space = room
                link.paused = True
                try:
                    await waiter
                finally:
                    link.paused = False

    def _on_message(self, data: Message) -> None:
        if self._inbox_active:
            self._inbox.append(data)
            if self._recv_waiters:
                self._wake(self._recv_waiters)
            if self._inbox_hook is not None:
                self._inbox_hook()
        if self.onmessage is not None or "message" in self._listeners:
            self._dispatch(MessageEvent(data))

    def _flush(self, link: _Link) -> None:
        """End of a loop turn: write what send() queued during it."""
        link.flush_scheduled = False
        self._write_pending(link)

    def _write_pending(self, link: _Link) -> None:
        """Write the queued messages without a task switch if the transport can, else wake the writer."""
        pending = link.pending
        if not pending:
            return
        write = link.write_nowait
        if write is not None and not link.detached:
            _write_batches(pending, write)
        if pending:
            self._kick_writer(link)
        elif link.writer is None or link.writer.done():
            link.pending = None  # all written: an idle connection keeps no queue

    def _kick_writer(self, link: _Link) -> None:
        """Start the writer task unless it runs: it writes what waits for room, then ends."""
        if link.writer is None or link.writer.done():
            link.writer = self._own(self._get_loop().create_task(self._write_loop(link)), "writer")

    async def _write_loop(self, link: _Link) -> None:
        """Write what waits in ``link.pending`` as the transport makes room, then end.

        With a transport that writes synchronously (``write_nowait`` and
        ``writable``), a message leaves the queue only when the transport takes
        it: nothing is ever in flight across an ``await``, so a message is
        either written (and never sent again) or still queued (and given to the
        next connection). Other transports get one ``send()`` at a time.
        """
        conn = link.conn
        assert conn is not None
        write = link.write_nowait
        writable: Callable[[], Awaitable[bool]] | None = getattr(conn, "writable", None)
        if write is None or writable is None:
            await self._send_one_by_one(link, conn)
            return
        while link.pending:
            if not await writable():
                return  # closing or ended: whoever ends the link takes back what is left
            _write_batches(link.pending, write)
        link.pending = None  # all written

    async def _send_one_by_one(self, link: _Link, conn: Connection) -> None:
        while link.pending:
            message = link.pending.popleft()
            link.in_flight = message
            try:
                await conn.send(message)
            except BaseException as exc:
                if link.in_flight is not None:  # not written (and not taken back meanwhile)
                    link.in_flight = None
                    link.queue().appendleft(message)
                if isinstance(exc, ConnectionEnded):
                    return  # the end is reported by whoever receives
                raise
            link.in_flight = None
        link.pending = None  # all written

    def _ping(self, link: _Link) -> None:
        """Keep-alive timer: ping now (a short task), then schedule the next one if all went well."""
        link.ping_timer = None
        if link.detached:
            return
        if link.paused:
            # Reading is paused (the recv() queue is full), so no pong could be read:
            # the connection cannot be judged now; look again one interval later.
            self._schedule_ping(link)
            return
        link.pinger = self._own(self._get_loop().create_task(self._ping_once(link)), "keep-alive")

    def _schedule_ping(self, link: _Link) -> None:
        interval = self._options.ping_interval
        if not link.detached and interval is not None:
            link.ping_timer = self._get_loop().call_later(interval, self._ping, link)

    async def _ping_once(self, link: _Link) -> None:
        conn = link.conn
        assert conn is not None
        timeout = self._options.ping_timeout
        try:
            if timeout is None:
                await conn.ping()
            else:
                # Bounded as a whole: with full buffers even sending the ping may never finish.
                await asyncio.wait_for(_ping_pong(conn), timeout)
        except asyncio.TimeoutError:
            if link.paused:  # reading was paused meanwhile: the pong may be waiting unread
                self._schedule_ping(link)
                return
            link.cause = TimeoutError(f"no pong within {timeout:g} s: the connection is dead")
            self._debug(f"attempt {link.attempt}: keep-alive timed out; dropping the connection")
            conn.abort()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            return  # the connection ended; the reader reports it
        self._schedule_ping(link)

    async def _stop_helpers(self, link: _Link) -> None:
        """Stop the writer and keep-alive of a finished connection."""
        if link.ping_timer is not None:
            link.ping_timer.cancel()
            link.ping_timer = None
        helpers = [task for task in (link.writer, link.pinger) if task is not None and not task.done()]
        for task in helpers:
            task.cancel()
        if helpers:
            await asyncio.gather(*helpers, return_exceptions=True)

    def _close_link(self, action: CloseConnection) -> None:
        link = self._link
        if link is None or link.attempt != action.attempt or link.conn is None:
            return
        link.detached = True
        on_space, self._on_space = self._on_space, None
        if on_space is not None:
            on_space()  # the reader stops waiting for room in the inbox
        if not action.flush:
            self._take_back(link)  # reconnect(): what this connection has not written goes on the next one
        if link.pending:
            self._kick_writer(link)  # what was handed to this connection goes out before the close frame
        self._own(self._get_loop().create_task(self._finish_link(link, action.code, action.reason)), "closer")

    async def _finish_link(self, link: _Link, code: int, reason: str) -> None:
        conn = link.conn
        assert conn is not None
        try:
            if link.writer is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(link.writer), self._options.connection_timeout)
                except Exception:
                    pass
            # Bounded: with a peer that reads nothing, the close frame never even leaves.
            await asyncio.wait_for(conn.close(code, reason), self._options.connection_timeout)
        except asyncio.CancelledError:
            conn.abort()
            raise
        except Exception as exc:
            self._debug(f"closing handshake failed: {exc!r}")
            conn.abort()
        finally:
            await self._stop_helpers(link)
            if link.task is not None and not link.task.done():
                link.task.cancel()
            self._take_back(link)

    def _take_back(self, link: _Link) -> None:
        """Give what ``link`` has not written back to the machine (the front of the buffer).

        A message a transport is still sending (awaited) is taken back too; that
        connection must then not finish sending it, so it is aborted.
        """
        in_flight = link.in_flight is not None
        messages = link.take_unwritten()
        if in_flight and link.conn is not None:
            link.conn.abort()
        self._run(self._machine.requeue(messages, link.attempt))

    # -- plumbing --------------------------------------------------------------

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("this socket has no event loop yet: call reconnect() from inside a running loop")
        return self._loop

    def _own(self, task: asyncio.Future[Any], what: str) -> asyncio.Task[Any]:
        assert isinstance(task, asyncio.Task)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._task_done(t, what))
        return task

    def _task_done(self, task: asyncio.Task[Any], what: str) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            logger.error("partysocket %s task failed", what, exc_info=exc)

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for future in waiters:
            if not future.done():
                future.set_result(None)
        waiters.clear()

    def _describe_url(self) -> str:
        if isinstance(self._url_provider, str):
            return redact_url(self._url_provider)
        return redact_url(self._machine.url) if self._machine.url else "<url provider>"

    def _debug(self, line: str) -> None:
        if not self._options.debug:
            return
        text = f"partysocket: {line}"
        if self._debug_logger is not None:
            try:
                self._debug_logger(text)
            except Exception:
                logger.exception("debug_logger raised")
        else:
            logger.debug(text)

    def _debug_event(self, event: Event) -> None:
        if isinstance(event, CloseEvent):
            self._debug(f"close code={event.code} clean={event.was_clean} will_reconnect={event.will_reconnect}")
        elif isinstance(event, ErrorEvent):
            self._debug(f"error {event.error!r}")
        elif isinstance(event, RetryEvent):
            self._debug(f"retry {event.attempt} in {event.delay:.3f} s")
        else:
            self._debug(f"{event.type} {redact_url(self._machine.url)}")


WebSocket = ReconnectingWebSocket
