"""The observed state of each watched namespace, kept in Redis by the watcher.

A (re)connecting socket and the checks read the present from here without
calling the Kubernetes API. Objects are stored as the API's JSON (camelCase),
slimmed of managedFields and the last-applied annotation.

Layout: one hash per namespace, `liveops:state:<cluster>:<namespace>`, whose
fields are `<kind>/<name>` and values the object's JSON; one set per cluster,
`liveops:state:<cluster>:namespaces`, naming the namespaces that have a hash.
"""

from __future__ import annotations

import json
import threading

import redis
from django.conf import settings

from clouds.kube.kinds import NAMESPACED_KINDS as KINDS
from clouds.kube.objects import slim

PREFIX = "liveops:state"

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def client() -> redis.Redis:
    """A Redis client for settings.REDIS_URL, pooled per process and sized for mass reconnects."""
    url = settings.REDIS_URL
    with _lock:
        r = _clients.get(url)
        if r is None:
            pool = redis.BlockingConnectionPool.from_url(url, max_connections=400, timeout=10)
            r = redis.Redis(connection_pool=pool)
            _clients[url] = r
        return r


def _ns_key(cluster_id, namespace: str) -> str:
    return f"{PREFIX}:{cluster_id}:{namespace}"


def _index_key(cluster_id) -> str:
    return f"{PREFIX}:{cluster_id}:namespaces"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")


def _dump(obj: dict) -> str:
    return json.dumps(slim(obj), separators=(",", ":"), sort_keys=True)


def save_object(cluster_id, namespace: str, kind: str, obj: dict) -> dict:
    """Store the object's current state; returns it as stored (slimmed)."""
    _check_kind(kind)
    data = _dump(obj)
    name = obj["metadata"]["name"]
    pipe = client().pipeline()
    pipe.sadd(_index_key(cluster_id), namespace)
    pipe.hset(_ns_key(cluster_id, namespace), f"{kind}/{name}", data)
    pipe.execute()
    return json.loads(data)


def delete_object(cluster_id, namespace: str, kind: str, name: str) -> None:
    _check_kind(kind)
    client().hdel(_ns_key(cluster_id, namespace), f"{kind}/{name}")


def empty_state() -> dict[str, dict[str, dict]]:
    return {kind: {} for kind in KINDS}


def load_namespace(cluster_id, namespace: str, kinds=None) -> dict[str, dict[str, dict]]:
    """{kind: {name: object}} for every kind of KINDS (empty dicts when none); with `kinds`, only those are
    read (the others stay empty): a subscriber that looks at Services need not decode every pod."""
    key = _ns_key(cluster_id, namespace)
    if kinds is None:
        return state_from_raw(client().hgetall(key))
    raw = {}
    for kind in kinds:
        if kind in KINDS:
            raw.update(client().hscan_iter(key, match=f"{kind}/*", count=1000))
    return state_from_raw(raw)


def namespace_key(cluster_id, namespace: str) -> str:
    """The namespace's hash, for a reader that fetches it with other keys (state_from_raw decodes it)."""
    return _ns_key(cluster_id, namespace)


def state_from_raw(raw: dict[bytes, bytes]) -> dict[str, dict[str, dict]]:
    """The state held by the namespace's raw hash (as HGETALL returns it)."""
    state = empty_state()
    for field, value in raw.items():
        kind, _, name = field.decode().partition("/")
        if kind in state:
            state[kind][name] = json.loads(value)
    return state


def load_object(cluster_id, namespace: str, kind: str, name: str) -> dict | None:
    _check_kind(kind)
    raw = client().hget(_ns_key(cluster_id, namespace), f"{kind}/{name}")
    return json.loads(raw) if raw is not None else None


def namespaces(cluster_id) -> set[str]:
    return {n.decode() for n in client().smembers(_index_key(cluster_id))}


def clear_namespace(cluster_id, namespace: str) -> None:
    pipe = client().pipeline()
    pipe.delete(_ns_key(cluster_id, namespace))
    pipe.srem(_index_key(cluster_id), namespace)
    pipe.execute()


def replace_kind(
    cluster_id, kind: str, objects_by_namespace: dict[str, list[dict]], only: set[str] | None = None
) -> list[tuple[str, str, dict | None]]:
    """Make the stored objects of one kind exactly those given (after a relist).

    Namespaces not in objects_by_namespace lose every object of this kind
    (restricted to the namespaces in `only` when it is given, e.g. for the
    sync of a single namespace). Returns what changed as
    (namespace, name, object or None when it went away).
    """
    _check_kind(kind)
    r = client()
    targets = set(objects_by_namespace)
    targets |= set(only) if only is not None else namespaces(cluster_id)
    changes: list[tuple[str, str, dict | None]] = []
    prefix = f"{kind}/"
    pipe = r.pipeline()
    for namespace in sorted(targets):
        key = _ns_key(cluster_id, namespace)
        current = {
            f.decode()[len(prefix):]: v.decode()
            for f, v in r.hgetall(key).items()
            if f.decode().startswith(prefix)
        }
        wanted = {o["metadata"]["name"]: _dump(o) for o in objects_by_namespace.get(namespace, [])}
        gone = [name for name in current if name not in wanted]
        if gone:
            pipe.hdel(key, *[prefix + name for name in gone])
            changes.extend((namespace, name, None) for name in gone)
        fresh = {name: data for name, data in wanted.items() if current.get(name) != data}
        if fresh:
            pipe.sadd(_index_key(cluster_id), namespace)
            pipe.hset(key, mapping={prefix + name: data for name, data in fresh.items()})
            changes.extend((namespace, name, json.loads(data)) for name, data in fresh.items())
    pipe.execute()
    return changes
