"""partysocket.sync against real servers, from plain threads and from inside event loops."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import partysocket.sync as ps
from partysocket import CloseEvent, Event, MessageEvent

from .conftest import ThreadedServer

TIMEOUT = 10.0


def loop_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "partysocket-loop"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    """Wait (on a condition, re-checked every few ms) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def no_loop_thread_left() -> Iterator[None]:
    yield
    # Every test closes its sockets: the library's loop thread must be gone.
    wait_for(lambda: not loop_threads(), "the partysocket thread to stop")


def test_with_block_waits_for_open_and_closes_on_exit(server: ThreadedServer) -> None:
    with ps.ReconnectingWebSocket(server.url) as ws:
        assert ws.ready_state == ps.OPEN
        ws.send("hi")
        assert ws.recv(TIMEOUT) == "hi"
    assert ws.ready_state == ps.CLOSED
    with pytest.raises(ps.ConnectionClosed):
        ws.recv(1)


def test_iteration_continues_across_a_server_restart(server: ThreadedServer) -> None:
    ws = ps.ReconnectingWebSocket(server.url, min_reconnection_delay=0.05, max_reconnection_delay=0.2)
    dropped = threading.Event()
    ws.add_event_listener("close", lambda event: dropped.set())
    received: list[str | bytes] = []
    try:
        with ws:
            ws.send("one")
            for data in ws:
                received.append(data)
                if data == "one":
                    server.restart()
                    # Sent once the drop is known, it is buffered and arrives exactly once. (Sent
                    # earlier, it could be written into the dead connection: at most once, like TCP.)
                    assert dropped.wait(TIMEOUT)
                    ws.send("two")
                if data == "two":
                    break
        assert received == ["one", "two"]
    finally:
        ws.close()


def test_iteration_ends_when_closed() -> None:
    ws = ps.ReconnectingWebSocket("ws://127.0.0.1:9", start_closed=True)
    assert list(ws) == []
    ws.close()


def test_ten_threads_sending_keep_their_order_and_lose_nothing(server: ThreadedServer) -> None:
    per_thread = 200
    with ps.ReconnectingWebSocket(server.url) as ws:
        start = threading.Barrier(10)

        def sender(name: int) -> None:
            start.wait()
            for n in range(per_thread):
                ws.send(f"{name}:{n}")

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: len(server.received()) >= 10 * per_thread, "every message at the server")
    got = server.received()
    assert len(got) == 10 * per_thread
    for name in range(10):
        mine = [str(m) for m in got if str(m).startswith(f"{name}:")]
        assert mine == [f"{name}:{n}" for n in range(per_thread)]


def test_recv_timeout_raises_timeout_error(server: ThreadedServer) -> None:
    with ps.ReconnectingWebSocket(server.url) as ws:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)
        assert 0.18 <= time.monotonic() - started < 2.0
        ws.send("after")  # the socket still works after a timeout
        assert ws.recv(TIMEOUT) == "after"


def test_close_from_another_thread_unblocks_recv(server: ThreadedServer) -> None:
    ws = ps.ReconnectingWebSocket(server.url)
    ws.wait_open(TIMEOUT)
    outcome: list[BaseException] = []
    waiting = threading.Event()

    def reader() -> None:
        waiting.set()
        try:
            ws.recv()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    waiting.wait(TIMEOUT)
    ws.close(4001, "bye")
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ps.ConnectionClosed)
    event = outcome[0].event
    assert isinstance(event, CloseEvent) and event.code == 4001


def test_handlers_run_on_the_partysocket_thread_and_errors_are_not_fatal(
    server: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> None:
    threads: list[str] = []
    got = threading.Event()

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    def on_message(event: MessageEvent) -> None:
        threads.append(threading.current_thread().name)
        got.set()

    with (
        caplog.at_level(logging.ERROR, logger="partysocket"),
        ps.ReconnectingWebSocket(server.url, on_message=broken) as ws,
    ):
        ws.add_event_listener("message", on_message)
        ws.send("x")
        assert got.wait(TIMEOUT)
        assert ws.ready_state == ps.OPEN
    assert threads == ["partysocket-loop"]
    assert "handler bug" in caplog.text


def test_event_target_is_the_sync_socket(server: ThreadedServer) -> None:
    targets: list[Any] = []
    opened = threading.Event()

    def on_open(event: Event) -> None:
        targets.append(event.target)
        opened.set()

    ws = ps.ReconnectingWebSocket(server.url, on_open=on_open)
    try:
        assert opened.wait(TIMEOUT)
        assert targets == [ws]
    finally:
        ws.close()


def test_blocking_calls_from_a_handler_raise_instead_of_deadlocking(server: ThreadedServer) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def on_open(event: Event) -> None:
        try:
            ws.recv(1)
        except BaseException as exc:
            errors.append(exc)
        done.set()

    ws = ps.ReconnectingWebSocket(server.url, on_open=on_open)
    try:
        assert done.wait(TIMEOUT)
        assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    finally:
        ws.close()


def test_send_and_close_from_a_handler(server: ThreadedServer) -> None:
    closed = threading.Event()

    ws: ps.ReconnectingWebSocket

    def on_open(event: Event) -> None:
        ws.send("ping")  # send() from a handler goes straight to the socket

    def on_message(event: MessageEvent) -> None:
        ws.close(4002)  # close() from a handler does not wait (it would block its own thread)

    conns: list[Any] = []

    async def on_connect(conn: Any) -> None:
        conns.append(conn)

    server.call(lambda: setattr(server.server, "on_connect", on_connect))
    ws = ps.ReconnectingWebSocket(server.url, on_message=on_message, on_open=on_open)
    ws.add_event_listener("close", lambda event: closed.set())
    assert closed.wait(TIMEOUT)
    wait_for(lambda: ws.ready_state == ps.CLOSED, "CLOSED")
    # The last socket let go of the loop thread only after its closing handshake.
    wait_for(lambda: bool(conns) and conns[0].close_code is not None, "the server to see the close")
    assert conns[0].close_code == 4002


def test_a_with_block_that_cannot_open_leaves_no_thread() -> None:
    with pytest.raises(ps.ConnectionClosed), ps.ReconnectingWebSocket("ws://127.0.0.1:9", max_retries=0):
        raise AssertionError("nothing listens on port 9: entry cannot succeed")
    wait_for(lambda: loop_threads() == [], "the loop thread to stop")


def test_a_socket_that_gave_up_lets_go_of_the_thread_and_can_reconnect(server: ThreadedServer) -> None:
    ws = ps.ReconnectingWebSocket("ws://127.0.0.1:9", max_retries=1, min_reconnection_delay=0.01)
    wait_for(lambda: loop_threads() == [], "the loop thread to stop after giving up")
    with pytest.raises(ps.ConnectionClosed):
        ws.recv(timeout=1)
    ws.reconnect()  # it needs the thread again
    assert len(loop_threads()) == 1
    ws.close()
    wait_for(lambda: loop_threads() == [], "the loop thread to stop")


def test_sockets_still_open_at_interpreter_exit_close_with_1001(server: ThreadedServer) -> None:
    import subprocess
    import sys

    conns: list[Any] = []

    async def on_connect(conn: Any) -> None:
        conns.append(conn)

    server.call(lambda: setattr(server.server, "on_connect", on_connect))
    script = (
        "import partysocket.sync as ps\n"
        f"ws = ps.ReconnectingWebSocket({server.url!r})\n"
        "ws.wait_open(10)\n"  # and exit without closing it
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: bool(conns) and conns[0].close_code is not None, "the server to see the close")
    assert conns[0].close_code == 1001


def test_wait_open_timeout_and_giving_up(server: ThreadedServer) -> None:
    server.call(lambda: server.server.hang())
    ws = ps.ReconnectingWebSocket(server.url, connection_timeout=5)
    try:
        with pytest.raises(TimeoutError):
            ws.wait_open(0.2)
    finally:
        ws.close()
    refused = ps.ReconnectingWebSocket("ws://127.0.0.1:9", max_retries=0)
    try:
        with pytest.raises(ps.ConnectionClosed):
            refused.wait_open(TIMEOUT)
    finally:
        refused.close()


def test_no_thread_or_socket_left_after_close(server: ThreadedServer) -> None:
    fds_before = open_fds()
    sockets = [ps.ReconnectingWebSocket(server.url) for _ in range(5)]
    for ws in sockets:
        ws.wait_open(TIMEOUT)
    assert len(loop_threads()) == 1  # one shared thread for all sync sockets
    for ws in sockets:
        ws.close()
    assert loop_threads() == []
    wait_for(lambda: open_fds() <= fds_before, "file descriptors to be released")


def test_reconnect_after_close_keeps_buffered_messages_and_listeners(server: ThreadedServer) -> None:
    opens: list[int] = []
    ws = ps.ReconnectingWebSocket(server.url)
    ws.add_event_listener("open", lambda event: opens.append(1))
    ws.wait_open(TIMEOUT)
    ws.close()
    assert loop_threads() == []  # the last socket closed: the thread stopped
    assert ws.send("kept while closed") is False
    ws.reconnect()  # a new thread carries the socket on
    try:
        ws.wait_open(TIMEOUT)
        wait_for(lambda: "kept while closed" in server.received(), "the buffered message")
        assert len(opens) == 2
    finally:
        ws.close()


def test_works_from_inside_a_running_event_loop(server: ThreadedServer) -> None:
    """As in a notebook: blocking calls from a coroutine, directly and via to_thread."""

    def use() -> str | bytes:
        with ps.ReconnectingWebSocket(server.url) as ws:
            ws.send("from a thread")
            return ws.recv(TIMEOUT)

    async def main() -> tuple[str | bytes, str | bytes]:
        via_thread = await asyncio.to_thread(use)
        directly = use()  # blocks this loop, but never deadlocks: the socket runs elsewhere
        return via_thread, directly

    assert asyncio.run(main()) == ("from a thread", "from a thread")


def test_send_type_errors_are_raised_in_the_caller(server: ThreadedServer) -> None:
    with ps.ReconnectingWebSocket(server.url) as ws:
        with pytest.raises(TypeError):
            ws.send({"not": "serialised"})  # type: ignore[arg-type]
        data = bytearray(b"abc")
        ws.send(data)
        data[0] = ord("z")  # mutating after send() does not change what was sent
        assert ws.recv(TIMEOUT) == b"abc"


def test_aliases_and_attributes(server: ThreadedServer) -> None:
    with ps.ReconnectingWebSocket(server.url) as ws:
        assert ws.readyState == ws.ready_state == ps.OPEN
        assert ws.url == server.url
        assert ws.bufferedAmount == 0
        assert ws.retryCount == 0
        assert ws.shouldReconnect is True
        ws.binaryType = "arraybuffer"
        assert ws.binary_type == "arraybuffer"
        assert "sync" in repr(ws)


def test_party_socket_connects_to_the_room(server: ThreadedServer) -> None:
    host = server.url.removeprefix("ws://")
    with ps.PartySocket(host, "lobby", id="me", query={"token": "t"}) as ws:
        assert ws.id == "me"
        assert ws.room == "lobby" and ws.name == "main" and ws.host == host
        assert ws.room_url == f"ws://{host}/parties/main/lobby"
        ws.update_properties(room="other")
        ws.reconnect()
        ws.wait_open(TIMEOUT)
        paths = server.call(lambda: list(server.server.paths))
    assert paths[0] == "/parties/main/lobby?_pk=me&token=t"
    assert paths[-1] == "/parties/main/other?_pk=me&token=t"


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.dumps({"path": self.path, "body": self.rfile.read(length).decode()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("where", ["plain thread", "inside a running loop"])
def test_blocking_fetch(where: str) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"127.0.0.1:{httpd.server_address[1]}"

        def fetch() -> Any:
            return ps.PartySocket.fetch(host, "api", method="POST", content=b"hello", query={"q": "1"})

        async def in_a_loop() -> Any:
            return fetch()  # blocking call from a coroutine, as in a notebook cell

        response = fetch() if where == "plain thread" else asyncio.run(in_a_loop())
        assert response.status_code == 200
        assert response.json() == {"path": "/parties/main/api?q=1", "body": "hello"}
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


def test_close_then_reconnect_from_a_handler_ends_open(server: ThreadedServer) -> None:
    ws: ps.ReconnectingWebSocket
    opens: list[Event] = []

    def on_open(event: Event) -> None:
        opens.append(event)
        if len(opens) == 1:
            ws.close()
            ws.reconnect()  # "start over": nothing scheduled by close() may undo it

    ws = ps.ReconnectingWebSocket(server.url, on_open=on_open, min_reconnection_delay=0.05)
    try:
        wait_for(lambda: len(opens) == 2, "the second open")
        ws.send("still here")
        assert ws.recv(TIMEOUT) == "still here"
        assert ws.ready_state == ps.OPEN
        assert len(loop_threads()) == 1
    finally:
        ws.close()
