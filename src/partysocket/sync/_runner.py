"""The one library-owned thread that runs the event loop for every sync socket.

It starts when the first sync socket needs it, is a daemon thread, and stops
(cancelling and awaiting whatever is left, then closing the loop) when the last
socket that holds it lets go, or at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")

_THREAD_NAME = "partysocket-loop"


class LoopThread:
    """An event loop on a daemon thread, shared and reference-counted."""

    _lock = threading.Lock()
    _current: LoopThread | None = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.refs = 0
        #: The asyncio sockets running on this loop (closed with 1001 at interpreter exit).
        self.sockets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=_THREAD_NAME, daemon=True)
        self.thread.start()
        self._ready.wait()

    # -- sharing ---------------------------------------------------------------

    @classmethod
    def acquire(cls) -> LoopThread:
        """The running loop thread (started if needed), with one more reference."""
        with cls._lock:
            current = cls._current
            if current is None or not current.thread.is_alive():
                current = cls._current = LoopThread()
            current.refs += 1
            return current

    def release(self) -> None:
        """Drop one reference; the last one stops the thread."""
        with LoopThread._lock:
            self.refs -= 1
            if self.refs > 0:
                return
            if LoopThread._current is self:
                LoopThread._current = None
        self.stop()

    # -- calling into the loop -------------------------------------------------

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the loop thread and return its result (or raise)."""
        if self.in_loop_thread():
            return function(*args)
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                result.set_result(function(*args))
            except BaseException as exc:
                result.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed: nothing else runs this socket any more
            return function(*args)
        while True:
            try:
                return result.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                # The loop stopped before running it: run it here, unless it has started.
                if not self.thread.is_alive() and result.cancel():
                    return function(*args)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for it (not from the loop thread)."""
        if self.in_loop_thread():
            coroutine.close()
            raise RuntimeError(
                "this blocking call cannot run on the partysocket thread (handlers and listeners run "
                "there); call it from another thread, or use the non-blocking methods in handlers"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    # -- the thread ------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        loop = self.loop
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    def stop(self) -> None:
        """Stop the loop and, unless called from the loop thread, wait for the thread to end."""
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # closed meanwhile
            return
        if not self.in_loop_thread():
            self.thread.join(timeout=10)


#: How long interpreter exit waits for the closing handshakes of sockets still open.
EXIT_CLOSE_TIMEOUT = 2.0


async def _close_all(sockets: list[Any]) -> None:
    tasks = [asyncio.ensure_future(socket.aclose(1001, "going away")) for socket in sockets]
    if tasks:
        await asyncio.wait(tasks, timeout=EXIT_CLOSE_TIMEOUT)


@atexit.register
def _stop_at_exit() -> None:
    with LoopThread._lock:
        current = LoopThread._current
        LoopThread._current = None
    if current is None:
        return
    if current.thread.is_alive() and not current.loop.is_closed():
        # Sockets still open say goodbye (1001) instead of vanishing (1006), within a bound.
        try:
            future = asyncio.run_coroutine_threadsafe(_close_all(list(current.sockets)), current.loop)
            future.result(timeout=EXIT_CLOSE_TIMEOUT + 1.0)
        except Exception:  # the loop is gone or stuck: stopping it is all that is left
            pass
    current.stop()
