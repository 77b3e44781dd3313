"""Cluster change -> instructor's grid latency for a cohort of 200 students, and the dashboard's
Kubernetes API requests.

Creates N students (`--students`, default 200) with READY sessions in one cohort (namespaces
provisioned by the product's own function) and an instructor. A counting proxy sits in front of the
sandbox and the Cluster row points there, so every request of the watcher and of the web server is
counted. Starts the watcher and uvicorn, then:

1. an idle window (`--window` s) without a dashboard, and the same window with the dashboard's
   WebSocket open (after its resync): the difference is what the dashboard adds;
2. `--changes` changes (default 40), one at a time `--gap` s apart, each to the namespace of another
   student: a Service `bench-<i>` that selects no pod is created, which changes that student's
   checklist; latency is from the create call's return to the first dashboard frame carrying that
   student's row.

Prints the figures; asserts nothing.

    .venv/bin/python bench/dashboard_latency.py --students 200 --changes 40
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_connections import CountingProxy, proxy_kubeconfig  # noqa: E402
from bench.common import (  # noqa: E402
    Stack,
    core_api,
    cpu_seconds,
    make_ready_sessions,
    make_students,
    run_main,
    session_cookie,
    summary_ms,
    table,
)


def make_cohort(users):
    from django.contrib.auth import get_user_model

    from labs.models import Cohort, LabSession
    from teaching.roles import make_instructor

    teacher = get_user_model().objects.create_user("bench-teacher")
    make_instructor(teacher)
    cohort = Cohort.objects.create(name="Bench cohort")
    cohort.instructors.add(teacher)
    cohort.students.add(*users)
    LabSession.objects.filter(user__in=users).update(cohort=cohort)
    return cohort, session_cookie(teacher)


async def measure(args, stack, proxy, core, cohort, cookie, sessions, web):
    import websockets

    ws_url = stack.url.replace("http://", "ws://") + f"/ws/teaching/cohorts/{cohort.pk}/"
    await asyncio.sleep(args.window)
    idle_without, _ = proxy.snapshot()
    proxy.reset()

    t0 = time.monotonic()
    ws = await websockets.connect(ws_url, origin=stack.url, additional_headers={"Cookie": f"sessionid={cookie}"},
                                  max_size=None, ping_interval=None)
    first = await asyncio.wait_for(ws.recv(), 60)
    resync_ms = (time.monotonic() - t0) * 1000
    rows_in_resync = first.count('class="grid-row')
    seen: dict[str, float] = {}
    frames = {"n": 0, "bytes": 0}

    async def read():
        try:
            async for frame in ws:
                now = time.monotonic()
                frames["n"] += 1
                frames["bytes"] += len(frame)
                if frame.startswith('<tr id="student-'):
                    seen.setdefault(frame[len('<tr id="'):frame.index('"', 8)], now)
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.create_task(read())
    await asyncio.sleep(args.window)
    with_dashboard, kinds = proxy.snapshot()

    loop = asyncio.get_running_loop()
    cpu0 = cpu_seconds(web.proc.pid)
    latencies, lost = [], 0
    for i in range(args.changes):
        s = sessions[i % len(sessions)]
        key = f"student-{s.user_id}"
        seen.pop(key, None)
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"bench-{i}"},
                "spec": {"selector": {"app": f"nothing-{i}"}, "ports": [{"port": 80}]}}
        await loop.run_in_executor(None, lambda b=body, ns=s.namespace: core.create_namespaced_service(ns, b))
        done = time.monotonic()
        deadline = done + args.wait
        while key not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if key in seen:
            latencies.append(seen[key] - done)
        else:
            lost += 1
        await asyncio.sleep(args.gap)
    cpu1 = cpu_seconds(web.proc.pid)
    await ws.close()
    reader.cancel()
    return {"idle_without": idle_without, "with_dashboard": with_dashboard, "kinds": kinds,
            "resync_ms": resync_ms, "rows": rows_in_resync, "latencies": latencies, "lost": lost,
            "frames": frames, "web_cpu": cpu1 - cpu0}


def run(args) -> int:
    with Stack("dashboard", keep=args.keep) as stack:
        proxy = CountingProxy(stack.sandbox_port)
        try:
            users, _ = make_students(args.students)
            sessions = make_ready_sessions(users, stack.cluster)
            cohort, cookie = make_cohort(users)
            core = core_api(stack.kubeconfig)  # the bench's own calls go straight to the sandbox
            kubeconfig = proxy_kubeconfig(stack, proxy.port)
            stack.start_watcher(kubeconfig=kubeconfig)  # watcher and web reach the cluster through the proxy
            web = stack.start_web()
            time.sleep(3)  # the watcher lists every namespace and opens its watches
            proxy.reset()
            figures = asyncio.run(measure(args, stack, proxy, core, cohort, cookie, sessions, web))
        finally:
            proxy.stop()
    s = summary_ms(figures["latencies"])
    print(f"\ndashboard_latency: cohort of {args.students} students, {args.changes} changes {args.gap} s apart")
    print(f"dashboard resync: {figures['resync_ms']:.0f} ms for {figures['rows']} rows")
    print("\nchange -> grid row latency (ms, from the create call's return to the dashboard frame with the row)")
    print(table([("all", s["count"], s["p50"], s["p95"], s["p99"], s["max"])], ("", "count", "p50", "p95", "p99", "max")))
    print(f"rows lost (not seen within {args.wait} s): {figures['lost']}; frames {figures['frames']['n']} "
          f"({figures['frames']['bytes'] / 1024:.0f} KiB); web CPU during the changes {figures['web_cpu']:.1f} s")
    print(f"\nKubernetes API requests in {args.window:.0f} s idle: without a dashboard {figures['idle_without']}, "
          f"with the dashboard open {figures['with_dashboard']} "
          f"(added by the dashboard: {figures['with_dashboard'] - figures['idle_without']})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.3, help="pause between changes (s)")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a row")
    parser.add_argument("--window", type=float, default=15.0, help="idle windows (s) for counting requests")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
