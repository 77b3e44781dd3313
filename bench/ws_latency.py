"""Cluster change -> browser latency with hundreds of open lab sockets.

Creates N students with READY sessions (namespaces provisioned by the product's
own function, each with one ClusterIP Service `bench`), starts the watcher and
uvicorn, opens one WebSocket per session with that student's session cookie and
waits for each resync. Then, K rounds: the Service of every namespace gets a new
selector `app=bench-r<round>` (a merge patch; the selector is drawn in the
service row), and each socket's latency is the time from its own patch call's
return to the first frame that shows the new selector.

All clients run in this one asyncio process (the patches run in a small thread
pool of the same process). Prints the figures; asserts nothing.

    .venv/bin/python bench/ws_latency.py --sessions 300 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Stack,
    core_api,
    cpu_seconds,
    make_ready_sessions,
    make_students,
    rss_mib,
    run_main,
    summary_ms,
    table,
)

SERVICE = "bench"


def marker(round_no: int) -> str:
    return f"app=bench-r{round_no}"


def create_services(core, sessions, threads: int) -> None:
    def one(s):
        core.create_namespaced_service(s.namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
            "spec": {"selector": {"app": "bench-r0"}, "ports": [{"port": 80, "targetPort": 8080}]},
        })

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, sessions))


def wait_for_state(stack, sessions, timeout: float) -> float:
    """Until the watcher has the Service of every namespace in Redis; returns the seconds it took."""
    from clouds.watch import state as live_state

    r = live_state.client()
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pipe = r.pipeline()
        for s in sessions:
            pipe.hexists(f"{live_state.PREFIX}:{stack.cluster.pk}:{s.namespace}", f"services/{SERVICE}")
        if all(pipe.execute()):
            return time.monotonic() - start
        time.sleep(0.2)
    raise RuntimeError("the watcher did not load every namespace in time")


class Client:
    def __init__(self, session, cookie):
        self.session = session
        self.cookie = cookie
        self.ws = None
        self.connect_time = None
        self.frames = 0
        self.bytes = 0
        self.seen: dict[int, float] = {}  # round -> monotonic time of the first frame showing it
        self.closed = None

    async def connect(self, url: str, origin: str) -> None:
        import websockets

        t0 = time.monotonic()
        self.ws = await websockets.connect(
            f"{url}/ws/sessions/{self.session.id}/", origin=origin,
            additional_headers={"Cookie": f"sessionid={self.cookie}"}, max_size=None, open_timeout=60,
            ping_interval=None)
        first = await asyncio.wait_for(self.ws.recv(), 60)
        if "session-status" not in first:
            raise RuntimeError(f"unexpected first frame for {self.session.id}: {first[:200]}")
        self.connect_time = time.monotonic() - t0

    async def read(self, markers: dict[int, str]) -> None:
        import websockets

        try:
            async for frame in self.ws:
                now = time.monotonic()
                self.frames += 1
                self.bytes += len(frame)
                for round_no, text in markers.items():
                    if round_no not in self.seen and text in frame:
                        self.seen[round_no] = now
        except websockets.ConnectionClosed as exc:
            self.closed = exc


def run(args) -> int:
    with Stack("ws-latency", keep=args.keep) as stack:
        t0 = time.monotonic()
        users, cookies = make_students(args.sessions)
        sessions = make_ready_sessions(users, stack.cluster, threads=args.threads)
        core = core_api(stack.kubeconfig)
        create_services(core, sessions, args.threads)
        setup_s = time.monotonic() - t0
        watcher = stack.start_watcher()
        web = stack.start_web()
        load_s = wait_for_state(stack, sessions, timeout=120)
        clients = [Client(s, c) for s, c in zip(sessions, cookies, strict=True)]
        figures = asyncio.run(measure(args, stack, core, watcher, web, clients))
    report(args, clients, setup_s, load_s, *figures)
    return 0


async def measure(args, stack, core, watcher, web, clients):
    if True:
        ws_url = stack.url.replace("http://", "ws://")
        sem = asyncio.Semaphore(args.connect_concurrency)

        async def connect(c):
            async with sem:
                await c.connect(ws_url, stack.url)

        t_conn = time.monotonic()
        await asyncio.gather(*(connect(c) for c in clients))
        connect_all_s = time.monotonic() - t_conn

        markers = {r: marker(r) for r in range(1, args.rounds + 1)}
        readers = [asyncio.create_task(c.read(markers)) for c in clients]
        cpu0 = {"watcher": cpu_seconds(watcher.proc.pid), "web": cpu_seconds(web.proc.pid)}
        pool = ThreadPoolExecutor(args.threads)
        loop = asyncio.get_running_loop()
        patched: dict[tuple[int, int], float] = {}  # (round, client index) -> time the patch returned
        patch_calls = []

        def patch(round_no, index):
            s = clients[index].session
            t = time.monotonic()
            core.patch_namespaced_service(SERVICE, s.namespace, {"spec": {"selector": {"app": f"bench-r{round_no}"}}})
            done = time.monotonic()
            patched[(round_no, index)] = done
            patch_calls.append(done - t)

        round_spans = []
        for round_no in markers:
            start = time.monotonic()
            await asyncio.gather(*(loop.run_in_executor(pool, patch, round_no, i) for i in range(len(clients))))
            round_spans.append(time.monotonic() - start)
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline and not all(round_no in c.seen for c in clients):
                await asyncio.sleep(0.05)
            await asyncio.sleep(args.gap)
        cpu1 = {"watcher": cpu_seconds(watcher.proc.pid), "web": cpu_seconds(web.proc.pid)}
        rss = {"watcher": rss_mib(watcher.proc.pid), "web": rss_mib(web.proc.pid)}
        pool.shutdown()
        for c in clients:
            await c.ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    return markers, patched, patch_calls, round_spans, connect_all_s, cpu0, cpu1, rss


def report(args, clients, setup_s, load_s, markers, patched, patch_calls, round_spans, connect_all_s, cpu0, cpu1,
           rss):
    latencies, per_round = [], {r: [] for r in markers}
    for r in markers:
        for i, c in enumerate(clients):
            if r in c.seen and (r, i) in patched:
                lat = c.seen[r] - patched[(r, i)]
                latencies.append(lat)
                per_round[r].append(lat)
    expected = len(clients) * len(markers)
    lost = expected - len(latencies)
    closed = sum(1 for c in clients if c.closed is not None and c.closed.rcvd and c.closed.rcvd.code != 1000)

    print(f"\nws_latency: {args.sessions} sessions, {args.rounds} rounds, clients in 1 asyncio process, "
          f"patch threads {args.threads}")
    print(f"setup (users, provisioning, services) {setup_s:.1f} s; watcher loaded every namespace "
          f"{load_s:.1f} s after start; {len(clients)} sockets connected and resynced in {connect_all_s:.1f} s "
          f"(per socket p50 {summary_ms([c.connect_time for c in clients])['p50']:.0f} ms, "
          f"p95 {summary_ms([c.connect_time for c in clients])['p95']:.0f} ms)")
    print(f"patch calls: p50 {summary_ms(patch_calls)['p50']:.1f} ms; a round of {len(clients)} patches took "
          f"p50 {summary_ms(round_spans)['p50']:.0f} ms")
    s = summary_ms(latencies)
    print("\nchange -> frame latency (ms, from each patch call's return to the first frame showing it)")
    print(table([("all", s["count"], s["p50"], s["p95"], s["p99"], s["max"])]
                + [(f"round {r}", *(lambda x: (x["count"], x["p50"], x["p95"], x["p99"], x["max"]))(
                    summary_ms(v))) for r, v in per_round.items()],
                ("", "count", "p50", "p95", "p99", "max")))
    print(f"\nmessages: expected {expected}, received {len(latencies)}, lost {lost}; "
          f"frames received {sum(c.frames for c in clients)} ({sum(c.bytes for c in clients) / 1024:.0f} KiB); "
          f"sockets closed by the server {closed}")
    print(table([(name, cpu1[name] - cpu0[name], cpu1[name], rss[name]) for name in ("watcher", "web")],
                ("process", "CPU s (rounds)", "CPU s (total)", "RSS MiB")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for a round's frames")
    parser.add_argument("--gap", type=float, default=1.0, help="pause between rounds (s)")
    parser.add_argument("--threads", type=int, default=8, help="threads making the API calls")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
