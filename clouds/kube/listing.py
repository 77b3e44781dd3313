"""A one-off listing of a namespace, in the shape the watcher keeps (clouds.watch.state).

Used when the watcher has no state for a namespace yet (a probe that runs first)
and by tests; the live path is the watcher, never a polling loop.
"""

from __future__ import annotations

from kubernetes import client

from clouds.kube.connect import api_client
from clouds.kube.kinds import KINDS, NAMESPACED_KINDS


def list_namespace_with(api: client.ApiClient, namespace: str) -> dict[str, dict[str, dict]]:
    """{"pods": {name: obj}, "deployments": ..., ...}, objects as Kubernetes API JSON dicts."""
    state = {}
    for plural in NAMESPACED_KINDS:
        listing = KINDS[plural].list_in(api)(namespace)
        items = api.sanitize_for_serialization(listing).get("items") or []
        state[plural] = {item["metadata"]["name"]: item for item in items}
    return state


def list_namespace(cluster, namespace: str) -> dict[str, dict[str, dict]]:
    return list_namespace_with(api_client(cluster), namespace)
