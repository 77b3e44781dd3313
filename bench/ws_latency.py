"""Cluster change -> browser latency with a class's lab sockets open and a sustained change rate.

Creates N students with READY sessions (namespaces provisioned by the product's own
function, each with one ClusterIP Service `bench`), starts the watcher and uvicorn with
LIVEOPS_BENCH_TIMINGS on (each live frame then ends with an HTML comment stamping when the
watcher received the change, when the socket's consumer got it and when it sent it; nothing
else changes), opens one WebSocket per session with that student's session cookie and
waits for each resync.

First the baseline, in the same run: a plain `websockets` server (bench/raw_broadcast.py)
broadcasts `--raw-messages` messages of the product frames' size to N loopback clients.

Then `--rate` cluster changes a second for `--duration` seconds, spread round robin over
the sessions: change i sets the selector of one session's Service to `app=bench-<i>-x`
(a merge patch straight to the API, sent open-loop when due). A change's latency runs from
the API's answer to the first frame on that session's socket that shows the new selector;
a change whose frame never came within `--wait` seconds is lost. Where the time went, per
change: the API write (due -> answered), answered -> the watcher received the event,
watcher -> the consumer got it from the channel layer, the consumer's rendering, and
sent -> the client read it.

All clients run in this one asyncio process. Prints the figures beside the targets
(p95 <= 100 ms at 1,000 sockets and 200 changes a second, nothing lost); asserts nothing.

    .venv/bin/python bench/ws_latency.py --sessions 1000 --rate 200 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import raw_broadcast  # noqa: E402
from bench.common import (  # noqa: E402
    PYTHON,
    Stack,
    core_api,
    cpu_seconds,
    free_port,
    make_ready_sessions,
    make_students,
    pct,
    rss_mib,
    run_main,
    summary_ms,
    table,
    verdict,
)

SERVICE = "bench"
MARKER = re.compile(r"bench-(\d+)-x")
TIMING = re.compile(r"liveops-timing seen=([\d.]+) received=([\d.]+) sent=([\d.]+)")


def create_services(core, sessions, threads: int) -> None:
    def one(s):
        core.create_namespaced_service(s.namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
            "spec": {"selector": {"app": "bench-start"}, "ports": [{"port": 80, "targetPort": 8080}]},
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


class Change:
    __slots__ = ("index", "client", "due", "answered", "seen_frame", "stamps", "error")

    def __init__(self, index: int, client: int, due: float):
        self.index, self.client, self.due = index, client, due
        self.answered = None  # time.time() the API answered
        self.seen_frame = None  # time.time() the frame showing it was read
        self.stamps = None  # (watcher received, consumer received, consumer sent), time.time()
        self.error = None


class Client:
    def __init__(self, session, cookie):
        self.session = session
        self.cookie = cookie
        self.ws = None
        self.connect_time = None
        self.frames = 0
        self.bytes = 0
        self.sizes: list[int] = []
        self.pending: dict[int, Change] = {}  # change index -> change, until a frame shows it
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

    async def read(self) -> None:
        import websockets

        try:
            async for frame in self.ws:
                now = time.time()
                self.frames += 1
                self.bytes += len(frame)
                self.sizes.append(len(frame))
                if not self.pending:
                    continue
                for match in MARKER.finditer(frame):
                    change = self.pending.pop(int(match.group(1)), None)
                    if change is not None:
                        change.seen_frame = now
                        timing = TIMING.search(frame)
                        if timing:
                            change.stamps = tuple(float(x) for x in timing.groups())
        except websockets.ConnectionClosed as exc:
            self.closed = exc


async def raw_baseline(args, message_size: int) -> list[float]:
    """The plain server's broadcast to as many loopback clients, measured before the product runs."""
    from tests.services import Service

    port = free_port()
    server = Service("raw-broadcast", [PYTHON, str(Path(__file__).with_name("raw_broadcast.py")), "--port", str(port),
                                       "--clients", str(args.sessions), "--messages", str(args.raw_messages),
                                       "--size", str(message_size)],
                     log_dir=Path(os.environ["LIVEOPS_VAR_DIR"]) / "logs")
    try:
        server.wait_for_log("ready", timeout=30)
        return await raw_broadcast.measure(port, args.sessions, args.raw_messages, args.connect_concurrency)
    finally:
        server.stop()


async def send_changes(args, stack, clients) -> tuple[list[Change], float]:
    """Open-loop merge patches of the Services' selectors, `--rate` a second for `--duration` s."""
    import aiohttp
    import yaml

    config = yaml.safe_load(Path(stack.kubeconfig).read_text())
    token = config["users"][0]["user"]["token"]
    base = f"http://127.0.0.1:{stack.sandbox_port}/api/v1/namespaces"
    changes: list[Change] = []
    tasks = []
    total = int(args.rate * args.duration)

    async def patch(http, change: Change) -> None:
        client = clients[change.client]
        body = {"spec": {"selector": {"app": f"bench-{change.index}-x"}}}
        client.pending[change.index] = change
        try:
            async with http.patch(f"{base}/{client.session.namespace}/services/{SERVICE}", data=json.dumps(body),
                                  headers={"Content-Type": "application/merge-patch+json"}) as resp:
                await resp.read()
                if resp.status >= 300:
                    change.error = resp.status
                    client.pending.pop(change.index, None)
                    return
        except Exception as exc:
            change.error = type(exc).__name__
            client.pending.pop(change.index, None)
            return
        change.answered = time.time()

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(limit=args.connections)) as http:
        start_mono, start_wall = time.monotonic(), time.time()
        for i in range(total):
            due = i / args.rate
            delay = start_mono + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            change = Change(i, i % len(clients), start_wall + due)
            changes.append(change)
            tasks.append(asyncio.create_task(patch(http, change)))
        await asyncio.gather(*tasks)
        span = time.monotonic() - start_mono
    return changes, span


async def measure(args, stack, watcher, web, clients):
    ws_url = stack.url.replace("http://", "ws://")
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def connect(c):
        async with sem:
            await c.connect(ws_url, stack.url)

    t_conn = time.monotonic()
    await asyncio.gather(*(connect(c) for c in clients))
    connect_all_s = time.monotonic() - t_conn
    readers = [asyncio.create_task(c.read()) for c in clients]

    # a few changes first: the size of a live frame, for the baseline's messages
    warm, _ = await send_changes(argparse.Namespace(**{**vars(args), "rate": 20.0, "duration": 1.0}), stack, clients)
    await asyncio.sleep(2)
    sizes = sorted(s for c in clients for s in c.sizes)
    frame_size = sizes[len(sizes) // 2] if sizes else 2000
    for c in clients:
        c.pending.clear()
    raw = await raw_baseline(args, frame_size)

    procs = {"watcher": watcher, "web": web, **({"live worker": stack.live_worker} if stack.live_worker else {})}
    cpu0 = {name: cpu_seconds(svc.proc.pid) for name, svc in procs.items()}
    logs0 = {name: len(svc.log()) for name, svc in procs.items()}
    frames0 = sum(c.frames for c in clients)
    load = os.getloadavg()[0]
    changes, span = await send_changes(args, stack, clients)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and any(c.pending for c in clients):
        await asyncio.sleep(0.05)
    cpu1 = {name: cpu_seconds(svc.proc.pid) for name, svc in procs.items()}
    rss = {name: rss_mib(svc.proc.pid) for name, svc in procs.items()}
    pauses = {name: gc_pauses(svc.log()[logs0[name]:]) for name, svc in procs.items()}
    frames = sum(c.frames for c in clients) - frames0
    for c in clients:
        await c.ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return {"connect_all_s": connect_all_s, "raw": raw, "frame_size": frame_size, "changes": changes,
            "span": span, "cpu0": cpu0, "cpu1": cpu1, "rss": rss, "pauses": pauses, "frames": frames, "load": load}


def gc_pauses(log: str) -> list[float]:
    """The garbage-collection pauses a process wrote (liveops/gcpauses.py), in ms."""
    return [float(m) for m in re.findall(r"liveops-gc-pause generation=\d+ ms=([0-9.]+)", log)]


def run(args) -> int:
    with Stack("ws-latency", keep=args.keep) as stack:
        t0 = time.monotonic()
        users, cookies = make_students(args.sessions)
        sessions = make_ready_sessions(users, stack.cluster, threads=args.threads)
        core = core_api(stack.kubeconfig)
        create_services(core, sessions, args.threads)
        setup_s = time.monotonic() - t0
        stack.env["LIVEOPS_BENCH_TIMINGS"] = "1"
        watcher = stack.start_watcher()
        web = stack.start_web()
        # What the watcher hands on when a namespace settles (checks, the traffic path), as `make run` runs it.
        stack.live_worker = stack.start_worker(args.live_concurrency, queues="live", nice=args.live_nice) if args.live_concurrency else None
        load_s = wait_for_state(stack, sessions, timeout=120)
        clients = [Client(s, c) for s, c in zip(sessions, cookies, strict=True)]
        figures = asyncio.run(measure(args, stack, watcher, web, clients))
    report(args, clients, setup_s, load_s, figures)
    return 0


def report(args, clients, setup_s, load_s, f) -> None:
    changes = f["changes"]
    answered = [c for c in changes if c.answered is not None]
    shown = [c for c in answered if c.seen_frame is not None]
    latencies = [c.seen_frame - c.answered for c in shown]
    errors = [c for c in changes if c.error is not None]
    lost = len(answered) - len(shown)
    stamped = [c for c in shown if c.stamps]
    raw = summary_ms(f["raw"])
    lat = summary_ms(latencies)
    closed = sum(1 for c in clients if c.closed is not None and c.closed.rcvd and c.closed.rcvd.code != 1000)
    rate = len(answered) / f["span"] if f["span"] else 0.0
    conn = summary_ms([c.connect_time for c in clients])

    print(f"\nws_latency: {args.sessions} sessions (one socket each), {args.rate:.0f} changes/s asked for "
          f"{args.duration:.0f} s, clients in 1 asyncio process; machine: {os.cpu_count()} CPUs, load average "
          f"{f['load']:.1f} before the changes")
    print(f"setup (users, provisioning, services) {setup_s:.1f} s; watcher loaded every namespace {load_s:.1f} s "
          f"after start; {len(clients)} sockets connected and resynced in {f['connect_all_s']:.1f} s (per socket "
          f"p50 {conn['p50']:.0f} ms, p95 {conn['p95']:.0f} ms)")
    print(f"changes: {len(answered)} answered of {len(changes)} in {f['span']:.1f} s ({rate:.0f}/s), API errors "
          f"{len(errors)}; frames received {f['frames']}; sockets closed by the server {closed}")

    def row(name, values):
        s = summary_ms(values)
        return (name, s["count"], s["p50"], s["p95"], s["p99"], s["max"])

    print("\nwhere the time goes (ms, per change; stamps from the watcher and the consumer, one clock)")
    print(table([
        row("API write (due -> answered)", [c.answered - c.due for c in answered]),
        row("answered -> watcher received", [c.stamps[0] - c.answered for c in stamped]),
        row("watcher -> consumer (publisher, Redis, layer)", [c.stamps[1] - c.stamps[0] for c in stamped]),
        row("consumer: render and send", [c.stamps[2] - c.stamps[1] for c in stamped]),
        row("sent -> client read it", [c.seen_frame - c.stamps[2] for c in stamped]),
        row("change -> frame (answered -> read)", latencies),
        row(f"raw broadcast baseline ({f['frame_size']} B)", f["raw"]),
    ], ("stage", "count", "p50", "p95", "p99", "max")))
    print(table([(name, f["cpu1"][name] - f["cpu0"][name], f["cpu1"][name], f["rss"][name],
                  len(f["pauses"][name]), max(f["pauses"][name], default=0.0))
                 for name in f["cpu1"]], ("process", "CPU s (changes)", "CPU s (total)", "RSS MiB",
                                          "GC pauses >= 10 ms", "longest (ms)")))
    ratio = lat["p95"] / raw["p95"] if raw["p95"] else float("nan")
    print()
    print(table([
        ("change -> frame p95 (ms)", f"{lat['p95']:.1f}", "<= 100", verdict(lat["p95"] <= 100)),
        ("changes lost", lost, "0", verdict(lost == 0 and len(answered) == len(changes))),
        ("changes a second sustained", f"{rate:.0f}", f">= {args.rate:.0f}", verdict(rate >= args.rate * 0.98)),
        ("raw broadcast p95 (ms)", f"{raw['p95']:.1f}", "baseline", ""),
        ("product p95 / raw p95", f"{ratio:.2f}", "", ""),
    ], ("figure", "measured", "target", "")))
    if lost:
        print(f"(lost: the first few {[c.index for c in answered if c.seen_frame is None][:10]}; p99 of what came "
              f"{pct([x * 1000 for x in latencies], 99):.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="cluster changes a second")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of changes")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the last frames")
    parser.add_argument("--raw-messages", type=int, default=10, help="broadcasts of the baseline")
    parser.add_argument("--threads", type=int, default=8, help="threads provisioning the namespaces")
    parser.add_argument("--connections", type=int, default=32, help="HTTP connections making the changes")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--live-concurrency", type=int, default=2,
                        help="processes of the `live` queue's worker (0: none, the settle work then waits)")
    parser.add_argument("--live-nice", type=int, default=10,
                        help="niceness of the `live` queue's worker (10, as make run runs it; 0: as the others)")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
