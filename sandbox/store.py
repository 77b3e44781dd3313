"""The in-memory object store: one global resourceVersion, watches, finalizers and
garbage collection of dependents (ownerReferences).

Objects are plain dicts holding full Kubernetes JSON. Everything returned is a deep
copy; mutate the store only through its methods.

It stays fast with a class's worth of namespaces: objects are indexed by namespace
and by owner uid, so listing a namespace, finding an owner's dependents or a
repeated event costs what that namespace holds, not what the cluster holds; copies
are made by a JSON-only copier (`clone`); and one snapshot of a change is shared
by every watch that wants it (watchers only read it).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import ipaddress
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from . import defaults
from .config import SandboxConfig
from .resources import CLUSTER_SCOPED, KIND_TO_RESOURCE, RESOURCES
from .selectors import match_field_selector, match_label_selector

log = logging.getLogger("sandbox.store")

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# What the garbage collector finds at the end of an owner reference.
SOLID, DANGLING, WAITING, UNRESOLVABLE = "solid", "dangling", "waiting", "unresolvable"


class StoreError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(self, message: str, causes: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.causes = causes or []


class NotFound(StoreError):
    code, reason = 404, "NotFound"


class AlreadyExists(StoreError):
    code, reason = 409, "AlreadyExists"


class Conflict(StoreError):
    code, reason = 409, "Conflict"


class Invalid(StoreError):
    """Invalid(message, causes=[{"field": ..., "reason": ..., "message": ...}])"""

    code, reason = 422, "Invalid"


class Forbidden(StoreError):
    """E.g. a ResourceQuota rejection: message 'exceeded quota: ...'."""

    code, reason = 403, "Forbidden"


class BadRequest(StoreError):
    code, reason = 400, "BadRequest"


def _drop_finalizer(finalizer: str) -> Callable[[dict], None]:
    def drop(o: dict) -> None:
        fins = [f for f in o["metadata"].get("finalizers") or [] if f != finalizer]
        if fins:
            o["metadata"]["finalizers"] = fins
        else:
            o["metadata"].pop("finalizers", None)

    return drop


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_ATOMIC = frozenset((str, int, float, bool, type(None)))


def clone(obj):
    """A deep copy of plain JSON (dicts, lists, strings, numbers): what the store holds. Several times
    faster than copy.deepcopy, which the store used to spend most of its time in; anything else falls
    back to it."""
    kind = type(obj)
    if kind is dict:
        return {k: v if type(v) in _ATOMIC else clone(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) in _ATOMIC else clone(v) for v in obj]
    if kind in _ATOMIC:
        return obj
    return copy.deepcopy(obj)


def _owner_uids(obj: dict) -> list[str]:
    return [r.get("uid") for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid")]


def _key(resource: str, namespace: str | None, name: str) -> tuple[str, str]:
    return ("" if resource in CLUSTER_SCOPED else (namespace or ""), name)


def _same_but_version(old: dict, new: dict) -> bool:
    """Equal but for metadata.resourceVersion (compared without copying either)."""
    if old.keys() != new.keys():
        return False
    for k, v in old.items():
        if k != "metadata" and new[k] != v:
            return False
    return {**old["metadata"], "resourceVersion": None} == {**new["metadata"], "resourceVersion": None}


def _event_key(event: dict) -> tuple:
    """What makes a repeated event the same one (record_event counts it instead of adding another)."""
    involved = event.get("involvedObject") or {}
    return (event["metadata"].get("namespace"), involved.get("uid"), involved.get("name"), event.get("reason"),
            event.get("message"), event.get("type"), (event.get("source") or {}).get("component"))


def _content(obj: dict) -> dict:
    """What counts as 'spec' for generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Subscription:
    """An in-process watch: `async for event_type, obj in sub`. Call close() when done."""

    def __init__(self, store: Store, resource: str | None, namespace: str | None):
        self._store = store
        self.resource = resource
        self.namespace = namespace
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def wants(self, resource: str, obj: dict) -> bool:
        if self.resource is not None and resource != self.resource:
            return False
        if self.namespace and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store._unsubscribe(self)
            self.queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[tuple[str, dict]]:
        return self

    async def __anext__(self) -> tuple[str, dict]:
        if self.closed and self.queue.empty():
            raise StopAsyncIteration
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> tuple[str, dict] | None:
        """Next event or None on timeout / close."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        return item


class Store:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.resource_version: int = 1
        self.logs: dict[tuple[str, str], list[str]] = {}
        self._objects: dict[str, dict[tuple[str, str], dict]] = {r: {} for r in RESOURCES}
        # resource -> namespace -> name -> object (the same dicts as _objects)
        self._by_namespace: dict[str, dict[str, dict[str, dict]]] = {r: {} for r in RESOURCES}
        # owner uid -> {(resource, key): None} of the objects whose ownerReferences name it
        self._by_owner: dict[str, dict[tuple[str, tuple[str, str]], None]] = {}
        # (namespace, involved uid, reason, message, type, component) -> event name, for record_event
        self._event_keys: dict[tuple, str] = {}
        self._by_uid: dict[str, tuple[str, str, str]] = {}
        self._subs: set[Subscription] = set()
        self._subs_by_resource: dict[str | None, set[Subscription]] = {}
        # (rv, resource, event_type, obj) of recent changes, for watch resume.
        self.history: collections.deque = collections.deque(
            maxlen=getattr(config, "watch_history", 2000)
        )
        self._log_waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    # ---- reading ----------------------------------------------------------------

    def _table(self, resource: str) -> dict[tuple[str, str], dict]:
        try:
            return self._objects[resource]
        except KeyError:
            raise NotFound(f'the server could not find the requested resource ({resource})') from None

    def get(self, resource: str, namespace: str | None, name: str) -> dict | None:
        obj = self._table(resource).get(_key(resource, namespace, name))
        return clone(obj) if obj is not None else None

    def _stored(self, resource: str, namespace: str | None) -> list[dict]:
        """The stored objects of a resource (of one namespace when given), by namespace and name."""
        if namespace and resource not in CLUSTER_SCOPED:
            self._table(resource)
            names = self._by_namespace[resource].get(namespace) or {}
            return [names[n] for n in sorted(names)]
        table = self._table(resource)
        return [table[k] for k in sorted(table)]

    def list(self, resource: str, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[dict]:
        out = []
        for obj in self._stored(resource, namespace):
            if label_selector and not match_label_selector(label_selector, obj["metadata"].get("labels")):
                continue
            if field_selector and not match_field_selector(field_selector, obj):
                continue
            out.append(clone(obj))
        return out

    def peek(self, resource: str, namespace: str | None, name: str) -> dict | None:
        """The stored object itself, not a copy, for readers that never change it (controllers and
        admission read state on every change; copying it each time was most of the store's work).
        The store never changes a stored object: a write stores a new one."""
        return self._table(resource).get(_key(resource, namespace, name))

    def scan(self, resource: str, namespace: str | None = None) -> list[dict]:
        """The stored objects themselves (of one namespace when given), by namespace and name: read
        them, never change them (see peek)."""
        return self._stored(resource, namespace)

    def keys(self, resource: str, namespace: str | None = None) -> list[tuple[str, str]]:
        """(namespace, name) of every object of a resource, without copying them (controllers' resyncs)."""
        if namespace and resource not in CLUSTER_SCOPED:
            self._table(resource)
            return [(namespace, n) for n in sorted(self._by_namespace[resource].get(namespace) or {})]
        return sorted(self._table(resource))

    # ---- the tables and their indexes ----------------------------------------------------

    def _put(self, resource: str, obj: dict) -> None:
        """Store (or replace) an object, keeping the indexes current."""
        meta = obj["metadata"]
        key = _key(resource, meta.get("namespace"), meta["name"])
        old = self._objects[resource].get(key)
        self._objects[resource][key] = obj
        self._by_namespace[resource].setdefault(key[0], {})[key[1]] = obj
        old_owners = _owner_uids(old) if old is not None else []
        new_owners = _owner_uids(obj)
        if old_owners != new_owners:
            for uid in old_owners:
                self._unindex_owner(uid, resource, key)
            for uid in new_owners:
                self._by_owner.setdefault(uid, {})[(resource, key)] = None
        if resource == "events":
            if old is not None:
                self._event_keys.pop(_event_key(old), None)
            self._event_keys[_event_key(obj)] = key[1]

    def _pop(self, resource: str, key: tuple[str, str]) -> dict | None:
        obj = self._objects[resource].pop(key, None)
        if obj is None:
            return None
        names = self._by_namespace[resource].get(key[0])
        if names is not None:
            names.pop(key[1], None)
            if not names:
                del self._by_namespace[resource][key[0]]
        for uid in _owner_uids(obj):
            self._unindex_owner(uid, resource, key)
        if resource == "events" and self._event_keys.get(_event_key(obj)) == key[1]:
            del self._event_keys[_event_key(obj)]
        return obj

    def _unindex_owner(self, uid: str, resource: str, key: tuple[str, str]) -> None:
        dependents = self._by_owner.get(uid)
        if dependents is not None:
            dependents.pop((resource, key), None)
            if not dependents:
                del self._by_owner[uid]

    def get_by_uid(self, uid: str) -> tuple[str, dict] | None:
        where = self._by_uid.get(uid)
        if not where:
            return None
        resource, ns, name = where
        obj = self.get(resource, ns, name)
        return (resource, obj) if obj else None

    # ---- events to watchers -------------------------------------------------------

    def _next_rv(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def _emit(self, resource: str, event_type: str, obj: dict) -> None:
        """One snapshot of the change, shared by the history and every watch that wants it (they
        only read it): a change costs one copy, whatever the number of watches."""
        snapshot = clone(obj)
        self.history.append((self.resource_version, resource, event_type, snapshot))
        for subs in (self._subs_by_resource.get(resource), self._subs_by_resource.get(None)):
            for sub in list(subs or ()):
                if sub.wants(resource, snapshot):
                    sub.queue.put_nowait((event_type, snapshot))

    def watch(self, resource: str | None = None, namespace: str | None = None) -> Subscription:
        """An in-process watch. Its events share one snapshot with every other watch: read them,
        never change them."""
        sub = Subscription(self, resource, namespace)
        self._subs.add(sub)
        self._subs_by_resource.setdefault(resource, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        subs = self._subs_by_resource.get(sub.resource)
        if subs is not None:
            subs.discard(sub)

    def oldest_history_rv(self) -> int:
        """Smallest resourceVersion a watch can resume from (exclusive)."""
        if len(self.history) < (self.history.maxlen or 0):
            return 0
        return self.history[0][0] - 1

    # ---- writing -------------------------------------------------------------------

    def _check_namespace(self, resource: str, namespace: str | None) -> None:
        if resource in CLUSTER_SCOPED:
            return
        if not namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        ns = self._objects["namespaces"].get(("", namespace))
        if ns is None:
            raise NotFound(f'namespaces "{namespace}" not found')
        if ns["metadata"].get("deletionTimestamp") and resource != "events":
            raise Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )

    def _generate_name(self, resource: str, namespace: str, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        for _ in range(100):
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if _key(resource, namespace, name) not in self._objects[resource]:
                return name
        raise AlreadyExists("could not generate a unique name")

    def prepare_create(self, resource: str, obj: dict) -> dict:
        """Everything create() does except storing it (used for dryRun too)."""
        info = RESOURCES.get(resource)
        if info is None:
            raise NotFound(f"the server could not find the requested resource ({resource})")
        obj = clone(obj)
        obj["apiVersion"] = info.api_version
        obj["kind"] = info.kind
        meta = obj.setdefault("metadata", {})
        if resource in CLUSTER_SCOPED:
            meta.pop("namespace", None)
        namespace = meta.get("namespace")
        self._check_namespace(resource, namespace)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = self._generate_name(resource, namespace or "", meta["generateName"])
            else:
                raise Invalid(
                    f"{info.kind} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    [{"field": "metadata.name", "reason": "FieldValueRequired",
                      "message": "Required value: name or generateName is required"}],
                )
        if _key(resource, namespace, meta["name"]) in self._objects[resource]:
            raise AlreadyExists(f'{resource}{"." + info.group if info.group else ""} "{meta["name"]}" already exists')
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if resource not in ("events", "endpoints", "configmaps", "serviceaccounts", "namespaces",
                            "nodes", "endpointslices", "limitranges", "resourcequotas"):
            meta["generation"] = 1
        defaults.apply(resource, obj, self, None)
        return obj

    async def create(self, resource: str, obj: dict, *, dry_run: bool = False) -> dict:
        obj = self.prepare_create(resource, obj)
        if dry_run:
            return obj
        obj["metadata"]["resourceVersion"] = self._next_rv()
        meta = obj["metadata"]
        self._put(resource, obj)
        self._by_uid[meta["uid"]] = (resource, meta.get("namespace") or "", meta["name"])
        self._emit(resource, "ADDED", obj)
        if meta.get("ownerReferences"):
            self._spawn(self.collect(resource, meta.get("namespace"), meta["name"], meta["uid"]))
        return clone(obj)

    def prepare_update(self, resource: str, obj: dict, *, subresource: str | None = None) -> tuple[dict, dict]:
        """-> (old, new) without storing anything."""
        info = RESOURCES[resource]
        meta = obj.get("metadata") or {}
        key = _key(resource, meta.get("namespace"), meta.get("name", ""))
        old = self._table(resource).get(key)
        if old is None:
            raise NotFound(f'{resource}{"." + info.group if info.group else ""} "{meta.get("name", "")}" not found')
        rv = meta.get("resourceVersion")
        if rv and str(rv) != old["metadata"]["resourceVersion"]:
            raise Conflict(
                f'Operation cannot be fulfilled on {resource}{"." + info.group if info.group else ""} '
                f'"{meta["name"]}": the object has been modified; please apply your changes to the '
                f"latest version and try again"
            )
        new = clone(obj)
        new["apiVersion"] = info.api_version
        new["kind"] = info.kind
        nmeta = new.setdefault("metadata", {})
        ometa = old["metadata"]
        for k in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in ometa:
                nmeta[k] = ometa[k]
            else:
                nmeta.pop(k, None)
        if "generation" in ometa:
            nmeta["generation"] = ometa["generation"]
        if "managedFields" not in nmeta and "managedFields" in ometa:
            nmeta["managedFields"] = ometa["managedFields"]
        if subresource == "status":
            keep = {k: v for k, v in new.items() if k in ("status",)}
            base = clone(old)
            base.update(keep)
            if "status" not in new:
                base.pop("status", None)
            # status writes may not change metadata except labels/annotations? keep old metadata
            base["metadata"] = clone(ometa)
            new = base
        elif subresource is None and resource not in ("namespaces",) or subresource == "spec":
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        defaults.apply(resource, new, self, old)
        if "generation" in ometa and _content(new) != _content(old):
            new["metadata"]["generation"] = ometa["generation"] + 1
        return old, new

    async def update(self, resource: str, obj: dict, *, subresource: str | None = None,
                     dry_run: bool = False) -> dict:
        old, new = self.prepare_update(resource, obj, subresource=subresource)
        if dry_run:
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        return await self._store_update(resource, old, new)

    async def _store_update(self, resource: str, old: dict, new: dict) -> dict:
        meta = new["metadata"]
        if self._finished(resource, new):
            self._put(resource, new)
            await self.remove(resource, meta.get("namespace"), meta["name"])
            return clone(new)
        if _same_but_version(old, new):
            return clone(old)
        meta["resourceVersion"] = self._next_rv()
        self._put(resource, new)
        self._emit(resource, "MODIFIED", new)
        if meta.get("ownerReferences") and meta["ownerReferences"] != old["metadata"].get("ownerReferences"):
            self._spawn(self.collect(resource, meta.get("namespace"), meta["name"], meta["uid"]))
        return clone(new)

    @staticmethod
    def _finished(resource: str, obj: dict) -> bool:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if resource == "pods":
            return False  # the kubelet simulation finishes pods via remove()
        if resource == "namespaces":
            return False  # finished by the namespace termination task
        return True

    async def mutate(self, resource: str, namespace: str | None, name: str,
                     fn: Callable[[dict], Any]) -> dict | None:
        old = self._table(resource).get(_key(resource, namespace, name))
        if old is None:
            return None
        new = clone(old)
        fn(new)
        defaults.apply(resource, new, self, old)
        if new == old:
            return clone(old)
        if "generation" in old["metadata"] and _content(new) != _content(old):
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        return await self._store_update(resource, old, new)

    # ---- deleting ------------------------------------------------------------------

    def _dependents(self, owner: dict) -> list[tuple[str, dict]]:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"].get("namespace")
        out = []
        for resource, key in self._by_owner.get(uid) or ():
            obj = self._objects[resource].get(key)
            if obj is None or (ns and obj["metadata"].get("namespace") != ns):
                continue
            out.append((resource, obj))
        order = {r: i for i, r in enumerate(self._objects)}
        out.sort(key=lambda dep: order[dep[0]])
        return out

    async def delete(self, resource: str, namespace: str | None, name: str, *,
                     propagation: str | None = "Background", grace_period: int | None = None,
                     dry_run: bool = False, preconditions: dict | None = None) -> dict:
        info = RESOURCES.get(resource)
        if info is None:
            raise NotFound(f"the server could not find the requested resource ({resource})")
        obj = self._table(resource).get(_key(resource, namespace, name))
        if obj is None:
            raise NotFound(f'{resource}{"." + info.group if info.group else ""} "{name}" not found')
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
                raise Conflict(f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                               f"UID in object meta: {obj['metadata']['uid']}")
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise Conflict(f"Precondition failed: ResourceVersion in precondition: "
                               f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                               f"{obj['metadata']['resourceVersion']}")
        if dry_run:
            return clone(obj)
        meta = obj["metadata"]
        if propagation is None:  # no policy asked: the finalizers the object carries say
            finalizers = meta.get("finalizers") or []
            propagation = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers \
                else "Background"
        if meta.get("deletionTimestamp"):
            if resource == "pods" and grace_period == 0:
                await self.remove(resource, namespace, name)
            return clone(obj)

        if propagation == "Orphan":
            for dres, dep in self._dependents(obj):
                uid = meta["uid"]

                def strip(o: dict, uid: str = uid) -> None:
                    refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                    if refs:
                        o["metadata"]["ownerReferences"] = refs
                    else:
                        o["metadata"].pop("ownerReferences", None)

                await self.mutate(dres, dep["metadata"].get("namespace"), dep["metadata"]["name"], strip)
            if ORPHAN in (meta.get("finalizers") or []):  # orphaned: the garbage collector lets it go
                obj = await self.mutate(resource, namespace, name, _drop_finalizer(ORPHAN)) or obj
                meta = obj["metadata"]

        if propagation == "Foreground" and self._dependents(obj):
            def mark(o: dict) -> None:
                o["metadata"]["deletionTimestamp"] = now()
                o["metadata"]["deletionGracePeriodSeconds"] = 0
                fins = o["metadata"].setdefault("finalizers", [])
                if FOREGROUND not in fins:
                    fins.append(FOREGROUND)

            result = await self.mutate(resource, namespace, name, mark)
            for dres, dep in self._dependents(obj):
                await self.collect(dres, dep["metadata"].get("namespace"), dep["metadata"]["name"])
            await self._check_foreground(meta["uid"])
            return result or clone(obj)

        if resource == "pods" and not (grace_period == 0 or not obj.get("spec", {}).get("nodeName")):
            grace = grace_period if grace_period is not None else obj.get("spec", {}).get(
                "terminationGracePeriodSeconds", 30)

            def terminate(o: dict) -> None:
                o["metadata"]["deletionTimestamp"] = now()
                o["metadata"]["deletionGracePeriodSeconds"] = grace

            return await self.mutate(resource, namespace, name, terminate) or clone(obj)

        if resource == "namespaces":
            def terminating(o: dict) -> None:
                o["metadata"]["deletionTimestamp"] = now()
                o.setdefault("status", {})["phase"] = "Terminating"

            result = await self.mutate(resource, namespace, name, terminating)
            self._spawn(self._terminate_namespace(name))
            return result or clone(obj)

        if meta.get("finalizers"):
            def mark_deleted(o: dict) -> None:
                o["metadata"]["deletionTimestamp"] = now()
                o["metadata"]["deletionGracePeriodSeconds"] = 0

            return await self.mutate(resource, namespace, name, mark_deleted) or clone(obj)

        gone = clone(obj)
        await self.remove(resource, namespace, name)
        return gone

    async def remove(self, resource: str, namespace: str | None, name: str) -> None:
        """Unconditional removal (emits DELETED); dependents are garbage-collected."""
        key = _key(resource, namespace, name)
        self._table(resource)
        obj = self._pop(resource, key)
        if obj is None:
            return
        self._by_uid.pop(obj["metadata"]["uid"], None)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(resource, "DELETED", obj)
        if resource == "pods":
            self.logs.pop((namespace or "", name), None)
        # garbage collection of the dependents whose owners are now all gone
        for dres, dep in self._dependents(obj):
            await self.collect(dres, dep["metadata"].get("namespace"), dep["metadata"]["name"])
        # foreground owners waiting for this dependent
        for ref in obj["metadata"].get("ownerReferences") or []:
            await self._check_foreground(ref.get("uid"))

    async def _check_foreground(self, owner_uid: str | None) -> None:
        where = self._by_uid.get(owner_uid or "")
        if not where:
            return
        resource, ns, name = where
        owner = self._objects[resource].get(_key(resource, ns, name))
        if owner is None or FOREGROUND not in (owner["metadata"].get("finalizers") or []):
            return
        if self._blocking_dependents(owner):
            return
        await self.mutate(resource, ns, name, _drop_finalizer(FOREGROUND))

    def _blocking_dependents(self, owner: dict) -> list[tuple[str, dict]]:
        """The dependents that hold a foreground deletion: their reference says blockOwnerDeletion."""
        uid = owner["metadata"]["uid"]
        return [(r, o) for r, o in self._dependents(owner)
                if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                       for ref in o["metadata"].get("ownerReferences") or [])]

    # ---- the garbage collector ------------------------------------------------------------

    def _owner_state(self, dependent: dict, ref: dict) -> str:
        """What an owner reference points at, found as the garbage collector finds it: by kind and
        name in the dependent's namespace (or cluster-wide), then compared by uid."""
        group, _, version = str(ref.get("apiVersion") or "").rpartition("/")
        info = RESOURCES.get(KIND_TO_RESOURCE.get(str(ref.get("kind")), ""))
        if info is None or info.group != group or info.version != version or not ref.get("name"):
            return UNRESOLVABLE  # a kind this server does not serve: left alone, as a real collector does
        namespace = dependent["metadata"].get("namespace")
        if info.namespaced and not namespace:
            return UNRESOLVABLE  # a cluster-scoped object cannot be owned by a namespaced one
        owner = self._objects[info.name].get(_key(info.name, namespace, ref["name"]))
        if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
            return DANGLING
        if owner["metadata"].get("deletionTimestamp") and FOREGROUND in (owner["metadata"].get("finalizers") or []):
            return WAITING
        return SOLID

    async def collect(self, resource: str, namespace: str | None, name: str, uid: str | None = None) -> None:
        """The garbage collector's look at one object (attemptToDeleteItem): deleted when none of
        its owners remains, its references to vanished owners removed when some do."""
        try:
            obj = self._table(resource).get(_key(resource, namespace, name))
            if obj is None or (uid and obj["metadata"]["uid"] != uid):
                return
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if not refs:
                return
            if meta.get("deletionTimestamp"):
                if FOREGROUND in (meta.get("finalizers") or []):
                    await self._check_foreground(meta["uid"])
                return
            states = {ref.get("uid"): self._owner_state(obj, ref) for ref in refs}
            if UNRESOLVABLE in states.values():
                return
            if SOLID in states.values():
                gone = {u for u, state in states.items() if state in (DANGLING, WAITING)}
                if gone:
                    def strip(o: dict) -> None:
                        o["metadata"]["ownerReferences"] = [
                            r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") not in gone]

                    await self.mutate(resource, namespace, name, strip)
                return
            finalizers = meta.get("finalizers") or []
            if WAITING in states.values() and self._dependents(obj):
                policy = "Foreground"
            else:
                policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers \
                    else "Background"
            await self.delete(resource, namespace, name, propagation=policy)
        except NotFound:
            pass
        except Exception:  # pragma: no cover - logged, never fatal
            log.exception("garbage collection of %s %s/%s failed", resource, namespace, name)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _terminate_namespace(self, namespace: str) -> None:
        """Delete everything in the namespace, wait until it is empty, then remove it."""
        delay = getattr(self.config.delays, "namespace_terminate", 0.05)
        try:
            while True:
                remaining = 0
                for resource, by_namespace in self._by_namespace.items():
                    if resource in CLUSTER_SCOPED:
                        continue
                    for name, obj in list((by_namespace.get(namespace) or {}).items()):
                        ns = namespace
                        remaining += 1
                        if resource == "events":
                            await self.remove(resource, ns, name)
                        elif not obj["metadata"].get("deletionTimestamp"):
                            try:
                                await self.delete(resource, ns, name)
                            except NotFound:
                                pass
                if remaining == 0:
                    break
                await asyncio.sleep(delay)
            await asyncio.sleep(delay)
            await self.remove("namespaces", None, namespace)
        except Exception:  # pragma: no cover - logged, never fatal
            log.exception("terminating namespace %s failed", namespace)

    # ---- logs ---------------------------------------------------------------------------

    def append_log(self, namespace: str, pod: str, *lines: str) -> None:
        """Append log lines of a pod and wake followers (same as appending to store.logs)."""
        self.logs.setdefault((namespace, pod), []).extend(lines)
        self.notify_logs(namespace, pod)

    def notify_logs(self, namespace: str, pod: str) -> None:
        ev = self._log_waiters.pop((namespace, pod), None)
        if ev:
            ev.set()

    def log_waiter(self, namespace: str, pod: str) -> asyncio.Event:
        return self._log_waiters.setdefault((namespace, pod), asyncio.Event())

    # ---- events ---------------------------------------------------------------------------

    async def record_event(self, involved: dict, reason: str, message: str, type: str = "Normal",
                           component: str = "sandbox") -> None:
        meta = involved.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        ref = {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace") or "",
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if not ref["namespace"]:
            ref.pop("namespace")
        ts = now()
        same = self._event_keys.get((namespace, ref["uid"], ref["name"], reason, message, type, component))
        if same is not None:
            def bump(o: dict) -> None:
                o["count"] = o.get("count", 1) + 1
                o["lastTimestamp"] = ts

            await self.mutate("events", namespace, same, bump)
            return
        if ("", namespace) not in self._objects["namespaces"]:
            return
        name = f"{meta.get('name', 'unknown')}.{secrets.token_hex(8)}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type,
            "source": {"component": component},
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": "",
            "eventTime": None,
        }
        try:
            await self.create("events", event)
        except StoreError:
            log.debug("could not record event %s", reason)

    # ---- service IPs ---------------------------------------------------------------------

    def allocate_cluster_ip(self) -> str:
        used = {s.get("spec", {}).get("clusterIP") for s in self._objects["services"].values()}
        net: ipaddress.IPv4Network = ipaddress.IPv4Network(self.config.service_cidr)
        for i, ip in enumerate(net.hosts()):
            if i == 0:
                continue  # .1 is the kubernetes service by convention
            if str(ip) not in used:
                return str(ip)
        raise Invalid("service IP range is full")

    def allocate_node_port(self) -> int:
        used = set()
        for s in self._objects["services"].values():
            for p in s.get("spec", {}).get("ports") or []:
                if p.get("nodePort"):
                    used.add(p["nodePort"])
        for port in range(30000 + secrets.randbelow(2000), 32768):
            if port not in used:
                return port
        for port in range(30000, 32768):
            if port not in used:
                return port
        raise Invalid("provided port range is full")

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for sub in list(self._subs):
            sub.close()
