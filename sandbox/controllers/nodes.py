"""The cluster's nodes (registered like kubelets do) and each namespace's default
ServiceAccount."""

from __future__ import annotations

import time
import uuid

from ..net.ipam import AddressPool
from .base import Controller, Key, is_terminating

KUBELET_VERSION = "v1.32.4"


def node_name(i: int) -> str:
    return f"sandbox-node-{i}"


class NodeAddresses(dict):
    """Node name -> InternalIP, taken from a pool so that no other process (another sandbox
    with the same node range) holds them; the pool keeps them claimed while the sandbox runs."""

    def __init__(self, pool: AddressPool, names: list[str]) -> None:
        super().__init__((name, pool.allocate(name)) for name in names)
        self.pool = pool

    def close(self) -> None:
        self.pool.close()


def node_ips(config) -> NodeAddresses:
    return NodeAddresses(AddressPool(config.node_cidr), [node_name(i + 1) for i in range(config.node_count)])


ZONES = ("sandbox-a", "sandbox-b", "sandbox-c")
# What a kubelet reports for an 8-core, 32 GiB worker: capacity as the machine has it,
# allocatable after the kube and system reservations and the eviction threshold.
CAPACITY = {"cpu": "8", "memory": "32870716Ki", "pods": "110", "ephemeral-storage": "101430960Ki",
            "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
ALLOCATABLE = {"cpu": "7910m", "memory": "30115644Ki", "pods": "110", "ephemeral-storage": "93478772582",
               "hugepages-1Gi": "0", "hugepages-2Mi": "0"}


def node_object(name: str, ip: str, zone: str = ZONES[0]) -> dict:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def cond(ctype, status, reason, message):
        return {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": ts, "lastTransitionTime": ts}

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "sandbox.large",
                "topology.kubernetes.io/region": "sandbox", "topology.kubernetes.io/zone": zone,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"providerID": f"sandbox://{name}"},
        "status": {
            "capacity": dict(CAPACITY),
            "allocatable": dict(ALLOCATABLE),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": "6.8.0-51-generic",
                "osImage": "Ubuntu 24.04.1 LTS",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


class NodeController(Controller):
    """Keeps the configured nodes registered (recreated if deleted)."""

    name = "nodes"
    primary = "nodes"

    def all_keys(self):
        return [("", n) for n in self.runtime.node_ips]

    async def shutdown(self) -> None:
        close = getattr(self.runtime.node_ips, "close", None)
        if close is not None:
            close()

    async def reconcile(self, key: Key) -> None:
        name = key[1]
        ip = self.runtime.node_ips.get(name)
        if ip is None or self.store.peek("nodes", None, name) is not None:
            return
        zone = ZONES[list(self.runtime.node_ips).index(name) % len(ZONES)]
        await self.store.create("nodes", node_object(name, ip, zone))


class ServiceAccountController(Controller):
    """A `default` ServiceAccount in every active namespace."""

    name = "serviceaccounts"
    primary = "namespaces"
    watches = ("namespaces", "serviceaccounts")

    def keys_for(self, resource, event_type, obj):
        if resource == "namespaces":
            yield ("", obj["metadata"]["name"])
        elif obj["metadata"].get("name") == "default":
            yield ("", obj["metadata"].get("namespace", ""))

    async def reconcile(self, key: Key) -> None:
        ns = self.store.peek("namespaces", None, key[1])
        if ns is None or is_terminating(ns):
            return
        if self.store.peek("serviceaccounts", key[1], "default") is None:
            await self.store.create("serviceaccounts", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key[1]},
            })
