"""The sandbox under a class's load: writes a second and write latency at N namespaces.

Starts the sandbox alone (`--fast`, a private 127.X range) and fills N namespaces with
what a lab session holds once the student applied the lab: the namespace (labelled like
a session's), a ResourceQuota and a LimitRange like the product's, a Deployment of 2
nginx pods (so a ReplicaSet, 2 running pods, their events) and a Service selecting them
(so Endpoints and an EndpointSlice). Then it opens one cluster-wide watch per kind the
product's watcher follows (pods, deployments, replicasets, services, endpoints, events,
namespaces, nodes) and measures:

- an idle window (`--idle` s): events the watches receive while nothing is written: a
  sandbox whose watch fan-out follows the changes sends none (a periodic resync that
  rewrites objects would show here, growing with N);
- a write window: merge patches of the Services' selectors (the change the live-update
  benchmark makes), round robin over the namespaces, sent open-loop at `--rate` a second
  for `--duration` s over `--connections` HTTP connections. A write's latency runs from
  the moment it was due (not when a connection was free), so a sandbox that falls behind
  shows it. Also: writes a second achieved, events received per write, sandbox CPU.

Prints the figures beside the targets (200 writes/s with p95 <= 50 ms at 1,000
namespaces); asserts nothing.

    .venv/bin/python bench/sandbox_writes.py --namespaces 1000 --rate 200 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PYTHON,
    Service,
    cpu_seconds,
    free_port,
    rss_mib,
    run_main,
    summary_ms,
    table,
    verdict,
)

# The kinds the product's watcher follows (clouds.kube.kinds), by API path.
WATCHED = {
    "pods": "/api/v1/pods",
    "services": "/api/v1/services",
    "endpoints": "/api/v1/endpoints",
    "events": "/api/v1/events",
    "namespaces": "/api/v1/namespaces",
    "nodes": "/api/v1/nodes",
    "deployments": "/apis/apps/v1/deployments",
    "replicasets": "/apis/apps/v1/replicasets",
}
SESSION_LABEL = "liveops.dev/session"


def lab_objects(ns: str) -> list[tuple[str, dict]]:
    """(collection path, body) of what one session's namespace holds, in creation order."""
    return [
        ("/api/v1/namespaces", {"metadata": {"name": ns, "labels": {
            SESSION_LABEL: ns, "pod-security.kubernetes.io/enforce": "baseline"}}}),
        (f"/api/v1/namespaces/{ns}/resourcequotas", {"metadata": {"name": "lab-quota"}, "spec": {"hard": {
            "pods": "10", "services.loadbalancers": "1", "requests.cpu": "2", "requests.memory": "2Gi",
            "limits.cpu": "4", "limits.memory": "4Gi"}}}),
        (f"/api/v1/namespaces/{ns}/limitranges", {"metadata": {"name": "lab-limits"}, "spec": {"limits": [{
            "type": "Container", "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
            "default": {"cpu": "200m", "memory": "128Mi"}}]}}),
        (f"/apis/apps/v1/namespaces/{ns}/deployments", {"metadata": {"name": "web"}, "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}),
        (f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "web"}, "spec": {
            "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}),
    ]


class Sandbox:
    """The sandbox process alone, on a free port, in a temporary directory."""

    def __init__(self, keep: bool, nodes: int, profile: str | None = None):
        self.keep = keep
        self.var = Path(tempfile.mkdtemp(prefix="liveops-bench-sandbox-"))
        self.port = free_port()
        octet = random.randrange(30, 250)
        profiler = ["-m", "cProfile", "-o", str(Path(profile).resolve())] if profile else []
        self.service = Service("sandbox", [
            PYTHON, *profiler, "-m", "sandbox", "--port", str(self.port), "--kubeconfig", str(self.var / "kubeconfig"),
            "--fast", "--pod-cidr", f"127.{octet}.0.0/17", "--node-cidr", f"127.{octet}.128.0/24",
            "--lb-cidr", f"127.{octet}.129.0/24", "--nodes", str(nodes),
        ], log_dir=self.var / "logs")
        self.service.wait_for_log("ready", timeout=30)
        import yaml

        config = yaml.safe_load((self.var / "kubeconfig").read_text())
        self.token = config["users"][0]["user"]["token"]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.service.proc.pid

    def stop(self) -> None:
        self.service.stop()
        if self.keep:
            print(f"kept {self.var}")
        else:
            shutil.rmtree(self.var, ignore_errors=True)


async def fill(http, sandbox: Sandbox, namespaces: list[str], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(ns):
        async with sem:
            for path, body in lab_objects(ns):
                async with http.post(sandbox.url + path, json=body) as resp:
                    if resp.status >= 300:
                        raise RuntimeError(f"creating {path}: {resp.status} {await resp.text()}")

    await asyncio.gather(*(one(ns) for ns in namespaces))


async def wait_ready(http, sandbox: Sandbox, count: int, timeout: float) -> float:
    """Until every bench Deployment reports 2 available replicas; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        async with http.get(sandbox.url + "/apis/apps/v1/deployments") as resp:
            items = (await resp.json())["items"]
        ready = sum(1 for d in items if (d.get("status") or {}).get("availableReplicas") == 2)
        if ready >= count:
            return time.monotonic() - start
        await asyncio.sleep(1)
    raise RuntimeError(f"only {ready} of {count} deployments ready after {timeout:.0f} s")


class Watches:
    """One cluster-wide watch per followed kind, counting the events each receives."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.tasks: list[asyncio.Task] = []

    async def start(self, http, sandbox: Sandbox) -> None:
        for kind, path in WATCHED.items():
            async with http.get(sandbox.url + path) as resp:
                rv = (await resp.json())["metadata"]["resourceVersion"]
            self.tasks.append(asyncio.create_task(self._follow(http, sandbox, kind, path, rv)))

    async def _follow(self, http, sandbox, kind, path, rv) -> None:
        params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
        async with http.get(sandbox.url + path, params=params, timeout=None) as resp:
            async for line in resp.content:
                if line.strip() and json.loads(line).get("type") != "BOOKMARK":
                    self.counts[kind] += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


async def write_load(http, sandbox: Sandbox, namespaces: list[str], rate: float, duration: float):
    """Open-loop merge patches: -> (latencies from the due time, errors, seconds until the last answer)."""
    latencies: list[float] = []
    errors: Counter = Counter()
    total = int(rate * duration)
    start = time.monotonic()
    tasks = []

    async def patch(i: int, due: float) -> None:
        ns = namespaces[i % len(namespaces)]
        body = {"spec": {"selector": {"app": "web" if (i // len(namespaces)) % 2 else f"web-{i}"}}}
        try:
            async with http.patch(f"{sandbox.url}/api/v1/namespaces/{ns}/services/web", data=json.dumps(body),
                                  headers={"Content-Type": "application/merge-patch+json"}) as resp:
                await resp.read()
                if resp.status >= 300:
                    errors[resp.status] += 1
                    return
        except Exception as exc:  # counted, the run goes on
            errors[type(exc).__name__] += 1
            return
        latencies.append(time.monotonic() - due)

    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(patch(i, due)))
    await asyncio.gather(*tasks)
    return latencies, errors, time.monotonic() - start


async def measure(args, sandbox: Sandbox) -> dict:
    import aiohttp

    namespaces = [f"bench-{i:04d}" for i in range(args.namespaces)]
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        t0 = time.monotonic()
        await fill(http, sandbox, namespaces, args.connections)
        created_s = time.monotonic() - t0
        ready_s = await wait_ready(http, sandbox, len(namespaces), args.ready_timeout)
        async with http.get(sandbox.url + "/api/v1/events") as resp:
            event_count = len((await resp.json())["items"])
        await asyncio.sleep(args.settle)
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=len(WATCHED) + 2),
                                         timeout=aiohttp.ClientTimeout(total=None)) as watch_http:
            watches = Watches()
            await watches.start(watch_http, sandbox)
            await asyncio.sleep(0.5)
            cpu0, seen0 = cpu_seconds(sandbox.pid), watches.total()
            await asyncio.sleep(args.idle)
            cpu1, seen1, idle_counts = cpu_seconds(sandbox.pid), watches.total(), Counter(watches.counts)
            load = os.getloadavg()
            latencies, errors, span = await write_load(http, sandbox, namespaces, args.rate, args.duration)
            cpu2 = cpu_seconds(sandbox.pid)
            await asyncio.sleep(1.0)  # the controllers' follow-up writes and their events
            seen2 = watches.total()
            write_counts = watches.counts - idle_counts
            watches.stop()
    return {"created_s": created_s, "ready_s": ready_s, "events_stored": event_count,
            "idle_events": seen1 - seen0, "idle_cpu": cpu1 - cpu0, "idle_counts": idle_counts,
            "latencies": latencies, "errors": errors, "span": span, "write_cpu": cpu2 - cpu1,
            "write_events": seen2 - seen1, "write_counts": write_counts, "rss": rss_mib(sandbox.pid), "load": load}


def report(args, f: dict) -> None:
    lat = summary_ms(f["latencies"])
    done = len(f["latencies"])
    rate = done / f["span"] if f["span"] else 0.0
    print(f"\nsandbox_writes: {args.namespaces} namespaces (Deployment of 2 pods, ReplicaSet, Service, Endpoints, "
          f"EndpointSlice, quota, limits, events), {args.rate:.0f} writes/s asked for {args.duration:.0f} s over "
          f"{args.connections} connections")
    print(f"setup: objects created in {f['created_s']:.1f} s, every Deployment available {f['ready_s']:.1f} s later; "
          f"{f['events_stored']} events stored; sandbox RSS {f['rss']:.0f} MiB")
    print(f"idle {args.idle:.0f} s: {f['idle_events']} watch events "
          f"({dict(f['idle_counts']) or 'none'}), sandbox CPU {f['idle_cpu']:.2f} s")
    print(f"writes: {done} answered of {int(args.rate * args.duration)} in {f['span']:.1f} s, errors "
          f"{dict(f['errors']) or 'none'}; sandbox CPU {f['write_cpu']:.1f} s "
          f"({f['write_cpu'] * 1000 / max(done, 1):.2f} ms a write, controllers' follow-ups included); watch events "
          f"{f['write_events']} ({f['write_events'] / max(done, 1):.1f} per write: {dict(f['write_counts'])})")
    print(f"machine: {os.cpu_count()} CPUs, load average {f['load'][0]:.1f} before the writes, "
          f"{os.getloadavg()[0]:.1f} after (figures are only comparable on a quiet machine)")
    print("\nwrite latency (ms, from when the write was due to its answer)")
    print(table([("patch", lat["count"], lat["p50"], lat["p95"], lat["p99"], lat["max"])],
                ("", "count", "p50", "p95", "p99", "max")))
    idle_rate = f["idle_events"] / args.idle if args.idle else 0.0
    print()
    print(table([
        ("writes a second", f"{rate:.0f}", f">= {args.rate:.0f}", verdict(rate >= args.rate * 0.98)),
        ("write p95 (ms)", f"{lat['p95']:.1f}", "<= 50", verdict(lat["p95"] <= 50)),
        ("write errors", sum(f["errors"].values()), "0", verdict(not f["errors"])),
        ("idle watch events a second", f"{idle_rate:.1f}", "0 (fan-out follows changes)",
         verdict(idle_rate == 0)),
    ], ("figure", "measured", "target", "")))


def run(args) -> int:
    # every node takes 110 pods and 7.9 CPUs (79 pods of the LimitRange's 100m): room for all, and spare
    sandbox = Sandbox(args.keep, args.nodes or max(3, args.namespaces * 2 // 60 + 1), args.profile)
    try:
        figures = asyncio.run(measure(args, sandbox))
    finally:
        sandbox.stop()
    report(args, figures)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="writes a second asked for")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of writes")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of the idle window")
    parser.add_argument("--settle", type=float, default=2.0, help="pause after every Deployment is available (s)")
    parser.add_argument("--nodes", type=int, default=0, help="sandbox nodes (default: room for every pod)")
    parser.add_argument("--connections", type=int, default=32, help="HTTP connections to the sandbox")
    parser.add_argument("--ready-timeout", type=float, default=150.0)
    parser.add_argument("--profile", metavar="PATH", help="run the sandbox under cProfile, its stats written to PATH")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
