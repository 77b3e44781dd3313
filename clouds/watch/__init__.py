"""Following cluster changes: one watch per cluster and kind, the observed state in Redis,
and the subscription seam through which every feature hears about changes."""

from clouds.watch.debouncer import Debouncer
from clouds.watch.informers import ClusterWatcher, Watcher, new_debouncer
from clouds.watch.publisher import Publisher
from clouds.watch.subscriptions import Change, Subscription, subscribe, subscriptions, unsubscribe

__all__ = [
    "Change", "ClusterWatcher", "Debouncer", "Publisher", "Subscription", "Watcher", "new_debouncer", "subscribe",
    "subscriptions", "unsubscribe",
]
