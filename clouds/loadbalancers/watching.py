"""The controller's subscription to the shared watch: Services of lab namespaces, and nodes.

A Service whose balancer-relevant fields changed (type, ports, finalizers,
deletion, annotations, the published address) gets a reconcile; a change of
the nodes' addresses or readiness reconciles every balancer of the cluster
(members follow the nodes). Only clusters whose balancers this product
provisions are served. Runs in the watcher process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from django.conf import settings

from clouds.loadbalancers.controller import FINALIZER
from clouds.watch import Change, Subscription, subscribe

SUBSCRIPTION_NAME = "clouds.loadbalancers"
CLUSTER_CACHE_SECONDS = 10.0

_lock = threading.Lock()
_seen: dict[tuple, str] = {}  # (cluster, namespace, service) -> digest of what the balancer depends on
_nodes: dict[object, str] = {}  # cluster -> digest of its nodes' addresses and readiness
_dirty_nodes: set = set()
_managed: dict[object, tuple[bool, float]] = {}


def managed(cluster_id) -> bool:
    """Whether this product provisions the cluster's balancers (cached a few seconds)."""
    from clouds.models import Cluster

    now = time.monotonic()
    cached = _managed.get(cluster_id)
    if cached and now - cached[1] < CLUSTER_CACHE_SECONDS:
        return cached[0]
    cluster = Cluster.objects.filter(pk=cluster_id).select_related("cloud_credential").first()
    value = bool(cluster and cluster.balancers_by_product)
    _managed[cluster_id] = (value, now)
    return value


def relevant(service: dict) -> str | None:
    """A digest of what the balancer depends on, or None when the controller has nothing to do with it."""
    spec, meta = service.get("spec") or {}, service.get("metadata") or {}
    if spec.get("type") != "LoadBalancer" and FINALIZER not in (meta.get("finalizers") or []):
        return None
    raw = json.dumps([spec.get("type"), spec.get("ports"), meta.get("finalizers"), meta.get("deletionTimestamp"),
                      meta.get("annotations"), meta.get("uid"), (service.get("status") or {}).get("loadBalancer")],
                     sort_keys=True)
    return hashlib.sha1(raw.encode()).hexdigest()


def node_digest(node: dict | None) -> str:
    if node is None:
        return ""
    status = node.get("status") or {}
    ready = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    internal = [a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
    return json.dumps([ready, internal])


def on_change(change: Change) -> list:
    if change.kind == "nodes":
        with _lock:
            key = (change.cluster_id, change.name)
            digest = node_digest(change.object)
            if _nodes.get(key) != digest:
                _nodes[key] = digest
                _dirty_nodes.add(change.cluster_id)
    return []


def on_settled(cluster_id, namespace: str, owner: str, state: dict) -> None:
    from clouds.loadbalancers.tasks import request_reconcile
    from clouds.models import ServiceBalancer

    if not managed(cluster_id):
        return
    if not namespace:  # the nodes changed: every balancer of the cluster follows
        with _lock:
            if cluster_id not in _dirty_nodes:
                return
            _dirty_nodes.discard(cluster_id)
        for row in ServiceBalancer.objects.filter(cluster_id=cluster_id).exclude(state=ServiceBalancer.State.DELETED):
            request_reconcile(cluster_id, row.namespace, row.service)
        return
    services = state.get("services") or {}
    with _lock:
        known = {k for k in _seen if k[0] == cluster_id and k[1] == namespace}
    for name, service in services.items():
        digest = relevant(service)
        key = (cluster_id, namespace, name)
        with _lock:
            changed = digest is not None and _seen.get(key) != digest
            if digest is None:
                _seen.pop(key, None)
            else:
                _seen[key] = digest
        if changed:
            request_reconcile(cluster_id, namespace, name)
    for key in known - {(cluster_id, namespace, n) for n in services}:
        with _lock:
            _seen.pop(key, None)
        request_reconcile(*key)  # gone from the cluster: make sure its balancer is gone too


def subscribe_balancers() -> Subscription:
    label = settings.LIVEOPS_LAB_NAMESPACE_LABEL
    return subscribe(Subscription(SUBSCRIPTION_NAME, label, ("services", "nodes"), on_change=on_change,
                                  on_settled=on_settled))
