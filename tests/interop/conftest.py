"""Real peers for the interop tests: the PartyKit dev server and the reference client.

The npm packages pinned in ``package-lock.json`` are installed on first use
(``npm ci``). Without Node.js the tests are skipped with a loud reason, except
under CI (``CI`` set), where a missing Node.js is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 90.0


def _need_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "Node.js and npm are needed for the interop tests against the real PartyKit server"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run them: install Node.js")
        pytest.skip(f"SKIPPED LOUDLY: {reason}; install Node.js to run them")
    return node, npm


def _install(npm: str) -> None:
    marker = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PartyKitDev:
    """``partykit dev`` on 127.0.0.1:``port``, which can be stopped and started again."""

    def __init__(self, node: str, port: int) -> None:
        self.node = node
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = HERE / ".partykit" / f"dev-{port}.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(exist_ok=True)
        env = dict(os.environ)
        # Keep every request on this machine: no request.cf lookup, no API host.
        env["PARTYKIT_API_BASE"] = "http://127.0.0.1:9"
        env["NO_COLOR"] = "1"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.node,
                    str(HERE / "node_modules" / "partykit" / "dist" / "bin.mjs"),
                    "dev",
                    "--port",
                    str(self.port),
                    "--disable-request-cf-fetch",
                    "--no-hotkeys",
                ],
                cwd=HERE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = f"http://127.0.0.1:{self.port}/parties/main/ready"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"partykit dev exited early; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"partykit dev did not answer within {STARTUP_TIMEOUT} s; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        process = self.process
        self.process = None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # workerd may outlive its parent for a moment: wait until the port is free.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)


@pytest.fixture(scope="session")
def node() -> str:
    node, npm = _need_node()
    _install(npm)
    return node


@pytest.fixture(scope="session")
def partykit(node: str) -> Iterator[PartyKitDev]:
    server = PartyKitDev(node, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reference_client(node: str) -> Iterator[type[subprocess.Popen[str]]]:
    """Start the reference TypeScript client: ``reference_client_args(host, room, id)``."""
    started: list[subprocess.Popen[str]] = []

    class Client(subprocess.Popen[str]):
        def __init__(self, host: str, room: str, id: str) -> None:  # noqa: A002
            super().__init__(
                [node, str(HERE / "client.mjs"), host, room, id],
                cwd=HERE,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            started.append(self)

    yield Client
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
