"""Class start: many students pressing Start within a few seconds.

M logged-in students (session cookies; each first GETs the catalogue for its
CSRF token, like a browser) POST /labs/<lab>/start/ over real HTTP, spread
evenly over --spread seconds, against uvicorn with real Celery workers as
`make run` starts them (prefork: --concurrency 4 for the labs' queue, which
provisions into the sandbox, and 2 for the `live` queue when there is one).
After its redirect each student loads the session page (as a browser follows
the redirect; --no-page skips it), opens the session's WebSocket and waits for
the status fragment to say Ready; the socket stays open until every student is
done, as a class keeps its pages open. Time-to-ready runs from the click
(before the POST is sent) to that frame.

Where the time goes, per student: the start request's response; the
database's created -> ready_at, split by the session's history into the wait
for a free worker and the preparation itself; and ready_at -> the frame on the
socket. With --profile DIR (and py-spy installed), the web server and the
worker are sampled during the class start and their busiest functions printed.

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

from bench.common import (  # noqa: E402
    LAB,
    Stack,
    cpu_seconds,
    make_students,
    profile_summary,
    run_main,
    start_profiler,
    stop_profiler,
    summary_ms,
    table,
    verdict,
)

READY = 'data-testid="session-state">Ready'
FAILED = 'data-testid="session-state">Failed'
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The session's history says how long the start waited for a worker and how long the preparation took.
TIMING_RE = re.compile(r"waited ([0-9.]+) s for a worker, prepared in ([0-9.]+) s")
# How many students load the catalogue at once before the class starts (not measured).
PREPARE_AT_ONCE = 32


class Student:
    def __init__(self, cookie: str):
        self.cookie = cookie
        self.csrf = None
        self.csrf_cookie = None
        self.clicked = None
        self.clicked_wall = None
        self.response_s = None
        self.page_s = None
        self.status = None
        self.session_id = None
        self.ready_s = None
        self.ready_wall = None
        self.error = None

    def cookies(self) -> str:
        return f"sessionid={self.cookie}; csrftoken={self.csrf_cookie}"


async def prepare(http, url: str, student: Student, limit: asyncio.Semaphore) -> None:
    async with limit, http.get(f"{url}/", headers={"Cookie": f"sessionid={student.cookie}"}) as resp:
        html = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"catalogue answered {resp.status}")
        student.csrf_cookie = resp.cookies["csrftoken"].value
    student.csrf = CSRF_RE.search(html).group(1)


async def click(http, url: str, student: Student, delay: float, args, everyone_done: asyncio.Event) -> None:
    import websockets

    await asyncio.sleep(delay)
    student.clicked = time.monotonic()
    student.clicked_wall = time.time()
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
        if not args.no_page:
            asked = time.monotonic()
            async with http.get(f"{url}{location}", headers={"Cookie": student.cookies()}) as page:
                await page.read()
                if page.status != 200:
                    student.error = f"session page answered {page.status}"
                    return
            student.page_s = time.monotonic() - asked
        ws_url = url.replace("http://", "ws://") + f"/ws/sessions/{student.session_id}/"
        async with websockets.connect(ws_url, origin=url, additional_headers={"Cookie": student.cookies()},
                                      max_size=None, open_timeout=args.timeout, ping_interval=None) as ws:
            deadline = student.clicked + args.timeout
            while True:
                frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                if READY in frame:
                    student.ready_s = time.monotonic() - student.clicked
                    student.ready_wall = time.time()
                    break
                if FAILED in frame:
                    student.error = "session failed"
                    return
            await _stay_until(ws, everyone_done)
    except TimeoutError:
        student.error = "timed out waiting for Ready"
    except Exception as exc:
        student.error = f"{type(exc).__name__}: {exc}"


async def _stay_until(ws, done: asyncio.Event) -> None:
    """Keep the page open (reading what it is sent) until every student is done."""
    waiting = asyncio.ensure_future(done.wait())
    try:
        while not done.is_set():
            receiving = asyncio.ensure_future(ws.recv())
            finished, _ = await asyncio.wait({receiving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if receiving not in finished:
                receiving.cancel()
            elif receiving.exception() is not None:
                return
    finally:
        waiting.cancel()


async def measure(args, url: str, students: list[Student], class_starts) -> float:
    """Every student loads the catalogue, then `class_starts()` (figures start here), then the clicks."""
    import aiohttp

    # A connection per request: uvicorn closes an idle kept-alive connection after 5 s, and a busy class start
    # leaves many idle that long; reusing one the server is closing fails the request (connection reset).
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=args.timeout, sock_read=args.timeout)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=timeout) as http:
        limit = asyncio.Semaphore(PREPARE_AT_ONCE)
        await asyncio.gather(*(prepare(http, url, s, limit) for s in students))
        everyone_done = asyncio.Event()
        class_starts()
        start = time.monotonic()
        step = args.spread / max(1, len(students) - 1) if len(students) > 1 else 0
        clicks = [asyncio.ensure_future(click(http, url, s, i * step, args, everyone_done))
                  for i, s in enumerate(students)]
        while sum(1 for s in students if s.ready_s is not None or s.error) < len(students):
            await asyncio.sleep(0.05)
        wall = time.monotonic() - start
        everyone_done.set()
        await asyncio.gather(*clicks)
        return wall


def _server_figures(students: list[Student]) -> dict:
    """Per student, from the database: click -> created, the wait for a worker, the preparation, ready_at ->
    the frame on the socket; and the sessions by state."""
    from labs.models import LabSession, SessionLog

    rows = {str(pk): (state, created, ready_at) for pk, state, created, ready_at in
            LabSession.objects.values_list("pk", "state", "created", "ready_at")}
    timings = {}
    for session_id, message in SessionLog.objects.filter(kind="ready").values_list("session_id", "message"):
        match = TIMING_RE.search(message)
        if match:
            timings[str(session_id)] = (float(match.group(1)), float(match.group(2)))
    figures = {"to_created": [], "created_to_ready": [], "waited": [], "prepared": [], "to_socket": []}
    for s in students:
        state, created, ready_at = rows.get(s.session_id, (None, None, None))
        if created is not None:
            figures["to_created"].append(created.timestamp() - s.clicked_wall)
        if ready_at is not None:
            figures["created_to_ready"].append((ready_at - created).total_seconds())
            if s.ready_wall is not None:
                figures["to_socket"].append(s.ready_wall - ready_at.timestamp())
        if s.session_id in timings:
            figures["waited"].append(timings[s.session_id][0])
            figures["prepared"].append(timings[s.session_id][1])
    figures["states"] = Counter(state for state, _, _ in rows.values())
    return figures


def run(args) -> int:
    load_before = Path("/proc/loadavg").read_text().split()[0]
    with Stack("class-start", keep=args.keep) as stack:
        started = time.monotonic()
        _, cookies = make_students(args.students)
        made_students = time.monotonic() - started
        watcher = stack.start_watcher()
        web = stack.start_web(workers=args.web_workers)
        # As `make run`: the labs' worker, and the worker of what follows a settled namespace (its own queue).
        from django.conf import settings

        queues = [q.name for q in settings.CELERY_TASK_QUEUES]
        worker = stack.start_worker(args.concurrency, queues=",".join(q for q in queues if q != "live"))
        live = stack.start_worker(2, queues="live") if "live" in queues else None
        students = [Student(c) for c in cookies]
        processes = (("worker", worker), ("web", web), ("watcher", watcher),
                     ("sandbox", next(s for s in stack.services if s.name == "sandbox")))
        if live is not None:
            processes += (("live worker", live),)
        profilers, cpu0 = [], {}

        def class_starts():
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                profilers.extend(start_profiler(svc.proc.pid, Path(args.profile) / f"{name}.txt")
                                 for name, svc in processes[:2])
            cpu0.update({n: cpu_seconds(s.proc.pid) for n, s in processes})

        wall = asyncio.run(measure(args, stack.url, students, class_starts))
        cpu1 = {n: cpu_seconds(s.proc.pid) for n, s in processes}
        for profiler in profilers:
            stop_profiler(profiler)
        server = _server_figures(students)
    ready = [s.ready_s for s in students if s.ready_s is not None]
    responses = [s.response_s for s in students if s.response_s is not None]
    pages = [s.page_s for s in students if s.page_s is not None]
    errors = Counter(s.error for s in students if s.error)

    print(f"\nclass_start: {args.students} students clicking Start within {args.spread:.1f} s; "
          f"Celery worker prefork --concurrency {args.concurrency}{' (and 2 for the live queue)' if live else ''}; "
          f"{args.web_workers} uvicorn process(es); all Ready (or failed) in {wall:.1f} s; "
          f"{args.students} students made in {made_students:.1f} s")
    rows = [("click -> Ready on the socket", summary_ms(ready)),
            ("  POST start response", summary_ms(responses))]
    if not args.no_page:
        rows.append(("  session page response", summary_ms(pages)))
    rows += [("  click -> session created (database)", summary_ms(server["to_created"])),
             ("  created -> ready_at (database)", summary_ms(server["created_to_ready"])),
             ("    waiting for a worker", summary_ms(server["waited"])),
             ("    preparing (the task's own time)", summary_ms(server["prepared"])),
             ("  ready_at -> Ready on the socket", summary_ms(server["to_socket"]))]
    print(table([(name, f["count"], f["p50"], f["p95"], f["max"]) for name, f in rows],
                ("ms", "count", "p50", "p95", "max")))
    print(f"\nsessions by state: {dict(server['states'])}; errors: {sum(errors.values())}"
          + "".join(f"\n  {n} x {e}" for e, n in errors.items()))
    print(table([(n, cpu1[n] - cpu0[n]) for n in cpu0], ("process", "CPU s during the class start")))
    missing = args.students - len(ready)
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before} before, "
          f"{os.getloadavg()[0]:.1f} at the end")
    if args.profile:
        for name, _ in processes[:2]:
            print(f"\n{name}: busiest functions (share of samples; raw stacks in {args.profile}/{name}.txt)")
            print(profile_summary(Path(args.profile) / f"{name}.txt"))
    r = summary_ms(ready)
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
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn processes (the compose file runs 2)")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=3.0, help="seconds over which the clicks are spread")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a student waits for Ready")
    parser.add_argument("--no-page", action="store_true", help="open the socket without loading the session page")
    parser.add_argument("--profile", metavar="DIR", help="sample the web server and the worker with py-spy")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
