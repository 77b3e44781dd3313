"""Liveness and readiness for a load balancer or Kubernetes probes.

`/healthz`: the process answers. `/readyz`: the database and Redis answer
(503 otherwise, naming which), with the watcher's heartbeat per cluster for
operators (a silent watcher does not make the web process unready: it still
serves pages, which say when the live view is unavailable).
"""

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clouds.watch import heartbeat
from clouds.watch.state import client as redis_client

WATCHER_SILENT_AFTER = 90  # seconds without a line from the API server (bookmarks come every 30 s)


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # the kind of failure only: no address, no credentials
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _timed(_database), "redis": _timed(lambda: redis_client().ping())}
    try:
        clusters = heartbeat.read_all()
    except Exception:
        clusters = {}
    for beat in clusters.values():
        beat["silent"] = beat["last_heard_s"] is None or beat["last_heard_s"] > WATCHER_SILENT_AFTER
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "unavailable", **checks, "watcher": clusters}
    return JsonResponse(body, status=200 if ready else 503)
