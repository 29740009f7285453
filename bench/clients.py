"""One implementation per client and case; each returns a dict of figures (seconds, bytes).

Every loop here is bounded by a message count or a deadline: nothing waits forever
(the worker process running it also has a hard timeout).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

Result = dict[str, Any]

# -- helpers -------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentiles(samples: list[float]) -> Result:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "n": len(ordered),
    }


def throughput_result(n: int, size: int, elapsed: float) -> Result:
    return {
        "seconds": elapsed,
        "messages": n,
        "size": size,
        "msgs_per_s": n / elapsed,
        "mb_per_s": n * size / elapsed / 1e6,
    }


def our_transport(name: str) -> Any:
    if name == "picows":
        from partysocket.transports.picows import PicowsTransport

        return PicowsTransport()
    return None


# -- partysocket (ours) --------------------------------------------------------


def _ours(url: str, transport: str, **options: Any) -> Any:
    from partysocket import ReconnectingWebSocket

    return ReconnectingWebSocket(url, websocket=our_transport(transport), **options)


async def ours_throughput(url: str, n: int, size: int, transport: str = "default") -> Result:
    ws = _ours(url, transport)
    await ws.wait_open(10)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    count = 0

    def on_message(_event: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    ws.onmessage = on_message
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        ws.send(payload)
    await asyncio.wait_for(done, 60)
    elapsed = time.perf_counter() - start
    await ws.aclose()
    return throughput_result(n, size, elapsed)


async def ours_latency(url: str, n: int, transport: str = "default") -> Result:
    ws = _ours(url, transport)
    await ws.wait_open(10)
    ws.send(b"warm")
    await ws.recv()
    payload = b"x" * 32
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        ws.send(payload)
        await asyncio.wait_for(ws.recv(), 10)
        samples.append(time.perf_counter() - start)
    await ws.aclose()
    return percentiles(samples)


async def ours_send_cost(url: str, n: int, transport: str = "default") -> Result:
    ws = _ours(url, transport)
    await ws.wait_open(10)
    payload = b"x" * 32
    start = time.perf_counter()
    for _ in range(n):
        ws.send(payload)
    open_cost = (time.perf_counter() - start) / n
    await ws.aclose()
    # buffering: nothing listens on port 9 of 127.0.0.1, and the first retry is far away
    idle = _ours("ws://127.0.0.1:9/", transport, min_reconnection_delay=30.0, max_reconnection_delay=30.0)
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    for _ in range(n):
        idle.send(payload)
    buffer_cost = (time.perf_counter() - start) / n
    idle.close()
    await asyncio.wait_for(idle.aclose(), 5)
    return {"open": open_cost, "buffering": buffer_cost, "n": n}


async def ours_scale(url: str, n: int, transport: str = "default") -> Result:
    # Import before measuring, as websockets_scale does: module memory is not per-socket memory.
    import partysocket.transports.websockets  # noqa: F401

    our_transport(transport)
    sem = asyncio.Semaphore(200)
    sockets: list[Any] = []

    async def one() -> None:
        async with sem:
            ws = _ours(url, transport)
            sockets.append(ws)
            await ws.wait_open(60)

    return await _scale(n, one)


# -- partysocket.sync (ours, blocking, from a plain thread) --------------------


def sync_throughput(url: str, n: int, size: int) -> Result:
    import threading

    from partysocket.sync import ReconnectingWebSocket

    done = threading.Event()
    count = 0

    def on_message(_event: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    ws = ReconnectingWebSocket(url, max_size=2**24)
    ws.wait_open(10)
    ws.onmessage = on_message
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        ws.send(payload)
    if not done.wait(60):
        raise TimeoutError("not every echo arrived")
    elapsed = time.perf_counter() - start
    ws.close()
    return throughput_result(n, size, elapsed)


def sync_latency(url: str, n: int) -> Result:
    from partysocket.sync import ReconnectingWebSocket

    ws = ReconnectingWebSocket(url)
    iter(ws)
    ws.wait_open(10)
    ws.send(b"warm")
    ws.recv(10)
    payload = b"x" * 32
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        ws.send(payload)
        ws.recv(10)
        samples.append(time.perf_counter() - start)
    ws.close()
    return percentiles(samples)


def sync_send_cost(url: str, n: int) -> Result:
    from partysocket.sync import ReconnectingWebSocket

    ws = ReconnectingWebSocket(url)
    ws.wait_open(10)
    payload = b"x" * 32
    start = time.perf_counter()
    for _ in range(n):
        ws.send(payload)
    open_cost = (time.perf_counter() - start) / n
    ws.close()
    idle = ReconnectingWebSocket("ws://127.0.0.1:9/", min_reconnection_delay=30.0, max_reconnection_delay=30.0)
    start = time.perf_counter()
    for _ in range(n):
        idle.send(payload)
    buffer_cost = (time.perf_counter() - start) / n
    idle.close()
    return {"open": open_cost, "buffering": buffer_cost, "n": n}


# -- websockets (the reference for every ratio) -------------------------------


async def websockets_throughput(url: str, n: int, size: int) -> Result:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=2**24) as ws:
        payload = b"x" * size

        async def reader() -> None:
            for _ in range(n):
                await ws.recv()

        start = time.perf_counter()
        task = asyncio.create_task(reader())
        for _ in range(n):
            await ws.send(payload)
        await asyncio.wait_for(task, 60)
        elapsed = time.perf_counter() - start
    return throughput_result(n, size, elapsed)


async def websockets_latency(url: str, n: int) -> Result:
    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        await ws.send(b"warm")
        await ws.recv()
        payload = b"x" * 32
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(payload)
            await asyncio.wait_for(ws.recv(), 10)
            samples.append(time.perf_counter() - start)
    return percentiles(samples)


async def websockets_send_cost(url: str, n: int) -> Result:
    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        payload = b"x" * 32

        async def drain() -> None:
            for _ in range(n):
                await ws.recv()

        task = asyncio.create_task(drain())
        start = time.perf_counter()
        for _ in range(n):
            await ws.send(payload)
        cost = (time.perf_counter() - start) / n
        await asyncio.wait_for(task, 60)
    return {"open": cost, "n": n}


async def websockets_scale(url: str, n: int) -> Result:
    from websockets.asyncio.client import connect

    sem = asyncio.Semaphore(200)
    conns: list[Any] = []

    async def one() -> None:
        async with sem:
            conns.append(await asyncio.wait_for(connect(url), 60))

    return await _scale(n, one)


# -- aiohttp -------------------------------------------------------------------


async def aiohttp_throughput(url: str, n: int, size: int) -> Result:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        payload = b"x" * size

        async def reader() -> None:
            for _ in range(n):
                await ws.receive()

        start = time.perf_counter()
        task = asyncio.create_task(reader())
        for _ in range(n):
            await ws.send_bytes(payload)
        await asyncio.wait_for(task, 60)
        elapsed = time.perf_counter() - start
    return throughput_result(n, size, elapsed)


async def aiohttp_latency(url: str, n: int) -> Result:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_bytes(b"warm")
        await ws.receive()
        payload = b"x" * 32
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await ws.send_bytes(payload)
            await asyncio.wait_for(ws.receive(), 10)
            samples.append(time.perf_counter() - start)
    return percentiles(samples)


async def aiohttp_scale(url: str, n: int) -> Result:
    import aiohttp

    sem = asyncio.Semaphore(200)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    conns: list[Any] = []

    async def one() -> None:
        async with sem:
            conns.append(await asyncio.wait_for(session.ws_connect(url), 60))

    return await _scale(n, one)


# -- picows --------------------------------------------------------------------


def _picows_listener(on_message: Callable[[], None]) -> Any:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport

    class Listener(WSListener):
        def __init__(self) -> None:
            self.writable = asyncio.Event()
            self.writable.set()

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.BINARY:
                frame.get_payload_as_bytes()  # what a user would do with it
                on_message()

        def pause_writing(self) -> None:
            self.writable.clear()

        def resume_writing(self) -> None:
            self.writable.set()

    return Listener


async def picows_throughput(url: str, n: int, size: int) -> Result:
    from picows import WSMsgType, ws_connect

    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    count = 0

    def on_message() -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    transport, connected = await ws_connect(_picows_listener(on_message), url, max_frame_size=2**24)
    listener: Any = connected
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        if not listener.writable.is_set():
            await listener.writable.wait()
        transport.send(WSMsgType.BINARY, payload)
    await asyncio.wait_for(done, 60)
    elapsed = time.perf_counter() - start
    transport.disconnect()
    return throughput_result(n, size, elapsed)


async def picows_latency(url: str, n: int) -> Result:
    from picows import WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future[None]] = [loop.create_future()]

    def on_message() -> None:
        waiter[0].set_result(None)

    transport, _listener = await ws_connect(_picows_listener(on_message), url)
    payload = b"x" * 32
    samples = []
    for i in range(n + 1):
        waiter[0] = loop.create_future()
        start = time.perf_counter()
        transport.send(WSMsgType.BINARY, payload)
        await asyncio.wait_for(waiter[0], 10)
        if i:
            samples.append(time.perf_counter() - start)
    transport.disconnect()
    return percentiles(samples)


async def picows_scale(url: str, n: int) -> Result:
    from picows import ws_connect

    sem = asyncio.Semaphore(200)
    conns: list[Any] = []

    async def one() -> None:
        async with sem:
            conns.append(await asyncio.wait_for(ws_connect(_picows_listener(lambda: None), url), 60))

    return await _scale(n, one)


# -- websocket-client (blocking, threads) --------------------------------------


def wsclient_throughput(url: str, n: int, size: int) -> Result:
    import websocket

    ws = websocket.create_connection(url, enable_multithread=True)
    payload = b"x" * size

    def writer() -> None:
        for _ in range(n):
            ws.send_bytes(payload)

    start = time.perf_counter()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for _ in range(n):
        ws.recv()
    elapsed = time.perf_counter() - start
    thread.join(10)
    ws.close()
    return throughput_result(n, size, elapsed)


def wsclient_latency(url: str, n: int) -> Result:
    import websocket

    ws = websocket.create_connection(url, timeout=10)
    ws.send_bytes(b"warm")
    ws.recv()
    payload = b"x" * 32
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        ws.send_bytes(payload)
        ws.recv()
        samples.append(time.perf_counter() - start)
    ws.close()
    return percentiles(samples)


# -- scale and recovery, shared ------------------------------------------------


async def _scale(n: int, open_one: Callable[[], Awaitable[None]]) -> Result:
    gc.collect()
    await asyncio.sleep(0.2)
    before = rss_bytes()
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(n))), 120)
    open_time = time.perf_counter() - start
    gc.collect()
    await asyncio.sleep(1.0)  # let handshake leftovers settle
    after = rss_bytes()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(3.0)
    idle_cpu = (cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
    return {
        "sockets": n,
        "open_seconds": open_time,
        "rss_per_socket": (after - before) / n,
        "idle_cpu_share": idle_cpu,
    }
