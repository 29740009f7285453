from __future__ import annotations

import partysocket
from tests.servers import TestServer


async def test_buffered_then_live_roundtrip() -> None:
    async with TestServer() as server:
        ws = partysocket.ReconnectingWebSocket(server.url, min_reconnection_delay=0.05)
        ws.__aiter__()  # collect messages for recv() from the start
        assert ws.send("buffered") is False
        await ws.wait_open(5)
        assert ws.send("live") is True
        assert await ws.recv() == "buffered"
        assert await ws.recv() == "live"
        await ws.aclose()
        assert ws.ready_state == partysocket.CLOSED
