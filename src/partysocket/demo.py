"""``partysocket demo``: three clients chat in one room while the server restarts twice.

Everything runs in this process: a :class:`~partysocket.server.RoomServer` on a
free port of 127.0.0.1 and three :class:`~partysocket.PartySocket` clients in
one room, each sending a numbered message every 20 ms. The server is restarted
twice (down for a moment each time) while they keep sending. Then the demo
checks that every message reached every other client exactly once, in order.

What makes that work:

* the clients reconnect by themselves (short delays here: 0.05 s growing to
  at most 0.5 s);
* ``send()`` while disconnected buffers the message, and the buffer is flushed,
  in order, when the connection opens again;
* the room server keeps a client's place in its room for a few seconds
  (``hold_for``) and delivers what was broadcast meanwhile when the client
  rejoins with the same id, so a client that is still reconnecting misses nothing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TextIO

from .asyncio.party import PartySocket
from .events import CloseEvent, Event, MessageEvent, RetryEvent
from .server import RoomServer

__all__ = ["run_demo", "main"]

NAMES = ("alice", "bob", "carol")
PARTY, ROOM = "demo", "lobby"
SEND_INTERVAL = 0.02  # seconds between two messages of one client
TALK = 0.6  # seconds of traffic before each restart and after the last one
DOWNTIME = 0.3  # seconds the server stays down during a restart
RESTARTS = 2
HOLD_FOR = 5.0  # the room keeps a disconnected client's place this long
WAIT = 5.0  # bound for every wait (connecting, delivery)


@dataclass(eq=False)
class _Client:
    """One demo client and what it saw."""

    name: str
    ws: PartySocket
    opens: int = 0
    connected: bool = False
    attempts: int = 0  # retries since the last disconnect
    sent: int = 0
    buffered: int = 0  # send() calls that returned False (not connected)
    buffered_since_open: int = 0
    received: dict[str, list[int]] = field(default_factory=dict)


class _Demo:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.server = RoomServer(hold_for=HOLD_FOR)
        self.clients: list[_Client] = []
        self.delivered = asyncio.Event()
        self.changed = asyncio.Event()
        self.closing = False

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.2f} s] {text}", file=self.out, flush=True)

    # -- clients -------------------------------------------------------------------

    def add_client(self, name: str) -> None:
        ws = PartySocket(
            f"127.0.0.1:{self.server.port}",
            ROOM,
            party=PARTY,
            id=name,
            min_reconnection_delay=0.05,
            max_reconnection_delay=0.5,
            connection_timeout=2.0,
            min_uptime=0.5,
            jitter=0.5,  # spread the reconnects, as real clients should
        )
        client = _Client(name, ws)
        ws.add_event_listener("open", lambda event: self.on_open(client))
        ws.add_event_listener("close", lambda event: self.on_close(client, event))
        ws.add_event_listener("retry", lambda event: self.on_retry(client, event))
        ws.add_event_listener("message", lambda event: self.on_message(client, event))
        self.clients.append(client)

    def on_open(self, client: _Client) -> None:
        client.opens += 1
        client.connected = True
        if client.opens > 1:
            flushed = client.buffered_since_open
            self.say(
                f"  {client.name} reconnected after {client.attempts} attempt{'s' if client.attempts != 1 else ''} "
                f"and sent its {flushed} buffered message{'s' if flushed != 1 else ''} first"
            )
        else:
            self.say(f"  {client.name} connected as id {client.name!r}")
        client.attempts = 0
        client.buffered_since_open = 0
        self.changed.set()

    def on_close(self, client: _Client, event: Event) -> None:
        assert isinstance(event, CloseEvent)
        if client.connected and not self.closing:
            reason = f" {event.reason}" if event.reason else ""
            self.say(f"  {client.name} disconnected (code {event.code}{reason})")
        client.connected = False
        self.changed.set()

    def on_retry(self, client: _Client, event: Event) -> None:
        assert isinstance(event, RetryEvent)
        client.attempts += 1

    def on_message(self, client: _Client, event: Event) -> None:
        assert isinstance(event, MessageEvent)
        data = event.data if isinstance(event.data, str) else event.data.decode()
        sender, _, number = data.partition(" #")
        client.received.setdefault(sender, []).append(int(number))
        if self.all_delivered():
            self.delivered.set()

    async def talk(self, client: _Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            client.sent += 1
            if not client.ws.send(f"{client.name} #{client.sent}"):
                client.buffered += 1
                client.buffered_since_open += 1
            try:
                await asyncio.wait_for(stop.wait(), SEND_INTERVAL)
            except asyncio.TimeoutError:
                pass

    async def all_connected(self) -> None:
        async def wait() -> None:
            while not all(client.connected for client in self.clients):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), WAIT)

    # -- accounting ----------------------------------------------------------------

    def got(self, receiver: _Client, sender: _Client) -> list[int]:
        return receiver.received.get(sender.name, [])

    def all_delivered(self) -> bool:
        return all(
            len(set(self.got(receiver, sender))) >= sender.sent
            for sender in self.clients
            for receiver in self.clients
            if receiver is not sender
        )

    def lost(self, sender: _Client) -> int:
        return sum(
            sender.sent - len(set(self.got(receiver, sender))) for receiver in self.clients if receiver is not sender
        )

    def duplicates(self, receiver: _Client) -> int:
        return sum(len(numbers) - len(set(numbers)) for numbers in receiver.received.values())

    def out_of_order(self, receiver: _Client) -> int:
        return sum(
            1 for numbers in receiver.received.values() for before, after in pairwise(numbers) if after <= before
        )

    def report(self) -> int:
        rows: list[tuple[str, ...]] = [("client", "reconnects", "sent", "buffered", "received", "lost", "duplicates")]
        totals = [0, 0, 0, 0, 0, 0]
        for client in self.clients:
            values = [
                client.opens - 1,
                client.sent,
                client.buffered,
                sum(len(numbers) for numbers in client.received.values()),
                self.lost(client),
                self.duplicates(client),
            ]
            totals = [total + value for total, value in zip(totals, values, strict=True)]
            rows.append((client.name, *map(str, values)))
        rows.append(("total", *map(str, totals)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        print(file=self.out)
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [
                cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
            ]
            print("  " + "   ".join(cells), file=self.out)
        print(file=self.out)
        reconnects, sent, _, _, lost, duplicates = totals
        disorder = sum(self.out_of_order(client) for client in self.clients)
        print("  buffered: sent while disconnected; the client kept them and sent them on reconnect", file=self.out)
        print("  lost:     sent by this client and never received by one of the others", file=self.out)
        if self.server.held_total:
            print(
                f"  (the room held {self.server.held_total} messages for clients that were still reconnecting "
                "and delivered them when they rejoined)",
                file=self.out,
            )
        print(file=self.out)
        summary = f"{RESTARTS} server restarts, {reconnects} reconnects, {sent} messages, {lost} lost"
        if lost == 0 and duplicates == 0 and disorder == 0 and reconnects >= RESTARTS:
            print(f"OK: {summary}", file=self.out, flush=True)
            return 0
        problems = [f"{duplicates} duplicates", f"{disorder} out of order"] if duplicates or disorder else []
        if reconnects < RESTARTS:
            problems.append(f"expected at least {RESTARTS} reconnects")
        print(f"FAILED: {', '.join([summary, *problems])}", file=self.out, flush=True)
        return 1

    # -- the story -----------------------------------------------------------------

    async def run(self) -> int:
        server = self.server
        print(
            f"partysocket demo: {len(NAMES)} clients talk in one room while the server restarts twice.\n"
            "They reconnect by themselves, and what they send while disconnected is buffered and sent\n"
            "on reconnect. At the end we check that every message reached every other client.\n",
            file=self.out,
        )
        await server.start()
        self.say(f"starting room server on {server.url}")
        self.say(
            f"{', '.join(NAMES[:-1])} and {NAMES[-1]} join {server.room_url(ROOM, PARTY)} "
            f"and each send a message every {SEND_INTERVAL * 1000:g} ms"
        )
        stop = asyncio.Event()
        talkers: list[asyncio.Task[None]] = []
        try:
            for name in NAMES:
                self.add_client(name)
            await self.all_connected()
            talkers = [asyncio.create_task(self.talk(client, stop)) for client in self.clients]
            for number in range(1, RESTARTS + 1):
                await asyncio.sleep(TALK)
                self.say(
                    f"restarting server ({number}/{RESTARTS}): connections closed with code 1012, "
                    f"back in {DOWNTIME:g} s"
                )
                await server.restart(downtime=DOWNTIME)
                self.say("server is back on the same port")
                await self.all_connected()
            await asyncio.sleep(TALK)
            stop.set()
            await asyncio.gather(*talkers)
            self.say("clients stopped sending; waiting until every message has reached the other clients")
            try:
                await asyncio.wait_for(self.delivered.wait(), WAIT)
                self.say("every message was delivered")
            except asyncio.TimeoutError:
                self.say(f"gave up waiting after {WAIT:g} s")
        except asyncio.TimeoutError:
            self.say(f"a client did not connect within {WAIT:g} s")
        finally:
            self.closing = True
            stop.set()
            await asyncio.gather(*talkers, return_exceptions=True)
            await asyncio.gather(*(client.ws.aclose() for client in self.clients))
            await server.stop()
        return self.report()


async def run_demo(out: TextIO | None = None) -> int:
    """Run the demonstration, narrating on ``out`` (default stdout); 0 when nothing was lost."""
    return await _Demo(out if out is not None else sys.stdout).run()


def main() -> int:
    """Entry point of ``partysocket demo``."""
    return asyncio.run(run_demo())
