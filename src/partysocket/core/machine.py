"""The reconnecting socket's state machine: pure, with no I/O.

The :class:`Machine` decides everything a reconnecting WebSocket decides (when
to start an attempt, how long to wait before the next one, when to give up,
what to do with a message sent while not OPEN, which events to dispatch and in
which order) and performs nothing. It never imports ``asyncio``, ``threading``,
``socket``, ``time`` or ``random``: the clock and the random source are passed
in, so a test can step through a schedule without sleeping.

Calling contract
----------------
A driver owns one machine and feeds it *inputs*; most inputs return a list of
*actions* that the driver must carry out, in order, before feeding the machine
anything else that was caused by those actions. Inputs fed while the driver is
still carrying out an earlier list (for example ``close()`` called from an
event listener) must have their actions appended to the same work queue, not
run in the middle of it.

Inputs and what to collect next:

* :meth:`start` (once, unless ``start_closed``), :meth:`reconnect`,
  :meth:`close`: user calls; run the returned actions.
* :meth:`send`: returns a :class:`SendOutcome`. ``WRITE`` means the driver
  writes the message to the open connection now; otherwise it was buffered
  or dropped, and :meth:`take_warnings` has any warning to log.
* :meth:`timer_fired`: a timer set by a :class:`SetTimer` action expired.
* :meth:`settle`: call it for every :class:`Dispatch` just before dispatching;
  skip the event when it returns False.
* :meth:`attempt_resolved`: the attempt's providers gave a URL and the
  driver is about to reach the network.
* :meth:`attempt_failed`: the attempt failed (provider error, refused
  connection, rejected handshake). Run the returned actions.
* :meth:`opened`: the handshake succeeded. Check :meth:`is_current` first;
  a stale attempt's connection must be aborted by the driver.
* :meth:`requeue`: messages that were handed to a connection but never written
  go back to the front of the buffer. Call it before :meth:`connection_lost`.
  Run the returned actions: when another connection is already OPEN, the
  messages are flushed to it at once instead of waiting in the buffer.
* :meth:`connection_lost`: an open connection ended. Code 1006 means it ended
  abnormally (no close frame received).

Every input that names an ``attempt`` is ignored when that attempt is no longer
the current one, so late reports from cancelled work are harmless.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from ..events import CloseEvent, ErrorEvent, Event, RetryEvent
from ..exceptions import ConnectionLost
from .backoff import retry_delay
from .buffer import Message, SendBuffer
from .options import Options, check_close_args

__all__ = [
    "Machine",
    "Phase",
    "ReadyState",
    "SendOutcome",
    "Timer",
    "Action",
    "StartAttempt",
    "CancelAttempt",
    "SetTimer",
    "CancelTimer",
    "Flush",
    "CloseConnection",
    "Dispatch",
    "Finish",
]


class ReadyState(enum.IntEnum):
    """The browser's ready states."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Phase(enum.Enum):
    """Where the machine is; :attr:`Machine.ready_state` is derived from it."""

    IDLE = "idle"  # never started (start_closed)
    CONNECTING = "connecting"  # an attempt is running
    OPEN = "open"
    WAITING = "waiting"  # a retry timer is pending
    STOPPED = "stopped"  # closed for good: close() or gave up


class Timer(enum.Enum):
    RETRY = "retry"
    CONNECT = "connect"


class SendOutcome(enum.Enum):
    WRITE = "write"  # write it to the open connection now
    BUFFERED = "buffered"
    DROPPED = "dropped"  # the buffer is full


class _Action:
    """Base of the actions: small value objects, compared and shown by their fields.

    (Plain classes rather than dataclasses: they cost nothing at import time.)
    """

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), *(v if not isinstance(v, list) else tuple(v) for v in self._values())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class StartAttempt(_Action):
    """Resolve the providers and open a connection; report back with this ``attempt``."""

    __slots__ = ("attempt",)

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt


class CancelAttempt(_Action):
    """Stop the attempt's work and abort its handshake, silently."""

    __slots__ = ("attempt",)

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt


class SetTimer(_Action):
    """Call :meth:`Machine.timer_fired` with ``timer`` after ``delay`` seconds (replacing it)."""

    __slots__ = ("timer", "delay")

    def __init__(self, timer: Timer, delay: float) -> None:
        self.timer = timer
        self.delay = delay


class CancelTimer(_Action):
    __slots__ = ("timer",)

    def __init__(self, timer: Timer) -> None:
        self.timer = timer


class Flush(_Action):
    """Write ``messages`` to the attempt's open connection, in order, before anything else."""

    __slots__ = ("attempt", "messages")

    def __init__(self, attempt: int, messages: list[Message]) -> None:
        self.attempt = attempt
        self.messages = messages


class CloseConnection(_Action):
    """Close the attempt's open connection with a closing handshake; report nothing more.

    With ``flush`` the messages not yet written go out before the close frame
    (any that cannot be written are given back with :meth:`Machine.requeue`);
    without it they are given back at once.
    """

    __slots__ = ("attempt", "code", "reason", "flush")

    def __init__(self, attempt: int, code: int, reason: str, flush: bool) -> None:
        self.attempt = attempt
        self.code = code
        self.reason = reason
        self.flush = flush


class Dispatch(_Action):
    """Dispatch ``event`` to the handlers and listeners if :meth:`Machine.settle` agrees.

    ``attempt`` is the attempt the event was decided for (0 for events that
    do not depend on one).
    """

    __slots__ = ("event", "attempt")

    def __init__(self, event: Event, attempt: int = 0) -> None:
        self.event = event
        self.attempt = attempt


class Finish(_Action):
    """The socket is now closed for good: wake everyone waiting for a message or an open."""

    __slots__ = ()


Action = StartAttempt | CancelAttempt | SetTimer | CancelTimer | Flush | CloseConnection | Dispatch | Finish


class Machine:
    """Reconnection decisions for one socket. See the module docstring for the contract."""

    def __init__(
        self,
        options: Options,
        *,
        clock: Callable[[], float],
        random: Callable[[], float],
        should_reconnect_on_close: Callable[[CloseEvent], bool] | None = None,
    ) -> None:
        self.options = options
        self._clock = clock
        self._random = random
        self._policy = should_reconnect_on_close
        self.phase = Phase.IDLE
        #: Identifies the current attempt; inputs naming an older one are ignored.
        self.attempt = 0
        self._retry_count = 0
        self._opened_at: float | None = None
        self._reached_network = False
        self.should_reconnect = not options.start_closed
        self.buffer = SendBuffer(options.max_enqueued_messages)
        #: The resolved URL of the current or last attempt.
        self.url = ""
        #: The last close event dispatched, for ``ConnectionClosed.event``.
        self.last_close: CloseEvent | None = None
        self._close_called = False
        self._warned_closed_send = False
        self._warnings: list[str] = []

    # -- derived state -------------------------------------------------------

    @property
    def ready_state(self) -> ReadyState:
        if self.phase is Phase.OPEN:
            return ReadyState.OPEN
        if self.phase is Phase.CONNECTING:
            return ReadyState.CONNECTING
        return ReadyState.CLOSED

    @property
    def closed_for_good(self) -> bool:
        """Closed by ``close()``, gave up, or never started: nothing will happen by itself."""
        return self.phase is Phase.STOPPED or self.phase is Phase.IDLE

    @property
    def retry_count(self) -> int:
        """Automatic retries since the last stable open (or ``reconnect()``)."""
        if self.phase is Phase.OPEN and self._uptime_reached():
            return 0
        return self._retry_count

    def retry_pending(self, attempt: int) -> bool:
        """Whether the retry scheduled after ``attempt`` is still going to happen."""
        return attempt == self.attempt and self.phase is Phase.WAITING

    def settle(self, action: Dispatch) -> bool:
        """Bring a queued event up to date just before it is dispatched; False: drop it.

        Between the decision and the dispatch, a listener of an earlier event may
        have called ``close()`` or ``reconnect()``. A ``retry`` event whose retry
        will no longer happen is dropped; a ``close`` event that promised a
        reconnection no longer does once the socket is closed for good.
        """
        event = action.event
        if isinstance(event, RetryEvent):
            return self.retry_pending(action.attempt)
        if isinstance(event, CloseEvent) and event.will_reconnect and self.closed_for_good:
            event.will_reconnect = False
        return True

    def is_current(self, attempt: int) -> bool:
        return attempt == self.attempt and self.phase is Phase.CONNECTING

    def _uptime_reached(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at >= self.options.min_uptime

    # -- user inputs ---------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin the first attempt (the constructor, unless ``start_closed``)."""
        if self.phase is not Phase.IDLE:
            return []
        self.should_reconnect = True
        return self._begin_attempt()

    def reconnect(self, code: int | None = None, reason: str | None = None) -> list[Action]:
        """Close the current connection, if any, reset the retry counter and connect now."""
        code, reason = check_close_args(1000 if code is None else code, "" if reason is None else reason)
        actions = self._leave(code, reason, will_reconnect=True, flush=False)
        self.should_reconnect = True
        self._close_called = False
        self._warned_closed_send = False
        self._retry_count = 0
        return actions + self._begin_attempt()

    def close(self, code: int = 1000, reason: str = "") -> list[Action]:
        """Close for good (until ``reconnect()``); the close event is among the actions."""
        code, reason = check_close_args(code, reason)
        self._close_called = True
        self.should_reconnect = False
        if self.phase is Phase.STOPPED:
            return []
        actions = self._leave(code, reason, will_reconnect=False, flush=True)
        self.phase = Phase.STOPPED
        actions.append(Finish())
        return actions

    def send(self, message: Message) -> SendOutcome:
        """Decide what happens to an outgoing message."""
        if self.phase is Phase.OPEN:
            return SendOutcome.WRITE
        if self._close_called and not self._warned_closed_send:
            self._warned_closed_send = True
            self._warnings.append(
                "send() was called after close(): the message is buffered and will only be "
                "delivered if reconnect() is called on this socket"
            )
        first_drop = not self.buffer.overflowing
        if self.buffer.push(message):
            return SendOutcome.BUFFERED
        if first_drop:
            self._warnings.append(
                f"the send buffer is full (max_enqueued_messages={self.buffer.limit:g}); "
                "messages are dropped until it is flushed or drained"
            )
        return SendOutcome.DROPPED

    def take_warnings(self) -> list[str]:
        warnings, self._warnings = self._warnings, []
        return warnings

    def drain(self) -> list[Message]:
        """Remove and return the buffered messages."""
        return self.buffer.take_all()

    def requeue(self, messages: list[Message], attempt: int | None = None) -> list[Action]:
        """Give back messages that were accepted for connection ``attempt`` but never written.

        They go back to the front of the buffer, so they leave first on the next
        open. If a newer connection is OPEN already (the old one took a while to
        finish), they are flushed to it now: a buffer is never left waiting while
        OPEN.
        """
        if not messages:
            return []
        if self.phase is Phase.OPEN and attempt is not None and attempt != self.attempt:
            return [Flush(self.attempt, messages)]
        self.buffer.push_front(messages)
        return []

    # -- driver inputs -------------------------------------------------------

    def timer_fired(self, timer: Timer) -> list[Action]:
        if timer is Timer.RETRY:
            return self._begin_attempt() if self.phase is Phase.WAITING else []
        if self.phase is not Phase.CONNECTING:
            return []
        error = TimeoutError(f"the connection was not open after {self.options.connection_timeout:g} s")
        actions: list[Action] = [CancelAttempt(self.attempt)]
        actions += self._failed(error, "timeout")
        return actions

    def attempt_resolved(self, attempt: int, url: str) -> None:
        if self.is_current(attempt):
            self.url = url
            self._reached_network = True

    def attempt_failed(self, attempt: int, error: BaseException) -> list[Action]:
        if not self.is_current(attempt):
            return []
        actions: list[Action] = [CancelTimer(Timer.CONNECT)]
        actions += self._failed(error, "")
        return actions

    def opened(self, attempt: int) -> list[Action]:
        if not self.is_current(attempt):
            return []
        self.phase = Phase.OPEN
        self._opened_at = self._clock()
        actions: list[Action] = [CancelTimer(Timer.CONNECT)]
        if len(self.buffer):
            actions.append(Flush(attempt, self.buffer.take_all()))
        actions.append(Dispatch(Event("open")))
        return actions

    def connection_lost(
        self,
        attempt: int,
        code: int,
        reason: str = "",
        was_clean: bool = False,
        cause: BaseException | None = None,
    ) -> list[Action]:
        """An open connection ended; ``code`` 1006 means abnormally."""
        if attempt != self.attempt or self.phase is not Phase.OPEN:
            return []
        self._end_open()
        actions: list[Action] = []
        if code == 1006:
            if cause is None:
                cause = ConnectionLost("the connection was lost without a closing handshake")
            actions.append(Dispatch(ErrorEvent(cause)))
        actions += self._closed(CloseEvent(code, reason, was_clean, cause=cause))
        return actions

    # -- internals -----------------------------------------------------------

    def _end_open(self) -> None:
        """The open connection is over: a stable one (``min_uptime``) resets the counter."""
        if self._uptime_reached():
            self._retry_count = 0
        self._opened_at = None

    def _begin_attempt(self) -> list[Action]:
        self.attempt += 1
        self.phase = Phase.CONNECTING
        self._reached_network = False
        return [StartAttempt(self.attempt), SetTimer(Timer.CONNECT, self.options.connection_timeout)]

    def _leave(self, code: int, reason: str, *, will_reconnect: bool, flush: bool) -> list[Action]:
        """Stop whatever runs now because the user closed or reconnected."""
        actions: list[Action] = []
        phase = self.phase
        if phase is Phase.WAITING:
            actions.append(CancelTimer(Timer.RETRY))
        elif phase is Phase.CONNECTING:
            actions += [CancelTimer(Timer.CONNECT), CancelAttempt(self.attempt)]
        elif phase is Phase.OPEN:
            actions.append(CloseConnection(self.attempt, code, reason, flush))
        self._end_open()
        if phase is Phase.CONNECTING or phase is Phase.OPEN:
            event = CloseEvent(code, reason, True, will_reconnect=will_reconnect)
            self.last_close = event
            actions.append(Dispatch(event))
        return actions

    def _failed(self, error: BaseException, reason: str) -> list[Action]:
        """An attempt failed: error, then close 1006 if the network was reached.

        A failure before the network dispatches no close event, unless the
        socket gives up on it: giving up always ends with a close event whose
        ``will_reconnect`` is False, so listeners and ``ConnectionClosed.event``
        never see a stale "will reconnect".
        """
        actions: list[Action] = [Dispatch(ErrorEvent(error))]
        if self._reached_network:
            actions += self._closed(CloseEvent(1006, reason, False, cause=error))
            return actions
        follow = self._retry_or_give_up()
        if self.phase is Phase.STOPPED:
            event = CloseEvent(1006, reason, False, will_reconnect=False, cause=error)
            self.last_close = event
            actions.append(Dispatch(event))
        return actions + follow

    def _closed(self, event: CloseEvent) -> list[Action]:
        self.last_close = event
        if self.should_reconnect and self._policy is not None and not self._policy(event):
            self.should_reconnect = False
        follow = self._retry_or_give_up()
        event.will_reconnect = self.phase is Phase.WAITING
        return [Dispatch(event), *follow]

    def _retry_or_give_up(self) -> list[Action]:
        if not self.should_reconnect or self._retry_count >= self.options.max_retries:
            self.phase = Phase.STOPPED
            self.should_reconnect = False
            return [Finish()]
        self._retry_count += 1
        options = self.options
        delay = retry_delay(
            self._retry_count,
            min_delay=options.min_reconnection_delay,
            max_delay=options.max_reconnection_delay,
            grow_factor=options.reconnection_delay_grow_factor,
            jitter=options.jitter,
            draw=self._random() if options.jitter else 0.0,
        )
        self.phase = Phase.WAITING
        return [Dispatch(RetryEvent(self._retry_count, delay), self.attempt), SetTimer(Timer.RETRY, delay)]
