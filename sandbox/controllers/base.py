"""A level-based reconcile loop: watch events and a periodic resync mark keys dirty;
each dirty key is reconciled from the current state of the store.

Keys are reconciled concurrently, but never twice at once: a key marked dirty while
its reconcile runs is reconciled again right after.

The periodic resync is a safety net, not the way changes are noticed (watch events
are): it is spread over its period, a few keys at a time, so that it never holds the
server's loop for long, and once a controller has more keys than RESYNC_RATE a second
can cover, the period grows with them. Its cost stays bounded however many
namespaces a class makes, instead of growing with every object.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Iterable

log = logging.getLogger("sandbox.controllers")

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
# Keys a second one controller's resync may mark dirty, and how often it marks some.
RESYNC_RATE = 100
RESYNC_TICK = 0.1


class Controller:
    name = "controller"
    primary: str = ""  # resource whose objects are the keys
    watches: tuple[str, ...] = ()  # resources whose events mark keys dirty

    def __init__(self, store, config, runtime) -> None:
        self.store = store
        self.config = config
        self.delays = config.delays
        self.runtime = runtime
        self.resync_period = 1.0 if config.fast else 5.0
        self._dirty: set[Key] = set()
        self._running: dict[Key, asyncio.Task] = {}
        self._wakeup = asyncio.Event()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task] = []
        self._subs = []

    # ---- wiring ---------------------------------------------------------------------

    def start(self) -> None:
        for resource in self.watches or (self.primary,):
            sub = self.store.watch(resource)
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._pump(resource, sub), name=f"{self.name}-watch-{resource}"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"{self.name}-resync"))
        self._tasks.append(asyncio.create_task(self._work_loop(), name=f"{self.name}-work"))

    async def stop(self) -> None:
        for sub in self._subs:
            sub.close()
        for timer in self._timers.values():
            timer.cancel()
        tasks = self._tasks + list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Release what the controller holds (listeners...)."""

    async def _pump(self, resource: str, sub) -> None:
        async for event_type, obj in sub:
            try:
                keys = list(self.keys_for(resource, event_type, obj))
            except Exception:
                log.exception("%s: mapping %s event failed", self.name, resource)
                continue
            for key in keys:
                self.enqueue(key)

    async def _resync_loop(self) -> None:
        while True:
            try:
                keys = list(self.all_keys())
            except Exception:
                log.exception("%s: resync failed", self.name)
                keys = []
            period = max(self.resync_period, len(keys) / RESYNC_RATE) * random.uniform(0.9, 1.1)
            steps = max(1, min(len(keys), int(period / RESYNC_TICK)))
            size = math.ceil(len(keys) / steps) if keys else 0
            for step in range(steps):
                await asyncio.sleep(period / steps)
                for key in keys[step * size:(step + 1) * size]:
                    self.enqueue(key)

    # ---- queue ------------------------------------------------------------------------

    def enqueue(self, key: Key) -> None:
        self._dirty.add(key)
        self._wakeup.set()

    def enqueue_after(self, key: Key, delay: float) -> None:
        old = self._timers.get(key)
        loop = asyncio.get_running_loop()
        if old is not None and old.when() <= loop.time() + delay:
            return
        if old is not None:
            old.cancel()
        self._timers[key] = loop.call_later(delay, self._fire_timer, key)

    def _fire_timer(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def _work_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            for key in list(self._dirty):
                if key in self._running:
                    continue
                self._dirty.discard(key)
                self._running[key] = asyncio.create_task(self._run(key), name=f"{self.name}-{key[0]}/{key[1]}")

    async def _run(self, key: Key) -> None:
        try:
            await self.reconcile(key)
            self._failures.pop(key, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            log.exception("%s: reconciling %s/%s failed (attempt %d)", self.name, key[0], key[1], n)
            self.enqueue_after(key, min(0.05 * 2 ** n, 10.0))
        finally:
            self._running.pop(key, None)
            if key in self._dirty:
                self._wakeup.set()

    # ---- to override ----------------------------------------------------------------------

    def keys_for(self, resource: str, event_type: str, obj: dict) -> Iterable[Key]:
        if resource == self.primary:
            yield key_of(obj)

    def all_keys(self) -> Iterable[Key]:
        return self.store.keys(self.primary)

    async def reconcile(self, key: Key) -> None:
        raise NotImplementedError


def key_of(obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def controller_ref(obj: dict) -> dict | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: dict) -> dict:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def set_condition(conditions: list[dict], ctype: str, status: str, reason: str | None = None,
                  message: str | None = None, now: str | None = None, *, probe_times: bool = False,
                  update_time: bool = False) -> None:
    """Set a condition in place; lastTransitionTime only changes with the status."""
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = now
            cond["status"] = status
            if update_time and (cond.get("reason") != reason or cond.get("message") != message):
                cond["lastUpdateTime"] = now
            if reason is not None:
                cond["reason"] = reason
            if message is not None:
                cond["message"] = message
            if probe_times:
                cond["lastProbeTime"] = None
            return
    cond = {"type": ctype, "status": status}
    if probe_times:
        cond["lastProbeTime"] = None
    if update_time:
        cond["lastUpdateTime"] = now
    cond["lastTransitionTime"] = now
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)


def is_pod_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def is_terminating(obj: dict) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def is_pod_active(pod: dict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return not is_terminating(pod) and phase not in ("Succeeded", "Failed")
