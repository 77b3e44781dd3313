"""What the lab hears from the cluster watcher: its subscription to session namespaces.

Every change of an object in a session's namespace goes to the session's
channel-layer group (its pages redraw the row), and the checks and the traffic
path follow once the namespace settles. Each step of a cloud balancer built for
the session redraws its balancer panel and its path. The cluster's nodes go, each
change drawn once, to every lab page of the cluster (labs.live.nodes). Registered by labs.apps.LabsConfig.ready().
"""

from __future__ import annotations

import uuid

from clouds.kube import NAMESPACED_KINDS
from clouds.loadbalancers.controller import balancer_changed
from clouds.watch import Change, Subscription, subscribe
from labs.checks.hook import on_namespace_change
from labs.lifecycle.namespace import NAMESPACE_LABEL
from labs.live import nodes, path
from labs.models import LabSession
from labs.notify import group_name, notify_session

SUBSCRIPTION_NAME = "labs.sessions"
NODES_SUBSCRIPTION_NAME = "labs.nodes"


def object_changed(change: Change) -> list[tuple[str, dict]]:
    """The message every page of the session gets: the object's whole state (None when deleted).

    It names the cluster it was seen on: a page follows only its session's cluster (two cluster rows
    may reach the same API server, and then both watchers see the session's namespace).
    """
    message = {"type": "object.changed", "cluster": change.cluster_id, "kind": change.kind, "name": change.name,
               "object": change.object, "seen_at": change.seen_at}
    return [(group_name(change.owner), message)]


def namespace_settled(cluster_id, namespace: str, owner: str, state: dict) -> None:
    on_namespace_change(uuid.UUID(owner), state, cluster_id=cluster_id)
    path.on_namespace_settled(uuid.UUID(owner), state, cluster_id=cluster_id)


def subscription(on_settled=namespace_settled) -> Subscription:
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
