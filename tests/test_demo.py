"""``partysocket demo`` runs by itself, with the runtime dependencies only, and loses nothing."""

from __future__ import annotations

import re
import subprocess
import sys

# httpx (the optional "http" extra) is made unimportable: the demo needs websockets only.
WITHOUT_HTTPX = "import sys; sys.modules['httpx'] = None; from partysocket.cli import main; sys.exit(main(['demo']))"


def test_demo_survives_two_restarts_and_loses_nothing() -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_HTTPX], capture_output=True, text=True, timeout=20)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert any(re.search(r"starting room server on ws://127\.0\.0\.1:\d+$", line) for line in lines)
    assert sum("restarting server" in line for line in lines) == 2
    summary = re.fullmatch(r"OK: 2 server restarts, (\d+) reconnects, (\d+) messages, 0 lost", lines[-1])
    assert summary is not None, lines[-1]
    assert int(summary[1]) >= 2
    assert int(summary[2]) > 0
    total = next(line.split() for line in lines if line.split()[:1] == ["total"])
    assert total[5:] == ["0", "0"]  # lost, duplicates
