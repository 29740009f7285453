from __future__ import annotations

import partysocket
import partysocket.sync


def test_sync_offers_the_same_names_as_the_asyncio_flavour() -> None:
    missing = set(partysocket.__all__) - set(partysocket.sync.__all__) - {"ReadyState", "__version__"}
    assert missing == set()
    for name in partysocket.sync.__all__:
        assert hasattr(partysocket.sync, name), name


def test_sync_classes_are_twins_not_the_asyncio_classes() -> None:
    assert partysocket.sync.WebSocket is partysocket.sync.ReconnectingWebSocket
    assert not issubclass(partysocket.sync.ReconnectingWebSocket, partysocket.ReconnectingWebSocket)
    assert issubclass(partysocket.sync.PartySocket, partysocket.sync.ReconnectingWebSocket)
    assert partysocket.sync.CloseEvent is partysocket.CloseEvent
    assert partysocket.sync.ConnectionClosed is partysocket.ConnectionClosed
    assert (partysocket.sync.CONNECTING, partysocket.sync.CLOSED) == (0, 3)


def test_sync_construction_needs_no_event_loop_and_validates_like_asyncio() -> None:
    import pytest

    with pytest.raises(ValueError, match="ws://"):
        partysocket.sync.ReconnectingWebSocket("http://example.com")
    with pytest.raises(ValueError, match="max_retries"):
        partysocket.sync.ReconnectingWebSocket("ws://127.0.0.1:9", max_retries=-1)
