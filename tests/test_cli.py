"""The ``partysocket`` command, run as a real subprocess against a real RoomServer."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import IO, Any, TypeVar

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from partysocket.cli import main
from partysocket.server import RoomServer
from tests.servers import TIMEOUT, free_port

T = TypeVar("T")

posix_only = pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals")


class ServerThread:
    """A RoomServer running on its own event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = RoomServer()
        self.call(self.server.start)

    def call(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(function(), self.loop).result(TIMEOUT)

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        self.call(lambda: self.server.wait_until(predicate, TIMEOUT))

    def url(self, room: str = "lobby", conn_id: str | None = None) -> str:
        return self.server.room_url(room) + (f"?_pk={conn_id}" if conn_id else "")

    def close(self) -> None:
        self.call(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


@pytest.fixture
def room_server() -> Iterator[ServerThread]:
    server = ServerThread()
    try:
        yield server
    finally:
        server.close()


class Cli:
    """``python -m partysocket ...`` with its output read line by line, with timeouts."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "partysocket", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: dict[str, queue.Queue[str | None]] = {"stdout": queue.Queue(), "stderr": queue.Queue()}
        self.seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines[name].put(line.rstrip("\n"))
        self.lines[name].put(None)

    def expect(self, stream: str, text: str) -> str:
        """The first new line of ``stream`` containing ``text`` (fails after TIMEOUT)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self.lines[stream].get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} on {stream}; saw {self.seen[stream]}") from None
            if line is None:
                self.lines[stream].put(None)
                raise AssertionError(f"{stream} ended without {text!r}; saw {self.seen[stream]}")
            self.seen[stream].append(line)
            if text in line:
                return line

    def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self) -> tuple[int, list[str], list[str]]:
        """Exit code and every line of stdout and stderr."""
        code = self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        for name in ("stdout", "stderr"):
            while (line := self.lines[name].get_nowait()) is not None:
                self.seen[name].append(line)
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        return code, self.seen["stdout"], self.seen["stderr"]

    def cleanup(self) -> None:
        """Kill the process if it still runs, then release its pipes and reader threads."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def cli() -> Iterator[Callable[..., Cli]]:
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        started.append(Cli(*args))
        return started[-1]

    yield start
    for process in started:
        process.cleanup()


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "partysocket", *args], input=stdin, capture_output=True, text=True, timeout=TIMEOUT
    )


# -- connect ---------------------------------------------------------------------


def test_connect_sends_stdin_lines_and_prints_received_messages(
    room_server: ServerThread, cli: Callable[..., Cli]
) -> None:
    with connect(room_server.url(conn_id="peer")) as peer:
        room_server.wait_until(lambda: room_server.server.rooms == {"main/lobby": {"peer"}})
        process = cli("connect", room_server.url(conn_id="cli"))
        assert process.expect("stderr", "connected to ws://127.0.0.1:").endswith("/parties/main/lobby?_pk=***")
        room_server.wait_until(lambda: room_server.server.rooms == {"main/lobby": {"peer", "cli"}})

        peer.send("hello from the peer")
        assert process.expect("stdout", "hello") == "hello from the peer"
        process.write("first line\nsecond line\n")
        assert peer.recv(TIMEOUT) == "first line"
        assert peer.recv(TIMEOUT) == "second line"

        process.close_stdin()
        code, stdout, stderr = process.wait()
    assert code == 0
    assert stdout == ["hello from the peer"]
    assert stderr[-1] == "disconnected (code 1000)"


def test_connect_at_end_of_stdin_waits_for_the_connection_and_flushes(
    room_server: ServerThread, cli: Callable[..., Cli]
) -> None:
    room_server.call(room_server.server.stop)  # nothing listens: the lines get buffered
    process = cli("connect", room_server.url(conn_id="cli"), "--min-delay", "0.05", "--max-delay", "0.1")
    process.write("one\ntwo\nthree")  # the last line has no newline
    process.close_stdin()
    process.expect("stderr", "reconnecting in")
    room_server.call(room_server.server.start)  # same port
    code, _, stderr = process.wait()
    assert code == 0, stderr
    assert room_server.server.messages == {"main/lobby": ["one", "two", "three"]}


def test_connect_with_an_invalid_url_exits_2_with_one_line() -> None:
    result = run("connect", "http://example.com/socket")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: invalid WebSocket URL 'http://example.com/socket': use ws:// instead of http://"
    ]


def test_connect_with_bad_arguments_exits_2() -> None:
    assert run("connect").returncode == 2  # neither URL nor --host/--room
    result = run("connect", "ws://127.0.0.1:1/x", "--min-delay", "-1")
    assert result.returncode == 2
    assert result.stderr.startswith("error: min_reconnection_delay must be >= 0")
    assert main(["connect", "--max-retries", "many"]) == 2


def test_connect_exits_1_when_retries_are_exhausted(cli: Callable[..., Cli]) -> None:
    port = asyncio.run(free_port())
    process = cli("connect", f"ws://127.0.0.1:{port}/", "--max-retries", "1", "--min-delay", "0.05")
    code, stdout, stderr = process.wait()  # stdin stays open: the give-up ends it
    assert code == 1
    assert stdout == []
    assert "reconnecting in 0.05 s, attempt 1" in stderr
    assert stderr[-1].startswith("error: gave up after 1 retry: ")
    assert stderr[-1].endswith("(close code 1006)")


@posix_only
def test_connect_exits_130_on_sigint_without_a_traceback(room_server: ServerThread, cli: Callable[..., Cli]) -> None:
    process = cli("connect", room_server.url(conn_id="cli"))
    process.expect("stderr", "connected to")
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in stderr)


def test_connect_to_a_room_with_json_output(room_server: ServerThread, cli: Callable[..., Cli]) -> None:
    host = f"127.0.0.1:{room_server.server.port}"
    process = cli("connect", "--host", host, "--room", "lobby", "--id", "bot", "--query", "token=t0p", "--json")
    opened = json.loads(process.expect("stdout", '"open"'))
    assert opened == {"type": "open", "url": f"ws://{host}/parties/main/lobby?_pk=***&token=***"}
    room_server.wait_until(lambda: room_server.server.rooms == {"main/lobby": {"bot"}})
    with connect(room_server.url(conn_id="peer")) as peer:
        room_server.wait_until(lambda: room_server.server.rooms == {"main/lobby": {"bot", "peer"}})
        peer.send(b"\x01\x02")
        assert json.loads(process.expect("stdout", '"message"')) == {"type": "message", "data": "AQI=", "binary": True}
    process.close_stdin()
    code, stdout, _ = process.wait()
    assert code == 0
    assert json.loads(stdout[-1]) == {
        "type": "close",
        "code": 1000,
        "reason": "",
        "was_clean": True,
        "will_reconnect": False,
    }


# -- serve -----------------------------------------------------------------------


def _serve(cli: Callable[..., Cli]) -> tuple[Cli, str]:
    process = cli("serve", "--port", "0")
    line = process.expect("stdout", "listening on")
    url = line.removeprefix("listening on ").removesuffix("/parties/{party}/{room}")
    assert url.startswith("ws://127.0.0.1:")
    return process, url


@posix_only
def test_serve_relays_in_rooms_logs_connections_and_stops_on_sigterm(cli: Callable[..., Cli]) -> None:
    process, url = _serve(cli)
    with pytest.raises(InvalidStatus) as info:
        connect(f"{url}/elsewhere")
    assert info.value.response.status_code == 404
    with connect(f"{url}/parties/main/lobby?_pk=alice&secret=xyz") as alice:
        process.expect("stderr", "connect main/lobby id=alice")
        with connect(f"{url}/parties/main/lobby?_pk=bob") as bob:
            process.expect("stderr", "connect main/lobby id=bob")
            alice.send("hi bob")
            assert bob.recv(TIMEOUT) == "hi bob"
    process.expect("stderr", "disconnect main/lobby id=alice")
    process.proc.send_signal(signal.SIGTERM)
    code, _, stderr = process.wait()
    assert code == 0
    assert not any("xyz" in line for line in stderr)


@posix_only
def test_serve_exits_130_on_sigint_without_a_traceback(cli: Callable[..., Cli]) -> None:
    process, _ = _serve(cli)
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert not any("Traceback" in line for line in stderr)


def test_serve_on_a_busy_port_exits_1(room_server: ServerThread) -> None:
    result = run("serve", "--port", str(room_server.server.port))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{room_server.server.port}")


# -- the command itself ----------------------------------------------------------


def test_version_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("partysocket ")
    assert main([]) == 2
    assert "connect" in capsys.readouterr().err
