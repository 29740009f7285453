"""partysocket against the real PartyKit dev server and the reference TypeScript client."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any
from urllib.parse import parse_qs, urlsplit

from partysocket import PartySocket

from .conftest import PartyKitDev

TIMEOUT = 20.0


async def next_json(ws: PartySocket) -> dict[str, Any]:
    data = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(data, str)
    parsed: dict[str, Any] = json.loads(data)
    return parsed


async def read_event(process: subprocess.Popen[str], wanted: str) -> dict[str, Any]:
    """The next event of type ``wanted`` printed by the reference client."""
    assert process.stdout is not None
    while True:
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), TIMEOUT)
        except TimeoutError:
            process.kill()  # unblocks the reading thread
            raise
        assert line, "the reference client exited"
        event: dict[str, Any] = json.loads(line)
        if event["type"] == wanted:
            return event


async def test_room_id_connection_id_and_query_reach_the_server(partykit: PartyKitDev) -> None:
    async def token() -> dict[str, str]:
        return {"token": "s3cret", "lang": "en gb"}

    ws = PartySocket(partykit.host, "lobby", id="py-1", query=token)
    try:
        welcome = await next_json(ws)
        assert welcome["room"] == "lobby"
        assert welcome["party"] == "main"
        assert welcome["id"] == "py-1"
        query = parse_qs(urlsplit(welcome["url"]).query)
        assert query == {"_pk": ["py-1"], "token": ["s3cret"], "lang": ["en gb"]}
        assert ws.room_url == f"ws://{partykit.host}/parties/main/lobby"
    finally:
        await ws.aclose()


async def test_python_and_reference_client_exchange_messages(partykit: PartyKitDev, reference_client: Any) -> None:
    ws = PartySocket(partykit.host, "chat", id="py-2")
    node = reference_client(partykit.host, "chat", "node-2")
    try:
        assert (await next_json(ws))["type"] == "welcome"
        await read_event(node, "open")
        welcome = json.loads((await read_event(node, "message"))["data"])
        assert welcome["id"] == "node-2" and welcome["room"] == "chat"

        ws.send("from python")
        assert (await read_event(node, "message"))["data"] == "from python"

        assert node.stdin is not None
        node.stdin.write("from node\n")
        node.stdin.flush()
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "from node"
    finally:
        await ws.aclose()
        node.kill()


async def test_reconnects_after_server_restart_and_delivers_buffer(partykit: PartyKitDev) -> None:
    ws = PartySocket(
        partykit.host, "restart", id="py-3", min_reconnection_delay=0.1, max_reconnection_delay=0.5, min_uptime=0.5
    )
    opened, closed = asyncio.Event(), asyncio.Event()
    ws.add_event_listener("open", lambda event: opened.set())
    ws.add_event_listener("close", lambda event: closed.set())
    try:
        assert (await next_json(ws))["type"] == "welcome"
        opened.clear()
        await asyncio.to_thread(partykit.stop)
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        sent = [ws.send(f"echo:{n}") for n in range(5)]
        assert sent == [False] * 5  # buffered while the server is down
        await asyncio.to_thread(partykit.start)
        await asyncio.wait_for(opened.wait(), 60)
        assert (await next_json(ws))["type"] == "welcome"
        echoed = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(5)]
        assert echoed == [f"echo:{n}" for n in range(5)]
    finally:
        await ws.aclose()
        if partykit.process is None:
            partykit.start()


async def test_fetch_reaches_the_request_handler(partykit: PartyKitDev) -> None:
    response = await PartySocket.fetch(
        partykit.host,
        "api",
        path="items/1",
        query={"q": "a b", "skip": None},
        method="POST",
        content=b"payload",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "POST"
    assert body["room"] == "api"
    assert body["body"] == "payload"
    url = urlsplit(body["url"])
    assert url.path == "/parties/main/api/items/1"
    assert parse_qs(url.query) == {"q": ["a b"]}
