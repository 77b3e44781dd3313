"""Class start: many students pressing Start within a few seconds.

M logged-in students (session cookies; each first GETs the catalogue for its
CSRF token, like a browser) POST /labs/<lab>/start/ over real HTTP, spread
evenly over --spread seconds, against uvicorn with a real Celery worker
(prefork, --concurrency 4, like `make run`) provisioning into the sandbox.
After its redirect each student opens the session's WebSocket and waits for the
status fragment to say Ready. Time-to-ready runs from the click (before the
POST is sent) to that frame. Also printed: the server-side figure from the
database (ready_at - created) and the start request's HTTP response times.

    .venv/bin/python bench/class_start.py --students 30 --spread 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LAB, Stack, cpu_seconds, make_students, run_main, summary_ms, table, verdict  # noqa: E402

READY = 'data-testid="session-state">Ready'
FAILED = 'data-testid="session-state">Failed'
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Student:
    def __init__(self, cookie: str):
        self.cookie = cookie
        self.csrf = None
        self.csrf_cookie = None
        self.clicked = None
        self.response_s = None
        self.status = None
        self.session_id = None
        self.ready_s = None
        self.error = None

    def cookies(self) -> str:
        return f"sessionid={self.cookie}; csrftoken={self.csrf_cookie}"


async def prepare(http, url: str, student: Student) -> None:
    async with http.get(f"{url}/", headers={"Cookie": f"sessionid={student.cookie}"}) as resp:
        html = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"catalogue answered {resp.status}")
        student.csrf_cookie = resp.cookies["csrftoken"].value
    student.csrf = CSRF_RE.search(html).group(1)


async def click(http, url: str, student: Student, delay: float, timeout: float) -> None:
    import websockets

    await asyncio.sleep(delay)
    student.clicked = time.monotonic()
    try:
        async with http.post(f"{url}/labs/{LAB}/start/", data={"csrfmiddlewaretoken": student.csrf},
                             headers={"Cookie": student.cookies(), "Referer": f"{url}/"},
                             allow_redirects=False) as resp:
            await resp.read()
            student.response_s = time.monotonic() - student.clicked
            student.status = resp.status
            location = resp.headers.get("Location", "")
        match = re.search(r"/sessions/([0-9a-f-]{36})/", location)
        if resp.status != 302 or not match:
            student.error = f"start answered {resp.status} {location}"
            return
        student.session_id = match.group(1)
        ws_url = url.replace("http://", "ws://") + f"/ws/sessions/{student.session_id}/"
        async with websockets.connect(ws_url, origin=url, additional_headers={"Cookie": student.cookies()},
                                      max_size=None, open_timeout=timeout, ping_interval=None) as ws:
            deadline = student.clicked + timeout
            while True:
                frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                if READY in frame:
                    student.ready_s = time.monotonic() - student.clicked
                    return
                if FAILED in frame:
                    student.error = "session failed"
                    return
    except TimeoutError:
        student.error = "timed out waiting for Ready"
    except Exception as exc:
        student.error = f"{type(exc).__name__}: {exc}"


async def measure(args, url: str, students: list[Student]) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(prepare(http, url, s) for s in students))
        start = time.monotonic()
        step = args.spread / max(1, len(students) - 1) if len(students) > 1 else 0
        await asyncio.gather(*(click(http, url, s, i * step, args.timeout) for i, s in enumerate(students)))
        return time.monotonic() - start


def run(args) -> int:
    with Stack("class-start", keep=args.keep) as stack:
        _, cookies = make_students(args.students)
        watcher = stack.start_watcher()
        web = stack.start_web()
        worker = stack.start_worker(args.concurrency)
        students = [Student(c) for c in cookies]
        cpu0 = {n: cpu_seconds(s.proc.pid) for n, s in (("worker", worker), ("web", web), ("watcher", watcher))}
        wall = asyncio.run(measure(args, stack.url, students))
        cpu1 = {n: cpu_seconds(s.proc.pid) for n, s in (("worker", worker), ("web", web), ("watcher", watcher))}

        from labs.models import LabSession

        rows = list(LabSession.objects.values_list("state", "created", "ready_at"))
    states = Counter(state for state, _, _ in rows)
    server_ready = [(ready - created).total_seconds() for state, created, ready in rows if ready]
    ready = [s.ready_s for s in students if s.ready_s is not None]
    responses = [s.response_s for s in students if s.response_s is not None]
    errors = Counter(s.error for s in students if s.error)

    print(f"\nclass_start: {args.students} students clicking Start within {args.spread:.1f} s; "
          f"Celery worker prefork --concurrency {args.concurrency}; all done in {wall:.1f} s")
    r, h, d = summary_ms(ready), summary_ms(responses), summary_ms(server_ready)
    print(table([
        ("click -> Ready on the socket", r["count"], r["p50"], r["p95"], r["max"]),
        ("created -> ready_at (database)", d["count"], d["p50"], d["p95"], d["max"]),
        ("POST start response", h["count"], h["p50"], h["p95"], h["max"]),
    ], ("ms", "count", "p50", "p95", "max")))
    print(f"\nsessions by state: {dict(states)}; errors: {sum(errors.values())}"
          + "".join(f"\n  {n} x {e}" for e, n in errors.items()))
    print(table([(n, cpu1[n] - cpu0[n]) for n in cpu0], ("process", "CPU s during the class start")))
    missing = args.students - len(ready)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print()
    print(table([
        ("click -> Ready p95 (ms)", f"{r['p95']:.0f}", "<= 2000", verdict(r["p95"] <= 2000 and not missing)),
        ("students not Ready", missing, "0", verdict(not missing)),
        ("students, clicks spread over (s)", f"{args.students}, {args.spread:.0f}", "1000, 30",
         verdict(args.students >= 1000 and args.spread <= 30)),
    ], ("figure", "measured", "target", "")))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=3.0, help="seconds over which the clicks are spread")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a student waits for Ready")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
