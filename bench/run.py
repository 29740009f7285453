"""The benchmark runner: every client, every case, one echo server, one table.

Each (client, case) runs in a fresh worker process with a hard timeout, against
the echo server process started here (recovery starts its own server, since it
kills it). The server's CPU time is sampled around every run.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .common import CLIENT_CPU, EchoServer, free_port, pin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_MODULES = os.path.join(ROOT, "tests", "interop", "node_modules")
REF = "websockets"
WORKER_TIMEOUT = 100.0

IMPORTS = {
    "partysocket": "import partysocket, partysocket.transports.websockets",
    "partysocket+picows": "import partysocket, partysocket.transports.picows",
    "partysocket.sync": "import partysocket.sync, partysocket.transports.websockets",
    "websockets": "import websockets.asyncio.client",
    "websocket-client": "import websocket",
    "aiohttp": "import aiohttp",
    "picows": "import picows",
}


@dataclass(frozen=True)
class Case:
    key: str  # name in the JSON
    case: str  # worker case
    n: int
    size: int = 32


@dataclass(frozen=True)
class Figure:
    label: str
    case: str  # Case.key
    metric: str
    unit: str
    scale: float
    higher_is_better: bool
    ref_client: str = REF
    ref_metric: str | None = None  # compare with another metric of the reference


def cases(quick: bool) -> list[Case]:
    if quick:
        return [
            Case("throughput_32", "throughput", 20_000, 32),
            Case("throughput_64k", "throughput", 1_000, 65536),
            Case("latency", "latency", 1_000),
            Case("send_cost", "send_cost", 20_000),
            Case("recovery", "recovery", 2),
            Case("scale_1000", "scale", 1_000),
        ]
    return [
        Case("throughput_32", "throughput", 100_000, 32),
        Case("throughput_64k", "throughput", 10_000, 65536),
        Case("latency", "latency", 5_000),
        Case("send_cost", "send_cost", 100_000),
        Case("recovery", "recovery", 5),
        Case("scale_1000", "scale", 1_000),
        Case("scale_10000", "scale", 10_000),
    ]


FIGURES = [
    Figure("throughput, 32 B messages", "throughput_32", "msgs_per_s", "msg/s", 1, True),
    Figure("throughput, 64 KiB messages", "throughput_64k", "mb_per_s", "MB/s", 1, True),
    Figure("round trip p50", "latency", "p50", "us", 1e6, False),
    Figure("round trip p99", "latency", "p99", "us", 1e6, False),
    Figure("recovery: server accepting -> open (median)", "recovery", "to_open_median", "ms", 1e3, False),
    Figure("recovery: server accepting -> open (worst)", "recovery", "to_open_max", "ms", 1e3, False),
    Figure("recovery: -> first buffered message back (median)", "recovery", "to_message_median", "ms", 1e3, False),
    Figure("recovery: open after the attempt was due (worst)", "recovery", "overhead_max", "ms", 1e3, False),
    Figure("1,000 sockets: RSS per idle socket", "scale_1000", "rss_per_socket", "KiB", 1 / 1024, False),
    Figure("1,000 sockets: idle CPU", "scale_1000", "idle_cpu_share", "% core", 100, False),
    Figure("1,000 sockets: time to open all", "scale_1000", "open_seconds", "s", 1, False),
    Figure("10,000 sockets: RSS per idle socket", "scale_10000", "rss_per_socket", "KiB", 1 / 1024, False),
    Figure("10,000 sockets: idle CPU", "scale_10000", "idle_cpu_share", "% core", 100, False),
    Figure("10,000 sockets: time to open all", "scale_10000", "open_seconds", "s", 1, False),
    Figure("send() call while OPEN", "send_cost", "open", "ns", 1e9, False),
    Figure(
        "send() call while buffering (vs websockets' OPEN send)",
        "send_cost",
        "buffering",
        "ns",
        1e9,
        False,
        ref_metric="open",
    ),
    Figure("import time", "import", "seconds", "ms", 1e3, False),
]


def available_clients() -> list[str]:
    names = ["partysocket"]
    try:
        import partysocket.transports.picows  # noqa: F401
    except ImportError as exc:
        print(f"note: partysocket+picows skipped ({exc})", file=sys.stderr)
    else:
        names.append("partysocket+picows")
    names.append("partysocket.sync")
    names += [REF, "websocket-client", "aiohttp", "picows"]
    if shutil.which("node") and os.path.isdir(os.path.join(NODE_MODULES, "partysocket")):
        names.append("partysocket-ts (node)")
    else:
        print("note: the reference client is skipped: needs node and `npm ci` in tests/interop", file=sys.stderr)
    return names


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples a process's CPU time every 50 ms in a thread; ``peak`` is the busiest 0.5 s window."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append((time.monotonic(), process_cpu(self.pid)))

    def __enter__(self) -> CpuSampler:
        self.samples.append((time.monotonic(), process_cpu(self.pid)))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1)
        self.samples.append((time.monotonic(), process_cpu(self.pid)))

    @property
    def mean(self) -> float:
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def peak(self) -> float:
        best, j = 0.0, 0
        for i in range(len(self.samples)):
            while j < len(self.samples) and self.samples[j][0] - self.samples[i][0] < 0.5:
                j += 1
            if j == len(self.samples):
                break
            (t0, c0), (t1, c1) = self.samples[i], self.samples[j]
            best = max(best, (c1 - c0) / (t1 - t0))
        return best if best else self.mean


def run_worker(client: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"client": client, **spec}
    if client.endswith("(node)"):
        command = [
            "node",
            os.path.join(ROOT, "bench", "node_client.mjs"),
            json.dumps({**spec, "python": sys.executable}),
        ]
    else:
        command = [sys.executable, "-m", "bench.worker", json.dumps(spec)]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
            preexec_fn=lambda: pin(CLIENT_CPU),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT:g} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def import_time(client: str, repeats: int) -> dict[str, Any]:
    # Installed packages are imported from bytecode that pip compiled; our
    # editable source must be too, or the figure counts compiling it
    # (PYTHONDONTWRITEBYTECODE is set in some environments, this one included).
    compileall.compile_dir(os.path.join(ROOT, "src", "partysocket"), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    best = float("inf")
    for _ in range(repeats):
        if client.endswith("(node)"):
            result = run_worker(client, {"case": "import"})
            if "error" in result:
                return result
            best = min(best, result["seconds"])
            continue
        code = f"import time; t = time.perf_counter(); {IMPORTS[client]}; print(time.perf_counter() - t)"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1][:300]}
        best = min(best, float(out.stdout))
    return {"seconds": best, "repeats": repeats}


def fmt_value(value: float, unit: str) -> str:
    if unit in ("msg/s",):
        return f"{value / 1000:,.0f}k {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def table(results: dict[str, dict[str, Any]], clients: list[str]) -> tuple[str, list[dict[str, Any]]]:
    rows = []
    header = "| figure | " + " | ".join(clients) + " |"
    lines = [header, "|" + "---|" * (len(clients) + 1)]
    for fig in FIGURES:
        ref = results.get(fig.ref_client, {}).get(fig.case, {})
        ref_value = ref.get(fig.ref_metric or fig.metric)
        cells = []
        present = False
        for client in clients:
            res = results.get(client, {}).get(fig.case)
            value = None if res is None else res.get(fig.metric)
            if not isinstance(value, (int, float)):
                why = "n/a" if res is None or "skipped" in res or "error" not in res else "error"
                cells.append(why)
                continue
            present = True
            ratio = None
            if isinstance(ref_value, (int, float)) and ref_value and value:
                ratio = value / ref_value if fig.higher_is_better else ref_value / value
            rows.append(
                {
                    "figure": fig.label,
                    "client": client,
                    "value": value * fig.scale,
                    "unit": fig.unit,
                    "ratio_vs_websockets": ratio,
                }
            )
            shown = fmt_value(value * fig.scale, fig.unit)
            cells.append(f"{ratio:.2f}x ({shown})" if ratio is not None else shown)
        if present:
            lines.append(f"| {fig.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (smaller counts, 1,000 sockets only)")
    parser.add_argument("--clients", help="comma-separated subset of clients (default: all available)")
    parser.add_argument("--out", help="JSON file (default: bench/results/<timestamp>.json)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    clients = available_clients()
    if args.clients:
        wanted = args.clients.split(",")
        clients = [c for c in clients if c in wanted or c == REF]
    server = EchoServer(free_port())
    server.start()
    results: dict[str, dict[str, Any]] = {client: {} for client in clients}
    server_cpu: dict[str, dict[str, float]] = {}
    progress: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        for case in cases(args.quick):
            for client in clients:
                spec = {"case": case.case, "url": server.url, "n": case.n, "size": case.size}
                if case.case == "recovery":
                    spec["port"] = free_port()
                with CpuSampler(server.pid) as sampler:
                    result = run_worker(client, spec)
                if case.case != "recovery" and "skipped" not in result:
                    result["server_cpu_peak"] = sampler.peak
                    server_cpu.setdefault(case.key, {})[client] = sampler.peak
                results[client][case.key] = result
                brief = {k: v for k, v in result.items() if not isinstance(v, (list, dict))}
                progress(f"[{time.monotonic() - started:5.1f} s] {case.key:15} {client:22} {brief}")
        repeats = 3 if args.quick else 5
        for client in clients:
            results[client]["import"] = import_time(client, repeats)
            progress(f"[{time.monotonic() - started:5.1f} s] import          {client:22} {results[client]['import']}")
    finally:
        server.stop()

    text, rows = table(results, clients)
    total = time.monotonic() - started
    print(
        f"\nEach cell: how many times better than raw websockets (>1 = better), then the value. "
        f"Run took {total:.0f} s.\n"
    )
    print(text)
    print("\nEcho server CPU, busiest 0.5 s of each run (share of one core; 100 % would make it the bottleneck):")
    print("| case | " + " | ".join(clients) + " |")
    print("|" + "---|" * (len(clients) + 1))
    for key, shares in server_cpu.items():
        cells = [f"{shares[c] * 100:.0f} %" if c in shares else "n/a" for c in clients]
        print(f"| {key} | " + " | ".join(cells) + " |")

    payload = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": total,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
        },
        "clients": clients,
        "results": results,
        "server_cpu_share": server_cpu,
        "table": rows,
        "markdown": text,
    }
    out = args.out or os.path.join(
        ROOT, "bench", "results", time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "") + ".json"
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(payload, f, indent=1)
    print(f"\nsaved {out}")
    return 0
