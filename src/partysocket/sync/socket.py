"""Blocking twins of the asyncio sockets, for code without an event loop.

Each sync socket drives an asyncio socket (the very same class and reconnect
logic) on the library's one background loop thread. Calls from your threads
hop onto that thread; handlers and listeners run on it. Blocking calls
(``recv``, ``wait_open``, ``close``, iteration, ``with``) block only the
calling thread and never hold a lock the loop thread needs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from ..asyncio import socket as _aio
from ..core.buffer import message_size as _message_size
from ..core.machine import ReadyState
from ..events import Event
from ..exceptions import ConnectionClosed
from ._runner import LoopThread

__all__ = ["ReconnectingWebSocket", "WebSocket"]

T = TypeVar("T")
_S = TypeVar("_S", bound="ReconnectingWebSocket")

_LEVEL0 = ("onopen", "onmessage", "onclose", "onerror", "onretry")


def _level0(name: str) -> property:
    def get(self: ReconnectingWebSocket) -> Any:
        return getattr(self._inner, name)

    def set_(self: ReconnectingWebSocket, handler: Any) -> None:
        setattr(self._inner, name, handler)

    return property(get, set_, doc=f"The Level-0 ``{name}`` handler (runs on the partysocket thread).")


class ReconnectingWebSocket:
    """A reconnecting WebSocket for threads, scripts and notebooks.

    Same options, attributes, events and semantics as
    :class:`partysocket.ReconnectingWebSocket`; it starts connecting when
    created. ``send()`` is thread-safe (each thread's messages keep their
    order); ``recv(timeout=None)``, ``for data in ws``, ``with ... as ws``,
    ``wait_open(timeout)`` and ``close()`` block the calling thread only.
    Handlers and listeners run on the library's background thread, so keep
    them short and do not call the blocking methods from them.
    """

    CONNECTING: ClassVar[int] = ReadyState.CONNECTING
    OPEN: ClassVar[int] = ReadyState.OPEN
    CLOSING: ClassVar[int] = ReadyState.CLOSING
    CLOSED: ClassVar[int] = ReadyState.CLOSED

    _async_class: ClassVar[type[_aio.ReconnectingWebSocket]] = _aio.ReconnectingWebSocket

    def __init__(self, url: Any, protocols: Any = None, **options: Any) -> None:
        self._init((url, protocols), options)

    def _init(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs
        self._arrived = threading.Event()
        #: Messages from send() calls on other threads, on their way to the loop thread.
        self._outbox: deque[str | bytes] = deque()
        self._flush_scheduled = False
        self._closing = False
        self._hold_lock = threading.Lock()
        self._runner = LoopThread.acquire()
        self._held = True
        try:
            self._inner = self._runner.call(self._build, args, kwargs)
        except BaseException:
            self._let_go()
            raise
        self._ctor_handlers = {
            name: kwargs.get(f"on_{name[2:]}") for name in ("onopen", "onmessage", "onclose", "onerror")
        }

    def _build(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _aio.ReconnectingWebSocket:
        """Create the asyncio socket; runs on the loop thread."""
        inner = self._async_class(*args, **kwargs)
        inner._target = self
        inner._inbox_hook = self._on_inbox
        self._runner.sockets.add(inner)
        return inner

    # -- getting onto the loop thread -------------------------------------------

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        return self._runner.call(function, *args)

    def _hold(self) -> None:
        """Make sure a loop thread runs this socket (after close() let go of it)."""
        self._closing = False
        with self._hold_lock:
            if self._held:
                return
            runner = LoopThread.acquire()
            self._held = True
        if runner is self._runner:
            return
        # The old loop thread is gone: carry this socket over to a new asyncio socket.
        old = self._inner
        self._runner = runner
        kwargs = dict(self._kwargs, start_closed=True)
        try:
            inner = runner.call(self._build, self._args, kwargs)
        except BaseException:
            self._let_go()
            raise
        for name in _LEVEL0:
            setattr(inner, name, getattr(old, name))
        inner._listeners = {kind: [list(entry) for entry in entries] for kind, entries in old._listeners.items()}
        inner.binary_type = old.binary_type
        self._flush()  # anything queued while no loop ran goes into the old buffer first
        for message in old.drain_queued_messages():
            runner.call(inner.send, message)
        self._inner = inner

    def _unhold(self) -> bool:
        """Give up this socket's claim on the loop thread; True if it had one (then release it once)."""
        with self._hold_lock:  # the loop thread (giving up) and a user thread (close) may race here
            held, self._held = self._held, False
        return held

    def _let_go(self) -> None:
        if self._unhold():
            self._runner.release()

    def _let_go_when_idle(self) -> None:
        """On the loop thread: let go once every task of the socket has finished."""
        if not self._unhold():
            return
        runner = self._runner
        task = runner.loop.create_task(self._inner._wait_idle())  # waits only: it closes nothing
        task.add_done_callback(lambda _task: runner.release())

    def _on_inbox(self) -> None:
        """On the loop thread: a message arrived, or the socket closed for good."""
        self._arrived.set()
        if self._held and not self._closing and self._inner._machine.closed_for_good:
            self._let_go_when_idle()  # gave up: it no longer needs the loop thread

    # -- attributes --------------------------------------------------------------

    onopen = _level0("onopen")
    onmessage = _level0("onmessage")
    onclose = _level0("onclose")
    onerror = _level0("onerror")
    onretry = _level0("onretry")

    @property
    def url(self) -> str:
        """The resolved URL of the current or last attempt (``""`` before any)."""
        return self._inner.url

    @property
    def ready_state(self) -> int:
        """``CONNECTING`` (0), ``OPEN`` (1), ``CLOSING`` (2) or ``CLOSED`` (3)."""
        return self._inner.ready_state

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected, ``""`` when not connected."""
        return self._inner.protocol

    @property
    def extensions(self) -> str:
        """The extensions the server selected, ``""`` when not connected."""
        return self._inner.extensions

    @property
    def binary_type(self) -> str:
        """``"blob"`` (default) or ``"arraybuffer"``; binary data is ``bytes`` either way."""
        return self._inner.binary_type

    @binary_type.setter
    def binary_type(self, value: str) -> None:
        self._inner.binary_type = value

    @property
    def buffered_amount(self) -> int:
        """UTF-8 bytes buffered by ``send()`` and not yet written to the network."""
        return self._call(lambda: sum(_message_size(m) for m in list(self._outbox)) + self._inner.buffered_amount)

    @property
    def retry_count(self) -> int:
        """Automatic retries since the last stable connection or ``reconnect()``."""
        return self._inner.retry_count

    @property
    def should_reconnect(self) -> bool:
        """Whether the socket reconnects by itself when the connection ends."""
        return self._inner.should_reconnect

    readyState = ready_state
    bufferedAmount = buffered_amount
    retryCount = retry_count
    shouldReconnect = should_reconnect
    binaryType = binary_type

    def __repr__(self) -> str:
        return repr(self._inner).replace("<", "<sync ", 1)

    # -- non-blocking calls ------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Send ``data`` without blocking (thread-safe; each thread's messages keep their order).

        Returns ``True`` when the socket is OPEN (the message goes to the open
        connection, or back into the buffer if that connection drops at that very
        moment: it is never lost) and ``False`` when it is buffered.
        """
        message = _aio.as_message(data)  # type errors surface here; bytes-like data is copied now
        if self._runner.in_loop_thread():
            self._flush()
            return self._inner.send(message)
        opened = self._inner.ready_state == ReadyState.OPEN
        self._outbox.append(message)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                self._runner.loop.call_soon_threadsafe(self._flush)
            except RuntimeError:  # no loop runs this socket (closed): buffer it here
                self._flush()
                return False
        return opened

    def _flush(self) -> None:
        """Hand the messages queued by other threads to the asyncio socket, in order."""
        self._flush_scheduled = False
        outbox = self._outbox
        send = self._inner.send
        while outbox:
            send(outbox.popleft())

    def reconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the current connection (one ``close`` event) and connect again at once."""
        self._hold()
        self._call(self._inner.reconnect, code, reason)

    def drain_queued_messages(self) -> list[str | bytes]:
        """Remove and return the messages buffered and not yet sent."""

        def drain() -> list[str | bytes]:
            self._flush()
            return self._inner.drain_queued_messages()

        return self._call(drain)

    drainQueuedMessages = drain_queued_messages

    def add_event_listener(self, type: str, listener: Any, *, once: bool = False) -> None:  # noqa: A002
        """Call ``listener(event)`` for every ``type`` event, on the partysocket thread."""
        self._call(lambda: self._inner.add_event_listener(type, listener, once=once))

    def remove_event_listener(self, type: str, listener: Any) -> None:  # noqa: A002
        """Stop calling ``listener`` for ``type`` events."""
        self._call(self._inner.remove_event_listener, type, listener)

    def dispatch_event(self, event: Event) -> bool:
        """Dispatch ``event`` (on the partysocket thread): Level-0 handler first, then listeners."""
        return self._call(self._inner.dispatch_event, event)

    addEventListener = add_event_listener
    removeEventListener = remove_event_listener
    dispatchEvent = dispatch_event

    # -- blocking calls ----------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good (until :meth:`reconnect`) and wait for the closing handshake.

        The ``close`` event has been dispatched when this returns. Called from
        a handler (on the partysocket thread) it does not wait. Idempotent.
        """
        self._closing = True  # close() lets go of the loop thread itself
        if not self._held:
            self._call(self._inner.close, code, reason)
        elif self._runner.in_loop_thread():
            # From a handler: close now, and let go of the loop thread only once the
            # closing handshake is done (the last socket's release stops the loop).
            self._inner.close(code, reason)
            self._let_go_when_idle()
            return
        else:
            self._runner.run(self._inner.aclose(code, reason))
        self._let_go()

    def wait_open(self, timeout: float | None = None) -> None:
        """Block until OPEN; ``TimeoutError`` after ``timeout`` s, ``ConnectionClosed`` if it gives up."""
        inner = self._inner
        if self._call(lambda: inner.ready_state == ReadyState.OPEN):
            return
        if not self._held:
            raise ConnectionClosed(inner._machine.last_close)
        self._runner.run(inner.wait_open(timeout))

    def recv(self, timeout: float | None = None) -> str | bytes:
        """Block until the next message; ``TimeoutError`` after ``timeout`` s.

        Raises :class:`~partysocket.ConnectionClosed` once the socket is closed
        for good and every message already received has been returned.
        """
        if self._runner.in_loop_thread():
            raise RuntimeError("recv() blocks: do not call it from a handler or listener (they run on the loop thread)")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._arrived.clear()
            data = self._call(self._inner._try_recv)
            if data is not _aio._EMPTY:
                return data  # type: ignore[return-value]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"no message within {timeout:g} s")
            self._arrived.wait(remaining)

    def __iter__(self: _S) -> _S:
        self._call(self._activate, True)
        return self

    def __next__(self) -> str | bytes:
        try:
            return self.recv()
        except ConnectionClosed:
            raise StopIteration from None

    def _activate(self, pulled: bool) -> None:
        self._inner._activate_inbox(pulled=pulled)

    def __enter__(self: _S) -> _S:
        self._call(self._activate, False)
        try:
            self.wait_open()
        except BaseException:
            self.close()  # interrupted or gave up: nobody else holds the socket to close it
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        for name, handler in self._ctor_handlers.items():
            if handler is not None and getattr(self, name) is handler:
                setattr(self, name, None)


WebSocket = ReconnectingWebSocket
