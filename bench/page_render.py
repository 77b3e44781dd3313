"""Lab page render time and bytes shipped.

One logged-in student with a READY session whose namespace holds the lab's
example Deployment and Service (created with the official client; the examples
are also the editor's text, so the page validates them as it would for a real
student). With the watcher and uvicorn running, GET /sessions/<id>/ --requests
times over loopback HTTP (one at a time, after one warm-up request); then
--students students (each with such a session) load their own pages at once,
--per-student times each with a person's pauses (the target: p95 <= 30 ms with
50 students); then fetch
every static asset the page references, including what the editor bundle loads
by itself (its workers, font and schema). Sizes are raw and gzip -6 (what a
compressing proxy would ship; the app itself does not compress).

    .venv/bin/python bench/page_render.py --requests 50
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BASE,
    LAB,
    Stack,
    gz,
    make_ready_sessions,
    make_students,
    run_main,
    summary_ms,
    table,
    verdict,
)

ASSET_RE = re.compile(r'(?:src|href)="(/static/[^"]+)"')


CACHE_CONTROL: dict[str, str] = {}  # url -> the Cache-Control it was served with
HOW: list[tuple[str, float]] = []  # (kept | drawn, seconds) of each lab page answered (its Server-Timing)


def get(url: str, cookie: str | None = None) -> tuple[int, bytes, float]:
    req = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"} if cookie else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
        seconds = time.perf_counter() - t0
        CACHE_CONTROL[url] = resp.headers.get("Cache-Control", "")
        how = re.search(r'page;desc="(\w+)"', resp.headers.get("Server-Timing", ""))
        if how:
            HOW.append((how.group(1), seconds))
        return resp.status, body, seconds


def editor_assets(html: str) -> list[str]:
    """What the editor bundle fetches by itself, relative to its data-editor-base."""
    match = re.search(r'data-editor-base="([^"]+)"', html)
    if not match:
        return []
    base = match.group(1)
    editor_dir = BASE / "static" / "editor"
    js = (editor_dir / "editor.js").read_text(errors="replace")
    css = (editor_dir / "editor.css").read_text(errors="replace")
    found = set(re.findall(r'"([A-Za-z0-9_/.-]+\.(?:css|js|json))"', js))
    found.update(re.findall(r"url\(['\"]?\.?/?([A-Za-z0-9_.-]+\.(?:ttf|woff2?))", css))
    # only what the bundle names and ships (editor.css is injected by editor.js when the page has no link)
    names = {n for n in found if (editor_dir / n).is_file() and n != "editor.js"}
    fonts = {n for n in names if not n.endswith((".css", ".js", ".json"))}
    # editor.js fetches its workers, schema and stylesheet with the version of its own URL; fonts carry a hash.
    version = re.search(r'editor/editor\.js(\?v=[0-9a-f]+)', html)
    suffix = version.group(1) if version else ""
    return [base + n + ("" if n in fonts else suffix) for n in sorted(names)]


def run(args) -> int:
    if not (BASE / "static" / "editor" / "editor.js").exists():
        print("static/editor/editor.js is missing: build it with `cd frontend && npm ci && npm run build` "
              "(or `make frontend`)")
        return 1
    with Stack("page-render", keep=args.keep) as stack:
        from kubernetes import client, config

        from labs.content_loader import load_lab

        users, cookies = make_students(max(1, args.students))
        sessions = make_ready_sessions(users, stack.cluster)
        session = sessions[0]
        lab = load_lab(LAB)
        api = config.new_client_from_config(config_file=stack.kubeconfig)
        objects = {}
        for one in sessions:
            one.draft = lab.examples_text()
            one.save(update_fields=["draft"])
            for doc in yaml.safe_load_all(one.draft):
                if doc["kind"] == "Deployment":
                    client.AppsV1Api(api).create_namespaced_deployment(one.namespace, doc)
                elif doc["kind"] == "Service":
                    client.CoreV1Api(api).create_namespaced_service(one.namespace, doc)
                objects[doc["kind"]] = doc["metadata"]["name"]
        stack.start_watcher()
        stack.start_web(workers=args.web_workers)
        from clouds.watch import state as live_state

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = live_state.load_namespace(stack.cluster.pk, session.namespace)
            if state["services"] and len(state["pods"]) >= 1:
                break
            time.sleep(0.2)
        time.sleep(1)  # let the pods settle (Running, endpoints ready)

        page = f"{stack.url}/sessions/{session.id}/"
        status, html, first_s = get(page, cookies[0])
        if status != 200 or b"session-status" not in html:
            raise RuntimeError(f"the session page answered {status}")
        times = []
        for _ in range(args.requests):
            _, html, seconds = get(page, cookies[0])
            times.append(seconds)
        text = html.decode()
        assets = list(dict.fromkeys(ASSET_RE.findall(text))) + editor_assets(text)
        rows = []
        for path in assets:
            status, body, _ = get(stack.url + path)
            rows.append((path, status, len(body) / 1024, gz(body) / 1024))
        state = live_state.load_namespace(stack.cluster.pk, session.namespace)
        HOW.clear()
        concurrent = students_at_once(args, stack, sessions, cookies)

    s = summary_ms(times)
    print(f"\npage_render: GET /sessions/<id>/ x {args.requests} over loopback HTTP (uvicorn, 1 at a time); "
          f"namespace holds {', '.join(f'{k} {v}' for k, v in objects.items())} "
          f"({len(state['pods'])} pods observed)")
    print(f"response time (ms): first {first_s * 1000:.1f}, p50 {s['p50']:.1f}, p95 {s['p95']:.1f}, "
          f"max {s['max']:.1f}")
    html_row = ("HTML /sessions/<id>/", 200, len(html) / 1024, gz(html) / 1024)
    total = (sum(r[2] for r in rows) + html_row[2], sum(r[3] for r in rows) + html_row[3])
    page_only = [r for r in rows if r[0] in ASSET_RE.findall(text)]
    print(table([html_row, *rows, ("total", "", *total)], ("what", "status", "KiB raw", "KiB gzip")))
    print(f"(without the editor's own fetches: {html_row[2] + sum(r[2] for r in page_only):.0f} KiB raw, "
          f"{html_row[3] + sum(r[3] for r in page_only):.0f} KiB gzip)")
    again = [r for r in rows if "immutable" not in CACHE_CONTROL.get(stack.url + r[0], "")]
    print(f"returning student (files served as immutable stay in the browser's cache): "
          f"{html_row[3] + sum(r[3] for r in again):.1f} KiB gzip "
          f"({'the page only' if not again else ', '.join(r[0] for r in again)})")
    c = summary_ms(concurrent)
    print(f"\n{args.students} students at once, each loading their own lab page {args.per_student} times "
          f"(a random pause of 0 to {2 * args.think:.1f} s between loads): {c['count']} responses, p50 "
          f"{c['p50']:.1f} ms, p95 {c['p95']:.1f} ms, max {c['max']:.1f} ms; machine: {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}")
    for how in ("drawn", "kept"):
        part = summary_ms([seconds for h, seconds in HOW if h == how])
        if part["count"]:
            print(f"  {how} ({'drawn from the database and Redis' if how == 'drawn' else 'kept from an earlier load: nothing it shows changed'}): "
                  f"{part['count']}, p50 {part['p50']:.1f} ms, p95 {part['p95']:.1f} ms")
    print()
    print(table([
        (f"render p95 with {args.students} students (ms)", f"{c['p95']:.1f}", "<= 30 (50 students)",
         verdict(c["p95"] <= 30 and args.students >= 50)),
    ], ("figure", "measured", "target", "")))
    return 0


def students_at_once(args, stack, sessions, cookies) -> list[float]:
    """Every student loads their own page in their own thread, with pauses like a person's."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    def student(i: int) -> list[float]:
        page = f"{stack.url}/sessions/{sessions[i].id}/"
        out = []
        for _ in range(args.per_student):
            time.sleep(random.uniform(0, 2 * args.think))
            status, _, seconds = get(page, cookies[i])
            if status == 200:
                out.append(seconds)
        return out

    with ThreadPoolExecutor(len(sessions)) as pool:
        return [t for times in pool.map(student, range(len(sessions))) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn processes (the compose file runs 2)")
    parser.add_argument("--requests", type=int, default=50, help="loads of one student's page, one at a time")
    parser.add_argument("--students", type=int, default=50, help="students loading their pages at once")
    parser.add_argument("--per-student", type=int, default=10, help="loads of each of those students")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a student's loads (s)")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
