"""Runs one (client, case) in a fresh process and prints its figures as one JSON line.

``python -m bench.worker '{"client": "websockets", "case": "latency", "url": ..., "n": 5000}'``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from . import clients, recovery
from .server import raise_fd_limit


def run(spec: dict[str, Any]) -> dict[str, Any]:
    client, case = spec["client"], spec["case"]
    url, n, size = spec.get("url", ""), spec.get("n", 0), spec.get("size", 32)
    transport = "picows" if client == "partysocket+picows" else "default"
    if client == "partysocket.sync":
        blocking = {
            "throughput": lambda: clients.sync_throughput(url, n, size),
            "latency": lambda: clients.sync_latency(url, n),
            "send_cost": lambda: clients.sync_send_cost(url, n),
        }
        if case not in blocking:
            return {"skipped": f"{case} is not measured for {client}"}
        measured: dict[str, Any] = blocking[case]()
        return measured
    if client.startswith("partysocket"):
        table: dict[str, Callable[[], Any]] = {
            "throughput": lambda: clients.ours_throughput(url, n, size, transport),
            "latency": lambda: clients.ours_latency(url, n, transport),
            "send_cost": lambda: clients.ours_send_cost(url, n, transport),
            "scale": lambda: clients.ours_scale(url, n, transport),
            "recovery": lambda: recovery.ours(n, transport),
        }
    elif client == "websockets":
        table = {
            "throughput": lambda: clients.websockets_throughput(url, n, size),
            "latency": lambda: clients.websockets_latency(url, n),
            "send_cost": lambda: clients.websockets_send_cost(url, n),
            "scale": lambda: clients.websockets_scale(url, n),
            "recovery": lambda: recovery.websockets_loop(n),
        }
    elif client == "aiohttp":
        table = {
            "throughput": lambda: clients.aiohttp_throughput(url, n, size),
            "latency": lambda: clients.aiohttp_latency(url, n),
            "scale": lambda: clients.aiohttp_scale(url, n),
        }
    elif client == "picows":
        table = {
            "throughput": lambda: clients.picows_throughput(url, n, size),
            "latency": lambda: clients.picows_latency(url, n),
            "scale": lambda: clients.picows_scale(url, n),
        }
    elif client == "websocket-client":
        sync = {
            "throughput": lambda: clients.wsclient_throughput(url, n, size),
            "latency": lambda: clients.wsclient_latency(url, n),
        }
        if case not in sync:
            return {"skipped": f"{case} is not measured for {client}"}
        result: dict[str, Any] = sync[case]()
        return result
    else:
        raise ValueError(f"unknown client {client!r}")
    if case not in table:
        return {"skipped": f"{case} is not measured for {client}"}
    result = asyncio.run(table[case]())
    return result


def main() -> None:
    raise_fd_limit()
    result = run(json.loads(sys.argv[1]))
    print(json.dumps(result), flush=True)
    os._exit(0)  # do not spend time closing thousands of idle sockets


if __name__ == "__main__":
    main()
