from __future__ import annotations

import threading

import partysocket.sync as ps

from .conftest import ThreadedServer


def test_send_recv_close_from_a_plain_thread(server: ThreadedServer) -> None:
    ws = ps.ReconnectingWebSocket(server.url, min_reconnection_delay=0.05, start_closed=True)
    try:
        iter(ws)  # start collecting messages for recv() before anything can arrive
        assert ws.send("early") is False  # not connected yet: buffered
        ws.reconnect()
        ws.wait_open(5)
        assert ws.send("live") is True
        assert ws.recv(5) == "early"
        assert ws.recv(5) == "live"
    finally:
        ws.close()
    assert ws.ready_state == ps.CLOSED
    assert not [t for t in threading.enumerate() if t.name == "partysocket-loop"]
