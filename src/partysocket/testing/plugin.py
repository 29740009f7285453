"""The pytest plugin of partysocket (registered as ``pytest11`` entry point ``partysocket``).

It gives every test suite the ``party_server`` fixture: a fresh
:class:`~partysocket.testing.PartyServer` (a local PartyKit-style room server on
127.0.0.1, on its own thread) per test, stopped afterwards. Pass
:class:`~partysocket.server.RoomServer` options with a marker::

    @pytest.mark.party_server(echo=True, hold_for=5.0)
    def test_something(party_server): ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import PartyServer

__all__ = ["party_server"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "party_server(**options): RoomServer options (echo, hold_for, prefix, ...) for party_server"
    )


@pytest.fixture
def party_server(request: pytest.FixtureRequest) -> Iterator[PartyServer]:
    """A running :class:`~partysocket.testing.PartyServer` on 127.0.0.1 (a free port), stopped after the test."""
    marker = request.node.get_closest_marker("party_server")
    options = dict(marker.kwargs) if marker is not None else {}
    with PartyServer(**options) as server:
        yield server
