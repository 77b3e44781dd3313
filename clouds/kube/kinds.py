"""The one table of the Kubernetes kinds the product knows.

Each Kind says how the official client lists, watches, reads and deletes it,
what the API calls it, and what a student may do with it from the live panel.
The watcher, the observed state, the panel, the object views and the object
tasks all read this table; none keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client


@dataclass(frozen=True)
class Kind:
    plural: str  # the name in API paths and in the observed state: "pods"
    singular: str  # as kubectl prints it: "pod"
    kind: str  # the API object's kind: "Pod"
    api_version: str
    api_class: str  # "CoreV1Api"
    method: str  # the client's method stem: "pod" -> list_namespaced_pod, read_namespaced_pod...
    short: str  # the panel's short name (row ids, template variables): "pod", "svc"
    namespaced: bool = True
    in_panel: bool = False  # drawn as a table of the live panel
    actions: tuple[str, ...] = ()  # what a student may do from the panel

    def api(self, api_client: client.ApiClient):
        return getattr(client, self.api_class)(api_client)

    def list_all(self, api_client: client.ApiClient):
        """The client call listing (and, with watch=True, watching) this kind across namespaces."""
        api = self.api(api_client)
        if not self.namespaced:
            return getattr(api, f"list_{self.method}")
        return getattr(api, f"list_{self.method}_for_all_namespaces")

    def list_in(self, api_client: client.ApiClient):
        return getattr(self.api(api_client), f"list_namespaced_{self.method}")

    def read(self, api_client: client.ApiClient):
        return getattr(self.api(api_client), f"read_namespaced_{self.method}")

    def delete(self, api_client: client.ApiClient):
        return getattr(self.api(api_client), f"delete_namespaced_{self.method}")

    def allows(self, action: str) -> bool:
        return action in self.actions


_READ = ("describe", "yaml")
KINDS: dict[str, Kind] = {
    k.plural: k
    for k in (
        Kind("pods", "pod", "Pod", "v1", "CoreV1Api", "pod", "pod", in_panel=True,
             actions=(*_READ, "delete", "logs")),
        Kind("deployments", "deployment", "Deployment", "apps/v1", "AppsV1Api", "deployment", "deploy",
             in_panel=True, actions=(*_READ, "delete", "edit", "scale", "restart", "pause", "resume", "rollback")),
        Kind("replicasets", "replicaset", "ReplicaSet", "apps/v1", "AppsV1Api", "replica_set", "rs",
             in_panel=True, actions=(*_READ, "delete")),
        Kind("services", "service", "Service", "v1", "CoreV1Api", "service", "svc", in_panel=True,
             actions=(*_READ, "delete", "edit")),
        Kind("endpoints", "endpoints", "Endpoints", "v1", "CoreV1Api", "endpoints", "ep"),
        Kind("events", "event", "Event", "v1", "CoreV1Api", "event", "ev"),
        Kind("namespaces", "namespace", "Namespace", "v1", "CoreV1Api", "namespace", "ns", namespaced=False),
        Kind("nodes", "node", "Node", "v1", "CoreV1Api", "node", "no", namespaced=False),
    )
}
# The kinds kept in a session namespace's observed state.
NAMESPACED_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.namespaced)
# Cluster-scoped kinds a subscription may follow (namespaces are followed by the watcher itself).
CLUSTER_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if not v.namespaced and k != "namespaces")
PANEL_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.in_panel)


def kind(plural: str) -> Kind:
    """The Kind of a plural name; KeyError for a kind the product does not know."""
    return KINDS[plural]
