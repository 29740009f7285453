"""The ``partysocket`` command: ``connect``, ``serve`` and ``demo``.

::

    partysocket connect wss://example.com/socket      # stdin lines out, messages in
    partysocket connect --host localhost:1999 --room lobby --id bot
    partysocket serve --port 1999                      # a local PartyKit-style room server
    partysocket demo                                   # the reconnect demonstration

``connect`` prints received messages on stdout and connection state changes on
stderr (or every event as one JSON object per line on stdout with ``--json``).
At the end of stdin it waits up to ``--flush-timeout`` seconds for the
connection to be open (so that buffered messages go out), closes, and exits 0. It exits 1 when the socket gives
up (``--max-retries`` exhausted), 2 for bad arguments, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import codecs
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import __version__
from .asyncio.party import PartySocket
from .asyncio.socket import ReconnectingWebSocket
from .core.redact import redact_url
from .events import CloseEvent, ErrorEvent, Event, MessageEvent, RetryEvent
from .exceptions import ConnectionClosed

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``partysocket`` command."""
    parser = argparse.ArgumentParser(
        prog="partysocket", description="A reconnecting WebSocket client, and a local PartyKit-style room server."
    )
    parser.add_argument("--version", action="version", version=f"partysocket {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    connect = commands.add_parser(
        "connect",
        help="connect, send stdin lines, print received messages",
        description="Connect with a ReconnectingWebSocket (or a PartySocket with --host/--room), send each "
        "stdin line as a text message and print each received message. State changes go to stderr. At the end "
        "of stdin, buffered messages are flushed and the socket is closed.",
    )
    connect.add_argument("url", nargs="?", help="ws:// or wss:// URL (or use --host and --room)")
    room = connect.add_argument_group("PartyKit room (instead of URL)")
    room.add_argument("--host", help="PartyKit host, e.g. localhost:1999 or my-app.me.partykit.dev")
    room.add_argument("--room", help="room name")
    room.add_argument("--party", help="party name (default: main)")
    room.add_argument("--id", help="connection id, sent as _pk (default: a random uuid4)")
    room.add_argument(
        "--query", action="append", default=[], metavar="KEY=VALUE", help="extra query parameter (repeatable)"
    )
    retry = connect.add_argument_group("reconnection (seconds; library defaults when omitted)")
    retry.add_argument("--max-retries", type=int, metavar="N", help="give up after N retries (default: never)")
    retry.add_argument("--min-delay", type=float, metavar="S", help="delay before the first retry")
    retry.add_argument("--max-delay", type=float, metavar="S", help="upper bound of the retry delay")
    retry.add_argument("--grow-factor", type=float, metavar="F", help="growth of the delay per failed attempt")
    retry.add_argument("--connection-timeout", type=float, metavar="S", help="abandon an attempt after S")
    retry.add_argument("--min-uptime", type=float, metavar="S", help="uptime that resets the backoff")
    connect.add_argument("--json", action="store_true", help="print every event as one JSON object per line")
    connect.add_argument(
        "--flush-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="at the end of stdin, wait up to S for the connection to open so buffered lines go out (default: 5)",
    )
    connect.add_argument("--debug", action="store_true", help="print the library's debug lines on stderr")
    connect.set_defaults(run=_run_connect)

    serve = commands.add_parser(
        "serve",
        help="run a local PartyKit-style room server",
        description="Serve rooms at ws://HOST:PORT/parties/{party}/{room}: every message is relayed to the "
        "other connections of the room. The connection id is the _pk query parameter. Stop with Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=1999, help="port to listen on, 0 for any (default: 1999)")
    serve.add_argument("--echo", action="store_true", help="also send each message back to its sender")
    serve.add_argument(
        "--hold", type=float, default=0.0, metavar="S", help="keep a disconnected id's messages for S seconds"
    )
    serve.add_argument("--quiet", action="store_true", help="do not log connections")
    serve.set_defaults(run=_run_serve)

    demo = commands.add_parser(
        "demo",
        help="watch clients ride through two server restarts",
        description="Start a room server and three clients in this process, restart the server twice while "
        "they send messages, and check that no message was lost.",
    )
    demo.set_defaults(run=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``partysocket`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


# -- connect ---------------------------------------------------------------------

_EOF = object()  # stdin is exhausted
_STOP = object()  # stdout is gone


def _run_connect(args: argparse.Namespace) -> int:
    return asyncio.run(_Connect(args).run())


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


class _Connect:
    """One ``partysocket connect`` session."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.open = False
        self.closing = False
        self.last_close: CloseEvent | None = None

    def make_socket(self) -> ReconnectingWebSocket:
        args = self.args
        options: dict[str, Any] = {}
        for name, option in (
            ("max_retries", "max_retries"),
            ("min_delay", "min_reconnection_delay"),
            ("max_delay", "max_reconnection_delay"),
            ("grow_factor", "reconnection_delay_grow_factor"),
            ("connection_timeout", "connection_timeout"),
            ("min_uptime", "min_uptime"),
        ):
            value = getattr(args, name)
            if value is not None:
                options[option] = value
        if args.debug:
            options["debug"] = True
            options["debug_logger"] = lambda line: print(line, file=sys.stderr, flush=True)
        room_options = (args.host, args.room, args.party, args.id) != (None,) * 4 or args.query
        if args.url is not None:
            if room_options:
                raise ValueError("give either a URL or --host/--room (with --party, --id, --query), not both")
            return ReconnectingWebSocket(args.url, **options)
        if args.host is None or args.room is None:
            raise ValueError("give a ws:// or wss:// URL, or --host and --room")
        query: dict[str, str] = {}
        for item in args.query:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--query takes KEY=VALUE, got {item!r}")
            query[key] = value
        return PartySocket(args.host, args.room, party=args.party, id=args.id, query=query or None, **options)

    async def run(self) -> int:
        try:
            ws = self.make_socket()
        except (ValueError, TypeError) as exc:
            _error(str(exc))
            return EXIT_USAGE
        for kind in ("open", "message", "close", "error", "retry"):
            ws.add_event_listener(kind, self.on_event)
        _start_stdin_reader(asyncio.get_running_loop(), self.inbox)
        try:
            while True:
                item = await self.inbox.get()
                if isinstance(item, str):
                    ws.send(item)
                elif item is _EOF:
                    return await self.finish(ws)
                elif item is _STOP:
                    return EXIT_OK
                else:  # the socket gave up
                    return self.gave_up(ws)
        finally:
            self.closing = True
            await ws.aclose()

    async def finish(self, ws: ReconnectingWebSocket) -> int:
        """stdin ended: wait (bounded) until open so buffered lines go out, then close."""
        if ws.ready_state != ws.OPEN:
            try:
                await ws.wait_open(self.args.flush_timeout)
            except TimeoutError:
                unsent = len(ws.drain_queued_messages())
                lost = f"; {unsent} message{'' if unsent == 1 else 's'} not sent" if unsent else ""
                _error(f"not connected after {self.args.flush_timeout:g} s{lost}")
                return EXIT_FAILED
            except ConnectionClosed:
                return self.gave_up(ws)
        self.closing = True
        await ws.aclose()
        return EXIT_OK

    def gave_up(self, ws: ReconnectingWebSocket) -> int:
        retries = ws.retry_count
        message = f"gave up after {retries} retr{'y' if retries == 1 else 'ies'}"
        event = self.last_close
        if event is not None:
            detail = str(event.cause) if event.cause is not None else event.reason
            message += f": {detail} (close code {event.code})" if detail else f" (close code {event.code})"
        _error(message)
        return EXIT_FAILED

    # -- output --------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        ws = event.target
        if isinstance(event, CloseEvent):
            self.last_close = event
            if not event.will_reconnect and not self.closing:
                self.inbox.put_nowait(event)
        if event.type == "open":
            self.open = True
        try:
            if self.args.json:
                self.print_json(event, ws)
            else:
                self.print_plain(event, ws)
        except BrokenPipeError:  # our reader went away (partysocket connect ... | head)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            self.inbox.put_nowait(_STOP)
        if isinstance(event, CloseEvent):
            self.open = False

    def print_plain(self, event: Event, ws: Any) -> None:
        if isinstance(event, MessageEvent):
            if isinstance(event.data, str):
                sys.stdout.write(event.data + "\n")
                sys.stdout.flush()
            else:
                sys.stdout.buffer.write(event.data + b"\n")
                sys.stdout.buffer.flush()
            return
        if event.type == "open":
            line = f"connected to {redact_url(ws.url)}"
        elif isinstance(event, CloseEvent):
            if not self.open:
                return  # a failed attempt: its error was printed
            reason = f" {event.reason}" if event.reason else ""
            line = f"disconnected (code {event.code}){reason}"
        elif isinstance(event, ErrorEvent):
            line = f"connection error: {event.message or type(event.error).__name__}"
        elif isinstance(event, RetryEvent):
            line = f"reconnecting in {_seconds(event.delay)} s, attempt {event.attempt}"
        else:
            return
        print(line, file=sys.stderr, flush=True)

    def print_json(self, event: Event, ws: Any) -> None:
        record: dict[str, Any] = {"type": event.type}
        if isinstance(event, MessageEvent):
            if isinstance(event.data, str):
                record["data"] = event.data
            else:
                record["data"] = base64.b64encode(event.data).decode("ascii")
                record["binary"] = True
        elif event.type == "open":
            record["url"] = redact_url(ws.url)
        elif isinstance(event, CloseEvent):
            record.update(
                code=event.code, reason=event.reason, was_clean=event.was_clean, will_reconnect=event.will_reconnect
            )
        elif isinstance(event, ErrorEvent):
            record["message"] = event.message or type(event.error).__name__
        elif isinstance(event, RetryEvent):
            record.update(attempt=event.attempt, delay=round(event.delay, 3))
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def _start_stdin_reader(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[object]) -> None:
    """Read stdin lines in a daemon thread and hand them to the loop (then ``_EOF``).

    It reads the file descriptor with ``os.read`` (no buffered-reader lock), so
    an exit while it is blocked is safe.
    """

    def post(item: object) -> bool:
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, item)
        except RuntimeError:  # the loop is closed: we are exiting
            return False
        return True

    def read() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        while True:
            try:
                chunk = os.read(fd, 65536) if fd >= 0 else b""
            except OSError:
                chunk = b""
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                if not post(line.removesuffix("\r")):
                    return
            if not chunk:
                if pending:
                    post(pending.removesuffix("\r"))
                post(_EOF)
                return

    threading.Thread(target=read, name="partysocket-stdin", daemon=True).start()


# -- serve -----------------------------------------------------------------------


def _run_serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from .server import RoomServer

    if not args.quiet:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        server_logger = logging.getLogger("partysocket.server")
        server_logger.addHandler(handler)
        server_logger.setLevel(logging.INFO)
    try:
        server = RoomServer(args.host, args.port, echo=args.echo, hold_for=args.hold, record_messages=False)
        await server.start()
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"listening on {server.url}/parties/{{party}}/{{room}}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if hasattr(signal, "SIGTERM"):
        try:
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        await stop.wait()
    finally:
        await server.stop()
    return EXIT_OK


# -- demo ------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main()
