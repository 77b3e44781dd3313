"""The baseline of ws_latency.py: how fast a plain WebSocket server reaches N loopback clients.

`python bench/raw_broadcast.py --port P --clients N --messages K --size S --interval I` serves
plain `websockets` on 127.0.0.1:P; once N clients are connected it broadcasts K messages of S
bytes, I seconds apart, each starting with its send time (time.time()), then closes. The
clients (`measure()`, run in the benchmark's own process like the lab sockets) record when
each message arrived. No Django, no channel layer, no rendering: what the machine and the
WebSocket library cost alone, so the product's figure can be read against it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time


async def serve(port: int, clients: int, messages: int, size: int, interval: float) -> None:
    import websockets

    connected: set = set()
    ready = asyncio.Event()

    async def handler(ws):
        connected.add(ws)
        if len(connected) >= clients:
            ready.set()
        try:
            await ws.wait_closed()
        finally:
            connected.discard(ws)

    async with websockets.serve(handler, "127.0.0.1", port, max_size=None, ping_interval=None):
        print("raw broadcast server ready", flush=True)
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(0.5)
        for _ in range(messages):
            stamp = f"{time.time():.6f} "
            websockets.broadcast(connected, stamp + "x" * max(0, size - len(stamp)))
            await asyncio.sleep(interval)
        await asyncio.sleep(1.0)


async def measure(port: int, clients: int, messages: int, concurrency: int = 100) -> list[float]:
    """Connect the clients, receive every broadcast; -> the latencies (s) of every message at every client."""
    import websockets

    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    sockets = []

    async def connect():
        async with sem:
            sockets.append(await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, open_timeout=60,
                                                    ping_interval=None))

    async def read(ws):
        try:
            async for frame in ws:
                latencies.append(time.time() - float(frame[: frame.index(" ")]))
        except websockets.ConnectionClosed:
            pass

    await asyncio.gather(*(connect() for _ in range(clients)))
    await asyncio.gather(*(read(ws) for ws in sockets))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--size", type=int, default=2000, help="bytes a message")
    parser.add_argument("--interval", type=float, default=0.5)
    a = parser.parse_args()
    asyncio.run(serve(a.port, a.clients, a.messages, a.size, a.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
