"""Mass reconnect: after a web restart, how long until every lab socket is resynchronised.

Creates N students with READY sessions (namespaces provisioned by the product's own
function, each with one Service so the live panel has rows), starts the watcher and
uvicorn, opens `--tabs` WebSockets per session (a student with two tabs, an instructor
watching) and waits for each resync. Then uvicorn is stopped and started again, as a
deployment restarts it; every socket, closed by the restart, reconnects the way the page's
WebSocket extension does (retrying after a short random delay until the server answers)
and waits for its resync frame.

Figures: the restart (stop -> port open again), and from the port being open: when each
socket had its resync (p50 / p95 / max) and when the last one had it, sockets that never
resynced within `--timeout`, web CPU. Prints them beside the target (1,000 sockets
resynchronised within 5 s); asserts nothing.

    .venv/bin/python bench/mass_reconnect.py --sessions 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Stack,
    core_api,
    cpu_seconds,
    make_ready_sessions,
    make_students,
    run_main,
    summary_ms,
    table,
    verdict,
    wait_for_port,
)
from bench.ws_latency import create_services, wait_for_state  # noqa: E402


class Socket:
    def __init__(self, session, cookie):
        self.session = session
        self.cookie = cookie
        self.ws = None
        self.resynced_at = None  # time.monotonic() of the resync after the restart
        self.attempts = 0
        self.closed = asyncio.Event()

    async def open(self, url: str, origin: str) -> None:
        import websockets

        self.ws = await websockets.connect(
            f"{url}/ws/sessions/{self.session.id}/", origin=origin,
            additional_headers={"Cookie": f"sessionid={self.cookie}"}, max_size=None, open_timeout=30,
            ping_interval=None)
        first = await asyncio.wait_for(self.ws.recv(), 60)
        if "session-status" not in first:
            raise RuntimeError(f"unexpected first frame for {self.session.id}: {first[:200]}")

    async def hold(self) -> None:
        """Read until the server closes the socket (the restart)."""
        import websockets

        try:
            async for _ in self.ws:
                pass
        except websockets.ConnectionClosed:
            pass
        self.closed.set()

    async def reconnect(self, url: str, origin: str, deadline: float) -> None:
        """Like the page: after a random short delay, again and again until the resync came."""
        await self.closed.wait()
        while time.monotonic() < deadline:
            await asyncio.sleep(random.uniform(0.05, 0.5))
            self.attempts += 1
            try:
                await self.open(url, origin)
            except Exception:
                continue
            self.resynced_at = time.monotonic()
            await self.ws.close()
            return


async def measure(args, stack, web, sockets):
    ws_url = stack.url.replace("http://", "ws://")
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def first(s):
        async with sem:
            await s.open(ws_url, stack.url)

    t0 = time.monotonic()
    await asyncio.gather(*(first(s) for s in sockets))
    first_s = time.monotonic() - t0
    holders = [asyncio.create_task(s.hold()) for s in sockets]

    load = os.getloadavg()[0]
    stopped = time.monotonic()
    web.stop()
    await asyncio.gather(*holders)
    deadline = time.monotonic() + args.timeout
    reconnects = [asyncio.create_task(s.reconnect(ws_url, stack.url, deadline)) for s in sockets]
    port = stack.web_port
    new_web = stack.start_web(port=port, workers=args.web_workers)
    await asyncio.to_thread(wait_for_port, port, 30)
    up = time.monotonic()
    cpu0 = cpu_seconds(new_web.proc.pid)
    await asyncio.gather(*reconnects)
    cpu = cpu_seconds(new_web.proc.pid) - cpu0
    return {"first_s": first_s, "restart_s": up - stopped, "up": up, "cpu": cpu, "load": load}


def run(args) -> int:
    with Stack("mass-reconnect", keep=args.keep) as stack:
        t0 = time.monotonic()
        users, cookies = make_students(args.sessions)
        sessions = make_ready_sessions(users, stack.cluster, threads=args.threads)
        create_services(core_api(stack.kubeconfig), sessions, args.threads)
        setup_s = time.monotonic() - t0
        stack.start_watcher()
        web = stack.start_web(workers=args.web_workers)
        wait_for_state(stack, sessions, timeout=120)
        sockets = [Socket(s, c) for s, c in zip(sessions, cookies, strict=True) for _ in range(args.tabs)]
        f = asyncio.run(measure(args, stack, web, sockets))
    report(args, sockets, setup_s, f)
    return 0


def report(args, sockets, setup_s, f) -> None:
    done = [s.resynced_at - f["up"] for s in sockets if s.resynced_at is not None]
    missing = len(sockets) - len(done)
    last = max(done) if done else float("nan")
    s = summary_ms(done)
    print(f"\nmass_reconnect: {args.sessions} sessions x {args.tabs} socket(s) = {len(sockets)} sockets; machine: "
          f"{os.cpu_count()} CPUs, load average {f['load']:.1f} before the restart")
    print(f"setup {setup_s:.1f} s; first connect and resync of every socket {f['first_s']:.1f} s; restart (stop -> "
          f"port open) {f['restart_s']:.1f} s; connection attempts after it p50 "
          f"{sorted(x.attempts for x in sockets)[len(sockets) // 2]}; web CPU {f['cpu']:.1f} s")
    print("\nport open -> resync frame read (ms, per socket)")
    print(table([("resync", s["count"], s["p50"], s["p95"], s["p99"], s["max"])],
                ("", "count", "p50", "p95", "p99", "max")))
    print()
    print(table([
        ("every socket resynced (s)", f"{last:.1f}", "<= 5", verdict(last <= 5 and not missing)),
        ("sockets not resynced", missing, "0", verdict(not missing)),
    ], ("figure", "measured", "target", "")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn processes (the compose file runs 2)")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--tabs", type=int, default=1, help="sockets per session")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds the sockets have to come back")
    parser.add_argument("--threads", type=int, default=8, help="threads provisioning the namespaces")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="first connects at a time")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
