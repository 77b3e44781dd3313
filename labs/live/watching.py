"""What the lab hears from the cluster watcher: its subscription to session namespaces.

Every change of an object in a session's namespace goes to the session's
channel-layer group (its pages redraw the row), and the checks and the traffic
path follow once the namespace settles: that work reads and writes the database,
so the watcher only queues it (`settle_namespaces`, on the `live` queue: at most
one queued per namespace, the namespaces settled together in one task) and stays
free to pass changes on as they come. Each step of a cloud balancer built for the
session redraws its balancer panel and its path. The cluster's nodes go, each
change drawn once, to every lab page of the cluster (labs.live.nodes).
Registered by labs.apps.LabsConfig.ready().
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task

from clouds.kube import NAMESPACED_KINDS
from clouds.loadbalancers.controller import balancer_changed
from clouds.watch import Change, Subscription, subscribe
from clouds.watch import state as observed
from labs.checks.hook import on_namespace_change
from labs.lifecycle.namespace import NAMESPACE_LABEL
from labs.live import nodes, path
from labs.models import LabSession
from labs.notify import group_name, notify_session

logger = logging.getLogger(__name__)

SUBSCRIPTION_NAME = "labs.sessions"
NODES_SUBSCRIPTION_NAME = "labs.nodes"
# How long a namespace counts as queued for settling: a settle task clears the mark when it starts, so
# this only matters for a task lost altogether (its namespace is queued again at the next change after).
QUEUED_SECONDS = 120
BATCH = 20  # namespaces a settle task takes at most (a worker's processes share a larger batch)


def object_changed(change: Change) -> list[tuple[str, dict]]:
    """The message every page of the session gets: the object's whole state (None when deleted).

    It names the cluster it was seen on: a page follows only its session's cluster (two cluster rows
    may reach the same API server, and then both watchers see the session's namespace).
    """
    message = {"type": "object.changed", "cluster": change.cluster_id, "kind": change.kind, "name": change.name,
               "object": change.object, "seen_at": change.seen_at}
    return [(group_name(change.owner), message)]


def namespace_settled(cluster_id, namespace: str, owner: str, state: dict) -> None:
    """The namespace's changes have settled: evaluate the checks (and probe), then redraw the traffic path."""
    on_namespace_change(uuid.UUID(owner), state, cluster_id=cluster_id)
    path.on_namespace_settled(uuid.UUID(owner), state, cluster_id=cluster_id)


def _queued_key(cluster_id, namespace: str) -> str:
    return f"liveops:settle-queued:{cluster_id}:{namespace}"


def queue_settled_many(namespaces: list[tuple[object, str, str]]) -> None:
    """The watcher's on_settled_many: queue `settle_namespaces` for the namespaces that settled together,
    leaving out those already queued and not started yet (the task reads the state as it is when it runs,
    so one is enough). A busy worker thus gets one turn per changed namespace, never a backlog of stale
    ones; a batch is one message (queueing a task costs about a millisecond of the watcher's CPU)."""
    try:
        pipe = observed.client().pipeline(transaction=False)
        for cluster_id, namespace, owner in namespaces:
            pipe.set(_queued_key(cluster_id, namespace), owner, nx=True, ex=QUEUED_SECONDS)
        fresh = [item for item, marked in zip(namespaces, pipe.execute(), strict=True) if marked]
    except Exception:  # noqa: BLE001 - without Redis the tasks cannot be queued either; Celery says why
        logger.warning("could not mark %d namespaces as queued for settling", len(namespaces))
        fresh = list(namespaces)
    for start in range(0, len(fresh), BATCH):
        settle_namespaces.delay([list(item) for item in fresh[start:start + BATCH]])


def queue_settled(cluster_id, namespace: str, owner: str, state: dict | None = None) -> None:
    """One namespace settled (queue_settled_many for one)."""
    queue_settled_many([(cluster_id, namespace, owner)])


@shared_task(name="labs.settle_namespaces", ignore_result=True)
def settle_namespaces(namespaces: list) -> None:
    """Run namespace_settled for each [cluster_id, namespace, owner] with its observed state as it is now
    (a change arriving while this runs queues the namespace again: its mark is cleared before the state
    is read). One namespace failing does not keep the others from being settled."""
    for cluster_id, namespace, owner in namespaces:
        try:
            observed.client().delete(_queued_key(cluster_id, namespace))
            namespace_settled(cluster_id, namespace, owner, observed.load_namespace(cluster_id, namespace))
        except Exception:
            logger.exception("could not settle namespace %s", namespace)


def subscription(on_settled=None) -> Subscription:
    """Settled namespaces are queued for a worker in batches; tests may pass `on_settled` to run the work
    in the watcher instead (it then gets the namespace's state)."""
    if on_settled is None:
        return Subscription(SUBSCRIPTION_NAME, NAMESPACE_LABEL, NAMESPACED_KINDS, on_change=object_changed,
                            on_settled_many=queue_settled_many)
    return Subscription(SUBSCRIPTION_NAME, NAMESPACE_LABEL, NAMESPACED_KINDS, on_change=object_changed,
                        on_settled=on_settled)


def subscribe_sessions() -> Subscription:
    subscribe(nodes_subscription())
    return subscribe(subscription())


def node_changed(change: Change) -> list[tuple[str, dict]]:
    """A node changed: kept for first renders, and its row, drawn once, sent to every lab page of the cluster."""
    html = nodes.record_change(change.cluster_id, change.name, change.object)
    if not html:
        return []
    return [(nodes.group_name(change.cluster_id), {"type": "node.changed", "cluster": change.cluster_id, "html": html})]


def nodes_subscription() -> Subscription:
    return Subscription(NODES_SUBSCRIPTION_NAME, None, ("nodes",), on_change=node_changed)


def on_balancer_changed(sender, cluster_id, namespace: str, service: str, **kwargs) -> None:
    """A step of a cloud balancer in a session's namespace: redraw the session's balancer panel."""
    session = LabSession.objects.filter(cluster_id=cluster_id, namespace=namespace).only("pk").first()
    if session is not None:
        notify_session(session.pk, "balancer")
        path.on_namespace_settled(session.pk, None, cluster_id=cluster_id)  # the balancer is a hop of the path


def follow_balancers() -> None:
    balancer_changed.connect(on_balancer_changed, dispatch_uid="labs.balancer_changed")
