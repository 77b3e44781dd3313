"""Watches over HTTP: JSON lines over a chunked response, resumable from a
resourceVersion inside the store's history window (410 Expired beyond it)."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from . import tables
from .resources import RESOURCES
from .selectors import match_field_selector, match_label_selector, parse_field_selector, parse_label_selector

log = logging.getLogger("sandbox.watch")


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class WatchRequest:
    def __init__(self, store, resource: str, namespace: str | None, *, label_selector: str | None,
                 field_selector: str | None, resource_version: str | None, timeout: float | None,
                 bookmarks: bool, as_table: bool, include: str, send_initial: bool):
        self.store = store
        self.resource = resource
        self.namespace = namespace
        self.labels = parse_label_selector(label_selector)
        self.fields = parse_field_selector(field_selector)
        self.rv = resource_version
        self.timeout = timeout
        self.bookmarks = bookmarks
        self.as_table = as_table
        self.include = include
        self.send_initial = send_initial
        self.first_table = True
        self.matched: set[tuple[str, str]] = set()

    def matches(self, obj: dict) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return match_label_selector(self.labels, meta.get("labels")) and match_field_selector(self.fields, obj)

    def translate(self, event_type: str, obj: dict) -> tuple[str, dict] | None:
        """Apply selector transitions: a MODIFIED object that stops matching is DELETED."""
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return None
        key = (meta.get("namespace") or "", meta.get("name"))
        now = self.matches(obj)
        if event_type == "ADDED":
            if not now:
                return None
            self.matched.add(key)
            return event_type, obj
        if event_type == "DELETED":
            if key in self.matched or now:
                self.matched.discard(key)
                return event_type, obj
            return None
        if now:
            if key not in self.matched:
                self.matched.add(key)
                return "ADDED", obj
            return event_type, obj
        if key in self.matched:
            self.matched.discard(key)
            return "DELETED", obj
        return None

    def encode(self, event_type: str, obj: dict) -> bytes:
        if self.as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.table(self.resource, [obj], include=self.include,
                               resource_version=obj["metadata"].get("resourceVersion", ""),
                               headers=self.first_table)
            self.first_table = False
        return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def bookmark(self, initial_end: bool = False) -> bytes:
        info = RESOURCES[self.resource]
        meta: dict = {"resourceVersion": str(self.store.resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
        return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"


async def serve(request: web.Request, w: WatchRequest) -> web.StreamResponse:
    store = w.store
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    # Subscribe and take the snapshot / replay without yielding in between, so no change is lost.
    sub = store.watch(w.resource, w.namespace)
    initial: list[bytes] = []
    expired = None
    try:
        if not w.rv or w.rv == "0" or w.send_initial:
            for obj in store.list(w.resource, w.namespace):
                t = w.translate("ADDED", obj)
                if t:
                    initial.append(w.encode(*t))
            if w.send_initial and w.bookmarks:
                initial.append(w.bookmark(initial_end=True))
        else:
            try:
                since = int(w.rv)
            except ValueError:
                since = -1
            oldest = store.oldest_history_rv()
            if since < oldest or since < 0:
                expired = status(410, "Expired", f"too old resource version: {w.rv} ({oldest + 1})")
            else:
                for obj in store.list(w.resource, w.namespace):
                    if w.matches(obj):
                        w.matched.add((obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))
                for rv, resource, event_type, obj in list(store.history):
                    if rv <= since or resource != w.resource:
                        continue
                    t = w.translate(event_type, obj)
                    if t:
                        initial.append(w.encode(*t))
        await resp.prepare(request)
        if expired is not None:
            await resp.write(json.dumps({"type": "ERROR", "object": expired}).encode() + b"\n")
            return resp
        if initial:
            await resp.write(b"".join(initial))
        deadline = time.monotonic() + w.timeout if w.timeout else None
        interval = store.config.bookmark_interval if w.bookmarks else 30.0
        while True:
            wait = interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left)
            item = await sub.get(timeout=wait)
            if item is None:
                if sub.closed:
                    break
                if request.transport is None or request.transport.is_closing():
                    break
                if w.bookmarks and (deadline is None or deadline - time.monotonic() > 0):
                    await resp.write(w.bookmark())
                continue
            chunks = [item]
            while not sub.queue.empty():
                nxt = sub.queue.get_nowait()
                if nxt is None:
                    sub.closed = True
                    break
                chunks.append(nxt)
            out = []
            for event_type, obj in chunks:
                t = w.translate(event_type, obj)
                if t:
                    out.append(w.encode(*t))
            if out:
                await resp.write(b"".join(out))
            if sub.closed:
                break
    except ConnectionResetError:
        pass
    finally:
        sub.close()
    try:
        await resp.write_eof()
    except Exception:
        pass
    return resp
