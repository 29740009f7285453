"""The ``partysocket`` command: ``connect``, ``serve`` and ``demo``.

::

    partysocket connect wss://example.com/socket      # stdin lines out, messages in
    partysocket connect --host localhost:1999 --room lobby --id bot
    partysocket serve --port 1999                      # a local PartyKit-style room server
    partysocket demo                                   # the reconnect demonstration

``connect`` prints received messages on stdout and connection state changes on
stderr (or every event as one JSON object per line on stdout with ``--json``).
At the end of its input (stdin, or ``--send FILE``) it waits up to
``--flush-timeout`` seconds for the connection to be open (so that buffered
lines go out), keeps printing what arrives for ``--linger`` seconds (or until
the server closes), closes, and exits 0. It exits 1 when the socket gives up
(``--max-retries`` exhausted), 2 for bad arguments, 130 on Ctrl-C (after
sending what it had read, when connected).
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
from collections.abc import Coroutine, Sequence
from datetime import datetime, timezone
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
    _add_connect(commands)
    _add_serve(commands)
    demo = commands.add_parser(
        "demo",
        help="watch clients ride through two server restarts",
        description="Start a room server and three clients in this process, restart the server twice while "
        "they send messages, and check that no message was lost.",
    )
    demo.set_defaults(run=_run_demo)
    return parser


def _add_connect(commands: Any) -> None:
    connect = commands.add_parser(
        "connect",
        help="connect, send stdin lines, print received messages",
        description="Connect with a ReconnectingWebSocket (or a PartySocket with --host/--room), send each "
        "input line (stdin, or --send FILE) as a text message and print each received message. State changes "
        "go to stderr. At the end of the input, buffered lines are flushed, replies are printed for --linger "
        "seconds, and the socket is closed.",
    )
    connect.add_argument("url", nargs="?", help="ws:// or wss:// URL (or use --host and --room)")
    room = connect.add_argument_group("PartyKit room (instead of URL)")
    room.add_argument("--host", help="PartyKit host, e.g. localhost:1999 or my-app.me.partykit.dev")
    room.add_argument("--room", help="room name")
    room.add_argument("--party", help="party name (default: main)")
    room.add_argument("--id", help="connection id, sent as _pk (default: a random uuid4)")
    room.add_argument("--prefix", help="path prefix instead of 'parties'")
    room.add_argument("--path", help="extra path after the room (no leading '/')")
    room.add_argument("--protocol", choices=("ws", "wss"), help="default: ws for local addresses, else wss")
    room.add_argument(
        "--query", action="append", default=[], metavar="KEY=VALUE", help="extra query parameter (repeatable)"
    )
    handshake = connect.add_argument_group("handshake")
    handshake.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="extra handshake header (repeatable)"
    )
    handshake.add_argument(
        "--subprotocol", action="append", default=[], metavar="NAME", help="offer this subprotocol (repeatable)"
    )
    retry = connect.add_argument_group("reconnection (seconds; library defaults when omitted)")
    retry.add_argument("--max-retries", type=int, metavar="N", help="give up after N retries (default: never)")
    retry.add_argument("--min-delay", type=float, metavar="S", help="delay before the first retry")
    retry.add_argument("--max-delay", type=float, metavar="S", help="upper bound of the retry delay")
    retry.add_argument("--grow-factor", type=float, metavar="F", help="growth of the delay per failed attempt")
    retry.add_argument("--connection-timeout", type=float, metavar="S", help="abandon an attempt after S")
    retry.add_argument("--min-uptime", type=float, metavar="S", help="uptime that resets the backoff")
    retry.add_argument("--jitter", type=float, metavar="F", help="randomise each delay by up to this fraction")
    retry.add_argument("--max-enqueued", type=int, metavar="N", help="buffer at most N lines while disconnected")
    retry.add_argument("--ping-interval", type=float, metavar="S", help="keep-alive ping interval (0: no pings)")
    retry.add_argument("--ping-timeout", type=float, metavar="S", help="missed-pong timeout (0: none)")
    output = connect.add_argument_group("input and output")
    output.add_argument("--send", metavar="FILE", help="send the lines of FILE instead of stdin ('-': stdin)")
    output.add_argument(
        "--json", action="store_true", help="print every event as one JSON object per line, with a timestamp"
    )
    output.add_argument(
        "--binary",
        choices=("hex", "base64"),
        default="hex",
        help="how to show binary messages (default: hex)",
    )
    output.add_argument(
        "--flush-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="at the end of input, wait up to S for the connection to open so buffered lines go out (default: 5)",
    )
    output.add_argument(
        "--linger",
        type=float,
        default=1.0,
        metavar="S",
        help="after the end of input and the flush, keep printing received messages for S seconds, or until "
        "the server closes (default: 1)",
    )
    output.add_argument("--debug", action="store_true", help="print the library's debug lines on stderr")
    connect.set_defaults(run=_run_connect)


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run a local PartyKit-style room server",
        description="Serve rooms at ws://HOST:PORT/parties/{party}/{room}: every message is relayed to the "
        "other connections of the room. The connection id is the _pk query parameter. A plain HTTP request to "
        "a room URL is answered with JSON (room, party, connections, method, path, query, body). Stop with "
        "Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=1999, help="port to listen on, 0 for any (default: 1999)")
    serve.add_argument("--prefix", default="parties", help="first path segment(s) of room URLs (default: parties)")
    serve.add_argument("--echo", action="store_true", help="also send each message back to its sender")
    serve.add_argument(
        "--hold", type=float, default=0.0, metavar="S", help="keep a disconnected id's messages for S seconds"
    )
    faults = serve.add_argument_group("fault injection")
    faults.add_argument("--drop-every", type=float, metavar="S", help="drop every connection every S seconds")
    faults.add_argument(
        "--drop-code", type=int, metavar="CODE", help="close dropped connections with CODE (default: abort, 1006)"
    )
    faults.add_argument("--refuse-for", type=float, metavar="S", help="refuse handshakes for S seconds after start")
    faults.add_argument(
        "--refuse-status",
        type=int,
        metavar="CODE",
        help="HTTP status of refused handshakes (default 503; alone: refuse for ever)",
    )
    faults.add_argument("--delay-handshake", type=float, default=0.0, metavar="S", help="answer handshakes after S")
    serve.add_argument("--quiet", action="store_true", help="do not log connections")
    serve.set_defaults(run=_run_serve)


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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- connect ---------------------------------------------------------------------

_EOF = object()  # the input is exhausted
_STOP = object()  # stdout is gone
_INTERRUPT = object()  # Ctrl-C


def _run_connect(args: argparse.Namespace) -> int:
    return asyncio.run(_Connect(args).run())


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _now() -> str:
    """The current time, ISO 8601 in UTC with milliseconds: ``2025-01-31T12:00:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Connect:
    """One ``partysocket connect`` session."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.open = False
        self.closing = False
        self.last_close: CloseEvent | None = None
        self.closed = asyncio.Event()  # a close event happened (ends --linger)
        self.interrupt = asyncio.Event()  # Ctrl-C (ends the flush wait and --linger too)
        self.lingering = False

    def options(self) -> dict[str, Any]:
        args = self.args
        options: dict[str, Any] = {}
        for name, option in (
            ("max_retries", "max_retries"),
            ("min_delay", "min_reconnection_delay"),
            ("max_delay", "max_reconnection_delay"),
            ("grow_factor", "reconnection_delay_grow_factor"),
            ("connection_timeout", "connection_timeout"),
            ("min_uptime", "min_uptime"),
            ("jitter", "jitter"),
            ("max_enqueued", "max_enqueued_messages"),
        ):
            value = getattr(args, name)
            if value is not None:
                options[option] = value
        for name in ("ping_interval", "ping_timeout"):
            value = getattr(args, name)
            if value is not None:
                options[name] = value or None  # 0 disables
        headers: list[tuple[str, str]] = []
        for item in args.header:
            key, sep, value = item.partition(":")
            if not sep or not key.strip():
                raise ValueError(f"--header takes NAME:VALUE, got {item!r}")
            headers.append((key.strip(), value.strip()))
        if headers:
            options["headers"] = headers
        if args.debug:
            options["debug"] = True
            options["debug_logger"] = lambda line: print(line, file=sys.stderr, flush=True)
        return options

    def make_socket(self) -> ReconnectingWebSocket:
        args = self.args
        options = self.options()
        protocols = list(args.subprotocol) or None
        room_options = [
            f"--{name}"
            for name in ("host", "room", "party", "id", "prefix", "path", "protocol")
            if getattr(args, name) is not None
        ] + (["--query"] if args.query else [])
        if args.url is not None:
            if room_options:
                raise ValueError(f"give either a URL or --host/--room, not both (remove {', '.join(room_options)})")
            return ReconnectingWebSocket(args.url, protocols, **options)
        if args.host is None or args.room is None:
            raise ValueError("give a ws:// or wss:// URL, or --host and --room")
        query: dict[str, str] = {}
        for item in args.query:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--query takes KEY=VALUE, got {item!r}")
            query[key] = value
        return PartySocket(
            args.host,
            args.room,
            party=args.party,
            id=args.id,
            prefix=args.prefix,
            path=args.path,
            protocol=args.protocol,
            protocols=protocols,
            query=query or None,
            **options,
        )

    async def run(self) -> int:
        try:
            ws = self.make_socket()
        except (ValueError, TypeError) as exc:
            _error(str(exc))
            return EXIT_USAGE
        try:
            source = self.open_input()
        except OSError as exc:
            await ws.aclose()
            _error(f"cannot read {self.args.send}: {exc.strerror or exc}")
            return EXIT_USAGE
        for kind in ("open", "message", "close", "error", "retry"):
            ws.add_event_listener(kind, self.on_event)
        loop = asyncio.get_running_loop()
        interrupts = self.catch_interrupt(loop)
        _start_reader(loop, self.inbox, source, owned=self.args.send not in (None, "-"))
        try:
            while True:
                item = await self.inbox.get()
                if isinstance(item, str):
                    ws.send(item)
                elif item is _EOF:
                    return await self.unless_interrupted(self.finish(ws), ws)
                elif item is _INTERRUPT:
                    return await self.interrupted(ws)
                elif item is _STOP:
                    return EXIT_OK
                else:  # the socket gave up
                    return self.gave_up(ws)
        finally:
            if interrupts:
                loop.remove_signal_handler(signal.SIGINT)
            self.closing = True
            await ws.aclose()

    def open_input(self) -> int:
        """The file descriptor to read lines from: ``--send FILE`` or stdin (-1 when there is none)."""
        if self.args.send is not None and self.args.send != "-":
            return os.open(self.args.send, os.O_RDONLY)
        try:
            return sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return -1

    def catch_interrupt(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Turn the first Ctrl-C into an orderly stop (a second one stops at once)."""

        def interrupt() -> None:
            loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C raises KeyboardInterrupt
            self.interrupt.set()
            self.inbox.put_nowait(_INTERRUPT)

        try:
            loop.add_signal_handler(signal.SIGINT, interrupt)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            return False
        return True

    async def unless_interrupted(self, work: Coroutine[Any, Any, int], ws: ReconnectingWebSocket) -> int:
        """Run ``work`` (the end of the session); Ctrl-C meanwhile stops it and exits 130."""
        task: asyncio.Task[int] = asyncio.ensure_future(work)
        interrupt = asyncio.ensure_future(self.interrupt.wait())
        try:
            await asyncio.wait({task, interrupt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupt.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, interrupt, return_exceptions=True)
        if task.cancelled():
            return await self.interrupted(ws)
        return task.result()

    async def interrupted(self, ws: ReconnectingWebSocket) -> int:
        """Ctrl-C: send what was read (when connected), close, exit 130."""
        while not self.inbox.empty():
            item = self.inbox.get_nowait()
            if isinstance(item, str):
                ws.send(item)
        if ws.ready_state != ws.OPEN:
            unsent = len(ws.drain_queued_messages())
            if unsent:
                _error(f"interrupted while not connected; {_plural(unsent, 'message')} not sent")
        self.closing = True
        await ws.aclose()
        return EXIT_INTERRUPTED

    async def finish(self, ws: ReconnectingWebSocket) -> int:
        """End of input: wait (bounded) until open so buffered lines go out, linger, then close."""
        if ws.ready_state != ws.OPEN:
            try:
                await ws.wait_open(self.args.flush_timeout)
            except TimeoutError:
                unsent = len(ws.drain_queued_messages())
                lost = f"; {_plural(unsent, 'message')} not sent" if unsent else ""
                _error(f"not connected after {self.args.flush_timeout:g} s{lost}")
                return EXIT_FAILED
            except ConnectionClosed:
                return self.gave_up(ws)
        if self.args.linger > 0:
            self.lingering = True  # a close from the server now ends the session
            self.closed.clear()
            try:
                await asyncio.wait_for(self.closed.wait(), self.args.linger)
            except asyncio.TimeoutError:
                pass
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
        if isinstance(event, RetryEvent) and self.closing:
            return  # we are about to close: no retry to announce
        if isinstance(event, CloseEvent):
            self.last_close = event
            self.closed.set()
            if self.lingering:
                self.closing = True
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

    def encode(self, data: bytes) -> str:
        if self.args.binary == "base64":
            return base64.b64encode(data).decode("ascii")
        return data.hex()

    def print_plain(self, event: Event, ws: Any) -> None:
        if isinstance(event, MessageEvent):
            if isinstance(event.data, str):
                text = event.data
            else:
                text = f"binary ({_plural(len(event.data), 'byte')}, {self.args.binary}): {self.encode(event.data)}"
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
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
        record: dict[str, Any] = {"type": event.type, "time": _now()}
        if isinstance(event, MessageEvent):
            if isinstance(event.data, str):
                record["data"] = event.data
            else:
                record.update(data=self.encode(event.data), binary=self.args.binary)
        elif event.type == "open":
            record["url"] = redact_url(ws.url)
            if ws.protocol:
                record["protocol"] = ws.protocol
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


def _start_reader(loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[object], fd: int, *, owned: bool) -> None:
    """Read lines from ``fd`` in a daemon thread and hand them to the loop (then ``_EOF``).

    It reads the file descriptor with ``os.read`` (no buffered-reader lock), so
    an exit while it is blocked is safe. ``fd`` -1 is an empty input; an
    ``owned`` descriptor is closed at its end.
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
                if owned:
                    os.close(fd)
                if pending:
                    post(pending.removesuffix("\r"))
                post(_EOF)
                return

    threading.Thread(target=read, name="partysocket-input", daemon=True).start()


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
        server = RoomServer(
            args.host,
            args.port,
            echo=args.echo,
            hold_for=args.hold,
            record_messages=False,
            prefix=args.prefix,
            drop_every=args.drop_every,
            drop_code=args.drop_code,
            refuse_status=args.refuse_status,
            refuse_for=args.refuse_for,
            delay_handshake=args.delay_handshake,
        )
        await server.start()
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"listening on {server.room_url('{room}', '{party}')}", flush=True)
    for fault in _faults(args):
        print(f"fault injection: {fault}", file=sys.stderr, flush=True)
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


def _faults(args: argparse.Namespace) -> list[str]:
    faults = []
    if args.drop_every is not None:
        how = "abort them (1006)" if args.drop_code is None else f"close them with code {args.drop_code}"
        faults.append(f"every {args.drop_every:g} s, drop every connection: {how}")
    if args.refuse_for is not None or args.refuse_status is not None:
        status = args.refuse_status or 503
        during = "for ever" if args.refuse_for is None else f"for the first {args.refuse_for:g} s"
        faults.append(f"refuse handshakes with HTTP {status} {during}")
    if args.delay_handshake:
        faults.append(f"answer each handshake after {args.delay_handshake:g} s")
    return faults


# -- demo ------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main()
