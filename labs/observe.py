"""A one-off listing of a namespace in the shape the cluster watcher keeps (labs.state).

Used when the watcher has no state for a namespace yet (a probe that runs first)
and by tests; the live path is the watcher, never a polling loop.
"""

from __future__ import annotations

from kubernetes import client

KINDS = ("pods", "deployments", "replicasets", "services", "endpoints", "events")


def list_namespace_with(api: client.ApiClient, namespace: str) -> dict[str, dict[str, dict]]:
    """{"pods": {name: obj}, "deployments": ..., ...}, objects as Kubernetes API JSON dicts."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    listings = {
        "pods": core.list_namespaced_pod(namespace),
        "deployments": apps.list_namespaced_deployment(namespace),
        "replicasets": apps.list_namespaced_replica_set(namespace),
        "services": core.list_namespaced_service(namespace),
        "endpoints": core.list_namespaced_endpoints(namespace),
        "events": core.list_namespaced_event(namespace),
    }
    state = {}
    for kind, listing in listings.items():
        items = api.sanitize_for_serialization(listing).get("items") or []
        state[kind] = {item["metadata"]["name"]: item for item in items}
    return state


def list_namespace(cluster, namespace: str) -> dict[str, dict[str, dict]]:
    from labs.cluster import api_client

    return list_namespace_with(api_client(cluster), namespace)
