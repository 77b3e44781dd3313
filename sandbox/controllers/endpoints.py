"""Endpoints and EndpointSlices of Services with a selector, kept in sync with the
pods the selector matches."""

from __future__ import annotations

import secrets

from ..store import StoreError
from .base import Controller, Key, is_pod_ready, is_terminating, owner_reference

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"


def resolve_target_port(service_port: dict, pod: dict) -> int | None:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def selected_pods(store, service: dict) -> list[dict]:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []
    return [p for p in store.scan("pods", service["metadata"]["namespace"])
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]


def _pod_ref(pod: dict) -> dict:
    return {"kind": "Pod", "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"]}


def _groups(service: dict, pods: list[dict]) -> dict[tuple, list[dict]]:
    """Pods grouped by the tuple of resolved ports (name, port, protocol)."""
    out: dict[tuple, list[dict]] = {}
    for pod in pods:
        ports = []
        for sp in (service.get("spec") or {}).get("ports") or []:
            port = resolve_target_port(sp, pod)
            if port is None:
                continue
            ports.append((sp.get("name") or "", port, sp.get("protocol") or "TCP", sp.get("appProtocol")))
        if ports:
            out.setdefault(tuple(ports), []).append(pod)
    return out


def _port_dict(name, port, protocol, app_protocol) -> dict:
    d = {"port": port, "protocol": protocol}
    if name:
        d["name"] = name
    if app_protocol:
        d["appProtocol"] = app_protocol
    return d


def _sort_key(pod: dict):
    return ((pod.get("status") or {}).get("podIP") or "", pod["metadata"]["name"])


class EndpointsController(Controller):
    name = "endpoints"
    primary = "services"
    watches = ("services", "pods", "endpoints", "endpointslices")

    def keys_for(self, resource, event_type, obj):
        ns = obj["metadata"].get("namespace", "")
        if resource in ("services", "endpoints"):
            yield (ns, obj["metadata"]["name"])
        elif resource == "endpointslices":
            svc = (obj["metadata"].get("labels") or {}).get(SERVICE_NAME)
            if svc:
                yield (ns, svc)
        else:
            labels = obj["metadata"].get("labels") or {}
            for svc in self.store.scan("services", ns):
                selector = (svc.get("spec") or {}).get("selector")
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    yield (ns, svc["metadata"]["name"])

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        svc = self.store.peek("services", ns, name)
        slices = [s for s in self.store.scan("endpointslices", ns)
                  if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name
                  and (s["metadata"].get("labels") or {}).get(MANAGED_BY) == SLICE_CONTROLLER]
        if svc is None or not (svc.get("spec") or {}).get("selector") or \
                (svc.get("spec") or {}).get("type") == "ExternalName":
            # the Service is gone (or manages its own endpoints)
            if svc is None:
                ep = self.store.peek("endpoints", ns, name)
                if ep is not None:
                    try:
                        await self.store.delete("endpoints", ns, name)
                    except StoreError:
                        pass
            for s in slices:
                try:
                    await self.store.delete("endpointslices", ns, s["metadata"]["name"])
                except StoreError:
                    pass
            return
        pods = [p for p in selected_pods(self.store, svc)
                if (p.get("status") or {}).get("podIP") and (p.get("status") or {}).get("phase")
                not in ("Succeeded", "Failed")]
        groups = _groups(svc, pods)
        await self._sync_endpoints(svc, groups)
        await self._sync_slices(svc, groups, slices)

    async def _sync_endpoints(self, svc: dict, groups: dict[tuple, list[dict]]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        subsets = []
        for ports, pods in sorted(groups.items()):
            ready, not_ready = [], []
            for pod in sorted(pods, key=_sort_key):
                if is_terminating(pod):
                    continue
                addr = {"ip": pod["status"]["podIP"], "targetRef": _pod_ref(pod)}
                if (pod.get("spec") or {}).get("nodeName"):
                    addr["nodeName"] = pod["spec"]["nodeName"]
                (ready if is_pod_ready(pod) else not_ready).append(addr)
            if not ready and not not_ready:
                continue
            subset: dict = {}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            subset["ports"] = [_port_dict(*p) for p in ports]
            subsets.append(subset)
        labels = dict(svc["metadata"].get("labels") or {})
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
        existing = self.store.peek("endpoints", ns, name)
        if existing is None:
            obj = {"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": name, "namespace": ns, "labels": labels}}
            if subsets:
                obj["subsets"] = subsets
            try:
                await self.store.create("endpoints", obj)
            except StoreError:
                pass
            return

        def apply(o: dict) -> None:
            o["metadata"]["labels"] = labels
            if subsets:
                o["subsets"] = subsets
            else:
                o.pop("subsets", None)

        await self.store.mutate("endpoints", ns, name, apply)

    async def _sync_slices(self, svc: dict, groups: dict[tuple, list[dict]], slices: list[dict]) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        wanted = []
        for ports, pods in sorted(groups.items()):
            endpoints = []
            for pod in sorted(pods, key=_sort_key):
                terminating = is_terminating(pod)
                ready = is_pod_ready(pod)
                ep = {"addresses": [pod["status"]["podIP"]],
                      "conditions": {"ready": ready and not terminating, "serving": ready,
                                     "terminating": terminating},
                      "targetRef": _pod_ref(pod)}
                if (pod.get("spec") or {}).get("nodeName"):
                    ep["nodeName"] = pod["spec"]["nodeName"]
                endpoints.append(ep)
            wanted.append(([{"name": p[0], **_port_dict(*p)} for p in ports], endpoints))
        if not wanted:
            wanted.append(([], []))
        labels = dict(svc["metadata"].get("labels") or {})
        labels.update({SERVICE_NAME: name, MANAGED_BY: SLICE_CONTROLLER})
        slices = sorted(slices, key=lambda s: s["metadata"].get("creationTimestamp", "") + s["metadata"]["name"])
        for i, (ports, endpoints) in enumerate(wanted):
            if i < len(slices):
                def apply(o: dict, ports=ports, endpoints=endpoints) -> None:
                    o["metadata"]["labels"] = labels
                    o["addressType"] = "IPv4"
                    o["endpoints"] = endpoints
                    o["ports"] = ports
                await self.store.mutate("endpointslices", ns, slices[i]["metadata"]["name"], apply)
            else:
                slice_name = f"{name}-" + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                       "metadata": {"name": slice_name, "generateName": f"{name}-", "namespace": ns,
                                    "labels": labels, "ownerReferences": [owner_reference(svc)]},
                       "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
                try:
                    await self.store.create("endpointslices", obj)
                except StoreError:
                    pass
        for s in slices[len(wanted):]:
            try:
                await self.store.delete("endpointslices", ns, s["metadata"]["name"])
            except StoreError:
                pass


def ready_backends(store, service: dict, service_port: dict) -> list[tuple[str, int]]:
    """Ready (ip, port) pairs of a Service port, read from its Endpoints."""
    ep = store.peek("endpoints", service["metadata"]["namespace"], service["metadata"]["name"])
    if ep is None:
        return []
    name = service_port.get("name") or ""
    protocol = service_port.get("protocol") or "TCP"
    out = []
    for subset in ep.get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if (p.get("name") or "") == name
                 and (p.get("protocol") or "TCP") == protocol]
        if not ports:
            continue
        for addr in subset.get("addresses") or []:
            out.append((addr["ip"], int(ports[0]["port"])))
    return out
