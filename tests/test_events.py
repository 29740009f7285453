"""Event classes per API.md: constructible by users, browser-shaped, with the documented defaults."""

from __future__ import annotations

import pytest

from partysocket import CloseEvent, ErrorEvent, Event, MessageEvent, RetryEvent
from partysocket.exceptions import HandshakeRejected


def test_event() -> None:
    event = Event("open")
    assert event.type == "open"
    assert event.target is None
    target = object()
    assert Event("custom", target).target is target
    assert "open" in repr(event)


def test_target_is_settable() -> None:
    event = Event("open")
    target = object()
    event.target = target
    assert event.target is target


@pytest.mark.parametrize("data", ["hello", "", b"\x00\x01", b""])
def test_message_event(data: str | bytes) -> None:
    event = MessageEvent(data)
    assert isinstance(event, Event)
    assert event.type == "message"
    assert event.data == data
    assert type(event.data) is type(data)
    assert event.target is None


def test_message_event_repr_is_short_for_long_data() -> None:
    text = repr(MessageEvent("x" * 10_000))
    assert len(text) < 200
    assert "..." in text
    assert "hi" in repr(MessageEvent("hi"))


def test_close_event_defaults() -> None:
    event = CloseEvent()
    assert isinstance(event, Event)
    assert event.type == "close"
    assert event.code == 1000
    assert event.reason == ""
    assert event.was_clean is True
    assert event.wasClean is True
    assert event.will_reconnect is False
    assert event.cause is None
    assert event.target is None


def test_close_event_keywords_and_positionals() -> None:
    by_keyword = CloseEvent(code=4000, reason="bye", was_clean=False)
    by_position = CloseEvent(4000, "bye", False)
    for event in (by_keyword, by_position):
        assert (event.code, event.reason, event.was_clean) == (4000, "bye", False)
        assert event.will_reconnect is False
        assert event.cause is None


def test_close_event_will_reconnect_and_cause() -> None:
    cause = HandshakeRejected(401)
    event = CloseEvent(1006, "", False, will_reconnect=True, cause=cause)
    assert event.will_reconnect is True
    assert event.cause is cause
    assert isinstance(event.cause, HandshakeRejected)
    assert event.cause.status == 401


def test_was_clean_alias_follows_the_attribute() -> None:
    event = CloseEvent(1006, "", False)
    assert event.wasClean is False
    event.was_clean = True
    assert event.wasClean is True


def test_close_event_repr() -> None:
    text = repr(CloseEvent(4000, "bye", True, will_reconnect=True))
    assert "4000" in text
    assert "bye" in text


def test_error_event() -> None:
    error = ValueError("the url provider raised")
    event = ErrorEvent(error)
    assert isinstance(event, Event)
    assert event.type == "error"
    assert event.error is error
    assert event.message == "the url provider raised"
    assert event.message == str(error)
    assert event.target is None


def test_error_event_message_for_an_error_without_text() -> None:
    event = ErrorEvent(TimeoutError())
    assert event.message == ""
    assert isinstance(event.error, TimeoutError)


def test_retry_event() -> None:
    event = RetryEvent(1, 2.5)
    assert isinstance(event, Event)
    assert event.type == "retry"
    assert event.attempt == 1
    assert event.delay == 2.5
    assert event.target is None
    assert "2.5" in repr(event)


def test_event_types_are_distinct() -> None:
    types = {
        MessageEvent("x").type,
        CloseEvent().type,
        ErrorEvent(OSError()).type,
        RetryEvent(1, 1.0).type,
        Event("open").type,
    }
    assert types == {"message", "close", "error", "retry", "open"}
