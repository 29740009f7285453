"""Soak: many server drop/restart cycles under continuous sends, with resource figures.

Bounded by default (500 cycles, a few seconds, always run in CI). Set
``PARTYSOCKET_SOAK_CYCLES`` for a longer run (the per-test pytest timeout still
applies unless raised, e.g. ``-o timeout=3600``). The figures are printed (see
them with ``-s``) and, when ``PARTYSOCKET_SOAK_REPORT`` names a file, written
there as JSON.

Each cycle alternates two faults: ``drop_all()`` (every connection aborted:
the clients see 1006) and a restart (``stop()``: connections aborted and the
port refuses connections for a while; then ``start()`` on the same port).
Around each fault every socket sends a message (continuous sends); a cycle
ends when the server has echoed each socket's last message on the new
connection (a message already written dies with its connection, so the next
fault must not come before the buffered ones were delivered):

* right after the fault is triggered (the socket may still think it is OPEN:
  ``send()`` returns ``True`` and the message may die in the kernel buffer),
* after the socket reported the close (``send()`` returns ``False``: buffered),
* during the refused period of a restart (buffered),
* after the reconnection (``True``).

Asserted: every buffered message (``send()`` returned ``False``) arrives
exactly once; every message arrives at most once and in order per socket;
the task count returns to the baseline; no file descriptor growth; RSS growth
under :data:`RSS_BOUND`.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from partysocket import Event, MessageEvent, ReconnectingWebSocket
from tests.servers import TestServer

CYCLES = int(os.environ.get("PARTYSOCKET_SOAK_CYCLES", "500"))
SOCKETS = 3
#: stated bound on resident memory growth over the run (after a warm-up)
RSS_BOUND = 32 * 2**20
#: a whole default run must stay well under this (CI budget: < 60 s)
DURATION_BOUND = 45.0
WAIT = 10.0
WARM_UP = min(20, CYCLES // 5)

OPTIONS: dict[str, Any] = {
    "min_reconnection_delay": 0.002,
    "max_reconnection_delay": 0.01,
    "reconnection_delay_grow_factor": 1.3,
    "connection_timeout": 2.0,
    "ping_interval": None,
}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class Counter:
    """Counts a socket's open and close events and remembers the last echo; no polling."""

    def __init__(self, ws: ReconnectingWebSocket, index: int) -> None:
        self.index = index
        self.opens = 0
        self.closes = 0
        self.last_echo = -1
        self.changed = asyncio.Event()
        ws.add_event_listener("open", self._open)
        ws.add_event_listener("close", self._close)
        ws.add_event_listener("message", self._message)

    def _message(self, event: Event) -> None:
        assert isinstance(event, MessageEvent) and isinstance(event.data, str)
        self.last_echo = int(event.data.partition(":")[2])
        self.changed.set()

    def _open(self, event: Event) -> None:
        self.opens += 1
        self.changed.set()

    def _close(self, event: Event) -> None:
        self.closes += 1
        self.changed.set()


async def wait_all(counters: list[Counter], predicate: Callable[[Counter], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not all(predicate(c) for c in counters):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        waiters = [asyncio.ensure_future(c.changed.wait()) for c in counters]
        try:
            await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        for c in counters:
            c.changed.clear()


def write_report(figures: dict[str, Any]) -> None:
    report = os.environ.get("PARTYSOCKET_SOAK_REPORT")
    if report:
        Path(report).write_text(json.dumps(figures, indent=2))


def after(before: list[int], field: str) -> Callable[[Counter], bool]:
    """Counter ``c`` (of socket ``c.index``) has more ``field`` events than ``before`` says."""
    return lambda c: int(getattr(c, field)) > before[c.index]


def echoed(last: list[int]) -> Callable[[Counter], bool]:
    return lambda c: c.last_echo == last[c.index]


async def test_soak_drop_and_restart_cycles_lose_and_duplicate_nothing() -> None:
    started = time.monotonic()
    base_tasks = len(asyncio.all_tasks())
    base_fds = fd_count()
    server = TestServer(echo=True)
    await server.start()
    sockets = [ReconnectingWebSocket(server.url, **OPTIONS) for _ in range(SOCKETS)]
    counters = [Counter(ws, i) for i, ws in enumerate(sockets)]
    seq = [0] * SOCKETS
    buffered: list[list[int]] = [[] for _ in range(SOCKETS)]
    written: list[list[int]] = [[] for _ in range(SOCKETS)]
    task_samples: list[int] = []
    fd_samples: list[int] = []
    rss_warm = 0

    def send_all() -> None:
        for i, ws in enumerate(sockets):
            n = seq[i]
            seq[i] += 1
            (written if ws.send(f"{i}:{n}") else buffered)[i].append(n)

    try:
        await wait_all(counters, lambda c: c.opens >= 1, "the first open")
        for cycle in range(CYCLES):
            opens = [c.opens for c in counters]
            closes = [c.closes for c in counters]
            restart = cycle % 2 == 1
            if restart:
                await server.stop()
            else:
                server.drop_all()
            send_all()  # continuous: may still be OPEN from the client's point of view
            await wait_all(counters, after(closes, "closes"), f"the close events of cycle {cycle}")
            send_all()  # after the close: buffered
            if restart:
                send_all()  # still refused: buffered too
                await server.start()
            await wait_all(counters, after(opens, "opens"), f"the reopen of cycle {cycle}")
            send_all()
            # the cycle is over once the server echoed this socket's last message on the new connection:
            # only then may the next fault come (a written message dies with its connection)
            last_sent = [n - 1 for n in seq]
            await wait_all(counters, echoed(last_sent), f"the echoes of cycle {cycle}")
            task_samples.append(len(asyncio.all_tasks()))
            fd_samples.append(fd_count())
            if cycle + 1 == WARM_UP:
                rss_warm = rss_bytes()
        rss_end = rss_bytes()
    finally:
        await asyncio.gather(*(ws.aclose() for ws in sockets))
        await server.stop()
    duration = time.monotonic() - started

    per_socket: list[list[int]] = [[] for _ in range(SOCKETS)]
    for message in server.received:
        assert isinstance(message, str)
        who, _, n = message.partition(":")
        per_socket[int(who)].append(int(n))
    lost_written = 0
    for i in range(SOCKETS):
        got = per_socket[i]
        assert got == sorted(set(got)), f"socket {i}: duplicated or reordered messages"
        missing = set(buffered[i]) - set(got)
        assert not missing, f"socket {i}: {len(missing)} buffered messages lost, e.g. {sorted(missing)[:5]}"
        lost_written += len(set(written[i]) - set(got))

    await asyncio.sleep(0)
    end_tasks = len(asyncio.all_tasks())
    end_fds = fd_count()
    figures = {
        "cycles": CYCLES,
        "sockets": SOCKETS,
        "duration_s": round(duration, 2),
        "messages_sent": sum(seq),
        "messages_buffered": sum(len(b) for b in buffered),
        "buffered_lost": 0,
        "duplicates": 0,
        "written_while_open_lost": lost_written,
        "tasks_baseline": base_tasks,
        "tasks_min_max_during": [min(task_samples), max(task_samples)],
        "tasks_end": end_tasks,
        "fds_baseline": base_fds,
        "fds_after_warm_up": fd_samples[WARM_UP - 1],
        "fds_max_after_warm_up": max(fd_samples[WARM_UP - 1 :]),
        "fds_end": end_fds,
        "rss_delta_kib": (rss_end - rss_warm) // 1024,
    }
    print("\nsoak figures:", json.dumps(figures))
    write_report(figures)

    assert end_tasks == base_tasks, figures
    # flat while running: the same number of tasks after every reopen, give or take a closing one per socket
    assert max(task_samples) - min(task_samples) <= 2 * SOCKETS, task_samples[:50]
    assert max(fd_samples[WARM_UP - 1 :]) <= fd_samples[WARM_UP - 1] + 2, figures
    assert end_fds <= base_fds, figures
    assert rss_end - rss_warm < RSS_BOUND, figures
    if CYCLES <= 500:
        assert duration < DURATION_BOUND, figures
