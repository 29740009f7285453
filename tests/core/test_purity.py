"""The core stays pure: no event loop, threads, sockets, clock or random source of its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import partysocket

PACKAGE = Path(partysocket.__file__).resolve().parent
PURE_FILES = [*sorted((PACKAGE / "core").rglob("*.py")), PACKAGE / "events.py", PACKAGE / "exceptions.py"]
PURE_MODULES = {"partysocket.core", "partysocket.events", "partysocket.exceptions"}

FORBIDDEN = {
    # named by the core's contract
    "asyncio",
    "threading",
    "socket",
    "time",
    "random",
    # the same thing under other names
    "_thread",
    "concurrent",
    "selectors",
    "ssl",
    "websockets",
    "httpx",
}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module the file imports, anywhere in it (TYPE_CHECKING blocks too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                if node.module:
                    names.append(f"{prefix}.{node.module}")
                else:
                    names += [f"{prefix}.{alias.name}" for alias in node.names]
            else:
                assert node.module is not None
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            dynamic = (isinstance(func, ast.Name) and func.id == "__import__") or (
                isinstance(func, ast.Attribute) and func.attr == "import_module"
            )
            if dynamic:
                names.append("<dynamic import>")
    return names


def test_pure_files_are_found() -> None:
    found = {path.name for path in PURE_FILES}
    assert {"machine.py", "backoff.py", "buffer.py", "options.py", "url.py", "redact.py"} <= found
    assert {"events.py", "exceptions.py"} <= found


def test_import_resolution_helper() -> None:
    machine = PACKAGE / "core" / "machine.py"
    names = imported_modules(machine)
    assert "partysocket.events" in names
    assert "partysocket.core.backoff" in names


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda path: module_name(path))
def test_no_forbidden_imports(path: Path) -> None:
    for name in imported_modules(path):
        assert name != "<dynamic import>", f"{path.name} imports dynamically"
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{module_name(path)} imports {name}"
        if top == "partysocket":
            assert any(name == pure or name.startswith(pure + ".") for pure in PURE_MODULES), (
                f"{module_name(path)} imports {name}, which is not part of the pure core"
            )


def test_importing_the_core_loads_no_forbidden_module() -> None:
    """Transitively: load the pure modules without the package __init__ (which brings the drivers)."""
    code = f"""
import sys, types
before = set(sys.modules)
package = types.ModuleType("partysocket")
package.__path__ = [{str(PACKAGE)!r}]
sys.modules["partysocket"] = package
import partysocket.core, partysocket.events, partysocket.exceptions
import partysocket.core.machine, partysocket.core.backoff, partysocket.core.buffer
import partysocket.core.options, partysocket.core.url, partysocket.core.redact
loaded = set(sys.modules) - before
print("\\n".join(sorted(loaded)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "partysocket.core.machine" in loaded
    bad = {name for name in loaded if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"importing the pure core loaded {sorted(bad)}"
    ours = {name for name in loaded if name.startswith("partysocket.")}
    drivers = {name for name in ours if name.split(".")[1] not in ("core", "events", "exceptions")}
    assert not drivers, f"importing the pure core loaded {sorted(drivers)}"
