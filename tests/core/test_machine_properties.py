"""The event grammar of the pure core, checked on random sequences (hypothesis, stateful).

tests/core/test_machine.py's ``MachineModel`` already checks most of the
invariants of the reliability issue: valid ``ready_state``, no two ``open``
events in a row, buffered messages leave in order and once, no reconnect
scheduled after ``close()``, retry counts and delays follow the formula,
``max_enqueued_messages`` holds. What it does not check is the *grammar* of
the events, attempt by attempt. This model reuses its rules and driver and
adds, for every attempt (the events dispatched while it is the current one):

* the sequence matches ``[open] [error] [close] [retry]``: never a second
  open, error or close for the same attempt, nothing after ``retry``;
* a ``close`` event belongs to an attempt that was started (no close without
  a preceding connect attempt);
* ``close`` with code 1006 (abnormal) comes right after an ``error`` whose
  error is the close event's ``cause``; a clean code never follows an error;
* an ``open`` is never followed by an ``error`` in the same batch of actions;
* once closed for good, nothing is dispatched until ``reconnect()``/``start()``
  starts a new attempt.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, settings

from partysocket.core.machine import Action, Dispatch, Phase, StartAttempt
from partysocket.events import CloseEvent, ErrorEvent, Event
from tests.core.test_machine import MachineModel

GRAMMAR = re.compile(r"^(open,)?(error,)?(close,)?(retry,)?$")


class EventGrammarModel(MachineModel):
    def __init__(self) -> None:
        super().__init__()
        self.per_attempt: dict[int, list[Event]] = {}
        #: the phase after the last batch of actions (inputs change the phase before apply() sees them)
        self.prev_phase = Phase.IDLE

    def apply(self, actions: list[Action]) -> None:
        stopped = self.prev_phase in (Phase.STOPPED, Phase.IDLE)
        attempt = self.current
        batch: list[tuple[int, Event]] = []
        for action in actions:
            if isinstance(action, StartAttempt):
                attempt = action.attempt
                stopped = False
            elif isinstance(action, Dispatch):
                assert not stopped, f"{action.event.type} dispatched while closed for good: {actions}"
                assert attempt >= 1, f"{action.event.type} before any attempt was started"
                batch.append((attempt, action.event))
        super().apply(actions)
        self.prev_phase = self.m.phase
        touched = set()
        for owner, event in batch:
            self.per_attempt.setdefault(owner, []).append(event)
            touched.add(owner)
        for owner in touched:
            self.check_attempt(self.per_attempt[owner])
        self.check_batch([event for _, event in batch])

    @staticmethod
    def check_attempt(events: list[Event]) -> None:
        kinds = "".join(f"{event.type}," for event in events)
        assert GRAMMAR.match(kinds), f"bad event sequence for one attempt: {kinds}"
        for before, event in itertools.pairwise(events):
            if isinstance(event, CloseEvent):
                if event.code == 1006:
                    assert isinstance(before, ErrorEvent), kinds
                    assert event.cause is before.error
                    assert event.was_clean is False
                else:
                    assert not isinstance(before, ErrorEvent), kinds
        first = events[0]
        if isinstance(first, CloseEvent):
            assert first.code != 1006 and first.was_clean, "an abnormal close must follow an error"

    @staticmethod
    def check_batch(events: list[Event]) -> None:
        for i, event in enumerate(events):
            if isinstance(event, ErrorEvent) and i > 0 and events[i - 1].type == "open":
                raise AssertionError("open and error in one batch")


EventGrammarModel.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEventGrammar = EventGrammarModel.TestCase
