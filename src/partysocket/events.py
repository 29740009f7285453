"""The events a socket dispatches, shaped like the browser's.

``Event`` carries ``type`` and ``target``; the subclasses add what the
browser's ``MessageEvent``, ``CloseEvent`` and ``ErrorEvent`` carry, and
``RetryEvent`` (type ``"retry"``) tells when the next automatic attempt starts.
Events are constructible by users (for ``dispatch_event``); ``target`` is set
when a socket dispatches them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Event", "MessageEvent", "CloseEvent", "ErrorEvent", "RetryEvent"]


class Event:
    """A plain event: ``type`` (``"open"`` ...) and ``target`` (the socket)."""

    __slots__ = ("type", "target")

    def __init__(self, type: str, target: Any = None) -> None:  # noqa: A002 - browser name
        self.type = type
        self.target = target

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r})"


class MessageEvent(Event):
    """A received message: ``data`` is ``str`` for text frames, ``bytes`` for binary."""

    __slots__ = ("data",)

    def __init__(self, data: str | bytes, target: Any = None) -> None:
        self.type = "message"
        self.target = target
        self.data = data

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 40 else self.data[:40]
        return f"MessageEvent(data={shown!r}{'...' if len(self.data) > 40 else ''})"


class CloseEvent(Event):
    """A connection (or connection attempt) ended.

    ``will_reconnect`` tells whether an automatic retry follows; ``cause`` is
    the exception behind an abnormal close (for a handshake the server
    rejected, a :class:`partysocket.HandshakeRejected` whose ``status`` is the
    HTTP status), else ``None``.
    """

    __slots__ = ("code", "reason", "was_clean", "will_reconnect", "cause")

    def __init__(
        self,
        code: int = 1000,
        reason: str = "",
        was_clean: bool = True,
        *,
        will_reconnect: bool = False,
        cause: BaseException | None = None,
        target: Any = None,
    ) -> None:
        self.type = "close"
        self.target = target
        self.code = code
        self.reason = reason
        self.was_clean = was_clean
        self.will_reconnect = will_reconnect
        self.cause = cause

    @property
    def wasClean(self) -> bool:  # noqa: N802 - browser alias
        """Alias of ``was_clean``."""
        return self.was_clean

    def __repr__(self) -> str:
        return (
            f"CloseEvent(code={self.code}, reason={self.reason!r}, was_clean={self.was_clean}, "
            f"will_reconnect={self.will_reconnect})"
        )


class ErrorEvent(Event):
    """Something failed: ``error`` is the exception, ``message`` its text."""

    __slots__ = ("error", "message")

    def __init__(self, error: BaseException, target: Any = None) -> None:
        self.type = "error"
        self.target = target
        self.error = error
        self.message = str(error)

    def __repr__(self) -> str:
        return f"ErrorEvent(error={self.error!r})"


class RetryEvent(Event):
    """An automatic retry is scheduled: ``attempt`` (1 for the first) starts in ``delay`` s."""

    __slots__ = ("attempt", "delay")

    def __init__(self, attempt: int, delay: float, target: Any = None) -> None:
        self.type = "retry"
        self.target = target
        self.attempt = attempt
        self.delay = delay

    def __repr__(self) -> str:
        return f"RetryEvent(attempt={self.attempt}, delay={self.delay:.3f})"
