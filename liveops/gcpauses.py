"""Garbage-collection pauses of a process, written to its standard error when the benchmarks ask for
them (LIVEOPS_BENCH_TIMINGS): a full collection of a web process holding a thousand sockets' states
stops its event loop, and a benchmark must be able to tell such a stall from a slow network or Redis.

    liveops-gc-pause generation=2 ms=412.3 collected=120
"""

from __future__ import annotations

import gc
import sys
import time

PAUSE_PREFIX = "liveops-gc-pause"


def log_pauses(at_least_ms: float = 10.0) -> None:
    """From now on, write every collection of this process that takes `at_least_ms` or more."""
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        if ms >= at_least_ms:
            print(f"{PAUSE_PREFIX} generation={info['generation']} ms={ms:.1f} collected={info['collected']}",
                  file=sys.stderr, flush=True)

    gc.callbacks.append(callback)
