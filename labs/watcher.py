"""The cluster watcher: ONE watch per cluster and kind, fanned out to session groups.

For every cluster (clouds.Cluster rows, re-read periodically) it runs one
thread per kind of labs.state.KINDS plus one for namespaces, each an informer:
list, then watch from the list's resourceVersion (with bookmarks), relist on
410 Gone, reconnect with backoff on errors. Only namespaces labelled
`liveops.dev/session=<session hex>` are kept. On every change it updates
labs.state, publishes the object's whole state to the session's group, and
schedules the checks hook (debounced per namespace, run in worker threads).

The number of Kubernetes API connections is 7 per cluster, whatever the
number of sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from labs import state as live_state

logger = logging.getLogger(__name__)

SESSION_LABEL = "liveops.dev/session"
NAMESPACES = "namespaces"
CHECKS_INTERVAL = 0.3
WATCH_TIMEOUT = 290  # seconds the server keeps one watch open (randomised a little)
CONNECT_TIMEOUT = 5
LIST_TIMEOUT = 30
MAX_BACKOFF = 30.0
MAX_PENDING_SENDS = 10000

# kind -> (API class, list across namespaces, list in one namespace)
LISTERS = {
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod"),
    "deployments": ("AppsV1Api", "list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    "replicasets": ("AppsV1Api", "list_replica_set_for_all_namespaces", "list_namespaced_replica_set"),
    "services": ("CoreV1Api", "list_service_for_all_namespaces", "list_namespaced_service"),
    "endpoints": ("CoreV1Api", "list_endpoints_for_all_namespaces", "list_namespaced_endpoints"),
    "events": ("CoreV1Api", "list_event_for_all_namespaces", "list_namespaced_event"),
}


class Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): relist."""


class Stopped(Exception):
    pass


# -- publishing ---------------------------------------------------------------


class Publisher:
    """Sends channel-layer messages from one event loop in its own thread.

    publish() never waits for Redis: it queues the send and returns. If Redis
    stalls and too many sends pile up, new ones are dropped (each message
    carries the whole state, so the next one, or a reconnect, heals it).
    """

    def __init__(self, max_pending: int = MAX_PENDING_SENDS):
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.max_pending = max_pending
        self.pending = 0
        self.sent = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.loop.run_forever, name="watcher-publisher", daemon=True)
        self._thread.start()

    def publish(self, group: str, message: dict) -> None:
        with self._lock:
            if self.pending >= self.max_pending:
                self.dropped += 1
                return
            self.pending += 1
        future = asyncio.run_coroutine_threadsafe(self.layer.group_send(group, message), self.loop)
        future.add_done_callback(self._done)

    def _done(self, future) -> None:
        with self._lock:
            self.pending -= 1
            self.sent += 1
        exc = future.exception()
        if exc is not None:
            logger.warning("could not publish a change: %s", exc)

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending

    def stop(self) -> None:
        self.flush(2)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


# -- checks hook --------------------------------------------------------------


def _checks_hook():
    from labs.checks import on_namespace_change

    return on_namespace_change


class ChecksDebouncer:
    """Calls the checks hook for a namespace at most every `interval` seconds.

    The first change schedules a call `interval` later (so a burst becomes one
    call that sees its end); calls run in worker threads, never two at a time
    for the same namespace, so a slow check never blocks the watch.
    """

    def __init__(self, interval: float = CHECKS_INTERVAL, workers: int = 4, hook=None):
        self.interval = interval
        self.hook = hook
        self._due: dict[tuple, float] = {}
        self._running: set[tuple] = set()
        self._again: set[tuple] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="watcher-checks")
        self.calls = 0
        self._thread = threading.Thread(target=self._run, name="watcher-checks-timer", daemon=True)
        self._thread.start()

    def touch(self, cluster_id, namespace: str, session_hex: str) -> None:
        key = (cluster_id, namespace, session_hex)
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
                    ready = [k for k, t in self._due.items() if t <= now]
                    if ready:
                        break
                    wait = min(self._due.values()) - now if self._due else None
                    self._cond.wait(wait)
                if self._stop:
                    return
                for key in ready:
                    del self._due[key]
                    self._running.add(key)
            for key in ready:
                self._pool.submit(self._call, key)

    def _call(self, key) -> None:
        cluster_id, namespace, session_hex = key
        try:
            hook = self.hook or _checks_hook()
            if hook is not None:
                from django.db import close_old_connections

                close_old_connections()
                try:
                    hook(uuid.UUID(session_hex), live_state.load_namespace(cluster_id, namespace))
                    self.calls += 1
                finally:
                    close_old_connections()
        except Exception:
            logger.exception("checks of namespace %s failed", namespace)
        finally:
            with self._cond:
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


# -- one cluster --------------------------------------------------------------


def kubeconfig_of(cluster) -> dict:
    if cluster.kubeconfig:
        return yaml.safe_load(cluster.kubeconfig)
    with open(cluster.kubeconfig_path) as fh:
        return yaml.safe_load(fh)


def config_key(cluster) -> str:
    """Changes whenever the way to reach the cluster changes (e.g. the sandbox restarted)."""
    data = kubeconfig_of(cluster)
    return hashlib.sha256(json.dumps([data, cluster.context], sort_keys=True).encode()).hexdigest()


def new_api_client(kubeconfig: dict, context: str | None) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config_from_dict(kubeconfig, context=context or None, client_configuration=configuration)
    configuration.connection_pool_maxsize = len(LISTERS) + 4
    configuration.retries = False
    return client.ApiClient(configuration)


class ClusterWatcher:
    """The informers of one cluster: namespaces plus every kind of labs.state.KINDS."""

    def __init__(self, cluster_id, api_client: client.ApiClient, publisher: Publisher, checks: ChecksDebouncer,
                 key: str = ""):
        self.cluster_id = cluster_id
        self.api_client = api_client
        self.key = key
        self.publisher = publisher
        self.checks = checks
        self.namespaces: dict[str, str] = {}  # namespace -> session hex
        self.namespaces_ready = threading.Event()
        self.kind_locks = {kind: threading.Lock() for kind in LISTERS}
        self.stats: Counter = Counter()  # "watch:<kind>" -> watch requests made, "list:<kind>", "relist:<kind>"
        self.open_watches: Counter = Counter()
        self._responses: dict[str, object] = {}
        self._stopping = threading.Event()
        self._sync_queue: list[str] = []
        self._sync_cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    # lifecycle

    def start(self) -> None:
        targets = [(NAMESPACES, self._inform_namespaces), *[(kind, self._inform_kind) for kind in LISTERS]]
        for kind, target in targets:
            thread = threading.Thread(target=self._guard, args=(kind, target), daemon=True,
                                      name=f"watch-{self.cluster_id}-{kind}")
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self._sync_loop, daemon=True, name=f"sync-{self.cluster_id}"))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._sync_cond:
            self._sync_cond.notify_all()
        for resp in list(self._responses.values()):
            _shutdown(resp)
        for thread in self._threads:
            thread.join(5)
        self.api_client.close()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # the informer loop

    def _guard(self, kind: str, target) -> None:
        """Run one informer forever: backoff on errors, relist on 410."""
        backoff = 0.5
        while not self.stopping:
            started = time.monotonic()
            try:
                target(kind)
            except Stopped:
                return
            except Exception as exc:
                if self.stopping:
                    return
                if time.monotonic() - started > 30:
                    backoff = 0.5
                delay = backoff * (0.8 + random.random() * 0.4)
                logger.warning("cluster %s %s: %s; retrying in %.1fs", self.cluster_id, kind, _explain(exc), delay)
                self._stopping.wait(delay)
                backoff = min(backoff * 2, MAX_BACKOFF)
            else:
                backoff = 0.5

    def _api(self, name: str):
        return getattr(client, name)(self.api_client)

    def _list(self, kind: str, namespace: str | None = None) -> tuple[list[dict], str]:
        if kind == NAMESPACES:
            func = client.CoreV1Api(self.api_client).list_namespace
            kwargs = {"label_selector": SESSION_LABEL}
        else:
            api, all_ns, one_ns = LISTERS[kind]
            func = getattr(self._api(api), one_ns if namespace else all_ns)
            kwargs = {"namespace": namespace} if namespace else {}
        self.stats[f"list:{kind}"] += 1
        resp = func(**kwargs, _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))
        data = json.loads(resp.data)
        return data.get("items") or [], (data.get("metadata") or {}).get("resourceVersion") or ""

    def _watch(self, kind: str, resource_version: str, on_event) -> str:
        """Stream changes from resource_version until the server closes; returns the last version seen."""
        if kind == NAMESPACES:
            func = client.CoreV1Api(self.api_client).list_namespace
            kwargs = {"label_selector": SESSION_LABEL}
        else:
            api, all_ns, _ = LISTERS[kind]
            func = getattr(self._api(api), all_ns)
            kwargs = {}
        timeout = WATCH_TIMEOUT + random.randrange(0, 20)
        self.stats[f"watch:{kind}"] += 1
        try:
            resp = func(**kwargs, watch=True, resource_version=resource_version, allow_watch_bookmarks=True,
                        timeout_seconds=timeout, _preload_content=False,
                        _request_timeout=(CONNECT_TIMEOUT, timeout + 30))
        except ApiException as exc:
            if exc.status == 410:
                raise Expired() from exc
            raise
        self._responses[kind] = resp
        self.open_watches[kind] += 1
        try:
            for line in iter_resp_lines(resp):
                if self.stopping:
                    raise Stopped()
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                kind_of_event = event.get("type")
                if kind_of_event == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired()
                    raise ApiException(status=obj.get("code"), reason=f"{obj.get('reason')}: {obj.get('message')}")
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if kind_of_event != "BOOKMARK":
                    on_event(kind_of_event, obj)
                if version:
                    resource_version = version
        except Exception:
            if self.stopping:
                raise Stopped() from None
            raise
        finally:
            self.open_watches[kind] -= 1
            self._responses.pop(kind, None)
            resp.close()
            resp.release_conn()
        return resource_version

    def _informer(self, kind: str, relist, on_event, version: str | None = None) -> None:
        """List, then watch from the list's version; relist when the version expired."""
        if version is None:
            version = relist()
        while not self.stopping:
            try:
                version = self._watch(kind, version, on_event)
            except Expired:
                logger.info("cluster %s %s: watch expired, relisting", self.cluster_id, kind)
                self.stats[f"relist:{kind}"] += 1
                version = relist()

    # namespaces

    def _inform_namespaces(self, kind: str) -> None:
        self._informer(NAMESPACES, self._relist_namespaces, self._on_namespace)

    def _relist_namespaces(self) -> str:
        items, version = self._list(NAMESPACES)
        current = {}
        for ns in items:
            session = (ns["metadata"].get("labels") or {}).get(SESSION_LABEL)
            if session:
                current[ns["metadata"]["name"]] = session
        for name in set(self.namespaces) - set(current):
            self._forget_namespace(name)
        for name in live_state.namespaces(self.cluster_id) - set(current):
            live_state.clear_namespace(self.cluster_id, name)
        for name, session in current.items():
            self._learn_namespace(name, session)
        self.namespaces_ready.set()
        return version

    def _on_namespace(self, event_type: str, ns: dict) -> None:
        name = ns["metadata"]["name"]
        session = (ns["metadata"].get("labels") or {}).get(SESSION_LABEL)
        if event_type == "DELETED" or not session:
            self._forget_namespace(name)
        else:
            self._learn_namespace(name, session)

    def _learn_namespace(self, name: str, session: str) -> None:
        known = self.namespaces.get(name)
        self.namespaces[name] = session
        if known != session and self.namespaces_ready.is_set():
            # Objects may have been made before we knew the namespace: list them once.
            with self._sync_cond:
                self._sync_queue.append(name)
                self._sync_cond.notify()

    def _forget_namespace(self, name: str) -> None:
        if self.namespaces.pop(name, None) is not None:
            live_state.clear_namespace(self.cluster_id, name)

    def _sync_loop(self) -> None:
        """Lists each kind in namespaces that just became session namespaces (one at a time)."""
        while not self.stopping:
            with self._sync_cond:
                while not self._sync_queue and not self.stopping:
                    self._sync_cond.wait()
                if self.stopping:
                    return
                namespace = self._sync_queue.pop(0)
            try:
                self.sync_namespace(namespace)
            except Exception as exc:
                logger.warning("cluster %s: could not list namespace %s: %s", self.cluster_id, namespace,
                               _explain(exc))
                self._stopping.wait(1)
                with self._sync_cond:
                    if namespace in self.namespaces:
                        self._sync_queue.append(namespace)

    def sync_namespace(self, namespace: str) -> None:
        for kind in LISTERS:
            with self.kind_locks[kind]:
                session = self.namespaces.get(namespace)
                if session is None:
                    return
                items, _ = self._list(kind, namespace)
                changes = live_state.replace_kind(self.cluster_id, kind, {namespace: items}, only={namespace})
            for ns, name, obj in changes:
                self._announce(ns, kind, name, obj)

    # objects

    def _inform_kind(self, kind: str) -> None:
        while not self.namespaces_ready.wait(0.5):
            if self.stopping:
                raise Stopped()
        self._informer(kind, lambda: self._relist_kind(kind), lambda t, o: self._on_object(kind, t, o))

    def _relist_kind(self, kind: str) -> str:
        with self.kind_locks[kind]:
            items, version = self._list(kind)
            by_namespace: dict[str, list[dict]] = {}
            for obj in items:
                namespace = obj["metadata"].get("namespace")
                if namespace in self.namespaces:
                    by_namespace.setdefault(namespace, []).append(obj)
            changes = live_state.replace_kind(
                self.cluster_id, kind, by_namespace, only=set(self.namespaces) | live_state.namespaces(self.cluster_id)
            )
        for namespace, name, obj in changes:
            self._announce(namespace, kind, name, obj)
        return version

    def _on_object(self, kind: str, event_type: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace")
        if namespace not in self.namespaces:
            return
        name = meta["name"]
        with self.kind_locks[kind]:
            if event_type == "DELETED":
                live_state.delete_object(self.cluster_id, namespace, kind, name)
                stored = None
            else:
                stored = live_state.save_object(self.cluster_id, namespace, kind, obj)
        self._announce(namespace, kind, name, stored)

    def _announce(self, namespace: str, kind: str, name: str, obj: dict | None) -> None:
        session = self.namespaces.get(namespace)
        if session is None:
            return
        self.stats[f"change:{kind}"] += 1
        self.publisher.publish(
            f"session-{session}", {"type": "object.changed", "kind": kind, "name": name, "object": obj}
        )
        self.checks.touch(self.cluster_id, namespace, session)


def _shutdown(resp) -> None:
    import socket

    try:
        sock = resp.connection.sock if getattr(resp, "connection", None) else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass


def _explain(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


# -- every cluster ------------------------------------------------------------


class Watcher:
    """Keeps one ClusterWatcher per clouds.Cluster row, re-reading the rows every `refresh` seconds."""

    def __init__(self, refresh: float = 15.0, publisher: Publisher | None = None,
                 checks: ChecksDebouncer | None = None):
        self.refresh = refresh
        self.publisher = publisher or Publisher()
        self.checks = checks or ChecksDebouncer()
        self.clusters: dict[int, ClusterWatcher] = {}
        self._stop = threading.Event()

    def reconcile(self) -> None:
        from django.db import close_old_connections

        from clouds.models import Cluster

        close_old_connections()
        seen = set()
        for cluster in Cluster.objects.all():
            seen.add(cluster.pk)
            try:
                key = config_key(cluster)
            except Exception as exc:
                logger.warning("cluster %s: no usable kubeconfig (%s)", cluster, exc)
                continue
            current = self.clusters.get(cluster.pk)
            if current is not None and current.key == key:
                continue
            if current is not None:
                logger.info("cluster %s: kubeconfig changed, restarting its watches", cluster)
                current.stop()
            try:
                api = new_api_client(kubeconfig_of(cluster), cluster.context)
            except Exception as exc:
                logger.warning("cluster %s: cannot build a client (%s)", cluster, exc)
                self.clusters.pop(cluster.pk, None)
                continue
            watcher = ClusterWatcher(cluster.pk, api, self.publisher, self.checks, key=key)
            watcher.start()
            self.clusters[cluster.pk] = watcher
            logger.info("watching cluster %s", cluster)
        for pk in set(self.clusters) - seen:
            self.clusters.pop(pk).stop()
        close_old_connections()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:
                logger.exception("could not read the clusters")
            self._stop.wait(self.refresh)

    def stop(self) -> None:
        self._stop.set()
        for watcher in list(self.clusters.values()):
            watcher.stop()
        self.clusters.clear()
        self.checks.stop()
        self.publisher.stop()
