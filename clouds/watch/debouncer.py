"""Calling a slow callback at most every `interval` seconds per key, off the watch threads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

INTERVAL = 0.3


class Debouncer:
    """Calls `call(key)` for a key at most every `interval` seconds.

    The first touch schedules a call `interval` later (so a burst becomes one
    call that sees its end); calls run in worker threads, never two at a time
    for the same key, so a slow callback never blocks the watch.
    """

    def __init__(self, call: Callable[[Hashable], None], interval: float = INTERVAL, workers: int = 4,
                 call_many: Callable[[list], None] | None = None, gather: float = 0.0):
        """With `call_many`, the keys due together are handed over in one call, and a key due within
        `gather` seconds joins the batch early (so that a steady stream of keys makes batches, not singles)."""
        self.call = call
        self.call_many = call_many
        self.gather = gather
        self.interval = interval
        self._due: dict[Hashable, float] = {}
        self._running: set[Hashable] = set()
        self._again: set[Hashable] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="watcher-settled")
        self.calls = 0
        self._thread = threading.Thread(target=self._run, name="watcher-debouncer", daemon=True)
        self._thread.start()

    def touch(self, key: Hashable) -> None:
        with self._cond:
            if key in self._running:
                self._again.add(key)
            elif key not in self._due:
                self._due[key] = time.monotonic() + self.interval
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    if any(t <= now for t in self._due.values()):
                        ready = [k for k, t in self._due.items() if t <= now + self.gather]
                        break
                    wait = min(self._due.values()) - now if self._due else None
                    self._cond.wait(wait)
                if self._stop:
                    return
                for key in ready:
                    del self._due[key]
                    self._running.add(key)
            if self.call_many is not None:
                self._pool.submit(self._call_many, ready)
            else:
                for key in ready:
                    self._pool.submit(self._call, key)

    def _call(self, key: Hashable) -> None:
        try:
            self.call(key)
            self.calls += 1
        except Exception:
            logger.exception("a debounced call for %s failed", key)
        finally:
            self._done([key])

    def _call_many(self, keys: list) -> None:
        try:
            self.call_many(keys)
            self.calls += len(keys)
        except Exception:
            logger.exception("a debounced call for %d keys failed", len(keys))
        finally:
            self._done(keys)

    def _done(self, keys) -> None:
        with self._cond:
            for key in keys:
                self._running.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self._due[key] = time.monotonic() + self.interval
                    self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)
