#!/usr/bin/env python3
"""Set up and run partysocket's development tasks with nothing but Python 3.

    python3 dev.py demo    # create .venv if needed, then run the reconnect demo
    python3 dev.py test    # create .venv if needed, then run the test suite
    python3 dev.py check   # ruff, ruff format --check, mypy --strict
    python3 dev.py build   # build the wheel and sdist and install them in a scratch venv

The virtual environment lives in .venv and is refreshed when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".partysocket-stamp"


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PY.exists():
        print("dev.py: creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing partysocket and its development tools into .venv ...", file=sys.stderr)
    quiet = ["-q"] if os.environ.get("CI") is None else []
    if run(PY, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("dev.py: could not upgrade pip in .venv")
    if run(PY, "-m", "pip", "install", *quiet, "-e", ".[dev]") != 0:
        sys.exit("dev.py: could not install the project into .venv")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "check", "build"):
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    ensure_venv()
    if task == "demo":
        return run(PY, "-m", "partysocket", "demo", *rest)
    if task == "test":
        return run(PY, "-m", "pytest", *rest)
    if task == "check":
        status = run(PY, "-m", "ruff", "check", "src", "tests", "bench", "dev.py", ".ci")
        status |= run(PY, "-m", "ruff", "format", "--check", "src", "tests", "bench", "dev.py", ".ci")
        status |= run(PY, "-m", "mypy")
        return status
    return run(PY, str(ROOT / ".ci" / "build_check.py"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
