"""Kubernetes API connections and requests per minute vs number of sessions.

A small counting HTTP proxy on loopback sits in front of the sandbox; the
Cluster row's kubeconfig points the watcher at it, so every request the watcher
makes is seen (nothing in the product changes). For each session count (10,
100, 300 by default, ascending; namespaces are added between steps with the
product's provisioning function, each with one Service), a fresh watcher is
started, and once it has loaded every namespace, a window of --window seconds
is measured: established TCP connections from the watcher process to the proxy
(from /proc/<pid>/net/tcp and its socket fds, sampled every second) and the
requests the proxy forwarded. With --changes (default on) every session's
Service is patched once during the window, straight at the sandbox (not through
the proxy), so the figure also shows what the watcher's reaction costs.

    .venv/bin/python bench/api_connections.py --sessions 10,100,300 --window 60
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Stack,
    core_api,
    cpu_seconds,
    free_port,
    make_ready_sessions,
    make_students,
    run_main,
    table,
    tcp_connections_to,
)
from bench.ws_latency import SERVICE, create_services, wait_for_state  # noqa: E402


class CountingProxy:
    """Forwards HTTP/1.1 on loopback to the sandbox, counting requests and connections."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.requests = 0
        self.by_kind: Counter = Counter()
        self.open = 0
        self.opened = 0
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="counting-proxy")
        self._thread.start()
        self._started.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._started.set()
        self.loop.run_forever()

    def stop(self):
        self.loop.set_exception_handler(lambda loop, context: None)  # quiet: cancelled at exit

        async def close():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)

    def reset(self):
        with self._lock:
            self.requests = 0
            self.by_kind.clear()
            self.opened = 0

    def snapshot(self):
        with self._lock:
            return self.requests, Counter(self.by_kind)

    async def _client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        with self._lock:
            self.open += 1
            self.opened += 1
        tasks = [asyncio.ensure_future(self._requests(reader, up_writer)),
                 asyncio.ensure_future(self._pipe(up_reader, writer))]
        try:
            # Either side closing ends the connection (a client that goes away ends its watch).
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with self._lock:
                self.open -= 1
            for w in (writer, up_writer):
                try:
                    w.close()
                except Exception:
                    pass

    async def _requests(self, reader, writer):
        """Client -> sandbox: one request at a time (head, then Content-Length bytes of body)."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                first, *lines = head.decode("latin-1").split("\r\n")
                method, target = first.split(" ")[:2]
                path, _, query = target.partition("?")
                length = 0
                for line in lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                    elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                        raise RuntimeError("chunked request bodies are not handled")
                kind = f"{method} {_shape(path)}{' watch' if 'watch=true' in query or 'watch=1' in query else ''}"
                with self._lock:
                    self.requests += 1
                    self.by_kind[kind] += 1
                writer.write(head)
                if length:
                    writer.write(await reader.readexactly(length))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def _pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            return


def _shape(path: str) -> str:
    """/api/v1/namespaces/lab-x/pods -> /api/v1/namespaces/*/pods"""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "namespaces" and i + 1 < len(parts) - 1:
            parts[i + 1] = "*"
    return "/".join(parts)


def proxy_kubeconfig(stack: Stack, port: int) -> str:
    data = yaml.safe_load(Path(stack.kubeconfig).read_text())
    for c in data["clusters"]:
        c["cluster"] = {"server": f"http://127.0.0.1:{port}"}
    path = stack.var / "proxy.kubeconfig"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(args) -> int:
    counts = sorted(int(c) for c in args.sessions.split(","))
    rows, top = [], None
    with Stack("api-connections", keep=args.keep) as stack:
        proxy = CountingProxy(stack.sandbox_port)
        try:
            kubeconfig = proxy_kubeconfig(stack, proxy.port)
            users, _ = make_students(max(counts))
            core = core_api(stack.kubeconfig)  # the bench's own calls go straight to the sandbox
            sessions = []
            for count in counts:
                stack.cluster.kubeconfig_path = stack.kubeconfig  # provisioning goes straight to the sandbox
                stack.cluster.save()
                new = make_ready_sessions(users[len(sessions):count], stack.cluster)
                create_services(core, new, 8)
                sessions += new
                proxy.reset()
                watcher = stack.start_watcher(kubeconfig=kubeconfig)
                load_s = wait_for_state(stack, sessions, timeout=120)
                time.sleep(2)  # let the list calls finish and the watches open
                startup_requests, _ = proxy.snapshot()
                cpu0 = cpu_seconds(watcher.proc.pid)
                req0, kinds0 = proxy.snapshot()
                samples = []
                pool = ThreadPoolExecutor(4)
                start = time.monotonic()
                for i in range(int(args.window)):
                    if args.changes:
                        batch = sessions[i * len(sessions) // int(args.window):(i + 1) * len(sessions) // int(args.window)]
                        for s in batch:
                            pool.submit(core.patch_namespaced_service, SERVICE, s.namespace,
                                        {"metadata": {"annotations": {"bench/tick": str(i)}}})
                    samples.append(tcp_connections_to(watcher.proc.pid, proxy.port))
                    time.sleep(max(0.0, start + i + 1 - time.monotonic()))
                pool.shutdown(wait=True)
                elapsed = time.monotonic() - start
                req1, kinds1 = proxy.snapshot()
                cpu1 = cpu_seconds(watcher.proc.pid)
                per_min = (req1 - req0) * 60 / elapsed
                rows.append((count, max(samples), samples[-1], proxy.open, startup_requests, req1 - req0,
                             per_min, cpu1 - cpu0, f"{load_s + 2:.1f}"))
                top = (count, kinds1 - kinds0, kinds1)
                watcher.stop()
                stack.services.remove(watcher)
                time.sleep(0.5)
                if proxy.open:
                    print(f"{count} sessions: {proxy.open} proxy connections still open after the watcher stopped")
        finally:
            proxy.stop()

    print(f"\napi_connections: window {args.window:.0f} s per step, "
          f"{'one Service patch per session during the window' if args.changes else 'no changes during the window'}")
    print(table(rows, ("sessions", "conns max", "conns end", "proxy conns", "startup reqs", "window reqs",
                       "reqs/min", "watcher CPU s", "startup s")))
    if top:
        count, window_kinds, all_kinds = top
        print(f"\nrequests by kind at {count} sessions (startup + window):")
        for kind, n in all_kinds.most_common(12):
            print(f"  {n:6d}  {kind}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="10,100,300", help="comma-separated session counts")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per step")
    parser.add_argument("--no-changes", dest="changes", action="store_false",
                        help="measure an idle window (no Service patches)")
    return run_main(parser, run)


if __name__ == "__main__":
    sys.exit(main())
