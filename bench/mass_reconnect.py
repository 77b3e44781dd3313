"""Mass reconnect: after a web restart, how long until every lab socket is resynchronised.

Creates N students with READY sessions (namespaces provisioned by the product's own
function, each with one Service so the live panel has rows), starts the watcher and
uvicorn, opens `--tabs` WebSockets per session (a student with two tabs, an instructor
watching) and waits for each resync. Then uvicorn is stopped and started again, as a
deployment restarts it; every socket, closed by the restart, reconnects the way the lab
page does (static/js/session.js: the htmx WebSocket extension tries again after
200 + random() * min(1000 * 2**retry, 3800) ms, `retry` counting the failed tries since the
socket last opened) and waits for its resync frame.

Figures: the restart (stop -> port open again), and from the port being open: when each
socket had its resync (p50 / p95 / max) and when the last one had it, sockets that never
resynced within `--timeout`, web CPU. To tell the page's waiting from the server's work, also
when each socket first reached the server once it listened again (its first try that was not
refused) and how long the server took from there to the resync. Prints them beside the target
(1,000 sockets resynchronised within 5 s); asserts nothing.

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


def page_retry_delay(retry: int) -> float:
    """Seconds the lab page waits before its next try to open a lost socket (static/js/session.js)."""
    return (200 + random.random() * min(1000 * 2 ** retry, 3800)) / 1000


class Socket:
    def __init__(self, session, cookie):
        self.session = session
        self.cookie = cookie
        self.ws = None
        self.resynced_at = None  # time.monotonic() of the resync after the restart
        self.reached_at = None  # when its first try after the restart was not refused (the server listened)
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
        """Like the page: after its delay, again and again until the resync came (the count of tries starts
        again once a socket opened, as the page's does)."""
        await self.closed.wait()
        retry = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(page_retry_delay(retry))
            self.attempts += 1
            tried = time.monotonic()
            self.ws = None
            try:
                await self.open(url, origin)
            except Exception as exc:
                if not isinstance(exc, ConnectionRefusedError):  # refused: nothing listened yet
                    self.reached_at = self.reached_at or tried
                if self.ws is not None:  # opened, then lost: the page counts its tries from 0 again
                    retry = 0
                    await self.ws.close()
                else:
                    retry += 1
                continue
            self.reached_at = self.reached_at or tried
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
    # The page's waiting (port open -> its first try the server heard; 0 if it tried as the port opened) and
    # the server's work (that try -> the resync frame read).
    waited = summary_ms([max(0.0, x.reached_at - f["up"]) for x in sockets if x.reached_at is not None])
    served = summary_ms([x.resynced_at - x.reached_at for x in sockets if x.resynced_at is not None])
    print(f"\nmass_reconnect: {args.sessions} sessions x {args.tabs} socket(s) = {len(sockets)} sockets; machine: "
          f"{os.cpu_count()} CPUs, load average {f['load']:.1f} before the restart")
    print(f"setup {setup_s:.1f} s; first connect and resync of every socket {f['first_s']:.1f} s; restart (stop -> "
          f"port open) {f['restart_s']:.1f} s; connection attempts after it p50 "
          f"{sorted(x.attempts for x in sockets)[len(sockets) // 2]}; web CPU {f['cpu']:.1f} s")
    print("\nafter the port opened (ms, per socket)")
    print(table([(name, x["count"], x["p50"], x["p95"], x["p99"], x["max"]) for name, x in (
        ("page waits: port open -> first try heard", waited), ("server: that try -> resync", served),
        ("resync (port open -> resync)", s))], ("", "count", "p50", "p95", "p99", "max")))
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
