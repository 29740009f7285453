"""The echo server: picows on 127.0.0.1, one process, echoes every data frame as is.

Run as ``python -m bench.server PORT``. It prints ``LISTENING <time.monotonic()>``
once it accepts connections (CLOCK_MONOTONIC is shared by every process on the
machine, so clients can compare it with their own ``time.monotonic()``) and
runs until it is killed or its stdin closes.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind is not WSMsgType.PING and kind is not WSMsgType.PONG:
            transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)


async def serve(port: int) -> None:
    server = await ws_create_server(
        lambda _request: Echo(), "127.0.0.1", port, backlog=4096, max_frame_size=2**24, reuse_address=True
    )
    print(f"LISTENING {time.monotonic():.6f}", flush=True)
    loop = asyncio.get_running_loop()
    # stop when the parent closes our stdin (or dies): never outlive the benchmark
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main() -> None:
    raise_fd_limit()
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
