"""Unit tests of the pure state machine: a fake clock, a fake random source, no I/O, no sleeps."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from partysocket.core.buffer import Message
from partysocket.core.machine import (
    Action,
    CancelAttempt,
    CancelTimer,
    CloseConnection,
    Dispatch,
    Finish,
    Flush,
    Machine,
    Phase,
    ReadyState,
    SendOutcome,
    SetTimer,
    StartAttempt,
    Timer,
)
from partysocket.core.options import Options
from partysocket.events import CloseEvent, ErrorEvent, Event, RetryEvent
from partysocket.exceptions import ConnectionLost, HandshakeRejected

URL = "wss://example.com/socket"


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeRandom:
    """Returns the given values in turn (the last one forever); counts calls."""

    def __init__(self, *values: float) -> None:
        self.values = list(values) or [0.0]
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


def no_random() -> float:
    raise AssertionError("the machine must not draw a random number here")


def make(
    *,
    clock: FakeClock | None = None,
    random: Callable[[], float] = no_random,
    policy: Callable[[CloseEvent], bool] | None = None,
    **options: Any,
) -> tuple[Machine, FakeClock]:
    options.setdefault("min_reconnection_delay", 1.0)
    built = Options.build(random=no_random, **options)
    clock = clock if clock is not None else FakeClock()
    return Machine(built, clock=clock, random=random, should_reconnect_on_close=policy), clock


def phase(m: Machine) -> Phase:
    """``m.phase``, read through a call so that mypy does not narrow it across inputs."""
    return m.phase


def state(m: Machine) -> ReadyState:
    return m.ready_state


def events(actions: Sequence[Action]) -> list[Event]:
    return [action.event for action in actions if isinstance(action, Dispatch)]


def kinds(actions: Sequence[Action]) -> list[str]:
    return [event.type for event in events(actions)]


def only(actions: Sequence[Action], cls: type[Any]) -> list[Any]:
    return [action for action in actions if isinstance(action, cls)]


def close_event(actions: Sequence[Action]) -> CloseEvent:
    found = [event for event in events(actions) if isinstance(event, CloseEvent)]
    assert len(found) == 1, actions
    return found[0]


def error_event(actions: Sequence[Action]) -> ErrorEvent:
    found = [event for event in events(actions) if isinstance(event, ErrorEvent)]
    assert len(found) == 1, actions
    return found[0]


def retry_event(actions: Sequence[Action]) -> RetryEvent:
    found = [event for event in events(actions) if isinstance(event, RetryEvent)]
    assert len(found) == 1, actions
    return found[0]


def open_now(m: Machine) -> list[Action]:
    """Drive the current attempt to OPEN (starting one from IDLE if needed)."""
    if phase(m) is Phase.IDLE:
        m.start()
    assert phase(m) is Phase.CONNECTING
    m.attempt_resolved(m.attempt, URL)
    actions = m.opened(m.attempt)
    assert phase(m) is Phase.OPEN
    return actions


def fail_now(m: Machine, *, reached: bool = True, error: BaseException | None = None) -> list[Action]:
    """Fail the current attempt (after reaching the network unless ``reached`` is False)."""
    assert phase(m) is Phase.CONNECTING
    if reached:
        m.attempt_resolved(m.attempt, URL)
    return m.attempt_failed(m.attempt, error if error is not None else OSError("refused"))


def retry_timer(m: Machine) -> list[Action]:
    assert phase(m) is Phase.WAITING
    return m.timer_fired(Timer.RETRY)


# -- starting ----------------------------------------------------------------------------------


def test_first_attempt_has_no_delay() -> None:
    m, _ = make(connection_timeout=4.0)
    assert phase(m) is Phase.IDLE
    actions = m.start()
    assert actions == [StartAttempt(1), SetTimer(Timer.CONNECT, 4.0)]
    assert not only(actions, Dispatch)
    assert phase(m) is Phase.CONNECTING
    assert state(m) is ReadyState.CONNECTING
    assert m.retry_count == 0
    assert m.should_reconnect is True
    assert m.closed_for_good is False


def test_start_is_ignored_once_started() -> None:
    m, _ = make()
    m.start()
    assert m.start() == []
    assert m.attempt == 1


def test_url_is_empty_before_any_attempt_then_the_resolved_one() -> None:
    m, _ = make()
    assert m.url == ""
    m.start()
    assert m.url == ""
    m.attempt_resolved(1, "wss://a.example/x")
    assert m.url == "wss://a.example/x"


def test_start_closed() -> None:
    m, _ = make(start_closed=True)
    assert phase(m) is Phase.IDLE
    assert m.closed_for_good is True
    assert m.should_reconnect is False
    assert state(m) is ReadyState.CLOSED
    assert m.send("early") is SendOutcome.BUFFERED
    actions = m.start()
    assert only(actions, StartAttempt) == [StartAttempt(1)]
    assert phase(m) is Phase.CONNECTING
    assert m.closed_for_good is False
    assert m.should_reconnect is True
    opened = m.opened(1)
    assert only(opened, Flush) == [Flush(1, ["early"])]


def test_start_closed_then_reconnect_begins_without_a_close_event() -> None:
    m, _ = make(start_closed=True)
    actions = m.reconnect()
    assert actions == [StartAttempt(1), SetTimer(Timer.CONNECT, 4.0)]
    assert m.last_close is None


def test_close_before_start_closed_socket_ever_started() -> None:
    m, _ = make(start_closed=True)
    assert m.close() == [Finish()]
    assert phase(m) is Phase.STOPPED
    assert m.closed_for_good is True
    assert m.start() == []
    assert only(m.reconnect(), StartAttempt) == [StartAttempt(1)]


# -- backoff schedule --------------------------------------------------------------------------


@pytest.mark.parametrize("reached", [True, False])
def test_backoff_schedule(reached: bool) -> None:
    m, _ = make(min_reconnection_delay=3.0, reconnection_delay_grow_factor=1.3, max_reconnection_delay=10.0)
    m.start()
    expected = [3.0, 3.9, 5.07, 6.591, 8.5683, 10.0, 10.0, 10.0]
    for n, delay in enumerate(expected, start=1):
        actions = fail_now(m, reached=reached)
        retry = retry_event(actions)
        assert retry.attempt == n
        assert retry.delay == pytest.approx(delay)
        assert only(actions, SetTimer) == [SetTimer(Timer.RETRY, retry.delay)]
        assert m.retry_count == n
        assert phase(m) is Phase.WAITING
        assert state(m) is ReadyState.CLOSED
        started = retry_timer(m)
        assert started == [StartAttempt(n + 1), SetTimer(Timer.CONNECT, 4.0)]
        assert state(m) is ReadyState.CONNECTING


def test_backoff_formula_for_other_parameters() -> None:
    m, _ = make(min_reconnection_delay=0.5, reconnection_delay_grow_factor=2.0, max_reconnection_delay=3.0)
    m.start()
    delays = []
    for _ in range(5):
        delays.append(retry_event(fail_now(m)).delay)
        retry_timer(m)
    assert delays == pytest.approx([0.5, 1.0, 2.0, 3.0, 3.0])


def test_retry_event_delay_matches_timer_and_retry_is_before_timer() -> None:
    m, _ = make(min_reconnection_delay=2.0)
    m.start()
    actions = fail_now(m)
    retry_index = next(i for i, a in enumerate(actions) if isinstance(a, Dispatch) and a.event.type == "retry")
    timer_index = next(i for i, a in enumerate(actions) if isinstance(a, SetTimer))
    close_index = next(i for i, a in enumerate(actions) if isinstance(a, Dispatch) and a.event.type == "close")
    assert close_index < retry_index < timer_index
    assert actions[timer_index] == SetTimer(Timer.RETRY, 2.0)


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999])
def test_jitter_factor_is_within_bounds(draw: float) -> None:
    rnd = FakeRandom(draw)
    m, _ = make(random=rnd, min_reconnection_delay=4.0, jitter=0.5)
    m.start()
    delays = []
    for _ in range(3):
        delays.append(retry_event(fail_now(m)).delay)
        retry_timer(m)
    bases = [4.0 * 1.3**n for n in range(3)]
    assert bases == pytest.approx([4.0, 5.2, 6.76])
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base
        assert delay == pytest.approx(base * (1 - 0.5 * draw))
    assert rnd.calls == 3


def test_full_jitter_and_the_timer_uses_the_jittered_delay() -> None:
    m, _ = make(random=FakeRandom(0.75), min_reconnection_delay=8.0, jitter=1.0)
    m.start()
    actions = fail_now(m)
    retry = retry_event(actions)
    assert retry.delay == pytest.approx(2.0)
    assert only(actions, SetTimer) == [SetTimer(Timer.RETRY, retry.delay)]


def test_no_jitter_draws_no_random_number() -> None:
    m, _ = make(random=no_random, jitter=0.0, min_reconnection_delay=1.0)
    m.start()
    assert retry_event(fail_now(m)).delay == 1.0


# -- retry counter and min_uptime ---------------------------------------------------------------


def _two_failures_then_open(m: Machine) -> None:
    m.start()
    fail_now(m)
    retry_timer(m)
    fail_now(m)
    retry_timer(m)
    open_now(m)


def test_short_open_does_not_reset_the_counter() -> None:
    m, clock = make(min_reconnection_delay=1.0, reconnection_delay_grow_factor=2.0, min_uptime=5.0)
    _two_failures_then_open(m)
    assert m.retry_count == 2
    clock.advance(1.0)
    assert m.retry_count == 2
    actions = m.connection_lost(m.attempt, 1006)
    retry = retry_event(actions)
    assert retry.attempt == 3
    assert retry.delay == pytest.approx(4.0)
    assert m.retry_count == 3


def test_open_for_min_uptime_resets_the_counter() -> None:
    m, clock = make(min_reconnection_delay=1.0, reconnection_delay_grow_factor=2.0, min_uptime=5.0)
    _two_failures_then_open(m)
    clock.advance(4.999)
    assert m.retry_count == 2
    clock.advance(0.001)
    assert m.retry_count == 0
    clock.advance(100.0)
    assert m.retry_count == 0
    actions = m.connection_lost(m.attempt, 1006)
    retry = retry_event(actions)
    assert retry.attempt == 1
    assert retry.delay == pytest.approx(1.0)
    assert m.retry_count == 1


def test_clean_server_close_after_long_open_also_restarts_the_schedule() -> None:
    m, clock = make(min_reconnection_delay=1.0, reconnection_delay_grow_factor=2.0, min_uptime=5.0)
    _two_failures_then_open(m)
    clock.advance(5.0)
    retry = retry_event(m.connection_lost(m.attempt, 1000, "bye", True))
    assert (retry.attempt, retry.delay) == (1, 1.0)


def test_retry_count_stays_zero_after_close_of_a_long_open() -> None:
    """API.md: retry_count is 0 after an open that lasted min_uptime (and is never stale)."""
    m, clock = make(min_uptime=5.0)
    _two_failures_then_open(m)
    clock.advance(6.0)
    assert m.retry_count == 0
    m.close()
    assert m.retry_count == 0


def test_min_uptime_counts_from_the_open_not_from_the_attempt() -> None:
    m, clock = make(min_uptime=5.0, connection_timeout=10.0)
    m.start()
    fail_now(m)
    retry_timer(m)
    clock.advance(4.0)  # a slow handshake
    open_now(m)
    clock.advance(1.5)
    assert m.retry_count == 1
    assert retry_event(m.connection_lost(m.attempt, 1006)).attempt == 2


def test_retry_count_never_negative_and_zero_after_reconnect() -> None:
    m, _ = make()
    assert m.retry_count == 0
    m.start()
    for _ in range(3):
        fail_now(m)
        retry_timer(m)
    assert m.retry_count == 3
    m.reconnect()
    assert m.retry_count == 0


# -- reconnect() -------------------------------------------------------------------------------


def test_reconnect_while_waiting_starts_at_once_and_resets_the_counter() -> None:
    m, _ = make()
    m.start()
    fail_now(m)
    retry_timer(m)
    fail_now(m)
    assert phase(m) is Phase.WAITING
    actions = m.reconnect()
    assert actions == [CancelTimer(Timer.RETRY), StartAttempt(3), SetTimer(Timer.CONNECT, 4.0)]
    assert m.retry_count == 0
    assert state(m) is ReadyState.CONNECTING
    retry = retry_event(fail_now(m))
    assert (retry.attempt, retry.delay) == (1, 1.0)


def test_reconnect_while_open_dispatches_one_close_that_will_reconnect() -> None:
    m, _ = make()
    open_now(m)
    attempt = m.attempt
    actions = m.reconnect()
    assert actions[0] == CloseConnection(attempt, 1000, "", False)
    event = close_event(actions)
    assert (event.code, event.reason, event.was_clean, event.will_reconnect) == (1000, "", True, True)
    assert event.cause is None
    assert kinds(actions) == ["close"]
    assert only(actions, StartAttempt) == [StartAttempt(attempt + 1)]
    assert not [a for a in actions if isinstance(a, SetTimer) and a.timer is Timer.RETRY]
    assert m.last_close is event
    assert m.should_reconnect is True
    assert state(m) is ReadyState.CONNECTING


def test_reconnect_with_code_and_reason() -> None:
    m, _ = make()
    open_now(m)
    actions = m.reconnect(4001, "switching room")
    event = close_event(actions)
    assert (event.code, event.reason) == (4001, "switching room")
    assert only(actions, CloseConnection)[0].code == 4001


def test_reconnect_while_connecting_cancels_the_attempt() -> None:
    m, _ = make()
    m.start()
    actions = m.reconnect()
    assert CancelAttempt(1) in actions
    assert CancelTimer(Timer.CONNECT) in actions
    assert kinds(actions) == ["close"]
    assert close_event(actions).will_reconnect is True
    assert actions[-2:] == [StartAttempt(2), SetTimer(Timer.CONNECT, 4.0)]
    assert actions.index(CancelAttempt(1)) < actions.index(StartAttempt(2))


def test_reconnect_validates_its_arguments_without_side_effects() -> None:
    m, _ = make()
    open_now(m)
    with pytest.raises(ValueError, match="close code"):
        m.reconnect(1006)
    with pytest.raises(ValueError, match="123"):
        m.reconnect(1000, "é" * 62)
    assert phase(m) is Phase.OPEN
    assert m.attempt == 1


def test_reconnect_after_close_starts_again() -> None:
    m, _ = make()
    open_now(m)
    m.close()
    actions = m.reconnect()
    assert not only(actions, Dispatch)  # the close event was already dispatched by close()
    assert only(actions, StartAttempt) == [StartAttempt(2)]
    assert m.should_reconnect is True
    assert m.closed_for_good is False


# -- max_retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_max_retries_allows_exactly_n_retries(limit: int) -> None:
    m, _ = make(max_retries=limit)
    m.start()
    retries: list[RetryEvent] = []
    for _ in range(limit):
        actions = fail_now(m)
        retries.append(retry_event(actions))
        assert close_event(actions).will_reconnect is True
        assert Finish() not in actions
        retry_timer(m)
    actions = fail_now(m)
    assert Finish() in actions
    assert "retry" not in kinds(actions)
    assert not only(actions, SetTimer)
    last = close_event(actions)
    assert last.will_reconnect is False
    assert m.last_close is last
    assert [r.attempt for r in retries] == list(range(1, limit + 1))
    assert phase(m) is Phase.STOPPED
    assert state(m) is ReadyState.CLOSED
    assert m.retry_count == limit
    assert m.should_reconnect is False
    assert m.closed_for_good is True
    assert m.timer_fired(Timer.RETRY) == []
    assert m.close() == []


def test_max_retries_with_failures_before_the_network() -> None:
    m, _ = make(max_retries=2)
    m.start()
    for _ in range(2):
        assert kinds(fail_now(m, reached=False)) == ["error", "retry"]
        retry_timer(m)
    actions = fail_now(m, reached=False)
    # Giving up always ends with a close event that says no retry follows.
    assert kinds(actions) == ["error", "close"]
    final = events(actions)[-1]
    assert isinstance(final, CloseEvent)
    assert (final.code, final.was_clean, final.will_reconnect) == (1006, False, False)
    assert m.last_close is final
    assert actions[-1] == Finish()
    assert phase(m) is Phase.STOPPED
    assert m.retry_count == 2


def test_giving_up_after_failures_before_the_network_leaves_no_stale_will_reconnect() -> None:
    """API.md "Giving up": the last close event has will_reconnect=False.

    A connection was open and dropped (close, will_reconnect=True), then every retry
    failed before the network (say the URL provider raised) until max_retries ran
    out. The socket has given up, so the last close event must not still promise a
    reconnection (it is what ConnectionClosed.event carries).
    """
    m, _ = make(max_retries=1)
    open_now(m)
    assert close_event(m.connection_lost(1, 1006)).will_reconnect is True
    retry_timer(m)
    actions = fail_now(m, reached=False)
    assert Finish() in actions
    assert phase(m) is Phase.STOPPED
    assert m.last_close is None or m.last_close.will_reconnect is False


def test_max_retries_infinity_is_unlimited() -> None:
    m, _ = make(max_retries=math.inf)
    m.start()
    for _ in range(50):
        assert Finish() not in fail_now(m)
        retry_timer(m)
    assert m.retry_count == 50


def test_reconnect_after_giving_up_works() -> None:
    m, _ = make(max_retries=1)
    m.start()
    fail_now(m)
    retry_timer(m)
    assert Finish() in fail_now(m)
    actions = m.reconnect()
    assert not only(actions, Dispatch)
    assert only(actions, StartAttempt) == [StartAttempt(3)]
    assert m.retry_count == 0
    assert m.should_reconnect is True
    retry = retry_event(fail_now(m))
    assert retry.attempt == 1
    retry_timer(m)
    assert Finish() in fail_now(m)  # max_retries applies again from the reconnect


def test_max_retries_counts_continue_across_short_opens() -> None:
    m, clock = make(max_retries=2, min_uptime=5.0)
    m.start()
    fail_now(m)
    retry_timer(m)
    open_now(m)
    clock.advance(1.0)
    actions = m.connection_lost(m.attempt, 1006)
    assert retry_event(actions).attempt == 2
    retry_timer(m)
    actions = fail_now(m)
    assert Finish() in actions
    assert m.retry_count == 2


# -- failures, timeouts, lost connections --------------------------------------------------------


def test_failure_before_the_network_dispatches_only_error() -> None:
    m, _ = make()
    m.start()
    error = ValueError("the url provider raised")
    actions = m.attempt_failed(1, error)
    assert actions[0] == CancelTimer(Timer.CONNECT)
    assert kinds(actions) == ["error", "retry"]
    assert error_event(actions).error is error
    assert error_event(actions).message == "the url provider raised"
    assert m.last_close is None
    assert m.url == ""
    assert phase(m) is Phase.WAITING


def test_failure_after_the_network_dispatches_error_then_close() -> None:
    m, _ = make()
    m.start()
    m.attempt_resolved(1, "wss://h.example/")
    error = OSError("connection refused")
    actions = m.attempt_failed(1, error)
    assert actions[0] == CancelTimer(Timer.CONNECT)
    assert kinds(actions) == ["error", "close", "retry"]
    assert error_event(actions).error is error
    event = close_event(actions)
    assert (event.code, event.was_clean, event.will_reconnect) == (1006, False, True)
    assert event.cause is error
    assert m.last_close is event
    assert m.url == "wss://h.example/"
    assert actions[-1] == SetTimer(Timer.RETRY, 1.0)


def test_connect_timeout() -> None:
    m, _ = make(connection_timeout=2.5)
    assert m.start()[-1] == SetTimer(Timer.CONNECT, 2.5)
    m.attempt_resolved(1, URL)
    actions = m.timer_fired(Timer.CONNECT)
    assert actions[0] == CancelAttempt(1)
    assert kinds(actions) == ["error", "close", "retry"]
    error = error_event(actions).error
    assert isinstance(error, TimeoutError)
    event = close_event(actions)
    assert (event.code, event.reason, event.was_clean, event.will_reconnect) == (1006, "timeout", False, True)
    assert event.cause is error
    assert phase(m) is Phase.WAITING
    # the cancelled attempt's late reports are ignored
    assert m.opened(1) == []
    assert m.attempt_failed(1, OSError("late")) == []
    assert phase(m) is Phase.WAITING


@pytest.mark.parametrize("phase", ["open", "waiting", "stopped", "idle"])
def test_connect_timer_outside_connecting_is_ignored(phase: str) -> None:
    m, _ = make()
    if phase == "open":
        open_now(m)
    elif phase == "waiting":
        m.start()
        fail_now(m)
    elif phase == "stopped":
        m.start()
        m.close()
    before = m.phase
    assert m.timer_fired(Timer.CONNECT) == []
    assert m.phase is before


@pytest.mark.parametrize("phase", ["open", "connecting", "stopped", "idle"])
def test_retry_timer_outside_waiting_is_ignored(phase: str) -> None:
    m, _ = make()
    if phase == "open":
        open_now(m)
    elif phase == "connecting":
        m.start()
    elif phase == "stopped":
        m.start()
        m.close()
    before, attempt = m.phase, m.attempt
    assert m.timer_fired(Timer.RETRY) == []
    assert (m.phase, m.attempt) == (before, attempt)


def test_connection_lost_abnormally_dispatches_error_then_close() -> None:
    m, _ = make()
    open_now(m)
    actions = m.connection_lost(1, 1006)
    assert kinds(actions) == ["error", "close", "retry"]
    error = error_event(actions).error
    assert isinstance(error, ConnectionLost)
    event = close_event(actions)
    assert (event.code, event.was_clean, event.will_reconnect) == (1006, False, True)
    assert event.cause is error
    assert phase(m) is Phase.WAITING
    assert state(m) is ReadyState.CLOSED


def test_connection_lost_abnormally_with_a_cause() -> None:
    m, _ = make()
    open_now(m)
    cause = ConnectionLost("keep-alive ping timed out")
    actions = m.connection_lost(1, 1006, "", False, cause)
    assert error_event(actions).error is cause
    assert close_event(actions).cause is cause


def test_clean_close_from_the_server_gives_only_close() -> None:
    m, _ = make()
    open_now(m)
    actions = m.connection_lost(1, 4000, "room closed", True)
    assert kinds(actions) == ["close", "retry"]
    event = close_event(actions)
    assert (event.code, event.reason, event.was_clean, event.will_reconnect) == (4000, "room closed", True, True)
    assert event.cause is None
    assert m.last_close is event


def test_connection_lost_when_not_open_is_ignored() -> None:
    m, _ = make()
    m.start()
    assert m.connection_lost(1, 1006) == []
    assert phase(m) is Phase.CONNECTING


def test_should_reconnect_on_close_false_stops() -> None:
    seen: list[CloseEvent] = []

    def policy(event: CloseEvent) -> bool:
        seen.append(event)
        return event.code != 4003

    m, _ = make(policy=policy)
    open_now(m)
    actions = m.connection_lost(1, 4000, "", True)
    assert close_event(actions).will_reconnect is True
    retry_timer(m)
    open_now(m)
    actions = m.connection_lost(2, 4003, "forbidden", True)
    event = close_event(actions)
    assert event.will_reconnect is False
    assert kinds(actions) == ["close"]
    assert actions[-1] == Finish()
    assert [e.code for e in seen] == [4000, 4003]
    assert seen[-1] is event
    assert m.should_reconnect is False
    assert phase(m) is Phase.STOPPED
    assert m.closed_for_good is True
    assert state(m) is ReadyState.CLOSED


def test_should_reconnect_on_close_sees_a_rejected_handshake() -> None:
    m, _ = make(policy=lambda event: not (isinstance(event.cause, HandshakeRejected) and event.cause.status == 401))
    m.start()
    fail_now(m, error=HandshakeRejected(503))
    assert phase(m) is Phase.WAITING
    retry_timer(m)
    actions = fail_now(m, error=HandshakeRejected(401))
    assert close_event(actions).will_reconnect is False
    assert Finish() in actions
    assert m.should_reconnect is False
    assert m.retry_count == 1


def test_policy_is_not_consulted_for_a_user_close() -> None:
    calls: list[CloseEvent] = []

    def policy(event: CloseEvent) -> bool:
        calls.append(event)
        return True

    m, _ = make(policy=policy)
    open_now(m)
    m.close()
    m.reconnect()
    assert calls == []


# -- close() -----------------------------------------------------------------------------------


def test_close_while_open() -> None:
    m, _ = make()
    open_now(m)
    actions = m.close()
    assert actions[0] == CloseConnection(1, 1000, "", True)
    event = close_event(actions)
    assert (event.code, event.reason, event.was_clean, event.will_reconnect) == (1000, "", True, False)
    assert event.cause is None
    assert actions[-1] == Finish()
    assert state(m) is ReadyState.CLOSED
    assert phase(m) is Phase.STOPPED
    assert m.should_reconnect is False
    assert m.closed_for_good is True
    assert m.last_close is event


def test_close_with_code_and_reason() -> None:
    m, _ = make()
    open_now(m)
    actions = m.close(4000, "done")
    assert only(actions, CloseConnection) == [CloseConnection(1, 4000, "done", True)]
    event = close_event(actions)
    assert (event.code, event.reason) == (4000, "done")


def test_close_while_connecting() -> None:
    m, _ = make()
    m.start()
    actions = m.close()
    assert CancelAttempt(1) in actions
    assert CancelTimer(Timer.CONNECT) in actions
    event = close_event(actions)
    assert event.will_reconnect is False
    assert event.was_clean is True
    assert actions[-1] == Finish()
    assert state(m) is ReadyState.CLOSED
    assert m.opened(1) == []
    assert m.attempt_failed(1, OSError()) == []


def test_close_while_waiting_cancels_the_retry_and_dispatches_nothing() -> None:
    m, _ = make()
    m.start()
    previous = close_event(fail_now(m))
    actions = m.close()
    assert actions == [CancelTimer(Timer.RETRY), Finish()]
    assert m.last_close is previous
    assert phase(m) is Phase.STOPPED
    assert m.timer_fired(Timer.RETRY) == []


def test_close_is_idempotent() -> None:
    m, _ = make()
    open_now(m)
    first = m.close()
    assert Finish() in first
    assert m.close() == []
    assert m.close(4000, "again") == []
    assert m.last_close is close_event(first)


def test_no_attempt_after_close_until_reconnect() -> None:
    m, _ = make()
    open_now(m)
    m.close()
    for timer in Timer:
        assert m.timer_fired(timer) == []
    assert m.start() == []
    assert m.connection_lost(1, 1006) == []
    assert m.attempt == 1


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1010, 1011, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1000]


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_accepts_sendable_codes(code: int) -> None:
    m, _ = make()
    open_now(m)
    assert close_event(m.close(code)).code == code


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_rejects_other_codes(code: int) -> None:
    m, _ = make()
    open_now(m)
    with pytest.raises(ValueError, match=str(code)):
        m.close(code)
    assert phase(m) is Phase.OPEN
    assert m.should_reconnect is True


@pytest.mark.parametrize("code", [True, False, "1000", 1000.0, None])
def test_close_rejects_non_int_codes(code: Any) -> None:
    m, _ = make()
    open_now(m)
    with pytest.raises((TypeError, ValueError), match="code"):
        m.close(code)
    assert phase(m) is Phase.OPEN


@pytest.mark.parametrize("reason", ["a" * 123, "é" * 61 + "a", "€" * 41, ""])
def test_close_accepts_reasons_up_to_123_bytes(reason: str) -> None:
    m, _ = make()
    open_now(m)
    assert close_event(m.close(1000, reason)).reason == reason


@pytest.mark.parametrize("reason", ["a" * 124, "é" * 62, "€" * 42, "😀" * 31])
def test_close_rejects_long_reasons(reason: str) -> None:
    m, _ = make()
    open_now(m)
    with pytest.raises(ValueError, match="123"):
        m.close(1000, reason)
    assert phase(m) is Phase.OPEN


def test_close_rejects_a_non_str_reason() -> None:
    m, _ = make()
    open_now(m)
    with pytest.raises(TypeError, match="reason"):
        m.close(1000, b"bytes")  # type: ignore[arg-type]


def test_close_validation_applies_even_when_already_closed() -> None:
    m, _ = make()
    m.start()
    m.close()
    with pytest.raises(ValueError):
        m.close(1005)


# -- send and the buffer -----------------------------------------------------------------------


def test_send_while_open_writes() -> None:
    m, _ = make()
    open_now(m)
    assert m.send("hi") is SendOutcome.WRITE
    assert m.send(b"\x00") is SendOutcome.WRITE
    assert len(m.buffer) == 0
    assert m.take_warnings() == []


@pytest.mark.parametrize("phase", ["idle", "connecting", "waiting"])
def test_send_while_not_open_buffers(phase: str) -> None:
    m, _ = make()
    if phase != "idle":
        m.start()
    if phase == "waiting":
        fail_now(m)
    assert m.send("a") is SendOutcome.BUFFERED
    assert m.send(b"b") is SendOutcome.BUFFERED
    assert m.take_warnings() == []
    assert m.buffer.byte_size == 2
    assert m.drain() == ["a", b"b"]
    assert m.drain() == []


def test_buffered_messages_are_flushed_in_order_before_the_open_event() -> None:
    m, _ = make()
    m.start()
    batch: list[Message] = ["1", b"2", "3"]
    for message in batch:
        assert m.send(message) is SendOutcome.BUFFERED
    actions = m.opened(1)
    assert actions[:2] == [CancelTimer(Timer.CONNECT), Flush(1, ["1", b"2", "3"])]
    assert len(actions) == 3
    assert kinds(actions) == ["open"]
    assert len(m.buffer) == 0


def test_open_without_buffered_messages_has_no_flush() -> None:
    m, _ = make()
    actions = open_now(m)
    assert not only(actions, Flush)
    assert kinds(actions) == ["open"]
    assert actions[0] == CancelTimer(Timer.CONNECT)


def test_messages_buffered_across_failed_attempts_are_flushed_once() -> None:
    m, _ = make()
    m.start()
    m.send("a")
    fail_now(m)
    m.send("b")
    retry_timer(m)
    m.send("c")
    actions = open_now(m)
    assert only(actions, Flush) == [Flush(2, ["a", "b", "c"])]
    m.connection_lost(2, 1006)
    retry_timer(m)
    assert not only(open_now(m), Flush)


def test_max_enqueued_messages_keeps_the_first_and_warns_once_per_episode() -> None:
    m, _ = make(max_enqueued_messages=2)
    m.start()
    assert [m.send(x) for x in "abcd"] == [
        SendOutcome.BUFFERED,
        SendOutcome.BUFFERED,
        SendOutcome.DROPPED,
        SendOutcome.DROPPED,
    ]
    warnings = m.take_warnings()
    assert len(warnings) == 1
    assert "max_enqueued_messages" in warnings[0]
    assert m.take_warnings() == []
    assert m.send("e") is SendOutcome.DROPPED
    assert m.take_warnings() == []
    # drain ends the episode
    assert m.drain() == ["a", "b"]
    assert [m.send(x) for x in "fgh"] == [SendOutcome.BUFFERED, SendOutcome.BUFFERED, SendOutcome.DROPPED]
    assert len(m.take_warnings()) == 1
    # a flush ends the episode too
    assert only(m.opened(1), Flush) == [Flush(1, ["f", "g"])]
    m.connection_lost(1, 1006)
    assert [m.send(x) for x in "ijk"] == [SendOutcome.BUFFERED, SendOutcome.BUFFERED, SendOutcome.DROPPED]
    assert len(m.take_warnings()) == 1


def test_max_enqueued_messages_zero_drops_everything() -> None:
    m, _ = make(max_enqueued_messages=0)
    m.start()
    assert m.send("a") is SendOutcome.DROPPED
    assert m.send("b") is SendOutcome.DROPPED
    assert len(m.take_warnings()) == 1
    assert m.drain() == []
    m.opened(1)
    assert m.send("c") is SendOutcome.WRITE


def test_send_after_close_buffers_and_warns_once_per_close_cycle() -> None:
    m, _ = make()
    open_now(m)
    m.close()
    assert m.send("a") is SendOutcome.BUFFERED
    warnings = m.take_warnings()
    assert len(warnings) == 1
    assert "close()" in warnings[0]
    assert m.send("b") is SendOutcome.BUFFERED
    assert m.take_warnings() == []
    # the reconnect delivers them, and resets the warning
    m.reconnect()
    assert only(m.opened(2), Flush) == [Flush(2, ["a", "b"])]
    m.close()
    assert m.send("c") is SendOutcome.BUFFERED
    assert len(m.take_warnings()) == 1


def test_send_while_waiting_does_not_warn_about_close() -> None:
    m, _ = make()
    m.start()
    fail_now(m)
    m.send("x")
    assert m.take_warnings() == []


def test_requeue_puts_messages_back_at_the_front_in_order() -> None:
    m, _ = make()
    open_now(m)
    assert m.send("a") is SendOutcome.WRITE
    assert m.send("b") is SendOutcome.WRITE
    m.requeue(["a", "b"])
    m.connection_lost(1, 1006)
    m.send("c")
    m.requeue([])
    assert len(m.buffer) == 3
    retry_timer(m)
    assert only(open_now(m), Flush) == [Flush(2, ["a", "b", "c"])]


def test_requeue_from_an_older_connection_while_a_newer_one_is_open_flushes_to_it_at_once() -> None:
    m, _ = make()
    open_now(m)
    m.reconnect()
    open_now(m)
    assert m.attempt == 2
    assert m.requeue(["a", "b"], 1) == [Flush(2, ["a", "b"])]
    assert len(m.buffer) == 0  # never left waiting in the buffer while OPEN


def test_requeue_from_the_current_connection_goes_to_the_buffer_front() -> None:
    m, _ = make()
    open_now(m)
    assert m.requeue(["a"], 1) == []
    assert m.drain() == ["a"]
    m.reconnect()  # CONNECTING: the messages wait for the open flush
    assert m.requeue(["b"], 1) == []
    assert m.drain() == ["b"]


def test_requeue_keeps_messages_beyond_the_limit_but_push_still_respects_it() -> None:
    m, _ = make(max_enqueued_messages=1)
    m.start()
    m.send("x")
    m.requeue(["a", "b"])
    assert m.drain() == ["a", "b", "x"]
    m.requeue(["a", "b"])
    assert m.send("y") is SendOutcome.DROPPED


def test_take_warnings_empties() -> None:
    m, _ = make(max_enqueued_messages=0)
    m.send("a")
    assert len(m.take_warnings()) == 1
    assert m.take_warnings() == []


# -- stale attempts ----------------------------------------------------------------------------


def test_stale_attempt_ids_are_ignored_everywhere() -> None:
    m, _ = make()
    m.start()
    m.attempt_resolved(1, "wss://old.example/")
    m.reconnect()  # attempt 2
    assert m.attempt == 2
    for stale in (1, 3, 0, -1):
        assert m.is_current(stale) is False
        m.attempt_resolved(stale, "wss://stale.example/")
        assert m.url == "wss://old.example/"
        assert m.attempt_failed(stale, OSError("stale")) == []
        assert m.opened(stale) == []
        assert m.connection_lost(stale, 1006) == []
        assert phase(m) is Phase.CONNECTING
    assert m.is_current(2) is True
    m.attempt_resolved(2, "wss://new.example/")
    assert m.url == "wss://new.example/"
    m.opened(2)
    for stale in (1, 3):
        assert m.connection_lost(stale, 1006) == []
        assert m.attempt_failed(stale, OSError()) == []
        assert m.opened(stale) == []
    assert phase(m) is Phase.OPEN


def test_is_current_only_while_connecting() -> None:
    m, _ = make()
    m.start()
    assert m.is_current(1)
    m.opened(1)
    assert not m.is_current(1)
    assert m.opened(1) == []
    assert m.attempt_failed(1, OSError()) == []
    assert phase(m) is Phase.OPEN


def test_attempt_ids_increase_with_every_attempt() -> None:
    m, _ = make()
    starts: list[int] = []
    for actions in (m.start(), fail_now(m), retry_timer(m), m.reconnect(), m.close(), m.reconnect()):
        starts += [a.attempt for a in only(actions, StartAttempt)]
    assert starts == [1, 2, 3, 4]


# -- ready state -------------------------------------------------------------------------------


def test_ready_state_follows_the_phase() -> None:
    m, _ = make()
    seen = [m.ready_state]
    m.start()
    seen.append(m.ready_state)
    fail_now(m)
    seen.append(m.ready_state)
    retry_timer(m)
    seen.append(m.ready_state)
    m.opened(m.attempt)
    seen.append(m.ready_state)
    m.close()
    seen.append(m.ready_state)
    connecting, open_, closed = ReadyState.CONNECTING, ReadyState.OPEN, ReadyState.CLOSED
    assert seen == [closed, connecting, closed, connecting, open_, closed]
    assert [int(s) for s in ReadyState] == [0, 1, 2, 3]


def test_open_event_is_a_plain_event() -> None:
    event = events(open_now(make()[0]))[0]
    assert type(event) is Event
    assert event.type == "open"


# -- stateful property test ---------------------------------------------------------------------

DRAWS = (0.0, 0.3, 0.7, 0.999)


def _index(message: Message) -> int:
    text = message if isinstance(message, str) else message.decode()
    return int(text[1:])


class MachineModel(RuleBasedStateMachine):
    """Random user calls and network reports, executed by a model driver that checks the contract."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.draw_index = 0
        self.last_draw = 0.0
        self.timers: dict[Timer, float] = {}
        self.current = 0  # the attempt the driver is working on
        self.connection: int | None = None  # the attempt whose connection is open
        self.opened_at: float | None = None
        self.wire: list[Message] = []  # handed to the connection, not yet written
        self.written: list[Message] = []
        self.drained: list[Message] = []
        self.accepted: list[Message] = []
        self.dropped: list[Message] = []
        self.sent = 0
        self.open_outstanding = False
        self.user_closed = False
        self.warned_closed = False
        self.overflowing = False
        self.model_retry = 0

    def _random(self) -> float:
        self.last_draw = DRAWS[self.draw_index % len(DRAWS)]
        self.draw_index += 1
        return self.last_draw

    @initialize(
        min_delay=st.sampled_from([0.5, 1.0, 3.0]),
        grow=st.sampled_from([1.0, 1.3, 2.0]),
        max_delay=st.sampled_from([2.0, 10.0]),
        jitter=st.sampled_from([0.0, 0.5, 1.0]),
        max_retries=st.sampled_from([None, 0, 1, 3]),
        limit=st.sampled_from([None, 0, 2, 5]),
        min_uptime=st.sampled_from([0.0, 5.0]),
        start_closed=st.booleans(),
        use_policy=st.booleans(),
    )
    def setup(
        self,
        min_delay: float,
        grow: float,
        max_delay: float,
        jitter: float,
        max_retries: int | None,
        limit: int | None,
        min_uptime: float,
        start_closed: bool,
        use_policy: bool,
    ) -> None:
        self.options = Options.build(
            random=no_random,
            min_reconnection_delay=min_delay,
            reconnection_delay_grow_factor=grow,
            max_reconnection_delay=max_delay,
            jitter=jitter,
            max_retries=max_retries,
            max_enqueued_messages=limit,
            min_uptime=min_uptime,
            start_closed=start_closed,
        )
        policy = (lambda event: event.code != 4003) if use_policy else None
        self.m = Machine(self.options, clock=self.clock, random=self._random, should_reconnect_on_close=policy)
        if not start_closed:
            self.apply(self.m.start())

    # -- the model driver ---------------------------------------------------------------------

    def apply(self, actions: list[Action]) -> None:
        m = self.m
        was_stopped = phase(m) is Phase.STOPPED
        seen_open = False
        for action in actions:
            if self.user_closed:
                assert not isinstance(action, StartAttempt), actions
                assert not (isinstance(action, SetTimer) and action.timer is Timer.RETRY), actions
            if isinstance(action, StartAttempt):
                assert action.attempt > self.current
                self.current = action.attempt
            elif isinstance(action, CancelAttempt):
                assert action.attempt == self.current
            elif isinstance(action, SetTimer):
                assert action.delay >= 0
                self.timers[action.timer] = action.delay
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.timer, None)
            elif isinstance(action, Flush):
                assert action.attempt == self.connection
                assert action.messages
                assert not seen_open, "buffered messages must be flushed before the open event"
                self.wire.extend(action.messages)
                self.overflowing = False
            elif isinstance(action, CloseConnection):
                assert action.attempt == self.connection
                if action.flush:
                    self.written.extend(self.wire)
                else:
                    m.requeue(self.wire)
                self.wire = []
                self.connection = None
                self.opened_at = None
            elif isinstance(action, Dispatch):
                assert m.settle(action)
                self.dispatched(action.event)
                if action.event.type == "open":
                    seen_open = True
            else:
                assert isinstance(action, Finish)
                assert phase(m) is Phase.STOPPED
        for event in events(actions):
            if isinstance(event, CloseEvent):
                assert event.will_reconnect == (m.phase is not Phase.STOPPED)
        if not was_stopped and phase(m) is Phase.STOPPED:
            assert Finish() in actions
        self.check_retry_events(actions)

    def dispatched(self, event: Event) -> None:
        if event.type == "open":
            assert not self.open_outstanding, "two open events without a close in between"
            self.open_outstanding = True
        elif event.type == "close":
            self.open_outstanding = False

    def check_retry_events(self, actions: list[Action]) -> None:
        options = self.options
        for event in events(actions):
            if not isinstance(event, RetryEvent):
                continue
            assert not self.user_closed
            assert event.attempt == self.model_retry + 1
            assert event.attempt <= options.max_retries
            self.model_retry = event.attempt
            base = min(
                options.min_reconnection_delay * options.reconnection_delay_grow_factor ** (event.attempt - 1),
                options.max_reconnection_delay,
            )
            expected = base * (1 - options.jitter * self.last_draw) if options.jitter else base
            assert event.delay == pytest.approx(expected)
            assert (1 - options.jitter) * base - 1e-9 <= event.delay <= base + 1e-9

    # -- user calls ---------------------------------------------------------------------------

    @rule(binary=st.booleans())
    def send(self, binary: bool) -> None:
        m = self.m
        text = f"m{self.sent}"
        self.sent += 1
        message: Message = text.encode() if binary else text
        phase, size = m.phase, len(m.buffer)
        outcome = m.send(message)
        warnings = m.take_warnings()
        expected_warnings = 0
        if self.user_closed and not self.warned_closed:
            self.warned_closed = True
            expected_warnings += 1
        if phase is Phase.OPEN:
            assert outcome is SendOutcome.WRITE
            assert self.connection is not None
            self.wire.append(message)
            self.accepted.append(message)
        elif outcome is SendOutcome.BUFFERED:
            assert size < self.options.max_enqueued_messages
            assert len(m.buffer) == size + 1 <= self.options.max_enqueued_messages
            self.accepted.append(message)
        else:
            assert outcome is SendOutcome.DROPPED
            assert size >= self.options.max_enqueued_messages
            assert len(m.buffer) == size
            self.dropped.append(message)
            if not self.overflowing:
                self.overflowing = True
                expected_warnings += 1
        assert len(warnings) == expected_warnings, warnings

    @rule(code=st.sampled_from([1000, 4000]))
    def close(self, code: int) -> None:
        m = self.m
        if self.opened_at is not None and self.clock() - self.opened_at >= self.options.min_uptime:
            self.model_retry = 0
        was_stopped = phase(m) is Phase.STOPPED
        actions = m.close(code)
        self.user_closed = True
        if was_stopped:
            assert actions == []
        self.apply(actions)
        assert phase(m) is Phase.STOPPED
        assert state(m) is ReadyState.CLOSED

    @rule(code=st.sampled_from([1005, 1006, 5000]))
    def close_invalid(self, code: int) -> None:
        phase, attempt = self.m.phase, self.m.attempt
        with pytest.raises(ValueError):
            self.m.close(code)
        with pytest.raises(ValueError):
            self.m.reconnect(code)
        assert (self.m.phase, self.m.attempt) == (phase, attempt)

    @rule()
    def reconnect(self) -> None:
        actions = self.m.reconnect()
        self.user_closed = False
        self.warned_closed = False
        self.model_retry = 0
        assert not [a for a in actions if isinstance(a, SetTimer) and a.timer is Timer.RETRY]
        assert sum(isinstance(a, StartAttempt) for a in actions) == 1
        assert len([e for e in events(actions) if e.type == "close"]) <= 1
        self.apply(actions)
        assert self.m.phase is Phase.CONNECTING
        assert self.m.retry_count == 0

    @rule()
    def start(self) -> None:
        phase = self.m.phase
        actions = self.m.start()
        if phase is not Phase.IDLE:
            assert actions == []
        self.apply(actions)

    @rule()
    def drain(self) -> None:
        self.drained.extend(self.m.drain())
        self.overflowing = False
        assert len(self.m.buffer) == 0

    # -- network and timers -------------------------------------------------------------------

    @precondition(lambda self: Timer.RETRY in self.timers)
    @rule()
    def fire_retry_timer(self) -> None:
        self.clock.advance(self.timers.pop(Timer.RETRY))
        actions = self.m.timer_fired(Timer.RETRY)
        assert only(actions, StartAttempt)
        self.apply(actions)

    @precondition(lambda self: Timer.CONNECT in self.timers)
    @rule()
    def fire_connect_timer(self) -> None:
        self.clock.advance(self.timers.pop(Timer.CONNECT))
        actions = self.m.timer_fired(Timer.CONNECT)
        assert actions[0] == CancelAttempt(self.current)
        assert isinstance(error_event(actions).error, TimeoutError)
        self.apply(actions)

    @rule(timer=st.sampled_from(list(Timer)))
    def spurious_timer(self, timer: Timer) -> None:
        if timer not in self.timers:
            phase = self.m.phase
            assert self.m.timer_fired(timer) == []
            assert self.m.phase is phase

    @precondition(lambda self: self.m.phase is Phase.CONNECTING)
    @rule()
    def resolve(self) -> None:
        url = f"wss://example.com/{self.current}"
        self.m.attempt_resolved(self.current, url)
        assert self.m.url == url

    @precondition(lambda self: self.m.phase is Phase.CONNECTING)
    @rule()
    def fail(self) -> None:
        self.apply(self.m.attempt_failed(self.current, OSError("refused")))
        assert self.m.phase in (Phase.WAITING, Phase.STOPPED)

    @precondition(lambda self: self.m.phase is Phase.CONNECTING)
    @rule()
    def open(self) -> None:
        assert self.m.is_current(self.current)
        self.connection = self.current
        self.opened_at = self.clock()
        actions = self.m.opened(self.current)
        assert "open" in kinds(actions)
        self.apply(actions)
        assert self.m.phase is Phase.OPEN

    @precondition(lambda self: len(self.wire) > 0)
    @rule(count=st.integers(min_value=1, max_value=5))
    def write_some(self, count: int) -> None:
        self.written.extend(self.wire[:count])
        del self.wire[:count]

    @precondition(lambda self: self.connection is not None)
    @rule(code=st.sampled_from([1006, 1000, 4000, 4003]))
    def lose(self, code: int) -> None:
        assert self.connection is not None
        attempt = self.connection
        if self.opened_at is not None and self.clock() - self.opened_at >= self.options.min_uptime:
            self.model_retry = 0
        self.m.requeue(self.wire)
        self.wire = []
        self.connection = None
        self.opened_at = None
        actions = self.m.connection_lost(attempt, code, "", code != 1006)
        assert close_event(actions).code == code
        self.apply(actions)

    @rule(offset=st.sampled_from([-1, 1, 2]))
    def stale_reports(self, offset: int) -> None:
        m = self.m
        stale = m.attempt + offset
        phase, url, size = m.phase, m.url, len(m.buffer)
        m.attempt_resolved(stale, "wss://stale.example/")
        assert m.attempt_failed(stale, OSError("stale")) == []
        assert m.opened(stale) == []
        assert m.connection_lost(stale, 1006) == []
        assert (m.phase, m.url, len(m.buffer)) == (phase, url, size)

    @rule(seconds=st.floats(min_value=0.0, max_value=8.0))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def ready_state_matches_phase(self) -> None:
        m = self.m
        expected = {
            Phase.IDLE: ReadyState.CLOSED,
            Phase.CONNECTING: ReadyState.CONNECTING,
            Phase.OPEN: ReadyState.OPEN,
            Phase.WAITING: ReadyState.CLOSED,
            Phase.STOPPED: ReadyState.CLOSED,
        }[m.phase]
        assert m.ready_state is expected
        assert m.closed_for_good == (m.phase in (Phase.IDLE, Phase.STOPPED))
        assert (phase(m) is Phase.WAITING) == (Timer.RETRY in self.timers)
        assert (phase(m) is Phase.CONNECTING) == (Timer.CONNECT in self.timers)
        assert (phase(m) is Phase.OPEN) == (self.connection is not None)
        assert self.open_outstanding == (phase(m) is Phase.OPEN)
        if phase(m) is Phase.OPEN:
            assert len(m.buffer) == 0
        if phase(m) is Phase.STOPPED:
            assert m.should_reconnect is False
        if m.phase in (Phase.CONNECTING, Phase.OPEN, Phase.WAITING):
            assert m.should_reconnect is True
        if self.user_closed:
            assert phase(m) is Phase.STOPPED

    @invariant()
    def retry_count_is_consistent(self) -> None:
        m = self.m
        assert 0 <= m.retry_count <= self.options.max_retries
        uptime = self.opened_at is not None and self.clock() - self.opened_at >= self.options.min_uptime
        expected = 0 if phase(m) is Phase.OPEN and uptime else self.model_retry
        assert m.retry_count == expected

    @invariant()
    def every_message_is_accounted_for_once_and_in_order(self) -> None:
        total = len(self.written) + len(self.wire) + len(self.drained) + len(self.m.buffer)
        assert total == len(self.accepted)
        indexes = [_index(message) for message in self.written + self.wire]
        assert indexes == sorted(set(indexes))

    def teardown(self) -> None:
        if not hasattr(self, "m"):
            return
        rest = self.m.drain()
        everything = self.written + self.wire + self.drained + rest
        assert sorted(everything, key=_index) == self.accepted
        assert len({_index(message) for message in everything}) == len(everything)
        assert not {_index(message) for message in everything} & {_index(message) for message in self.dropped}


MachineModel.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMachineModel = MachineModel.TestCase


def test_settle_drops_a_retry_event_after_close_and_downgrades_the_close_event() -> None:
    """A listener that calls close() between decision and dispatch wins (Machine.settle)."""
    m, _ = make(min_reconnection_delay=1.0)
    m.start()
    actions = fail_now(m)
    dispatches = [a for a in actions if isinstance(a, Dispatch)]
    close = next(a for a in dispatches if isinstance(a.event, CloseEvent))
    retry = next(a for a in dispatches if isinstance(a.event, RetryEvent))
    assert isinstance(close.event, CloseEvent) and close.event.will_reconnect is True
    m.close()  # as if the error listener called close()
    assert m.settle(close) is True
    assert close.event.will_reconnect is False
    assert m.settle(retry) is False


def test_settle_drops_a_retry_event_after_reconnect_but_keeps_the_close_promise() -> None:
    m, _ = make(min_reconnection_delay=1.0)
    m.start()
    actions = fail_now(m)
    close = next(a for a in actions if isinstance(a, Dispatch) and isinstance(a.event, CloseEvent))
    retry = next(a for a in actions if isinstance(a, Dispatch) and isinstance(a.event, RetryEvent))
    m.reconnect()
    assert m.settle(close) is True
    assert isinstance(close.event, CloseEvent) and close.event.will_reconnect is True
    assert m.settle(retry) is False
