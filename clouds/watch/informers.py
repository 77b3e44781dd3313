"""The cluster watcher: ONE watch per cluster and kind, serving every subscriber.

For every cluster (clouds.Cluster rows, re-read periodically) it runs one
thread per kind that any subscription follows, plus one for namespaces, each
an informer: list, then watch from the list's resourceVersion (with
bookmarks), relist on 410 Gone, reconnect with backoff on errors. Only
namespaces carrying a subscription's label are kept. On every change it
updates the observed state (clouds.watch.state), publishes what each
subscription's `on_change` returns, and schedules each subscription's
`on_settled` (debounced per namespace, run in worker threads).

The number of Kubernetes API connections is one per watched kind plus one per
cluster, whatever the number of sessions or subscribers.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections import Counter

from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

from clouds.kube.connect import config_key, kubeconfig_of, new_api_client
from clouds.kube.kinds import CLUSTER_KINDS, KINDS, NAMESPACED_KINDS
from clouds.watch import heartbeat
from clouds.watch import state as live_state
from clouds.watch.debouncer import Debouncer
from clouds.watch.publisher import Publisher
from clouds.watch.subscriptions import Change, Subscription, subscriptions

logger = logging.getLogger(__name__)

NAMESPACES = "namespaces"
WATCH_TIMEOUT = 290  # seconds the server keeps one watch open (randomised a little)
CONNECT_TIMEOUT = 5
LIST_TIMEOUT = 30
MAX_BACKOFF = 30.0
HEARTBEAT_INTERVAL = 5.0
STOP_TIMEOUT = 5.0  # seconds stop() waits, in all, for a cluster's threads (they are daemons: exit goes on)


class Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): relist."""


class Stopped(Exception):
    pass


def settle(key) -> None:
    """Run a subscription's on_settled for one namespace (the Debouncer's call), with its observed state."""
    from django.db import close_old_connections

    subscription, cluster_id, namespace, owner = key
    close_old_connections()
    try:
        if not subscription.settled_state:
            state = None
        else:
            # Only the kinds it follows: the balancer controller reads Services, never the pods.
            state = live_state.load_namespace(cluster_id, namespace, kinds=subscription.kinds) if namespace else {}
        subscription.on_settled(cluster_id, namespace, owner, state)
    finally:
        close_old_connections()


def settle_many(keys: list) -> None:
    """The Debouncer's batch: each subscription that takes namespaces in bulk (`on_settled_many`) gets its
    share in one call; the others one call per namespace, as `settle`."""
    bulk: dict[Subscription, list] = {}
    for key in keys:
        subscription, cluster_id, namespace, owner = key
        if subscription.on_settled_many is not None and namespace:
            bulk.setdefault(subscription, []).append((cluster_id, namespace, owner))
        elif subscription.on_settled is not None:
            try:
                settle(key)
            except Exception:
                logger.exception("%s failed on namespace %s", subscription.name, namespace)
    for subscription, namespaces in bulk.items():
        try:
            subscription.on_settled_many(namespaces)
        except Exception:
            logger.exception("%s failed on %d namespaces", subscription.name, len(namespaces))


SETTLE_GATHER = 0.05  # seconds early a namespace may settle to join a batch


def new_debouncer() -> Debouncer:
    return Debouncer(settle, call_many=settle_many, gather=SETTLE_GATHER)


# -- one cluster --------------------------------------------------------------


class ClusterWatcher:
    """The informers of one cluster: namespaces plus every kind some subscription follows."""

    def __init__(self, cluster_id, api_client, publisher: Publisher, debouncer: Debouncer,
                 subscriptions: list[Subscription], key: str = ""):
        self.cluster_id = cluster_id
        self.api_client = api_client
        self.key = key
        self.publisher = publisher
        self.debouncer = debouncer
        self.subscriptions = list(subscriptions)
        wanted = {k for sub in self.subscriptions for k in sub.kinds}
        self.kinds = tuple(k for k in NAMESPACED_KINDS if k in wanted)
        self.cluster_kinds = tuple(k for k in CLUSTER_KINDS if k in wanted)
        self.labels = sorted({sub.namespace_label for sub in self.subscriptions if sub.namespace_label})
        # One label: the server filters namespaces; several: every namespace is listed and filtered here.
        self.namespace_selector = self.labels[0] if len(self.labels) == 1 else None
        self.namespaces: dict[str, dict[str, str]] = {}  # namespace -> {followed label: value}
        self.namespaces_ready = threading.Event()
        self.kind_locks = {kind: threading.Lock() for kind in self.kinds}
        self.cluster_objects: dict[str, dict[str, str]] = {k: {} for k in self.cluster_kinds}  # kind -> name -> rv
        self.stats: Counter = Counter()  # "watch:<kind>" -> watch requests made, "list:<kind>", "relist:<kind>"
        self.open_watches: Counter = Counter()
        self._responses: dict[str, object] = {}
        self._stopping = threading.Event()
        self.last_heard = 0.0  # time.time() of the last line any watch received (events and bookmarks)
        self._sync_queue: list[str] = []
        self._sync_cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    # lifecycle

    def start(self) -> None:
        targets = [(NAMESPACES, self._inform_namespaces), *[(kind, self._inform_kind) for kind in self.kinds],
                   *[(kind, self._inform_cluster_kind) for kind in self.cluster_kinds]]
        for kind, target in targets:
            thread = threading.Thread(target=self._guard, args=(kind, target), daemon=True,
                                      name=f"watch-{self.cluster_id}-{kind}")
            self._threads.append(thread)
        self._threads.append(threading.Thread(target=self._sync_loop, daemon=True, name=f"sync-{self.cluster_id}"))
        for thread in self._threads:
            thread.start()

    def begin_stop(self) -> None:
        """Tell every thread to end, and end their watches' reads now: a thread blocked reading a quiet
        watch would otherwise wait for its next line (a bookmark, up to a minute away)."""
        self._stopping.set()
        with self._sync_cond:
            self._sync_cond.notify_all()
        for resp in list(self._responses.values()):
            _shutdown(resp)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.begin_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
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

    def _lister(self, kind: str, namespace: str | None = None):
        """The client call listing (or watching) a kind, and its arguments."""
        if kind == NAMESPACES:
            func = KINDS["namespaces"].list_all(self.api_client)
            return func, ({"label_selector": self.namespace_selector} if self.namespace_selector else {})
        if namespace:
            return KINDS[kind].list_in(self.api_client), {"namespace": namespace}
        return KINDS[kind].list_all(self.api_client), {}

    def _list(self, kind: str, namespace: str | None = None) -> tuple[list[dict], str]:
        func, kwargs = self._lister(kind, namespace)
        self.stats[f"list:{kind}"] += 1
        resp = func(**kwargs, _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT))
        data = json.loads(resp.data)
        return data.get("items") or [], (data.get("metadata") or {}).get("resourceVersion") or ""

    def _watch(self, kind: str, resource_version: str, on_event) -> str:
        """Stream changes from resource_version until the server closes; returns the last version seen."""
        func, kwargs = self._lister(kind)
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
            if self.stopping:  # stop() began while this watch was opening: it did not see the response
                raise Stopped()
            for line in iter_resp_lines(resp):
                if self.stopping:
                    raise Stopped()
                if not line:
                    continue
                self.last_heard = time.time()
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
        if self.stopping:  # stopped while this thread was still starting (a first import can take seconds)
            raise Stopped()
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
            followed = self._followed_labels(ns)
            if followed:
                current[ns["metadata"]["name"]] = followed
        for name in set(self.namespaces) - set(current):
            self._forget_namespace(name)
        for name in live_state.namespaces(self.cluster_id) - set(current):
            live_state.clear_namespace(self.cluster_id, name)
        for name, followed in current.items():
            self._learn_namespace(name, followed)
        self.namespaces_ready.set()
        return version

    def _followed_labels(self, ns: dict) -> dict[str, str]:
        labels = ns["metadata"].get("labels") or {}
        return {label: labels[label] for label in self.labels if labels.get(label)}

    def _on_namespace(self, event_type: str, ns: dict) -> None:
        name = ns["metadata"]["name"]
        followed = self._followed_labels(ns)
        if event_type == "DELETED" or not followed:
            self._forget_namespace(name)
        else:
            self._learn_namespace(name, followed)

    def _learn_namespace(self, name: str, followed: dict[str, str]) -> None:
        known = self.namespaces.get(name)
        self.namespaces[name] = followed
        if known != followed and self.namespaces_ready.is_set():
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
        for kind in self.kinds:
            with self.kind_locks[kind]:
                if namespace not in self.namespaces:
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
        seen_at = time.time()
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
        self._announce(namespace, kind, name, stored, seen_at)

    # cluster-scoped objects (nodes): not kept in the observed state, only announced

    def _inform_cluster_kind(self, kind: str) -> None:
        self._informer(kind, lambda: self._relist_cluster_kind(kind), lambda t, o: self._on_cluster_object(kind, t, o))

    def _relist_cluster_kind(self, kind: str) -> str:
        items, version = self._list(kind)
        known = self.cluster_objects[kind]
        current = {o["metadata"]["name"]: o for o in items}
        for name in set(known) - set(current):
            known.pop(name, None)
            self._announce_cluster(kind, name, None)
        for name, obj in current.items():
            if known.get(name) != obj["metadata"].get("resourceVersion"):
                known[name] = obj["metadata"].get("resourceVersion")
                self._announce_cluster(kind, name, obj)
        return version

    def _on_cluster_object(self, kind: str, event_type: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.cluster_objects[kind].pop(name, None)
            self._announce_cluster(kind, name, None)
        else:
            self.cluster_objects[kind][name] = obj["metadata"].get("resourceVersion")
            self._announce_cluster(kind, name, obj)

    def _announce_cluster(self, kind: str, name: str, obj: dict | None) -> None:
        self.stats[f"change:{kind}"] += 1
        for sub in self.subscriptions:
            if kind in sub.kinds:
                self._deliver(sub, Change(self.cluster_id, "", "", kind, name, obj))

    def _deliver(self, sub: Subscription, change: Change) -> None:
        if sub.on_change is not None:
            try:
                for group, message in sub.on_change(change) or ():
                    self.publisher.publish(group, message)
            except Exception:
                logger.exception("subscriber %s failed on a change of %s/%s", sub.name, change.kind, change.name)
        if sub.on_settled is not None or sub.on_settled_many is not None:
            self.debouncer.touch((sub, self.cluster_id, change.namespace, change.owner))

    def _announce(self, namespace: str, kind: str, name: str, obj: dict | None, seen_at: float = 0.0) -> None:
        followed = self.namespaces.get(namespace)
        if not followed:
            return
        self.stats[f"change:{kind}"] += 1
        for sub in self.subscriptions:
            owner = followed.get(sub.namespace_label) if sub.namespace_label else None
            if owner and kind in sub.kinds:
                self._deliver(sub, Change(self.cluster_id, namespace, owner, kind, name, obj, seen_at))


def _shutdown(resp) -> None:
    """End a read blocked on a watch's response, from another thread (urllib3's own way first: it keeps
    the socket even where http.client has let go of the connection's `sock`)."""
    try:
        resp.shutdown()
        return
    except Exception:
        pass
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
    """Keeps one ClusterWatcher per clouds.Cluster row, re-reading the rows every `refresh` seconds.

    It serves the subscriptions registered when it is made (clouds.watch.subscribe).
    """

    def __init__(self, refresh: float = 15.0, publisher: Publisher | None = None,
                 debouncer: Debouncer | None = None, subscriptions_: list[Subscription] | None = None):
        self.refresh = refresh
        self.subscriptions = subscriptions() if subscriptions_ is None else subscriptions_
        self.publisher = publisher or Publisher()
        self.debouncer = debouncer or new_debouncer()
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
                api = new_api_client(kubeconfig_of(cluster), cluster.context, pool_size=len(KINDS) + 4,
                                     retries=False)
            except Exception as exc:
                logger.warning("cluster %s: cannot build a client (%s)", cluster, exc)
                self.clusters.pop(cluster.pk, None)
                continue
            watcher = ClusterWatcher(cluster.pk, api, self.publisher, self.debouncer, self.subscriptions, key=key)
            watcher.start()
            self.clusters[cluster.pk] = watcher
            logger.info("watching cluster %s", cluster)
        for pk in set(self.clusters) - seen:
            self.clusters.pop(pk).stop()
        close_old_connections()

    def run(self) -> None:
        beats = threading.Thread(target=self._beat, name="watcher-heartbeat", daemon=True)
        beats.start()
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:
                logger.exception("could not read the clusters")
            self._stop.wait(self.refresh)

    def _beat(self, every: float = HEARTBEAT_INTERVAL) -> None:
        """Write each cluster's heartbeat (clouds.watch.heartbeat) every few seconds."""
        while not self._stop.wait(every):
            for pk, watcher in list(self.clusters.items()):
                try:
                    heartbeat.write(pk, watcher.last_heard, sum(watcher.open_watches.values()))
                except Exception as exc:  # Redis away: the next beat tells
                    logger.warning("could not write the watcher's heartbeat: %s", exc)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        for watcher in list(self.clusters.values()):
            watcher.begin_stop()  # every cluster's threads end together, not one cluster after another
        for watcher in list(self.clusters.values()):
            watcher.stop()
        self.clusters.clear()
        self.debouncer.stop()
        self.publisher.stop()
