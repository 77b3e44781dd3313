"""The watcher's heartbeat in Redis: when each cluster's watches last heard from its API server.

The watcher writes it every few seconds; readiness checks and admins read it.
A watch hears at least a bookmark every half minute, so a cluster silent for
much longer than that has a watcher (or an API server) in trouble.
"""

from __future__ import annotations

import json
import time

from clouds.watch.state import client

PREFIX = "liveops:watcher"
EXPIRES = 60  # seconds: a stopped watcher's beats vanish


def write(cluster_id, last_heard: float, open_watches: int) -> None:
    client().set(f"{PREFIX}:{cluster_id}", json.dumps({"last_heard": last_heard, "beat": time.time(),
                                                       "open_watches": open_watches}), ex=EXPIRES)


def read_all() -> dict[str, dict]:
    """{cluster id: {"last_heard": seconds ago or None, "beat": seconds ago, "open_watches": n}}."""
    r = client()
    now = time.time()
    found = {}
    for key in r.scan_iter(f"{PREFIX}:*", count=100):
        raw = r.get(key)
        if raw is None:
            continue
        data = json.loads(raw)
        cluster = key.decode().rsplit(":", 1)[1]
        last = data.get("last_heard")
        found[cluster] = {"last_heard_s": round(now - last, 1) if last else None,
                          "beat_s": round(now - data["beat"], 1), "open_watches": data.get("open_watches", 0)}
    return found
