"""Process plumbing shared by the runner and the workers: the echo server's lifecycle, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
SERVER_CPU = 0
CLIENT_CPU = 1


def pin(cpu: int) -> None:
    """Run this process on one CPU (server and client each get their own core), if the machine has it."""
    if hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0) and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class EchoServer:
    """The echo server in its own process (``python -m bench.server PORT``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"ws://{HOST}:{port}/"
        self.proc: subprocess.Popen[str] | None = None
        self.listening_at = 0.0  # time.monotonic() in the server when it accepted connections

    def start(self, timeout: float = 15.0) -> float:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            preexec_fn=lambda: pin(SERVER_CPU),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("LISTENING "):
                self.listening_at = float(line.split()[1])
                return self.listening_at
            if not line:
                break
        self.kill()
        raise RuntimeError("the echo server did not start")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
