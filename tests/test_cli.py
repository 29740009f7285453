"""The ``partysocket`` command, run as a real subprocess against a real room server.

The room server is the ``party_server`` fixture of our own pytest plugin
(``partysocket.testing``): a RoomServer on its own thread, with fault switches.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from partysocket.cli import main
from partysocket.testing import PartyServer
from tests.servers import TIMEOUT, free_port

posix_only = pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals")


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


def url(server: PartyServer, conn_id: str | None = None, room: str = "lobby") -> str:
    return server.url(room) + (f"?_pk={conn_id}" if conn_id else "")


ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def events(lines: list[str]) -> list[dict[str, Any]]:
    """``--json`` lines, each checked for its ISO timestamp, which is then removed."""
    records = [json.loads(line) for line in lines]
    for record in records:
        assert ISO_TIME.fullmatch(record.pop("time")), record
    return records


# -- connect ---------------------------------------------------------------------


def test_connect_sends_stdin_lines_and_prints_received_messages(
    party_server: PartyServer, cli: Callable[..., Cli]
) -> None:
    with connect(url(party_server, "peer")) as peer:
        party_server.wait_for(lambda: party_server.connections("lobby") == {"peer"})
        process = cli("connect", url(party_server, "cli"))
        assert process.expect("stderr", "connected to ws://127.0.0.1:").endswith("/parties/main/lobby?_pk=***")
        party_server.wait_for(lambda: party_server.connections("lobby") == {"peer", "cli"})

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


@pytest.mark.party_server(echo=True)
def test_piped_stdin_lingers_so_replies_are_printed(party_server: PartyServer) -> None:
    result = run("connect", url(party_server), stdin="a\nb\n")  # printf 'a\nb\n' | partysocket connect URL
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a", "b"]  # the echoes, printed during --linger (1 s)


def test_linger_ends_early_when_the_server_closes(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli("connect", url(party_server, "cli"), "--linger", "60")
    process.write("ping\n")
    process.close_stdin()
    party_server.wait_for(lambda: party_server.messages("lobby") == ["ping"])
    party_server.drop_all(code=1001, reason="bye")
    code, _, stderr = process.wait()  # well before the 60 s linger (wait() fails after TIMEOUT)
    assert code == 0
    assert "disconnected (code 1001) bye" in stderr
    assert not any("reconnecting" in line for line in stderr)


def test_linger_0_closes_right_after_the_flush(party_server: PartyServer) -> None:
    result = run("connect", url(party_server, "cli"), "--linger", "0", stdin="one\n")
    assert result.returncode == 0, result.stderr
    assert party_server.messages("lobby") == ["one"]


def test_connect_at_end_of_stdin_waits_for_the_connection_and_flushes(
    party_server: PartyServer, cli: Callable[..., Cli]
) -> None:
    party_server.refuse(503)  # the lines get buffered
    process = cli("connect", url(party_server, "cli"), "--min-delay", "0.05", "--max-delay", "0.1", "--linger", "0")
    process.write("one\ntwo\nthree")  # the last line has no newline
    process.close_stdin()
    process.expect("stderr", "reconnecting in")
    party_server.resume()
    code, _, stderr = process.wait()
    assert code == 0, stderr
    assert party_server.messages("lobby") == ["one", "two", "three"]
    assert any("503" in line for line in stderr)


def test_send_file_sends_its_lines_and_ignores_stdin(party_server: PartyServer, tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("alpha\nbeta\r\ngamma\n", encoding="utf-8")
    result = run("connect", url(party_server, "cli"), "--send", str(lines), "--linger", "0", stdin="not sent\n")
    assert result.returncode == 0, result.stderr
    assert party_server.messages("lobby") == ["alpha", "beta", "gamma"]


def test_send_a_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run("connect", "ws://127.0.0.1:1/x", "--send", str(tmp_path / "missing.txt"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: cannot read {tmp_path / 'missing.txt'}: No such file or directory"]


def test_headers_and_subprotocols_reach_the_server(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli(
        "connect",
        url(party_server, "cli"),
        "--header",
        "Authorization: Bearer t0k3n",
        "--header",
        "X-Trace:42",
        "--subprotocol",
        "chat.v2",
        "--subprotocol",
        "chat.v1",
        "--json",
    )
    opened = events([process.expect("stdout", '"open"')])[0]
    assert opened["protocol"] == "chat.v2"  # the room server picks the first one offered
    handshake = party_server.handshakes()[-1]
    assert handshake.header("authorization") == "Bearer t0k3n"
    assert handshake.header("X-Trace") == "42"
    assert handshake.header("Sec-WebSocket-Protocol") == "chat.v2, chat.v1"
    process.close_stdin()
    assert process.wait()[0] == 0


@pytest.mark.parametrize(
    ("flag", "shown"),
    [((), "binary (3 bytes, hex): 00ff41"), (("--binary", "base64"), "binary (3 bytes, base64): AP9B")],
)
def test_binary_messages_are_shown_safely_in_text_mode(
    party_server: PartyServer, cli: Callable[..., Cli], flag: tuple[str, ...], shown: str
) -> None:
    process = cli("connect", url(party_server, "cli"), *flag)
    party_server.wait_for(lambda: party_server.connections("lobby") == {"cli"})
    with connect(url(party_server, "peer")) as peer:
        peer.send(b"\x00\xffA")
        assert process.expect("stdout", "binary") == shown
    process.close_stdin()
    assert process.wait()[0] == 0


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
    assert run("connect", "ws://127.0.0.1:1/x", "--header", "no-colon").stderr.splitlines() == [
        "error: --header takes NAME:VALUE, got 'no-colon'"
    ]
    result = run("connect", "ws://127.0.0.1:1/x", "--path", "sub")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: give either a URL or --host/--room, not both (remove --path)"]
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


def test_connect_exits_1_when_the_server_keeps_refusing(party_server: PartyServer) -> None:
    party_server.refuse(403)
    result = run("connect", url(party_server), "--max-retries", "2", "--min-delay", "0.01", "--json")
    assert result.returncode == 1
    assert [record["type"] for record in events(result.stdout.splitlines())] == [
        *["error", "close", "retry"] * 2,
        "error",
        "close",
    ]
    assert result.stderr.splitlines()[-1].startswith("error: gave up after 2 retries: ")
    assert "403" in result.stderr


@posix_only
def test_connect_exits_130_on_sigint_after_a_clean_close(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli("connect", url(party_server, "cli"))
    process.expect("stderr", "connected to")
    party_server.wait_for(lambda: party_server.connections("lobby") == {"cli"})
    process.write("before ctrl-c\n")
    party_server.wait_for(lambda: party_server.messages("lobby") == ["before ctrl-c"])
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert stderr[-1] == "disconnected (code 1000)"  # a closing handshake, not a dropped connection
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in stderr)


@posix_only
def test_sigint_while_disconnected_says_what_was_not_sent(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    party_server.refuse(503)
    process = cli("connect", url(party_server, "cli"), "--min-delay", "5", "--debug")
    process.write("lost line\n")
    process.expect("stderr", "buffered")  # the library's debug line: the line was read and buffered
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert "error: interrupted while not connected; 1 message not sent" in stderr


@posix_only
def test_sigint_while_waiting_to_flush_after_the_input_ended_stops_at_once(
    party_server: PartyServer, cli: Callable[..., Cli]
) -> None:
    party_server.refuse(503)
    process = cli("connect", url(party_server, "cli"), "--min-delay", "5", "--flush-timeout", "30", "--debug")
    process.write("lost line\n")
    process.expect("stderr", "buffered")
    process.close_stdin()  # end of input: it now waits up to 30 s for the connection
    process.expect("stderr", "connection error")
    started = time.monotonic()
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert time.monotonic() - started < 5.0  # not the 30 s flush timeout
    assert "error: interrupted while not connected; 1 message not sent" in stderr


@posix_only
def test_sigint_while_lingering_stops_at_once(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli("connect", url(party_server, "cli"), "--linger", "30")
    process.expect("stderr", "connected to")
    process.write("hello\n")
    party_server.wait_for(lambda: party_server.messages("lobby") == ["hello"])
    process.close_stdin()  # end of input: it now lingers 30 s for replies
    started = time.monotonic()
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert time.monotonic() - started < 5.0
    assert stderr[-1] == "disconnected (code 1000)"


def test_connect_exits_1_when_still_not_connected_after_the_flush_timeout(party_server: PartyServer) -> None:
    party_server.refuse(503)
    result = run("connect", url(party_server, "cli"), "--min-delay", "0.05", "--flush-timeout", "0.5", stdin="x\n")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "error: not connected after 0.5 s; 1 message not sent"


def test_every_reconnect_flag_reaches_its_option() -> None:
    from partysocket.cli import _Connect, build_parser

    args = build_parser().parse_args(
        [
            "connect",
            "ws://127.0.0.1:9/",
            "--max-retries=3",
            "--min-delay=0.25",
            "--max-delay=7",
            "--grow-factor=1.7",
            "--connection-timeout=2.5",
            "--min-uptime=9",
            "--jitter=0.2",
            "--max-enqueued=11",
            "--ping-interval=4",
            "--ping-timeout=6",
        ]
    )
    assert _Connect(args).options() == {
        "max_retries": 3,
        "min_reconnection_delay": 0.25,
        "max_reconnection_delay": 7.0,
        "reconnection_delay_grow_factor": 1.7,
        "connection_timeout": 2.5,
        "min_uptime": 9.0,
        "jitter": 0.2,
        "max_enqueued_messages": 11,
        "ping_interval": 4.0,
        "ping_timeout": 6.0,
    }
    off = build_parser().parse_args(["connect", "ws://127.0.0.1:9/", "--ping-interval=0"])
    assert _Connect(off).options() == {"ping_interval": None}


def test_party_flag_picks_the_party(party_server: PartyServer) -> None:
    result = run(
        "connect", "--host", party_server.host, "--room", "r", "--party", "chat", "--id", "p1", "--linger", "0",
        stdin="hi\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert party_server.messages("r", party="chat") == ["hi"]


def test_connect_to_a_room_with_json_output(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    host = party_server.host
    process = cli("connect", "--host", host, "--room", "lobby", "--id", "bot", "--query", "token=t0p", "--json")
    opened = events([process.expect("stdout", '"open"')])[0]
    assert opened == {"type": "open", "url": f"ws://{host}/parties/main/lobby?_pk=***&token=***"}
    party_server.wait_for(lambda: party_server.connections("lobby") == {"bot"})
    with connect(url(party_server, "peer")) as peer:
        party_server.wait_for(lambda: party_server.connections("lobby") == {"bot", "peer"})
        peer.send(b"\x01\x02")
        assert events([process.expect("stdout", '"message"')]) == [{"type": "message", "data": "0102", "binary": "hex"}]
    process.close_stdin()
    code, stdout, _ = process.wait()
    assert code == 0
    assert events(stdout[-1:]) == [
        {"type": "close", "code": 1000, "reason": "", "was_clean": True, "will_reconnect": False}
    ]


@pytest.mark.party_server(prefix="api/rooms")
def test_connect_with_prefix_path_and_protocol(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli(
        "connect", "--host", party_server.host, "--room", "r1", "--id", "me", "--prefix", "api/rooms",
        "--path", "sub", "--protocol", "ws", "--json",
    )  # fmt: skip
    opened = events([process.expect("stdout", '"open"')])[0]
    assert opened["url"] == f"ws://{party_server.host}/api/rooms/main/r1/sub?_pk=***"
    party_server.wait_for(lambda: party_server.connections("r1") == {"me"})
    process.close_stdin()
    assert process.wait()[0] == 0


def test_json_reports_drops_and_retries_with_timestamps(party_server: PartyServer, cli: Callable[..., Cli]) -> None:
    process = cli("connect", url(party_server, "cli"), "--json", "--min-delay", "0.05", "--min-uptime", "0.01")
    process.expect("stdout", '"open"')
    party_server.wait_for(lambda: party_server.connections("lobby") == {"cli"})
    party_server.drop_all(code=None)  # abort: 1006
    process.expect("stdout", '"retry"')
    process.expect("stdout", '"open"')
    process.close_stdin()
    code, stdout, _ = process.wait()
    assert code == 0
    records = events(stdout)
    assert [record["type"] for record in records] == ["open", "error", "close", "retry", "open", "close"]
    assert records[2]["code"] == 1006 and records[2]["will_reconnect"] is True
    assert records[3] == {"type": "retry", "attempt": 1, "delay": 0.05}


# -- serve -----------------------------------------------------------------------


def _serve(cli: Callable[..., Cli], *args: str) -> tuple[Cli, str]:
    process = cli("serve", "--port", "0", *args)
    line = process.expect("stdout", "listening on")
    url = line.removeprefix("listening on ").rsplit("/", 3)[0]
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
    code, stdout, stderr = process.wait()
    assert code == 0
    assert not any("xyz" in line for line in stderr)
    assert [line for line in stdout + stderr if "listening on" in line and "stopped" not in line] == stdout[:1]


def test_serve_answers_http_on_room_urls_with_json(cli: Callable[..., Cli]) -> None:
    import httpx

    process, url = _serve(cli, "--prefix", "api")
    base = url.replace("ws://", "http://")
    with connect(f"{url}/api/main/lobby?_pk=alice"):
        process.expect("stderr", "connect main/lobby id=alice")
        response = httpx.post(f"{base}/api/main/lobby/items?x=1", content=b"payload", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {
        "room": "lobby",
        "party": "main",
        "connections": ["alice"],
        "method": "POST",
        "path": "/api/main/lobby/items",
        "query": {"x": "1"},
        "body": "payload",
    }
    assert httpx.get(f"{base}/parties/main/lobby", timeout=TIMEOUT).status_code == 404
    process.expect("stderr", "http POST main/lobby (HTTP 200)")


def test_serve_refuses_handshakes_with_a_status(cli: Callable[..., Cli]) -> None:
    process, url = _serve(cli, "--refuse-status", "429")
    assert process.expect("stderr", "fault injection") == "fault injection: refuse handshakes with HTTP 429 for ever"
    with pytest.raises(InvalidStatus) as info:
        connect(f"{url}/parties/main/lobby")
    assert info.value.response.status_code == 429
    process.expect("stderr", "refused handshake /parties/main/lobby (HTTP 429)")


def test_serve_drops_every_connection_periodically(cli: Callable[..., Cli]) -> None:
    process, url = _serve(cli, "--drop-every", "0.2")
    with connect(f"{url}/parties/main/lobby?_pk=alice") as alice, pytest.raises(ConnectionClosed) as info:
        alice.recv(TIMEOUT)
    assert info.value.rcvd is None  # aborted: the client sees 1006
    process.expect("stderr", "dropping 1 connection (aborted)")


def test_serve_echo_drop_code_refuse_for_and_delay_handshake(cli: Callable[..., Cli]) -> None:
    process, url = _serve(cli, "--echo", "--drop-every", "0.5", "--drop-code", "4000", "--refuse-for", "0.3",
                          "--delay-handshake", "0.2")  # fmt: skip
    assert [process.expect("stderr", "fault injection") for _ in range(3)] == [
        "fault injection: every 0.5 s, drop every connection: close them with code 4000",
        "fault injection: refuse handshakes with HTTP 503 for the first 0.3 s",
        "fault injection: answer each handshake after 0.2 s",
    ]
    with pytest.raises(InvalidStatus) as info:  # refused during the first 0.3 s
        connect(f"{url}/parties/main/lobby")
    assert info.value.response.status_code == 503
    deadline = time.monotonic() + TIMEOUT
    while True:  # once the refusal period is over, handshakes are answered (after the delay)
        try:
            started = time.monotonic()
            alice = connect(f"{url}/parties/main/lobby?_pk=alice")
            break
        except InvalidStatus:
            assert time.monotonic() < deadline, "the server kept refusing"
    with alice:
        assert time.monotonic() - started >= 0.2  # the handshake was delayed
        alice.send("hi")
        assert alice.recv(TIMEOUT) == "hi"  # --echo: the sender gets its own message
        with pytest.raises(ConnectionClosed) as closed:
            alice.recv(TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000  # --drop-code


def test_serve_with_a_bad_fault_option_exits_2() -> None:
    result = run("serve", "--port", "0", "--refuse-status", "200")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: the refusal status must be an HTTP error status (400-599), got 200"]


@posix_only
def test_serve_exits_130_on_sigint_without_a_traceback(cli: Callable[..., Cli]) -> None:
    process, _ = _serve(cli)
    process.proc.send_signal(signal.SIGINT)
    code, _, stderr = process.wait()
    assert code == 130
    assert not any("Traceback" in line for line in stderr)


def test_serve_on_a_busy_port_exits_1(party_server: PartyServer) -> None:
    result = run("serve", "--port", str(party_server.port))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{party_server.port}")


# -- the command itself ----------------------------------------------------------


def test_version_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("partysocket ")
    assert main([]) == 2
    assert "connect" in capsys.readouterr().err
