"""The subscription seam: what a feature wants to hear from the cluster watcher.

A feature registers a Subscription (usually in its AppConfig.ready()): the
namespaces it follows (those carrying a label), the kinds, and its callbacks.
Cluster-scoped kinds (nodes) reach every subscription that names them, with an
empty namespace and owner.
Every subscription is served by the same watches, one per cluster and kind,
held by the one watcher process: a new subscriber never opens a watch.

- `on_change(change)` runs in the watch thread for every change of a followed
  object; it must be quick and returns the channel-layer messages to publish
  as (group, message) pairs (each carries the object's whole state).
- `on_settled(cluster_id, namespace, owner, state)` runs in a worker thread,
  debounced per namespace, with the namespace's whole observed state: for work
  that reads the database or queues tasks (checks, controllers). A subscription
  that only hands the work on (to a task that reads the state itself) sets
  `settled_state=False` and gets None: the watcher then does not load it; or
  gives `on_settled_many(namespaces)`, called once for the namespaces that
  settled together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    cluster_id: object
    namespace: str
    owner: str  # the value of the subscription's label on the namespace
    kind: str  # plural, as in clouds.kube.KINDS
    name: str
    object: dict | None  # the whole current state; None when it was deleted
    seen_at: float = 0.0  # time.time() when the watcher received it (0: found by a relist); for latency figures


@dataclass(frozen=True, eq=False)
class Subscription:
    name: str
    namespace_label: str | None  # None: cluster-scoped kinds only
    kinds: tuple[str, ...]
    on_change: Callable[[Change], Iterable[tuple[str, dict]]] | None = None
    on_settled: Callable[[object, str, str, dict | None], None] | None = None
    settled_state: bool = True  # whether on_settled needs the namespace's observed state (else None)
    # Instead of on_settled, namespaces settled together in one call: [(cluster_id, namespace, owner)]
    # (for a subscriber that hands the work on, so that it sends one message for many namespaces).
    on_settled_many: Callable[[list[tuple[object, str, str]]], None] | None = None


_lock = threading.Lock()
_registry: dict[str, Subscription] = {}


def subscribe(subscription: Subscription) -> Subscription:
    """Register (or replace, by name) a subscription; the watcher serves it from its next start."""
    from clouds.kube.kinds import CLUSTER_KINDS, NAMESPACED_KINDS

    allowed = (NAMESPACED_KINDS if subscription.namespace_label else ()) + CLUSTER_KINDS
    unknown = [k for k in subscription.kinds if k not in allowed]
    if unknown:
        raise ValueError(f"subscription {subscription.name}: cannot follow {', '.join(unknown)}"
                         + ("" if subscription.namespace_label else " without a namespace label"))
    with _lock:
        _registry[subscription.name] = subscription
    return subscription


def subscriptions() -> list[Subscription]:
    with _lock:
        return list(_registry.values())


def unsubscribe(name: str) -> None:
    with _lock:
        _registry.pop(name, None)
