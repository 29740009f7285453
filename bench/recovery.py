"""Recovery: kill the server, send while it is down, restart it; time from the server
accepting again to the client's open and to the echo of the first buffered message.

Both clients use the same schedule: the n-th consecutive failure waits
``min(0.05 * 1.3 ** (n - 1), 0.2)`` s. ``scheduled_delay`` is the wait before the
attempt that succeeded; the target is ``to_open <= scheduled_delay + 10 ms``.
``overhead`` is the time from when that attempt was due (or from the server
accepting, if later) to the open event: the client's own cost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import Any

from .common import EchoServer, free_port

MIN_DELAY = 0.05
MAX_DELAY = 0.2
GROW = 1.3


def _summary(cycles: list[dict[str, float]]) -> dict[str, Any]:
    def worst(key: str) -> float:
        return max(c[key] for c in cycles)

    def median(key: str) -> float:
        values = sorted(c[key] for c in cycles)
        return values[len(values) // 2]

    return {
        "to_open_median": median("to_open"),
        "to_open_max": worst("to_open"),
        "to_message_median": median("to_message"),
        "to_message_max": worst("to_message"),
        "overshoot_max": max(c["to_open"] - c["scheduled_delay"] for c in cycles),
        "overhead_max": max(c["overhead"] for c in cycles),
        "cycles": cycles,
    }


async def ours(cycles: int, transport: str = "default") -> dict[str, Any]:
    from partysocket import ReconnectingWebSocket

    from .clients import our_transport

    server = EchoServer(free_port())
    server.start()
    loop = asyncio.get_running_loop()
    opened: list[float] = []
    messages: asyncio.Queue[float] = asyncio.Queue()
    last_delay = [0.0]
    ws = ReconnectingWebSocket(
        server.url,
        websocket=our_transport(transport),
        min_reconnection_delay=MIN_DELAY,
        max_reconnection_delay=MAX_DELAY,
        reconnection_delay_grow_factor=GROW,
        min_uptime=0.0,
    )
    ws.onopen = lambda _e: opened.append(time.monotonic())
    ws.onmessage = lambda _e: messages.put_nowait(time.monotonic())
    due = [0.0]

    def on_retry(event: Any) -> None:
        last_delay[0] = event.delay
        due[0] = time.monotonic() + event.delay

    ws.onretry = on_retry
    closed = asyncio.Event()
    ws.onclose = lambda _e: closed.set()
    results = []
    try:
        await ws.wait_open(10)
        for _ in range(cycles):
            closed.clear()
            server.kill()
            await asyncio.wait_for(closed.wait(), 5)
            ws.send(b"buffered")
            await asyncio.sleep(random.uniform(0.2, 0.8))
            opened.clear()
            listening = await loop.run_in_executor(None, server.start)
            got = await asyncio.wait_for(messages.get(), 10)
            assert opened, "a message arrived before open"
            results.append(
                {
                    "to_open": opened[0] - listening,
                    "to_message": got - listening,
                    "scheduled_delay": last_delay[0],
                    "overhead": opened[0] - max(listening, due[0]),
                }
            )
    finally:
        await asyncio.wait_for(ws.aclose(), 10)
        server.stop()
    return _summary(results)


async def websockets_loop(cycles: int) -> dict[str, Any]:
    """Raw websockets with a hand-written reconnect loop and buffer (what users write today)."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    server = EchoServer(free_port())
    server.start()
    loop = asyncio.get_running_loop()
    buffer: deque[bytes] = deque()
    current: list[ClientConnection | None] = [None]
    opened: list[float] = []
    messages: asyncio.Queue[float] = asyncio.Queue()
    closed = asyncio.Event()
    first = asyncio.Event()
    last_delay = [0.0]
    due = [0.0]
    stop = False
    sends: set[asyncio.Future[None]] = set()

    async def run() -> None:
        failures = 0
        while not stop:
            try:
                ws = await connect(server.url)
            except OSError:
                failures += 1
                delay = min(MIN_DELAY * GROW ** (failures - 1), MAX_DELAY)
                last_delay[0] = delay
                due[0] = time.monotonic() + delay
                await asyncio.sleep(delay)
                continue
            failures = 0
            while buffer:
                await ws.send(buffer.popleft())
            current[0] = ws
            opened.append(time.monotonic())
            first.set()
            try:
                async for _message in ws:
                    messages.put_nowait(time.monotonic())
            except ConnectionClosed:
                pass
            current[0] = None
            closed.set()

    def send(data: bytes) -> None:
        ws = current[0]
        if ws is None:
            buffer.append(data)
        else:
            sends.add(asyncio.ensure_future(ws.send(data)))

    task = asyncio.create_task(run())
    results = []
    try:
        await asyncio.wait_for(first.wait(), 10)
        for _ in range(cycles):
            closed.clear()
            server.kill()
            await asyncio.wait_for(closed.wait(), 5)
            send(b"buffered")
            await asyncio.sleep(random.uniform(0.2, 0.8))
            opened.clear()
            listening = await loop.run_in_executor(None, server.start)
            got = await asyncio.wait_for(messages.get(), 10)
            results.append(
                {
                    "to_open": opened[0] - listening,
                    "to_message": got - listening,
                    "scheduled_delay": last_delay[0],
                    "overhead": opened[0] - max(listening, due[0]),
                }
            )
    finally:
        stop = True
        task.cancel()
        ws = current[0]
        if ws is not None:
            await ws.close()
        server.stop()
    return _summary(results)
