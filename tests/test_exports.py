"""The public names of API.md "Package and imports" exist and are what they say."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import partysocket


def test_all_names_exist() -> None:
    assert partysocket.__all__
    for name in partysocket.__all__:
        assert hasattr(partysocket, name), f"partysocket.__all__ lists {name!r}, which does not exist"


def test_all_has_no_duplicates() -> None:
    assert len(partysocket.__all__) == len(set(partysocket.__all__))


@pytest.mark.parametrize(
    "name",
    [
        "ReconnectingWebSocket",
        "WebSocket",
        "Event",
        "MessageEvent",
        "CloseEvent",
        "ErrorEvent",
        "RetryEvent",
        "CONNECTING",
        "OPEN",
        "CLOSING",
        "CLOSED",
        "PartySocketError",
        "ConnectionClosed",
    ],
)
def test_documented_names_are_exported(name: str) -> None:
    assert name in partysocket.__all__
    assert getattr(partysocket, name) is not None


def test_documented_imports_work() -> None:
    from partysocket import (
        CLOSED,
        CLOSING,
        CONNECTING,
        OPEN,
        CloseEvent,
        ErrorEvent,
        Event,
        MessageEvent,
        ReconnectingWebSocket,
        RetryEvent,
        WebSocket,
    )

    assert WebSocket is ReconnectingWebSocket
    assert (CONNECTING, OPEN, CLOSING, CLOSED) == (0, 1, 2, 3)
    assert all(isinstance(state, int) for state in (CONNECTING, OPEN, CLOSING, CLOSED))
    for cls in (MessageEvent, CloseEvent, ErrorEvent, RetryEvent):
        assert issubclass(cls, Event)


def test_ready_state_constants_on_the_class() -> None:
    cls = partysocket.ReconnectingWebSocket
    assert (cls.CONNECTING, cls.OPEN, cls.CLOSING, cls.CLOSED) == (0, 1, 2, 3)


def test_event_classes_are_the_ones_in_partysocket_events() -> None:
    events = importlib.import_module("partysocket.events")
    for name in ("Event", "MessageEvent", "CloseEvent", "ErrorEvent", "RetryEvent"):
        assert getattr(partysocket, name) is getattr(events, name)


def test_exception_hierarchy() -> None:
    assert issubclass(partysocket.PartySocketError, Exception)
    assert issubclass(partysocket.ConnectionClosed, partysocket.PartySocketError)
    assert issubclass(partysocket.ConnectionLost, partysocket.PartySocketError)
    assert issubclass(partysocket.HandshakeError, partysocket.PartySocketError)
    assert issubclass(partysocket.HandshakeRejected, partysocket.HandshakeError)


def test_connection_closed_carries_the_last_close_event() -> None:
    never = partysocket.ConnectionClosed(None)
    assert never.event is None
    assert "reconnect()" in str(never)
    event = partysocket.CloseEvent(4000, "room closed", True)
    closed = partysocket.ConnectionClosed(event)
    assert closed.event is event
    assert "4000" in str(closed)
    assert "room closed" in str(closed)
    with pytest.raises(partysocket.PartySocketError):
        raise closed


def test_handshake_rejected_has_the_status() -> None:
    rejected = partysocket.HandshakeRejected(403, {"X-Reason": "no"}, b"forbidden")
    assert rejected.status == 403
    assert rejected.headers == {"X-Reason": "no"}
    assert rejected.body == b"forbidden"
    assert "403" in str(rejected)
    assert partysocket.HandshakeRejected(401).headers == {}


def test_version_and_typed_marker() -> None:
    assert isinstance(partysocket.__version__, str)
    assert partysocket.__version__.count(".") >= 1
    assert (Path(partysocket.__file__).parent / "py.typed").is_file()
