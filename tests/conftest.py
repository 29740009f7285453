"""Test set-up: run ``async def`` tests in a fresh event loop in debug mode.

Each coroutine test runs under ``asyncio.run(..., debug=True)``; afterwards no
task of the test may be left running (checked with ``asyncio.all_tasks()``
before the loop closes).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest


async def _run_checked(test: Callable[..., Coroutine[Any, Any, None]], kwargs: dict[str, Any]) -> None:
    await test(**kwargs)
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    # Give tasks that are finishing by themselves (cancelled a moment ago) one tick.
    if leftover:
        await asyncio.sleep(0)
        leftover = [task for task in leftover if not task.done()]
    assert not leftover, f"tasks left running after the test: {leftover}"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(_run_checked(test, kwargs), debug=True)
    return True
