"""The kinds the sandbox serves: group, version, kind, scope, short names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    name: str  # lowercase plural, e.g. "deployments"
    group: str  # "" for the core group
    version: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in [
        Resource("pods", "", "v1", "Pod", short_names=("po",), categories=("all",),
                 subresources=("status", "log")),
        Resource("services", "", "v1", "Service", short_names=("svc",), categories=("all",),
                 subresources=("status",)),
        Resource("endpoints", "", "v1", "Endpoints", short_names=("ep",)),
        Resource("events", "", "v1", "Event", short_names=("ev",)),
        Resource("namespaces", "", "v1", "Namespace", namespaced=False, short_names=("ns",),
                 subresources=("status",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
        Resource("nodes", "", "v1", "Node", namespaced=False, short_names=("no",),
                 subresources=("status",)),
        Resource("resourcequotas", "", "v1", "ResourceQuota", short_names=("quota",),
                 subresources=("status",)),
        Resource("limitranges", "", "v1", "LimitRange", short_names=("limits",)),
        Resource("configmaps", "", "v1", "ConfigMap", short_names=("cm",)),
        Resource("serviceaccounts", "", "v1", "ServiceAccount", short_names=("sa",)),
        Resource("deployments", "apps", "v1", "Deployment", short_names=("deploy",),
                 categories=("all",), subresources=("status", "scale")),
        Resource("replicasets", "apps", "v1", "ReplicaSet", short_names=("rs",),
                 categories=("all",), subresources=("status", "scale")),
        Resource("endpointslices", "discovery.k8s.io", "v1", "EndpointSlice"),
        # Stored and served as a real API server does; enforcing it is a network plugin's job.
        Resource("networkpolicies", "networking.k8s.io", "v1", "NetworkPolicy", short_names=("netpol",)),
    ]
}

KIND_TO_RESOURCE: dict[str, str] = {r.kind: r.name for r in RESOURCES.values()}
CLUSTER_SCOPED = frozenset(r.name for r in RESOURCES.values() if not r.namespaced)


def groups() -> dict[str, list[Resource]]:
    """group/version -> resources, in a stable order (core group first)."""
    out: dict[str, list[Resource]] = {}
    for r in RESOURCES.values():
        out.setdefault(r.api_version, []).append(r)
    return out


def lookup(group: str, version: str, name: str) -> Resource | None:
    r = RESOURCES.get(name)
    if r is None or r.group != group or r.version != version:
        return None
    return r
